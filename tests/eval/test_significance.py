"""Bootstrap CIs and the paired permutation test: exact cases and seeded reproducibility."""

import math

import numpy as np
import pytest

from phi3ray.eval.significance import bootstrap, exp_mean_statistic, paired_comparison

pytestmark = pytest.mark.fast  # no Ray, no Weaviate, no model: scripts/test.sh --fast


def test_constant_scores_have_a_zero_width_interval():
    est = bootstrap([0.5] * 10, samples=200, seed=0)
    assert (est.value, est.ci_low, est.ci_high, est.n) == (0.5, 0.5, 0.5, 10)


def test_undefined_values_are_left_out():
    est = bootstrap([1.0, float("nan"), 0.0], samples=200, seed=0)
    assert est.value == 0.5 and est.n == 2
    empty = bootstrap([float("nan")], samples=200, seed=0)
    assert empty.n == 0 and math.isnan(empty.value)


def test_interval_matches_the_normal_approximation_and_is_seeded():
    scores = [0.0, 1.0] * 20  # mean 0.5, standard error sqrt(0.25 / 40) = 0.079
    est = bootstrap(scores, samples=4000, seed=1)
    assert est.value == 0.5
    assert est.ci_low == pytest.approx(0.5 - 1.96 * 0.079, abs=0.03)
    assert est.ci_high == pytest.approx(0.5 + 1.96 * 0.079, abs=0.03)
    assert bootstrap(scores, samples=4000, seed=1) == est


def test_exp_mean_statistic_is_a_geometric_mean():
    est = bootstrap([math.log(2), math.log(8)], samples=100, seed=0, statistic=exp_mean_statistic)
    assert est.value == pytest.approx(4.0)
    assert 2.0 - 1e-9 <= est.ci_low <= est.ci_high <= 8.0 + 1e-9


def test_paired_comparison_of_a_uniform_gain():
    result = paired_comparison([0.0] * 20, [1.0] * 20, samples=999, seed=0)
    assert (result.diff, result.ci_low, result.ci_high, result.n) == (1.0, 1.0, 1.0, 20)
    assert result.p_value == pytest.approx(1 / 1000)  # only the unswapped labelling is as extreme
    assert result.significant


def test_paired_comparison_exact_permutation_p_value():
    # n = 3 questions each +1: of the 8 equally likely swaps, 2 (none or all swapped) give |diff| = 1
    result = paired_comparison([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], samples=20000, seed=3)
    assert result.p_value == pytest.approx(0.25, abs=0.01)
    assert not result.significant


def test_identical_variants_are_not_different():
    scores = list(np.linspace(0, 1, 15))
    result = paired_comparison(scores, scores, samples=500, seed=0)
    assert result.diff == 0.0 and result.p_value == 1.0 and not result.significant


def test_paired_comparison_uses_questions_defined_on_both_sides():
    result = paired_comparison([1.0, float("nan"), 0.0], [1.0, 1.0, float("nan")], samples=100, seed=0)
    assert result.n == 1 and result.diff == 0.0
