"""Means with intervals and log-log slopes with bootstrap intervals."""

import math

import numpy as np
import pytest

from jaxbail import stats


def test_mean_ci_matches_the_textbook_formula():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    est = stats.mean_ci(x)
    se = np.std(x, ddof=1) / 2.0
    assert est.mean == pytest.approx(3.5)
    assert est.se == pytest.approx(se)
    assert (est.lo, est.hi) == pytest.approx((3.5 - 1.959963984540054 * se, 3.5 + 1.959963984540054 * se))


def test_curve_ci_is_columnwise():
    per_seed = np.array([[1.0, 10.0], [3.0, 14.0]])
    mean, lo, hi = stats.curve_ci(per_seed)
    np.testing.assert_allclose(mean, [2.0, 12.0])
    np.testing.assert_allclose(hi - mean, mean - lo)
    np.testing.assert_allclose(hi - mean, 1.959963984540054 * np.array([1.0, 2.0]))  # SE = [1, 2]


@pytest.mark.parametrize("power", [0.5, 1.0, 0.73])
def test_slope_of_an_exact_power_law_is_its_exponent(power):
    episodes = np.unique(np.round(np.logspace(0, 4, 80)).astype(int))
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.5, 2.0, size=(200, 1))
    per_seed = scales * episodes[None, :] ** power
    slope = stats.loglog_slope(episodes, per_seed)
    assert slope.slope == pytest.approx(power, abs=1e-12)
    # every seed has the same exponent, so every bootstrap resample does too
    assert slope.lo == pytest.approx(power, abs=1e-9) and slope.hi == pytest.approx(power, abs=1e-9)
    assert slope.first_episode >= 1000 and slope.last_episode == 10_000


def test_slope_uses_only_the_last_decade():
    episodes = np.arange(1, 1001)
    curve = np.where(episodes < 100, episodes**2.0, 100.0 * episodes)  # slope 2 early, 1 in the last decade
    slope = stats.loglog_slope(episodes, np.tile(curve, (5, 1)).astype(float))
    assert slope.slope == pytest.approx(1.0, abs=1e-12)


def test_slope_interval_covers_noisy_truth_and_shrinks_with_seeds():
    episodes = np.unique(np.round(np.logspace(0, 3, 60)).astype(int))
    rng = np.random.default_rng(1)

    def width(num_seeds):
        noise = rng.gamma(4.0, 0.25, size=(num_seeds, 1))
        s = stats.loglog_slope(episodes, noise * episodes**0.5 + rng.normal(0, 0.5, (num_seeds, episodes.size)))
        assert s.lo <= 0.5 <= s.hi
        return s.hi - s.lo

    assert width(4000) < width(100)


def test_slope_is_nan_for_a_zero_curve():
    episodes = np.arange(1, 101)
    slope = stats.loglog_slope(episodes, np.zeros((3, 100)))
    assert math.isnan(slope.slope) and math.isnan(slope.lo) and math.isnan(slope.hi)
