"""Support check: the idf-weighted share of a question's terms a chunk holds (phi3ray.rag.support)."""

import math

import numpy as np
import pytest

from phi3ray.rag.support import WordVectors, bm25_idf, coverage, stem, terms

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_terms_are_the_content_words_as_weaviate_splits_them():
    assert terms("What RAL colour code is the casing of a VX-220 painted in?") == [
        "ral", "colour", "code", "casing", "vx220", "painted"]  # fmt: skip
    assert terms("How loud is a VX-300, in dB(A)?") == ["loud", "vx300", "db"]
    assert terms("What is it?") == []


def test_stem_joins_inflections_and_leaves_codes_alone():
    assert stem("bearings") == stem("bearing")
    assert stem("painted") == stem("paint") and stem("replaced") == stem("replace")
    assert stem("e31s") == "e31s" and stem("2200s") == "2200s"


def test_idf_weighs_rare_terms_more_and_unseen_terms_most():
    n = 200
    assert bm25_idf(0, n) > bm25_idf(1, n) > bm25_idf(50, n) > bm25_idf(200, n) > 0
    assert bm25_idf(0, n) == pytest.approx(math.log(1 + (n + 0.5) / 0.5))


def test_coverage_is_the_weighted_share_of_terms_held():
    weights = {"ral": 4.0, "colour": 3.0, "casing": 1.0, "vx220": 2.0}.get
    question = ["ral", "colour", "casing", "vx220"]
    manual = "VX-220 Specifications\nThe casing is grey cast iron EN-GJL-250."
    assert coverage(question, [manual], weights) == pytest.approx(3.0 / 10.0)
    painted = manual + " Paint: RAL 5015, sky blue colour."
    assert coverage(question, [painted], weights) == pytest.approx(1.0)
    assert coverage(question, [manual, "Paint: RAL 5015."], weights) == pytest.approx(7.0 / 10.0)  # together
    assert coverage(question, [], weights) == 0.0


def test_coverage_matches_by_stem_and_ignores_case():
    weight = {"bearings": 1.0, "replaced": 1.0}.get
    assert coverage(["bearings", "replaced"], ["Replace the BEARING every 20 000 h."], weight) == pytest.approx(1.0)


def test_a_question_without_terms_is_covered():
    assert coverage([], ["anything"], lambda _: 1.0) == 1.0


def test_a_code_counts_whole_and_only_exactly():
    weight = {"vx300": 2.0, "bearing": 1.0}.get
    assert coverage(["vx300", "bearing"], ["VX-300 Bearings"], weight) == pytest.approx(1.0)
    assert coverage(["vx300", "bearing"], ["VX-3000 bearing, VX 300"], weight) == pytest.approx(1.0 / 3.0)


def test_a_similar_word_stands_for_a_term():
    table = {"weigh": [1.0, 0.0], "weight": [0.9, 0.436], "colour": [0.0, 1.0], "kg": [0.6, 0.8]}
    vectors = WordVectors(lambda words: np.array([table[w] for w in words]))
    weight = lambda term: 1.0  # noqa: E731
    assert coverage(["weigh"], ["Weight: 85 kg"], weight, vectors) == 1.0  # cosine 0.9
    assert coverage(["weigh"], ["85 kg colour"], weight, vectors) == 0.0  # 0.6 and 0.0: below SIMILAR
    assert coverage(["weigh"], ["Weight: 85 kg"], weight) == 0.0  # without vectors: stems only
