"""report.md and report.html from results.json and answers.jsonl, in the order a decision-maker reads them:

1. the verdict: does RAG help, does the adapter, does the combination beat both (effect, CI, p), one chart of
   the variants on the primary metric (the gate's, else F1) with the best marked, and the gate's decision;
2. where the differences come from: scores by question kind, and RAG's effect where retrieval did and did
   not find the gold document;
3. the answers side by side (report.html only: the answer browser);
4. details, folded: every metric table, finding, paired comparison and chart; then latency and throughput.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

from phi3ray.eval.answer_browser import answer_browser
from phi3ray.eval.answers import QuestionAnswers, answer_metric, rag_effect_by_retrieval, read_answers
from phi3ray.eval.heldout import KINDS
from phi3ray.eval.plots import bar_chart_png
from phi3ray.eval.scoring import CORRECT_F1, METRICS, RETRIEVAL, MetricSpec, metric_spec
from phi3ray.eval.verdict import Finding, best_variant, headline

GROUPS = (
    ("quality", "Answer quality", "Mean over the answerable questions with a 95% bootstrap CI; perplexity of "
     "the reference answer is the geometric mean over questions (lower is better)."),
    ("abstention", "Abstention", "Abstains: share of all questions answered with an abstention ('I do not "
     "know'); precision: share of the abstentions that were on unanswerable questions; recall: share of the "
     "unanswerable questions abstained on; answered accuracy: share of the answerable questions not abstained "
     f"on that were answered right (every key term, or token F1 >= {CORRECT_F1} without key terms)."),
    ("citations", "Citations (+rag variants)", "Cites a source: share of answers to answerable questions "
     "citing any [n]; valid: share of cited numbers that exist; gold: share of valid citations from a gold "
     "document."),
    ("speed", "Speed", "Latency: wall time of the generate call that produced the answer (a batch of "
     "batch_size questions); tokens/s: generated tokens / that time."),
)
RETRIEVAL_LABELS = {"recall_at_k": "Recall@k", "mrr": "MRR", "declined": "Declined"}


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    file: str  # relative to the run folder
    png: bytes
    caption: str


@dataclass
class Details:
    """A folded part: its summary line shows, its blocks open on a click."""

    summary: str
    blocks: list


@dataclass
class Raw:
    """HTML that has no markdown form (the answer browser), and the line report.md shows in its place."""

    html: str
    markdown: str


# ("h1"|"h2"|"h3"|"p"|"ul"|"lead"|"table"|"image"|"details"|"raw", content); "lead" holds verdict Findings
Block = tuple[str, object]


def number(value: float | None) -> str:
    """How every number is written in the report (4 decimals; n/a for undefined)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def signed(value: float | None) -> str:
    """A difference: its sign always written."""
    return "n/a" if value is None or math.isnan(value) else f"{value:+.4f}"


def estimate_cell(estimate: dict) -> str:
    if estimate["value"] is None:
        return "n/a"
    return f"{number(estimate['value'])} [{number(estimate['ci_low'])}, {number(estimate['ci_high'])}]"


def primary_metric(results: dict) -> str:
    """The metric the verdict and the headline chart speak of: the gate's, else F1."""
    return results["config"]["gate"]["metric"] or "f1"


def chart_scale(spec: MetricSpec) -> str:
    """Log for perplexity (it spans orders of magnitude), 0 to 1 for shares, a free axis from 0 for speed."""
    if spec.key == "perplexity":
        return "log"
    return "linear" if spec.group == "speed" else "share"


def metric_chart(results: dict, spec: MetricSpec) -> Image:
    """The variants on one metric with 95% CIs, the best one marked; written as plots/<metric>.png."""
    variants = [v for v, m in results["metrics"].items() if spec.key in m]
    estimates = [results["metrics"][v][spec.key] for v in variants]
    best = best_variant(results, spec.key)
    title = f"{spec.label} per variant" + (f" (best: {best})" if best else "")
    png = bar_chart_png(title, variants, [_nan_for_none(e) for e in estimates], spec.label, chart_scale(spec), best)
    direction = {True: "higher is better", False: "lower is better", None: "neither direction is better"}
    scale = ", log scale" if chart_scale(spec) == "log" else ""
    return Image(f"plots/{spec.key}.png", png, f"{spec.label} per variant, 95% CI ({direction[spec.higher_is_better]}"
                                               f"{scale})")


def _nan_for_none(estimate: dict) -> dict:
    return {k: float("nan") if v is None else v for k, v in estimate.items()}


def metric_tables(results: dict, groups: tuple[str, ...]) -> list[Block]:
    """A table per metric group (a row per variant, value [95% CI]); with "quality", the retrieval table too."""
    blocks: list[Block] = []
    for group, title, note in GROUPS:
        specs = [s for s in METRICS if s.group == group]
        variants = [v for v, m in results["metrics"].items() if all(s.key in m for s in specs)]
        if group not in groups or not variants:
            continue
        rows = [[v] + [estimate_cell(results["metrics"][v][s.key]) for s in specs] for v in variants]
        blocks += [("h3", title), ("p", note), ("table", Table(["Variant"] + [s.label for s in specs], rows))]
    retrieval = results.get("retrieval")
    if retrieval and "quality" in groups:
        rows = [[f"k = {retrieval['k']}"] + [estimate_cell(retrieval[key]) for key in RETRIEVAL]]
        blocks += [
            ("h3", "Retrieval (shared by the +rag variants)"),
            ("p", "Recall@k: share of the gold documents among the top-k retrieved documents; MRR: mean of "
                  "1 / rank of the first gold document; declined: share of all questions whose RAG prompt has no "
                  "source (the retriever's floors min_similarity and min_coverage left none, or none fitted the "
                  "token budget), which every +rag variant answers with 'I do not know' without running the model."),
            ("table", Table(["Retrieval"] + [RETRIEVAL_LABELS[key] for key in RETRIEVAL], rows)),
        ]
    return blocks


def kind_table(results: dict) -> list[Block]:
    """Scores by question kind: a row per variant, a column per kind (only when there are two kinds or more)."""
    by_kind = results.get("by_kind") or []
    kinds = [k for k in KINDS if any(row["kind"] == k for row in by_kind)]
    if len(kinds) < 2:
        return []
    cells: dict[str, dict[str, str]] = {}
    sizes: dict[str, int] = {}
    for row in by_kind:
        parts = [f"{label} {number(row[key]['value'])}" for key, label in
                 (("f1", "F1"), ("key_terms", "key terms"), ("abstain_rate", "abstains"))
                 if row[key]["value"] is not None]  # undefined parts (F1 of unanswerable questions) left out
        cells.setdefault(row["variant"], {})[row["kind"]] = ", ".join(parts) or "n/a"
        sizes[row["kind"]] = row["questions"]
    headers = ["Variant"] + [f"{kind} (n={sizes[kind]})" for kind in kinds]
    rows = [[variant] + [by[k] for k in kinds] for variant, by in cells.items()]
    note = ("Means over the questions of each kind: taught (the fact is also in the training data), documents "
            "(only in the documents), unanswerable (no source holds the answer; abstaining is right), unlabelled. "
            "95% CIs are in results.json under by_kind.")
    return [("h3", "By question kind"), ("p", note), ("table", Table(headers, rows))]


def retrieval_breakdown(results: dict, questions: list[QuestionAnswers]) -> list[Block]:
    """RAG's paired effect on the answer metric, split by whether retrieval found a gold document."""
    metric = answer_metric(primary_metric(results))
    config = results["config"]
    effects = rag_effect_by_retrieval(questions, metric, config["bootstrap_samples"], config["seed"])
    if not effects:
        return []
    label = metric_spec(metric).label
    sizes = {hit: sum(q.gold_retrieved is hit for q in questions) for hit in (True, False)}
    outcomes = [hit for hit in (True, False) if sizes[hit]]
    named = {True: "gold document retrieved", False: "gold document not retrieved"}
    cells: dict[tuple[str, str], dict[bool, str]] = {}
    for e in effects:
        c = e.comparison
        cells.setdefault((e.variant, e.reference), {})[e.retrieved] = (
            f"{number(e.reference_value)} → {number(e.value)}: {signed(c.diff)} "
            f"[{signed(c.ci_low)}, {signed(c.ci_high)}], p = {number(c.p_value)}")
    headers = ["With RAG", "Without"] + [f"{named[hit]} (n={sizes[hit]})" for hit in outcomes]
    rows = [[variant, reference] + [by.get(hit, "n/a") for hit in outcomes]
            for (variant, reference), by in cells.items()]
    first = effects[0]
    said = [f"where retrieval found {'a' if e.retrieved else 'no'} gold document ({sizes[e.retrieved]} "
            f"questions), {label} went from {number(e.reference_value)} without RAG to {number(e.value)} with it "
            f"({signed(e.comparison.diff)}, 95% CI {signed(e.comparison.ci_low)} to {signed(e.comparison.ci_high)}, "
            f"p = {number(e.comparison.p_value)})" for e in effects if e.variant == first.variant]
    note = (f"Each +rag variant against the same model without RAG, on the same questions: {label} without → with "
            "RAG, the paired difference [95% CI] and p. Retrieved: a gold document was among the top "
            f"{results['retrieval']['k']} retrieved chunks (questions without gold documents, such as the "
            "unanswerable ones, are left out).")
    return [("h3", "By retrieval outcome"),
            ("p", f"{first.variant} against {first.reference}: " + "; ".join(said) + "."),
            ("p", note), ("table", Table(headers, rows))]


def comparison_table(results: dict) -> list[Block]:
    rows = [
        [c["variant"], c["reference"], metric_spec(c["metric"]).label, number(c["diff"]),
         f"[{number(c['ci_low'])}, {number(c['ci_high'])}]", number(c["p_value"]), str(c["n"]),
         "yes" if c["significant"] else "no"]
        for c in results["comparisons"]
    ]
    headers = ["Variant", "Compared with", "Metric", "Difference", "95% CI", "p", "n", "Significant"]
    note = ("Paired over the same questions: difference = variant - reference, paired-bootstrap 95% CI, "
            "two-sided permutation p-value (significant: p < 0.05).")
    return [("p", note), ("table", Table(headers, rows))]


def verdict_section(results: dict) -> list[Block]:
    primary = primary_metric(results)
    findings = headline(results, primary, results["config"]["gate"]["adapter"])
    return [("h2", "Verdict"), ("lead", findings), ("image", metric_chart(results, metric_spec(primary)))]


def gate_section(results: dict) -> list[Block]:
    gate = results.get("gate")
    if not gate:
        return [("h2", "Promotion gate: not set"),
                ("p", "This run promotes nothing and blocks nothing: no gate.metric was set (for example "
                      "gate.metric=f1 gate.min_gain=0.02 makes the evaluation fail unless the adapter gains that "
                      "much).")]
    status = "PASSED" if gate["passed"] else "FAILED"
    against = "base+rag" if gate["rag"] else "base"
    rule = (f"Each gated adapter{'+rag' if gate['rag'] else ''} must beat {against} on "
            f"{metric_spec(gate['metric']).label} by at least {gate['min_gain']:+.4f}"
            + (", significantly (p < 0.05)" if gate["require_significant"] else "") + ".")
    return [("h2", f"Promotion gate: {status}"), ("p", rule), ("ul", gate["lines"])]


def where_section(results: dict, questions: list[QuestionAnswers]) -> list[Block]:
    blocks = kind_table(results) + retrieval_breakdown(results, questions)
    return [("h2", "Where the differences come from")] + blocks if blocks else []


def browser_section(results: dict, questions: list[QuestionAnswers], run_dir: Path) -> list[Block]:
    metric = answer_metric(primary_metric(results))
    note = (f"One row per question: the reference, every variant's answer with its outcome (right, wrong, "
            f"abstained) and {metric_spec(metric).label}, and the sources the +rag variants were shown; a cited "
            "[n] opens its source. The filters are kept in the address (for example #kind=unanswerable&disagree=1).")
    browser = Raw(answer_browser(questions, metric, run_dir),
                  f"report.html shows the {len(questions)} questions' answers side by side; answers.jsonl holds them.")
    return [("h2", "Answers, question by question"), ("p", note), ("raw", browser)]


def details_section(results: dict) -> list[Block]:
    config = results["config"]
    gen = config["generation"]
    adapters = ", ".join(f"{a['name']} ({a['uri']})" for a in results["lineage"]["adapters"]) or "none"
    leakage = results["leakage"]
    primary = primary_metric(results)
    charts = [("image", metric_chart(results, spec))
              for spec in METRICS if spec.group != "speed" and spec.key != primary]  # the primary one leads
    return [
        ("h2", "Details"),
        ("ul", [
            f"Base model: {config['model']['name']} ({config['model']['name_or_path']})",
            f"Adapters: {adapters}",
            f"Questions: {results['questions']} from {results['lineage']['data']['heldout_file']}",
            f"Variants: {', '.join(v['name'] for v in results['variants'])}",
            f"Decoding (all variants): max_new_tokens={gen['max_new_tokens']}, temperature={gen['temperature']}, "
            f"top_p={gen['top_p']}; RAG context budget {gen['context_token_budget']} tokens",
            "Leakage check: " + leakage_summary(leakage),
        ]),
        *leakage_details(leakage),
        ("details", Details("Every metric, with 95% CIs",
                            metric_tables(results, ("quality", "abstention", "citations")))),
        ("details", Details("Every finding, metric by metric", [("ul", results["verdict"])])),
        ("details", Details(f"Every paired comparison ({len(results['comparisons'])})", comparison_table(results))),
        ("details", Details(f"A chart per metric ({len(charts)})", charts)),
    ]


def leakage_summary(leakage: dict) -> str:
    """One line: what the guard found between the held-out set, the training files and the RAG documents."""
    if not leakage["checked"]:
        return "off"
    parts = [f"{len(leakage['overlaps'])} unexpected overlap(s) with the training files"
             + (" (allowed by allow_leakage=true)" if leakage["overlaps"] else "")]
    if leakage.get("expected") is not None:
        parts.append(f"{len(leakage['expected'])} expected (held-out rows marked in_train_facts)")
    if leakage.get("answers_in_rag_documents") is not None:
        parts.append(f"{len(leakage['answers_in_rag_documents'])} reference answer(s) sit verbatim in the RAG "
                     "documents (RAG's job: a win there is retrieval, not memorisation)")
    return "; ".join(parts)


def leakage_details(leakage: dict) -> list[Block]:
    """The guard's findings, folded: file:line on both sides, and which answers the RAG documents hold."""
    lines = [f"unexpected: {f}" for f in leakage.get("overlaps") or []]
    lines += [f"expected: {f}" for f in leakage.get("expected") or []]
    lines += [f"answer of {qid} is in the RAG documents: {source}"
              for qid, source in (leakage.get("answers_in_rag_documents") or {}).items()]
    return [("details", Details(f"Leakage and memorisation ({len(lines)})", [("ul", lines)]))] if lines else []


def speed_section(results: dict) -> list[Block]:
    timings = results.get("timings") or {}
    spent = [f"{name.removesuffix('_s')} {seconds:.1f} s" for name, seconds in timings.items()]
    blocks: list[Block] = [("h2", "Latency and throughput")] + metric_tables(results, ("speed",))
    blocks += [("image", metric_chart(results, spec)) for spec in METRICS if spec.group == "speed"]
    return blocks + ([("p", "Wall time of this evaluation: " + ", ".join(spent) + ".")] if spent else [])


def build_report(results: dict, questions: list[QuestionAnswers], run_dir: Path) -> list[Block]:
    """The report's blocks, verdict first (see the module docstring)."""
    names = [v["name"] for v in results["variants"]]
    context = (f"{results['questions']} held-out questions, {len(names)} variants ({', '.join(names)}); "
               f"the verdict is on {metric_spec(primary_metric(results)).label}"
               + (" (the gate's metric)." if results["config"]["gate"]["metric"] else " (no gate metric is set)."))
    return (
        [("h1", f"Evaluation {results['run_name']}"), ("p", context)]
        + verdict_section(results) + gate_section(results) + where_section(results, questions)
        + browser_section(results, questions, run_dir) + details_section(results) + speed_section(results)
    )


def render_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + str(content))
        elif kind == "p":
            out.append(str(content))
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in content))
        elif kind == "lead":
            out.append("\n".join(f"{i}. **{f.question} {f.answer}** — {f.detail}." for i, f in enumerate(content, 1)))
        elif kind == "table":
            cells = [content.headers, ["---"] * len(content.headers)] + content.rows
            out.append("\n".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells))
        elif kind == "image":
            out.append(f"![{content.caption}]({content.file})")
        elif kind == "details":
            out.append(f"<details><summary>{html.escape(content.summary)}</summary>\n\n"
                       + render_markdown(content.blocks) + "\n</details>")
        elif kind == "raw":
            out.append(content.markdown)
    return "\n\n".join(out) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.2em auto;padding:0 1em;color:#222}
h1{margin:0 0 .2em}h2{margin-top:1.4em;border-bottom:1px solid #ddd}
ol.lead{font-size:1.05em;padding-left:1.4em;margin:.4em 0}ol.lead li{margin:.25em 0}
.answer-word{font-weight:700;padding:0 .3em;border-radius:3px}
.answer-word.yes{background:#d7f0d8}.answer-word.no{background:#f8d7d7}.answer-word.other{background:#eee}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
figure{display:inline-block;margin:.3em 1em .3em 0}figure img{max-width:100%}figcaption{color:#555;font-size:90%}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
"""


def render_html(blocks: list[Block]) -> str:
    head = f"<head><meta charset='utf-8'><title>Evaluation report</title><style>{STYLE}</style></head>"
    return f"<!doctype html><html>{head}<body>{_html_blocks(blocks)}</body></html>\n"


def _html_blocks(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f'<{kind} id="{_slug(str(content))}">{html.escape(str(content))}</{kind}>')
        elif kind == "p":
            out.append(f"<p>{html.escape(str(content))}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        elif kind == "lead":
            out.append('<ol class="lead" id="findings">' + "".join(_finding_html(f) for f in content) + "</ol>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in content.headers)
            cells = ["".join(f"<td>{html.escape(c)}</td>" for c in row) for row in content.rows]
            body = "".join(f"<tr>{row}</tr>" for row in cells)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "image":
            data = base64.b64encode(content.png).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(content.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(content.caption)}</figcaption></figure>")
        elif kind == "details":
            out.append(f"<details><summary>{html.escape(content.summary)}</summary>"
                       f"{_html_blocks(content.blocks)}</details>")
        elif kind == "raw":
            out.append(content.html)
    return "".join(out)


def _finding_html(finding: Finding) -> str:
    tone = {"Yes": "yes", "No": "no"}.get(finding.answer, "other")
    return (f'<li><b>{html.escape(finding.question)}</b> <span class="answer-word {tone}">'
            f"{html.escape(finding.answer)}</span> — {html.escape(finding.detail)}.</li>")


def _slug(text: str) -> str:
    """'Promotion gate: PASSED' -> 'promotion-gate-passed' (a heading's id)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_report(results: dict, run_dir: Path) -> tuple[Path, Path]:
    """Write report.md, report.html and plots/*.png into run_dir from results and run_dir/answers.jsonl;
    return the two report paths."""
    blocks = build_report(results, read_answers(run_dir / "answers.jsonl"), run_dir)
    for image in _images(blocks):
        (run_dir / image.file).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / image.file).write_bytes(image.png)
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(blocks), encoding="utf-8")
    page.write_text(render_html(blocks), encoding="utf-8")
    return md, page


def _images(blocks: list[Block]) -> list[Image]:
    """Every image of the blocks, folded ones included."""
    found = []
    for kind, content in blocks:
        if kind == "image":
            found.append(content)
        elif kind == "details":
            found += _images(content.blocks)
    return found
