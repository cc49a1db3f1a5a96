"""Shared by the rate claims: power-law fits with a seed bootstrap, and cells of different horizons
run as few vmapped batches as their structures allow, each cell read at its own horizon."""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from jaxbail import stats, theory
from jaxbail.experiment import parse_eps, resolve_planner
from jaxbail.instance import Instance
from jaxbail.runner import SimulationResult, log_spaced_episodes, simulate_many

__all__ = ["PowerLaw", "power_law_fit", "loglog_exponent", "Cell", "run_cells", "eps_star_cell"]


class PowerLaw(NamedTuple):
    """``y ~ a x^b`` fitted by least squares on log-log axes to the seed mean at each ``x``.

    ``lo, hi``: percentile 95% interval of ``b`` over bootstrap resamples of the seeds (the same
    seeds resampled in every cell: the cells share their seeds' random numbers).
    """

    exponent: float
    lo: float
    hi: float
    prefactor: float

    def to_json(self) -> dict[str, Any]:
        return {"exponent": self.exponent, "exponent_ci95": [self.lo, self.hi], "prefactor": self.prefactor}


def loglog_exponent(x, y) -> float:
    """Least-squares slope of ``log y`` on ``log x`` (every ``y`` must be positive)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lx, ly = np.log(np.asarray(x, np.float64)), np.log(np.asarray(y, np.float64))
    if lx.size < 2 or not np.all(np.isfinite(ly)):
        raise ValueError(f"loglog_exponent needs >= 2 points with positive y, got x={x!r}, y={y!r}")
    cx = lx - lx.mean()
    return float(cx @ (ly - ly.mean()) / (cx @ cx))


def _slopes(lx: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Slopes of ``log means[b]`` on ``lx`` for each row ``b``; NaN where a row is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ly = np.log(means)
        cx = lx - lx.mean()
        slopes = (ly - ly.mean(axis=-1, keepdims=True)) @ cx / (cx @ cx)
    return np.where(np.all(means > 0, axis=-1), slopes, np.nan)


def power_law_fit(x, per_seed, *, num_bootstrap: int = 2000, seed: int = 0) -> PowerLaw:
    """Fit ``mean_seeds(per_seed[:, k]) ~ a x_k^b``.

    Args:
      x: ``[K]`` positive grid (horizons, eta, H, C). per_seed: ``[N, K]`` one row per seed.
      num_bootstrap: resamples of the ``N`` seeds (with replacement, whole rows).
    """
    x = np.asarray(x, np.float64)
    per_seed = np.asarray(per_seed, np.float64)
    if per_seed.ndim != 2 or per_seed.shape[1] != x.size or x.size < 2:
        raise ValueError(f"power_law_fit: per_seed must be [N, {x.size}] with >= 2 grid points, "
                         f"got {per_seed.shape}")
    lx = np.log(x)
    mean = per_seed.mean(axis=0)
    b = float(_slopes(lx, mean[None])[0])
    a = float(np.exp(np.mean(np.log(mean)) - b * lx.mean())) if math.isfinite(b) else float("nan")
    rng = np.random.default_rng(seed)
    n = per_seed.shape[0]
    boot = []
    for start in range(0, num_bootstrap, 200):
        idx = rng.integers(0, n, size=(min(200, num_bootstrap - start), n))
        boot.append(_slopes(lx, per_seed[idx].mean(axis=1)))
    boot = np.concatenate(boot)
    if not math.isfinite(b) or np.isnan(boot).any():
        return PowerLaw(b, float("nan"), float("nan"), a)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return PowerLaw(b, float(lo), float(hi), a)


class Cell(NamedTuple):
    """One simulation cell: ``planner`` on ``env`` for ``episodes`` episodes (``model``: the Planner's
    instance where it differs from the environment; ``belief``: ``exact`` or ``delusional``)."""

    env: Instance
    planner: Any
    episodes: int
    model: Instance | None = None
    belief: str = "exact"


def _group_key(cell: Cell):
    return (jax.tree.structure(cell.planner), repr(cell.env.sizes), jax.tree.structure(cell.env.replace(name="")),
            cell.model is not None, cell.belief)


def run_cells(key: jax.Array, cells: Sequence[Cell], *, num_seeds: int, batch: int = 8,
              progress: bool = False) -> list[SimulationResult]:
    """Run every cell with the same seeds, as vmapped batches of at most ``batch`` cells of one structure.

    Cells of one structure are sorted by horizon; each batch simulates as long as its longest cell,
    and each cell is read at its own horizon. A cell's result (logged at
    :func:`~jaxbail.runner.log_spaced_episodes` of its own horizon) is what ``simulate`` of that
    cell alone gives: a planner's decisions at episode ``t`` do not depend on how many episodes
    follow, and seed ``i``'s random numbers do not depend on the batch (see ``simulate``).
    """
    groups: dict[Any, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(_group_key(cell), []).append(i)
    out: dict[int, SimulationResult] = {}
    for members in groups.values():
        members = sorted(members, key=lambda i: cells[i].episodes)
        for start in range(0, len(members), batch):
            part = [cells[i] for i in members[start:start + batch]]
            longest = max(c.episodes for c in part)
            points = np.unique(np.concatenate([log_spaced_episodes(c.episodes) for c in part]))
            models = None if part[0].model is None else [c.model for c in part]
            results = simulate_many(key, [c.env for c in part], [c.planner for c in part], num_episodes=longest,
                                    num_seeds=num_seeds, models=models, belief=part[0].belief,
                                    log_points=points, progress=progress)
            for i, cell, res in zip(members[start:start + batch], part, results):
                own = log_spaced_episodes(cell.episodes)
                cols = np.searchsorted(points, own)
                out[i] = SimulationResult(
                    episodes=own, gap_regret=res.gap_regret[:, cols], return_regret=res.return_regret[:, cols],
                    misspecified=res.misspecified[:, cols], true_task_posterior=res.true_task_posterior[:, cols],
                    tasks=res.tasks, num_episodes=cell.episodes)
    return [out[i] for i in range(len(cells))]


def eps_star_cell(env: Instance, episodes: int) -> tuple[Cell, dict[str, Any]]:
    """eps-BAIL with the bound-optimal ``eps*(T)`` for ``T = episodes``, and its bound at ``T``.

    Returns ``(cell, info)`` with ``info``: ``eps``, ``bound``, ``eta``, ``dmax``, ``c_const``, ``horizon``.
    """
    planner, info = resolve_planner("eps_bail", env, episodes, None, parse_eps("auto"))
    th = theory.theory_for(env, planner, episodes)
    k = th.constants
    return Cell(env, planner, episodes), {"T": episodes, "eps": float(info["eps"]), "bound": float(th.value),
                                          "eta": k["eta"], "dmax": k["dmax"], "c_const": k["c_const"],
                                          "horizon": k["horizon"]}


def final_regret(result: SimulationResult) -> np.ndarray:
    """``[N]`` each seed's cumulative gap regret at the cell's own horizon."""
    return result.gap_regret[:, -1]


def regret_estimate(result: SimulationResult) -> dict[str, Any]:
    """Mean final regret with its SE and 95% interval."""
    e = stats.mean_ci(final_regret(result))
    return {"regret": e.mean, "regret_se": e.se, "regret_ci95": [e.lo, e.hi]}
