"""Support check: the idf-weighted share of a question's terms a chunk holds (phi3ray.rag.support)."""

import math

import numpy as np
import pytest

from phi3ray.rag.support import (
    WordVectors, bm25_idf, coverage, holds, identifiers, missing_identifiers, stem, terms, weaviate_forms,
)

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_terms_are_the_content_words_as_weaviate_splits_them():
    assert terms("What RAL colour code is the casing of a VX-220 painted in?") == [
        "ral", "colour", "code", "casing", "vx220", "painted"]  # fmt: skip
    assert terms("How loud is a VX-300, in dB(A)?") == ["loud", "vx300", "db"]
    assert terms("What is it?") == []


def test_contractions_and_a_re_prefix_leave_no_term():
    assert terms("Why doesn't the VX-300 start? I've re-checked it; it won't prime, they're fine") == [
        "vx300", "start", "checked", "prime", "fine"]


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
    assert coverage(["bearing", "1x"], ["Bearings: 1× running speed"], lambda _: 1.0) == pytest.approx(1.0 / 2.0)
    assert coverage(["vx300", "bearing"], ["VX-3000 bearing, VX 300"], weight) == 0.0  # an identifier: all or none


def test_identifiers_are_codes_of_letters_and_digits():
    assert identifiers("What does fault E31 mean on the AquiDrive AD-7?") == ["e31", "ad7"]
    assert identifiers("Run 2 VX-300 pumps on 60Hz at 2900rpm, with 1x vibration") == ["vx300"]  # not quantities
    assert identifiers("What is the rated flow?") == []
    assert holds("vx300", "the VX-300 and the VX300A") and holds("e31", "Fault E31.")
    assert not holds("vx300", "VX-3000, VX 300") and not holds("e31", "E 31")


def test_an_identifier_no_source_names_leaves_no_coverage():
    weight = {"vx600": 5.0, "rated": 1.0, "flow": 1.0}.get
    question = ["rated", "flow", "vx600"]
    assert missing_identifiers(question, ["VX-300 Specifications\nRated flow: 60 m³/h"]) == ["vx600"]
    assert coverage(question, ["VX-300 Specifications\nRated flow: 60 m³/h"], weight) == 0.0  # not 2/7
    assert coverage(question, ["VX-600: rated flow 90 m³/h"], weight) == pytest.approx(1.0)
    assert coverage(question, ["VX-6000 rated flow", "VX 600"], weight) == 0.0  # exactly, never in parts
    both = ["vx100", "vx150"]
    assert coverage(both, ["VX-100 Specifications"], lambda _: 1.0) == 0.0
    assert coverage(both, ["VX-100 Specifications", "VX-150 Specifications"], lambda _: 1.0) == 1.0  # together
    assert coverage(iter(question), iter(["VX-300: rated flow"]), weight) == 0.0  # read once: iterables as lists


def test_weaviate_forms_cover_a_code_written_with_and_without_its_hyphen():
    assert weaviate_forms("vx300") == [["vx", "300"], ["vx300"]]  # "VX-300" is two words to Weaviate, "VX300" one
    assert weaviate_forms("e31") == [["e", "31"], ["e31"]]
    assert weaviate_forms("vx300a") == [["vx", "300a"], ["vx300a"]]  # "VX-300A": Weaviate splits at the hyphen only
    assert weaviate_forms("bearing") == [["bearing"]] and weaviate_forms("2900") == [["2900"]]


def test_a_similar_word_stands_for_a_term():
    table = {"weigh": [1.0, 0.0], "weight": [0.9, 0.436], "colour": [0.0, 1.0], "kg": [0.6, 0.8]}
    vectors = WordVectors(lambda words: np.array([table[w] for w in words]))
    weight = lambda term: 1.0  # noqa: E731
    assert coverage(["weigh"], ["Weight: 85 kg"], weight, vectors) == 1.0  # cosine 0.9
    assert coverage(["weigh"], ["85 kg colour"], weight, vectors) == 0.0  # 0.6 and 0.0: below SIMILAR
    assert coverage(["weigh"], ["Weight: 85 kg"], weight) == 0.0  # without vectors: stems only
