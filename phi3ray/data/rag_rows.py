"""RAG-aware training rows (RAFT): every training question asked again with the sources serving would show it.

RAFT (Zhang et al. 2024, "RAFT: Adapting Language Model to Domain Specific RAG") trains on the question
with the "oracle" document among distractors, and on a share of rows with distractors only, so that the
model learns both to read the right source among wrong ones and to keep the domain's knowledge. Here:

- the sources come from the same Weaviate index, retriever settings and prompt builder that serving uses
  (phi3ray.rag.prompt.build_prompt), so the adapter is trained on exactly the prompt it is served with;
- the gold chunk is the best chunk of the row's gold documents (``doc_ids``) for the question: the one the
  retriever ranked highest, or, when retrieval missed every gold document, the best one a search restricted
  to them finds (counted as ``gold_fetched``);
- with probability ``gold_share`` a row shows the gold chunk with the other chunks retrieval found: exactly
  serving's top k when the gold is among them, else the top k - 1 with the fetched gold at a random place;
  its answer cites the gold chunk's number, ``... [2]``; the other rows show k non-gold chunks and keep their
  answer (``without_gold=memory``, the default and RAFT's choice) or answer prompt.ABSTAIN (``abstain``);
- a row whose search the retriever's floors leave without a source (retriever.min_coverage) shows the
  no-sources prompt and answers prompt.ABSTAIN whatever without_gold says, as serving does without running
  the model; the gold fetch above is not held to min_coverage (counted as ``rows_declined``);
- rows without ``doc_ids`` cannot have a gold chunk: they get distractor-only prompts and count as such.

Seeded and deterministic for a given index. The rows' lineage — collection, object count, a hash of the
chunk ids, the settings — is written next to them and into the adapter card.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phi3ray.config import GenerationSettings, ModelConfig, RetrieverConfig
from phi3ray.data.readers import Example
from phi3ray.errors import ConfigValueError, EmptyCollectionError
from phi3ray.rag.connection import describe
from phi3ray.rag.prompt import ABSTAIN, build_prompt, declines, last_question, retrieval_query

RAG_ROWS_FILE = "rag_rows.jsonl"  # in the run folder, with rag_rows.jsonl.lineage.json
SEARCH_DEPTH = 3  # retrieve top_k * this many chunks: room for distractors once gold chunks are set aside


@dataclass
class IndexLineage:
    """Which index the rows were made from: enough to tell whether it has changed since."""

    collection: str
    where: str  # the Weaviate URL
    objects: int
    chunk_ids_sha256: str  # sha256 of the sorted object ids


@dataclass
class RagRowsLineage:
    index: IndexLineage
    top_k: int
    alpha: float
    fusion: str
    min_similarity: float | None
    min_coverage: float | None
    embedder: str
    gold_share: float
    without_gold: str
    seed: int
    token_budget: int
    rows: int = 0
    rows_with_gold: int = 0  # rows whose prompt shows the gold chunk
    gold_fetched: int = 0  # of those: gold documents retrieval missed, fetched by a doc_id search
    rows_without_doc_ids: int = 0  # rows with no gold documents named: distractor-only by necessity
    rows_declined: int = 0  # distractor rows left without a source (retriever floors): ABSTAIN, as serving answers


@dataclass
class RagRows:
    examples: list[Example]
    lineage: RagRowsLineage
    cited: list[int | None] = field(default_factory=list)  # per example: the gold source's number, None without


def index_lineage(retriever) -> IndexLineage:
    """Count and hash the ids of the retriever's collection; an empty one is an error, not an empty file."""
    ids = sorted(retriever.store.existing())
    if not ids:
        raise EmptyCollectionError(retriever.cfg.collection, describe(retriever.cfg.weaviate))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return IndexLineage(retriever.cfg.collection, describe(retriever.cfg.weaviate), len(ids), digest)


def make_rag_rows(
    examples: list[Example],
    retriever,
    tokenizer: PreTrainedTokenizerBase,
    *,
    model: ModelConfig,
    generation: GenerationSettings,
    system_prompt: str | None,
    gold_share: float,
    without_gold: str,
    seed: int,
    desc: str = "RAG training rows",
) -> RagRows:
    """Each example's last user turn with numbered sources from retriever, its answer citing the gold one."""
    cfg: RetrieverConfig = retriever.cfg
    lineage = RagRowsLineage(
        index=index_lineage(retriever), top_k=cfg.top_k, alpha=cfg.alpha, fusion=cfg.fusion,
        min_similarity=cfg.min_similarity, min_coverage=cfg.min_coverage, embedder=cfg.embedder.model,
        gold_share=gold_share, without_gold=without_gold, seed=seed, token_budget=generation.context_token_budget,
    )
    rng = random.Random(seed)
    out, cited = [], []
    for example in tqdm(examples, desc=desc, unit="row"):
        conversation, answer = example.messages[:-1], example.messages[-1]["content"]
        want_gold = rng.random() < gold_share
        chunks, gold, fetched = _sources(retriever, conversation, example.doc_ids, want_gold, rng)
        messages, sources = build_prompt(
            conversation, chunks, tokenizer, system_prompt=system_prompt,
            token_budget=generation.context_token_budget, context_length=model.context_length,
            answer_tokens=generation.max_new_tokens,
        )
        number = next((s.number for s in sources if gold is not None and s.object_id == gold.object_id), None)
        if number is not None:
            reply = f"{answer} [{number}]"
            lineage.rows_with_gold += 1
            lineage.gold_fetched += fetched
        elif declines(chunks, sources):  # serving answers this prompt with ABSTAIN, the model not run
            reply = ABSTAIN
            lineage.rows_declined += 1
        else:
            reply = answer if without_gold == "memory" else ABSTAIN
        lineage.rows_without_doc_ids += not example.doc_ids
        out.append(Example(messages + [{"role": "assistant", "content": reply}], example.source, example.doc_ids))
        cited.append(number)
    lineage.rows = len(out)
    return RagRows(out, lineage, cited)


def _sources(retriever, conversation: list[dict], doc_ids: list[str], want_gold: bool, rng: random.Random):
    """(chunks for the prompt, the gold chunk or None, whether it had to be fetched).

    A row that shows the gold chunk which retrieval found shows exactly what serving would: the same search.
    """
    k = retriever.cfg.top_k
    query, question = retrieval_query(conversation), last_question(conversation)
    found = retriever.search(query, question=question)  # what serving retrieves for this conversation
    gold_docs = set(doc_ids)
    if want_gold and gold_docs:
        ranked = [c for c in found if c.doc_id in gold_docs]
        if ranked:
            return found, ranked[0], False
        fetched = retriever.search(query, top_k=1, filters={"doc_id": sorted(gold_docs)}, gate=False)
        if fetched:  # retrieval missed the gold documents: their best chunk replaces the last one shown
            chunks = found[: k - 1]
            chunks.insert(rng.randint(0, len(chunks)), fetched[0])
            return chunks, fetched[0], True
    distractors = [c for c in found if c.doc_id not in gold_docs]
    if len(distractors) < len(found):  # gold chunks set aside: fill up from further down the ranking
        deeper = retriever.search(query, top_k=k * SEARCH_DEPTH, question=question)
        distractors = [c for c in deeper if c.doc_id not in gold_docs][:k]
    return distractors, None, False


def check_fits(examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_seq_len: int) -> None:
    """A RAG row cut at data.max_seq_len loses its answer (the end): refuse, naming the length that fits."""
    from phi3ray.data.masking import tokenize_example

    lengths = [len(tokenize_example(tokenizer, example).input_ids) for example in examples]
    longer = [n for n in lengths if n > max_seq_len]
    if longer:
        need = -(-max(lengths) // 128) * 128
        raise ConfigValueError(
            "data.max_seq_len", max_seq_len,
            f"{len(longer)} of {len(lengths)} RAG training rows are longer (the longest {max(lengths)} tokens) and "
            f"would lose their answers; set data.max_seq_len={need}, or lower generation.context_token_budget",
        )


def write_rag_rows(path: str, rows: RagRows) -> None:
    """The rows as chat JSONL (with doc_ids and where each came from), and <path>.lineage.json beside them."""
    from phi3ray.storage import write_text

    lines = [
        json.dumps({"messages": e.messages, "doc_ids": e.doc_ids, "source": e.source, "gold_source": n},
                   ensure_ascii=False)
        for e, n in zip(rows.examples, rows.cited)
    ]
    write_text(path, "\n".join(lines) + "\n")
    write_text(path + ".lineage.json", json.dumps(asdict(rows.lineage), indent=2) + "\n")


def rag_training_data(cfg, data: tuple, rows_path: str) -> tuple[tuple, RagRowsLineage]:
    """The training (and eval-loss) rows of a TrainConfig with data.rag_context, written to rows_path.

    Runs in the training driver, before any worker starts: one process queries Weaviate, the workers get rows.
    """
    import dataclasses

    from phi3ray.models.base import load_tokenizer
    from phi3ray.rag.retriever import Retriever

    train, held = data
    tokenizer = load_tokenizer(cfg.model)
    retriever = Retriever(cfg.retriever)
    try:
        settings = dict(
            model=cfg.model, generation=cfg.generation, system_prompt=cfg.data.system_prompt,
            gold_share=cfg.data.rag_gold_share, without_gold=cfg.data.rag_without_gold,
        )
        rows = make_rag_rows(train.examples, retriever, tokenizer, seed=cfg.training.seed, **settings)
        held_rows = None
        if held is not None:
            held_rows = make_rag_rows(held.examples, retriever, tokenizer, seed=cfg.training.seed + 1,
                                      desc="RAG eval rows", **settings)
    finally:
        retriever.close()
    check_fits(rows.examples + (held_rows.examples if held_rows else []), tokenizer, cfg.data.max_seq_len)
    write_rag_rows(rows_path, rows)
    train = dataclasses.replace(train, examples=rows.examples)
    if held is not None:
        held = dataclasses.replace(held, examples=held_rows.examples)
    return (train, held), rows.lineage
