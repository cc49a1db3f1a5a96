"""Claim 2: naively following BAIL can give linear regret. On `hard` the experts' subgoals never move the
posterior, so BAIL is a fixed mixture policy and its regret is exactly the line ``c T`` from policy
evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import stats, theory
from jaxbail.claims.common import LINE_SE, SLOPE_TOL
from jaxbail.experiment import resolve_planner, summarize
from jaxbail.instances import hard
from jaxbail.runner import simulate

NAME = "claim2"
TITLE = "naively following BAIL can give linear regret"
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "episodes": 1_000, "seeds": 300},
    "full": {"seed": 0, "episodes": 10_000, "seeds": 2_000},
}
HARD = {"num_tasks": 3, "horizon": 5}
CRITERION = f"measured per-episode regret within {LINE_SE:g} SE of the exact line and |slope - 1| <= {SLOPE_TOL:g}"


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """BAIL on ``hard``: its per-episode regret and log-log slope against the exact line."""
    env = hard(**HARD)
    t_total = settings["episodes"]
    planner, _ = resolve_planner("bail", env, t_total)
    result = simulate(jax.random.PRNGKey(settings["seed"]), env, planner, num_episodes=t_total,
                      num_seeds=settings["seeds"], progress=progress)
    th = theory.theory_for(env, planner, t_total)
    summary = summarize(result, planner="bail", th=th, seed=settings["seed"])
    summary["eps"] = None
    per_episode = stats.mean_ci(result.gap_regret[:, -1] / t_total)
    exact = th.per_episode
    record = {
        "claim": 2, "title": TITLE,
        "instance": {"name": "hard", **HARD}, "run": summary,
        "measured": {"per_episode_regret": per_episode.mean, "per_episode_regret_se": per_episode.se,
                     "slope": summary["slope"], "slope_ci95": summary["slope_ci95"]},
        "theory": {"per_episode_regret": exact, "slope": 1.0,
                   "why": "the experts' subgoals never move the posterior, so BAIL is a fixed mixture policy"},
        "criterion": CRITERION,
    }
    record["verdict"] = verdict(record)
    return record


def verdict(result: dict[str, Any]) -> str:
    """Supported when the measured per-episode regret is within ``LINE_SE`` SE of the exact line and the
    slope within ``SLOPE_TOL`` of 1."""
    m = result["measured"]
    ok = (abs(m["per_episode_regret"] - result["theory"]["per_episode_regret"]) <= LINE_SE * m["per_episode_regret_se"]
          and abs(m["slope"] - 1.0) <= SLOPE_TOL)
    return "supported" if ok else "not supported"


def figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """The regret panel (measured against the exact line) and the per-episode regret against ``c``."""
    from jaxbail.plot import curve_from_summary, pyplot, regret_panel, save_figure

    run, c = result["run"], result["theory"]["per_episode_regret"]
    fig, (ax1, ax2) = pyplot().subplots(1, 2, figsize=(11, 4.2))
    regret_panel(ax1, [curve_from_summary(run, f"BAIL measured, slope {run['slope']:.3f}")], guide=False)
    t = np.asarray(run["curve"]["episodes"], float)
    cum = np.asarray(run["curve"]["regret_mean"])
    window = np.diff(np.concatenate([[0.0], cum])) / np.diff(np.concatenate([[0.0], t]))
    ax2.plot(t, window, color="black", marker="o", markersize=3, label="measured per-episode regret")
    ax2.axhline(c, linestyle=":", color="0.4", linewidth=2, label=f"theory c = {c:.4f}")
    ax2.set_xscale("log")
    ax2.set_ylim(0, 1.25 * max(np.nanmax(window), c))
    ax2.set_xlabel("episode t")
    ax2.set_ylabel("mean regret per episode\n(between logged points)")
    ax2.legend(fontsize=8)
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle("Claim 2: BAIL's regret on `hard` is linear, on the exact line", fontsize=10)
    return save_figure(fig, out_dir, "claim2_bail_linear_regret")


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    m = result["measured"]
    return [{"claim": f"2. {result['title']}",
             "measured": f"{m['per_episode_regret']:.4f} +- {m['per_episode_regret_se']:.4f} per episode; slope "
                         f"{m['slope']:.3f} [{m['slope_ci95'][0]:.3f}, {m['slope_ci95'][1]:.3f}]",
             "theory": f"{result['theory']['per_episode_regret']:.4f} per episode; slope 1",
             "criterion": result["criterion"], "verdict": result["verdict"]}]
