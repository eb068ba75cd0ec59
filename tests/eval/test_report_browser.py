"""report.html in a real browser: Debian's chromium, headless, renders the synthetic run's report and we read
the DOM it ends with (--dump-dom): the verdict comes before any table, every image decodes, the answer browser
has a row per question, and its filters, read from the URL's fragment, hide the right rows.

scripts/install.sh installs chromium (as root, with apt-get); without it these tests skip, except in CI
(CI=true), where a missing browser fails them.
"""

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from phi3ray.eval.report import write_report
from phi3ray.eval.scoring import METRICS
from tests.eval.test_report import expected_rows, synthetic_run

# Appended to a copy of report.html: once the page has loaded, mark every image that did not decode.
IMAGE_PROBE = """<script>
window.addEventListener("load", function () {
  var broken = Array.prototype.filter.call(document.images, function (img) {
    return !(img.complete && img.naturalWidth > 0);
  });
  var probe = document.createElement("div");
  probe.id = "image-probe";
  probe.dataset.images = document.images.length;
  probe.dataset.broken = broken.length;
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        why = "Debian's chromium is not installed (scripts/install.sh installs it as root: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}; CI must run the report's browser tests")
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def probe_page(tmp_path_factory) -> Path:
    """The synthetic run's report.html, with IMAGE_PROBE, next to its answers and plots."""
    run_dir = tmp_path_factory.mktemp("browser")
    write_report(synthetic_run(run_dir), run_dir)
    page = run_dir / "probe.html"
    page.write_text((run_dir / "report.html").read_text().replace("</body>", IMAGE_PROBE + "</body>"))
    return page


def dump_dom(chromium: str, url: str) -> str:
    """The DOM after the page (and its scripts) loaded, serialised by headless chromium."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


class Elements(HTMLParser):
    """Every element's tag and attributes, in document order, and the answer browser's count line."""

    def __init__(self, text: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.count_text, self._in_count = "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))
        self._in_count = dict(attrs).get("id") == "browser-count"

    def handle_data(self, data):
        if self._in_count:
            self.count_text += data

    def index(self, tag: str, **attrs) -> int:
        return next(i for i, (t, a) in enumerate(self.found)
                    if t == tag and all(a.get(k) == v for k, v in attrs.items()))

    def question_rows(self) -> list[dict]:
        return [a for t, a in self.found if t == "tr" and a.get("class") == "question-row"]

    def shown(self) -> list[str]:
        return [row["id"].removeprefix("q-") for row in self.question_rows() if "hidden" not in row]


def test_report_renders_verdict_first_images_and_a_row_per_question(chromium, probe_page):
    dom = Elements(dump_dom(chromium, probe_page.as_uri()))
    first_table = dom.index("table")
    assert dom.index("h2", id="verdict") < dom.index("ol", id="findings") < first_table
    assert dom.index("h2", id="promotion-gate-passed") < first_table
    assert dom.index("img") < first_table  # the headline chart
    [probe] = [a for t, a in dom.found if a.get("id") == "image-probe"]
    assert probe["data-broken"] == "0" and int(probe["data-images"]) == len(METRICS)
    rows = dom.question_rows()
    expected = expected_rows()
    assert [(r["id"], r["data-kind"], r["data-gold"], r["data-disagree"]) for r in rows] == [
        (f"q-{e['id']}", e["kind"], e["gold"], str(int(e["disagree"]))) for e in expected]
    assert dom.shown() == [e["id"] for e in expected]
    assert dom.count_text == f"{len(expected)} of {len(expected)} questions shown"
    # each cited [n] links to a shown source's chunk text; the [7] the wrong RAG answers cite names none
    ids = {a.get("id") for _, a in dom.found}
    links = [a for t, a in dom.found if t == "a" and a.get("class") == "cite"]
    assert links and all(a["data-source"] in ids and a["href"] == "#" + a["data-source"] for a in links)
    assert sum(t == "span" and a.get("class") == "invalid" for t, a in dom.found) == 2 * 3  # wrong +rag answers


@pytest.mark.parametrize("fragment", ["kind=unanswerable&disagree=1", "gold=0", "gold=1&disagree=1", "kind=taught"])
def test_filters_from_the_address_hide_the_other_questions(chromium, probe_page, fragment):
    state = dict(part.split("=") for part in fragment.split("&"))
    expected = [e["id"] for e in expected_rows()
                if e["kind"] == state.get("kind", e["kind"]) and e["gold"] == state.get("gold", e["gold"])
                and (e["disagree"] or "disagree" not in state)]
    dom = Elements(dump_dom(chromium, f"{probe_page.as_uri()}#{fragment}"))
    assert dom.shown() == expected and 0 < len(expected) < len(expected_rows())
    assert dom.count_text == f"{len(expected)} of {len(expected_rows())} questions shown"


def test_sorting_by_score_difference_puts_the_disagreements_first(chromium, probe_page):
    dom = Elements(dump_dom(chromium, f"{probe_page.as_uri()}#sort=spread"))
    # key terms are 0 or 1 per answer: a spread of 1 where the variants disagree, 0 where they agree, and none
    # on unanswerable questions (no key terms); equal spreads keep the question order
    answerable = [e for e in expected_rows() if e["kind"] != "unanswerable"]
    order = ([e for e in answerable if e["disagree"]] + [e for e in answerable if not e["disagree"]]
             + [e for e in expected_rows() if e["kind"] == "unanswerable"])
    assert [row["id"] for row in dom.question_rows()] == [f"q-{e['id']}" for e in order]
    assert [row["data-spread"] for row in dom.question_rows()] == ["1"] * 10 + ["0"] * 2 + [""] * 4
    assert dom.shown() == [e["id"] for e in order]
