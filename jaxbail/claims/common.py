"""What several claims share: the checks a run's numbers must pass, and the runs of a list of planner cells
with each run's check (claim 5 and any claim measured as "every run on its exact line or under its bound")."""

from __future__ import annotations

from typing import Any

import jax

from jaxbail import stats, theory
from jaxbail.experiment import parse_eps, resolve_planner, summarize
from jaxbail.runner import simulate_many

__all__ = ["LINE_SE", "SLOPE_TOL", "SUBLINEAR_SLOPE_MAX", "on_exact_line", "sublinear_under_bound", "differ",
           "run_cells", "run_check", "cells_record", "cells_checks", "cells_rows", "cells_panel", "PLANNER_NAMES"]

LINE_SE = 4.0
"""An exact line holds when the measured per-episode regret is within this many standard errors of it."""
SLOPE_TOL = 0.05
"""Linear: ``|slope - 1| <= SLOPE_TOL``."""
SUBLINEAR_SLOPE_MAX = 1.0
"""Sublinear: the upper end of the slope's 95% CI is below this."""
PLANNER_NAMES = {"bail": "BAIL", "bawm": "BAWM", "eps_bail": "eps-BAIL", "eps_bawm": "eps-BAWM"}
"""How figures name planners."""


def on_exact_line(per_episode: float, se: float, exact: float, slope: float, *, k: float = LINE_SE,
                  slope_tol: float = SLOPE_TOL) -> bool:
    """Linear regret on its exact line: ``|mean - exact| <= k SE`` and ``|slope - 1| <= slope_tol``.

    The tolerance also allows float32 rounding (``1e-6`` relative), for runs whose regret is the same
    in every seed (``SE = 0``). NaN anywhere gives ``False``.
    """
    tol = k * se + 1e-6 * max(1.0, abs(exact))
    return bool(abs(per_episode - exact) <= tol and abs(slope - 1.0) <= slope_tol)


def sublinear_under_bound(slope_hi: float, regret_hi: float, bound: float | None, *,
                          slope_max: float = SUBLINEAR_SLOPE_MAX) -> bool:
    """Sublinear and under its bound: slope 95% CI upper end ``< slope_max`` and regret 95% CI upper end
    ``<= bound`` (``False`` without a bound or with NaN)."""
    if bound is None or slope_hi is None or regret_hi is None:
        return False
    return bool(slope_hi < slope_max and regret_hi <= bound)


def differ(diff_mean: float, diff_se: float, *, k: float = LINE_SE) -> bool:
    """Two planners' regrets differ: the paired per-episode difference is more than ``k`` SE from 0."""
    return bool(abs(diff_mean) > k * diff_se)


def run_check(measured: dict[str, Any], line: dict[str, Any]) -> bool:
    """One run's check from its numbers: on its exact line (:func:`on_exact_line`), sublinear under its bound
    (:func:`sublinear_under_bound`), or, without theory, linear (``|slope - 1| <= SLOPE_TOL``)."""
    if line["kind"] == "exact_line":
        return on_exact_line(measured["per_episode_regret"], measured["per_episode_regret_se"],
                             line["per_episode_regret"], measured["slope"])
    if line["kind"] == "upper_bound":
        return sublinear_under_bound(measured["slope_ci95"][1], measured["regret_ci95"][1], line["value"])
    return bool(abs(measured["slope"] - 1.0) <= SLOPE_TOL)


def run_cells(env, cells: list[tuple[str, str | None]], settings: dict[str, Any], key, *,
              progress: bool = False) -> list[dict[str, Any]]:
    """Run ``(planner name, eps spec)`` cells on ``env`` for ``settings["episodes"]`` episodes x
    ``settings["seeds"]`` seeds, in as few vmapped batches as their structures allow (``bail``/``bawm`` run
    as the epsilon wrapper at ``eps = 0``, which plays exactly what they play, so they batch with
    ``eps_bail``/``eps_bawm``); all cells share the seeds' tasks and noise.

    Returns one dict per cell: ``summary`` (:func:`~jaxbail.experiment.summarize` plus ``instance``, ``eps``
    and ``label``), ``measured``, ``theory`` (the exact line, the bound, or ``kind: None`` with the note),
    ``check`` (:func:`run_check`) and ``gap_per_episode`` (per seed, for paired differences; pop it before
    writing JSON).
    """
    from jaxbail.planners import PLANNERS, epsilon_greedy

    t_total, seeds = settings["episodes"], settings["seeds"]
    built = []
    for name, spec in cells:
        planner, info = resolve_planner(name, env, t_total, None, None if spec is None else parse_eps(spec))
        built.append((name, spec, planner, epsilon_greedy(planner, 0.0) if PLANNERS[name].batches_with_eps else planner,
                      info))
    groups: dict[Any, list[int]] = {}
    for i, cell in enumerate(built):
        groups.setdefault(jax.tree.structure(cell[3]), []).append(i)
    results: dict[int, Any] = {}
    for members in groups.values():
        batch = simulate_many(key, [env] * len(members), [built[i][3] for i in members], num_episodes=t_total,
                              num_seeds=seeds, progress=progress)
        results.update(zip(members, batch))
    runs = []
    for i, (name, spec, planner, _, info) in enumerate(built):
        result = results[i]
        th = theory.theory_for(env, planner, t_total)
        summary = summarize(result, planner=name, th=th, seed=settings["seed"])
        summary.update({"instance": env.name, "eps": info, "label": name if spec is None else f"{name} {spec}"})
        per_episode = stats.mean_ci(result.gap_regret[:, -1] / t_total)
        measured = {"regret": summary["regret_mean"], "regret_ci95": summary["regret_ci95"],
                    "per_episode_regret": per_episode.mean, "per_episode_regret_se": per_episode.se,
                    "slope": summary["slope"], "slope_ci95": summary["slope_ci95"]}
        if th.kind == "exact_line":
            line = {"kind": "exact_line", "per_episode_regret": th.per_episode, "value": th.value}
        elif th.kind == "upper_bound":
            line = {"kind": "upper_bound", "value": th.value, "formula": th.formula, "note": th.note}
        else:  # no theory: linear is all that is checked, and the note says why there is no line
            line = {"kind": None, "note": th.note}
        runs.append({"summary": summary, "measured": measured, "theory": line, "check": run_check(measured, line),
                     "gap_per_episode": result.gap_regret[:, -1] / t_total})
    return runs


def cells_checks(result: dict[str, Any], extra: dict[str, bool] | None = None) -> dict[str, bool]:
    """``"<group>: <label>" -> check`` for every run of a :func:`cells_record`, recomputed from its numbers
    (:func:`run_check`), then ``extra``."""
    checks = {f"{where}: {label}": run_check(m, result["theory"][where][label])
              for where, runs in result["measured"].items() for label, m in runs.items()}
    checks.update(extra or {})
    return checks


def cells_record(claim: int, part: str, title: str, instances: dict, groups: dict[str, list[dict]],
                 criterion: str, extra_checks: dict[str, bool], extra: dict[str, Any]) -> dict[str, Any]:
    """A claim's record from groups (e.g. per instance) of :func:`run_cells` runs: their summaries, measured
    numbers and theory as ``{group: {label: ...}}``, ``extra`` fields, the checks (each run's, then
    ``extra_checks``) and the verdict (all checks pass)."""
    def table(field):
        return {where: {run["summary"]["label"]: run[field] for run in runs} for where, runs in groups.items()}

    record = {
        "claim": claim, "part": part, "title": title, "instances": instances,
        "runs": {where: [run["summary"] for run in runs] for where, runs in groups.items()},
        "measured": table("measured"), "theory": table("theory"),
        **extra, "criterion": criterion,
    }
    record["checks"] = cells_checks(record, extra_checks)
    record["verdict"] = "supported" if all(record["checks"].values()) else "not supported"
    return record


def _fmt_run(label: str, m: dict[str, Any], th: dict[str, Any]) -> tuple[str, str]:
    """(measured, theory) cells of one run."""
    slope = f"slope {m['slope']:.3f} [{m['slope_ci95'][0]:.3f}, {m['slope_ci95'][1]:.3f}]"
    if th["kind"] == "exact_line":
        return (f"{label}: {m['per_episode_regret']:.4f} +- {m['per_episode_regret_se']:.4f} per episode, {slope}",
                f"{label}: {th['per_episode_regret']:.4f} per episode (exact line), slope 1")
    measured = f"{label}: regret {m['regret']:.1f} [{m['regret_ci95'][0]:.1f}, {m['regret_ci95'][1]:.1f}], {slope}"
    if th["kind"] == "upper_bound":
        return measured, f"{label}: bound {th['value']:.1f}, slope 0.5"
    return measured, f"{label}: none ({th['note']})"


def cells_rows(result: dict[str, Any], extra: dict[str, tuple[str, str]] | None = None) -> list[dict[str, str]]:
    """Summary rows of a :func:`cells_record`: one per group, each with the verdict of its own checks (the
    claim's verdict is all of them); ``extra[group]`` appends ``(measured, theory)`` text to a group's row.
    The run size comes from the group's first run."""
    out = []
    for where, runs in result["measured"].items():
        cells = [_fmt_run(label, m, result["theory"][where][label]) for label, m in runs.items()]
        measured, predicted = "; ".join(a for a, _ in cells), "; ".join(b for _, b in cells)
        if extra and where in extra:
            measured += extra[where][0]
            predicted += extra[where][1]
        first = result["runs"][where][0]
        ok = all(v for key, v in result["checks"].items() if key.startswith(f"{where}:"))
        out.append({"claim": f"{result['claim']}{result['part']}. {result['title']} — {where} "
                             f"({first['episodes']} episodes x {first['seeds']} seeds)",
                    "measured": measured, "theory": predicted, "criterion": result["criterion"],
                    "verdict": "supported" if ok else "not supported"})
    return out


def cells_panel(ax, runs: list[dict[str, Any]], title: str) -> None:
    """:func:`jaxbail.plot.regret_panel` of a group's run summaries, labelled by planner, eps and slope."""
    from jaxbail.plot import curve_from_summary, regret_panel

    curves = []
    for s in runs:
        name, _, spec = s["label"].partition(" ")
        label = PLANNER_NAMES.get(name, name) + (f" {spec}" if spec else "")
        curves.append(curve_from_summary(s, f"measured {label}: slope {s['slope']:.2f} "
                                            f"[{s['slope_ci95'][0]:.2f}, {s['slope_ci95'][1]:.2f}]"))
    regret_panel(ax, curves, title=title)
    ax.set_ylim(bottom=0.5)

