"""End to end on the tiny Phi-3 with a trained adapter and a real Weaviate: the full matrix, the report agreeing
with results.json number for number, the promotion gate's exit codes and the leakage guard."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phi3ray.config import validate
from phi3ray.errors import LeakageError
from phi3ray.eval.report import kind_table, number
from phi3ray.eval.runner import evaluate
from phi3ray.eval.scoring import METRICS, metric_spec
from phi3ray.rag.ingest import ingest
from phi3ray.rag.prompt import ABSTAIN
from tests.conftest import ROOT, compose_config

QUESTIONS = 10
COLLECTION = "TestEval"
# the gold manuals of the first QUESTIONS questions plus same-model distractors: 12 of the 44 manuals
DOCUMENTS = ["vx-100-*.md", "vx-150-installation-alignment.md", "vxs-80-*.md", "vxm-4-specifications.md",
             "ad-7-fault-codes-part-2.md", "troubleshooting-overheating-leaks.md"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eval_overrides(ray_session, weaviate_server, trained_adapter):
    """Overrides for a small evaluation against the sample docs, ingested once into COLLECTION."""
    retriever = weaviate_server.overrides(COLLECTION)
    docs = ",".join(f'"{ROOT}/data/pumps/docs/{pattern}"' for pattern in DOCUMENTS)
    ingest(validate(compose_config("ingest", retriever + [f"data.documents=[{docs}]"])))
    return retriever + [
        "model=tiny",
        f"data.heldout_file={ROOT}/data/pumps/heldout.jsonl",
        f"data.train_files=[{ROOT}/data/pumps/train.jsonl]",
        f"+adapters.pumps={trained_adapter}",
        f"max_questions={QUESTIONS}",
        "generation.max_new_tokens=48",
        "generation.context_token_budget=384",
        "batch_size=5",
        "num_actors=2",
        "bootstrap_samples=300",
    ]


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Every table of a markdown document as rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(set(c) <= {"-"} for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def cell(estimate: dict) -> str:
    if estimate["value"] is None:
        return "n/a"
    return f"{number(estimate['value'])} [{number(estimate['ci_low'])}, {number(estimate['ci_high'])}]"


def check_report_matches_results(report: str, results: dict) -> None:
    label_to_key = {spec.label: spec.key for spec in METRICS}
    tables = markdown_tables(report)
    metric_cells = 0
    for table in tables:
        header, rows = table[0], table[1:]
        if header[0] == "Variant" and header[1] in label_to_key:
            key = label_to_key[header[1]]
            assert [r[0] for r in rows] == [v for v in results["metrics"] if key in results["metrics"][v]]
            for row in rows:
                for label, text in zip(header[1:], row[1:]):
                    assert text == cell(results["metrics"][row[0]][label_to_key[label]]), (row[0], label)
                    metric_cells += 1
        elif header[0] == "Variant" and header[1] == "Compared with":
            assert len(rows) == len(results["comparisons"])
            for row, c in zip(rows, results["comparisons"]):
                assert row[:3] == [c["variant"], c["reference"], metric_spec(c["metric"]).label]
                assert row[3:7] == [number(c["diff"]), f"[{number(c['ci_low'])}, {number(c['ci_high'])}]",
                                    number(c["p_value"]), str(c["n"])]
        elif header[0] == "Retrieval":
            assert rows[0][1:] == [cell(results["retrieval"][key]) for key in ("recall_at_k", "mrr", "declined")]
    # 4 variants x 11 metrics (quality, abstention, speed) + 2 rag variants x 3 citation metrics
    assert metric_cells == 4 * 11 + 2 * 3
    [by_kind] = [t for t in tables if t[0][0] == "Variant" and t[0][1].startswith("taught")]
    assert by_kind == [kind_table(results)[2][1].headers] + kind_table(results)[2][1].rows
    for line in results["verdict"]:
        assert f"- {line}" in report


def test_full_matrix_report_and_passing_gate(eval_overrides, trained_adapter, tmp_path):
    planted = tmp_path / "train_with_leak.jsonl"
    heldout = [json.loads(line) for line in (ROOT / "data/pumps/heldout.jsonl").read_text().splitlines()]
    planted.write_text(json.dumps({"question": heldout[3]["question"].upper(), "answer": "x"}) + "\n")
    unanswerable = [row for row in heldout if not row["answerable"]][:2]
    questions = tmp_path / "heldout.jsonl"  # 8 answerable questions, then 2 unanswerable ones
    questions.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in heldout[:8] + unanswerable))
    cfg = compose_config("evaluate", eval_overrides + [
        f"output_dir={tmp_path}", "run_name=e2e", "gate.metric=f1", "gate.min_gain=-1.0",
        f"data.train_files=[{planted}]", "allow_leakage=true", f"data.heldout_file={questions}",
    ])
    run = evaluate(validate(cfg))
    results = json.loads((run.run_dir / "results.json").read_text())
    assert [v["name"] for v in results["variants"]] == ["base", "base+rag", "pumps", "pumps+rag"]
    assert results["questions"] == QUESTIONS
    assert results["leakage"]["overlaps"] == [  # file:line on both sides
        f"{planted}:1: held-out h004 {heldout[3]['question']!r} ({questions}:4): exact, same text"]

    answers = [json.loads(line) for line in (run.run_dir / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 4 * QUESTIONS
    declined = set()
    for row in answers:
        rag = row["variant"].endswith("+rag")
        assert (rag or not row["sources"]) and row["completion_tokens"] > 0
        if rag:
            assert [s["number"] for s in row["sources"]] == list(range(1, len(row["sources"]) + 1))
        if rag and not row["sources"]:  # retriever.min_coverage left no source: prompt.ABSTAIN, as serving answers
            assert row["answer"] == ABSTAIN and row["abstained"], row
            declined.add(row["question_id"])
        assert row["abstained"] == bool(row["scores"]["abstained"]) and "abstention_case" not in row["scores"]
        assert (row["kind"] == "unanswerable") == (row["scores"]["f1"] is None)
    assert declined and declined <= {row["id"] for row in unanswerable}  # h073: the manuals hold no RAL colour
    assert results["retrieval"]["declined"]["value"] == pytest.approx(len(declined) / QUESTIONS)
    kinds = [row["kind"] for row in answers if row["variant"] == "base"]
    assert kinds == ["documents", "taught"] * 4 + ["unanswerable"] * 2

    metrics = results["metrics"]
    assert all(metrics[v]["f1"]["n"] == QUESTIONS - 2 for v in metrics)  # the answerable ones
    assert all(metrics[v]["abstain_rate"]["n"] == QUESTIONS and metrics[v]["abstain_recall"]["value"] is not None
               for v in metrics)
    assert [(row["variant"], row["kind"], row["questions"]) for row in results["by_kind"]] == [
        (v, kind, n) for v in metrics for kind, n in (("taught", 4), ("documents", 4), ("unanswerable", 2))]
    abstained = [row["abstained"] for row in answers if row["variant"] == "pumps+rag"]
    assert metrics["pumps+rag"]["abstain_rate"]["value"] == pytest.approx(sum(abstained) / len(abstained))
    assert metrics["base"]["latency_s"]["value"] > 0 and metrics["pumps"]["tokens_per_s"]["value"] > 0
    # the adapter was trained on answers in the manuals' style: the references are likelier under it
    assert metrics["pumps"]["perplexity"]["value"] < 0.9 * metrics["base"]["perplexity"]["value"]
    # hybrid retrieval over the ingested manuals finds most gold documents of these named-model questions
    assert results["retrieval"]["recall_at_k"]["value"] >= 0.7
    # the per-answer scores aggregate to the reported values
    f1 = [r["scores"]["f1"] for r in answers if r["variant"] == "pumps+rag" and r["kind"] != "unanswerable"]
    assert metrics["pumps+rag"]["f1"]["value"] == pytest.approx(sum(f1) / len(f1))

    lineage = results["lineage"]
    adapter_config = Path(trained_adapter) / "adapter_config.json"
    assert lineage["adapters"][0]["adapter_config_sha256"] == hashlib.sha256(adapter_config.read_bytes()).hexdigest()
    heldout_bytes = questions.read_bytes()
    assert lineage["data"]["heldout_sha256"] == hashlib.sha256(heldout_bytes).hexdigest()
    assert results["gate"]["passed"] and run.gate.checks[0].variant == "pumps"

    report = run.report_md.read_text()
    check_report_matches_results(report, results)
    assert "## Promotion gate: PASSED" in report
    images = re.findall(r"!\[[^]]*\]\((plots/[^)]+\.png)\)", report)
    assert len(images) == len(METRICS) and all((run.run_dir / i).stat().st_size > 1000 for i in images)
    assert run.report_html.read_text().count("data:image/png;base64,") == len(METRICS)


def run_job(overrides: list[str], ray_session, tmp_path) -> subprocess.CompletedProcess:
    """python jobs/evaluate.py ... as a user runs it, joining the test's Ray cluster."""
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)
    command = [sys.executable, "jobs/evaluate.py", *overrides, f"output_dir={tmp_path}",
               f"hydra.run.dir={tmp_path / 'hydra'}"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_job_exit_code_follows_the_gate(eval_overrides, ray_session, tmp_path):
    failed = run_job(eval_overrides + ["run_name=gated", "max_questions=4", "gate.metric=f1", "gate.min_gain=1.01"],
                     ray_session, tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "promotion gate failed" in failed.stderr and "pumps FAILS: f1" in failed.stderr
    results = json.loads((tmp_path / "gated" / "results.json").read_text())
    assert results["gate"]["passed"] is False and results["questions"] == 4
    assert "## Promotion gate: FAILED" in (tmp_path / "gated" / "report.md").read_text()

    quick = ["run_name=promoted", "rag=false", "max_questions=2", "generation.max_new_tokens=8"]
    passed = run_job(eval_overrides + quick + ["gate.metric=f1", "gate.min_gain=-1.0"], ray_session, tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert f"report: {tmp_path / 'promoted' / 'report.md'}" in passed.stdout
    assert [v["name"] for v in json.loads((tmp_path / "promoted" / "results.json").read_text())["variants"]] == [
        "base", "pumps"]


def test_leakage_guard_stops_before_any_work(tmp_path):
    heldout = (ROOT / "data/pumps/heldout.jsonl").read_text().splitlines()
    planted = tmp_path / "train.jsonl"
    question = json.loads(heldout[0])["question"]
    rows = [{"messages": [{"role": "user", "content": "Unrelated?"}, {"role": "assistant", "content": "No."}]},
            {"messages": [{"role": "user", "content": question.lower()}, {"role": "assistant", "content": "2 h"}]}]
    planted.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose_config("evaluate", ["model=tiny", f"data.heldout_file={ROOT}/data/pumps/heldout.jsonl",
                                      f"data.train_files=[{planted}]", f"output_dir={tmp_path}"])
    with pytest.raises(LeakageError, match=re.escape(f"{planted}:2: held-out h001")):
        evaluate(validate(cfg))
    assert not any(tmp_path.glob("*/results.json"))
