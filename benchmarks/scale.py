"""Scale checks of the command line: peak RSS and time against seeds (streamed statistics, seed-axis chunking)
and the whole-process time of a first and a second identical ``jaxbail run`` (persistent compilation cache).

Every run is a fresh ``python -m jaxbail.cli`` process; its peak RSS is the child's ``ru_maxrss`` (wait4).
The 1-minute load average (``/proc/loadavg``) is recorded beside each number: on a shared machine the
times are only indicative.

Usage:
  python benchmarks/scale.py rss --seeds 1000 10000 100000 1000000 --episodes 1000
  python benchmarks/scale.py warm            # the README's run example, twice, with a fresh cache
  python benchmarks/scale.py rss ... --json out.json
  python benchmarks/scale.py device --seeds 10000 100000 1000000 --episodes 100   # on a GPU: seed-steps/s
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

README_RUN = ["run", "--instance", "hard", "--param", "num_tasks=4", "--param", "prior=0.4,0.3,0.2,0.1",
              "--planner", "eps_bail", "--eps", "auto", "--episodes", "5000", "--seeds", "2000", "--json"]


def load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ``jaxbail`` with jax.monitoring's durations (tracing, lowering, backend compile or cache load; seconds and
# counts per event) written to $COMPILE_LOG
_TIMED_CLI = ("import collections, json, os, sys, jax.monitoring as m; spent = collections.defaultdict(float); "
              "count = collections.Counter(); "
              "m.register_event_duration_secs_listener(lambda name, secs, **kw: (spent.__setitem__(name, "
              "spent[name] + secs), count.update([name]))); "
              "from jaxbail.cli import main; code = main(sys.argv[1:]); "
              "json.dump({'seconds': spent, 'counts': count}, open(os.environ['COMPILE_LOG'], 'w')); sys.exit(code)")


def _compile_seconds(log: dict) -> dict:
    def total(suffix):
        return sum(v for k, v in log["seconds"].items() if k.endswith(suffix))
    return {"trace_seconds": total("jaxpr_trace_duration"), "lower_seconds": total("jaxpr_to_mlir_module_duration"),
            "backend_compile_or_load_seconds": total("backend_compile_duration"),
            "backend_compiles": sum(v for k, v in log["counts"].items() if k.endswith("backend_compile_duration")),
            "cache_hits": sum(v for k, v in log["counts"].items() if "cache_retrieval" in k), "events": log}


def child_rss(args: list[str], env: dict[str, str] | None = None, timed: bool = False) -> dict:
    """One CLI process: wall seconds, its own peak RSS in MiB (os.wait4), the load before and after, and
    its JSON summary."""
    before = load()
    start = time.perf_counter()
    command = ["-c", _TIMED_CLI] if timed else ["-m", "jaxbail.cli"]
    proc = subprocess.Popen([sys.executable, *command, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    out = proc.stdout.read()
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"jaxbail {' '.join(args)} failed with exit code {proc.returncode}")
    return {"seconds": wall, "peak_rss_mib": rusage.ru_maxrss / 1024, "load_before": before,
            "load_after": load(), "summary": json.loads(out)}


def cmd_rss(args) -> list[dict]:
    rows = []
    print(f"{'seeds':>9} {'episodes':>8} {'seconds':>9} {'peak RSS MiB':>13} {'load 1m':>12} {'regret mean':>12}")
    for seeds in args.seeds:
        argv = ["run", "--instance", args.instance, "--planner", args.planner, "--episodes", str(args.episodes),
                "--seeds", str(seeds), "--json", "--no-progress"]
        row = child_rss(argv)
        row.update(seeds=seeds, episodes=args.episodes, instance=args.instance, planner=args.planner,
                   regret_mean=row["summary"]["regret_mean"], regret_se=row["summary"]["regret_se"])
        del row["summary"]
        rows.append(row)
        print(f"{seeds:>9} {args.episodes:>8} {row['seconds']:>9.1f} {row['peak_rss_mib']:>13.0f} "
              f"{row['load_before']:>5.1f}->{row['load_after']:<5.1f} {row['regret_mean']:>12.4g}", flush=True)
    return rows


def cmd_warm(args) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="jaxbail-xla-") as cache:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
        env["JAXBAIL_COMPILE_CACHE"] = cache
        env["COMPILE_LOG"] = os.path.join(cache, "compile-log.json")
        for label in ("first (empty cache)", "second (warm cache)"):
            row = child_rss([*README_RUN, "--no-progress"], env, timed=True)
            with open(env["COMPILE_LOG"]) as f:
                row.update(_compile_seconds(json.load(f)))
            row.update(run=label, regret_mean=row["summary"]["regret_mean"])
            del row["summary"]
            rows.append(row)
            print(f"{label:<22} {row['seconds']:7.2f} s whole process; trace {row['trace_seconds']:.2f} s, lower "
                  f"{row['lower_seconds']:.2f} s, XLA compile or cache load "
                  f"{row['backend_compile_or_load_seconds']:.2f} s ({row['backend_compiles']} programs, "
                  f"{row['cache_hits']} cache events); peak RSS {row['peak_rss_mib']:.0f} MiB, "
                  f"load {row['load_before']:.1f}->{row['load_after']:.1f}", flush=True)
        off = child_rss([*README_RUN, "--no-progress", "--no-compile-cache"], env)
        rows.append({"run": "--no-compile-cache", **{k: v for k, v in off.items() if k != "summary"}})
        print(f"{'--no-compile-cache':<22} {off['seconds']:7.2f} s whole process  "
              f"load {off['load_before']:.1f}->{off['load_after']:.1f}", flush=True)
    return rows


def cmd_device(args) -> list[dict]:
    """seed-steps/s of ``simulate`` (bail, default filter) on the default backend's devices, in this process:
    the throughput benchmark's instance (random Z=8, S=16, G=4, H=10), first call and best steady call,
    and the devices' peak memory where the backend reports it."""
    import jax

    from jaxbail.instances import random_instance
    from jaxbail.planners import make_planner
    from jaxbail.runner import simulate

    instance = random_instance(0, num_tasks=8, num_states=16, num_subgoals=4, horizon=10)
    planner = make_planner("bail")
    devices = jax.local_devices()
    print(f"devices: {len(devices)} x {devices[0].device_kind} ({devices[0].platform}); jax {jax.__version__}")
    rows = []
    for seeds in args.seeds:
        def run(k, seeds=seeds):
            start = time.perf_counter()
            result = simulate(jax.random.PRNGKey(k), instance, planner, num_episodes=args.episodes,
                              num_seeds=seeds, keep_curves=False, progress=False)
            return time.perf_counter() - start, result
        first, _ = run(0)
        steady = min(run(k + 1)[0] for k in range(args.repeats))
        stats = [d.memory_stats() or {} for d in devices]
        peak = sum(m.get("peak_bytes_in_use", 0) for m in stats) / 2**20
        rate = seeds * args.episodes * instance.horizon / steady
        row = {"seeds": seeds, "episodes": args.episodes, "first_call_seconds": first, "steady_seconds": steady,
               "seed_steps_per_s": rate, "device_peak_mib": peak or None, "devices": len(devices),
               "device_kind": devices[0].device_kind, "load": load()}
        rows.append(row)
        print(f"{seeds:>9} seeds x {args.episodes} episodes: {rate:.3g} seed-steps/s (steady {steady:.2f} s, "
              f"first call {first:.2f} s), device peak {f'{peak:.0f} MiB' if peak else 'n/a'}, load {row['load']:.1f}",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rss = sub.add_parser("rss")
    rss.add_argument("--seeds", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    rss.add_argument("--episodes", type=int, default=1000)
    rss.add_argument("--instance", default="hard")
    rss.add_argument("--planner", default="bail")
    rss.add_argument("--json", metavar="OUT")
    warm = sub.add_parser("warm")
    warm.add_argument("--json", metavar="OUT")
    device = sub.add_parser("device")
    device.add_argument("--seeds", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    device.add_argument("--episodes", type=int, default=100)
    device.add_argument("--repeats", type=int, default=2)
    device.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    rows = {"rss": cmd_rss, "warm": cmd_warm, "device": cmd_device}[args.command](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": args.command, "rows": rows, "argv": sys.argv[1:]}, f, indent=2)


if __name__ == "__main__":
    main()
