"""Retrieval quality against gold document ids: recall@k and reciprocal rank, plain functions."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from phi3ray.errors import DataFormatError


def recall_at_k(ranked_doc_ids: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of the gold documents found among the first k results (a document may fill several results)."""
    if not gold:
        raise ValueError("recall needs at least one gold document id")
    top = set(ranked_doc_ids[:k])
    return sum(g in top for g in set(gold)) / len(set(gold))


def reciprocal_rank(ranked_doc_ids: Sequence[str], gold: Sequence[str]) -> float:
    """1 / (position of the first gold document, from 1); 0 when none is retrieved."""
    wanted = set(gold)
    return next((1.0 / rank for rank, doc_id in enumerate(ranked_doc_ids, start=1) if doc_id in wanted), 0.0)


@dataclass
class QualityReport:
    """Mean recall@k and MRR over questions, for one retrieval setting."""

    name: str
    ks: tuple[int, ...]
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    questions: int = 0


def evaluate_retrieval(
    name: str,
    questions: list[dict],
    ranked: Callable[[str], list[str]],
    ks: tuple[int, ...] = (1, 3, 5),
) -> QualityReport:
    """Score ranked(question) -> doc ids (one per retrieved chunk, best first) against each row's gold doc_ids."""
    report = QualityReport(name, ks, recall=dict.fromkeys(ks, 0.0), questions=len(questions))
    for row in questions:
        doc_ids = ranked(row["question"])
        for k in ks:
            report.recall[k] += recall_at_k(doc_ids, row["doc_ids"], k) / len(questions)
        report.mrr += reciprocal_rank(doc_ids, row["doc_ids"]) / len(questions)
    return report


def load_heldout(path: str) -> list[dict]:
    """Held-out rows with a question and a non-empty list of gold doc_ids; rows marked "answerable": false
    (no gold document exists) are left out: retrieval quality is measured where there is something to find."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("answerable") is False:
            continue
        if not row.get("question") or not row.get("doc_ids"):
            raise DataFormatError(path, number, "a held-out row needs 'question' and a non-empty 'doc_ids'")
        rows.append(row)
    return rows


def format_table(reports: list[QualityReport]) -> str:
    """A markdown table: one row per setting, recall@k columns then MRR."""
    ks = reports[0].ks
    header = "| retrieval | " + " | ".join(f"recall@{k}" for k in ks) + " | MRR |"
    rule = "|---|" + "---:|" * (len(ks) + 1)
    rows = [
        f"| {r.name} | " + " | ".join(f"{r.recall[k]:.3f}" for k in ks) + f" | {r.mrr:.3f} |" for r in reports
    ]
    return "\n".join([header, rule, *rows])
