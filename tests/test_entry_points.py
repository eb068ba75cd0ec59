"""The jobs as a user runs them: a mistake the user can fix is one message and exit status 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from phi3ray.errors import UnreadableDocumentsError
from phi3ray.rag.ingest import IngestSummary

ROOT = Path(__file__).resolve().parents[1]


def run_job(*args: str, cwd: Path = ROOT, timeout: float = 300, ray_address: str | None = None) -> subprocess.CompletedProcess:
    """python <args> as a user runs it; with ray_address it joins that Ray cluster instead of starting its own."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.fast
def test_unreadable_documents_fail_ingestion_unless_skipped():
    summary = IngestSummary(written=12, unreadable=["docs/corrupt.pdf: cannot parse", "docs/empty.md: no text"])
    with pytest.raises(UnreadableDocumentsError) as caught:
        summary.check_readable("raise")
    assert "2 document(s) could not be read (12 chunk(s) of the others written)" in str(caught.value)
    assert "docs/corrupt.pdf: cannot parse" in str(caught.value) and "data.on_error=skip" in str(caught.value)
    summary.check_readable("skip")
    IngestSummary(written=3).check_readable("raise")


def test_train_on_a_broken_jsonl_names_every_bad_line_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = '{"question": "What is E21?", "answer": "Dry-run protection tripped."}'
    bad.write_text("\n".join([good, "{not json", good, '{"question": "no answer here"}']) + "\n")
    done = run_job(
        "jobs/train.py", "model=tiny", "data.format=qa", f"data.train_files=[{bad}]",
        f"run.storage_path={tmp_path / 'runs'}", f"hydra.run.dir={tmp_path / 'hydra'}",
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("train: 2 bad data row(s):") or "\ntrain: 2 bad data row(s):" in done.stderr
    assert f"{bad}:2:" in done.stderr and f"{bad}:4:" in done.stderr


def test_a_bad_setting_names_the_key_without_a_traceback(tmp_path):
    done = run_job("jobs/train.py", "model=tiny", "data.on_error=ignore", f"hydra.run.dir={tmp_path / 'hydra'}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert "train: data.on_error='ignore'" in done.stderr


@pytest.mark.slow
def test_ingest_writes_what_it_can_read_then_exits_1_naming_the_unreadable(weaviate_server, ray_session, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "glossary.md").write_text((ROOT / "data/pumps/docs/glossary.md").read_text())
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj broken beyond repair")
    common = [
        "jobs/ingest.py", *weaviate_server.overrides("TestEntryIngest"), f"data.documents=[{docs}/*]", "queries=[]", f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    address = ray_session.get_runtime_context().gcs_address  # the session's Ray: no start-up per run
    failed = run_job(*common, ray_address=address)
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr + failed.stdout
    assert "ingest: 1 document(s) could not be read" in failed.stderr
    assert f"{docs / 'corrupt.pdf'}: " in failed.stderr
    assert "written=" in failed.stdout and "failed=0" in failed.stdout  # the glossary was written first

    skipped = run_job(*common, "data.on_error=skip", ray_address=address)
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert f"unreadable (skipped): {docs / 'corrupt.pdf'}" in skipped.stdout
    assert "written=0" in skipped.stdout  # the first run had written everything readable
