"""answers.jsonl read back question by question: every variant's answer side by side, what each answer came to,
whether the variants disagree and whether retrieval found a gold document; and RAG's effect split by that.

A row of answers.jsonl (runner.write_answers) is one variant's answer to one question: its text, its scores
(each question's own perplexity, not the mean log-loss the aggregate is made of) and, for a +rag variant, the
sources it was shown and the question's retrieval scores (recall@k and reciprocal rank, None without gold ids).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from phi3ray.eval.scoring import SCORE_KEYS, metric_spec
from phi3ray.eval.significance import Comparison, bootstrap, paired_comparison
from phi3ray.names import RAG_SUFFIX

ANSWER_SCORES = tuple(key for key in SCORE_KEYS if key != "abstention_case")  # what a row's "scores" holds
OUTCOMES = ("right", "wrong", "abstained")


@dataclass
class QuestionAnswers:
    """One held-out question with every variant's answers.jsonl row, in the file's variant order."""

    id: str
    question: str
    reference: str
    kind: str  # heldout.KINDS
    rows: dict[str, dict]  # variant -> its row

    @property
    def sources(self) -> list[dict]:
        """The sources the +rag variants were shown (retrieval runs once per question); [] without RAG."""
        return next((row["sources"] for variant, row in self.rows.items() if variant.endswith(RAG_SUFFIX)), [])

    @property
    def gold_retrieved(self) -> bool | None:
        """Whether a gold document was among the top k retrieved (recall@k > 0); None without RAG or gold ids."""
        retrieval = next((row["retrieval"] for row in self.rows.values() if row.get("retrieval")), None)
        if retrieval is None or retrieval["recall_at_k"] is None:
            return None
        return retrieval["recall_at_k"] > 0

    def outcome(self, variant: str) -> str:
        """right | wrong | abstained (right on an unanswerable question: no source holds its answer)."""
        row = self.rows[variant]
        if row["abstained"]:
            return "abstained"
        if self.kind == "unanswerable":
            return "wrong"
        return "right" if row["scores"]["answered_correct"] else "wrong"

    def is_right(self, variant: str) -> bool:
        """Whether the answer is what the question calls for: right, or an abstention where nothing holds the answer."""
        return self.outcome(variant) == ("abstained" if self.kind == "unanswerable" else "right")

    @property
    def disagree(self) -> bool:
        """Whether the variants' answers came to different outcomes (one right, another wrong or abstaining)."""
        return len({self.outcome(variant) for variant in self.rows}) > 1

    def value(self, variant: str, metric: str) -> float:
        """This answer's score as the metric's statistic takes it (perplexity as log-loss); NaN when undefined."""
        score = self.rows[variant]["scores"][metric_spec(metric).score_key]
        if score is None:
            return math.nan
        return math.log(score) if metric == "perplexity" else float(score)

    def spread(self, metric: str) -> float | None:
        """Highest minus lowest score of the variants on metric (on log-loss for perplexity); None if undefined."""
        values = [self.value(variant, metric) for variant in self.rows]
        if any(math.isnan(v) for v in values):
            return None
        return max(values) - min(values)


def read_answers(path: Path) -> list[QuestionAnswers]:
    """Group answers.jsonl's rows by question, in the file's question order."""
    questions: dict[str, QuestionAnswers] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        question = questions.setdefault(
            row["question_id"],
            QuestionAnswers(row["question_id"], row["question"], row["reference"], row["kind"], {}),
        )
        question.rows[row["variant"]] = row
    return list(questions.values())


def answer_metric(primary: str) -> str:
    """The metric answers are compared on: the primary one when each answer has its own score for it
    (not abstain precision or recall, which are ratios over the question set), else F1."""
    return primary if metric_spec(primary).score_key in ANSWER_SCORES else "f1"


@dataclass
class RagEffect:
    """A +rag variant against the same model without RAG, on the questions whose gold document retrieval did
    (retrieved True) or did not find: the two values and the paired difference."""

    variant: str
    reference: str
    retrieved: bool
    value: float
    reference_value: float
    comparison: Comparison


def rag_effect_by_retrieval(questions: list[QuestionAnswers], metric: str, samples: int, seed: int) -> list[RagEffect]:
    """Per +rag variant (in variant order) and retrieval outcome present: what RAG changes on metric."""
    statistic = metric_spec(metric).statistic
    variants = list(questions[0].rows) if questions else []
    effects = []
    for variant in [v for v in variants if v.endswith(RAG_SUFFIX) and v.removesuffix(RAG_SUFFIX) in variants]:
        reference = variant.removesuffix(RAG_SUFFIX)
        for retrieved in (True, False):
            group = [q for q in questions if q.gold_retrieved is retrieved]
            if not group:
                continue
            with_rag = [q.value(variant, metric) for q in group]
            without = [q.value(reference, metric) for q in group]
            effects.append(RagEffect(
                variant, reference, retrieved,
                bootstrap(with_rag, samples, seed, statistic).value,
                bootstrap(without, samples, seed, statistic).value,
                paired_comparison(without, with_rag, samples, seed, statistic),
            ))
    return effects
