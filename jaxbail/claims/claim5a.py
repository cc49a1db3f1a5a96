"""Claim 5a (SPEC 8): the LLM as a world model. BAWM (plan in the posterior-mean model) is linear on `hard`
and on `safe_arm` (where its mean-model plan is not BAIL's mixture of experts), each on its exact line;
epsilon-BAWM is sublinear, under the SPEC 6 bound drawn as a reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import stats
from jaxbail.claims.common import (
    LINE_SE,
    SLOPE_TOL,
    SUBLINEAR_SLOPE_MAX,
    cells_checks,
    cells_panel,
    cells_record,
    cells_rows,
    differ,
    run_cells,
)
from jaxbail.experts import compute_experts
from jaxbail.instances import hard, safe_arm

NAME = "claim5a"
TITLE = "the LLM as a world model (BAWM): linear regret, sublinear with exploration"
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "episodes": 1_000, "seeds": 200},
    "full": {"seed": 0, "episodes": 10_000, "seeds": 500},
}
HARD = {"num_tasks": 3, "horizon": 5}
SAFE_ARM = {"num_tasks": 3, "horizon": 5, "safe": 0.6}
EPS = ("auto", "anytime:1")
PLAN_GAP = 0.5
"""On safe_arm, BAWM's prior plan must differ from the experts' prior mixture by more than this somewhere."""
CRITERION = (f"bawm and bail: per-episode regret within {LINE_SE:g} SE of the exact line and |slope - 1| <= "
             f"{SLOPE_TOL:g}; eps_bawm ({', '.join(EPS)}): slope 95% CI upper end < {SUBLINEAR_SLOPE_MAX:g} and "
             f"regret 95% CI upper end <= the SPEC 6 bound; on safe_arm BAWM's plan is not the experts' mixture and "
             f"its paired per-episode regret differs from BAIL's by more than {LINE_SE:g} SE")


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """BAWM and eps-BAWM on ``hard`` and ``safe_arm`` (and BAIL on ``safe_arm``, paired with BAWM)."""
    from jaxbail.planners.bawm import plan_for

    key = jax.random.fold_in(jax.random.PRNGKey(settings["seed"]), 5)
    eps_cells = [("eps_bawm", spec) for spec in EPS]
    hard_env, safe_env = hard(**HARD), safe_arm(**SAFE_ARM)
    hard_runs = run_cells(hard_env, [("bawm", None)] + eps_cells, settings, key, progress=progress)
    safe_runs = run_cells(safe_env, [("bawm", None)] + eps_cells + [("bail", None)], settings, key,
                          progress=progress)
    # what makes safe_arm a second instance: BAWM's prior plan is not the prior mixture of the experts
    prior = np.asarray(safe_env.prior, np.float64)
    plan = np.asarray(plan_for(jax.numpy.asarray(prior / prior.sum(), jax.numpy.float32), safe_env))
    mixture = np.einsum("z,hzsg->hsg", prior, np.asarray(compute_experts(safe_env).policy))
    plan_gap = float(np.abs(plan - mixture).max())
    bawm, bail = safe_runs[0], safe_runs[-1]
    diff = stats.mean_ci(bawm.pop("gap_per_episode") - bail.pop("gap_per_episode"))
    for r in hard_runs + safe_runs:
        r.pop("gap_per_episode", None)
    home = {"bawm_plan": plan[0, 0].tolist(), "bail_mixture": mixture[0, 0].tolist()}
    contrast = {"plan_max_abs_difference": plan_gap, "first_step_at_home": home,
                "bawm_minus_bail_per_episode": diff.mean, "bawm_minus_bail_se": diff.se}
    return cells_record(
        5, "a", TITLE, {"hard": {"name": "hard", **HARD}, "safe_arm": {"name": "safe_arm", **SAFE_ARM}},
        {"hard": hard_runs, "safe_arm": safe_runs}, CRITERION, contrast_checks(contrast),
        {"safe_arm_contrast": contrast,
         "bound_note": "the SPEC 6 bound is derived for eps-BAIL; for eps-BAWM it is drawn as a reference"})


def contrast_checks(contrast: dict[str, Any]) -> dict[str, bool]:
    """The two checks that make ``safe_arm`` a second instance: plan and paired regret differ from BAIL's."""
    return {"safe_arm: bawm plan != bail mixture": contrast["plan_max_abs_difference"] > PLAN_GAP,
            "safe_arm: bawm regret != bail regret": differ(contrast["bawm_minus_bail_per_episode"],
                                                            contrast["bawm_minus_bail_se"])}


def verdict(result: dict[str, Any]) -> str:
    """Supported when every run passes its check and ``safe_arm``'s contrast checks hold."""
    ok = all(cells_checks(result, contrast_checks(result["safe_arm_contrast"])).values())
    return "supported" if ok else "not supported"


def figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Regret panels on ``hard`` and ``safe_arm`` and, on ``safe_arm``, what BAWM and BAIL play at home."""
    from jaxbail.plot import pyplot, save_figure

    fig, (ax1, ax2, ax3) = pyplot().subplots(1, 3, figsize=(17, 4.6), gridspec_kw={"width_ratios": [1, 1, 0.6]})
    cells_panel(ax1, result["runs"]["hard"], "hard: BAWM linear (on its exact line), eps-BAWM sublinear")
    cells_panel(ax2, result["runs"]["safe_arm"], "safe_arm: BAWM and BAIL on different exact lines,\n"
                                                 "eps-BAWM sublinear (bound drawn as a reference)")
    home = result["safe_arm_contrast"]["first_step_at_home"]
    z = result["instances"]["safe_arm"]["num_tasks"]
    ticks = [f"arm {g}" for g in range(z)] + ["probe", "safe arm"]
    x = np.arange(len(ticks))
    ax3.bar(x - 0.2, home["bail_mixture"], width=0.4, color="0.7", edgecolor="black", hatch="//",
            label="BAIL: prior mixture of the experts")
    ax3.bar(x + 0.2, home["bawm_plan"], width=0.4, color="black", label="BAWM: plan in the prior-mean model")
    ax3.set_xticks(x, ticks, fontsize=8)
    ax3.set_ylim(0, 1.15)
    ax3.set_ylabel("subgoal probability (step 1, at home)")
    ax3.set_title(f"safe_arm (safe arm pays {result['instances']['safe_arm']['safe']:g} in every task):\n"
                  "what each planner plays before any evidence", fontsize=9)
    ax3.legend(fontsize=7, loc="upper left")
    fig.suptitle("Claim 5a: the LLM as a world model (BAWM), measured regret against the exact lines and bounds",
                 fontsize=10)
    return save_figure(fig, out_dir, "claim5a_world_model_bawm")


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """One row per instance; ``safe_arm``'s also reports the paired BAWM - BAIL difference."""
    k = result["safe_arm_contrast"]
    return cells_rows(result, {"safe_arm": (
        f"; bawm - bail (paired) {k['bawm_minus_bail_per_episode']:.4f} +- {k['bawm_minus_bail_se']:.4f} per episode",
        "; BAWM's prior plan (the safe arm) is not the experts' mixture")})
