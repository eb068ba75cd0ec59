"""Reading the held-out set: fields, limits, and every bad line reported at once."""

import json

import pytest

from phi3ray.errors import ConfigValueError, DataErrors
from phi3ray.eval.heldout import read_heldout
from tests.conftest import ROOT

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_reads_the_sample_set_and_limits_it():
    questions = read_heldout(str(ROOT / "data/pumps/heldout.jsonl"), max_questions=5)
    assert [q.id for q in questions] == ["h001", "h002", "h003", "h004", "h005"]
    assert questions[1].key_terms == ["98 kg"] and questions[1].doc_ids == ["vxs-80-specifications"]


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


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigValueError, match="data.heldout_file"):
        read_heldout(str(tmp_path / "missing.jsonl"))
