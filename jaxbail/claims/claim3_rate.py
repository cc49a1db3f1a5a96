"""Claim 3, the rate: eps-BAIL's final regret with ``eps*(T)`` tuned for each horizon ``T``, fitted
across a log grid of ``T`` (the exponent of the theory's ``sqrt(T)``), beside the bound's own exponent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import theory
from jaxbail.claims._rates import Cell, eps_star_cell, final_regret, loglog_exponent, power_law_fit, run_cells
from jaxbail.experiment import parse_eps, resolve_planner, summarize
from jaxbail.instances import hard

NAME = "claim3_rate"
TITLE = "epsilon-BAIL with eps tuned for each horizon: regret grows as T^(1/2), under the bound"
HARD = {"num_tasks": 3, "horizon": 5}
EXPONENT_MAX = 0.65
"""Supported when the upper end of the exponent's 95% interval is below this (theory: 0.5)."""


def horizon_grid(low: float, high: float, num: int) -> list[int]:
    """``num`` integer horizons log-spaced from ``low`` to ``high`` (distinct, sorted)."""
    grid = sorted({int(round(t)) for t in np.logspace(np.log10(low), np.log10(high), num)})
    if len(grid) != num:
        raise ValueError(f"horizon_grid: {num} log-spaced integers in [{low}, {high}] are not distinct")
    return grid


SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "horizons": horizon_grid(1e2, 1e5, 7), "seeds": 64, "batch": 4, "anytime": 1.0,
              "bootstrap": 2000},
    "full": {"seed": 0, "horizons": horizon_grid(1e2, 1e5, 10), "seeds": 500, "batch": 4, "anytime": 1.0,
             "bootstrap": 2000},
}


def run(settings: dict, *, progress: bool = False) -> dict:
    """eps-BAIL on ``hard`` at each ``T`` of the grid with its own ``eps*(T)``, plus ``anytime:c`` at the
    largest ``T`` for its within-run slope; all cells share the seeds (paired)."""
    env = hard(**HARD)
    horizons = [int(t) for t in settings["horizons"]]
    cells, infos = [], []
    for t in horizons:
        cell, info = eps_star_cell(env, t)
        cells.append(cell)
        infos.append(info)
    anytime_spec = f"anytime:{settings['anytime']:g}"
    anytime, _ = resolve_planner("eps_bail", env, horizons[-1], None, parse_eps(anytime_spec))
    cells.append(Cell(env, anytime, horizons[-1]))
    results = run_cells(jax.random.PRNGKey(settings["seed"]), cells, num_seeds=settings["seeds"],
                        batch=settings["batch"], progress=progress)
    per_seed = np.stack([final_regret(r) for r in results[:-1]], axis=1)  # [N, K]
    fit = power_law_fit(horizons, per_seed, num_bootstrap=settings["bootstrap"], seed=settings["seed"])
    bounds = [info["bound"] for info in infos]
    mean = per_seed.mean(axis=0)
    se = per_seed.std(axis=0, ddof=1) / np.sqrt(per_seed.shape[0])
    th = theory.theory_for(env, anytime, horizons[-1])
    within = summarize(results[-1], planner="eps_bail", th=th, seed=settings["seed"])
    return {
        "instance": {"name": "hard", **HARD},
        "seeds": int(settings["seeds"]),
        "horizons": horizons,
        "eps_star": [info["eps"] for info in infos],
        "constants": {k: infos[0][k] for k in ("eta", "dmax", "c_const", "horizon")},
        "regret_mean": mean.tolist(),
        "regret_se": se.tolist(),
        "regret_ci95_hi": (mean + 1.959963984540054 * se).tolist(),
        "bound": bounds,
        **fit.to_json(),
        "bound_exponent": loglog_exponent(horizons, bounds),
        "anytime": {"spec": anytime_spec, "T": horizons[-1], "slope": within["slope"],
                    "slope_ci95": within["slope_ci95"], "slope_range": within["slope_range"],
                    "regret": within["regret_mean"], "regret_ci95": within["regret_ci95"],
                    "bound": th.value, "curve": within["curve"]},
    }


def verdict(result: dict) -> str:
    """``supported`` when the exponent's 95% interval lies below ``EXPONENT_MAX`` and the measured regret's
    95% upper end is under the bound at every ``T``."""
    lo, hi = result["exponent_ci95"]
    if hi is None or not hi < EXPONENT_MAX:
        return "not supported"
    under = all(m is not None and b is not None and m <= b for m, b in zip(result["regret_ci95_hi"], result["bound"]))
    return "supported" if under else "not supported"


def figure(result: dict, out_dir: Path) -> list[Path]:
    from jaxbail.plot import pyplot

    plt = pyplot()
    t = np.asarray(result["horizons"], float)
    mean, se = np.asarray(result["regret_mean"]), np.asarray(result["regret_se"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    lo, hi = result["exponent_ci95"]
    ax1.errorbar(t, mean, yerr=1.96 * se, color="black", marker="o", capsize=3,
                 label=f"measured Reg(T), eps*(T) each: exponent {result['exponent']:.3f} [{lo:.3f}, {hi:.3f}]")
    ax1.plot(t, result["bound"], color="0.45", linestyle="--", marker="s",
             label=f"bound at eps*(T): exponent {result['bound_exponent']:.3f}")
    ax1.plot(t, result["prefactor"] * t ** result["exponent"], color="0.6", linestyle=":", label="fitted power law")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("horizon T (a separate run for each, eps tuned for that T)")
    ax1.set_ylabel("final regret Reg(T) (mean, 95% CI)")
    ax1.grid(True, which="both", alpha=0.25)
    ax1.legend(fontsize=7)
    ax1.set_title("across T: the rate of the theory", fontsize=9)
    a = result["anytime"]
    c = a["curve"]
    ct = np.asarray(c["episodes"], float)
    ax2.plot(ct, c["regret_mean"], color="black",
             label=f"eps-BAIL {a['spec']}: within-run slope {a['slope']:.3f} "
                   f"[{a['slope_ci95'][0]:.3f}, {a['slope_ci95'][1]:.3f}]")
    ax2.fill_between(ct, c["regret_lo"], c["regret_hi"], color="black", alpha=0.2, linewidth=0)
    if c["theory"] is not None:
        ax2.plot(ct, c["theory"], color="0.45", linestyle="--", label="its upper bound")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_ylim(bottom=0.5)
    ax2.set_xlabel("episodes t (one run)")
    ax2.set_ylabel("cumulative regret (mean, 95% CI)")
    ax2.grid(True, which="both", alpha=0.25)
    ax2.legend(fontsize=7)
    ax2.set_title("within one run: a decaying schedule's rate", fontsize=9)
    fig.suptitle(f"Claim 3 (rate): eps-BAIL on `hard`, {result['seeds']} seeds per T", fontsize=10)
    from jaxbail.plot import save_figure

    return save_figure(fig, Path(out_dir), "claim3_rate_across_T")


def rows(result: dict) -> list[dict]:
    lo, hi = result["exponent_ci95"]
    a = result["anytime"]
    t = result["horizons"]
    ratio = [m / b for m, b in zip(result["regret_ci95_hi"], result["bound"])]
    return [{
        "claim": "3", "name": NAME, "title": TITLE,
        "measured": (f"exponent of Reg(T) across T = {t[0]}..{t[-1]} ({len(t)} horizons, eps*(T) each): "
                     f"{result['exponent']:.3f} [{lo:.3f}, {hi:.3f}]; regret's 95% upper end / bound from "
                     f"{min(ratio):.2f} to {max(ratio):.2f}; "
                     f"{a['spec']} within-run slope {a['slope']:.3f} [{a['slope_ci95'][0]:.3f}, "
                     f"{a['slope_ci95'][1]:.3f}]"),
        "theory": f"exponent 0.5; the bound's own exponent on this grid {result['bound_exponent']:.3f}",
        "criterion": f"exponent 95% CI below {EXPONENT_MAX} and the regret's 95% upper end under the bound at every T",
        "verdict": verdict(result),
        "exponent": result["exponent"], "exponent_ci95": result["exponent_ci95"],
    }]
