"""Several Actors: seed-steps per second against N, and the posterior update's cost, factorised vs flattened.

Instance: ``coordination(N, num_tasks=3, horizon=5)`` (per Actor S = G = O = 4; joint 4^N states
and subgoals). Two measurements per N, each in this process after a warm-up call (compile excluded):

- *update*: one posterior update for a batch of seeds, ``jit(vmap(filter.update))``, for the
  factorised filters (dense ``FactoredFilter``, known-state ``FactoredKnownStateFilter``) and the
  flattened product instance's filters (``DenseFilter``, ``KnownStateFilter``), with XLA's flop
  count of one update (``cost_analysis``) and the size of the filter's tables;
- *simulation*: ``jaxbail.simulate`` with BAIL, seed-steps/s, on the multi-agent instance (the
  runner's default filter: factorised known-state) and on its flattened product (default filter:
  known-state; and ``filter="dense"``) where the flattened kernel fits the memory budget.

Usage: python benchmarks/multi_agent.py [--max-actors 5] [--seeds 2048] [--episodes 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail import multi_agent as ma
from jaxbail.instance import MAX_JOINT_ENTRIES, InstanceError
from jaxbail.instances import coordination
from jaxbail.planners import make_planner
from jaxbail.runner import simulate

NUM_TASKS, HORIZON = 3, 5


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "jax": jax.__version__,
            "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            info["cpu_model"] = line.split(":", 1)[1].strip()
            break
    return info


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"])


def table_bytes(tree) -> int:
    return int(sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(tree)))


def update_rows(inst, batch: int, repeats: int, key) -> list[dict]:
    """Per-update time (batched over seeds) and flops of each filter that fits."""
    rows = []
    n, z = inst.num_actors, inst.num_tasks
    k_g, k_o = jax.random.split(key)
    subgoals = jax.random.randint(k_g, (batch,), 0, inst.num_subgoals)
    observations = jax.random.randint(k_o, (batch,), 0, inst.num_observations)
    log_task = jnp.broadcast_to(filt.prior_log_task(inst.prior), (batch, z))
    candidates = [("factored dense", inst, filt.FactoredFilter(inst),
                   filt.FactoredBelief(log_task, jnp.broadcast_to(inst.init, (batch,) + inst.init.shape)))]
    known = filt.FactoredKnownStateFilter.build(inst)
    candidates.append(("factored known-state", inst, known, filt.FactoredKnownStateBelief(
        log_task, jnp.zeros((batch, n, z), jnp.int32), jnp.zeros((batch, n), jnp.int32), num_states=inst.actor_states)))
    try:
        flat = ma.flatten(inst)
    except InstanceError:
        flat = None
    if flat is not None:
        candidates.append(("flattened dense", flat, filt.DenseFilter(flat),
                           filt.Belief(log_task, jnp.broadcast_to(flat.init, (batch,) + flat.init.shape))))
        flat_known = filt.KnownStateFilter.build(flat)
        candidates.append(("flattened known-state", flat, flat_known, filt.KnownStateBelief(
            log_task, jnp.zeros((batch, z), jnp.int32), jnp.zeros((batch,), jnp.int32), num_states=flat.num_states)))
    for label, model, flt, beliefs in candidates:
        step = jax.jit(jax.vmap(flt.update))
        seconds = best_time(lambda step=step, beliefs=beliefs: step(beliefs, subgoals, observations), repeats)
        one = jax.tree.map(lambda leaf: leaf[0], beliefs)
        tables = (table_bytes((model.init, model.transition, model.emission)) if hasattr(flt, "model")
                  else table_bytes(flt))
        rows.append({"N": n, "filter": label, "updates_per_s": batch / seconds,
                     "flops_per_update": flops(flt.update, one, subgoals[0], observations[0]),
                     "table_mib": tables / 2 ** 20})
    return rows


def simulation_rows(inst, seeds: int, episodes: int, repeats: int) -> list[dict]:
    rows = []
    planner = make_planner("bail")
    steps = seeds * episodes * inst.horizon
    runs = [("factorised (default)", inst, "auto")]
    try:
        flat = ma.flatten(inst)
        runs += [("flattened (default)", flat, "auto"), ("flattened, dense filter", flat, "dense")]
    except InstanceError:
        pass
    for label, model, filter_kind in runs:
        keys = iter(range(1, 1000))

        def run(model=model, filter_kind=filter_kind, keys=keys):
            return simulate(jax.random.PRNGKey(next(keys)), model, planner, num_episodes=episodes, num_seeds=seeds,
                            progress=False, filter=filter_kind).gap_regret
        first = time.perf_counter()
        regret = run()
        first = time.perf_counter() - first
        seconds = best_time(run, repeats)
        rows.append({"N": inst.num_actors, "run": label, "seed_steps_per_s": steps / seconds,
                     "first_call_s": first, "regret_per_episode": float(regret[:, -1].mean() / episodes)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-actors", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2048, help="simulation seeds (halved for every Actor past 3)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4096, help="seeds per batched posterior update")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    out = {"machine": machine(), "settings": vars(args), "budget_entries": MAX_JOINT_ENTRIES, "load_before": load(),
           "update": [], "simulation": []}
    print(f"machine: {out['machine'].get('cpu_model')}, {out['machine']['usable_cpus']} usable cores, "
          f"load average {out['load_before']:.2f}; jax {jax.__version__}")
    for n in range(1, args.max_actors + 1):
        inst = coordination(n, NUM_TASKS, HORIZON)
        out["update"] += update_rows(inst, args.batch, args.repeats, jax.random.PRNGKey(n))
        seeds = max(64, args.seeds >> max(0, n - 3))
        out["simulation"] += simulation_rows(inst, seeds, args.episodes, args.repeats)
        print(f"N={n} done (load {load():.2f})", flush=True)
    out["load_after"] = load()
    print(f"\nposterior update, {args.batch} seeds per batched call")
    print(f"{'N':>2}  {'filter':<22} {'updates/s':>12} {'flops/update':>13} {'tables MiB':>11}")
    for row in out["update"]:
        print(f"{row['N']:>2}  {row['filter']:<22} {row['updates_per_s']:>12.3g} {row['flops_per_update']:>13.0f} "
              f"{row['table_mib']:>11.3f}")
    print(f"\nBAIL simulation, {args.episodes} episodes x H={HORIZON}")
    print(f"{'N':>2}  {'run':<26} {'seed-steps/s':>13} {'first call s':>13} {'regret/episode':>15}")
    for row in out["simulation"]:
        print(f"{row['N']:>2}  {row['run']:<26} {row['seed_steps_per_s']:>13.3g} {row['first_call_s']:>13.1f} "
              f"{row['regret_per_episode']:>15.3f}")
    print(f"\nload average before {out['load_before']:.2f}, after {out['load_after']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
