"""Reading chat, alpaca and QA JSONL: every row validated, bad rows named by file:line, skip counts them."""

import json

import pytest

from phi3ray.data.readers import read_examples, split_examples
from phi3ray.errors import DataErrors

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

SYSTEM = {"role": "system", "content": "You are a pump expert."}
USER = {"role": "user", "content": "Torque for the gland bolts?"}
ASSISTANT = {"role": "assistant", "content": "20 N·m."}


def write_jsonl(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_chat_rows_keep_their_messages(tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [SYSTEM, USER, ASSISTANT], "doc_ids": ["seal"]},
        {"messages": [USER, ASSISTANT, {"role": "user", "content": "And the run-in?"},
                      {"role": "assistant", "content": "2 h."}]},
    ])
    report = read_examples([path], fmt="chat")
    assert [e.messages for e in report.examples] == [
        [SYSTEM, USER, ASSISTANT],
        [USER, ASSISTANT, {"role": "user", "content": "And the run-in?"}, {"role": "assistant", "content": "2 h."}],
    ]
    assert [e.source for e in report.examples] == [f"{path}:1", f"{path}:2"]
    assert report.formats == {"chat": 2}


def test_alpaca_and_qa_rows_become_one_user_and_one_assistant_turn(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [
        {"instruction": "Name the seal kit.", "input": "Pump: VX-100", "output": "AQ-SEAL-100-S"},
        {"instruction": "Name the seal kit of the VX-100.", "output": "AQ-SEAL-100-S"},
        {"question": "Run-in period?", "answer": "2 h", "context": "Run-in period 2 h."},
        {"question": "Run-in period?", "answer": "2 h"},
    ])
    report = read_examples([path], fmt="auto", system_prompt="Be precise.")
    system = {"role": "system", "content": "Be precise."}
    assert [e.messages for e in report.examples] == [
        [system, {"role": "user", "content": "Name the seal kit.\n\nPump: VX-100"},
         {"role": "assistant", "content": "AQ-SEAL-100-S"}],
        [system, {"role": "user", "content": "Name the seal kit of the VX-100."},
         {"role": "assistant", "content": "AQ-SEAL-100-S"}],
        [system, {"role": "user", "content": "Context:\nRun-in period 2 h.\n\nQuestion: Run-in period?"},
         {"role": "assistant", "content": "2 h"}],
        [system, {"role": "user", "content": "Run-in period?"}, {"role": "assistant", "content": "2 h"}],
    ]
    assert report.formats == {"alpaca": 2, "qa": 2}


BAD_ROWS = [
    ({"messages": [USER, ASSISTANT]}, None),
    ('{"messages": [', "invalid JSON: Expecting value (column 15)"),
    ({"messages": [{"role": "tool", "content": "x"}, ASSISTANT]},
     "messages[0].role='tool': must be one of system, user, assistant"),
    ({"messages": [USER, USER, ASSISTANT]},
     "messages[1].role='user': expected 'assistant' (an optional system message, then user and assistant turns alternating)"),
    ({"messages": [SYSTEM, USER]}, "the last message must be the assistant's answer (nothing to learn otherwise)"),
    ({"messages": [USER, {"role": "assistant", "content": 7}]}, "messages[1].content must be a string, got int"),
    ({"instruction": "Name the kit."}, "missing field 'output'"),
    ({"question": "Run-in?", "answer": ""}, "field 'answer' is empty"),
    ({"prompt": "x", "completion": "y"},
     "no known format: expected 'messages' (chat), 'instruction'/'output' (alpaca) or 'question'/'answer' (qa)"),
    ([1, 2], "a row must be a JSON object, got list"),
]


def test_every_bad_row_is_reported_once_with_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [row for row, _ in BAD_ROWS])
    with pytest.raises(DataErrors) as info:
        read_examples([path])
    expected = [f"{path}:{line}: {why}" for line, (_, why) in enumerate(BAD_ROWS, start=1) if why]
    assert [str(e) for e in info.value.errors] == expected
    assert str(info.value).startswith(f"{len(expected)} bad data row(s):\n  {expected[0]}")


def test_on_error_skip_skips_and_counts(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [row for row, _ in BAD_ROWS])
    report = read_examples([path], on_error="skip")
    assert len(report.examples) == 1 and report.examples[0].source == f"{path}:1"
    assert len(report.skipped) == len(BAD_ROWS) - 1
    assert report.skipped[0].line == 2


def test_explicit_format_rejects_other_formats(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DataErrors, match=r"qa.jsonl:1: data.format=chat but the row has keys \['answer', 'question'\]"):
        read_examples([path], fmt="chat")


def test_missing_and_empty_files_are_errors_even_when_skipping(tmp_path):
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(DataErrors, match=r"nope.jsonl:0: no such file"):
        read_examples([str(tmp_path / "nope.jsonl")], on_error="skip")
    with pytest.raises(DataErrors, match=r"empty.jsonl:0: the file has no rows"):
        read_examples([empty], on_error="skip")


def test_sample_data_is_valid():
    report = read_examples(["data/pumps/train.jsonl"], fmt="chat")
    assert len(report.examples) > 100 and not report.skipped


def test_split_is_seeded_and_disjoint(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": f"q{i}", "answer": f"a{i}"} for i in range(40)])
    examples = read_examples([path]).examples
    train, evals = split_examples(examples, 0.1, seed=3)
    again_train, again_evals = split_examples(examples, 0.1, seed=3)
    assert len(evals) == 4 and len(train) == 36
    assert [e.source for e in evals] == [e.source for e in again_evals]
    assert {e.source for e in train}.isdisjoint(e.source for e in evals)
    assert [e.source for e in split_examples(examples, 0.1, seed=4)[1]] != [e.source for e in evals]


def test_uri_rows_are_read_through_pyarrow_and_bad_ones_named_by_uri_and_line(tmp_path):
    """s3:// and gs:// go through the same pyarrow.fs call; a file:// URI (LocalFileSystem) stands in for them here."""
    path = write_jsonl(tmp_path / "bad.jsonl", [row for row, _ in BAD_ROWS])
    uri = f"file://{path}"
    report = read_examples([uri], on_error="skip")
    assert report.examples[0].source == f"{uri}:1" and report.skipped[0].line == 2
    with pytest.raises(DataErrors, match=r"file://.*nope.jsonl:0: no such file"):
        read_examples([f"file://{tmp_path}/nope.jsonl"])
