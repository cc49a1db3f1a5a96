"""Claim 1: a perfectly pretrained LLM does BAIL. Expert-label frequencies given a history prefix in sampled
pretraining data converge to BAIL's distribution at that prefix, at the sampling rate ``N^-1/2``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import stats
from jaxbail.instances import random_instance
from jaxbail.pretraining import bail_along, sample_episodes

NAME = "claim1"
TITLE = "a perfectly pretrained LLM does BAIL (in-context Bayesian imitation)"
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "sizes": [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000], "replicates": 4,
              "heldout": 5_000},
    "full": {"seed": 0, "sizes": [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000],
             "replicates": 8, "heldout": 20_000},
}
INSTANCE = {"seed": 1, "num_tasks": 3, "num_states": 3, "num_subgoals": 2, "horizon": 3}
SLOPE_RANGE = (-0.65, -0.35)
"""The 95% CI of the TV's log-log slope must lie within this range (theory: -0.5)."""
CRITERION = (f"mean TV decreases at every N and the 95% CI of its log-log slope lies within "
             f"[{SLOPE_RANGE[0]:g}, {SLOPE_RANGE[1]:g}]")


def prefix_codes(observations: np.ndarray, subgoals: np.ndarray, num_obs: int, num_subgoals: int) -> np.ndarray:
    """``[N, H]`` an integer per decision-time history prefix ``(o_1, g_1, ..., o_h)`` (distinct across h)."""
    n, horizon = subgoals.shape
    codes = np.empty((n, horizon), np.int64)
    code = observations[:, 0].astype(np.int64)
    for h in range(horizon):
        codes[:, h] = code * horizon + h
        code = (code * num_subgoals + subgoals[:, h]) * num_obs + observations[:, h + 1]
    return codes


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Mean TV between the label frequencies of ``N`` sampled trajectories and BAIL, on held-out prefixes."""
    inst = random_instance(**{k: v for k, v in INSTANCE.items() if k != "seed"},
                           key=jax.random.PRNGKey(INSTANCE["seed"]))
    key = jax.random.PRNGKey(settings["seed"])
    g_count, o_count = inst.num_subgoals, inst.num_observations
    held = sample_episodes(jax.random.fold_in(key, 10_000), inst, settings["heldout"])
    bail = np.asarray(bail_along(inst, held), np.float64)  # [M, H, G]
    held_codes = prefix_codes(np.asarray(held.observations), np.asarray(held.subgoals), o_count, g_count)
    sizes = settings["sizes"]
    tv = np.zeros((settings["replicates"], len(sizes)))
    for r in range(settings["replicates"]):
        train = sample_episodes(jax.random.fold_in(key, r), inst, max(sizes))
        codes = prefix_codes(np.asarray(train.observations), np.asarray(train.subgoals), o_count, g_count)
        labels = np.asarray(train.labels)
        size = int(max(codes.max(), held_codes.max())) + 1
        for j, n in enumerate(sizes):
            counts = np.bincount((codes[:n] * g_count + labels[:n]).ravel(), minlength=size * g_count)
            counts = counts.reshape(size, g_count).astype(np.float64)
            totals = counts.sum(axis=1, keepdims=True)
            freq = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1.0 / g_count)
            tv[r, j] = np.mean(0.5 * np.abs(freq[held_codes] - bail).sum(axis=-1))
    log_n = np.log(np.asarray(sizes, np.float64))
    x = log_n - log_n.mean()
    slopes = (np.log(tv) - np.log(tv).mean(axis=1, keepdims=True)) @ x / (x @ x)
    slope = stats.mean_ci(slopes)
    mean_tv = tv.mean(axis=0)
    record = {
        "claim": 1, "title": TITLE,
        "instance": {"name": "random", **INSTANCE},
        "sizes": sizes, "tv_mean": mean_tv.tolist(), "tv_per_replicate": tv.tolist(),
        "measured": {"tv_slope": slope.mean, "tv_slope_ci95": [slope.lo, slope.hi],
                     "tv_at_largest_N": float(mean_tv[-1])},
        "theory": {"tv_slope": -0.5, "why": "label frequencies given a prefix estimate P(expert label | prefix) = "
                   "BAIL(prefix) at the sampling rate N^-1/2"},
        "criterion": CRITERION,
    }
    record["verdict"] = verdict(record)
    return record


def verdict(result: dict[str, Any]) -> str:
    """Supported when the mean TV decreases at every ``N`` and the slope's CI lies within :data:`SLOPE_RANGE`."""
    lo, hi = result["measured"]["tv_slope_ci95"]
    decreasing = bool(np.all(np.diff(np.asarray(result["tv_mean"])) < 0))
    return "supported" if decreasing and lo >= SLOPE_RANGE[0] and hi <= SLOPE_RANGE[1] else "not supported"


def figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Mean TV (95% CI over replicates) against ``N`` on log-log axes, with the ``N^-1/2`` rate."""
    from jaxbail.plot import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(6.4, 4.4))
    sizes = np.asarray(result["sizes"], float)
    tv = np.asarray(result["tv_per_replicate"])
    mean = tv.mean(axis=0)
    se = tv.std(axis=0, ddof=1) / np.sqrt(tv.shape[0])
    m = result["measured"]
    ax.errorbar(sizes, mean, yerr=stats.Z95 * se, color="black", marker="o", capsize=3,
                label=f"measured: slope {m['tv_slope']:.3f} [{m['tv_slope_ci95'][0]:.3f}, {m['tv_slope_ci95'][1]:.3f}]")
    ax.plot(sizes, mean[0] * (sizes / sizes[0]) ** -0.5, linestyle="--", color="0.5", label="theory: N^(-1/2)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pretraining trajectories N")
    ax.set_ylabel("mean TV(label frequency | prefix, BAIL)\non held-out prefixes (95% CI)")
    ax.set_title("Claim 1: expert-label frequencies converge to BAIL", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "claim1_pretraining_converges_to_bail")


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    m = result["measured"]
    return [{"claim": f"1. {result['title']}",
             "measured": f"TV slope {m['tv_slope']:.3f} [{m['tv_slope_ci95'][0]:.3f}, {m['tv_slope_ci95'][1]:.3f}]; "
                         f"TV {m['tv_at_largest_N']:.4f} at N = {result['sizes'][-1]:,}",
             "theory": "slope -0.5", "criterion": result["criterion"], "verdict": result["verdict"]}]
