"""Per-answer metrics against hand-computed values, edge cases included."""

import math

import pytest

from phi3ray.eval import metrics as m

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The Cat!", "cat"),
        ("  A  quick,  brown fox. ", "quick brown fox"),
        ("an apple and the theory", "apple and theory"),  # articles only as whole words
        ("110 N·m", "110 nm"),  # the middle dot is Unicode punctuation
        ("0.3-0.5 mm", "0305 mm"),  # SQuAD removes punctuation without a space
        ("Flow: 5 m³/h", "flow 5 m³h"),
        ("85 °C", "85 °c"),  # the degree sign is a symbol, kept
        ("", ""),
        ("the a an", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert m.normalize_answer(text) == expected


def test_strip_citations():
    assert m.strip_citations("Use 110 N·m [1], per the manual [2, 3].") == "Use 110 N·m, per the manual."
    assert m.strip_citations("[1]") == "" and m.strip_citations("a [x] b") == "a [x] b"


def test_exact_match_ignores_case_punctuation_and_articles():
    assert m.exact_match("The Answer.", "answer") == 1.0
    assert m.exact_match("an E21 fault", "E21 fault!") == 1.0
    assert m.exact_match("E21 faults", "E21 fault") == 0.0
    assert m.exact_match("", "") == 1.0
    assert m.exact_match("", "x") == 0.0


def test_token_f1_hand_computed():
    # pred tokens [pump, needs, 110, nm, torque], ref [110, nm]: P = 2/5, R = 1, F1 = 0.8 / 1.4
    assert m.token_f1("The pump needs 110 N·m torque", "110 N·m") == pytest.approx(0.8 / 1.4)
    # pred [b, b] (article a dropped), ref [b, b, b, c]: common 2, P = 1, R = 1/2, F1 = 2/3
    assert m.token_f1("a b b", "b b b c") == pytest.approx(2 / 3)
    assert m.token_f1("VX-220", "vx220") == 1.0
    assert m.token_f1("nothing shared", "other words") == 0.0


def test_token_f1_empty_sides():
    assert m.token_f1("", "110 N·m") == 0.0
    assert m.token_f1("110 N·m", "") == 0.0
    assert m.token_f1("", "") == 1.0
    assert m.token_f1("The.", "a") == 1.0  # both normalise to nothing


def test_lcs_length():
    assert m.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # the textbook example
    assert m.lcs_length([], ["a"]) == 0
    assert m.lcs_length(["a", "b"], ["a", "b"]) == 2


def test_rouge_l_hand_computed():
    # [seal, pump, impeller] vs [pump, seal, impeller]: LCS 2, P = R = 2/3
    assert m.rouge_l("seal pump the impeller", "pump seal impeller") == pytest.approx(2 / 3)
    # 6 predicted tokens, 4 reference tokens, LCS [b, d, e] = 3: P = 1/2, R = 3/4, F = 0.75 / 1.25
    assert m.rouge_l("x y b c d e", "b d e f") == pytest.approx(0.6)
    assert m.rouge_l("", "b") == 0.0
    assert m.rouge_l("", "") == 1.0
    assert m.rouge_l("Same words.", "same WORDS") == 1.0


@pytest.mark.parametrize(
    "answer,term,found",
    [
        ("Torque the bolts to 110 N·m.", "110 N·m", True),
        ("torque: 110 n⋅m", "110 N·m", True),  # dot operator, other case
        ("torque: 110 NM", "110 N·m", False),
        ("after 2 h.", "2 h", True),
        ("after 12 h", "2 h", False),  # not inside a longer number
        ("after 2 hours", "2 h", False),  # not inside a longer word
        ("a flow of 5 m3/h", "5 m³/h", True),  # NFKC: superscript three = 3
        ("max 85 °C", "85 °C", True),
        ("max 185 °C", "85 °C", False),
        ("readjust at 1.0 mm.", "1.0 mm", True),
        ("readjust at 11.0 mm", "1.0 mm", False),
        ("it is 0.5 mm", "5 mm", False),  # not the tail of a decimal
        ("the KEYPAD lost contact", "keypad", True),
        ("", "keypad", False),
    ],
)
def test_contains_term(answer, term, found):
    assert m.contains_term(answer, term) is found


def test_key_term_recall():
    assert m.key_term_recall("It weighs 98 kg.", ["98 kg", "10 m"]) == 0.5
    assert m.key_term_recall("", ["98 kg"]) == 0.0
    assert math.isnan(m.key_term_recall("anything", []))


def test_citation_scores():
    # cited {1, 3, 7}; sources 1..3 from docs a, b, c; gold a: valid 2/3, gold 1/2 (1 -> a yes, 3 -> c no)
    scores = m.citation_scores([1, 3, 3, 7], [1, 2, 3], ["a", "b", "c"], ["a"])
    assert scores == {"cites": 1.0, "citation_valid": pytest.approx(2 / 3), "citation_gold": 0.5}
    none = m.citation_scores([], [1, 2], ["a", "b"], ["a"])
    assert none["cites"] == 0.0 and math.isnan(none["citation_valid"]) and math.isnan(none["citation_gold"])
    no_gold = m.citation_scores([2], [1, 2], ["a", "b"], [])
    assert no_gold["citation_valid"] == 1.0 and math.isnan(no_gold["citation_gold"])
    invalid = m.citation_scores([9], [1, 2], ["a", "b"], ["a"])
    assert invalid["citation_valid"] == 0.0 and math.isnan(invalid["citation_gold"])


def test_perplexity():
    assert m.perplexity(3 * math.log(8), 3) == pytest.approx(8.0)
    assert math.isnan(m.perplexity(0.0, 0))
