"""Claim 1 with memory across episodes: in multi-episode prompts (``K >= 3``), expert-label frequencies given
a prefix that spans earlier episodes converge to exact BAIL, whose posterior carries over from one episode to
the next; a memoryless predictor (the posterior reset at every episode) is left behind. On the same axes, a
pretrained transformer's held-out delta against its number of training prompts ``N``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxbail import stats
from jaxbail.instances import hard, random_instance
from jaxbail.llm.data import Prompts, bail_targets, sample_prompts

NAME = "claim1_memory"
TITLE = "label frequencies given multi-episode prompts converge to BAIL, whose posterior carries over episodes"
MEMORY_INSTANCE = {"num_tasks": 2, "horizon": 2, "reveal": 0.5}
LLM_INSTANCE = {"seed": 0, "num_tasks": 4, "num_states": 4, "num_subgoals": 3, "horizon": 4}
LLM_JSON = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_delta.json"
SLOPE_RANGE = (-0.65, -0.35)
LINE_SE = 4.0

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"seed": 0, "episodes": 3, "sizes": [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000],
              "replicates": 4, "heldout": 5_000, "llm_heldout": 1_000},
    "full": {"seed": 0, "episodes": 4, "sizes": [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000],
             "replicates": 8, "heldout": 20_000, "llm_heldout": 4_000},
}


def prefix_codes(observations: np.ndarray, subgoals: np.ndarray, num_obs: int) -> np.ndarray:
    """``[N, K, H]`` one integer per decision-time prefix ``(o_{1,1}, g_{1,1}, ..., o_{k,h})`` across episodes:
    equal exactly when two prompts' prefixes (and positions) are equal. Built token by token, each prefix's
    id the rank of ``(id of the shorter prefix, token)`` among this step's pairs."""
    observations, subgoals = np.asarray(observations, np.int64), np.asarray(subgoals, np.int64)
    n, k_count, h_plus = observations.shape
    horizon = h_plus - 1
    vocab = num_obs + int(subgoals.max(initial=0)) + 1
    current = np.zeros(n, np.int64)
    codes = np.empty((n, k_count, horizon), np.int64)
    for k in range(k_count):
        for h in range(horizon + 1):
            current = np.unique(current * vocab + observations[:, k, h], return_inverse=True)[1].reshape(-1)
            if h < horizon:
                codes[:, k, h] = current * (k_count * horizon) + k * horizon + h
                current = np.unique(current * vocab + num_obs + subgoals[:, k, h], return_inverse=True)[1].reshape(-1)
    return codes


def reset_bail(instance, prompts: Prompts) -> np.ndarray:
    """``[N, K, H, G]`` the memoryless predictor: BAIL of each episode on its own (the posterior reset to the
    prior at every episode start)."""
    n, k, hp = prompts.observations.shape
    single = Prompts(None, None, prompts.observations.reshape(n * k, 1, hp),
                     prompts.subgoals.reshape(n * k, 1, hp - 1), None)
    return np.asarray(bail_targets(instance, single), np.float64).reshape(n, k, hp - 1, -1)


def _take(prompts: Prompts, part: slice) -> Prompts:
    return Prompts(*(None if x is None else x[part] for x in prompts))


def _draw(key, instance, num: int, heldout: int, k_count: int, behaviour=None) -> tuple[Prompts, Prompts]:
    """``(first num prompts, last heldout prompts)`` of one call: every call of an instance has the same
    shape, so ``sample_prompts`` compiles once per instance."""
    both = sample_prompts(key, instance, num + heldout, k_count, behaviour=behaviour)
    return _take(both, slice(0, num)), _take(both, slice(num, None))


def _frequency_tv(train: Prompts, held: Prompts, targets: dict[str, np.ndarray], sizes, num_obs: int,
                  num_subgoals: int) -> dict[str, np.ndarray]:
    """Per target ``[len(sizes), K]`` mean TV over held-out prompts and steps, per episode of the prompt."""
    n_train = train.observations.shape[0]
    codes = prefix_codes(np.concatenate([np.asarray(train.observations), np.asarray(held.observations)]),
                         np.concatenate([np.asarray(train.subgoals), np.asarray(held.subgoals)]), num_obs)
    _, compact = np.unique(codes, return_inverse=True)
    compact = compact.reshape(codes.shape)
    size = int(compact.max()) + 1
    train_codes, held_codes = compact[:n_train], compact[n_train:]
    labels = np.asarray(train.labels, np.int64)
    out = {name: np.zeros((len(sizes), codes.shape[1])) for name in targets}
    for j, n in enumerate(sizes):
        counts = np.bincount((train_codes[:n] * num_subgoals + labels[:n]).ravel(), minlength=size * num_subgoals)
        counts = counts.reshape(size, num_subgoals).astype(np.float64)
        totals = counts.sum(axis=1, keepdims=True)
        freq = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 1.0 / num_subgoals)
        for name, target in targets.items():
            tv = 0.5 * np.abs(freq[held_codes] - target).sum(axis=-1)  # [M, K, H]
            out[name][j] = tv.mean(axis=(0, 2))
    return out


def _slope(sizes, tv: np.ndarray) -> dict[str, Any]:
    """Log-log slope of TV against N per replicate (rows of ``tv``), mean and 95% interval over replicates."""
    x = np.log(np.asarray(sizes, np.float64))
    x = x - x.mean()
    slopes = (np.log(tv) - np.log(tv).mean(axis=1, keepdims=True)) @ x / (x @ x)
    est = stats.mean_ci(slopes)
    return {"slope": est.mean, "slope_ci95": [est.lo, est.hi]}


def _llm_points() -> list[dict[str, Any]]:
    """The shipped transformers' held-out delta against their training prompts (benchmarks/llm_delta.json)."""
    if not LLM_JSON.exists():
        return []
    data = json.loads(LLM_JSON.read_text())
    return [{"N": int(n), "delta": c["heldout"]["delta"], "ci95": [c["heldout"]["lo"], c["heldout"]["hi"]],
             "context_episodes": c["settings"]["context_episodes"], "behaviour": c["settings"]["behaviour"],
             "steps": c["settings"]["steps"]} for n, c in data.get("by_n", [])]


def run(settings: dict, *, progress: bool = False) -> dict:
    """Settings: ``episodes`` (K), ``sizes`` (N grid), ``replicates``, ``heldout`` (prompts), ``llm_heldout``
    (held-out prompts for the frequencies on the transformers' instance) and optionally ``llm_max_n`` (only
    the shipped transformers trained on at most this many prompts)."""
    key = jax.random.PRNGKey(settings["seed"])
    k_count, sizes = int(settings["episodes"]), [int(n) for n in settings["sizes"]]
    inst = hard(**MEMORY_INSTANCE)
    n_max, n_held = max(sizes), int(settings["heldout"])
    _, held = _draw(jax.random.fold_in(key, 10_000), inst, n_max, n_held, k_count)
    targets = {"bail": np.asarray(bail_targets(inst, held), np.float64), "reset": reset_bail(inst, held)}
    gap = 0.5 * np.abs(targets["bail"] - targets["reset"]).sum(axis=-1).mean(axis=(0, 2))  # [K]
    reps = {name: [] for name in targets}
    for r in range(settings["replicates"]):
        train, _ = _draw(jax.random.fold_in(key, r), inst, n_max, n_held, k_count)
        tv = _frequency_tv(train, held, targets, sizes, inst.num_observations, inst.num_subgoals)
        for name in targets:
            reps[name].append(tv[name])
    bail_tv, reset_tv = np.asarray(reps["bail"]), np.asarray(reps["reset"])  # [R, sizes, K]
    later = bail_tv[:, :, 1:].mean(axis=2)  # decisions in episodes 2..K: the memory part
    last = stats.mean_ci(later[:, -1])
    reset_last = stats.mean_ci(reset_tv[:, -1, 1:].mean(axis=1))
    out = {
        "instance": {"name": "hard", **MEMORY_INSTANCE}, "episodes_per_prompt": k_count, "sizes": sizes,
        "replicates": int(settings["replicates"]), "heldout": int(settings["heldout"]),
        "tv_bail_per_episode": bail_tv.mean(axis=0).T.tolist(),  # [K][sizes]
        "tv_reset_per_episode": reset_tv.mean(axis=0).T.tolist(),
        "tv_bail_later": later.tolist(),  # [R][sizes]
        "bail_vs_reset_per_episode": gap.tolist(),
        "later": {**_slope(sizes, later), "tv_at_largest_N": last.mean, "tv_at_largest_N_se": last.se,
                  "tv_to_reset_at_largest_N": reset_last.mean, "tv_to_reset_at_largest_N_se": reset_last.se},
        "per_episode_slopes": [_slope(sizes, bail_tv[:, :, k])["slope"] for k in range(k_count)],
        "reference": "N^-1/2: the sampling rate of a frequency (the SE of a label frequency estimated from N "
                     "prompts is sqrt(p (1 - p) / N))",
    }
    # the shipped transformers, and label frequencies on their instance and prompts, at their N
    llm = [p for p in _llm_points() if p["N"] <= settings.get("llm_max_n", math.inf)]
    out["llm"] = {"points": llm, "source": "benchmarks/llm_delta.json (by_n)",
                  "instance": {"name": "random", **LLM_INSTANCE}}
    if llm:
        rinst = random_instance(LLM_INSTANCE["seed"], **{k: v for k, v in LLM_INSTANCE.items() if k != "seed"})
        k_llm, behaviour = llm[0]["context_episodes"], llm[0]["behaviour"]
        rtrain, rheld = _draw(jax.random.fold_in(key, 20_000), rinst, max(p["N"] for p in llm),
                              int(settings["llm_heldout"]), k_llm, behaviour)
        tv = _frequency_tv(rtrain, rheld, {"bail": np.asarray(bail_targets(rinst, rheld), np.float64)},
                           [p["N"] for p in llm], rinst.num_observations, rinst.num_subgoals)
        out["llm"]["frequency_tv"] = tv["bail"].mean(axis=1).tolist()
    return out


def verdict(result: dict) -> str:
    """``supported`` when the TV of label frequencies to BAIL on decisions in episodes 2..K decreases at every N,
    its slope's 95% interval lies in ``SLOPE_RANGE``, and at the largest N the frequencies are farther
    (by more than ``LINE_SE`` SE) from the memoryless predictor than from BAIL."""
    later = np.asarray(result["tv_bail_later"], np.float64).mean(axis=0)
    lo, hi = result["later"]["slope_ci95"]
    if lo is None or hi is None or not (SLOPE_RANGE[0] <= lo and hi <= SLOPE_RANGE[1]):
        return "not supported"
    if not np.all(np.diff(later) < 0):
        return "not supported"
    m = result["later"]
    se = math.hypot(m["tv_at_largest_N_se"], m["tv_to_reset_at_largest_N_se"])
    return "supported" if m["tv_to_reset_at_largest_N"] - m["tv_at_largest_N"] > LINE_SE * se else "not supported"


def figure(result: dict, out_dir: Path) -> list[Path]:
    from jaxbail.plot import pyplot, style

    plt = pyplot()
    sizes = np.asarray(result["sizes"], float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for k, tv in enumerate(result["tv_bail_per_episode"]):
        st = style(k)
        st.pop("markevery", None)
        ax1.plot(sizes, tv, label=f"to BAIL, episode {k + 1} (slope {result['per_episode_slopes'][k]:.2f})", **st)
    reset = np.asarray(result["tv_reset_per_episode"])[1:].mean(axis=0)
    ax1.plot(sizes, reset, color="black", linestyle=(0, (1, 1)), marker="x",
             label="to the memoryless predictor (posterior reset each episode), episodes 2..K")
    gap = float(np.mean(result["bail_vs_reset_per_episode"][1:]))
    ax1.axhline(gap, color="0.6", linestyle="-.", label=f"TV(BAIL, memoryless) = {gap:.3f}, episodes 2..K")
    later = np.asarray(result["tv_bail_later"]).mean(axis=0)
    ax1.plot(sizes, later[0] * (sizes / sizes[0]) ** -0.5, color="0.5", linestyle="--",
             label="N^-1/2: the sampling rate of a frequency")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("pretraining prompts N")
    ax1.set_ylabel("mean TV(label frequency | prefix, target)\non held-out prefixes")
    m = result["later"]
    ax1.set_title(f"hard (Z=2, H=2, reveal 0.5), K = {result['episodes_per_prompt']} episodes per prompt: "
                  f"episodes 2..K slope {m['slope']:.2f} [{m['slope_ci95'][0]:.2f}, {m['slope_ci95'][1]:.2f}]",
                  fontsize=8)
    ax1.grid(True, which="both", alpha=0.25)
    ax1.legend(fontsize=6.5)
    llm = result["llm"]
    if llm["points"]:
        n = np.asarray([p["N"] for p in llm["points"]], float)
        d = np.asarray([p["delta"] for p in llm["points"]])
        err = np.asarray([[p["delta"] - p["ci95"][0], p["ci95"][1] - p["delta"]] for p in llm["points"]]).T
        ax2.errorbar(n, d, yerr=err, color="black", marker="o", capsize=3,
                     label=f"transformer, held-out delta (K = {llm['points'][0]['context_episodes']}, "
                           f"{llm['points'][0]['steps']} steps)")
        ax2.plot(n, llm["frequency_tv"], color="0.45", marker="s", linestyle="--",
                 label="label frequencies given the prefix, same instance and prompts law")
        ax2.plot(n, d[0] * (n / n[0]) ** -0.5, color="0.6", linestyle=":", label="N^-1/2 (sampling rate)")
        ax2.legend(fontsize=7)
    else:
        ax2.text(0.5, 0.5, "no transformer points (benchmarks/llm_delta.json absent)", ha="center",
                 transform=ax2.transAxes)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("pretraining prompts N")
    ax2.set_ylabel("mean TV to exact BAIL on held-out prompts")
    ax2.set_title("random (Z=4, S=4, G=3, H=4): a transformer generalises across prefixes; counts do not\n"
                  f"(transformer points: {llm['source']})", fontsize=8)
    ax2.grid(True, which="both", alpha=0.25)
    fig.suptitle("Claim 1 with memory: in-context posteriors carry over episodes", fontsize=10)
    from jaxbail.plot import save_figure

    return save_figure(fig, Path(out_dir), "claim1_memory_multi_episode")


def rows(result: dict) -> list[dict]:
    m = result["later"]
    llm = result["llm"]
    tail = ""
    if llm["points"]:
        tail = (f"; transformer held-out delta {llm['points'][0]['delta']:.3f} at N = {llm['points'][0]['N']} to "
                f"{llm['points'][-1]['delta']:.3f} at N = {llm['points'][-1]['N']} (label frequencies "
                f"{llm['frequency_tv'][0]:.3f} to {llm['frequency_tv'][-1]:.3f})")
    return [{
        "claim": "1", "name": NAME, "title": TITLE,
        "measured": (f"K = {result['episodes_per_prompt']}: TV to BAIL on episodes 2..K slope {m['slope']:.3f} "
                     f"[{m['slope_ci95'][0]:.3f}, {m['slope_ci95'][1]:.3f}], {m['tv_at_largest_N']:.4f} at "
                     f"N = {result['sizes'][-1]:,} against {m['tv_to_reset_at_largest_N']:.4f} to the memoryless "
                     f"predictor" + tail),
        "theory": "slope -0.5 (" + result["reference"] + "); TV to the memoryless predictor stays at "
                  f"TV(BAIL, memoryless) = {np.mean(result['bail_vs_reset_per_episode'][1:]):.3f}",
        "criterion": f"TV on episodes 2..K decreases at every N, slope 95% CI within {list(SLOPE_RANGE)}, and farther "
                     f"from the memoryless predictor than from BAIL by > {LINE_SE:g} SE at the largest N",
        "verdict": verdict(result),
    }]
