#!/usr/bin/env python
"""Seed-steps per second of the ``llm`` planner (shipped checkpoints) against ``bail`` through jaxbail.runner.simulate.

One *seed-step* is one subgoal decision of one seed: ``rate = seeds * episodes * H / seconds``.
Both planners run the same instance, key, seeds and episodes (bayes mode), with the exact
posterior computed in both runs (the runner always filters). Steady state: the first call
(compile) is timed separately, then the median of ``--repeats`` further calls is reported.
``T`` exceeds the checkpoint's context ``K``, so the llm timing includes the per-episode
window slide (one full forward over the kept tokens) in every episode after the ``K``-th.

``--families`` (issue 10) times the model families on ``hard`` instead: the shipped absolute-position
transformer (re-encodes at every slide), the shipped ALiBi transformer ``hard-alibi`` (1 layer, width 32, ring-buffer
cache) at its 16-episode training window and at 4 and 64 episodes, the same ring at the absolute model's
size (2 layers, width 64) and the recurrent model (the shipped ``hard-recurrent``). Record the load average beside
the numbers (the JSON does): on a shared machine they are provisional.

Usage::

    python benchmarks/llm_throughput.py
    python benchmarks/llm_throughput.py --seeds 256 --episodes 12 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax

from jaxbail.instances import hard, random_instance
from jaxbail.llm.checkpoint import shipped_checkpoint
from jaxbail.llm.model import Transformer
from jaxbail.llm.planner import llm_planner_from_checkpoint, planner_for
from jaxbail.planners.core import Bail
from jaxbail.runner import simulate

INSTANCES = {
    "hard": hard,
    "random": lambda: random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4),
}


def time_planner(instance, planner, seeds: int, episodes: int, repeats: int) -> dict:
    """First-call seconds and steady-state seed-steps/s (median over ``repeats`` calls)."""
    key = jax.random.PRNGKey(0)
    kw = dict(num_episodes=episodes, num_seeds=seeds, progress=False)
    start = time.perf_counter()
    simulate(key, instance, planner, **kw)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate(key, instance, planner, **kw)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    steps = seeds * episodes * instance.horizon
    return {"first_call_s": first, "steady_s": seconds, "seed_steps_per_s": steps / seconds,
            "regret_mean": float(result.gap_regret[:, -1].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1024)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(INSTANCES), action="append")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--families", action="store_true", help="time the model families on hard (issue 10)")
    args = parser.parse_args()
    if args.families:
        return families(args)
    rows = {}
    for name in args.only or list(INSTANCES):
        instance = INSTANCES[name]()
        llm = llm_planner_from_checkpoint(shipped_checkpoint(name), instance)
        out = {"bail": time_planner(instance, Bail(), args.seeds, args.episodes, args.repeats),
               "llm": time_planner(instance, llm, args.seeds, args.episodes, args.repeats),
               "config": llm.config.to_dict()}
        out["llm_over_bail"] = out["llm"]["seed_steps_per_s"] / out["bail"]["seed_steps_per_s"]
        rows[name] = out
        print(f"{name}: {args.seeds} seeds x {args.episodes} episodes x H={instance.horizon}; "
              f"bail {out['bail']['seed_steps_per_s']:.3g} seed-steps/s, llm {out['llm']['seed_steps_per_s']:.3g} "
              f"(K={llm.config.context_episodes}, width {llm.config.width}, {llm.config.layers} layers); "
              f"llm/bail = {out['llm_over_bail']:.4f}; first call bail {out['bail']['first_call_s']:.1f} s, "
              f"llm {out['llm']['first_call_s']:.1f} s", flush=True)
    meta = {"seeds": args.seeds, "episodes": args.episodes, "repeats": args.repeats, "device": str(jax.devices()[0]),
            "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(meta, f, indent=1)


def families(args) -> None:
    import dataclasses
    import os

    instance = hard()
    shipped = llm_planner_from_checkpoint(shipped_checkpoint("hard"), instance)
    wide = dataclasses.replace(shipped.config, positions="alibi")  # speed does not depend on the weights
    wide_params = Transformer(wide).init_params(jax.random.PRNGKey(0))
    alibi = shipped_checkpoint("hard-alibi")
    planners = {"recurrent (hard-recurrent, width 48)": llm_planner_from_checkpoint(
                    shipped_checkpoint("hard-recurrent"), instance),
                "transformer alibi ring K=16 (hard-alibi, 1 layer, width 32, its training window)":
                    llm_planner_from_checkpoint(alibi, instance, window=16),
                "transformer alibi ring K=4 (hard-alibi)": llm_planner_from_checkpoint(alibi, instance, window=4),
                "transformer alibi ring K=64 (hard-alibi)": llm_planner_from_checkpoint(alibi, instance, window=64),
                "transformer alibi ring K=4, 2 layers, width 64 (untrained weights)":
                    planner_for(wide, wide_params, window=4),
                "transformer absolute K=4 (shipped hard, width 64, re-encodes)": shipped}
    bail = time_planner(instance, Bail(), args.seeds, args.episodes, args.repeats)
    rows = {"bail": bail}
    print(f"hard: {args.seeds} seeds x {args.episodes} episodes; bail {bail['seed_steps_per_s']:.3g} seed-steps/s",
          flush=True)
    for name, planner in planners.items():
        row = time_planner(instance, planner, args.seeds, args.episodes, args.repeats)
        row["over_bail"] = row["seed_steps_per_s"] / bail["seed_steps_per_s"]
        rows[name] = row
        print(f"  {name}: {row['seed_steps_per_s']:.3g} seed-steps/s = {row['over_bail']:.4f} of bail "
              f"(first call {row['first_call_s']:.1f} s)", flush=True)
    meta = {"seeds": args.seeds, "episodes": args.episodes, "repeats": args.repeats,
            "device": str(jax.devices()[0]), "loadavg": os.getloadavg(), "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
