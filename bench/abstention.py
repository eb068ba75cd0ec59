"""Choose retriever.min_coverage: do the retrieved sources hold what a question asks?

    python bench/abstention.py                       # private Weaviate, sample manuals ingested first
    python bench/abstention.py --existing retriever=local retriever.collection=Phi3rayDocs   # an ingested one

Coverage (phi3ray.rag.support) is the idf-weighted share of a question's terms that the retrieved chunks hold
together, 0 when they name none of an identifier the question names ("VX-600"); below retriever.min_coverage a
search returns no chunk, and the answer is an abstention. The floor
is CHOSEN ON THE TRAINING QUESTIONS and only REPORTED on the held-out ones. Every training question is
answerable, so a floor cuts only wrongly there: the chosen floor is the highest that keeps the sources of
KEEP of the training questions (each row's first question, searched as serving searches it), a bound on how
often an answerable question loses them. (Training questions with their gold documents taken out of the
index are no stand-in for unanswerable ones: the manuals repeat most facts across documents.)

Then the held-out questions: the answerable ones (did the search find a gold chunk? does the floor keep it?)
and the rows marked "answerable": false. Precision and recall are of abstention, as the evaluation reports
them, for a model that abstains exactly when it is given no source.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retrieval import run_bench, spread  # noqa: E402  (it sets the environment phi3ray reads)
from phi3ray.config import IngestConfig  # noqa: E402

FLOORS = [round(0.01 * i, 2) for i in range(101)]  # candidate min_coverage values, 0.00 .. 1.00
SHOWN = [round(0.05 * i, 2) for i in range(21)]  # the rows of the table (and the chosen floor)
KEEP = 0.97  # the share of training questions whose sources the chosen floor keeps


def training_questions(cfg: IngestConfig) -> list[tuple[str, set[str]]]:
    """(first user question, gold doc_ids) of each training row that names its documents."""
    from phi3ray.data.readers import read_examples

    examples = read_examples([str(ROOT / p) for p in cfg.data.train_files], cfg.data.format).examples
    firsts = ((next((m["content"] for m in e.messages if m["role"] == "user"), ""), e.doc_ids) for e in examples)
    return [(question, set(doc_ids)) for question, doc_ids in firsts if question and doc_ids]


def heldout_questions(path: Path) -> tuple[list[tuple[str, set[str]]], list[str]]:
    """(question, gold doc_ids) of the answerable held-out rows, and the questions of the unanswerable ones."""
    answerable, unanswerable = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("answerable") is False:
                unanswerable.append(row["question"])
            else:
                answerable.append((row["question"], set(row.get("doc_ids") or [])))
    return answerable, unanswerable


def measure(cfg: IngestConfig) -> str:
    from phi3ray.rag.retriever import Retriever

    retriever = Retriever(dataclasses.replace(cfg.retriever, min_coverage=None))  # measure without the floor
    try:
        found = lambda q: retriever.coverage(q, retriever.search(q))  # noqa: E731
        train = [found(question) for question, _ in training_questions(cfg)]
        answerable, unanswerable = heldout_questions(ROOT / cfg.data.heldout_file)
        held_in, gold_found = [], []
        for question, gold in answerable:
            chunks = retriever.search(question)
            held_in.append(retriever.coverage(question, chunks))
            gold_found.append(any(c.doc_id in gold for c in chunks))
        held_out = [found(q) for q in unanswerable]
    finally:
        retriever.close()

    chosen = max(f for f in FLOORS if share(train, f, above=True) >= KEEP)
    r = cfg.retriever
    lines = [
        f"top_k={r.top_k}, alpha={r.alpha}, fusion={r.fusion}, min_similarity={r.min_similarity}; coverage = "
        "idf-weighted share of the question's terms the retrieved chunks hold",
        f"training questions: {len(train)} (coverage {spread(train)})",
        f"held-out: {len(held_in)} answerable (coverage {spread(held_in)}), {len(held_out)} unanswerable "
        f"(coverage {spread(held_out)})",
        "",
        "| min_coverage | training questions kept | held-out answerable kept | held-out unanswerable cut "
        "| abstention precision | abstention recall |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for floor in sorted({*SHOWN, chosen}):
        abstained_right = sum(c < floor for c in held_out)
        abstained = abstained_right + sum(c < floor for c in held_in)
        precision = f"{abstained_right / abstained:.2f}" if abstained else "-"
        recall = f"{abstained_right / len(held_out):.2f}" if held_out else "-"
        mark = " (chosen)" if floor == chosen else ""
        lines.append(
            f"| {floor:.2f}{mark} | {share(train, floor, True):.2f} | {share(held_in, floor, True):.2f} | "
            f"{share(held_out, floor, False):.2f} | {precision} | {recall} |"
        )
    lost = sum(hit and c < chosen for hit, c in zip(gold_found, held_in))
    lines.append(
        f"\nchosen on the training questions (the highest floor keeping {KEEP:.0%} of them): "
        f"retriever.min_coverage={chosen:.2f}; of the {sum(gold_found)} held-out answerable questions whose search "
        f"found a gold chunk it cuts {lost}"
    )
    return "\n".join(lines)


def share(values: list[float], floor: float, above: bool) -> float:
    """The share of values at or above floor (above=True), or below it."""
    if not values:
        return float("nan")
    return sum((v >= floor) == above for v in values) / len(values)


def main() -> None:
    run_bench(measure, "BenchAbstention", __doc__)


if __name__ == "__main__":
    main()
