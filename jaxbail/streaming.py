"""Statistics over seeds streamed chunk by chunk: the summary of a run without every seed's curve.

``simulate(..., keep_curves=False)`` merges each chunk of seeds into a :class:`CurveStats` (sums, sums of
squared deviations and, for the gap regret, the co-moment matrix across logged episodes; Chan et al.'s
pairwise update, float64) instead of keeping ``[N, L]`` arrays: host memory is ``O(L^2)`` whatever the
number of seeds. :func:`summarize_streamed` turns it into the same summary as
:func:`jaxbail.experiment.summarize`; the only different method is the log-log slope's interval, a delta-method
normal interval from the co-moments instead of the Poisson bootstrap over seeds (which needs every curve).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from jaxbail import stats

__all__ = ["CurveStats", "merge", "slope_delta", "summarize_streamed", "STREAM_ABOVE"]

STREAM_ABOVE = 1 << 16
"""The CLI (``run``, sweep cells) streams the statistics of runs with more seeds than this; at or below it
the summary is computed from the per-seed curves, as before (same numbers)."""

QUANTITIES = ("gap_regret", "return_regret", "misspecified", "true_task_posterior")


class CurveStats(NamedTuple):
    """Moments over seeds of the logged curves.

    Attributes:
      num_seeds: ``n``.
      total: ``[4, L]`` sums over seeds of the gap regret, return regret, misspecification count and
        true-task posterior at each logged episode (:data:`QUANTITIES`).
      m2: ``[4, L]`` sums of squared deviations from the mean.
      gap_comoment: ``[L, L]`` sum over seeds of ``(g - mean)(g - mean)^T`` for the gap regret curve ``g``.
    """

    num_seeds: int
    total: np.ndarray
    m2: np.ndarray
    gap_comoment: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.num_seeds

    @staticmethod
    def of(values: np.ndarray) -> CurveStats:
        """The moments of one chunk, ``values [4, n, L]``."""
        values = np.asarray(values, np.float64)
        n = values.shape[1]
        total = values.sum(axis=1)
        dev = values - (total / n)[:, None, :]
        return CurveStats(n, total, np.einsum("qnl,qnl->ql", dev, dev), dev[0].T @ dev[0])


def merge(a: CurveStats | None, b: CurveStats) -> CurveStats:
    """The moments of the union of two disjoint sets of seeds (Chan, Golub and LeVeque's update)."""
    if a is None:
        return b
    n = a.num_seeds + b.num_seeds
    delta = b.total / b.num_seeds - a.total / a.num_seeds
    weight = a.num_seeds * b.num_seeds / n
    return CurveStats(n, a.total + b.total, a.m2 + b.m2 + delta ** 2 * weight,
                      a.gap_comoment + b.gap_comoment + np.outer(delta[0], delta[0]) * weight)


def _estimate(cs: CurveStats, q: int, col: int) -> stats.Estimate:
    n = cs.num_seeds
    mean = float(cs.total[q, col] / n)
    se = math.sqrt(cs.m2[q, col] / (n - 1) / n) if n > 1 else float("nan")
    return stats.Estimate(mean, se, mean - stats.Z95 * se, mean + stats.Z95 * se)


def slope_delta(episodes: np.ndarray, cs: CurveStats) -> stats.Slope:
    """:func:`jaxbail.stats.loglog_slope`'s fit with a delta-method 95% interval.

    The slope is ``sum_j c_j log m_j`` over the logged ``T_j`` in ``[T/10, T]`` (``m`` the seed-mean curve,
    ``c = x / x.x`` with ``x`` the centred ``log T_j``), so its standard error is
    ``sqrt(g' Sigma g / n)`` with ``g_j = c_j / m_j`` and ``Sigma`` the covariance of the per-seed curves.
    """
    episodes = np.asarray(episodes, np.float64)
    last = episodes.max()
    use = episodes >= last / 10.0
    t = episodes[use]
    if t.size < 2:
        return stats.Slope(float("nan"), float("nan"), float("nan"), int(last), int(last), int(t.size))
    mean = cs.mean[0, use]
    log_t = np.log(t)
    slope = float(stats._fit(log_t, mean[None])[0])
    n = cs.num_seeds
    if math.isnan(slope) or n < 2:
        return stats.Slope(slope, float("nan"), float("nan"), int(t[0]), int(t[-1]), int(t.size))
    x = log_t - log_t.mean()
    grad = x / (x @ x) / mean
    sigma = cs.gap_comoment[np.ix_(use, use)] / (n - 1)
    se = math.sqrt(max(float(grad @ sigma @ grad), 0.0) / n)
    return stats.Slope(slope, slope - stats.Z95 * se, slope + stats.Z95 * se, int(t[0]), int(t[-1]), int(t.size))


def summarize_streamed(episodes: np.ndarray, num_episodes: int, cs: CurveStats) -> dict:
    """The statistical fields of :func:`jaxbail.experiment.summarize` from streamed moments."""
    def num(x):
        return None if x is None or not math.isfinite(x) else float(x)

    gap, ret = _estimate(cs, 0, -1), _estimate(cs, 1, -1)
    slope = slope_delta(episodes, cs)
    last = num_episodes - math.ceil(num_episodes / 10)
    mean = cs.mean
    if last >= 1:
        col = int(np.searchsorted(episodes, last))
        per_last = (mean[0, -1] - mean[0, col]) / (num_episodes - last)
    else:
        per_last = mean[0, -1] / num_episodes
    n = cs.num_seeds
    se = np.sqrt(cs.m2[0] / (n - 1) / n) if n > 1 else np.full_like(mean[0], np.nan)
    return {
        "seeds": int(n),
        "regret_mean": num(gap.mean), "regret_ci95": [num(gap.lo), num(gap.hi)], "regret_se": num(gap.se),
        "slope": num(slope.slope), "slope_ci95": [num(slope.lo), num(slope.hi)],
        "slope_range": [slope.first_episode, slope.last_episode], "slope_ci_method": "delta",
        "per_episode_regret_last": num(float(per_last)),
        "return_regret_mean": num(ret.mean), "return_regret_ci95": [num(ret.lo), num(ret.hi)],
        "misspecification_events": int(round(float(cs.total[2, -1]))),
        "true_task_posterior_final": num(float(mean[3, -1])),
        "curve": {"episodes": np.asarray(episodes).tolist(), "regret_mean": mean[0].tolist(),
                  "regret_lo": (mean[0] - stats.Z95 * se).tolist(), "regret_hi": (mean[0] + stats.Z95 * se).tolist(),
                  "return_regret_mean": mean[1].tolist(), "true_task_posterior_mean": mean[3].tolist()},
    }
