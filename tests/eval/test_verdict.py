"""The plain-language verdict names the winner per metric, the size of the gain and its significance."""

import pytest
from dataclasses import asdict

from phi3ray.eval.scoring import ABSTAINED, SCORE_KEYS, UNANSWERABLE, summarize
from phi3ray.eval.variants import build_matrix
from phi3ray.eval.verdict import chosen_adapter, headline, write_verdict

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def results_for(f1: dict[str, list[float]], adapters: tuple[str, ...] = ("pumps",), rag: bool = True) -> dict:
    variants = build_matrix(list(adapters), rag)
    scores = {
        name: [{key: 0.0 for key in SCORE_KEYS} | {"f1": x, "perplexity": 1.0} for x in values]
        for name, values in f1.items()
    }
    summary = summarize(variants, scores, retrieval=None, k=5, samples=999, seed=0)
    return {"variants": [asdict(v) for v in variants], "metrics": summary.metrics, "comparisons": summary.comparisons}


def test_verdict_names_winner_gain_and_significance():
    n = 20
    lines = write_verdict(results_for({
        "base": [0.2] * n, "base+rag": [0.4] * n, "pumps": [0.3] * (n - 1) + [0.1], "pumps+rag": [0.6] * n,
    }))
    assert lines[0] == "EM: no variant beats the base model (0.0000)."
    assert lines[1].startswith("F1: pumps+rag is best (0.6000); pumps+rag vs base on F1: +0.4000 (95% CI +0.4000 to "
                               "+0.4000, better), significant (p = 0.0010)")
    assert "Does RAG help the base model (F1)? base+rag vs base on F1: +0.2000" in lines[5]
    assert lines[6].startswith("Does fine-tuning help (F1)? pumps vs base on F1: +0.0900")
    assert "Does fine-tuning add to RAG (F1)? pumps+rag vs base+rag on F1: +0.2000" in lines[7]
    assert "Does RAG add to fine-tuning (F1)? pumps+rag vs pumps on F1: +0.3100" in lines[8]


def test_small_differences_are_called_not_significant():
    lines = write_verdict(results_for({"base": [0.2, 0.4, 0.3], "base+rag": [0.2, 0.4, 0.3],
                                       "pumps": [0.25, 0.35, 0.3], "pumps+rag": [0.2, 0.4, 0.3]}))
    fine_tuning = next(line for line in lines if line.startswith("Does fine-tuning help"))
    assert "on F1: +0.0000 (95% CI -0.0500 to +0.0500, no change), not significant (p = 1.0000" in fine_tuning


def test_abstention_line_names_the_variant_that_declines_unanswerable_questions():
    unanswerable = [False] * 10 + [True] * 10
    declines = {"base": [False] * 20, "base+rag": unanswerable, "pumps": [False] * 20,
                "pumps+rag": [u or i < 5 for i, u in enumerate(unanswerable)]}  # all 10, and 5 answerable ones
    variants = build_matrix(["pumps"])
    scores = {name: [{key: 0.0 for key in SCORE_KEYS} | {"perplexity": 1.0, "abstained": float(a),
                                                        "abstention_case": ABSTAINED * a + UNANSWERABLE * u}
                     for a, u in zip(abstained, unanswerable)] for name, abstained in declines.items()}
    summary = summarize(variants, scores, retrieval=None, k=5, samples=999, seed=0)
    results = {"variants": [asdict(v) for v in variants], "metrics": summary.metrics,
               "comparisons": summary.comparisons}
    lines = write_verdict(results)
    assert lines[-1].startswith("Abstention: base+rag declines the most unanswerable questions (abstain recall "
                                "1.0000, precision 1.0000); base+rag vs base on Abstain recall: +1.0000")
    assert lines[-1].endswith("better), significant (p = 0.0030).")  # 2 of 2^10 swaps reach +1
    never = {name: [row | {"abstained": 0.0, "abstention_case": UNANSWERABLE * u} for row, u in zip(rows, unanswerable)]
             for name, rows in scores.items()}
    summary = summarize(variants, never, retrieval=None, k=5, samples=99, seed=0)
    lines = write_verdict({**results, "metrics": summary.metrics, "comparisons": summary.comparisons})
    assert lines[-1] == "Abstention: no variant declines more unanswerable questions than the base model " \
                        "(abstain recall 0.0000)."
    assert not any(line.startswith("Abstention") for line in write_verdict(results_for({
        "base": [0.2], "base+rag": [0.2], "pumps": [0.2], "pumps+rag": [0.2]})))  # no unanswerable question


def test_headline_answers_rag_adapter_and_both_with_effect_ci_and_p():
    n = 20
    findings = headline(results_for({
        "base": [0.2] * n, "base+rag": [0.4] * n, "pumps": [0.3] * (n - 1) + [0.1], "pumps+rag": [0.6] * n,
    }))
    assert str(findings[0]) == ("Does RAG help? Yes — on F1, base+rag 0.4000 vs base 0.2000: +0.2000 "
                                "(95% CI +0.2000 to +0.2000, p = 0.0010).")
    assert [(f.question, f.answer) for f in findings] == [
        ("Does RAG help?", "Yes"), ("Does the adapter help (pumps)?", "Yes"),
        ("Does the combination (pumps+rag) beat both?", "Yes")]
    assert findings[2].detail == (
        "on F1, against RAG alone pumps+rag 0.6000 vs base+rag 0.4000: +0.2000 (95% CI +0.2000 to +0.2000, "
        "p = 0.0010); against the adapter alone pumps+rag 0.6000 vs pumps 0.2900: +0.3100 (95% CI +0.3000 to "
        "+0.3300, p = 0.0010)")


def test_headline_says_no_when_worse_and_not_shown_when_not_significant():
    n = 20
    findings = headline(results_for({"base": [0.4] * n, "base+rag": [0.2] * n, "pumps": [0.5, 0.3] * (n // 2),
                                     "pumps+rag": [0.3] * n}))
    assert [f.answer for f in findings] == ["No", "Not shown", "No"]  # pumps+rag beats base+rag, not pumps
    assert "pumps 0.4000 vs base 0.4000: +0.0000" in findings[1].detail


def test_headline_without_rag_or_adapters_says_what_was_not_evaluated():
    no_rag = headline(results_for({"base": [0.2] * 4, "pumps": [0.3] * 4}, rag=False))
    assert [f.answer for f in no_rag] == ["Not evaluated", "Not shown", "Not evaluated"]  # 4 questions: p = 0.125
    assert str(no_rag[0]) == "Does RAG help? Not evaluated — the +rag variants did not run (rag=false)."
    no_adapter = headline(results_for({"base": [0.2] * 4, "base+rag": [0.3] * 4}, adapters=()))
    assert [f.answer for f in no_adapter][1:] == ["Not evaluated", "Not evaluated"]


def test_headline_speaks_for_the_gates_adapter_else_the_best_combination():
    n = 10
    results = results_for({"base": [0.2] * n, "base+rag": [0.3] * n, "a": [0.5] * n, "a+rag": [0.4] * n,
                           "b": [0.3] * n, "b+rag": [0.6] * n}, adapters=("a", "b"))
    assert chosen_adapter(results, "f1") == "b"  # b+rag beats a+rag, though a alone beats b alone
    assert headline(results)[1].question == "Does the adapter help (b, the best of 2 adapters on F1)?"
    assert chosen_adapter(results, "f1", gate_adapter="a") == "a"
    assert headline(results, gate_adapter="a")[2].question == "Does the combination (a+rag) beat both?"
