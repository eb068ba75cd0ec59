"""Scoring one answer, retrieval scores, and which comparisons the summary makes."""

import math

import pytest

from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.scoring import METRIC_KEYS, retrieval_scores, score_answer, summarize
from phi3ray.eval.variants import QuestionPrompts, build_matrix
from phi3ray.eval.worker import AnswerRecord

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

QUESTION = HeldoutQuestion("h1", "What torque for the VX-220 casing bolts?", "The casing bolts need 110 N·m.",
                           doc_ids=["vx-220-specifications"], key_terms=["110 N·m"])
PROMPT = QuestionPrompts(
    QUESTION, plain=[{"role": "user", "content": QUESTION.question}], rag=[],
    sources=[{"number": 1, "doc_id": "vx-220-specifications"}, {"number": 2, "doc_id": "glossary"}],
    retrieved_doc_ids=["glossary", "vx-220-specifications", "vx-220-specifications"],
)


def record(answer: str, nll: float = 6.0, tokens: int = 3) -> AnswerRecord:
    return AnswerRecord("h1", "v", answer, prompt_tokens=50, completion_tokens=10, finish_reason="stop",
                        latency_s=0.5, reference_nll=nll, reference_tokens=tokens)


def test_score_answer_with_citations():
    scores = score_answer(record("Torque them to 110 N·m [1][2][5]."), PROMPT, rag=True)
    assert scores["key_terms"] == 1.0 and scores["exact_match"] == 0.0
    # citations are dropped first: [torque, them, to, 110, nm] vs [casing, bolts, need, 110, nm]: P = R = 2/5
    assert scores["f1"] == pytest.approx(2 / 5)
    assert scores["cites"] == 1.0 and scores["citation_valid"] == pytest.approx(2 / 3)
    assert scores["citation_gold"] == 0.5  # [1] is the gold spec sheet, [2] the glossary
    assert scores["perplexity"] == 2.0  # mean NLL per reference token; exp() is taken when aggregating
    assert scores["tokens_per_s"] == 20.0 and scores["latency_s"] == 0.5


def test_plain_variants_have_no_citation_scores():
    scores = score_answer(record("[1] 110 N·m"), PROMPT, rag=False)
    assert all(math.isnan(scores[k]) for k in ("cites", "citation_valid", "citation_gold"))


def test_retrieval_scores_rank_chunks():
    assert retrieval_scores(PROMPT, k=1) == {"recall_at_k": 0.0, "mrr": 0.5}
    assert retrieval_scores(PROMPT, k=2) == {"recall_at_k": 1.0, "mrr": 0.5}
    no_gold = QuestionPrompts(HeldoutQuestion("h2", "q", "a"), plain=[], retrieved_doc_ids=["x"])
    assert all(math.isnan(v) for v in retrieval_scores(no_gold, k=5).values())


def test_summary_compares_every_variant_with_base_and_rag_ones_with_their_neighbours():
    variants = build_matrix(["pumps"])
    row = {key: 0.5 for key in METRIC_KEYS}
    scores = {v.name: [dict(row), dict(row)] for v in variants}
    summary = summarize(variants, scores, retrieval=[{"recall_at_k": 1.0, "mrr": 0.5}] * 2, k=5, samples=50, seed=0)
    pairs = sorted({(c["variant"], c["reference"]) for c in summary.comparisons})
    assert pairs == [("base+rag", "base"), ("pumps", "base"), ("pumps+rag", "base"), ("pumps+rag", "base+rag"),
                     ("pumps+rag", "pumps")]
    rag_only = {c["metric"] for c in summary.comparisons if c["reference"] == "base+rag"}
    assert "citation_valid" in rag_only
    assert "citation_valid" not in {c["metric"] for c in summary.comparisons if c["reference"] == "pumps"}
    assert "citation_valid" not in summary.metrics["pumps"] and "citation_valid" in summary.metrics["pumps+rag"]
    assert summary.metrics["base"]["perplexity"]["value"] == pytest.approx(math.exp(0.5))
    assert summary.retrieval["k"] == 5 and summary.retrieval["mrr"]["value"] == 0.5
