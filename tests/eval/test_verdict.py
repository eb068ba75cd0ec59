"""The plain-language verdict names the winner per metric, the size of the gain and its significance."""

import pytest
from dataclasses import asdict

from phi3ray.eval.scoring import METRIC_KEYS, summarize
from phi3ray.eval.variants import build_matrix
from phi3ray.eval.verdict import write_verdict

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def results_for(f1: dict[str, list[float]]) -> dict:
    variants = build_matrix(["pumps"])
    scores = {
        name: [{key: 0.0 for key in METRIC_KEYS} | {"f1": x, "perplexity": 1.0} for x in values]
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
