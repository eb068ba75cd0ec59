"""recall@k and reciprocal rank over ranked document ids."""

import pytest

from phi3ray.rag.quality import evaluate_retrieval, format_table, recall_at_k, reciprocal_rank


def test_recall_at_k_counts_gold_documents_in_the_first_k():
    ranked = ["a", "a", "b", "c", "d"]
    assert recall_at_k(ranked, ["b"], 1) == 0.0
    assert recall_at_k(ranked, ["b"], 3) == 1.0
    assert recall_at_k(ranked, ["b", "d"], 3) == 0.5
    assert recall_at_k(ranked, ["b", "d", "d"], 5) == 1.0  # gold ids count once
    assert recall_at_k([], ["a"], 5) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, [], 3)


def test_reciprocal_rank_is_one_over_the_first_gold_position():
    assert reciprocal_rank(["x", "y", "a"], ["a"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a", "b"], ["b", "a"]) == 1.0
    assert reciprocal_rank(["x", "y"], ["a"]) == 0.0


def test_evaluate_retrieval_averages_over_questions_and_formats_a_table():
    rows = [{"question": "q1", "doc_ids": ["a"]}, {"question": "q2", "doc_ids": ["b"]}]
    ranked = {"q1": ["a", "x", "y"], "q2": ["x", "y", "b"]}
    report = evaluate_retrieval("bm25", rows, ranked.__getitem__, ks=(1, 3))
    assert report.recall == {1: 0.5, 3: 1.0}
    assert report.mrr == pytest.approx((1 + 1 / 3) / 2)
    assert format_table([report]).splitlines() == [
        "| retrieval | recall@1 | recall@3 | MRR |",
        "|---|---:|---:|---:|",
        "| bm25 | 0.500 | 1.000 | 0.667 |",
    ]
