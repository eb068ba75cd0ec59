"""The shipped sample dataset is coherent: enough rows, grounded in real documents, no held-out leakage."""

import pytest
import json
import re
import subprocess
import sys
from pathlib import Path

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "pumps"


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sizes():
    docs = list((DATA / "docs").glob("*.md"))
    assert len(docs) >= 30
    assert len(read_jsonl(DATA / "train.jsonl")) >= 300
    assert len(read_jsonl(DATA / "heldout.jsonl")) >= 60
    for doc in docs:
        assert doc.read_text().startswith("# "), doc


def test_rows_are_grounded_in_existing_documents():
    doc_ids = {p.stem for p in (DATA / "docs").glob("*.md")}
    for row in read_jsonl(DATA / "train.jsonl"):
        assert [m["role"] for m in row["messages"]][-1] == "assistant"
        assert set(row["doc_ids"]) <= doc_ids
    for row in read_jsonl(DATA / "heldout.jsonl"):
        assert row["question"] and row["answer"] and row["doc_ids"]
        assert set(row["doc_ids"]) <= doc_ids, row["id"]
        gold_text = " ".join((DATA / "docs" / f"{d}.md").read_text() for d in row["doc_ids"]).lower()
        for term in row["key_terms"]:
            assert term.lower() in row["answer"].lower() and term.lower() in gold_text, (row["id"], term)


def test_no_heldout_question_is_in_the_training_set():
    train_questions = {
        normalise(m["content"])
        for row in read_jsonl(DATA / "train.jsonl")
        for m in row["messages"]
        if m["role"] == "user"
    }
    leaked = [r["id"] for r in read_jsonl(DATA / "heldout.jsonl") if normalise(r["question"]) in train_questions]
    assert leaked == []


def test_generator_reproduces_the_shipped_files():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample_data.py"), "--check"], capture_output=True)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
