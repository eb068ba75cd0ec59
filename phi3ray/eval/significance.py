"""Bootstrap confidence intervals and paired tests over per-question scores (seeded, numpy only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # confidence level of every interval
ALPHA = 0.05  # a difference with p below this is called significant

Statistic = Callable[[np.ndarray], np.ndarray]  # (R, n) resamples -> (R,) values


def mean_statistic(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def exp_mean_statistic(values: np.ndarray) -> np.ndarray:
    """exp of the mean: turns per-question mean log-losses into a (geometric-mean) perplexity."""
    return np.exp(values.mean(axis=-1))


@dataclass
class Estimate:
    value: float  # the statistic on all questions where the metric is defined
    ci_low: float
    ci_high: float
    n: int  # questions the metric is defined for


@dataclass
class Comparison:
    diff: float  # statistic(variant) - statistic(reference) over questions where both are defined
    ci_low: float
    ci_high: float
    p_value: float  # two-sided paired permutation test
    n: int

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[~np.isnan(array)]


def _interval(resampled: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(resampled, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(low), float(high)


def bootstrap(values: Sequence[float], samples: int, seed: int, statistic: Statistic = mean_statistic) -> Estimate:
    """The statistic over the defined values and its percentile-bootstrap 95% CI (resampling questions)."""
    data = _finite(values)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(samples, data.size))  # (R, n)
    low, high = _interval(statistic(data[idx]))
    return Estimate(float(statistic(data)), low, high, int(data.size))


def paired_comparison(
    reference: Sequence[float],
    variant: Sequence[float],
    samples: int,
    seed: int,
    statistic: Statistic = mean_statistic,
) -> Comparison:
    """Difference variant - reference on the same questions: paired-bootstrap 95% CI and permutation p-value.

    The permutation test swaps each question's two scores at random (the null: the variant label does
    not matter) and counts how often the difference is at least as large in absolute value as observed.
    """
    a, b = np.asarray(reference, dtype=float), np.asarray(variant, dtype=float)
    both = ~(np.isnan(a) | np.isnan(b))
    a, b = a[both], b[both]
    n = int(a.size)
    if n == 0:
        return Comparison(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    observed = float(statistic(b) - statistic(a))
    observed = 0.0 if abs(observed) < 1e-12 else observed  # equal scores summed in another order
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(samples, n))  # (R, n)
    low, high = _interval(statistic(b[idx]) - statistic(a[idx]))
    swap = rng.random((samples, n)) < 0.5  # (R, n)
    null = statistic(np.where(swap, a, b)) - statistic(np.where(swap, b, a))
    tolerance = 1e-12 * max(1.0, abs(observed))
    extreme = int(np.sum(np.abs(null) >= abs(observed) - tolerance))
    p_value = (extreme + 1) / (samples + 1)
    return Comparison(observed, low, high, float(p_value), n)
