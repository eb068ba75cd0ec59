"""The leakage guard finds a held-out question planted in any training format, naming file:line."""

import json
import logging
import re

import pytest

from phi3ray.errors import ConfigValueError, LeakageError
from phi3ray.eval.heldout import HeldoutQuestion, read_heldout
from phi3ray.eval.leakage import find_overlaps, guard_leakage
from tests.conftest import ROOT

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

QUESTIONS = [
    HeldoutQuestion("h1", "What torque do the VX-220 casing bolts need?", "110 N·m"),
    HeldoutQuestion("h2", "Explain fault code E21 on an AquiDrive AD-7 drive.", "keypad disconnected"),
    HeldoutQuestion("h3", "How long is the seal run-in?", "2 h"),
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_planted_questions_are_found_in_all_three_formats(tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "Unrelated?"}, {"role": "assistant", "content": "yes"}]},
        {"messages": [
            {"role": "system", "content": "What torque do the VX-220 casing bolts need?"},  # system: not a question
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "what TORQUE do the vx-220 casing bolts need"},  # second turn, normalised
            {"role": "assistant", "content": "110 N·m"},
        ]},
    ])
    alpaca = write_jsonl(tmp_path / "alpaca.jsonl", [
        {"instruction": "Explain fault code E21", "input": "on an AquiDrive AD-7 drive.", "output": "..."},
    ])
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "Something else", "answer": "x"},
        {"question": "How long is THE seal run-in", "answer": "2 h", "context": "..."},
    ])
    overlaps = find_overlaps(QUESTIONS, [chat, alpaca, qa])
    assert [(o.path, o.line, o.question_id) for o in overlaps] == [(chat, 2, "h1"), (alpaca, 1, "h2"), (qa, 2, "h3")]
    with pytest.raises(LeakageError) as caught:
        guard_leakage(QUESTIONS, [chat, alpaca, qa], allow=False)
    assert f"{chat}:2: held-out h1" in str(caught.value) and "allow_leakage=true" in str(caught.value)
    assert len(guard_leakage(QUESTIONS, [chat, alpaca, qa], allow=True)) == 3


def test_similar_but_different_questions_are_not_leaks(tmp_path):
    other_model = "What torque do the VX-300 casing bolts need?"
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": other_model, "answer": "x"}])
    assert find_overlaps(QUESTIONS, [qa]) == []


def test_missing_training_file_is_named(tmp_path):
    with pytest.raises(ConfigValueError, match="data.train_files"):
        find_overlaps(QUESTIONS, [str(tmp_path / "nope.jsonl")])
    with pytest.raises(ConfigValueError, match="data.train_files"):
        find_overlaps(QUESTIONS, [f"file://{tmp_path}/nope.jsonl"])


def test_training_files_at_a_uri_are_read_through_the_storage_module(tmp_path):
    """Training may read s3:// / gs:// files (pyarrow.fs); the guard reads the same URIs (file:// here)."""
    write_jsonl(tmp_path / "qa.jsonl", [{"question": "How long is THE seal run-in", "answer": "2 h"}])
    uri = f"file://{tmp_path}/qa.jsonl"
    assert [(o.path, o.line, o.question_id) for o in find_overlaps(QUESTIONS, [uri])] == [(uri, 1, "h3")]


def test_the_sample_dataset_has_no_leakage():
    questions = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"))
    assert len(questions) == 84  # 72 answerable, 12 unanswerable
    assert find_overlaps(questions, [str(ROOT / "data/pumps/train.jsonl")]) == []


def guard_settings(heldout, train, *more):
    from phi3ray.config import validate
    from tests.conftest import compose_config

    return validate(compose_config("evaluate", [f"data.heldout_file={heldout}", f"data.train_files=[{train}]",
                                                "data.documents=[]", *more]))


def test_planted_paraphrase_and_copied_answer_are_caught_with_file_and_line_on_both_sides(tmp_path):
    from phi3ray.eval.leakage import guard

    heldout = write_jsonl(tmp_path / "heldout.jsonl", [
        {"id": "h1", "question": "What torque do the VX-220 casing bolts need?", "answer": "110 N·m"},
        {"id": "h2", "question": "How is the VX-100 seal set?", "answer":
         "Slide the rotating unit onto the sleeve until it rests against the setting collar, then lock it."},
        {"id": "h3", "question": "What torque do the VX-300 casing bolts need?", "answer": "120 N·m"},
    ])
    train = write_jsonl(tmp_path / "train.jsonl", [
        {"question": "Which torque do the casing bolts of the VX-220 need?", "answer": "110 N·m"},  # h1 reworded
        {"question": "Seal fitting on the VX-100?", "answer":  # h2's answer, verbatim
         "Slide the rotating unit onto the sleeve until it rests against the setting collar, then lock it."},
        {"question": "What torque do the VX-450 casing bolts need?", "answer": "150 N·m"},  # another pump: not h3
    ])
    settings = guard_settings(heldout, train)
    questions = read_heldout(heldout)
    with pytest.raises(LeakageError) as caught:
        guard(settings, questions, {"adapters": []})
    lines = caught.value.overlaps
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{train}:1: held-out h1 ") and f"({heldout}:1): paraphrase, cosine 0." in lines[0]
    assert lines[1].startswith(f"{train}:2: held-out h2 ") and f"({heldout}:2): answer, 100%" in lines[1]
    allowed = guard(guard_settings(heldout, train, "allow_leakage=true"), questions, {"adapters": []})
    assert allowed["overlaps"] == lines and allowed["train_files"] == [train]


def test_training_files_come_from_the_adapter_card_too(tmp_path):
    from phi3ray.eval.leakage import guard

    heldout = write_jsonl(tmp_path / "heldout.jsonl", [{"id": "h1", "question": "Seal run-in time?", "answer": "2 h"}])
    empty = write_jsonl(tmp_path / "other.jsonl", [{"question": "Unrelated", "answer": "x"}])
    trained = write_jsonl(tmp_path / "trained.jsonl", [{"question": "seal run-in time", "answer": "2 h"}])
    card = {"data": {"files": [{"path": trained, "sha256": None}]}}
    lineage = {"adapters": [{"name": "pumps", "cards": {"adapter_card.json": card}}]}
    expected = f"{trained}:1: held-out h1 'Seal run-in time?' ({heldout}:1): exact"
    with pytest.raises(LeakageError, match=re.escape(expected)):
        guard(guard_settings(heldout, empty, "leakage_similarity=null"), read_heldout(heldout), lineage)
    card["data"]["files"][0]["path"] = str(tmp_path / "gone.jsonl")
    with pytest.raises(ConfigValueError, match="adapters.pumps.*its card says it was trained on this file"):
        guard(guard_settings(heldout, empty), read_heldout(heldout), lineage)


def test_the_sample_dataset_passes_the_whole_guard_and_names_answers_in_the_documents(caplog):
    from phi3ray.eval.leakage import guard
    from phi3ray.config import validate
    from tests.conftest import compose_config

    settings = validate(compose_config("evaluate", []))  # data=pumps: heldout, train and documents
    with caplog.at_level("DEBUG", logger="phi3ray.eval.leakage"):
        report = guard(settings, read_heldout(settings.data.heldout_file), {"adapters": []})
    assert report["overlaps"] == []  # nothing unexpected
    assert report["expected"] and all("[expected: in_train_facts]" in line for line in report["expected"])
    # the expected overlaps are the report's to list: one console line for all of them, no warning
    shown = [r for r in caplog.records if r.name == "phi3ray.eval.leakage" and r.levelno >= logging.INFO]
    assert [r.getMessage() for r in shown] == [
        f"leakage check: {len(report['expected'])} expected overlap(s) with the training data (held-out rows "
        "marked in_train_facts), listed in the report"]
    assert report["answers_in_rag_documents"]  # some reference answers are verbatim in the manuals (retrieval wins)
