"""A compiled per-seed loop BAIL simulator with numba: the strongest CPU peer of jaxbail's default path.

Same model as jaxbail's ``simulate(..., filter="auto")`` on a deterministic injective Reporter (and as
``numpy_bail.simulate(..., predict="known")``): float64, greedy experts by backward induction (near-ties
within ``TIE_TOL`` to the lowest index, from :func:`numpy_bail.make_tables`), the known-state posterior
(the log task marginal ``[Z]`` and the last observation; each step adds ``log P_z(s_z(o') | s_z(o), g)``
and normalises with a log-sum-exp), BAIL's subgoal drawn from the posterior mixture of the tasks' expert
rows, environment and Reporter draws by one-uniform inverse CDFs, and the gap estimator
``V*_h(s) - Q*_h(s, g)`` (and the return estimator ``J* - sum r``) per episode.

Written as a performance-minded user would: one ``prange`` over seeds (numba's threading layer, one
seed per iteration, all state in registers and small stack arrays), a plain loop over episodes and steps,
no per-episode arrays; the uniforms come from a counter-based hash (splitmix64 of seed, episode and draw
index), so a seed's numbers do not depend on the thread that runs it. Its random numbers are not
jaxbail's, so the agreement check is statistical (z-score of the mean regret per episode).

Usage (needs ``pip install -e .[bench]`` for numba):
  python benchmarks/numba_bail.py                          # 4,096 and 65,536 seeds against jaxbail and NumPy
  python benchmarks/numba_bail.py --sizes 4096 --episodes 50 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy_bail  # noqa: E402
import throughput  # noqa: E402

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - the bench extra is optional
    numba = None


def known_tables(t: numpy_bail.Tables) -> dict[str, np.ndarray]:
    """The known-state tables of ``numpy_bail._simulate_known``, as contiguous float64/int64 arrays."""
    z_count, s_count, g_count, _ = t.transition.shape
    zi = np.arange(z_count)[:, None]
    shows = t.emission > 0
    state_of_obs = shows.argmax(axis=1)  # [Z, O]
    possible = shows.any(axis=1)
    with np.errstate(divide="ignore"):
        log_first = np.log(np.where(possible, t.init[zi, state_of_obs], 0.0)).T  # [O, Z]
        step = t.transition[zi[:, :, None, None], state_of_obs[:, :, None, None],
                            np.arange(g_count)[None, None, :, None], state_of_obs[:, None, None, :]]
        log_step = np.moveaxis(np.log(np.where(possible[:, None, None, :], step, 0.0)), 0, -1)  # [O, G, O, Z]
    # each task's expert row at the state its belief sits on: [H, O, Z, G]
    policy_obs = np.stack([t.policy[h][zi, state_of_obs] for h in range(t.horizon)]).transpose(0, 2, 1, 3)
    return {"cum_prior": t.cum_prior, "cum_init": t.cum_init, "cum_transition": t.cum_transition,
            "cum_emission": t.cum_emission, "log_prior": np.log(t.prior), "log_first": log_first,
            "log_step": log_step, "policy_obs": policy_obs, "v": t.v, "q": t.q, "reward": t.reward,
            "value": t.value}


if numba is not None:
    @njit(inline="always")
    def _uniform(seed, counter):
        """splitmix64 of ``(seed, counter)`` -> a float64 in ``[0, 1)`` (53 bits)."""
        x = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(counter) * np.uint64(0xD1B54A32D192ED03)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        return float(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)

    @njit(inline="always")
    def _draw(cum, u):
        """``count(cum <= u)`` for one inverse-CDF row."""
        k = 0
        for i in range(cum.shape[0]):
            if cum[i] <= u:
                k += 1
        return min(k, cum.shape[0] - 1)

    @njit(parallel=True, fastmath=False, error_model="numpy")
    def _simulate(cum_prior, cum_init, cum_transition, cum_emission, log_prior, log_first, log_step,
                  policy_obs, v, q, reward, value, num_seeds, num_episodes, seed_offset, task):
        horizon, _, z_count, g_count = policy_obs.shape
        tail = int(math.ceil(num_episodes / 10))
        out = np.zeros((num_seeds, 5))  # per-episode gap, first-episode gap, last-10% gap, return, posterior
        for n in prange(num_seeds):
            seed = seed_offset + n
            counter = 0
            z_true = task if task >= 0 else _draw(cum_prior, _uniform(seed, counter))
            counter += 1
            log_task = np.empty(z_count)
            top = -np.inf
            for z in range(z_count):
                log_task[z] = log_prior[z]
            mixture = np.empty(g_count)
            cum = np.empty(g_count)
            gap_total = 0.0
            gap_first = 0.0
            gap_tail = 0.0
            ret_total = 0.0
            for episode in range(num_episodes):
                state = _draw(cum_init[z_true], _uniform(seed, counter))
                obs = _draw(cum_emission[z_true, state], _uniform(seed, counter + 1))
                counter += 2
                # absorb the first observation
                top = -np.inf
                for z in range(z_count):
                    log_task[z] += log_first[obs, z]
                    top = max(top, log_task[z])
                total = 0.0
                for z in range(z_count):
                    total += math.exp(log_task[z] - top)
                norm = top + math.log(total)
                for z in range(z_count):
                    log_task[z] -= norm
                gap = 0.0
                ret = 0.0
                for h in range(horizon):
                    for g in range(g_count):
                        mixture[g] = 0.0
                    for z in range(z_count):
                        w = math.exp(log_task[z])
                        for g in range(g_count):
                            mixture[g] += w * policy_obs[h, obs, z, g]
                    acc = 0.0
                    for g in range(g_count):
                        acc += mixture[g]
                        cum[g] = acc
                    last = 0
                    for g in range(g_count):
                        if mixture[g] > 0:
                            last = g
                    for g in range(g_count):
                        cum[g] = 1.0 if g >= last else cum[g] / acc
                    subgoal = _draw(cum, _uniform(seed, counter))
                    gap += v[h, z_true, state] - q[h, z_true, state, subgoal]
                    ret += reward[z_true, state, subgoal]
                    next_state = _draw(cum_transition[z_true, state, subgoal], _uniform(seed, counter + 1))
                    next_obs = _draw(cum_emission[z_true, next_state], _uniform(seed, counter + 2))
                    counter += 3
                    top = -np.inf
                    for z in range(z_count):
                        log_task[z] += log_step[obs, subgoal, next_obs, z]
                        top = max(top, log_task[z])
                    total = 0.0
                    for z in range(z_count):
                        total += math.exp(log_task[z] - top)
                    norm = top + math.log(total)
                    for z in range(z_count):
                        log_task[z] -= norm
                    state = next_state
                    obs = next_obs
                gap_total += gap
                ret_total += value[z_true] - ret
                if episode == 0:
                    gap_first = gap
                if episode >= num_episodes - tail:
                    gap_tail += gap
            out[n, 0] = gap_total / num_episodes
            out[n, 1] = gap_first
            out[n, 2] = gap_tail / tail
            out[n, 3] = ret_total / num_episodes
            out[n, 4] = math.exp(log_task[z_true])
        return out


def simulate(tables: dict[str, np.ndarray], num_seeds: int, num_episodes: int, seed_offset: int = 0,
             task: int | None = None) -> np.ndarray:
    """Per seed ``[N, 5]``: mean gap regret per episode, episode 1's gap regret, the mean over the last 10%
    of episodes, mean return regret per episode, final posterior mass on the true task."""
    if numba is None:
        raise SystemExit("numba is not installed: pip install -e .[bench]")
    return _simulate(tables["cum_prior"], tables["cum_init"], tables["cum_transition"], tables["cum_emission"],
                     tables["log_prior"], tables["log_first"], tables["log_step"], tables["policy_obs"],
                     tables["v"], tables["q"], tables["reward"], tables["value"], num_seeds, num_episodes,
                     seed_offset, -1 if task is None else task)


def _benchmark_tables(instance_seed: int) -> numpy_bail.Tables:
    """The benchmark instance's float64 tables, built by jaxbail in a child process (no jax import here)."""
    code = ("import json, sys, numpy as np; from jaxbail.instances import random_instance; "
            f"i = random_instance({instance_seed}, **{throughput.INSTANCE!r}); "
            "json.dump({k: np.asarray(getattr(i, k), np.float64).tolist() for k in "
            "('prior', 'init', 'transition', 'emission', 'reward')} | {'horizon': i.horizon}, sys.stdout)")
    arrays = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}).stdout)
    return numpy_bail.make_tables(**arrays)


def worker(seeds: int, episodes: int, repeats: int, instance_seed: int) -> dict:
    """Timed numba runs in this fresh process: the first call (JIT compile included), whole process (from
    process start to the first result, less the child that builds the tables) and steady-state calls."""
    t0 = time.perf_counter()
    tables = known_tables(_benchmark_tables(instance_seed))
    table_seconds = time.perf_counter() - t0
    with throughput.Meter() as first:
        result = simulate(tables, seeds, episodes, seed_offset=0)
    since_start = throughput._seconds_since_process_start() - table_seconds
    parts = [result]
    steady = []
    for k in range(repeats):
        with throughput.Meter() as m:
            result = simulate(tables, seeds, episodes, seed_offset=(k + 1) * seeds)
        steady.append(m.record())
        parts.append(result)
    per_seed = np.concatenate(parts)
    regret = throughput._regret_summary(per_seed[:, 0], per_seed[:, 1], per_seed[:, 2], per_seed[:, 3])
    return {"kind": "numba", "numba": numba.__version__, "threads": numba.get_num_threads(),
            "threading_layer": numba.threading_layer(), "seeds": seeds, "episodes": episodes,
            "horizon": int(tables["v"].shape[0] - 1), "seed_steps": seeds * episodes * int(tables["v"].shape[0] - 1),
            "first_call": first.record(), "process_start_to_first_result_seconds": since_start,
            "tables_child_seconds": table_seconds, "steady": steady, "regret": regret}


def _spawn(script: Path, args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{script.name} {' '.join(args)} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,65536", help="comma list of seed counts")
    parser.add_argument("--episodes", type=int, default=50, help="episodes of every timed run")
    parser.add_argument("--repeats", type=int, default=2, help="steady-state runs (the best is reported)")
    parser.add_argument("--numpy-predict", default="known,group", help="NumPy baselines (numpy_bail methods)")
    parser.add_argument("--instance-seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.seeds, args.episodes, args.repeats, args.instance_seed)))
        return 0
    common = ["--repeats", str(args.repeats), "--instance-seed", str(args.instance_seed), "--quiet-wait", "0",
              "--max-attempts", str(args.repeats)]
    rows = []
    print(f"seed-steps/s, random Z=8 S=16 G=4 H=10, {args.episodes} episodes; load = 1/5/15-min load average "
          "before each run (provisional when other processes share the cores)")
    for n in [int(x) for x in args.sizes.split(",")]:
        size = {"seeds": n, "episodes": args.episodes}
        size["load_jax"] = _load()
        jax_rec = _spawn(HERE / "throughput.py", ["--worker", "jax", "--seeds", str(n), "--episodes",
                                                  str(args.episodes), *common])
        size["load_numba"] = _load()
        nb = _spawn(Path(__file__), ["--worker", "--seeds", str(n), "--episodes", str(args.episodes),
                                     "--repeats", str(args.repeats), "--instance-seed", str(args.instance_seed)])
        steps = jax_rec["seed_steps"]
        jax_steady = steps / throughput.best(jax_rec["steady"])["seconds"]
        nb_steady = steps / throughput.best(nb["steady"])["seconds"]
        size.update(jax=jax_rec, numba=nb, jax_steady=jax_steady, numba_steady=nb_steady,
                    jax_whole=jax_rec["process_start_to_first_result_seconds"],
                    numba_whole=nb["process_start_to_first_result_seconds"])
        a, b = jax_rec["regret"]["gap_per_episode"], nb["regret"]["gap_per_episode"]
        size["z_jax_vs_numba"] = (a["mean"] - b["mean"]) / math.hypot(a["se"], b["se"])
        size["numpy"] = {}
        for predict in args.numpy_predict.split(","):
            size[f"load_numpy_{predict}"] = _load()
            rec = _spawn(HERE / "throughput.py", ["--worker", "numpy", "--seeds", str(n), "--episodes",
                                                  str(args.episodes), "--numpy-predict", predict, *common])
            rec["steady_rate"] = steps / throughput.best(rec["runs"])["seconds"]
            rec["first_run_seconds"] = rec["runs"][0]["seconds"]
            size["numpy"][predict] = rec
        rows.append(size)
        print(f"\n{n} seeds x {args.episodes} episodes (load before jaxbail {size['load_jax']}, numba "
              f"{size['load_numba']})")
        print(f"  jaxbail  steady {jax_steady:.3g}/s   whole process {size['jax_whole']:.2f} s")
        print(f"  numba    steady {nb_steady:.3g}/s   whole process {size['numba_whole']:.2f} s "
              f"(JIT included; {nb['threads']} threads)  -> jaxbail/numba steady {jax_steady / nb_steady:.2f}x, "
              f"whole {size['numba_whole'] / size['jax_whole']:.2f}x")
        for predict, rec in size["numpy"].items():
            print(f"  numpy {predict:<6} steady {rec['steady_rate']:.3g}/s   first run {rec['first_run_seconds']:.2f} s"
                  f"  -> jaxbail/numpy steady {jax_steady / rec['steady_rate']:.2f}x")
        print(f"  regret per episode: jaxbail {a['mean']:.4f} +- {a['se']:.4f}, numba {b['mean']:.4f} +- "
              f"{b['se']:.4f}  (z = {size['z_jax_vs_numba']:+.2f})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"argv": sys.argv[1:], "sizes": rows, "machine": throughput.machine_info()}, f, indent=2,
                      default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
