"""Memory length sets the regret: exact BAIL from the last ``K`` episodes on ``hard`` (issue 10).

``eps_bail_window`` (a perfectly pretrained planner whose context holds ``K`` episodes) for
``K = 1, 2, 4, ..., 64`` and ``eps_bail`` (the whole history, ``K = inf``), with a fixed ``eps``, on
``hard`` over ``T`` episodes. On ``hard`` only exploration episodes that hit the probe reveal the
task, so a window remembers the task only while such an episode is inside it: regret is linear for
every finite ``K``, with a slope that falls geometrically in ``K`` towards the exploration cost
``eps H Z/(Z+1)``, and the closed form (:mod:`jaxbail.window_theory`) gives every point exactly.

All cells share the seed keys (paired: the same tasks and environment noise), and the window cells
run as one compiled batch (the window is a traced leaf). Beside them runs ``eps_llm`` with the same
``eps``, with its deployment ``delta`` (TV to exact BAIL along its own decisions): at every ``K`` the
ALiBi transformer ``settings["window_checkpoint"]`` (shipped ``hard-alibi``, trained on 16-episode
prompts) deployed with a ``K``-episode ring-buffer window, and for the whole history the recurrent
model ``settings["checkpoints"]["unbounded"]`` (shipped ``hard-recurrent``); ``checkpoints`` may also
map a ``K`` to a model of its own. The exact reference for a ``K``-episode model is ``bail_window``
with that ``K``, not ``bail``.

Each window cell also measures its ``window_delta``: the mean TV between ``bail_window`` and exact
(whole-history) BAIL along its own decisions (exploration episodes left out), i.e. the deployment
delta that a perfectly pretrained ``K``-episode model cannot avoid (SPEC 6: the deployment delta
includes what the window loses).

No claim of the paper is at stake: :func:`describe` says in words how regret falls with ``K`` and how
far each point is from the closed form; :func:`verdict` (a pure function of the record) is
``"supported"`` when every measured point (every ``K`` and the whole history) is within
``TOLERANCE_SE`` standard errors of the closed form and the smallest window pays more than the whole
history by more than ``TOLERANCE_SE`` standard errors of the difference. It follows the claim-module
convention of :mod:`jaxbail.claims` (``jaxbail reproduce`` runs it after claim 4).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import stats
from jaxbail.instances import hard
from jaxbail.planners import Bail, epsilon_greedy
from jaxbail.planners.bail_window import bail_window
from jaxbail.runner import simulate, simulate_many
from jaxbail.window_theory import hard_params, window_per_episode_hard, window_regret_hard

__all__ = ["NAME", "TITLE", "SETTINGS", "CRITERION", "run", "verdict", "describe", "figure", "rows", "table"]

NAME = "memory_length"
TITLE = "Memory length sets the regret: exact BAIL from the last K episodes on hard"
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"episodes": 200, "seeds": 200, "eps": 0.1, "windows": [1, 2, 4, 8, 16, 32, 64],
              "instance": {"num_tasks": 3, "horizon": 5}, "seed": 0, "window_checkpoint": "hard-alibi",
              "llm_windows": [4], "checkpoints": {"unbounded": "hard-recurrent"}},
    "full": {"episodes": 2000, "seeds": 400, "eps": 0.1, "windows": [1, 2, 4, 8, 16, 32, 64],
             "instance": {"num_tasks": 3, "horizon": 5}, "seed": 0, "window_checkpoint": "hard-alibi",
             "checkpoints": {"unbounded": "hard-recurrent"}},
}
"""``window_checkpoint``: an ALiBi transformer run with a ``K``-episode window at every ``K`` of ``llm_windows``
(default: every window; ``None``: none);
``checkpoints``: ``{K: checkpoint}`` of models with a ``K``-episode context of their own (JSON keys may be
strings; ``"unbounded"`` for a whole-history model, drawn beside ``eps_bail``). A checkpoint is a shipped
name (:data:`jaxbail.llm.checkpoint.SHIPPED`) or a path."""
TOLERANCE_SE = 4.0
CRITERION = (f"every K and the whole history within {TOLERANCE_SE:g} SE of the closed form (window_theory) at T; the "
             f"smallest K's regret above the whole history's by more than {TOLERANCE_SE:g} SE (combined) "
             "(descriptive: not a claim of the paper)")


def _point(per_seed: np.ndarray, closed: float) -> dict[str, Any]:
    est = stats.mean_ci(per_seed)
    return {"regret": est.mean, "regret_se": est.se, "closed_form": float(closed),
            "z": float((est.mean - closed) / est.se) if est.se > 0 else (0.0 if est.mean == closed else math.inf)}


def _last_tenth(result) -> tuple[np.ndarray, int, int]:
    """Per-seed mean regret per episode over the last ``ceil(T/10)`` episodes, and that range (1-based)."""
    t_total = result.num_episodes
    first = t_total - math.ceil(t_total / 10)
    episodes = list(result.episodes)
    end = result.gap_regret[:, episodes.index(t_total)]
    start = result.gap_regret[:, episodes.index(first)] if first >= 1 else 0.0
    return (end - start) / (t_total - first), first + 1, t_total


def _entry(window, result, env, eps) -> dict[str, Any]:
    t_total = result.num_episodes
    entry = {"window": window, **_point(result.gap_regret[:, -1], window_regret_hard(env, eps, window, [t_total])[0])}
    per_episode, lo, hi = _last_tenth(result)
    closed_last = float(np.mean(window_per_episode_hard(env, eps, window, np.arange(lo - 1, hi))))
    est = stats.mean_ci(per_episode)
    entry.update({"per_episode_last": est.mean, "per_episode_last_se": est.se,
                  "per_episode_last_closed_form": closed_last, "last_range": [lo, hi]})
    mean, _, _ = stats.curve_ci(result.gap_regret)
    entry["curve"] = {"episodes": result.episodes.tolist(), "regret_mean": mean.tolist(),
                      "closed_form": window_regret_hard(env, eps, window, result.episodes).tolist()}
    return entry


def run(settings: dict[str, Any], *, progress: bool = False) -> dict[str, Any]:
    """Simulate every ``K`` (and the whole history), compare with the closed form; JSON-able record."""
    env = hard(**settings.get("instance", {}))
    t_total, seeds, eps = int(settings["episodes"]), int(settings["seeds"]), float(settings["eps"])
    windows = sorted(int(k) for k in settings["windows"])
    key = jax.random.PRNGKey(int(settings.get("seed", 0)))
    checkpoints = {_window_key(k): (str(v), None) for k, v in (settings.get("checkpoints") or {}).items()}
    unknown = sorted(_label(k) for k in checkpoints if k is not None and k not in windows)
    if unknown:
        raise ValueError(f"checkpoints: K = {', '.join(unknown)} is not among the windows {windows}")
    if settings.get("window_checkpoint"):
        llm_windows = sorted(int(k) for k in settings.get("llm_windows", windows))
        if not set(llm_windows) <= set(windows):
            raise ValueError(f"llm_windows: {llm_windows} are not all among the windows {windows}")
        for k in llm_windows:
            checkpoints.setdefault(k, (str(settings["window_checkpoint"]), k))
    capacity = windows[-1] - 1
    planners = [epsilon_greedy(bail_window(k, capacity=capacity), eps) for k in windows]
    results = simulate_many(key, [env] * len(windows), planners, num_episodes=t_total, num_seeds=seeds,
                            progress=progress, measure_tv=True)
    full = simulate(key, env, epsilon_greedy(Bail(), eps), num_episodes=t_total, num_seeds=seeds, progress=progress)
    entries = [_entry(k, r, env, eps) for k, r in zip(windows, results)] + [_entry(None, full, env, eps)]
    for entry, res in zip(entries, results):  # what the window alone loses: a perfect K-window model's delta
        used = res.mean_tv_to_bail[np.isfinite(res.mean_tv_to_bail)]
        est = stats.mean_ci(used)
        entry["window_delta"] = {"mean": est.mean, "ci95": [est.lo, est.hi], "seeds": int(used.size)}

    if checkpoints:
        from jaxbail.llm.checkpoint import SHIPPED, shipped_checkpoint
        from jaxbail.llm.deployment import delta_estimate
        from jaxbail.planners import make_planner

        for entry in entries:
            if entry["window"] not in checkpoints:
                continue
            name, window = checkpoints[entry["window"]]
            path = shipped_checkpoint(name) if name in SHIPPED else name
            llm = make_planner("eps_llm", eps_scale=eps, instance=env, checkpoint=path, window=window)
            res = simulate(key, env, llm, num_episodes=t_total, num_seeds=seeds, measure_tv=True, progress=progress)
            est = stats.mean_ci(res.gap_regret[:, -1])
            delta, used = delta_estimate(res)
            per_episode, _, _ = _last_tenth(res)
            last = stats.mean_ci(per_episode)
            mean, _, _ = stats.curve_ci(res.gap_regret)
            config = llm.inner.config
            entry["eps_llm"] = {"checkpoint": name, "deployed_window": window, "family": config.family,
                                "trained_episodes": config.context_episodes, "regret": est.mean,
                                "regret_se": est.se, "per_episode_last": last.mean, "per_episode_last_se": last.se,
                                "delta": delta.mean, "delta_ci95": [delta.lo, delta.hi], "delta_seeds": used,
                                "regret_mean_curve": mean.tolist()}
            if entry["window"] is not None:  # paired with bail_window of the same K: what the model adds
                ref = results[windows.index(entry["window"])]
            else:
                ref = full
            diff = stats.mean_ci(res.gap_regret[:, -1] - ref.gap_regret[:, -1])
            entry["eps_llm"].update({"excess_over_exact": diff.mean, "excess_over_exact_se": diff.se})
    params = hard_params(env)
    record = {"claim": NAME, "name": NAME, "title": TITLE,
              "settings": {k: v for k, v in settings.items() if k != "checkpoints"},
              "checkpoints": {_label(k): {"checkpoint": v[0], "window": v[1]} for k, v in checkpoints.items()},
              "instance": {"name": "hard", "num_tasks": params.num_tasks, "horizon": params.horizon,
                           "prior": params.prior.tolist(), "reveal": params.reveal},
              "eps": eps, "episodes": t_total, "seeds": seeds, "entries": entries,
              "tolerance_se": TOLERANCE_SE, "criterion": CRITERION}
    record["description"] = describe(record)
    record["verdict"] = verdict(record)
    return record


def _window_key(key) -> int | None:
    """A ``checkpoints`` key: ``K`` (int or its string) or ``"unbounded"`` (a whole-history model)."""
    if key in (None, "unbounded"):
        return None
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"checkpoints: keys must be a window K or 'unbounded', got {key!r}") from None


def _label(window) -> str:
    return "unbounded" if window is None else str(window)


def verdict(result: dict[str, Any]) -> str:
    """``"supported"`` when every entry's ``|z|`` (measured against the closed form) is at most
    ``tolerance_se`` and the smallest window's regret exceeds the whole history's by more than
    ``tolerance_se`` standard errors of the difference (``hypot`` of the two SEs); a pure function of the
    record's numbers."""
    entries = result["entries"]
    tol = result["tolerance_se"]
    finite = [e for e in entries if e["window"] is not None]
    unbounded = next(e for e in entries if e["window"] is None)
    agree = all(abs(e["z"]) <= tol for e in entries)
    gap = finite[0]["regret"] - unbounded["regret"]
    memory_matters = gap > tol * math.hypot(finite[0]["regret_se"], unbounded["regret_se"])
    return "supported" if agree and memory_matters else "not supported"


def describe(result: dict[str, Any]) -> str:
    """In words: regret at ``T`` against ``K`` and the agreement with the closed form."""
    entries = result["entries"]
    worst = max(entries, key=lambda e: abs(e["z"]))
    agree = all(abs(e["z"]) <= result["tolerance_se"] for e in entries)
    finite = [e for e in entries if e["window"] is not None]
    unbounded = next(e for e in entries if e["window"] is None)
    falls = all(a["regret"] >= b["regret"] for a, b in zip(finite, finite[1:]))
    text = (f"at T = {result['episodes']} (eps = {result['eps']:g}), regret {'falls' if falls else 'does not fall'} "
            f"monotonically with the window: K = {finite[0]['window']} pays {finite[0]['regret']:.1f}, "
            f"K = {finite[-1]['window']} pays {finite[-1]['regret']:.1f}, the whole history "
            f"{unbounded['regret']:.1f}; ")
    text += ("every K is within " if agree else "NOT every K is within ")
    text += (f"{result['tolerance_se']:g} SE of the closed form (largest |z| = {abs(worst['z']):.2f} at "
             f"K = {_label(worst['window'])})")
    llm = [e for e in entries if "eps_llm" in e]
    if llm:
        text += "; eps_llm (regret, paired excess over the exact planner of the same memory): " + ", ".join(
            f"K = {_label(e['window'])}: {e['eps_llm']['regret']:.1f} ({e['eps_llm']['excess_over_exact']:+.1f} "
            f"+- {e['eps_llm']['excess_over_exact_se']:.1f})" for e in llm)
    return text


def rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """The summary row (:mod:`jaxbail.claims` convention): the description, each ``K``'s regret and closed form
    at ``T`` and its window delta."""
    points = "; ".join(
        f"K = {_label(e['window'])}: {e['regret']:.1f} +- {e['regret_se']:.1f} (closed form {e['closed_form']:.1f}"
        + (f", window delta {e['window_delta']['mean']:.3f}" if "window_delta" in e else "")
        + (f"; eps_llm {e['eps_llm']['regret']:.1f} +- {e['eps_llm']['regret_se']:.1f}, {e['eps_llm']['checkpoint']}"
           if "eps_llm" in e else "") + ")"
        for e in result["entries"])
    return [{"claim": f"memory length (not a claim of the paper). {result['title']}",
             "measured": f"{result['description']}. {points} (T = {result['episodes']}, {result['seeds']} seeds, "
                         f"eps = {result['eps']:g})",
             "theory": "closed form of eps_bail_window's regret on hard (window_theory): linear for every finite K, "
                       "slope falling geometrically in K",
             "criterion": result["criterion"], "verdict": result["verdict"]}]


def table(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per ``K`` (``"unbounded"`` for the whole history), numbers only."""
    out = []
    for e in result["entries"]:
        llm = e.get("eps_llm", {})
        out.append({"K": _label(e["window"]), "regret": e["regret"], "regret_se": e["regret_se"],
                    "closed_form": e["closed_form"], "z": e["z"], "per_episode_last": e["per_episode_last"],
                    "per_episode_last_se": e["per_episode_last_se"],
                    "per_episode_last_closed_form": e["per_episode_last_closed_form"],
                    "window_delta": e["window_delta"]["mean"] if "window_delta" in e else 0.0,
                    "eps_llm_checkpoint": llm.get("checkpoint"), "eps_llm_regret": llm.get("regret"),
                    "eps_llm_regret_se": llm.get("regret_se"), "eps_llm_per_episode_last": llm.get("per_episode_last"),
                    "eps_llm_excess_over_exact": llm.get("excess_over_exact"),
                    "eps_llm_excess_over_exact_se": llm.get("excess_over_exact_se"),
                    "eps_llm_delta": llm.get("delta")})
    return out


def figure(result: dict[str, Any], out_dir) -> list[Path]:
    """Regret at ``T`` against ``K`` with the closed form, and the cumulative curves; PNG and PDF."""
    from jaxbail.plot import pyplot, save_figure

    plt = pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = result["entries"]
    finite = [e for e in entries if e["window"] is not None]
    unbounded = next(e for e in entries if e["window"] is None)
    params = hard_params(hard(num_tasks=result["instance"]["num_tasks"], horizon=result["instance"]["horizon"],
                              prior=result["instance"]["prior"], reveal=result["instance"]["reveal"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    ks = np.asarray([e["window"] for e in finite], float)
    ax1.errorbar(ks, [e["regret"] for e in finite], yerr=[stats.Z95 * e["regret_se"] for e in finite], color="black",
                 marker="o", linestyle="none", capsize=3, label="bail_window, measured (95% CI)")
    grid = np.unique(np.round(np.geomspace(1, ks.max(), 200)).astype(int))
    closed = [window_regret_hard(params, result["eps"], int(k), [result["episodes"]])[0] for k in grid]
    ax1.plot(grid, closed, color="tab:blue", label="closed form (window_theory)")
    ax1.axhline(unbounded["closed_form"], color="tab:green", linestyle="--",
                label=f"whole history: closed form {unbounded['closed_form']:.1f}, measured {unbounded['regret']:.1f}")
    llm = [e for e in entries if "eps_llm" in e and e["window"] is not None]
    if llm:
        names = sorted({e["eps_llm"]["checkpoint"] for e in llm})
        ax1.errorbar([e["window"] for e in llm], [e["eps_llm"]["regret"] for e in llm],
                     yerr=[stats.Z95 * e["eps_llm"]["regret_se"] for e in llm], color="tab:red", marker="s",
                     linestyle="none", capsize=3, label=f"eps_llm, K-episode context ({', '.join(names)})")
    trained = sorted({e["eps_llm"]["trained_episodes"] for e in llm if "trained_episodes" in e["eps_llm"]})
    for k in trained:
        ax1.axvline(k, color="tab:red", linewidth=0.8, alpha=0.5, linestyle="-.",
                    label=f"eps_llm's training prompts: {k} episodes")
    if "eps_llm" in unbounded:
        ax1.axhline(unbounded["eps_llm"]["regret"], color="tab:red", linestyle=":",
                    label=f"eps_llm, whole history ({unbounded['eps_llm']['checkpoint']}): "
                          f"{unbounded['eps_llm']['regret']:.1f}")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("episodes in the context K")
    ax1.set_ylabel(f"cumulative regret at T = {result['episodes']}")
    ax1.set_title(f"hard Z={params.num_tasks} H={params.horizon}, eps = {result['eps']:g}, {result['seeds']} seeds",
                  fontsize=9)
    ax1.legend(fontsize=7, loc="lower left")
    ax1.grid(True, which="both", alpha=0.25)
    cmap = plt.get_cmap("viridis")
    for i, e in enumerate(entries):
        color = "black" if e["window"] is None else cmap(i / max(1, len(finite) - 1))
        t = np.asarray(e["curve"]["episodes"], float)
        ax2.plot(t, e["curve"]["regret_mean"], color=color, label=f"K = {_label(e['window'])}")
        ax2.plot(t, e["curve"]["closed_form"], color=color, linestyle=":", linewidth=1.5)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("episodes T")
    ax2.set_ylabel("cumulative regret (mean; dotted: closed form)")
    ax2.legend(fontsize=7, ncol=2)
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle(TITLE, fontsize=10)
    return save_figure(fig, out_dir, NAME)
