"""The answer browser of report.html: one table row per question with the reference, every variant's answer
(its citations linked to the sources, each source to its chunk text and file) and scores, filtered by kind,
by "variants disagree" and by "RAG retrieved the gold document", sortable by the spread of the answers' scores.

Static HTML and a little inline JS: no server, no CDN, it works from file://. The filter state lives in the
URL's fragment, so report.html#kind=unanswerable&disagree=1&gold=1&sort=spread opens filtered.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote, urlparse

from phi3ray.eval.answers import QuestionAnswers
from phi3ray.eval.heldout import KINDS
from phi3ray.eval.scoring import metric_spec
from phi3ray.names import RAG_SUFFIX
from phi3ray.rag.prompt import _CITATION as CITATION  # the [n] / [1, 3] markers cited_numbers reads

STYLE = """
#browser-controls{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #ccc;z-index:1}
#browser-controls label{margin-right:1.2em}
#answer-browser{width:100%;table-layout:fixed}
#answer-browser td{vertical-align:top;overflow-wrap:anywhere}
#answer-browser .question{font-weight:600}
#answer-browser .meta,#answer-browser .scores{color:#555;font-size:85%}
#answer-browser .answer{margin:0 0 6px;padding-left:6px;border-left:4px solid #ccc}
#answer-browser .answer.right{border-color:#2e7d32}
#answer-browser .answer.wrong{border-color:#c62828}
#answer-browser .answer.abstained{border-color:#f9a825}
#answer-browser .answer.abstained.right{border-color:#2e7d32}
#answer-browser .outcome{font-weight:600}
#answer-browser pre{white-space:pre-wrap;font-size:85%;max-width:40em}
#answer-browser .invalid{color:#c62828}
#answer-browser ul.sources{list-style:none;padding-left:0;margin:0;font-size:90%}
#answer-browser ul.sources summary{font-weight:normal}
"""
SCRIPT = """
(function () {
  var body = document.getElementById("answer-browser").tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var kind = document.getElementById("filter-kind"), disagree = document.getElementById("filter-disagree"),
      gold = document.getElementById("filter-gold"), sort = document.getElementById("sort-by"),
      count = document.getElementById("browser-count");
  function fromHash() {
    var hash = location.hash.slice(1);
    if (hash.indexOf("=") < 0) return;  // an anchor such as #src-h001-2, not a filter state
    var state = new URLSearchParams(hash);
    kind.value = state.get("kind") || "";
    disagree.checked = state.get("disagree") === "1";
    gold.value = state.get("gold") || "";
    sort.value = state.get("sort") || "";
  }
  function toHash() {
    var state = new URLSearchParams();
    if (kind.value) state.set("kind", kind.value);
    if (disagree.checked) state.set("disagree", "1");
    if (gold.value) state.set("gold", gold.value);
    if (sort.value) state.set("sort", sort.value);
    location.replace("#" + state.toString());
  }
  function spread(row) { return row.dataset.spread === "" ? -1 : parseFloat(row.dataset.spread); }
  function apply() {
    var shown = 0;
    rows.forEach(function (row) {
      row.hidden = Boolean((kind.value && row.dataset.kind !== kind.value) ||
                           (disagree.checked && row.dataset.disagree !== "1") ||
                           (gold.value && row.dataset.gold !== gold.value));
      if (!row.hidden) shown += 1;
    });
    var order = rows.slice();
    if (sort.value === "spread") {
      order.sort(function (a, b) { return spread(b) - spread(a) || a.dataset.order - b.dataset.order; });
    }
    order.forEach(function (row) { body.appendChild(row); });
    count.textContent = shown + " of " + rows.length + " questions shown";
  }
  [kind, disagree, gold, sort].forEach(function (control) {
    control.addEventListener("change", function () { toHash(); apply(); });
  });
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  document.addEventListener("click", function (event) {  // a citation opens its source, the filters stay
    var link = event.target.closest("a.cite");
    var source = link && document.getElementById(link.dataset.source);
    if (!source) return;
    event.preventDefault();
    source.open = true;
    source.scrollIntoView({block: "center"});
  });
  fromHash();
  apply();
})();
"""


def answer_browser(questions: list[QuestionAnswers], metric: str, run_dir: Path) -> str:
    """The browser's HTML (controls, table, script); metric: the per-answer score shown and sorted on."""
    label = metric_spec(metric).label
    kinds = [k for k in KINDS if any(q.kind == k for q in questions)]
    kind_options = "".join(f'<option value="{k}">{k}</option>' for k in kinds)
    controls = (
        '<div id="browser-controls">'
        f'<label>Kind <select id="filter-kind"><option value="">all</option>{kind_options}</select></label>'
        '<label><input type="checkbox" id="filter-disagree"> variants disagree</label>'
        '<label>RAG retrieved the gold document <select id="filter-gold"><option value="">either</option>'
        '<option value="1">yes</option><option value="0">no</option></select></label>'
        '<label>Order <select id="sort-by"><option value="">question order</option>'
        f'<option value="spread">largest {html.escape(label)} difference between variants</option></select></label>'
        f'<span id="browser-count">{len(questions)} of {len(questions)} questions shown</span></div>'
    )
    head = ('<thead><tr><th style="width:25%">Question and reference</th><th style="width:45%">Answers</th>'
            "<th>Sources shown to the +rag variants</th>")
    rows = "".join(_row(i, q, metric, run_dir) for i, q in enumerate(questions))
    table = f'<table id="answer-browser">{head}</tr></thead><tbody>{rows}</tbody></table>'
    return f"<style>{STYLE}</style>{controls}{table}<script>{SCRIPT}</script>"


def _row(order: int, q: QuestionAnswers, metric: str, run_dir: Path) -> str:
    gold = {True: "1", False: "0", None: ""}[q.gold_retrieved]
    spread = q.spread(metric)
    attributes = {
        "class": "question-row", "id": f"q-{q.id}", "data-kind": q.kind, "data-disagree": str(int(q.disagree)),
        "data-gold": gold, "data-spread": "" if spread is None else f"{spread:.6g}", "data-order": str(order),
    }
    opening = "<tr " + " ".join(f'{k}="{html.escape(v)}"' for k, v in attributes.items()) + ">"
    retrieval = {"1": "gold document retrieved", "0": "gold document not retrieved", "": ""}[gold]
    meta = " · ".join(part for part in (q.id, q.kind, retrieval) if part)
    asked = (f'<div class="meta">{html.escape(meta)}</div><div class="question">{html.escape(q.question)}</div>'
             f"<p><b>Reference:</b> {html.escape(q.reference)}</p>")
    numbers = {source["number"] for source in q.sources}
    answers = "".join(_answer(q, variant, metric, numbers) for variant in q.rows)
    return f"{opening}<td>{asked}</td><td>{answers}</td><td>{_sources(q, run_dir)}</td></tr>"


def _answer(q: QuestionAnswers, variant: str, metric: str, numbers: set[int]) -> str:
    outcome = q.outcome(variant)
    tone = f"{outcome} right" if outcome == "abstained" and q.is_right(variant) else outcome
    score = q.rows[variant]["scores"][metric_spec(metric).score_key]
    shown = "n/a" if score is None else f"{score:.3g}"
    text = _linked(q.rows[variant]["answer"], q.id, numbers if variant.endswith(RAG_SUFFIX) else set())
    return (f'<div class="answer {tone}" data-variant="{html.escape(variant)}">'
            f'<div class="scores"><b>{html.escape(variant)}</b> · <span class="outcome">{outcome}</span> · '
            f"{html.escape(metric_spec(metric).label)} {shown}</div><div>{text}</div></div>")


def _linked(answer: str, question_id: str, numbers: set[int]) -> str:
    """The answer as HTML, each cited number that names a shown source linked to it; other numbers marked."""
    out, at = [], 0
    for match in CITATION.finditer(answer):
        out.append(html.escape(answer[at:match.start()]))
        cited = [int(n) for n in match.group(1).replace(";", ",").split(",")]
        links = [f'<a class="cite" href="#src-{html.escape(question_id)}-{n}" '
                 f'data-source="src-{html.escape(question_id)}-{n}">{n}</a>' if n in numbers
                 else f'<span class="invalid" title="no source has this number">{n}</span>' for n in cited]
        out.append("[" + ", ".join(links) + "]")
        at = match.end()
    return "".join(out) + html.escape(answer[at:])


def _sources(q: QuestionAnswers, run_dir: Path) -> str:
    """Each shown source: its number and title, a link to its file, and the chunk text the model read."""
    items = []
    for source in q.sources:
        file = f'<a href="{html.escape(_href(source["source"], run_dir))}">{html.escape(source["source"])}</a>'
        summary = f'[{source["number"]}] {html.escape(source["title"])} · {file}'
        text = source.get("text")
        body = f"<pre>{html.escape(text)}</pre>" if text else "<p>(this run did not record the chunk text)</p>"
        items.append(f'<li><details id="src-{html.escape(q.id)}-{source["number"]}"><summary>{summary}</summary>'
                     f"{body}</details></li>")
    return f'<ul class="sources">{"".join(items)}</ul>' if items else ""


def _href(source: str, run_dir: Path) -> str:
    """A link to a source's file from report.html: URLs as they are; a path (relative ones are to the working
    directory the evaluation ran in, which is this process's) relative to the run folder."""
    if urlparse(source).scheme:
        return source
    return quote(os.path.relpath(Path(source).resolve(), run_dir.resolve()))
