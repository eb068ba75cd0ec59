"""Report rendering: the same blocks as markdown (plots as files) and as HTML (plots embedded)."""

import pytest
import base64

from phi3ray.eval.plots import bar_chart_png
from phi3ray.eval.report import Image, Table, estimate_cell, number, render_html, render_markdown

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
