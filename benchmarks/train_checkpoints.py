#!/usr/bin/env python
"""Regenerate the shipped LLM-planner checkpoints (jaxbail/checkpoints/) and measure their deployment delta.

Each checkpoint is trained and measured by :func:`jaxbail.llm.train.pretrain`: training with
:func:`jaxbail.llm.train.train` (held-out delta on behaviour prompts), then ``delta`` along the
``llm`` planner's own deployment histories with ``jaxbail.runner.simulate(..., measure_tv=True)``
(bayes mode, T = 20 episodes, 1,024 seeds, 95% interval), and the part of it due to the context
window alone (exact BAIL restricted to the window, :class:`jaxbail.llm.planner.WindowedBail`).
Everything goes into the checkpoint's JSON record.

The behaviour policy is ``"dirichlet"``: each prompt draws its own observation-dependent subgoal
distribution (never the task's), so the data covers histories in which some subgoals are rarely
played, as they are when the model itself plays (benchmarks/llm_delta.md compares it with the
uniform behaviour).

Regenerated checkpoints are statistically equivalent, not bit-identical, to the shipped ones
(XLA's CPU kernels and thread scheduling differ between machines).

Usage::

    python benchmarks/train_checkpoints.py                 # all seven: ~25 min for the four 2-layer transformers,
                                                           # 2-3 min each for the three quick-recipe models (2 cores)
    python benchmarks/train_checkpoints.py --only hard --out /tmp/ckpt
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxbail.instances import hard, random_instance
from jaxbail.llm.checkpoint import CHECKPOINT_DIR, SHIPPED
from jaxbail.llm.train import pretrain

SETTINGS = {
    "hard": dict(
        instance=lambda: hard(),
        train=dict(preset="default", num_trajectories=32768, context_episodes=4, steps=3000, width=64, layers=2,
                   heads=4, behaviour="dirichlet", seed=0),
    ),
    "random": dict(
        instance=lambda: random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4),
        train=dict(preset="default", num_trajectories=65536, context_episodes=5, steps=6000, width=64, layers=2,
                   heads=4, behaviour="dirichlet", seed=0),
    ),
    # the same instance and model with less data: the pretraining-error series of claim 4 (reproduce)
    **{f"random-n{n}": dict(
        instance=lambda: random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4),
        train=dict(preset="default", num_trajectories=n, context_episodes=5, steps=3000, width=64, layers=2,
                   heads=4, behaviour="dirichlet", seed=0),
    ) for n in (1024, 4096)},
    # the recurrent family (issue 10): the quick preset's recipe (16-episode eps_bail-style prompts), and the
    # same with a behaviour that never plays hard's probe (claim 4's coverage contrast)
    "hard-recurrent": dict(
        instance=lambda: hard(),
        train=dict(model="recurrent", preset="quick", seed=0),
    ),
    # the ALiBi transformer (ring-buffer cache, any window at deployment) on the same eps_bail-style data: the
    # bounded-context model of the memory-length experiment (reproduce's memory_length runs it at K = 1 .. 64).
    # One layer: on hard the signpost observations name the task, so one attention layer reads them; it is 2.4x
    # faster per token than two and extrapolated better past its 16-episode prompts (benchmarks/LLM_RESULTS.md)
    "hard-alibi": dict(
        instance=lambda: hard(),
        train=dict(model="transformer", positions="alibi", preset="quick", width=32, heads=4, layers=1,
                   context_episodes=16, num_trajectories=4096, steps=1200, batch=32, behaviour="eps-bail", seed=0),
    ),
    "hard-recurrent-no-probe": dict(
        instance=lambda: hard(),
        train=dict(model="recurrent", preset="quick", behaviour="no-probe", seed=0),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SETTINGS), action="append", help="build only these (repeatable)")
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="output directory")
    parser.add_argument("--episodes", type=int, default=20, help="deployment episodes T")
    parser.add_argument("--seeds", type=int, default=1024, help="deployment seeds")
    args = parser.parse_args()
    summary = {}
    for name in args.only or list(SETTINGS):
        setting = SETTINGS[name]
        print(f"[{name}] training {setting['train']}", flush=True)
        result = pretrain(setting["instance"](), args.out / SHIPPED[name], deploy_episodes=args.episodes,
                          deploy_seeds=args.seeds, log=lambda line, n=name: print(f"[{n}] {line}", flush=True),
                          **setting["train"])
        rec = result.record
        summary[name] = {"train_seconds": rec["train_seconds"], "num_params": rec["num_params"],
                         **{part: {k: rec[part][k] for k in ("delta", "lo", "hi")}
                            for part in ("heldout", "deployment", "window_only")}}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
