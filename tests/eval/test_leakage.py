"""The leakage guard finds a held-out question planted in any training format, naming file:line."""

import json

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


def test_the_sample_dataset_has_no_leakage():
    questions = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"))
    assert len(questions) == 84  # 72 answerable, 12 unanswerable
    assert find_overlaps(questions, [str(ROOT / "data/pumps/train.jsonl")]) == []
