"""Retrieval quality on the held-out questions: recall@1/3/5 and MRR for BM25, vector and hybrid search.

    python bench/retrieval.py                       # private Weaviate, sample manuals ingested first
    python bench/retrieval.py --existing retriever=local retriever.collection=Phi3rayDocs   # an ingested one

Each question is searched once per setting (top 10 chunks); a chunk counts as its document, so recall@k
asks whether a gold document is among the first k chunks the generator would see. MRR is over the 10.
Settings: alpha=0 (BM25 only), alpha=1 (vector only) and hybrid alpha 0.25/0.5/0.75, with the
configured fusion (relative_score unless overridden).

Then the relevance floor (retriever.min_similarity): each question is searched as serving searches it
(top_k, alpha, fusion of the config; no floor) and the cosine similarity of its chunks to the query is
read: for answerable held-out questions the best chunk of a gold document, for the off-topic questions
below, for terse on-topic keyword searches ("P33", "seal") and for held-out rows marked "answerable": false
the best chunk of all. The table says, per candidate floor, the share of answerable questions whose gold
chunks it would all cut and the share of the others it would leave with no chunk at all (their prompt then
says no sources were found): wanted for off-topic questions, unwanted for keyword searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phi3ray.config import IngestConfig, load_config  # noqa: E402
from phi3ray.rag.quality import evaluate_retrieval, format_table, load_heldout  # noqa: E402

SETTINGS = [("BM25 only (alpha=0)", 0.0), ("hybrid alpha=0.25", 0.25), ("hybrid alpha=0.5", 0.5),
            ("hybrid alpha=0.75", 0.75), ("vector only (alpha=1)", 1.0)]  # fmt: skip
FETCH = 10  # chunks per search
OFF_TOPIC = [
    "What is the capital of France?",
    "How do I bake sourdough bread?",
    "Who won the football world cup in 2014?",
    "What is a good recipe for vegetable lasagne?",
    "How many moons does Jupiter have?",
    "Can you recommend a science fiction novel?",
    "How do I change a flat tyre on a bicycle?",
    "What is the difference between a list and a tuple in Python?",
    "When was the Eiffel Tower built?",
    "How should I train for my first marathon?",
]  # questions the pump manuals do not touch: a floor should leave them without sources
KEYWORDS = ["P33", "seal", "lockout", "VX-220", "cavitation", "pump noisy", "bearing temperature",
            "impeller clearance", "torque VX-150", "VXS-80 oil"]  # fmt: skip  # terse on-topic searches: keep them
FLOORS = [0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50]  # candidate min_similarity values


def unanswerable_questions(path: str) -> list[str]:
    """Questions of the held-out rows marked "answerable": false (load_heldout leaves them out); [] if none."""
    rows = (json.loads(line) for line in Path(path).read_text().splitlines() if line.strip())
    return [row["question"] for row in rows if row.get("answerable") is False]


def quality_table(cfg: IngestConfig) -> str:
    from phi3ray.rag.retriever import Retriever

    questions = load_heldout(str(ROOT / cfg.data.heldout_file))
    retriever = Retriever(dataclasses.replace(cfg.retriever, min_coverage=None))  # ranking quality, not the gate
    try:
        reports = []
        for name, alpha in SETTINGS:
            ranked = lambda q, a=alpha: [c.doc_id for c in retriever.search(q, top_k=FETCH, alpha=a)]  # noqa: E731
            reports.append(evaluate_retrieval(name, questions, ranked))
    finally:
        retriever.close()
    r = cfg.retriever
    header = f"{len(questions)} held-out questions, fusion={r.fusion}, min_similarity={r.min_similarity}, {FETCH} chunks per search"
    return header + "\n" + format_table(reports)


def floor_table(cfg: IngestConfig) -> str:
    """Similarity of the best gold chunk (answerable) vs the best chunk (off-topic, unanswerable), per floor."""
    from phi3ray.rag.retriever import Retriever

    path = str(ROOT / cfg.data.heldout_file)
    questions, unanswerable = load_heldout(path), unanswerable_questions(path)
    retriever = Retriever(dataclasses.replace(cfg.retriever, min_similarity=None, min_coverage=None))  # no floor
    try:
        gold, no_gold = [], 0
        for row in questions:
            found = [c.similarity for c in retriever.search(row["question"]) if c.doc_id in row["doc_ids"]]
            if found:
                gold.append(max(found))
            else:
                no_gold += 1
        best = lambda q: max((c.similarity for c in retriever.search(q)), default=-1.0)  # noqa: E731
        groups = {
            "keyword": [best(q) for q in KEYWORDS],
            "off-topic": [best(q) for q in OFF_TOPIC],
            '"answerable": false': [best(q) for q in unanswerable],
        }
    finally:
        retriever.close()
    r = cfg.retriever
    lines = [
        f"top_k={r.top_k}, alpha={r.alpha}, fusion={r.fusion}; similarity = cosine(query vector, chunk vector)",
        f"answerable: {len(questions)} held-out questions, {len(gold)} with a gold chunk among the {r.top_k} "
        f"({no_gold} without one, which no floor changes); best gold chunk {spread(gold)}",
    ]
    groups = {name: sims for name, sims in groups.items() if sims}
    lines += [f"{name}: {len(sims)} questions; best chunk {spread(sims)}" for name, sims in groups.items()]
    if not unanswerable:
        lines.append('(no held-out rows marked "answerable": false)')
    header = ["min_similarity", "answerable losing every gold chunk", *(f"{name} left with no chunk" for name in groups)]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for floor in [None, *FLOORS]:
        below = lambda sims, f=floor: 0 if f is None else sum(s < f for s in sims)  # noqa: E731
        cells = [f"{floor:.2f}" if floor is not None else "none (baseline)", share(below(gold), len(gold))]
        lines.append("| " + " | ".join(cells + [share(below(sims), len(sims)) for sims in groups.values()]) + " |")
    keeping = [f for f in FLOORS if sum(g < f for g in gold) <= 0.02 * len(gold)]
    lines.append(f"\nhighest candidate floor keeping >= 98% of gold chunks: {max(keeping):.2f}" if keeping else "")
    return "\n".join(lines)


def share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "-"


def spread(values: list[float]) -> str:
    """min / median / max of values, 3 decimals."""
    ordered = sorted(values)
    return f"min {ordered[0]:.3f}, median {ordered[len(ordered) // 2]:.3f}, max {ordered[-1]:.3f}" if ordered else "-"


def main() -> None:
    run_bench(lambda cfg: quality_table(cfg) + "\n\n" + floor_table(cfg), "BenchRetrieval", __doc__)


def run_bench(measure: Callable[[IngestConfig], str], collection: str, doc: str) -> None:
    """Print measure(cfg): on the configured Weaviate as it is (--existing), or on a private one with the
    sample manuals ingested first (into `collection`)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--existing", action="store_true", help="query the configured Weaviate as it is (no ingestion)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/ingest.yaml")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.chdir(ROOT)  # data paths in conf/ are relative to the repository
    if args.existing:
        print(measure(load_config("ingest", args.overrides)))
        return

    import ray

    from phi3ray.rag.ingest import ingest
    from tests.support.weaviate_process import WeaviateProcess

    with tempfile.TemporaryDirectory() as tmp:
        server = WeaviateProcess(data_dir=Path(tmp) / "data").start()
        try:
            cfg = load_config("ingest", [*server.overrides(collection), *args.overrides])
            started = time.monotonic()
            summary = ingest(cfg)
            seconds = time.monotonic() - started
            print(f"ingested {summary.chunks} chunks of {summary.documents} documents in {seconds:.0f}s")
            print(measure(cfg))
        finally:
            server.stop()
            ray.shutdown()


if __name__ == "__main__":
    main()
