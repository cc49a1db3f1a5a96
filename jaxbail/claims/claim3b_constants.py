"""Claim 3b, the bound's constants: at a fixed ``T`` with ``eps*``, eps-BAIL's regret against ``eta``
(the probe's ``reveal``), against ``H``, and against the prior's ``C`` (through ``Z`` and through skew),
each with the fitted exponent of the measured regret beside the bound's on the same grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail.claims._rates import eps_star_cell, final_regret, loglog_exponent, power_law_fit, run_cells
from jaxbail.instances import hard

NAME = "claim3b_constants"
TITLE = "the epsilon-BAIL bound's constants: regret against eta, H and the prior's C, measured beside the bound"
BASE = {"num_tasks": 3, "horizon": 5}
DIRECTIONS = ("eta", "H", "C_Z", "C_skew")
LABELS = {"eta": "distinguishability eta (probe reveal q)", "H": "horizon H (steps per episode)",
          "C_Z": "C through Z (uniform prior, C = Z - 1)", "C_skew": "C through the prior's skew (Z = 3)"}

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "episodes": 2000, "seeds": 64, "reveal": [1.0, 0.5, 0.25, 0.125, 0.0625],
              "horizon": [2, 5, 10], "num_tasks": [2, 3, 5], "skew": [2 / 3, 0.3, 0.1, 0.03], "bootstrap": 2000},
    "full": {"seed": 0, "episodes": 20_000, "seeds": 300, "reveal": [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125],
             "horizon": [2, 3, 5, 8, 13], "num_tasks": [2, 3, 4, 6, 8], "skew": [2 / 3, 0.4, 0.2, 0.1, 0.05, 0.02],
             "bootstrap": 2000},
}


def skewed_prior(a: float, num_tasks: int = 3) -> list[float]:
    """``(1 - a, a / (Z - 1), ..., a / (Z - 1))``: uniform at ``a = (Z - 1) / Z``, concentrated as ``a -> 0``."""
    return [1.0 - a] + [a / (num_tasks - 1)] * (num_tasks - 1)


def _instances(settings: dict) -> dict[str, list[tuple[float, Any]]]:
    """Per direction ``[(grid label, instance)]``."""
    z, h = BASE["num_tasks"], BASE["horizon"]
    return {
        "eta": [(q, hard(z, h, reveal=q)) for q in settings["reveal"]],
        "H": [(hh, hard(z, hh)) for hh in settings["horizon"]],
        "C_Z": [(zz, hard(zz, h)) for zz in settings["num_tasks"]],
        "C_skew": [(a, hard(z, h, prior=skewed_prior(a, z))) for a in settings["skew"]],
    }


def run(settings: dict, *, progress: bool = False) -> dict:
    """All four directions' cells, each eps-BAIL at ``eps*`` for ``T = episodes``, run in as few batches as
    their sizes allow (same seeds everywhere)."""
    t_total = int(settings["episodes"])
    plan = _instances(settings)
    cells, infos, where = [], [], []
    for direction, items in plan.items():
        for label, env in items:
            cell, info = eps_star_cell(env, t_total)
            cells.append(cell)
            infos.append({**info, "grid": label})
            where.append(direction)
    results = run_cells(jax.random.PRNGKey(settings["seed"]), cells, num_seeds=settings["seeds"], batch=32,
                        progress=progress)
    out: dict[str, Any] = {"T": t_total, "seeds": int(settings["seeds"]), "base": {"name": "hard", **BASE},
                           "directions": {}}
    for direction in DIRECTIONS:
        idx = [i for i, d in enumerate(where) if d == direction]
        key = {"eta": "eta", "H": "horizon", "C_Z": "c_const", "C_skew": "c_const"}[direction]
        x = np.asarray([infos[i][key] for i in idx], float)
        per_seed = np.stack([final_regret(results[i]) for i in idx], axis=1)
        mean = per_seed.mean(axis=0)
        se = per_seed.std(axis=0, ddof=1) / math.sqrt(per_seed.shape[0])
        bounds = [infos[i]["bound"] for i in idx]
        fit = power_law_fit(x, per_seed, num_bootstrap=settings["bootstrap"], seed=settings["seed"])
        out["directions"][direction] = {
            "x": x.tolist(), "grid": [infos[i]["grid"] for i in idx],
            "eps_star": [infos[i]["eps"] for i in idx], "eta": [infos[i]["eta"] for i in idx],
            "c_const": [infos[i]["c_const"] for i in idx], "horizon": [infos[i]["horizon"] for i in idx],
            "regret_mean": mean.tolist(), "regret_se": se.tolist(), "bound": bounds,
            "looseness": (np.asarray(bounds) / mean).tolist(),
            **fit.to_json(), "bound_exponent": loglog_exponent(x, bounds),
        }
    return out


def _sentence(direction: str, d: dict) -> str:
    lo, hi = d["exponent_ci95"]
    name = {"eta": "eta", "H": "H", "C_Z": "C (through Z)", "C_skew": "C (through the prior's skew)"}[direction]
    sym = name.split(" ")[0]
    loose = np.asarray(d["looseness"])
    x = np.asarray(d["x"])
    inside = lo <= d["bound_exponent"] <= hi
    if inside:
        shape = "the same power as the bound's (inside the measured 95% interval)"
    elif d["bound_exponent"] > hi:
        shape = "a smaller power than the bound's: the bound grows faster than the regret"
    else:
        shape = "a larger power than the bound's: the bound grows slower than the regret"
    return (f"Against {name}, measured regret ~ {sym}^{d['exponent']:.2f} [{lo:.2f}, {hi:.2f}] "
            f"and the bound ~ {sym}^{d['bound_exponent']:.2f}: {shape}; the bound is {loose.min():.1f}x to "
            f"{loose.max():.1f}x the regret, loosest at {sym} = {x[int(np.argmax(loose))]:.3g}.")


def verdict(result: dict) -> str:
    """``supported`` when the measured mean regret is under the bound at every grid point of every direction
    (the exponents are reported beside each other, not judged)."""
    bad = [f"{d} = {x:.3g}" for d, r in result["directions"].items()
           for x, m, b in zip(r["x"], r["regret_mean"], r["bound"]) if not m <= b]
    return "supported" if not bad else "not supported"


def sentences(result: dict) -> list[str]:
    return [_sentence(d, result["directions"][d]) for d in DIRECTIONS]


def figure(result: dict, out_dir: Path) -> list[Path]:
    from matplotlib.ticker import NullFormatter

    from jaxbail.plot import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(18, 7.2), gridspec_kw={"height_ratios": [1.6, 1]}, sharex="col")
    for j, direction in enumerate(DIRECTIONS):
        d = result["directions"][direction]
        x, mean, se = np.asarray(d["x"]), np.asarray(d["regret_mean"]), np.asarray(d["regret_se"])
        order = np.argsort(x)
        ax = axes[0, j]
        lo, hi = d["exponent_ci95"]
        ax.errorbar(x[order], mean[order], yerr=1.96 * se[order], color="black", marker="o", capsize=3,
                    label=f"measured: exponent {d['exponent']:.2f} [{lo:.2f}, {hi:.2f}]")
        ax.plot(x[order], np.asarray(d["bound"])[order], color="0.45", linestyle="--", marker="s",
                label=f"bound: exponent {d['bound_exponent']:.2f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(LABELS[direction], fontsize=9)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
        if j == 0:
            ax.set_ylabel(f"Reg(T = {result['T']}) at eps* (mean, 95% CI)")
        ax = axes[1, j]
        ax.plot(x[order], np.asarray(d["looseness"])[order], color="black", marker="D")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.25)
        ax.set_xlabel({"eta": "eta", "H": "H", "C_Z": "C (Z = C + 1)", "C_skew": "C"}[direction])
        if j == 0:
            ax.set_ylabel("bound / measured regret\n(how loose the bound is)")
    fig.suptitle(f"Claim 3b: eps-BAIL on `hard` at T = {result['T']} with eps* per cell, {result['seeds']} seeds: "
                 "the bound's dependence on its constants against the measured one", fontsize=10)
    from jaxbail.plot import save_figure

    return save_figure(fig, Path(out_dir), "claim3b_bound_constants")


def rows(result: dict) -> list[dict]:
    parts = []
    for direction in DIRECTIONS:
        d = result["directions"][direction]
        lo, hi = d["exponent_ci95"]
        parts.append(f"{direction}: {d['exponent']:.2f} [{lo:.2f}, {hi:.2f}] vs bound {d['bound_exponent']:.2f}")
    return [{
        "claim": "3b", "name": NAME, "title": TITLE,
        "measured": "exponents of measured regret: " + "; ".join(parts),
        "theory": "the bound's exponents on the same grids (right of each 'vs'); " + " ".join(sentences(result)),
        "criterion": "the measured mean regret is under the bound at every grid point (exponents are reported, "
                     "not judged)",
        "verdict": verdict(result),
        "exponents": {d: {"measured": result["directions"][d]["exponent"],
                          "measured_ci95": result["directions"][d]["exponent_ci95"],
                          "bound": result["directions"][d]["bound_exponent"]} for d in DIRECTIONS},
    }]
