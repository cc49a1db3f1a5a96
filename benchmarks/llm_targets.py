#!/usr/bin/env python
"""Issue 10's targets for a pretrained LLM planner on ``hard``, measured with paired seeds.

1. ``eps_llm --eps anytime:1`` over ``T`` episodes (default 2,000): the log-log slope of its
   cumulative regret (last decade of T, bootstrap 95% interval) and its regret against
   ``eps_bail`` with the same key and seeds (target: slope <= 0.6, ratio <= 1.5).
2. ``llm`` stays on BAIL's line: ``llm`` and ``bail`` per-episode regret over ``--line-episodes``.
3. ``eps_llm --eps 0.1`` against ``llm`` after ``--short-episodes`` (default 100): per-episode regret
   (target: eps_llm at most half of llm's).

Every run is bayes mode (each seed's task from the prior) through :func:`jaxbail.runner.simulate`.

Usage::

    python benchmarks/llm_targets.py --checkpoint jaxbail/checkpoints/hard-recurrent.msgpack
    python benchmarks/llm_targets.py --checkpoint m.msgpack --prior 0.8,0.15,0.05 --skip-anytime
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from jaxbail import stats
from jaxbail.experiment import EpsSpec, resolve_planner
from jaxbail.instances import hard
from jaxbail.runner import simulate


def run(instance, name, checkpoint, episodes, seeds, eps=None, key=0):
    planner, _ = resolve_planner(name, instance, episodes, eps=eps, checkpoint=checkpoint)
    log_points = np.unique(np.geomspace(1, episodes, 60).astype(int))
    start = time.perf_counter()
    result = simulate(jax.random.PRNGKey(key), instance, planner, num_episodes=episodes, num_seeds=seeds,
                      log_points=log_points, progress=False)
    seconds = time.perf_counter() - start
    final = stats.mean_ci(result.gap_regret[:, -1])
    slope = stats.loglog_slope(result.episodes, result.gap_regret)
    return result, {"planner": name, "eps": None if eps is None else eps.describe(), "episodes": episodes,
                    "seeds": seeds, "regret": final.mean, "regret_se": final.se,
                    "per_episode": final.mean / episodes, "per_episode_se": final.se / episodes,
                    "slope": slope.slope, "slope_lo": slope.lo, "slope_hi": slope.hi, "seconds": seconds}


def paired_ratio(a, b):
    """Ratio of mean final regrets of two runs on the same seeds, with a delta-method SE."""
    x, y = a.gap_regret[:, -1], b.gap_regret[:, -1]
    ratio = x.mean() / y.mean()
    n = x.size
    cov = np.cov(x, y, ddof=1)
    var = (cov[0, 0] / y.mean() ** 2 - 2 * ratio * cov[0, 1] / y.mean() ** 2
           + ratio ** 2 * cov[1, 1] / y.mean() ** 2) / n
    return float(ratio), float(np.sqrt(max(var, 0.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--prior", help="hard's task prior, e.g. 0.8,0.15,0.05 (default uniform)")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--line-episodes", type=int, default=100)
    parser.add_argument("--short-episodes", type=int, default=100)
    parser.add_argument("--short-seeds", type=int, default=256)
    parser.add_argument("--skip-anytime", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    prior = None if args.prior is None else [float(x) for x in args.prior.split(",")]
    instance = hard(prior=prior)
    out = {"checkpoint": args.checkpoint, "prior": prior}
    if not args.skip_anytime:
        any_llm, row_llm = run(instance, "eps_llm", args.checkpoint, args.episodes, args.seeds, EpsSpec("anytime", 1.0))
        any_bail, row_bail = run(instance, "eps_bail", None, args.episodes, args.seeds, EpsSpec("anytime", 1.0))
        ratio, ratio_se = paired_ratio(any_llm, any_bail)
        out["anytime"] = {"eps_llm": row_llm, "eps_bail": row_bail, "ratio": ratio, "ratio_se": ratio_se}
        print(f"anytime:1, T={args.episodes}, {args.seeds} seeds: eps_llm regret {row_llm['regret']:.1f} "
              f"(slope {row_llm['slope']:.3f} [{row_llm['slope_lo']:.3f}, {row_llm['slope_hi']:.3f}]), eps_bail "
              f"{row_bail['regret']:.1f} (slope {row_bail['slope']:.3f}); ratio {ratio:.3f} +- {ratio_se:.3f}",
              flush=True)
    _, llm = run(instance, "llm", args.checkpoint, args.line_episodes, args.short_seeds, key=1)
    _, bail = run(instance, "bail", None, args.line_episodes, args.short_seeds, key=1)
    _, eps_llm = run(instance, "eps_llm", args.checkpoint, args.short_episodes, args.short_seeds,
                     EpsSpec("fixed", 0.1), key=1)
    _, eps_bail = run(instance, "eps_bail", None, args.short_episodes, args.short_seeds, EpsSpec("fixed", 0.1), key=1)
    out.update(llm=llm, bail=bail, eps_llm_0_1=eps_llm, eps_bail_0_1=eps_bail,
               half_target=eps_llm["per_episode"] / llm["per_episode"])
    for row in (llm, bail, eps_llm, eps_bail):
        print(f"{row['planner']} eps={row['eps']} T={row['episodes']}: per-episode regret "
              f"{row['per_episode']:.4f} +- {row['per_episode_se']:.4f}", flush=True)
    print(f"eps_llm(0.1) / llm per-episode regret after {args.short_episodes} episodes: {out['half_target']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
