"""The promotion gate: gains in the metric's good direction, margins, significance, config checks."""

import math

import pytest

from phi3ray.config import validate
from phi3ray.errors import ConfigValueError
from phi3ray.eval.gate import check_gate_settings, judge_gate
from phi3ray.eval.scoring import SCORE_KEYS, summarize
from phi3ray.eval.variants import build_matrix
from tests.conftest import compose_config

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast

N = 20  # questions: a uniform gain then has permutation p = 1 / (samples + 1)


def rows(f1: float, nll: float) -> list[dict]:
    row = {key: float("nan") for key in SCORE_KEYS} | {"f1": f1, "perplexity": nll}
    return [dict(row) for _ in range(N)]


@pytest.fixture(scope="module")
def summary():
    variants = build_matrix(["pumps"], rag=True)
    scores = {
        "base": rows(0.30, math.log(10)),
        "base+rag": rows(0.50, math.log(5)),
        "pumps": rows(0.33, math.log(8)),
        "pumps+rag": rows(0.51, math.log(4)),
    }
    return summarize(variants, scores, retrieval=None, k=5, samples=199, seed=0)


def settings(*overrides: str):
    return validate(compose_config("evaluate", ["model=tiny", "+adapters.pumps=/tmp/adapter", *overrides]))


def test_gain_against_the_margin(summary):
    passing = judge_gate(settings("gate.metric=f1", "gate.min_gain=0.02").gate, ["pumps"], summary)
    assert passing.passed and passing.checks[0].gain == pytest.approx(0.03)
    assert "pumps passes: f1 0.3300 vs base 0.3000, gain +0.0300" in passing.lines()[0]
    failing = judge_gate(settings("gate.metric=f1", "gate.min_gain=0.05").gate, ["pumps"], summary)
    assert not failing.passed and "pumps FAILS" in failing.lines()[0]


def test_lower_perplexity_is_a_gain(summary):
    outcome = judge_gate(settings("gate.metric=perplexity", "gate.min_gain=1.5").gate, ["pumps"], summary)
    assert outcome.passed and outcome.checks[0].gain == pytest.approx(10 - 8)


def test_rag_gate_compares_adapter_rag_with_base_rag(summary):
    outcome = judge_gate(settings("gate.metric=f1", "gate.rag=true", "gate.min_gain=0.02").gate, ["pumps"], summary)
    check = outcome.checks[0]
    assert (check.variant, check.reference) == ("pumps+rag", "base+rag")
    assert check.gain == pytest.approx(0.01) and not outcome.passed


def test_significance_can_be_required(summary):
    outcome = judge_gate(settings("gate.metric=f1", "gate.require_significant=true").gate, ["pumps"], summary)
    assert outcome.passed and outcome.checks[0].p_value == pytest.approx(1 / 200)


def test_gate_off_returns_nothing(summary):
    assert judge_gate(settings().gate, ["pumps"], summary) is None


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["gate.metric=bleu"], "gate.metric"),
        (["gate.metric=citation_valid"], "gate.metric"),  # rag-only metric without gate.rag
        (["gate.metric=f1", "gate.adapter=other"], "gate.adapter"),
        (["gate.metric=f1", "gate.rag=true", "rag=false"], "gate.rag"),
    ],
)
def test_bad_gate_settings_fail_before_any_work(overrides, key):
    with pytest.raises(ConfigValueError, match=key):
        check_gate_settings(settings(*overrides))


def test_gate_needs_an_adapter():
    cfg = validate(compose_config("evaluate", ["model=tiny", "gate.metric=f1"]))
    with pytest.raises(ConfigValueError, match="add adapters"):
        check_gate_settings(cfg)
