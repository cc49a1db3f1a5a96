"""Claim 3: epsilon-greedy exploration on top of BAIL gives sublinear regret on `hard`, under the SPEC 6
bound ``eps T H + H Dmax C / (eps eta)`` (for ``eps`` auto, the anytime schedule and fixed values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import theory
from jaxbail.claims import claim2, claim3_rate
from jaxbail.experiment import parse_eps, resolve_planner, summarize
from jaxbail.instances import hard
from jaxbail.runner import simulate_many

NAME = "claim3"
TITLE = "epsilon-greedy exploration on top of BAIL gives sublinear regret"
SETTINGS: dict[str, dict[str, Any]] = {  # the runs of claim 2, the fixed eps values, the rate across T
    "quick": {**claim2.SETTINGS["quick"], "eps_values": [0.03, 0.1, 0.3], "rate": claim3_rate.SETTINGS["quick"]},
    "full": {**claim2.SETTINGS["full"], "eps_values": [0.01, 0.03, 0.1, 0.3], "rate": claim3_rate.SETTINGS["full"]},
}
HARD = claim2.HARD
SCHEDULES = ("auto", "anytime:1")
"""The schedules drawn and reported; every spec (these and the fixed eps) must stay under its bound."""
RATE_SCHEDULE = "anytime:1"
"""The schedule whose within-run slope is a rate (it does not know T); ``auto``'s within-run slope is not one
(its eps is tuned for the final T, so the slope depends on the fit window) and is reported, not checked."""
SLOPE_MAX = 0.65
"""The upper end of a slope's or exponent's 95% CI must be below this (theory 0.5)."""
CRITERION = (f"the exponent of Reg(T) across T (eps*(T) tuned for each T): 95% CI upper end < {SLOPE_MAX:g} and "
             f"the regret's 95% upper end under the bound at every T; {RATE_SCHEDULE}'s within-run slope 95% CI "
             f"upper end < {SLOPE_MAX:g}; at the run's T, every eps spec (auto, {RATE_SCHEDULE}, fixed) has its "
             "regret's 95% CI upper end <= its bound (auto's within-run slope is reported, not a rate)")


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """epsilon-BAIL with every eps spec as one vmapped batch (common random numbers) on ``hard``."""
    env = hard(**HARD)
    key = jax.random.PRNGKey(settings["seed"])
    specs = list(SCHEDULES) + [str(e) for e in settings["eps_values"]]
    built = [resolve_planner("eps_bail", env, settings["episodes"], None, parse_eps(spec)) for spec in specs]
    results = simulate_many(key, [env] * len(specs), [p for p, _ in built], num_episodes=settings["episodes"],
                            num_seeds=settings["seeds"], progress=progress)
    runs = []
    for (planner, info), result in zip(built, results):
        th = theory.theory_for(env, planner, settings["episodes"])
        summary = summarize(result, planner="eps_bail", th=th, seed=settings["seed"])
        summary["eps"] = info
        runs.append(summary)
    bail_line = theory.theory_for(env, resolve_planner("bail", env, settings["episodes"])[0],
                                  settings["episodes"]).value
    record = {
        "claim": 3, "title": TITLE,
        "instance": {"name": "hard", **HARD}, "runs": runs, "bail_line": bail_line,
        "measured": {s["eps"]["spec"]: {"regret": s["regret_mean"], "regret_ci95": s["regret_ci95"],
                                        "slope": s["slope"], "slope_ci95": s["slope_ci95"]} for s in runs},
        "theory": {s["eps"]["spec"]: {"bound": s["theory"]["value"], "formula": s["theory"]["formula"]} for s in runs},
        "criterion": CRITERION,
        "rate": claim3_rate.run(settings["rate"], progress=progress),
    }
    record["verdict"] = verdict(record)
    return record


def verdict(result: dict[str, Any]) -> str:
    """Supported when the across-T rate holds (:func:`jaxbail.claims.claim3_rate.verdict`), the
    :data:`RATE_SCHEDULE`'s within-run slope CI is below :data:`SLOPE_MAX`, and every spec's regret CI upper
    end is at most its bound."""
    m, th = result["measured"], result["theory"]
    slope = m[RATE_SCHEDULE]["slope_ci95"][1] < SLOPE_MAX
    under = all(m[spec]["regret_ci95"][1] <= th[spec]["bound"] for spec in m)
    rate = claim3_rate.verdict(result["rate"]) == "supported"
    return "supported" if slope and under and rate else "not supported"


def figure(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """The regret panel of the schedules (with their bounds) beside BAIL's exact line, and regret at ``T``
    against fixed eps with the bound and the bound-optimal ``eps*``."""
    from matplotlib.ticker import NullFormatter

    from jaxbail.plot import curve_from_summary, pyplot, regret_panel, save_figure

    runs = result["runs"]
    fig, (ax1, ax2) = pyplot().subplots(1, 2, figsize=(12, 4.4))
    regret_panel(ax1, [curve_from_summary(s, f"eps-BAIL {s['eps']['spec']}: slope {s['slope']:.2f} "
                                             f"[{s['slope_ci95'][0]:.2f}, {s['slope_ci95'][1]:.2f}]")
                       for s in runs[:len(SCHEDULES)]])
    t = np.asarray(runs[0]["curve"]["episodes"], float)
    ax1.plot(t, result["bail_line"] * t / t[-1], color="tab:red", linestyle=":", linewidth=2,
             label="BAIL: its exact line c T (linear; claim 2)")
    ax1.legend(fontsize=7)
    fixed = [s for s in runs if s["eps"]["spec"] not in SCHEDULES]
    eps = np.array([float(s["eps"]["eps"]) for s in fixed])
    mean = np.array([s["regret_mean"] for s in fixed])
    err = np.array([[m - s["regret_ci95"][0], s["regret_ci95"][1] - m] for m, s in zip(mean, fixed)]).T
    ax2.errorbar(eps, mean, yerr=err, marker="o", color="black", capsize=3, label="measured at T (95% CI)")
    ax2.plot(eps, [s["theory"]["value"] for s in fixed], marker="s", linestyle="--", color="0.45",
             label="theory: eps T H + H Dmax C/(eps eta)")
    auto = runs[0]
    ax2.axvline(auto["eps"]["eps"], color="0.6", linestyle=":", label=f"bound-optimal eps* = {auto['eps']['eps']:.3f}")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.set_xlabel("eps (fixed, decided per episode)")
    ax2.set_ylabel(f"cumulative regret at T = {int(t[-1])}")
    ax2.legend(fontsize=7)
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle("Claim 3: epsilon-BAIL's regret on `hard` is sublinear and under the bound", fontsize=10)
    return save_figure(fig, out_dir, "claim3_eps_bail_sublinear_regret") + claim3_rate.figure(result["rate"],
                                                                                               out_dir)


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    parts = []
    for spec in SCHEDULES:
        r = result["measured"][spec]
        parts.append(f"{spec}: regret {r['regret']:.1f} [{r['regret_ci95'][0]:.1f}, {r['regret_ci95'][1]:.1f}], "
                     f"slope {r['slope']:.3f} [{r['slope_ci95'][0]:.3f}, {r['slope_ci95'][1]:.3f}]")
    bounds = "; ".join(f"{spec}: bound {result['theory'][spec]['bound']:.1f}" for spec in SCHEDULES)
    return [{"claim": f"3. {result['title']}", "measured": "; ".join(parts),
             "theory": f"{bounds}; slope 0.5 (BAIL line {result['bail_line']:.0f})",
             "criterion": result["criterion"], "verdict": result["verdict"]},
            *[{**row, "claim": f"3. (rate) {claim3_rate.TITLE}"} for row in claim3_rate.rows(result["rate"])]]
