"""Report rendering: the same blocks as markdown (plots as files) and as HTML (plots embedded)."""

import pytest
import base64

from phi3ray.eval.plots import bar_chart_png
from phi3ray.eval.report import Image, Table, estimate_cell, kind_table, number, render_html, render_markdown

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

NAN = float("nan")


def test_numbers_and_cells():
    assert number(0.123456) == "0.1235" and number(None) == "n/a" and number(NAN) == "n/a"
    assert estimate_cell({"value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 4}) == "0.5000 [0.2500, 0.7500]"
    assert estimate_cell({"value": None, "ci_low": None, "ci_high": None, "n": 0}) == "n/a"


def test_markdown_and_html_carry_the_same_content():
    png = bar_chart_png("F1", ["base", "pumps"], [
        {"value": 0.2, "ci_low": 0.1, "ci_high": 0.3}, {"value": NAN, "ci_low": NAN, "ci_high": NAN}], "F1")
    assert png.startswith(b"\x89PNG")
    blocks = [
        ("h1", "Evaluation x"),
        ("table", Table(["Variant", "F1"], [["base", "0.2000 [0.1000, 0.3000]"], ["a|b", "n/a"]])),
        ("image", Image("plots/f1.png", png, "F1 per variant")),
        ("ul", ["pumps is best <by far>"]),
    ]
    md = render_markdown(blocks)
    assert md.splitlines()[:6] == ["# Evaluation x", "", "| Variant | F1 |", "| --- | --- |",
                                   "| base | 0.2000 [0.1000, 0.3000] |", "| a\\|b | n/a |"]
    assert "![F1 per variant](plots/f1.png)" in md and "- pumps is best <by far>" in md
    page = render_html(blocks)
    assert "<td>0.2000 [0.1000, 0.3000]</td>" in page and "pumps is best &lt;by far&gt;" in page
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page


def estimate(value: float | None) -> dict:
    return {"value": value, "ci_low": value, "ci_high": value, "n": 0 if value is None else 2}


def kind_row(variant: str, kind: str, questions: int, f1: float | None, abstains: float) -> dict:
    return {"variant": variant, "kind": kind, "questions": questions, "f1": estimate(f1),
            "key_terms": estimate(None if f1 is None else 1.0), "abstain_rate": estimate(abstains)}


def test_scores_by_kind_table():
    results = {"by_kind": [
        kind_row("base", "documents", 3, 0.25, 0.0), kind_row("base", "taught", 2, 0.5, 0.0),
        kind_row("base", "unanswerable", 1, None, 0.0),
        kind_row("pumps", "documents", 3, 0.125, 1 / 3), kind_row("pumps", "taught", 2, 0.75, 0.0),
        kind_row("pumps", "unanswerable", 1, None, 1.0),
    ]}
    [heading, note, table] = kind_table(results)
    assert heading == ("h2", "Scores by question kind") and note[0] == "p"
    assert table[1].headers == ["Variant", "taught (n=2)", "documents (n=3)", "unanswerable (n=1)"]  # KINDS order
    assert table[1].rows == [
        ["base", "F1 0.5000, key terms 1.0000, abstains 0.0000", "F1 0.2500, key terms 1.0000, abstains 0.0000",
         "abstains 0.0000"],
        ["pumps", "F1 0.7500, key terms 1.0000, abstains 0.0000", "F1 0.1250, key terms 1.0000, abstains 0.3333",
         "abstains 1.0000"],
    ]
    one_kind = {"by_kind": [kind_row("base", "unlabelled", 3, 0.5, 0.0)]}
    assert kind_table(one_kind) == [] and kind_table({"by_kind": []}) == [] and kind_table({}) == []
