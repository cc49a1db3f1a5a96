"""Statistics over seeds: means with 95% intervals, log-log slopes with bootstrap intervals."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

Z95 = 1.959963984540054


class Estimate(NamedTuple):
    """A mean over seeds with its standard error and normal 95% interval."""

    mean: float
    se: float
    lo: float
    hi: float


class Slope(NamedTuple):
    """Least-squares slope of ``log(mean cumulative regret)`` on ``log T`` with a bootstrap 95% interval.

    ``nan`` where the mean curve is not positive over the fitted range (e.g. the oracle).
    """

    slope: float
    lo: float
    hi: float
    first_episode: int
    last_episode: int
    num_points: int


def mean_ci(values: np.ndarray) -> Estimate:
    """Mean of ``values [N]`` over seeds, standard error (``ddof=1``), and ``mean +- 1.96 SE``."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else float("nan")
    return Estimate(mean, se, mean - Z95 * se, mean + Z95 * se)


def curve_ci(per_seed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% band of ``per_seed [N, L]`` at every logged episode."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    mean = per_seed.mean(axis=0)
    se = per_seed.std(axis=0, ddof=1) / math.sqrt(per_seed.shape[0]) if per_seed.shape[0] > 1 else np.nan * mean
    return mean, mean - Z95 * se, mean + Z95 * se


def _fit(log_t: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Slopes of ``log(curves[b])`` on ``log_t`` for each row; nan where a curve is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(curves)
        x = log_t - log_t.mean()
        slopes = (log_c - log_c.mean(axis=-1, keepdims=True)) @ x / (x @ x)
    return np.where(np.all(curves > 0, axis=-1), slopes, np.nan)


def loglog_slope(episodes: np.ndarray, per_seed_cum: np.ndarray, *, seed: int = 0,
                 num_bootstrap: int = 1000) -> Slope:
    """Slope of cumulative regret against ``T`` on log-log axes, over the last decade of ``T``.

    Fitted by least squares to the seed-mean curve at the logged episodes in
    ``[T/10, T]``; the interval is the percentile interval of the same fit on
    Poisson-bootstrap resamples of the seeds.

    Args:
      episodes: ``[L]`` logged 1-based episode counts.
      per_seed_cum: ``[N, L]`` cumulative regret per seed.
    """
    episodes = np.asarray(episodes, dtype=np.float64)
    per_seed_cum = np.asarray(per_seed_cum, dtype=np.float64)
    last = episodes.max()
    use = episodes >= last / 10.0
    t, x = episodes[use], per_seed_cum[:, use]
    if t.size < 2:
        return Slope(float("nan"), float("nan"), float("nan"), int(last), int(last), int(t.size))
    log_t = np.log(t)
    slope = float(_fit(log_t, x.mean(axis=0)[None])[0])
    rng = np.random.default_rng(seed)
    boot = []
    for start in range(0, num_bootstrap, 100):
        weights = rng.poisson(1.0, size=(min(100, num_bootstrap - start), x.shape[0])).astype(np.float64)
        totals = weights.sum(axis=1, keepdims=True)
        curves = (weights @ x) / np.where(totals > 0, totals, 1.0)
        boot.append(_fit(log_t, curves))
    boot = np.concatenate(boot)
    if np.isnan(slope) or np.isnan(boot).any():
        return Slope(slope, float("nan"), float("nan"), int(t[0]), int(t[-1]), int(t.size))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Slope(slope, float(lo), float(hi), int(t[0]), int(t[-1]), int(t.size))
