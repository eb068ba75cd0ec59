"""report.md and report.html from results.json's content: the same numbers, tables, plots and verdict."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

from phi3ray.eval.heldout import KINDS
from phi3ray.eval.plots import bar_chart_png
from phi3ray.eval.scoring import CORRECT_F1, METRICS, RETRIEVAL, metric_spec

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
RETRIEVAL_LABELS = {"recall_at_k": "Recall@k", "mrr": "MRR"}


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    file: str  # relative to the run folder
    png: bytes
    caption: str


Block = tuple[str, object]  # ("h1"|"h2"|"p"|"ul"|"table"|"image", content)


def number(value: float | None) -> str:
    """How every number is written in the report (4 decimals; n/a for undefined)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def estimate_cell(estimate: dict) -> str:
    if estimate["value"] is None:
        return "n/a"
    return f"{number(estimate['value'])} [{number(estimate['ci_low'])}, {number(estimate['ci_high'])}]"


def metric_tables(results: dict) -> list[Block]:
    blocks: list[Block] = []
    for group, title, note in GROUPS:
        specs = [s for s in METRICS if s.group == group]
        variants = [v for v, m in results["metrics"].items() if all(s.key in m for s in specs)]
        if not variants:
            continue
        rows = [[v] + [estimate_cell(results["metrics"][v][s.key]) for s in specs] for v in variants]
        blocks += [("h2", title), ("p", note), ("table", Table(["Variant"] + [s.label for s in specs], rows))]
    retrieval = results.get("retrieval")
    if retrieval:
        rows = [[f"k = {retrieval['k']}"] + [estimate_cell(retrieval[key]) for key in RETRIEVAL]]
        blocks += [
            ("h2", "Retrieval (shared by the +rag variants)"),
            ("p", "Recall@k: share of the gold documents among the top-k retrieved documents; MRR: mean of "
                  "1 / rank of the first gold document."),
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
            "(only in the documents), unanswerable (no source holds the answer), unlabelled. 95% CIs are in "
            "results.json under by_kind.")
    return [("h2", "Scores by question kind"), ("p", note), ("table", Table(headers, rows))]


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
    return [("h2", "Paired comparisons"), ("p", note), ("table", Table(headers, rows))]


def charts(results: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "Charts")]
    for spec in METRICS:
        variants = [v for v, m in results["metrics"].items() if spec.key in m]
        estimates = [results["metrics"][v][spec.key] for v in variants]
        png = bar_chart_png(spec.label, variants, [_nan_for_none(e) for e in estimates], spec.label)
        blocks.append(("image", Image(f"plots/{spec.key}.png", png, f"{spec.label} per variant, 95% CI")))
    return blocks


def _nan_for_none(estimate: dict) -> dict:
    return {k: float("nan") if v is None else v for k, v in estimate.items()}


def build_report(results: dict) -> list[Block]:
    config = results["config"]
    gen = config["generation"]
    adapters = ", ".join(f"{a['name']} ({a['uri']})" for a in results["lineage"]["adapters"]) or "none"
    leakage = results["leakage"]
    blocks: list[Block] = [
        ("h1", f"Evaluation {results['run_name']}"),
        ("ul", [
            f"Base model: {config['model']['name']} ({config['model']['name_or_path']})",
            f"Adapters: {adapters}",
            f"Questions: {results['questions']} from {results['lineage']['data']['heldout_file']}",
            f"Variants: {', '.join(v['name'] for v in results['variants'])}",
            f"Decoding (all variants): max_new_tokens={gen['max_new_tokens']}, temperature={gen['temperature']}, "
            f"top_p={gen['top_p']}; RAG context budget {gen['context_token_budget']} tokens",
            "Leakage check: " + ("off" if not leakage["checked"] else
                                 f"{len(leakage['overlaps'])} overlap(s)" if leakage["overlaps"] else "no overlaps"),
        ]),
    ]
    blocks += metric_tables(results) + kind_table(results) + comparison_table(results) + charts(results)
    gate = results.get("gate")
    if gate:
        status = "PASSED" if gate["passed"] else "FAILED"
        blocks += [("h2", f"Promotion gate: {status}"), ("ul", gate["lines"])]
    blocks += [("h2", "Verdict"), ("ul", results["verdict"])]
    return blocks


def render_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + str(content))
        elif kind == "p":
            out.append(str(content))
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in content))
        elif kind == "table":
            cells = [content.headers, ["---"] * len(content.headers)] + content.rows
            out.append("\n".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells))
        elif kind == "image":
            out.append(f"![{content.caption}]({content.file})")
    return "\n\n".join(out) + "\n"


def render_html(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{html.escape(str(content))}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(str(content))}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in content.headers)
            cells = ["".join(f"<td>{html.escape(c)}</td>" for c in row) for row in content.rows]
            body = "".join(f"<tr>{row}</tr>" for row in cells)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "image":
            data = base64.b64encode(content.png).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(content.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{html.escape(content.caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}figure{display:inline-block}")
    head = f"<head><meta charset='utf-8'><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(out)}</body></html>\n"


def write_report(results: dict, run_dir: Path) -> tuple[Path, Path]:
    """Write report.md, report.html and plots/*.png into run_dir; return the two report paths."""
    blocks = build_report(results)
    for kind, content in blocks:
        if kind == "image":
            (run_dir / content.file).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / content.file).write_bytes(content.png)
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(blocks), encoding="utf-8")
    page.write_text(render_html(blocks), encoding="utf-8")
    return md, page
