"""Evaluation records the base revision the adapters were trained on, and refuses another one before any work."""

import json

import pytest

from phi3ray.config import validate
from phi3ray.errors import ConfigValueError
from phi3ray.eval.runner import collect_lineage
from tests.conftest import ROOT, compose_config

pytestmark = pytest.mark.fast


def settings(adapter, *more):
    return validate(compose_config("evaluate", ["model=tiny", f"+adapters.pumps={adapter}",
                                                f"data.heldout_file={ROOT}/data/pumps/heldout.jsonl", *more]))


def test_lineage_names_the_card_s_revision_and_refuses_another(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_card.json").write_text(json.dumps({"base_model": {"revision": "abc123"}}))
    assert collect_lineage(settings(tmp_path))["base"]["revision"] == "abc123"  # model.revision is null
    with pytest.raises(ConfigValueError, match="trained on revision 'abc123'"):
        collect_lineage(settings(tmp_path, "model.revision=def456"))


def test_an_explicit_flag_evaluates_another_revision_and_says_so(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_card.json").write_text(json.dumps({"base_model": {"revision": "abc123"}}))
    base = collect_lineage(settings(tmp_path, "model.revision=def456", "allow_revision_mismatch=true"))["base"]
    assert base["revision"] == "def456" and base["revision_mismatch_allowed"] == {"pumps": "abc123"}
