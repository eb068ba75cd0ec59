"""Promotion gate: an adapter is promoted only if it beats the base by gate.min_gain on gate.metric."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from phi3ray.config import EvaluateConfig, GateSettings
from phi3ray.errors import ConfigValueError
from phi3ray.eval.scoring import METRIC_KEYS, Summary, metric_spec
from phi3ray.eval.significance import ALPHA
from phi3ray.names import BASE_VARIANT, RAG_SUFFIX


@dataclass
class GateCheck:
    adapter: str
    variant: str  # adapter, or adapter+rag with gate.rag
    reference: str  # base, or base+rag with gate.rag
    value: float
    reference_value: float
    gain: float  # improvement in the metric's good direction (lower perplexity is a positive gain)
    p_value: float
    passed: bool

    def describe(self, metric: str, min_gain: float) -> str:
        verdict = "passes" if self.passed else "FAILS"
        return (
            f"{self.variant} {verdict}: {metric} {self.value:.4f} vs {self.reference} {self.reference_value:.4f}, "
            f"gain {self.gain:+.4f} (needs >= {min_gain:+.4f}), p = {self.p_value:.4f}"
        )


@dataclass
class GateOutcome:
    metric: str
    min_gain: float
    rag: bool
    require_significant: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def lines(self) -> list[str]:
        return [check.describe(self.metric, self.min_gain) for check in self.checks]


def check_gate_settings(cfg: EvaluateConfig) -> None:
    """Fail before any work when the gate cannot be judged with this config."""
    gate = cfg.gate
    if gate.metric is None:
        return
    if gate.metric not in METRIC_KEYS or (metric_spec(gate.metric).rag_only and not gate.rag):
        usable = [k for k in METRIC_KEYS if gate.rag or not metric_spec(k).rag_only]
        raise ConfigValueError("gate.metric", gate.metric, f"must be one of {', '.join(usable)}")
    if not cfg.adapters:
        raise ConfigValueError("gate.metric", gate.metric, "the gate compares an adapter with the base: add adapters")
    if gate.adapter is not None and gate.adapter not in cfg.adapters:
        raise ConfigValueError("gate.adapter", gate.adapter, f"not among adapters ({', '.join(cfg.adapters)})")
    if gate.rag and not cfg.rag:
        raise ConfigValueError("gate.rag", gate.rag, "needs rag=true (the +rag variants are not evaluated)")


def judge_gate(gate: GateSettings, adapters: list[str], summary: Summary) -> GateOutcome | None:
    """Compare each gated adapter (or adapter+rag) with base (or base+rag); None when the gate is off."""
    if gate.metric is None:
        return None
    spec = metric_spec(gate.metric)
    suffix = RAG_SUFFIX if gate.rag else ""
    reference = BASE_VARIANT + suffix
    outcome = GateOutcome(gate.metric, gate.min_gain, gate.rag, gate.require_significant)
    for adapter in [gate.adapter] if gate.adapter else adapters:
        variant = adapter + suffix
        value = summary.metrics[variant][gate.metric]["value"]
        reference_value = summary.metrics[reference][gate.metric]["value"]
        gain = (value - reference_value) * (1 if spec.higher_is_better else -1)
        p_value = next(
            c["p_value"]
            for c in summary.comparisons
            if c["variant"] == variant and c["reference"] == reference and c["metric"] == gate.metric
        )
        passed = not math.isnan(gain) and gain >= gate.min_gain
        if gate.require_significant:
            passed = passed and gain > 0 and p_value < ALPHA
        outcome.checks.append(GateCheck(adapter, variant, reference, value, reference_value, gain, p_value, passed))
    return outcome
