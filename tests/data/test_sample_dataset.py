"""The shipped sample dataset is coherent: enough rows, grounded in real documents, no held-out leakage."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phi3ray.rag.prompt import ABSTAIN, is_abstention

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "pumps"


def load_generator():
    """scripts/make_sample_data.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_sample_data", ROOT / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        if not row["answerable"]:
            continue  # grounded in nothing by design: test_unanswerable_rows
        assert row["question"] and row["answer"] and row["doc_ids"]
        assert isinstance(row["in_train_facts"], bool), row["id"]
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


def test_unanswerable_rows():
    rows = read_jsonl(DATA / "heldout.jsonl")
    unanswerable = [r for r in rows if r["answerable"] is False]
    assert [r["id"] for r in unanswerable] == [f"h{i:03d}" for i in range(73, 85)]
    assert sum(r["answerable"] is True for r in rows) == 72
    for row in unanswerable:
        assert row["answer"] == ABSTAIN and is_abstention(row["answer"])
        assert row["doc_ids"] == [] and row["key_terms"] == [] and "in_train_facts" not in row


def test_the_generator_copies_the_abstention_sentence_of_the_prompt_contract():
    assert load_generator().ABSTAIN == ABSTAIN


def test_an_unanswerable_question_whose_ask_a_manual_states_is_rejected():
    generator = load_generator()
    manuals = {"docs/vx-220-specifications.md": "# VX-220\n\nThe casing is painted in RAL 5010 (gentian blue).",
               "train.jsonl (answers)": "The VX-220 casing bolts need 110 N·m."}
    fair = ("Which ATEX zone is the VX-220 certified for?", ["ATEX"])
    stated = ("What RAL colour code is the casing of a VX-220 painted in?", ["RAL"])
    assert generator.unanswerable_problems([fair], manuals) == []
    assert generator.unanswerable_problems([fair, stated], manuals) == [
        f"{stated[0]!r}: 'RAL' occurs in docs/vx-220-specifications.md"]
    # a phrase counts as a word or code, not as part of one: E31 is not in E310, RAL not in "general"
    assert generator.unanswerable_problems([("What does E31 mean on an AD-7?", ["E31"])],
                                           {"a": "E310 and E3 in general"}) == []


def test_an_unanswerable_question_must_be_on_topic_and_say_what_it_asks():
    generator = load_generator()
    assert generator.unanswerable_problems([("What is the capital of France?", ["capital"])], {}) == [
        "'What is the capital of France?': names none of the sample's products"]
    assert generator.unanswerable_problems([("What colour is a VX-220?", ["price"])], {}) == [
        "'What colour is a VX-220?': does not ask for 'price'"]
    assert generator.unanswerable_problems([("What colour is a VX-220?", [])], {}) == [
        "'What colour is a VX-220?': says nothing about what it asks for (no absent phrases)"]


def test_the_shipped_unanswerable_questions_are_not_answered_anywhere():
    generator = load_generator()
    sources = {str(p.relative_to(DATA)): p.read_text(errors="replace") for p in DATA.rglob("*") if p.is_file()
               and p.suffix in (".md", ".txt", ".html", ".jsonl")
               and p.name not in ("README.md", "heldout.jsonl", "heldout-blind.jsonl")}
    assert "train.jsonl" in sources and len(sources) > 40
    assert generator.unanswerable_problems(generator.UNANSWERABLE, sources) == []


def test_the_blind_set_is_grounded_balanced_and_new():
    """heldout-blind.jsonl: questions written by someone who had read only the manuals (not the training data,
    the held-out set or the code), to check abstention and the matrix on questions nobody tuned anything on."""
    from phi3ray.eval.heldout import read_heldout

    questions = read_heldout(str(DATA / "heldout-blind.jsonl"))
    doc_ids = {p.stem for p in (DATA / "docs").glob("*.md")}
    answerable = [q for q in questions if q.answerable]
    assert len(answerable) == 19 and len(questions) == 39  # b07 left out: word for word a training question
    assert all(q.doc_ids and set(q.doc_ids) <= doc_ids for q in answerable)
    for q in answerable:  # key terms from the writer's answer, verbatim in the manual
        gold_text = " ".join((DATA / "docs" / f"{d}.md").read_text() for d in q.doc_ids).lower()
        assert q.key_terms and all(t.lower() in q.answer.lower() and t.lower() in gold_text for t in q.key_terms)
        assert q.in_train_facts is not None, q.id
    assert all(q.answer == ABSTAIN and not q.doc_ids for q in questions if not q.answerable)
    seen = {normalise(m["content"]) for row in read_jsonl(DATA / "train.jsonl") for m in row["messages"]
            if m["role"] == "user"} | {normalise(r["question"]) for r in read_jsonl(DATA / "heldout.jsonl")}
    assert [q.id for q in questions if normalise(q.question) in seen] == []
