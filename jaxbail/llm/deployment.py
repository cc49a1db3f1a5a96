"""``delta`` of a planner along its own histories: runs it with :func:`jaxbail.runner.simulate` (``measure_tv``)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxbail.instance import Instance
from jaxbail.planners.base import Planner
from jaxbail.runner import simulate
from jaxbail.stats import curve_ci, mean_ci

__all__ = ["deployment_delta", "delta_estimate"]


def delta_estimate(result) -> tuple[Any, int]:
    """``delta`` of a ``measure_tv`` run: the mean over seeds of each seed's mean TV to exact BAIL on its
    own decisions, with its 95% interval (:func:`jaxbail.stats.mean_ci`), and the number of seeds used
    (those that explored in every episode have no decision of their own and are left out)."""
    per_seed = result.mean_tv_to_bail[np.isfinite(result.mean_tv_to_bail)]
    return mean_ci(per_seed), int(per_seed.size)


def deployment_delta(key: jax.Array, instance: Instance, planner: Planner, *, num_episodes: int,
                     num_seeds: int, task: int | None = None) -> dict[str, Any]:
    """``delta`` along the planner's own histories: :func:`jaxbail.runner.simulate` with ``measure_tv``.

    For an epsilon-greedy planner the exploration episodes are not the wrapped planner's decisions
    and are left out (SPEC 6's ``delta`` is the distance on the ``(1 - eps)`` share of episodes).

    Returns:
      ``delta, se, lo, hi``: mean over seeds of the per-seed mean TV(planner, exact BAIL) over its
      own decisions (95% interval; seeds that explored in every episode are left out);
      ``per_episode``, ``per_episode_lo``, ``per_episode_hi``: ``[T]`` mean TV in each episode
      ``1..T`` over the seeds that did not explore in it, with its interval; ``regret``: the mean
      cumulative gap regret at ``T``; ``episodes``, ``seeds``.
    """
    result = simulate(key, instance, planner, num_episodes=num_episodes, num_seeds=num_seeds, task=task,
                      measure_tv=True, log_points=np.arange(1, num_episodes + 1), progress=False)
    est, used = delta_estimate(result)
    if np.isfinite(result.tv_to_bail).all():
        mean, lo, hi = curve_ci(result.tv_to_bail)
    else:
        tv = result.tv_to_bail
        count = np.isfinite(tv).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(tv, axis=0)
            half = 1.96 * np.nanstd(tv, axis=0, ddof=1) / np.sqrt(count)
        lo, hi = mean - half, mean + half
    return {"delta": est.mean, "se": est.se, "lo": est.lo, "hi": est.hi, "per_episode": mean.tolist(),
            "per_episode_lo": lo.tolist(), "per_episode_hi": hi.tolist(),
            "regret": float(result.gap_regret[:, -1].mean()), "episodes": int(num_episodes),
            "seeds": int(num_seeds), "seeds_used": used}
