"""RAG prompt: numbered sources in the last user turn, token budget, truncation on token boundaries, citations."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from phi3ray.errors import PromptError
from phi3ray.rag.prompt import (
    INSTRUCTION,
    MIN_TRUNCATED_TOKENS,
    NO_SOURCES,
    RetrievedChunk,
    build_rag_messages,
    Source,
    declines,
    last_question,
    retrieval_query,
    with_system_prompt,
    cited_numbers,
    count_tokens,
)

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

TINY = Path(__file__).resolve().parents[2] / "phi3ray/assets/tiny-phi3"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(TINY))  # the tiny Phi-3's tokenizer: Phi-3's vocabulary rules


def chunk(i: int, words: int = 60) -> RetrievedChunk:
    text = " ".join(f"fact{i}-{w} about pump VX-{i}00." for w in range(words))
    return RetrievedChunk(f"id-{i}", f"doc-{i}", f"Manual {i}", f"Section {i}", f"docs/doc-{i}.md", text, 0, 1 - i / 10)


def sources_block(content: str) -> str:
    return content.split("Sources:\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]


def test_sources_are_numbered_in_rank_order_in_the_last_user_turn(tokenizer):
    messages = [
        {"role": "system", "content": "You are a pump assistant."},
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "What torque?"},
    ]
    chunks = [chunk(1, 5), chunk(2, 5), chunk(3, 5)]
    out, sources = build_rag_messages(messages, chunks, tokenizer, token_budget=2000)
    assert out[:3] == messages[:3]  # system prompt and earlier turns untouched
    assert messages[3]["content"] == "What torque?"  # the input is not modified
    content = out[3]["content"]
    assert content.startswith(INSTRUCTION) and content.endswith("\n\nQuestion: What torque?")
    entries = [f"[{i}] Manual {i} — Section {i}\n{chunks[i - 1].text}" for i in (1, 2, 3)]
    assert sources_block(content) == "\n\n".join(entries)
    assert [(s.number, s.title, s.source, s.object_id, s.doc_id) for s in sources] == [
        (i, f"Manual {i}", f"docs/doc-{i}.md", f"id-{i}", f"doc-{i}") for i in (1, 2, 3)
    ]
    assert sources[0].score == pytest.approx(0.9)
    assert "say that you do not know" in INSTRUCTION and "[1]" in INSTRUCTION


def test_budget_drops_the_lowest_ranked_chunks_first(tokenizer):
    chunks = [chunk(i) for i in range(1, 6)]
    entry = count_tokens(tokenizer, f"[1] Manual 1 — Section 1\n{chunks[0].text}")
    budget = int(entry * 2.2)  # two whole chunks fit; the third would need > MIN_TRUNCATED_TOKENS to be cut
    assert entry * 0.2 > MIN_TRUNCATED_TOKENS
    out, sources = build_rag_messages([{"role": "user", "content": "q"}], chunks, tokenizer, budget)
    block = sources_block(out[0]["content"])
    assert count_tokens(tokenizer, block) <= budget
    assert [s.object_id for s in sources] == ["id-1", "id-2", "id-3"]
    first, second, third = block.split("\n\n")
    assert first.endswith(chunks[0].text) and second.endswith(chunks[1].text)
    cut = third.split("\n", 1)[1]
    assert chunks[2].text.startswith(cut) and len(cut) < len(chunks[2].text)  # a prefix, cut between tokens
    token_ends = [end for _, end in tokenizer(chunks[2].text, return_offsets_mapping=True)["offset_mapping"]]
    assert cut in {chunks[2].text[:end] for end in token_ends}


def test_a_remainder_too_small_to_be_useful_is_dropped_not_cut(tokenizer):
    chunks = [chunk(1), chunk(2)]
    entry = count_tokens(tokenizer, f"[1] Manual 1 — Section 1\n{chunks[0].text}")
    _, sources = build_rag_messages([{"role": "user", "content": "q"}], chunks, tokenizer, entry + 10)
    assert [s.number for s in sources] == [1]


def test_first_chunk_larger_than_the_budget_is_cut_to_fit(tokenizer):
    out, sources = build_rag_messages([{"role": "user", "content": "q"}], [chunk(1, 200)], tokenizer, 100)
    assert len(sources) == 1
    assert 90 <= count_tokens(tokenizer, sources_block(out[0]["content"])) <= 100


def test_no_chunks_asks_the_model_to_say_it_does_not_know(tokenizer):
    out, sources = build_rag_messages([{"role": "user", "content": "Who won?"}], [], tokenizer, 500)
    assert sources == []
    assert out[0]["content"] == f"{NO_SOURCES}\n\nQuestion: Who won?"
    _, sources = build_rag_messages([{"role": "user", "content": "q"}], [chunk(1)], tokenizer, 5)
    assert sources == []  # nothing fits a 5-token budget
    assert declines([chunk(1)], sources) and declines([], [])  # RAG asked, no source shown: prompt.ABSTAIN
    assert not declines(None, []) and not declines([chunk(1)], [source_of(chunk(1))])  # no RAG, or a source


def source_of(c: RetrievedChunk) -> Source:
    return Source(number=1, title=c.title, source=c.source, object_id=c.object_id, score=c.score, doc_id=c.doc_id)


def test_the_prompt_renders_with_the_phi3_chat_template(tokenizer):
    out, _ = build_rag_messages([{"role": "user", "content": "What torque?"}], [chunk(1, 3)], tokenizer, 500)
    text = tokenizer.apply_chat_template(out, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|user|>\nAnswer the question using only") and text.endswith("<|end|>\n<|assistant|>\n")


def test_a_request_without_a_user_turn_is_an_error(tokenizer):
    with pytest.raises(PromptError, match="role 'user'"):
        build_rag_messages([{"role": "system", "content": "s"}], [chunk(1)], tokenizer, 500)


@pytest.mark.parametrize(
    "answer,numbers",
    [
        ("Tighten to 55 N·m [2].", [2]),
        ("See [1] and [3]; also [1].", [1, 3]),
        ("Both say so [2, 1] [4;5].", [2, 1, 4, 5]),
        ("I do not know.", []),
        ("Array [x] or [ 1 ] is not a citation.", []),
    ],
)
def test_cited_numbers(answer, numbers):
    assert cited_numbers(answer) == numbers


def test_a_conversation_retrieves_with_its_recent_user_turns():
    conversation = [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "What torque for the VX-220 casing bolts?"},
        {"role": "assistant", "content": "110 N·m [1]."},
        {"role": "user", "content": "And for the VX-150?"},
    ]
    assert retrieval_query(conversation) == "What torque for the VX-220 casing bolts?\nAnd for the VX-150?"
    assert retrieval_query(conversation, turns=1) == "And for the VX-150?"
    assert retrieval_query([{"role": "system", "content": "s"}]) == ""
    assert last_question(conversation) == "And for the VX-150?"  # what the sources must cover (rag.support)
    assert last_question([{"role": "system", "content": "s"}]) == ""


def test_the_system_prompt_goes_first_unless_the_conversation_has_one():
    user = [{"role": "user", "content": "q"}]
    assert with_system_prompt(user, "Be exact.") == [{"role": "system", "content": "Be exact."}, *user]
    own = [{"role": "system", "content": "Mine."}, *user]
    assert with_system_prompt(own, "Be exact.") == own
    assert with_system_prompt(user, None) == user and with_system_prompt(user, "S") is not user
