"""Scoring one answer, retrieval scores, and which comparisons the summary makes."""

import math

import numpy as np
import pytest

from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.scoring import (
    ABSTAINED,
    SCORE_KEYS,
    KindScores,
    abstain_precision_statistic,
    abstain_recall_statistic,
    retrieval_scores,
    score_answer,
    summarize,
)
from phi3ray.eval.scoring import UNANSWERABLE as UNANSWERABLE_BIT
from phi3ray.eval.variants import QuestionPrompts, build_matrix
from phi3ray.eval.worker import AnswerRecord
from phi3ray.rag.prompt import ABSTAIN

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

NAN = float("nan")

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
    assert retrieval_scores(PROMPT, k=1) == {"recall_at_k": 0.0, "mrr": 0.5, "declined": 0.0}
    assert retrieval_scores(PROMPT, k=2) == {"recall_at_k": 1.0, "mrr": 0.5, "declined": 0.0}
    no_gold = QuestionPrompts(HeldoutQuestion("h2", "q", "a"), plain=[], retrieved_doc_ids=["x"])
    scores = retrieval_scores(no_gold, k=5)
    assert math.isnan(scores["recall_at_k"]) and math.isnan(scores["mrr"]) and scores["declined"] == 0.0
    declined = QuestionPrompts(HeldoutQuestion("h3", "q", "a"), plain=[], rag=[], declined=True)
    assert retrieval_scores(declined, k=5)["declined"] == 1.0  # no source: +rag answers are prompt.ABSTAIN


def test_summary_compares_every_variant_with_base_and_rag_ones_with_their_neighbours():
    variants = build_matrix(["pumps"])
    row = {key: 0.5 for key in SCORE_KEYS}
    scores = {v.name: [dict(row), dict(row)] for v in variants}
    retrieval = [{"recall_at_k": 1.0, "mrr": 0.5, "declined": 0.0}] * 2
    summary = summarize(variants, scores, retrieval=retrieval, k=5, samples=50, seed=0)
    pairs = sorted({(c["variant"], c["reference"]) for c in summary.comparisons})
    assert pairs == [("base+rag", "base"), ("pumps", "base"), ("pumps+rag", "base"), ("pumps+rag", "base+rag"),
                     ("pumps+rag", "pumps")]
    rag_only = {c["metric"] for c in summary.comparisons if c["reference"] == "base+rag"}
    assert "citation_valid" in rag_only
    assert "citation_valid" not in {c["metric"] for c in summary.comparisons if c["reference"] == "pumps"}
    assert "citation_valid" not in summary.metrics["pumps"] and "citation_valid" in summary.metrics["pumps+rag"]
    assert summary.metrics["base"]["perplexity"]["value"] == pytest.approx(math.exp(0.5))
    assert summary.retrieval["k"] == 5 and summary.retrieval["mrr"]["value"] == 0.5


def test_two_adapters_behind_rag_are_compared_with_each_other():
    """The RAG-trained adapter must be shown against the plain one, both with RAG, not only against the base."""
    variants = build_matrix(["pumps", "pumps-rag"])
    row = {key: 0.5 for key in SCORE_KEYS}
    scores = {v.name: [dict(row), dict(row)] for v in variants}
    summary = summarize(variants, scores, retrieval=None, k=5, samples=20, seed=0)
    pairs = {(c["variant"], c["reference"]) for c in summary.comparisons}
    assert ("pumps-rag+rag", "pumps+rag") in pairs and ("pumps-rag+rag", "base+rag") in pairs
    assert ("pumps-rag", "pumps") not in pairs and ("pumps+rag", "pumps-rag+rag") not in pairs


UNANSWERABLE = HeldoutQuestion("h9", "What RAL colour code is a VX-220 painted in?", ABSTAIN, answerable=False)
NO_TERMS = HeldoutQuestion("h3", "Where does the VX-220 seal sit?", "Behind the impeller, on the shaft sleeve.")


def prompt_for(question: HeldoutQuestion) -> QuestionPrompts:
    return QuestionPrompts(question, plain=[{"role": "user", "content": question.question}], rag=[],
                           sources=[{"number": 1, "doc_id": "vx-220-specifications"}])


def test_unanswerable_questions_score_abstention_not_wording():
    declined = score_answer(record("I don't know: the manuals do not say [1]."), prompt_for(UNANSWERABLE), rag=True)
    assert (declined["abstained"], declined["abstention_case"]) == (1.0, ABSTAINED + UNANSWERABLE_BIT)
    assert all(math.isnan(declined[k]) for k in ("exact_match", "f1", "rouge_l", "key_terms", "perplexity", "cites",
                                                 "answered_correct"))
    assert declined["citation_valid"] == 1.0 and declined["latency_s"] == 0.5  # still measured
    guessed = score_answer(record("RAL 5010, gentian blue."), prompt_for(UNANSWERABLE), rag=False)
    assert (guessed["abstained"], guessed["abstention_case"]) == (0.0, UNANSWERABLE_BIT)
    assert math.isnan(guessed["f1"]) and math.isnan(guessed["answered_correct"])


def test_answered_accuracy_uses_key_terms_or_f1():
    right = score_answer(record("Use 110 N·m."), PROMPT, rag=False)
    wrong = score_answer(record("Use 90 N·m."), PROMPT, rag=False)
    assert (right["answered_correct"], wrong["answered_correct"]) == (1.0, 0.0)
    assert right["abstention_case"] == 0.0
    declined = score_answer(record("I do not know."), PROMPT, rag=False)
    assert declined["abstention_case"] == ABSTAINED and math.isnan(declined["answered_correct"])
    assert declined["f1"] == 0.0  # an answerable question declined keeps its text scores
    # without key terms F1 >= 0.5 is right; the reference is [behind, impeller, on, shaft, sleeve]
    behind_impeller = score_answer(record("Behind the impeller."), prompt_for(NO_TERMS), rag=False)
    assert behind_impeller["f1"] == pytest.approx(4 / 7) and behind_impeller["answered_correct"] == 1.0  # P 1, R 2/5
    behind_it = score_answer(record("Behind it."), prompt_for(NO_TERMS), rag=False)
    assert behind_it["f1"] == pytest.approx(2 / 7) and behind_it["answered_correct"] == 0.0  # P 1/2, R 1/5


def cases(*pairs: tuple[bool, bool]) -> np.ndarray:
    """abstention_case values of (abstained, unanswerable) pairs."""
    return np.array([ABSTAINED * a + UNANSWERABLE_BIT * u for a, u in pairs], dtype=float)


def test_abstain_precision_and_recall_by_hand():
    # abstained on 2 unanswerable + 1 answerable, missed 1 unanswerable, answered 2 answerable
    values = cases((True, True), (True, True), (True, False), (False, True), (False, False), (False, False))
    assert abstain_precision_statistic(values) == pytest.approx(2 / 3)
    assert abstain_recall_statistic(values) == pytest.approx(2 / 3)
    only_answered = cases((False, True), (False, False))
    assert math.isnan(abstain_precision_statistic(only_answered))  # no abstention: precision undefined
    assert abstain_recall_statistic(only_answered) == 0.0
    nothing_unanswerable = cases((True, False), (False, False))
    assert math.isnan(abstain_recall_statistic(nothing_unanswerable))  # nothing to recall
    assert abstain_precision_statistic(nothing_unanswerable) == 0.0
    rows = np.stack([values, np.concatenate([only_answered, only_answered, only_answered])])  # (R=2, n=6)
    precision = abstain_precision_statistic(rows)
    assert precision.shape == (2,) and precision[0] == pytest.approx(2 / 3) and math.isnan(precision[1])


def abstention_scores(pairs: list[tuple[bool, bool]]) -> list[dict[str, float]]:
    row = dict.fromkeys(SCORE_KEYS, 0.5)
    return [row | {"abstained": float(a), "abstention_case": float(ABSTAINED * a + UNANSWERABLE_BIT * u)}
            for a, u in pairs]


def test_summary_of_abstention_metrics_and_their_comparisons():
    variants = build_matrix(["pumps"], rag=False)
    unanswerable = [False] * 20 + [True] * 10
    scores = {
        "base": abstention_scores([(False, u) for u in unanswerable]),  # never abstains
        "pumps": abstention_scores([(u or i == 0, u) for i, u in enumerate(unanswerable)]),  # all 10, plus one
    }
    summary = summarize(variants, scores, retrieval=None, k=5, samples=200, seed=0)
    base, pumps = summary.metrics["base"], summary.metrics["pumps"]
    assert math.isnan(base["abstain_precision"]["value"])
    assert base["abstain_recall"]["value"] == 0.0 and base["abstain_rate"]["value"] == 0.0
    assert pumps["abstain_precision"]["value"] == pytest.approx(10 / 11)
    assert pumps["abstain_recall"]["value"] == 1.0 and pumps["abstain_rate"]["value"] == pytest.approx(11 / 30)
    assert 0.6 < pumps["abstain_precision"]["ci_low"] < 10 / 11 < pumps["abstain_precision"]["ci_high"] == 1.0
    by_metric = {c["metric"]: c for c in summary.comparisons if (c["variant"], c["reference"]) == ("pumps", "base")}
    # swapping the 10 unanswerable questions' answers reaches a difference of 1 in 2 of 2^10 ways
    assert by_metric["abstain_recall"]["diff"] == 1.0 and by_metric["abstain_recall"]["significant"]
    undefined = by_metric["abstain_precision"]  # base never abstains: no precision to compare
    assert math.isnan(undefined["diff"]) and math.isnan(undefined["p_value"]) and not undefined["significant"]


def test_precision_interval_with_a_single_abstention_is_defined():
    variants = build_matrix([], rag=False)
    scores = {"base": abstention_scores([(i == 0, i == 0) for i in range(20)])}
    summary = summarize(variants, scores, retrieval=None, k=5, samples=300, seed=0)
    estimate = summary.metrics["base"]["abstain_precision"]  # about a third of the resamples have no abstention
    assert (estimate["value"], estimate["ci_low"], estimate["ci_high"], estimate["n"]) == (1.0, 1.0, 1.0, 20)


def test_scores_by_kind():
    variants = build_matrix(["pumps"], rag=False)
    kinds = ["taught", "taught", "documents", "unanswerable", "unanswerable"]
    f1 = {"base": [1.0, 0.0, 0.5, NAN, NAN], "pumps": [1.0, 1.0, 0.0, NAN, NAN]}
    abstained = {"base": [0, 0, 1, 0, 1], "pumps": [0, 0, 0, 1, 1]}
    scores = {
        name: [dict.fromkeys(SCORE_KEYS, NAN) | {"f1": f, "abstained": float(a), "abstention_case": 0.0}
               for f, a in zip(f1[name], abstained[name])]
        for name in f1
    }
    summary = summarize(variants, scores, retrieval=None, k=5, samples=100, seed=0, kinds=kinds)
    table = {(row.variant, row.kind): row for row in summary.by_kind}
    assert list(table) == [("base", "taught"), ("base", "documents"), ("base", "unanswerable"),
                           ("pumps", "taught"), ("pumps", "documents"), ("pumps", "unanswerable")]
    assert isinstance(table["base", "taught"], KindScores) and table["base", "taught"].questions == 2
    assert table["base", "taught"].f1.value == 0.5 and table["pumps", "taught"].f1.value == 1.0
    assert table["base", "documents"].abstain_rate.value == 1.0
    assert math.isnan(table["pumps", "unanswerable"].f1.value) and table["pumps", "unanswerable"].f1.n == 0
    assert table["base", "unanswerable"].abstain_rate.value == 0.5
    assert table["pumps", "unanswerable"].abstain_rate.value == 1.0
    assert math.isnan(table["base", "taught"].key_terms.value)
    assert summarize(variants, scores, retrieval=None, k=5, samples=10, seed=0).by_kind == []
    with pytest.raises(ValueError, match="4 question kinds for 5 scored answers"):
        summarize(variants, scores, retrieval=None, k=5, samples=10, seed=0, kinds=kinds[:4])
