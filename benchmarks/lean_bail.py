#!/usr/bin/env python
"""Experimental: a hand-batched JAX BAIL simulator, to measure the headroom left in jaxbail's runner.

Same model and the *same random numbers* as ``jaxbail.runner.simulate`` with
``make_planner("bail")`` in bayes mode (it reproduces the runner's key layout:
``fold_in(key, i)`` per seed, then the task / environment / planner streams), so
the per-seed gap regret must match the runner's up to float32 rounding (checked
and printed). It always does the general (dense) update; it is timed against the
runner's default and, where ``simulate`` has the argument, ``filter="dense"``.
What differs is only how the computation is written:

- no ``vmap``: every array carries the seed axis explicitly, task-major
  (``q[z, n, s]``), as in ``numpy_bail.py``, so the all-subgoal prediction is one
  batched matrix product ``[Z] x ([N, S] @ [S, G*S])`` with no layout transposes;
- the chosen subgoal's block is picked by ``take_along_axis``;
- BAIL's mixture as ``sum_z w(z) (q(z) @ pi_h(z))`` (exponentials of ``Z`` numbers per seed).

Not part of the package; it only reads jaxbail (instances, experts, sampling).

Usage::

    python benchmarks/lean_bail.py --seeds 4096 --episodes 40
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail.experts import compute_experts
from jaxbail.instance import Instance
from jaxbail.instances import random_instance
from jaxbail.planners import make_planner
from jaxbail.runner import seed_keys, simulate
from jaxbail.sampling import cumulative, draw, draw_from_probs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import INSTANCE, Meter, _attempts, clean, wait_for_quiet  # noqa: E402

ENV, PLANNER, TASK = 0, 1, 2  # the runner's stream indices


def _absorb(log_task, fallback, unnormalised):
    """Task-major exact update: log_task ``[Z, N]``; fallback, unnormalised ``[Z, N, S]``."""
    evidence = jnp.sum(unnormalised, axis=-1)
    positive = evidence > 0
    log_joint = jnp.where(positive, log_task + jnp.log(jnp.where(positive, evidence, 1.0)), -jnp.inf)
    log_norm = jax.nn.logsumexp(log_joint, axis=0)
    missed = ~jnp.isfinite(log_norm)
    new_log_task = jnp.where(missed, log_task, log_joint - jnp.where(missed, 0.0, log_norm))
    state = jnp.where((positive & ~missed)[..., None], unnormalised / jnp.where(positive, evidence, 1.0)[..., None],
                      fallback)
    return new_log_task, state, missed


@partial(jax.jit, static_argnames=("num_episodes", "horizon"))
def simulate_lean(keys, instance_arrays, num_episodes: int, horizon: int):
    """Per-seed cumulative gap regret ``[N]`` and per-episode gap regret ``[T, N]``."""
    prior, init, transition, emission, reward = instance_arrays
    z_count, s_count, g_count, _ = transition.shape
    n = keys.shape[0]
    inst = Instance(prior=prior, init=init, transition=transition, emission=emission, reward=reward, horizon=horizon)
    experts = compute_experts(inst)
    cum_init, cum_trans, cum_emis = cumulative(init), cumulative(transition), cumulative(emission)
    emis_zos = jnp.swapaxes(emission, 1, 2)  # [Z, O, S]
    trans_flat = transition.reshape(z_count, s_count, g_count * s_count)

    task = jax.vmap(lambda k: draw_from_probs(prior, jax.random.uniform(jax.random.fold_in(k, TASK))))(keys)
    log_prior = jnp.log(prior) - jax.nn.logsumexp(jnp.log(prior))
    log_task = jnp.broadcast_to(log_prior[:, None], (z_count, n))
    env_keys = jax.vmap(lambda k: jax.random.fold_in(k, ENV))(keys)
    plan_keys = jax.vmap(lambda k: jax.random.fold_in(k, PLANNER))(keys)
    init_zns = jnp.broadcast_to(init[:, None, :], (z_count, n, s_count))

    def episode(log_task, ep):
        u_env = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, ep), (2 * horizon + 2,)))(env_keys)
        u_sub = jax.vmap(lambda k: jax.random.uniform(jax.random.split(jax.random.fold_in(k, ep))[1],
                                                      (horizon,)))(plan_keys)
        state = draw(cum_init[task], u_env[:, 0])
        obs = draw(cum_emis[task, state], u_env[:, 1])
        log_task, q, _ = _absorb(log_task, init_zns, init_zns * emis_zos[:, obs, :])

        def step(c, h):
            log_task, q, state, gap = c
            per_task = jnp.einsum("zns,zsg->zng", q, experts.policy[h])
            mixture = jnp.einsum("zn,zng->ng", jnp.exp(log_task), per_task)
            subgoal = draw_from_probs(mixture, u_sub[:, h])
            gap = gap + experts.v[h, task, state] - experts.q[h, task, state, subgoal]
            next_state = draw(cum_trans[task, state, subgoal], u_env[:, 2 + 2 * h])
            next_obs = draw(cum_emis[task, next_state], u_env[:, 3 + 2 * h])
            every = jnp.einsum("zns,zsk->znk", q, trans_flat).reshape(z_count, n, g_count, s_count)
            predicted = jnp.take_along_axis(every, subgoal[None, :, None, None], axis=2)[:, :, 0, :]
            log_task, q, _ = _absorb(log_task, predicted, predicted * emis_zos[:, next_obs, :])
            return (log_task, q, next_state, gap), None

        (log_task, *_, gap), _ = jax.lax.scan(step, (log_task, q, state, jnp.zeros(n, jnp.float32)),
                                              jnp.arange(horizon))
        return log_task, gap

    _, gaps = jax.lax.scan(episode, log_task, jnp.arange(num_episodes, dtype=jnp.int32))
    return gaps.sum(axis=0), gaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4096)
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    instance = random_instance(0, **INSTANCE)
    arrays = (instance.prior, instance.init, instance.transition, instance.emission, instance.reward)
    key = jax.random.PRNGKey(1)
    n, t, h = args.seeds, args.episodes, instance.horizon
    keys = seed_keys(key, n)
    planner = make_planner("bail")

    def lean():
        total, _ = simulate_lean(keys, arrays, t, h)
        return np.asarray(total)

    def runner(**kw):
        return lambda: simulate(key, instance, planner, num_episodes=t, num_seeds=n, progress=False,
                                **kw).gap_regret[:, -1]

    contenders = [("runner", runner())]
    if "filter" in inspect.signature(simulate).parameters:
        contenders = [("runner", runner()), ("dense", runner(filter="dense"))]
    out = {"seeds": n, "episodes": t}
    results = {}
    for name, fn in (*contenders, ("lean", lean)):
        t0 = time.perf_counter()
        results[name] = fn()
        first = time.perf_counter() - t0
        runs: list[dict] = []
        for _ in _attempts(args.repeats, runs, args.repeats + 4):
            wait_for_quiet(args.quiet_wait)
            with Meter() as m:
                fn()
            runs.append(m.record())
        best = min([r for r in runs if clean(r)] or runs, key=lambda r: r["seconds"])
        out[name] = {"rate": n * t * h / best["seconds"], "first_call_seconds": first, "runs": runs}
        print(f"{name:7s} {out[name]['rate']:9.3g} seed-steps/s  (first call {first:.1f} s; "
              f"cores {best['cores_used']:.2f}, others {best['other_processes_cores']:.2f})", flush=True)
    for name, _ in contenders:
        diff = np.abs(results["lean"] - results[name])
        out[f"max_abs_gap_difference_vs_{name}"] = float(diff.max())
        out[f"seeds_differing_vs_{name}"] = int((diff > 1e-3).sum())
        print(f"lean / {name}: {out['lean']['rate'] / out[name]['rate']:.2f}x; same random numbers: per-seed "
              f"cumulative gap regret differs by > 1e-3 on {int((diff > 1e-3).sum())} of {n} seeds "
              f"(max |diff| {diff.max():.2e}); mean {results['lean'].mean() / t:.5f} vs "
              f"{results[name].mean() / t:.5f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
