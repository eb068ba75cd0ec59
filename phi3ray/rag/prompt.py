"""Put retrieved chunks into Phi-3 chat messages as numbered sources, within a token budget.

The sources go into the LAST USER TURN, before the question (not into a system message): the user's
own system prompt stays as it is, the sources sit next to the question they were retrieved for, and
earlier turns of a conversation are untouched. The user turn becomes:

    <instruction: answer only from the sources, cite them as [1], [2], say you do not know otherwise>

    Sources:
    [1] <title> — <section>
    <text>

    [2] ...

    Question: <the user's message>

Before that, ``with_system_prompt`` puts the configured system prompt first (unless the conversation opens
with its own), and ``retrieval_query`` says what to search for. Evaluation and serving both build their
prompts with these functions, so the evaluation measures the prompt that serving sends
(tests/serve/test_prompt_contract.py holds them to the same token ids).

The budget counts the tokens of the "[n] ..." entries, measured with the generation tokenizer. Chunks
are kept in rank order; the first one that does not fit is cut at a token boundary if at least
MIN_TRUNCATED_TOKENS of it fit, otherwise dropped, and every lower-ranked chunk is dropped with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phi3ray.data.chat_template import template_messages
from phi3ray.errors import PromptError

if TYPE_CHECKING:  # this module stays free of torch and weaviate: the Serve Ingress imports it
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

INSTRUCTION = (
    "Answer the question using only the numbered sources below. Cite each source you use by its number in "
    "square brackets, like [1] or [2]. If the sources do not contain the answer, say that you do not know."
)
NO_SOURCES = (
    "No sources were found for this question. Say that you do not know the answer from the available documents."
)
# What a model says when the sources do not hold the answer: the tiny Phi-3 is pre-trained to say exactly this,
# RAG training rows without the answer use it, and evaluation counts an answer as an abstention by is_abstention.
ABSTAIN = "I do not know: the sources do not contain the answer."
_ABSTAINS = re.compile(r"\b(i do not know|i don't know|i dont know|do not contain the answer|cannot answer)\b", re.I)
MIN_TRUNCATED_TOKENS = 32  # a cut chunk shorter than this is dropped instead
QUERY_TURNS = 2  # user turns a retrieval query is made of: the last one and the one before it
SEPARATOR = "\n\n"
_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


@dataclass
class RetrievedChunk:
    """One chunk a search returned, as the prompt numbers it into a Source (phi3ray.rag.retriever makes them)."""

    object_id: str
    doc_id: str
    title: str
    section: str
    source: str
    text: str
    chunk_index: int
    score: float  # hybrid score; relative_score fusion: in [0, 1] and normalised per query, higher is better
    similarity: float | None = None  # cosine(query vector, chunk vector) in [-1, 1]: comparable across queries
    # idf-weighted share of the question's terms the chunk holds, 0 if it names none of an identifier the question
    # names (rag.support); None when the search measured none
    coverage: float | None = None


@dataclass
class Source:
    number: int  # the [n] the answer cites
    title: str
    source: str
    object_id: str
    score: float
    doc_id: str
    text: str = ""  # what the prompt showed of the chunk: its heading line and text (the last source maybe cut)


def with_system_prompt(messages: list[dict], system_prompt: str | None) -> list[dict]:
    """A copy of messages opened by system_prompt, unless it is None or they open with a system message of their own."""
    out = [dict(m) for m in messages]
    if system_prompt and not (out and out[0].get("role") == "system"):
        out.insert(0, {"role": "system", "content": system_prompt})
    return out


def last_question(messages: list[dict]) -> str:
    """The conversation's last user turn: what the sources must answer (phi3ray.rag.support)."""
    return next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")


def retrieval_query(messages: list[dict], turns: int = QUERY_TURNS) -> str:
    """What RAG searches for: the last user turn, after up to turns - 1 earlier user turns of the conversation.

    A follow-up ("and what torque for the VX-150?") only makes sense with the question it follows; the
    last turn comes last, and hybrid search weighs every word, so the newest question still leads.
    """
    users = [m["content"] for m in messages if m.get("role") == "user" and str(m.get("content", "")).strip()]
    return "\n".join(users[-turns:])


def build_prompt(
    messages: list[dict],
    chunks: list[RetrievedChunk] | None,
    tokenizer: PreTrainedTokenizerBase,
    *,
    system_prompt: str | None,
    token_budget: int,
    context_length: int,
    answer_tokens: int,
) -> tuple[list[dict], list[Source]]:
    """The prompt of one conversation, as evaluation and serving send it: the system prompt first (unless
    the conversation has its own), and with chunks (None: no RAG) the numbered sources in the last user
    turn, within token_budget and shrunk until the prompt leaves answer_tokens of context_length free."""
    messages = with_system_prompt(messages, system_prompt)
    if chunks is None:
        return messages, []
    room = context_length - answer_tokens
    plain = len(encode_chat(tokenizer, messages))
    budget = token_budget
    for _ in range(4):
        with_sources, used = build_rag_messages(messages, chunks, tokenizer, budget)
        length = len(encode_chat(tokenizer, with_sources))
        if length <= room or not used:
            break
        budget = max(min(budget, length - plain) - (length - room), 0)  # what the sources take, less the overflow
    return with_sources, used


def encode_chat(tokenizer: PreTrainedTokenizerBase, messages: list[dict]) -> list[int]:
    """Token ids of messages in the tokenizer's chat template (Phi-3's), the assistant's turn opened."""
    return tokenizer.apply_chat_template(
        template_messages(tokenizer, messages), add_generation_prompt=True, tokenize=True, return_dict=False
    )


def build_rag_messages(
    messages: list[dict], chunks: list[RetrievedChunk], tokenizer: PreTrainedTokenizerBase, token_budget: int
) -> tuple[list[dict], list[Source]]:
    """Return a copy of messages whose last user turn carries the numbered sources, and the number -> source map.

    Args:
        chunks: best first, as Retriever.search returns them.
        token_budget: tokens the "[n] ..." entries may take together (generation tokenizer).
    """
    last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), None)
    if last_user is None:
        raise PromptError("a RAG request needs at least one message with role 'user'")
    entries = fit_sources(chunks, tokenizer, token_budget)
    sources = [
        Source(number=n, title=c.title, source=c.source, object_id=c.object_id, score=c.score, doc_id=c.doc_id,
               text=entry.removeprefix(f"[{n}] "))
        for n, (c, entry) in enumerate(entries, start=1)
    ]
    question = messages[last_user]["content"]
    if entries:
        block = SEPARATOR.join(entry for _, entry in entries)
        content = f"{INSTRUCTION}\n\nSources:\n{block}\n\nQuestion: {question}"
    else:
        content = f"{NO_SOURCES}\n\nQuestion: {question}"
    out = [dict(m) for m in messages]
    out[last_user]["content"] = content
    return out, sources


def fit_sources(
    chunks: list[RetrievedChunk], tokenizer: PreTrainedTokenizerBase, token_budget: int
) -> list[tuple[RetrievedChunk, str]]:
    """The chunks that fit, in rank order, each with its "[n] heading\\ntext" entry (the last one maybe cut)."""
    from phi3ray.rag.chunking import heading_line

    kept: list[tuple[RetrievedChunk, str]] = []
    for chunk in chunks:
        number = len(kept) + 1
        head = f"[{number}] {heading_line(chunk.title, chunk.section)}\n"  # the line the embedder saw too
        if count_tokens(tokenizer, _join(kept, head + chunk.text)) <= token_budget:
            kept.append((chunk, head + chunk.text))
            continue
        cut = _longest_prefix(
            chunk.text, lambda text: count_tokens(tokenizer, _join(kept, head + text)) <= token_budget, tokenizer
        )
        if cut is not None and count_tokens(tokenizer, cut) >= MIN_TRUNCATED_TOKENS:
            kept.append((chunk, head + cut))
        break
    return kept


def count_tokens(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def cited_numbers(answer: str) -> list[int]:
    """Source numbers an answer cites ("[2]", "[1, 3]"), in order of first mention, each once."""
    seen: list[int] = []
    for group in _CITATION.findall(answer):
        for number in re.split(r"\s*[,;]\s*", group):
            if int(number) not in seen:
                seen.append(int(number))
    return seen


def declines(chunks: list[RetrievedChunk] | None, sources: list[Source]) -> bool:
    """Whether a prompt is answered with ABSTAIN without running the model: RAG was asked for (chunks is not
    None) and no source is shown. A model shown nothing can only invent; RAG promises a cited answer or none."""
    return chunks is not None and not sources


def is_abstention(answer: str) -> bool:
    """Whether an answer declines to answer ("I do not know ...") rather than stating something."""
    return _ABSTAINS.search(answer.replace("\u2019", "'")) is not None


def _join(kept: list[tuple[RetrievedChunk, str]], entry: str) -> str:
    return SEPARATOR.join([e for _, e in kept] + [entry])


def _longest_prefix(text: str, fits, tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The longest prefix of text ending on a token boundary for which fits(prefix) holds (binary search)."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=tokenizer.is_fast)
    if tokenizer.is_fast:
        ends = [end for _, end in encoded["offset_mapping"]]

        def prefix(m: int) -> str:  # the first m + 1 tokens, as the original text
            return text[: ends[m]]
    else:

        def prefix(m: int) -> str:
            return tokenizer.decode(encoded.input_ids[: m + 1])

    lo, hi, best = 0, len(encoded.input_ids) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(prefix(mid)):
            best, lo = prefix(mid), mid + 1
        else:
            hi = mid - 1
    return best.rstrip() if best else None
