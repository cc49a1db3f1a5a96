#!/usr/bin/env python
"""Regenerate benchmarks/llm_delta.md: the LLM planner's pretraining error delta against N and model width.

Every cell trains a model with :func:`jaxbail.llm.train.train` on the ``random`` instance the
shipped checkpoint uses (``random_instance(0, num_tasks=4, num_states=4, num_subgoals=3,
horizon=4)``) with that checkpoint's settings except the swept value and a shorter run
(``--steps``), then reports

* held-out delta: mean TV(model, exact BAIL) over the decisions of held-out behaviour prompts,
  95% interval over prompts;
* deployment delta: ``jaxbail.runner.simulate(..., measure_tv=True)`` with the ``llm`` planner,
  bayes mode, ``T`` episodes, mean over seeds of the per-seed mean TV, 95% interval; and its
  value in the last episode (steady state, window full);
* the window-only part: exact BAIL restricted to the same ``K``-episode window along its own
  histories (what a perfect model with this context would still lose).

Usage::

    python benchmarks/llm_delta.py                    # about 45 minutes on 2 cores
    python benchmarks/llm_delta.py --steps 1000 --ns 1024,8192 --widths 32 --out /tmp/d.md
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax

from jaxbail.instances import hard, random_instance
from jaxbail.llm.deployment import deployment_delta
from jaxbail.llm.planner import LlmPlanner, WindowedBail
from jaxbail.llm.train import train

HERE = Path(__file__).resolve().parent
BASE = dict(preset="default", num_trajectories=65536, context_episodes=5, width=64, layers=2, heads=4,
            behaviour="dirichlet", seed=0)
HARD = dict(preset="default", num_trajectories=32768, context_episodes=4, width=64, layers=2, heads=4, seed=0)
"""The shipped ``hard`` checkpoint's settings, less the behaviour policy (swept)."""
DEPLOY_KEY = 20240530


def cell(instance, episodes: int, seeds: int, base: dict = BASE, **overrides) -> dict:
    """Train one model and measure its deltas."""
    settings = {**base, **overrides}
    result = train(instance, progress=False, **settings)
    planner = LlmPlanner(params=result.params, config=result.config)
    deployed = deployment_delta(jax.random.PRNGKey(DEPLOY_KEY), instance, planner, num_episodes=episodes,
                                num_seeds=seeds)
    rec = result.record
    return {"settings": {k: v for k, v in settings.items()}, "num_params": rec["num_params"],
            "train_seconds": rec["train_seconds"], "heldout": {k: rec["heldout"][k] for k in ("delta", "lo", "hi")},
            "deployment": {k: deployed[k] for k in ("delta", "lo", "hi")},
            "deployment_last": [deployed["per_episode"][-1], deployed["per_episode_lo"][-1],
                                deployed["per_episode_hi"][-1]]}


def fmt(est) -> str:
    if isinstance(est, dict):
        est = (est["delta"], est["lo"], est["hi"])
    return f"{est[0]:.4f} [{est[1]:.4f}, {est[2]:.4f}]"


def figure(data: dict, stem: Path) -> list[Path]:
    """``stem.png``/``.pdf``: held-out and deployment delta against N (left) and width (right), 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0), sharey=True)
    for ax, key, label in ((axes[0], "by_n", "pretraining prompts N (width 64)"),
                           (axes[1], "by_width", f"model width (N = {BASE['num_trajectories']:,})")):
        x = [float(v) for v, _ in data[key]]
        for part, color, name in (("heldout", "tab:blue", "held-out prompts"),
                                  ("deployment", "black", f"deployment (llm, T = {data['episodes']})")):
            y = [c[part]["delta"] for _, c in data[key]]
            err = [[c[part]["delta"] - c[part]["lo"] for _, c in data[key]],
                   [c[part]["hi"] - c[part]["delta"] for _, c in data[key]]]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=color, label=name)
        ax.axhline(data["window"]["delta"], color="0.5", linestyle=":",
                   label="window only (exact BAIL in K episodes)")
        ax.axhline(0.05, color="tab:red", linestyle="--", linewidth=0.8, label="0.05 (shipped target)")
        ax.set_xscale("log", base=2 if key == "by_width" else 10)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.25)
    axes[0].set_ylabel("delta: mean TV to exact BAIL (95% CI)")
    axes[0].legend(fontsize=7)
    fig.suptitle("LLM planner on random Z=4 S=4 G=3 H=4: pretraining error against data and width "
                 f"({data['steps']} steps per model)", fontsize=10)
    written = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=150, bbox_inches="tight")
        written.append(path)
    plt.close(fig)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps per cell")
    parser.add_argument("--ns", default="1024,4096,16384,65536", help="numbers of pretraining prompts N (width 64)")
    parser.add_argument("--widths", default="16,32,64,128", help="model widths (N = 65536)")
    parser.add_argument("--episodes", type=int, default=20, help="deployment episodes T")
    parser.add_argument("--seeds", type=int, default=512, help="deployment seeds")
    parser.add_argument("--no-behaviour", dest="behaviour", action="store_false",
                        help="skip the uniform-vs-dirichlet behaviour table")
    parser.add_argument("--out", type=Path, default=HERE / "llm_delta.md")
    parser.add_argument("--figure-only", action="store_true",
                        help="redraw OUT's figure (.png, .pdf) from OUT's .json without training")
    args = parser.parse_args()
    if args.figure_only:
        for path in figure(json.loads(args.out.with_suffix(".json").read_text()), args.out.with_suffix("")):
            print(f"wrote {path}")
        return
    instance = random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)
    start = time.perf_counter()
    window = deployment_delta(jax.random.PRNGKey(DEPLOY_KEY), instance,
                              WindowedBail(context_episodes=BASE["context_episodes"]), num_episodes=args.episodes,
                              num_seeds=args.seeds)
    by_n, by_width = [], []
    for n in [int(x) for x in args.ns.split(",") if x]:
        by_n.append((n, cell(instance, args.episodes, args.seeds, num_trajectories=n, steps=args.steps)))
        print(f"N={n}: {json.dumps(by_n[-1][1])}", flush=True)
    for width in [int(x) for x in args.widths.split(",") if x]:
        if width == BASE["width"] and any(n == BASE["num_trajectories"] for n, _ in by_n):
            by_width.append((width, dict(by_n)[BASE["num_trajectories"]]))
            continue
        heads = max(1, min(BASE["heads"], width // 8))
        by_width.append((width, cell(instance, args.episodes, args.seeds, width=width, heads=heads, steps=args.steps)))
        print(f"width={width}: {json.dumps(by_width[-1][1])}", flush=True)
    by_behaviour = []
    if args.behaviour:
        hard_instance = hard()
        for behaviour in ("uniform", "dirichlet"):
            by_behaviour.append(("hard", behaviour, cell(hard_instance, args.episodes, args.seeds, base=HARD,
                                                         behaviour=behaviour, steps=args.steps)))
            print(f"hard {behaviour}: {json.dumps(by_behaviour[-1][2])}", flush=True)
        by_behaviour.append(("random", "uniform", cell(instance, args.episodes, args.seeds, behaviour="uniform",
                                                       steps=args.steps)))
        print(f"random uniform: {json.dumps(by_behaviour[-1][2])}", flush=True)
        if BASE["num_trajectories"] in dict(by_n):
            by_behaviour.append(("random", "dirichlet", dict(by_n)[BASE["num_trajectories"]]))
    total = time.perf_counter() - start

    head = ("| {} | params | train s | held-out delta [95%] | deployment delta, T={} [95%] | last episode [95%] |\n"
            "| ---: | ---: | ---: | --- | --- | --- |\n")
    lines = [
        "# LLM planner: pretraining error delta against N and model width",
        "",
        "Generated by `benchmarks/llm_delta.py` (do not edit by hand). Instance: "
        "`random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)` (identity Reporter, uniform "
        f"prior). Model: pre-LN causal transformer, context K = {BASE['context_episodes']} episodes, "
        f"{BASE['layers']} layers; behaviour policy `{BASE['behaviour']}` (each prompt draws its own "
        "observation-dependent subgoal distribution, never the task's); "
        f"{args.steps} adamw steps of 64 prompts, warmup-cosine schedule, seed {BASE['seed']}.",
        "",
        "* **held-out delta**: mean over 2,048 held-out behaviour prompts of the mean TV between the model's "
        "subgoal distribution and exact BAIL over the prompt's K H decisions;",
        f"* **deployment delta**: `jaxbail.runner.simulate(..., measure_tv=True)` with the `llm` planner on its "
        f"own histories, bayes mode, T = {args.episodes} episodes, {args.seeds} seeds (mean over seeds of the "
        "per-seed mean TV); **last episode**: the same in episode T only (window full, steady state);",
        f"* **window only** (what a perfect K-episode model still loses against BAIL's whole history): exact BAIL "
        f"restricted to the window along its own histories, deployment delta {fmt(window)}, last episode "
        f"{fmt((window['per_episode'][-1], window['per_episode_lo'][-1], window['per_episode_hi'][-1]))}.",
        "",
        "Figure: [`llm_delta.png`](llm_delta.png) (and PDF), redrawn from `llm_delta.json` by "
        "`python benchmarks/llm_delta.py --figure-only`.",
        "",
        f"## Against the number of pretraining prompts N (width {BASE['width']})",
        "",
        head.format("N", args.episodes).rstrip("\n"),
    ]
    for n, c in by_n:
        lines.append(f"| {n} | {c['num_params']} | {c['train_seconds']:.0f} | {fmt(c['heldout'])} | "
                     f"{fmt(c['deployment'])} | {fmt(c['deployment_last'])} |")
    lines += ["", f"## Against model width (N = {BASE['num_trajectories']})", "",
              head.format("width", args.episodes).rstrip("\n")]
    for width, c in by_width:
        lines.append(f"| {width} | {c['num_params']} | {c['train_seconds']:.0f} | {fmt(c['heldout'])} | "
                     f"{fmt(c['deployment'])} | {fmt(c['deployment_last'])} |")
    if by_behaviour:
        lines += ["", "## Behaviour policy of the pretraining data",
                  "",
                  "`uniform`: every subgoal with probability 1/G at every step. `dirichlet`: each prompt draws "
                  "a table `[O, G]` of subgoal distributions (rows ~ Dirichlet(1)) and plays the row of the "
                  "current observation; the task never enters, so exact BAIL is still the Bayes-optimal predictor. "
                  f"`hard`: N = {HARD['num_trajectories']}, K = {HARD['context_episodes']}; `random`: N = "
                  f"{BASE['num_trajectories']}, K = {BASE['context_episodes']}; width 64, {args.steps} steps. Held-out "
                  "prompts follow each row's own behaviour, so only the deployment columns compare the rows.",
                  "",
                  f"| instance | behaviour | train s | held-out delta [95%] | deployment delta, T={args.episodes} "
                  "[95%] | last episode [95%] |",
                  "| --- | --- | ---: | --- | --- | --- |"]
        for name, behaviour, c in by_behaviour:
            lines.append(f"| {name} | {behaviour} | {c['train_seconds']:.0f} | {fmt(c['heldout'])} | "
                         f"{fmt(c['deployment'])} | {fmt(c['deployment_last'])} |")
    lines += ["", f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, jax {jax.__version__} on "
              f"{jax.devices()[0].platform}; shared with other jobs, so training seconds are indicative only. "
              f"Whole table: {total / 60:.0f} minutes.", ""]
    args.out.write_text("\n".join(lines))
    (args.out.with_suffix(".json")).write_text(json.dumps({"window": window, "by_n": by_n, "by_width": by_width,
                                                           "by_behaviour": by_behaviour,
                                                           "steps": args.steps, "episodes": args.episodes,
                                                           "seeds": args.seeds}, indent=1))
    print(f"wrote {args.out}")
    figure(json.loads(args.out.with_suffix(".json").read_text()), args.out.with_suffix(""))
    figure(json.loads(args.out.with_suffix(".json").read_text()), args.out.with_suffix(""))


if __name__ == "__main__":
    main()
