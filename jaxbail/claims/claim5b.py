"""Claim 5b (SPEC 8): several Actors under one Planner (`coordination`, N = 2 and 3). BAIL over joint
subgoals is linear, on its exact line; epsilon-BAIL is sublinear and under the joint system's bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax

from jaxbail.claims.common import (
    LINE_SE,
    SLOPE_TOL,
    SUBLINEAR_SLOPE_MAX,
    cells_checks,
    cells_panel,
    cells_record,
    cells_rows,
    run_cells,
)
from jaxbail.instances import coordination

NAME = "claim5b"
TITLE = "several Actors under one Planner: BAIL linear, epsilon-BAIL sublinear"
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "episodes": 1_000, "seeds": 200, "actors": [2, 3]},
    "full": {"seed": 0, "episodes": 10_000, "seeds": 500, "actors": [2, 3]},
}
COORDINATION = {"num_tasks": 2, "horizon": 3, "prior": [0.6, 0.4], "reveal": 0.5}
EPS = ("auto", "anytime:1")
CRITERION = (f"for each N: bail's per-episode regret within {LINE_SE:g} SE of the exact line and |slope - 1| <= "
             f"{SLOPE_TOL:g}; eps_bail ({', '.join(EPS)}): slope 95% CI upper end < {SUBLINEAR_SLOPE_MAX:g} and "
             "regret 95% CI upper end <= the joint system's bound")


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """BAIL and eps-BAIL on ``coordination`` for each number of Actors in ``settings["actors"]``."""
    key = jax.random.fold_in(jax.random.PRNGKey(settings["seed"]), 6)
    cells = [("bail", None)] + [("eps_bail", spec) for spec in EPS]
    groups, instances = {}, {}
    for n in settings["actors"]:
        env = coordination(num_actors=n, **COORDINATION)
        runs = run_cells(env, cells, settings, key, progress=progress)
        for r in runs:
            r.pop("gap_per_episode")
            r["summary"].update({"num_actors": n, "sizes": env.sizes})
        groups[f"N={n}"] = runs
        instances[f"N={n}"] = {"name": "coordination", "num_actors": n, **COORDINATION, "sizes": env.sizes}
    return cells_record(5, "b", TITLE, instances, groups, CRITERION, {}, {})


def verdict(result: dict[str, Any]) -> str:
    """Supported when every run passes its check (on its exact line, or sublinear under its bound)."""
    return "supported" if all(cells_checks(result).values()) else "not supported"


def figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """One regret panel per number of Actors."""
    from jaxbail.plot import pyplot, save_figure

    groups = list(result["runs"])
    fig, axes = pyplot().subplots(1, len(groups), figsize=(6.2 * len(groups), 4.6), squeeze=False)
    for ax, where in zip(axes[0], groups):
        sizes = result["instances"][where]["sizes"]
        n, g = sizes["N"], sizes["G"]
        cells_panel(ax, result["runs"][where], f"coordination, {where} Actors ({g}^{n} = {g ** n} joint subgoals):\n"
                                               "BAIL linear, eps-BAIL sublinear")
    fig.suptitle("Claim 5b: several Actors under one Planner, measured regret against the exact line and the "
                 "joint system's bound", fontsize=10, y=1.04)
    return save_figure(fig, out_dir, "claim5b_several_actors")


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """One row per number of Actors."""
    return cells_rows(result)
