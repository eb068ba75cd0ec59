"""Report rendering: the same blocks as markdown (plots as files) and as HTML (plots embedded); a synthetic run,
scored and written by the evaluation's own code, read back into a report that opens with the verdict."""

import base64
import json
import re
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

from phi3ray.config import GateSettings
from phi3ray.eval.answers import read_answers
from phi3ray.eval.gate import judge_gate
from phi3ray.eval.heldout import HeldoutQuestion
from phi3ray.eval.plots import bar_chart_png
from phi3ray.eval.report import (Details, Image, Raw, Table, chart_scale, estimate_cell, gate_section, kind_table,
                                 leakage_details, leakage_summary,
                                 number, render_html, render_markdown, write_report)
from phi3ray.eval.runner import _json_ready, scored_results, write_answers
from phi3ray.eval.scoring import METRICS, metric_spec, retrieval_scores, score_answer, summarize
from phi3ray.eval.variants import QuestionPrompts, build_matrix
from phi3ray.eval.verdict import Finding, write_verdict
from phi3ray.eval.worker import AnswerRecord
from phi3ray.rag.prompt import ABSTAIN, build_rag_messages

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

NAN = float("nan")
VARIANTS = ("base", "base+rag", "pumps", "pumps+rag")
# question, kind, whether retrieval finds its gold document (None: it has none), then each VARIANTS' answer:
# R right (the reference, citing [1] with RAG), W wrong, A abstains. Each question is asked twice (ids ...a, ...b).
PLAN = [
    ("t1", "taught", True, "WRRR"),
    ("t2", "taught", True, "WRRR"),
    ("d1", "documents", True, "WRWR"),
    ("d2", "documents", True, "WRWR"),
    ("d3", "documents", False, "WWWW"),
    ("t3", "taught", False, "WWRR"),
    ("u1", "unanswerable", None, "WAWA"),
    ("u2", "unanswerable", None, "AAAA"),
]
NLL = {"base": 6.0, "base+rag": 4.0, "pumps": 3.0, "pumps+rag": 2.0}  # per reference token
K = 2  # chunks retrieved per question


class WordTokenizer:
    """Counts whitespace-separated words: all build_rag_messages asks of a tokenizer within its budget."""

    is_fast = False

    def __call__(self, text: str, add_special_tokens: bool = False):
        return SimpleNamespace(input_ids=text.split())


def chunk(doc_id: str, text: str) -> SimpleNamespace:
    return SimpleNamespace(object_id=f"obj-{doc_id}", doc_id=doc_id, title=f"Manual {doc_id}", section="Settings",
                           source=f"docs/{doc_id}.md", text=text, chunk_index=0, score=0.9)


def question_prompts(qid: str, kind: str, retrieved: bool | None, value: int) -> QuestionPrompts:
    answerable = kind != "unanswerable"
    question = HeldoutQuestion(
        qid, f"At what pressure does pump {qid} run?", f"Pump {qid} runs at {value} bar." if answerable else ABSTAIN,
        doc_ids=[f"doc-{qid}"] if answerable else [], key_terms=[f"{value} bar"] if answerable else [],
        answerable=answerable, in_train_facts=(kind == "taught") if answerable else None,
    )
    gold = [chunk(f"doc-{qid}", f"Pump {qid} runs at {value} bar.\n\nCheck the seal monthly.")] if retrieved else []
    distractors = [chunk(f"other-{qid}-{i}", f"Pump X{i} runs at 99 psi.") for i in range(K)]
    chunks = (gold + distractors)[:K]
    plain = [{"role": "user", "content": question.question}]
    rag, sources = build_rag_messages(plain, chunks, WordTokenizer(), token_budget=10_000)
    return QuestionPrompts(question, plain, rag, [asdict(s) for s in sources], [c.doc_id for c in chunks])


def answer_text(letter: str, prompt: QuestionPrompts, rag: bool) -> str:
    if letter == "A":
        return ABSTAIN
    if letter == "W":
        return f"Pump {prompt.question.id} runs at 99 psi." + (" [7]" if rag else "")  # [7]: no such source
    return prompt.question.answer + (" [1]" if rag else "")


def synthetic_run(run_dir: Path, gate_metric: str = "key_terms") -> dict:
    """Write answers.jsonl for PLAN (scored by the evaluation's code) into run_dir and return its results."""
    variants = build_matrix(["pumps"])
    plan = [(f"{qid}{copy}", kind, retrieved, letters) for copy in "ab" for qid, kind, retrieved, letters in PLAN]
    prompts = [question_prompts(qid, kind, retrieved, 10 + i) for i, (qid, kind, retrieved, _) in enumerate(plan)]
    records = {}
    for prompt, (_, _, _, letters) in zip(prompts, plan):
        for variant, letter in zip(variants, letters):
            records[(prompt.question.id, variant.name)] = AnswerRecord(
                prompt.question.id, variant.name, answer_text(letter, prompt, variant.rag), 50, 10, "stop",
                0.5 + 0.25 * variant.rag, 10 * NLL[variant.name], 10)
    scores = {v.name: [score_answer(records[(p.question.id, v.name)], p, v.rag) for p in prompts] for v in variants}
    retrieval = [retrieval_scores(p, K) for p in prompts]
    summary = summarize(variants, scores, retrieval, K, samples=200, seed=0, kinds=[p.question.kind for p in prompts])
    gate = judge_gate(GateSettings(metric=gate_metric, min_gain=0.1), ["pumps"], summary)
    results = {
        "run_name": "synthetic", "run_dir": str(run_dir),
        "config": {"model": {"name": "tiny-phi3", "name_or_path": "/models/tiny-phi3"},
                   "generation": {"max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0, "context_token_budget": 512},
                   "gate": asdict(GateSettings(metric=gate_metric, min_gain=0.1)), "seed": 0, "bootstrap_samples": 200},
        "lineage": {"adapters": [{"name": "pumps", "uri": "/runs/pumps/adapter"}],
                    "data": {"heldout_file": "heldout.jsonl"}},
        "leakage": {"checked": True, "overlaps": []},
        **scored_results(len(prompts), variants, summary, gate),
    }
    results["verdict"] = write_verdict(_json_ready(results), primary=gate_metric)
    results["timings"] = {"retrieval_s": 1.5, "answering_s": 12.0, "total_s": 14.0}
    write_answers(run_dir / "answers.jsonl", prompts, variants, records, scores, retrieval)
    return _json_ready(results)


def expected_rows() -> list[dict]:
    """What the answer browser should know of each question, from PLAN alone."""
    return [{"id": f"{qid}{copy}", "kind": kind, "gold": {True: "1", False: "0", None: ""}[retrieved],
             "disagree": len(set(letters)) > 1} for copy in "ab" for qid, kind, retrieved, letters in PLAN]


@pytest.fixture(scope="module")
def report_run(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("synthetic")
    results = synthetic_run(run_dir)
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_report(results, run_dir)
    return run_dir, results


def test_numbers_and_cells():
    assert number(0.123456) == "0.1235" and number(None) == "n/a" and number(NAN) == "n/a"
    assert estimate_cell({"value": 0.5, "ci_low": 0.25, "ci_high": 0.75, "n": 4}) == "0.5000 [0.2500, 0.7500]"
    assert estimate_cell({"value": None, "ci_low": None, "ci_high": None, "n": 0}) == "n/a"


def test_markdown_and_html_carry_the_same_content():
    png = bar_chart_png("F1", ["base", "pumps"], [
        {"value": 0.2, "ci_low": 0.1, "ci_high": 0.3}, {"value": NAN, "ci_low": NAN, "ci_high": NAN}], "F1",
        scale="share", best="base")
    assert png.startswith(b"\x89PNG")
    blocks = [
        ("h1", "Evaluation x"),
        ("lead", [Finding("Does RAG help?", "Yes", "on F1, base+rag 0.4 vs base 0.2")]),
        ("details", Details("Every table", [
            ("table", Table(["Variant", "F1"], [["base", "0.2000 [0.1000, 0.3000]"], ["a|b", "n/a"]])),
            ("image", Image("plots/f1.png", png, "F1 per variant")),
        ])),
        ("ul", ["pumps is best <by far>"]),
        ("raw", Raw("<div id='browser'>answers</div>", "report.html has the answers")),
    ]
    md = render_markdown(blocks)
    assert md.splitlines()[:8] == [
        "# Evaluation x", "", "1. **Does RAG help? Yes** — on F1, base+rag 0.4 vs base 0.2.", "",
        "<details><summary>Every table</summary>", "", "| Variant | F1 |", "| --- | --- |"]
    assert "| a\\|b | n/a |" in md and "</details>" in md
    assert "![F1 per variant](plots/f1.png)" in md and "- pumps is best <by far>" in md
    assert "report.html has the answers" in md and "<div id='browser'>" not in md
    page = render_html(blocks)
    assert '<h1 id="evaluation-x">' in page and '<span class="answer-word yes">Yes</span>' in page
    assert "<details><summary>Every table</summary><table>" in page and "<td>0.2000 [0.1000, 0.3000]</td>" in page
    assert "pumps is best &lt;by far&gt;" in page and "<div id='browser'>answers</div>" in page
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page
    with pytest.raises(ValueError, match="scale must be one of"):
        bar_chart_png("F1", ["base"], [{"value": 0.2, "ci_low": 0.1, "ci_high": 0.3}], "F1", scale="sqrt")


def test_chart_scales():
    assert chart_scale(metric_spec("perplexity")) == "log"
    assert chart_scale(metric_spec("latency_s")) == "linear" and chart_scale(metric_spec("tokens_per_s")) == "linear"
    assert {chart_scale(s) for s in METRICS if s.group != "speed" and s.key != "perplexity"} == {"share"}


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
    assert heading == ("h3", "By question kind") and note[0] == "p"
    assert table[1].headers == ["Variant", "taught (n=2)", "documents (n=3)", "unanswerable (n=1)"]  # KINDS order
    assert table[1].rows == [
        ["base", "F1 0.5000, key terms 1.0000, abstains 0.0000", "F1 0.2500, key terms 1.0000, abstains 0.0000",
         "abstains 0.0000"],
        ["pumps", "F1 0.7500, key terms 1.0000, abstains 0.0000", "F1 0.1250, key terms 1.0000, abstains 0.3333",
         "abstains 1.0000"],
    ]
    one_kind = {"by_kind": [kind_row("base", "unlabelled", 3, 0.5, 0.0)]}
    assert kind_table(one_kind) == [] and kind_table({"by_kind": []}) == [] and kind_table({}) == []


def test_answers_read_back_question_by_question(report_run):
    run_dir, _ = report_run
    questions = read_answers(run_dir / "answers.jsonl")
    assert [(q.id, q.kind, q.disagree) for q in questions] == [(r["id"], r["kind"], r["disagree"])
                                                               for r in expected_rows()]
    assert [{True: "1", False: "0", None: ""}[q.gold_retrieved] for q in questions] == [r["gold"] for r in
                                                                                        expected_rows()]
    t1, u1 = questions[0], questions[6]
    assert [t1.outcome(v) for v in VARIANTS] == ["wrong", "right", "right", "right"]
    assert [u1.outcome(v) for v in VARIANTS] == ["wrong", "abstained", "wrong", "abstained"]
    assert [u1.is_right(v) for v in VARIANTS] == [False, True, False, True]
    assert [t1.is_right(v) for v in VARIANTS] == [False, True, True, True]
    assert t1.spread("key_terms") == 1.0 and u1.spread("key_terms") is None
    assert t1.spread("perplexity") == pytest.approx(NLL["base"] - NLL["pumps+rag"])  # on log-loss
    # each source carries the text the RAG prompt showed the model (rag.prompt.Source.text)
    assert [(s["number"], s["doc_id"], s["text"]) for s in t1.sources] == [
        (1, "doc-t1a", "Manual doc-t1a — Settings\nPump t1a runs at 10 bar.\n\nCheck the seal monthly."),
        (2, "other-t1a-0", "Manual other-t1a-0 — Settings\nPump X0 runs at 99 psi."),
    ]
    assert all(row["sources"] == t1.sources for variant, row in t1.rows.items() if variant.endswith("+rag"))


def test_report_opens_with_the_verdict_and_keeps_every_table(report_run):
    run_dir, results = report_run
    md = (run_dir / "report.md").read_text()
    lines = md.splitlines()
    verdict, gate = lines.index("## Verdict"), lines.index("## Promotion gate: PASSED")
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    findings = [line for line in lines if re.match(r"\d\. \*\*Does", line)]
    assert verdict < lines.index(findings[0]) < gate < first_table and len(findings) == 3
    assert findings[0].startswith("1. **Does RAG help? Yes** — on Key terms, base+rag 0.6667 vs base 0.0000: +0.6667")
    assert findings[2].startswith("3. **Does the combination (pumps+rag) beat both? Not shown**")
    assert lines.index("![Key terms per variant, 95% CI (higher is better)](plots/key_terms.png)") < gate
    assert "![Ref. perplexity per variant, 95% CI (lower is better, log scale)](plots/perplexity.png)" in md
    # one chart per metric: the gate's metric is the headline chart, the others are folded into the details
    images = re.findall(r"!\[[^]]*\]\((plots/[^)]+\.png)\)", md)
    assert sorted(images) == sorted(f"plots/{s.key}.png" for s in METRICS)
    assert all((run_dir / image).read_bytes().startswith(b"\x89PNG") for image in images)
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(METRICS)
    for line in results["verdict"]:
        assert f"- {line}" in md
    assert md.count("<details>") == 4 and lines.index("## Latency and throughput") > lines.index("## Details")
    # retrieval: with RAG, base answers every question whose gold document was retrieved (8), none it missed (4)
    assert ("| base+rag | base | 0.0000 → 1.0000: +1.0000 [+1.0000, +1.0000], p = 0.0149 | "
            "0.0000 → 0.0000: +0.0000 [+0.0000, +0.0000], p = 1.0000 |") in md
    assert "| With RAG | Without | gold document retrieved (n=8) | gold document not retrieved (n=4) |" in md


def test_gate_section_without_a_gate():
    [heading, note] = gate_section({"gate": None})
    assert heading == ("h2", "Promotion gate: not set") and "promotes nothing" in note[1]


def test_leakage_findings_are_summarised_and_listed_file_line_to_file_line():
    leakage = {"checked": True, "overlaps": ["train.jsonl:3: held-out h1 'Q?' (heldout.jsonl:1): exact, same text"],
               "expected": ["train.jsonl:9: held-out h2 'R?' (heldout.jsonl:2): paraphrase, cosine 0.95"],
               "answers_in_rag_documents": {"h3": "docs/vx.md"}}
    summary = leakage_summary(leakage)
    assert summary.startswith("1 unexpected overlap(s) with the training files (allowed by allow_leakage=true)")
    assert "1 expected (held-out rows marked in_train_facts)" in summary and "1 reference answer(s)" in summary
    md = render_markdown(leakage_details(leakage))
    assert "Leakage and memorisation (3)" in md
    for line in ("unexpected: train.jsonl:3: held-out h1", "expected: train.jsonl:9: held-out h2",
                 "answer of h3 is in the RAG documents: docs/vx.md"):
        assert line in md
    assert leakage_summary({"checked": False}) == "off"
    assert leakage_details({"checked": True, "overlaps": []}) == []
    assert leakage_summary({"checked": True, "overlaps": []}) == "0 unexpected overlap(s) with the training files"
