"""Reading the held-out set: fields, limits, and every bad line reported at once."""

import json

import pytest

from phi3ray.errors import ConfigValueError, DataErrors
from phi3ray.eval.heldout import KINDS, read_heldout
from tests.conftest import ROOT

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_reads_the_sample_set_and_limits_it():
    every = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"))
    assert every[1].key_terms == ["98 kg"] and every[1].doc_ids == ["vxs-80-specifications"]
    questions = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"), max_questions=6)
    assert [q.id for q in questions] == ["h014", "h019", "h038", "h055", "h062", "h079"]  # in file order
    assert [q.kind for q in questions].count("unanswerable") == 1  # the last seventh of the file: one in six


@pytest.mark.parametrize("n, shares", [(42, (18, 18, 6)), (10, (4, 4, 2)), (6, (3, 2, 1)), (3, (1, 1, 1))])
def test_a_limited_set_keeps_every_kind_in_its_share(n, shares):
    """The sample alternates documents and taught questions: every second question alone would be one kind."""
    kinds = [q.kind for q in read_heldout(str(ROOT / "data/pumps/heldout.jsonl"), max_questions=n)]
    assert (kinds.count("taught"), kinds.count("documents"), kinds.count("unanswerable")) == shares


def test_optional_fields_default_and_bad_lines_are_all_reported(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"question": "Q?", "answer": "A."}) + "\n")
    [question] = read_heldout(str(good))
    assert (question.id, question.doc_ids, question.key_terms) == ("line-1", [], [])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?"}\nnot json\n{"question": "Q", "answer": "A", "key_terms": "x"}\n')
    with pytest.raises(DataErrors) as caught:
        read_heldout(str(bad))
    assert [e.line for e in caught.value.errors] == [1, 2, 3]
    assert "'answer' must be a non-empty string" in str(caught.value)


def test_the_sample_set_has_every_kind():
    questions = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"))
    kinds = [q.kind for q in questions]
    assert (kinds.count("taught"), kinds.count("documents"), kinds.count("unanswerable")) == (36, 36, 12)
    last = questions[-1]
    assert (last.id, last.answerable, last.in_train_facts, last.doc_ids) == ("h084", False, None, [])


def test_answerable_and_in_train_facts_give_the_kind(tmp_path):
    rows = [
        {"question": "Q1?", "answer": "A.", "in_train_facts": True},
        {"question": "Q2?", "answer": "A.", "in_train_facts": False, "answerable": True},
        {"question": "Q3?", "answer": "I do not know.", "answerable": False, "in_train_facts": None},
        {"question": "Q4?", "answer": "A."},
    ]
    path = tmp_path / "kinds.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    questions = read_heldout(str(path))
    assert [q.kind for q in questions] == ["taught", "documents", "unanswerable", "unlabelled"]
    assert [(q.answerable, q.in_train_facts) for q in questions] == [
        (True, True), (True, False), (False, None), (True, None)]
    assert KINDS == ("taught", "documents", "unanswerable", "unlabelled")


def test_bad_answerable_and_in_train_facts_values_are_reported_per_line(tmp_path):
    rows = [
        {"question": "Q?", "answer": "A.", "answerable": "no"},
        {"question": "Q?", "answer": "A.", "in_train_facts": 1},
        {"question": "Q?", "answer": "A.", "answerable": None},
        {"question": "Q?", "answer": "A.", "answerable": False, "key_terms": ["x"], "doc_ids": ["d"]},
        {"question": "Q?", "answer": "A.", "answerable": False, "in_train_facts": False},
        {"question": "Q?", "answer": "A.", "answerable": False},  # fine
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(DataErrors) as caught:
        read_heldout(str(path))
    assert [e.line for e in caught.value.errors] == [1, 2, 3, 4, 5]
    assert [str(e) for e in caught.value.errors] == [
        f"{path}:1: 'answerable' must be true or false, not 'no'",
        f"{path}:2: 'in_train_facts' must be true, false or null, not 1",
        f"{path}:3: 'answerable' must be true or false, not None",
        f"{path}:4: an unanswerable question ('answerable': false) has no doc_ids, key_terms",
        f"{path}:5: an unanswerable question ('answerable': false) has no in_train_facts",
    ]


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigValueError, match="data.heldout_file"):
        read_heldout(str(tmp_path / "missing.jsonl"))
