#!/usr/bin/env python
"""Seed-steps per second of jaxbail's BAIL simulation against a vectorised float64 NumPy simulator.

One *seed-step* is one subgoal step of one seed, posterior update included:
``rate = seeds * episodes * H / seconds``.

Instance: ``jaxbail.instances.random_instance(0, num_tasks=8, num_states=16,
num_subgoals=4, horizon=10)`` (identity Reporter), bayes mode (each seed's task
drawn from the prior), planner ``make_planner("bail")`` through
``jaxbail.runner.simulate`` with its default chunking. The NumPy baseline is
``benchmarks/numpy_bail.py`` (same model, float64, vectorised over seeds).

Every measurement runs in a fresh subprocess of this script (``--worker``), so
peak RSS (``ru_maxrss``, process-wide and monotone) is per size, and the
OpenBLAS variables ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are removed by
re-executing this script without them before NumPy is ever imported.

Usage::

    python benchmarks/throughput.py            # full (several minutes)
    python benchmarks/throughput.py --quick    # < 1 minute
    python benchmarks/throughput.py --seeds 4096 --episodes 200 --json out.json
"""

from __future__ import annotations

import os
import sys

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if __name__ == "__main__" and any(v in os.environ for v in _OPENBLAS_VARS):
    # Re-exec without the OpenBLAS overrides, before numpy (and its OpenBLAS) is loaded.
    _env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], _env)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
INSTANCE = dict(num_tasks=8, num_states=16, num_subgoals=4, horizon=10)
FULL_SIZES = (256, 1024, 4096, 16384, 65536)
QUICK_SIZES = (256, 1024, 4096)
CEILING_FLOPS_FALLBACK = 2e11  # DESIGN.md's rough figure, used when /proc/cpuinfo gives no clock


def ceiling_flops(machine: dict) -> tuple[float, str]:
    """Peak float32 flop/s: cores x clock x lanes (8 AVX2, 16 AVX-512) x 2 FMA pipes x 2 flop per FMA."""
    mhz = machine.get("cpu_mhz")
    if not mhz:
        return CEILING_FLOPS_FALLBACK, "DESIGN.md's rough figure"
    lanes = 16 if "avx512f" in machine.get("simd", "") else 8
    cores = machine["usable_cpus"]
    return cores * mhz * 1e6 * lanes * 2 * 2, f"{cores} cores x {mhz / 1e3:.2f} GHz x {lanes} lanes x 2 FMA x 2 flop"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- machine load

def _cpu_jiffies() -> tuple[int, int]:
    """(busy, steal) jiffies summed over all CPUs from /proc/stat (busy excludes idle, iowait, steal)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


class Meter:
    """Wall time, own CPU time (cores used) and other processes' CPU use over a block."""

    def __enter__(self):
        self.busy0, self.steal0 = _cpu_jiffies()
        self.cpu0 = _own_cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        busy1, steal1 = _cpu_jiffies()
        own = _own_cpu() - self.cpu0
        self.cores_used = own / self.wall
        self.other_cores = max(0.0, (busy1 - self.busy0) / CLK_TCK - own) / self.wall
        self.steal_cores = (steal1 - self.steal0) / CLK_TCK / self.wall
        return False

    def record(self) -> dict:
        return {"seconds": self.wall, "cores_used": round(self.cores_used, 3),
                "other_processes_cores": round(self.other_cores, 3), "steal_cores": round(self.steal_cores, 3)}


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait`` s) until other processes use < ``threshold`` cores over 0.5 s; return the last load."""
    deadline = time.monotonic() + max_wait
    while True:
        with Meter() as m:
            time.sleep(0.5)
        if m.other_cores < threshold or time.monotonic() > deadline:
            return m.other_cores
        time.sleep(2.0)


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _seconds_since_process_start() -> float:
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / CLK_TCK


# --------------------------------------------------------------------------- machine description

def machine_info() -> dict:
    import numpy as np

    info: dict = {"python": platform.python_version(), "numpy": np.__version__,
                  "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and "cpu_model" not in info:
                info["cpu_model"] = value
            elif key == "cpu MHz" and "cpu_mhz" not in info:
                info["cpu_mhz"] = float(value)
            elif key == "cache size" and "cache" not in info:
                info["cache"] = value
            elif key == "flags" and "simd" not in info:
                flags = value.split()
                info["simd"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16")
                                        if f in flags)
    except OSError:
        pass
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((index / f).read_text().strip() for f in ("level", "type", "size"))
            caches.append(f"L{level}{'d' if kind == 'Data' else 'i' if kind == 'Instruction' else ''} {size}")
        except OSError:
            pass
    if caches:
        info["caches_per_core_view"] = ", ".join(caches)
    try:
        import jax
        import jaxlib

        info["jax"] = jax.__version__
        info["jaxlib"] = jaxlib.__version__
        info["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception as err:  # pragma: no cover - reported, not fatal
        info["jax"] = f"unavailable: {err}"
    info["blas"] = blas_info()
    info["jaxbail"] = jaxbail_version()
    info["openblas_env_unset"] = not any(v in os.environ for v in _OPENBLAS_VARS)
    return info


def jaxbail_version() -> dict:
    """The jaxbail sources measured: git commit, whether jaxbail/ has uncommitted changes, a content hash."""
    import hashlib

    root = HERE.parent
    out: dict = {}
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                       text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "jaxbail"], cwd=root, capture_output=True,
                                text=True, check=True).stdout
        out["jaxbail_dirty"] = bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    digest = hashlib.sha256()
    for path in sorted((root / "jaxbail").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    out["sources_sha256"] = digest.hexdigest()[:12]
    return out


def blas_info() -> dict:
    """NumPy's BLAS: threadpoolctl if installed, else numpy's build config plus OpenBLAS's own answers."""
    import numpy as np

    out: dict = {}
    try:
        import threadpoolctl

        out["threadpoolctl"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                                for d in threadpoolctl.threadpool_info()]
        return out
    except ImportError:
        out["threadpoolctl"] = "not installed"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out["name"], out["version"] = blas.get("name"), blas.get("version")
    except Exception:
        pass
    try:  # ask the OpenBLAS numpy loaded which kernel (core) it picked at run time
        import ctypes
        import glob

        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "lib*openblas*.so*"))
        if libs:
            lib = ctypes.CDLL(libs[0])
            for symbol, key in (("scipy_openblas_get_corename64_", "core"),
                                ("openblas_get_corename64_", "core"), ("openblas_get_corename", "core")):
                if hasattr(lib, symbol) and key not in out:
                    fn = getattr(lib, symbol)
                    fn.restype = ctypes.c_char_p
                    out[key] = fn().decode()
            for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
                if hasattr(lib, symbol):
                    out["num_threads"] = int(getattr(lib, symbol)())
                    break
    except Exception as err:  # pragma: no cover
        out["core_error"] = str(err)
    return out


# --------------------------------------------------------------------------- cost model

def cost_model(z: int, s: int, g: int, o: int) -> dict:
    """Flops and bytes per seed-step, counted from the algorithm (one multiply-add = 2 flops).

    ``all_subgoals`` is jaxbail's general update (SPEC 3 in ``belief.predict``, ``filter="dense"``):
    the belief is contracted with the transitions of every subgoal, ``Z*S*G*S`` multiply-adds,
    then the chosen ``[Z, S']`` block is selected (``Z*G*S`` selects).
    ``chosen_only`` is the minimum of a general update: the chosen subgoal's ``Z*S*S`` multiply-adds.
    ``known_state`` is jaxbail's default on a deterministic injective Reporter
    (:class:`jaxbail.belief.KnownStateFilter`): the posterior is ``Z`` log weights and a
    state index per task; a step is one gathered ``[Z]`` likelihood row added and renormalised,
    and BAIL is ``Z`` gathered expert rows weighted by ``exp(log w)``.
    Bytes: the per-seed data a step must touch (float32 for jaxbail, float64 for
    NumPy); the tables (``Z*S*G*S`` transitions etc.) are shared by all seeds and
    stay in cache, so they are not charged per seed-step.
    """
    flops = {
        "bail_mixture": z * s + 2 * z * s * g,        # b = w*q, then sum_{z,s} b pi  (Z*S*G MAC)
        "sample_subgoal": 4 * g,                      # cumsum, normalise, compare, count
        "sample_env": 2 * s,                          # two inverse-CDF compares (S each)
        "prediction_all_subgoals": 2 * z * s * g * s,  # Z*S*G*S multiply-adds
        "select_chosen_onehot": 2 * z * g * s,        # one-hot contraction over G (or Z*G*S selects)
        "emission_multiply": z * s,
        "normalise": 2 * z * s + 6 * z,               # evidence sum, divide; log, logsumexp over Z
    }
    all_subgoals = sum(flops.values())
    chosen = all_subgoals - flops["prediction_all_subgoals"] - flops["select_chosen_onehot"] + 2 * z * s * s
    known_flops = {
        "bail_mixture": z + 2 * z * g,                # exp of Z log weights, Z*G multiply-adds
        "sample_subgoal": 4 * g,
        "sample_env": 2 * s,
        "update": z + 6 * z,                          # add the likelihood row; max, exp, sum, log, subtract
    }
    known = sum(known_flops.values())
    state = z * s  # q(s|z) entries
    # read q twice (mixture, prediction), write q, read one emission column, log-task in/out
    minimal_words = 3 * state + state + 2 * z
    intermediate_words = z * g * s  # the [Z, G, S'] all-subgoal prediction, if materialised (write + read)
    # known-state: log weights in and out, state indices in and out, the gathered [Z, G] expert rows and
    # [Z] likelihood row (read from cached tables, but per seed), the [G] mixture
    known_words = 2 * z + 2 * z + z * g + z + g
    return {
        "flops_components": flops,
        "flops_components_known_state": known_flops,
        "flops_per_seed_step_all_subgoals": all_subgoals,
        "flops_per_seed_step_chosen_only": chosen,
        "flops_per_seed_step_known_state": known,
        "bytes_per_seed_step_min_f32": 4 * minimal_words,
        "bytes_per_seed_step_with_intermediate_f32": 4 * (minimal_words + 2 * intermediate_words),
        "bytes_per_seed_step_min_f64": 8 * minimal_words,
        "bytes_per_seed_step_known_state_f32": 4 * known_words,
    }


# --------------------------------------------------------------------------- regret statistics

def _stats(x) -> dict:
    import numpy as np

    x = np.asarray(x, np.float64)
    return {"mean": float(x.mean()), "se": float(x.std(ddof=1) / math.sqrt(x.size)), "n": int(x.size)}


def _regret_summary(per_episode_gap, first_episode_gap, last_tenth_gap, per_episode_return) -> dict:
    return {"gap_per_episode": _stats(per_episode_gap), "gap_episode_1": _stats(first_episode_gap),
            "gap_last_10pct": _stats(last_tenth_gap), "return_per_episode": _stats(per_episode_return)}


def _jax_regret(result) -> dict:
    import numpy as np

    t = result.num_episodes
    episodes = list(np.asarray(result.episodes))
    tail = math.ceil(t / 10)
    cum_t = result.gap_regret[:, episodes.index(t)]
    cum_before = 0.0 if t - tail == 0 else result.gap_regret[:, episodes.index(t - tail)]
    return {"per_episode_gap": cum_t / t, "first": result.gap_regret[:, episodes.index(1)],
            "last": (cum_t - cum_before) / tail, "per_episode_return": result.return_regret[:, episodes.index(t)] / t}


def _numpy_regret(result) -> dict:
    t = result.gap_regret.shape[0]
    tail = math.ceil(t / 10)
    return {"per_episode_gap": result.gap_regret.mean(axis=0), "first": result.gap_regret[0],
            "last": result.gap_regret[t - tail:].mean(axis=0), "per_episode_return": result.return_regret.mean(axis=0)}


def _pooled(parts: list[dict]) -> dict:
    import numpy as np

    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return _regret_summary(cat["per_episode_gap"], cat["first"], cat["last"], cat["per_episode_return"])


# --------------------------------------------------------------------------- workers (run in subprocesses)

CONTENDED = 0.25  # other processes' cores above which a timed run counts as contended


def clean(record: dict) -> bool:
    return record["other_processes_cores"] <= CONTENDED


def _attempts(repeats: int, records: list[dict], max_attempts: int):
    """Yield attempt indices until ``repeats`` uncontended runs are in ``records`` (or ``max_attempts``)."""
    k = 0
    while k < max(repeats, max_attempts) and (k < repeats or sum(map(clean, records)) < repeats):
        yield k
        k += 1


def worker_jax(seeds: int, episodes: int, repeats: int, instance_seed: int, max_attempts: int,
               quiet_wait: float, filter_name: str) -> dict:
    t_start = time.perf_counter()
    import inspect

    import jax

    from jaxbail.instances import random_instance
    from jaxbail.planners import make_planner
    from jaxbail.runner import simulate

    sources = jaxbail_version()["sources_sha256"]
    has_filter = "filter" in inspect.signature(simulate).parameters
    if filter_name != "default" and not has_filter:
        raise SystemExit(f"this jaxbail's simulate has no filter argument (asked for filter={filter_name!r})")
    extra = {} if filter_name == "default" else {"filter": filter_name}

    compile_events: list[tuple[str, float, str]] = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **kw: compile_events.append((name, secs, str(kw.get("fun_name", ""))))
        if "/compile/" in name else None)
    t_import = time.perf_counter() - t_start

    instance = random_instance(instance_seed, **INSTANCE)
    planner = make_planner("bail")
    jax.block_until_ready(instance)
    rss_before = _rss_mb()

    def run(key_index: int):
        return simulate(jax.random.PRNGKey(key_index), instance, planner, num_episodes=episodes,
                        num_seeds=seeds, progress=False, **extra)

    compile_events.clear()
    with Meter() as first:
        result = run(0)
    since_start = _seconds_since_process_start()
    first_events = list(compile_events)
    regrets = [_jax_regret(result)]
    steady = []
    for k in _attempts(repeats, steady, max_attempts):
        compile_events.clear()
        wait_for_quiet(quiet_wait)
        with Meter() as m:
            result = run(k + 1)
        rec = m.record()
        rec["compile_events"] = len([e for e in compile_events if e[0].endswith("backend_compile_duration")])
        steady.append(rec)
        regrets.append(_jax_regret(result))

    def total(suffix, fun=None):
        return sum(s for n, s, f in first_events if n.endswith(suffix) and (fun is None or fun in f))

    return {
        "kind": "jax", "filter": filter_name, "simulate_has_filter": has_filter, "jaxbail_sources": sources,
        "seeds": seeds, "episodes": episodes, "horizon": INSTANCE["horizon"],
        "seed_steps": seeds * episodes * INSTANCE["horizon"],
        "import_seconds": t_import,
        "first_call": first.record(),
        "process_start_to_first_result_seconds": since_start,
        "compile_breakdown": {"trace": total("jaxpr_trace_duration"), "lower": total("jaxpr_to_mlir_module_duration"),
                              "xla_backend_compile": total("backend_compile_duration"),
                              "xla_compiles": sorted(([f, round(t, 3)] for n, t, f in first_events
                                                      if n.endswith("backend_compile_duration")),
                                                     key=lambda x: -x[1]),
                              "backend_compiles": len([e for e in first_events
                                                       if e[0].endswith("backend_compile_duration")])},
        "steady": steady,
        "rss_before_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "regret": _pooled(regrets),
        "regret_runs": len(regrets),
        "regret_first_run": _pooled(regrets[:1]),
    }


def worker_numpy(seeds: int, episodes: int, repeats: int, instance_seed: int, predict: str, max_attempts: int,
                 quiet_wait: float) -> dict:
    """NumPy baseline. The instance tables are built by jaxbail (then converted to float64) in a child
    process so that this process never imports jax: its RSS and threads are NumPy's alone."""
    import numpy as np
    import numpy_bail

    code = ("import json, sys, numpy as np; from jaxbail.instances import random_instance; "
            f"i = random_instance({instance_seed}, **{INSTANCE!r}); "
            "json.dump({k: np.asarray(getattr(i, k), np.float64).tolist() for k in "
            "('prior', 'init', 'transition', 'emission', 'reward')} | {'horizon': i.horizon}, sys.stdout)")
    arrays = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}).stdout)
    tables = numpy_bail.make_tables(**arrays)
    runs, regrets = [], []
    for k in _attempts(repeats, runs, max_attempts):
        wait_for_quiet(quiet_wait)
        with Meter() as m:
            result = numpy_bail.simulate(tables, seeds, episodes, np.random.default_rng(1000 + k), predict=predict)
        runs.append(m.record())
        regrets.append(_numpy_regret(result))
        misspecified = int(result.misspecified.sum())
    return {"kind": "numpy", "predict": predict, "seeds": seeds, "episodes": episodes,
            "horizon": arrays["horizon"], "seed_steps": seeds * episodes * arrays["horizon"], "runs": runs,
            "misspecified_events_last_run": misspecified,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "regret": _pooled(regrets), "regret_runs": len(regrets), "regret_first_run": _pooled(regrets[:1]),
            "blas": blas_info()}


def worker_experts_check(instance_seed: int) -> dict:
    """jaxbail's float32 experts vs numpy_bail's float64 experts on the benchmark instance."""
    import jax
    import numpy as np
    import numpy_bail

    from jaxbail.experts import compute_experts
    from jaxbail.instances import random_instance

    instance = random_instance(instance_seed, **INSTANCE)
    ex = jax.device_get(compute_experts(instance))
    t = numpy_bail.make_tables(*(np.asarray(getattr(instance, k), np.float64)
                                 for k in ("prior", "init", "transition", "emission", "reward")), instance.horizon)
    differ = np.argmax(ex.policy, -1) != np.argmax(t.policy, -1)
    return {"expert_choices_differ": int(differ.sum()), "expert_choices_total": int(differ.size),
            "max_abs_q_difference": float(np.abs(ex.q - t.q).max())}


# --------------------------------------------------------------------------- orchestration

def _spawn(args: list[str], timeout: float = 3000) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {' '.join(args)} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(records: list[dict]) -> dict:
    """The fastest uncontended run (the fastest of all if every run was contended)."""
    return min([r for r in records if clean(r)] or records, key=lambda r: r["seconds"])


def _fmt_rate(x: float) -> str:
    return f"{x:.3g}"


def agreement(a: dict, b: dict) -> dict:
    out = {}
    for key in a:
        diff = a[key]["mean"] - b[key]["mean"]
        se = math.hypot(a[key]["se"], b[key]["se"])
        z = diff / se if se > 0 else (0.0 if diff == 0 else float("inf"))
        out[key] = {"difference": diff, "se": se, "z": z}
    return out


def _jax_line(rec: dict, label: str) -> str:
    b = best(rec["steady"])
    return (f"  jax {label:8s} {rec['seeds']:6d} seeds x {rec['episodes']:5d} episodes: steady "
            f"{_fmt_rate(rec['steady_rate'])} seed-steps/s ({b['seconds']:.2f} s, {b['cores_used']:.2f} cores, "
            f"others {b['other_processes_cores']:.2f}), first call {rec['first_call']['seconds']:.2f} s, "
            f"peak RSS {rec['peak_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument("--seeds", type=int, default=None, help="seeds of the headline comparison (default 4096)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes of the headline comparison (default 200)")
    parser.add_argument("--sizes", type=str, default=None,
                        help="comma-separated seed counts of the scaling table (default 256,...,65536); "
                             "episodes are scaled so every size does the same seed-steps")
    parser.add_argument("--repeats", type=int, default=None, help="timed steady-state runs per size (best is kept)")
    parser.add_argument("--numpy-predict", type=str, default=None,
                        help="comma list of NumPy prediction methods, the first is the headline baseline: group "
                             "(general; one product per subgoal over the seeds that chose it), all (general; every "
                             "subgoal then select), known (the known-state posterior, valid for this identity "
                             "Reporter: log task marginal + last observation, like jaxbail's default). Default "
                             "group,known "
                             "(--quick: group)")
    parser.add_argument("--no-dense", action="store_true",
                        help="skip the extra headline run of jaxbail with filter='dense' (the general update)")
    parser.add_argument("--instance-seed", type=int, default=0)
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="seconds to wait for other processes to go idle before each measurement "
                             "(default 60, --quick 5)")
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="timed runs allowed per measurement while contended runs (other processes > "
                             f"{CONTENDED} cores) are retried (default repeats + 3, --quick: repeats)")
    parser.add_argument("--json", type=str, default=None, metavar="OUT", help="write all numbers to OUT")
    parser.add_argument("--worker", choices=("jax", "numpy", "experts"), help=argparse.SUPPRESS)
    parser.add_argument("--filter", type=str, default="default", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    seeds = args.seeds or (1024 if args.quick else 4096)
    episodes = args.episodes or (40 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 2)
    quiet_wait = args.quiet_wait if args.quiet_wait is not None else (5.0 if args.quick else 60.0)
    max_attempts = args.max_attempts if args.max_attempts is not None else (repeats if args.quick else repeats + 3)
    predicts = [p.strip() for p in (args.numpy_predict or ("group" if args.quick else "group,known")).split(",")]
    if any(p not in ("group", "all", "known") for p in predicts):
        parser.error(f"--numpy-predict: choose from group, all, known; got {args.numpy_predict!r}")

    if args.worker:
        sys.path.insert(0, str(HERE))
        if args.worker == "jax":
            out = worker_jax(seeds, episodes, repeats, args.instance_seed, max_attempts, quiet_wait, args.filter)
        elif args.worker == "numpy":
            out = worker_numpy(seeds, episodes, repeats, args.instance_seed, predicts[0], max_attempts, quiet_wait)
        else:
            out = worker_experts_check(args.instance_seed)
        print(json.dumps(out))
        return 0

    sizes = list(QUICK_SIZES if args.quick else FULL_SIZES) if args.sizes is None else \
        [int(x) for x in args.sizes.split(",") if x.strip()]
    sizes = sorted(set(sizes) | {seeds})
    work = seeds * episodes  # seed-episodes per timed run, the same at every size
    common = ["--repeats", str(repeats), "--instance-seed", str(args.instance_seed), "--max-attempts",
              str(max_attempts), "--quiet-wait", str(quiet_wait)]
    sys.path.insert(0, str(HERE))
    machine = machine_info()
    h = INSTANCE["horizon"]
    z, s_, g = INSTANCE["num_tasks"], INSTANCE["num_states"], INSTANCE["num_subgoals"]
    costs = cost_model(z, s_, g, s_)
    ceiling, ceiling_formula = ceiling_flops(machine)
    costs["ceiling_flops_per_s"], costs["ceiling_formula"] = ceiling, ceiling_formula

    print(f"jaxbail BAIL throughput  (random Z={z} S={s_} G={g} H={h}, identity Reporter, bayes mode)")
    print(f"machine: {machine.get('cpu_model')} ({machine.get('simd')}; {machine.get('caches_per_core_view')}), "
          f"{machine['usable_cpus']} cores; "
          f"jax {machine.get('jax')}, numpy {machine['numpy']}, BLAS {machine['blas'].get('name')} "
          f"{machine['blas'].get('version')} core={machine['blas'].get('core')} "
          f"threads={machine['blas'].get('num_threads')}; OPENBLAS_* unset: {machine['openblas_env_unset']}")
    jv = machine["jaxbail"]
    print(f"jaxbail sources: commit {jv.get('commit')}{' + uncommitted changes' if jv.get('jaxbail_dirty') else ''}, "
          f"sha256 {jv['sources_sha256']}")
    print("seed-steps/s = seeds x episodes x H / seconds\n", flush=True)

    experts = _spawn(["--worker", "experts", *common])

    def jax_run(n: int, t: int, filter_name: str) -> dict:
        load = wait_for_quiet(quiet_wait)
        rec = _spawn(["--worker", "jax", "--seeds", str(n), "--episodes", str(t), "--filter", filter_name, *common])
        rec["load_before"] = load
        rec["steady_rate"] = rec["seed_steps"] / best(rec["steady"])["seconds"]
        return rec

    table = []
    for n in sizes:
        rec = jax_run(n, episodes if n == seeds else max(1, round(work / n)), "default")
        table.append(rec)
        print(_jax_line(rec, "default"), flush=True)
    head = next(r for r in table if r["seeds"] == seeds)
    dense = None
    if head["simulate_has_filter"] and not args.no_dense:
        dense = jax_run(seeds, episodes, "dense")
        print(_jax_line(dense, "dense"), flush=True)

    numpy_runs = []
    for predict in predicts:
        load = wait_for_quiet(quiet_wait)
        rec = _spawn(["--worker", "numpy", "--seeds", str(seeds), "--episodes", str(episodes),
                      "--numpy-predict", predict, *common])
        rec["load_before"] = load
        b = best(rec["runs"])
        rec["rate"] = rec["seed_steps"] / b["seconds"]
        numpy_runs.append(rec)
        print(f"  numpy ({predict}) {seeds} seeds x {episodes} episodes: {_fmt_rate(rec['rate'])} seed-steps/s "
              f"({b['seconds']:.2f} s, {b['cores_used']:.2f} cores, others {b['other_processes_cores']:.2f})",
              flush=True)
    npy = numpy_runs[0]
    by_predict = {r["predict"]: r for r in numpy_runs}

    steady_rate = head["steady_rate"]
    steady_best = best(head["steady"])
    compile_seconds = head["first_call"]["seconds"] - steady_best["seconds"]
    whole_rate = head["seed_steps"] / head["first_call"]["seconds"]
    check = agreement(head["regret"], npy["regret"])

    print(f"\n== headline: {seeds} seeds x {episodes} episodes x H={h} = {head['seed_steps']:,} seed-steps ==")
    print(f"jaxbail steady state (compile excluded): {_fmt_rate(steady_rate)} seed-steps/s "
          f"({steady_best['seconds']:.2f} s; all steady runs: "
          f"{', '.join(format(r['seconds'], '.2f') for r in head['steady'])} s; recompiles in steady runs: "
          f"{sum(r['compile_events'] for r in head['steady'])})")
    if dense:
        print(f"jaxbail steady state, filter='dense' (the general (z,s) update; default 'auto' takes the "
              f"known-state update on this identity-Reporter instance): {_fmt_rate(dense['steady_rate'])} seed-steps/s")
    print(f"jaxbail first call incl. compile:      {_fmt_rate(whole_rate)} seed-steps/s "
          f"({head['first_call']['seconds']:.2f} s)")
    print(f"jaxbail whole process (start -> first result, incl. import {head['import_seconds']:.2f} s): "
          f"{_fmt_rate(head['seed_steps'] / head['process_start_to_first_result_seconds'])} seed-steps/s "
          f"({head['process_start_to_first_result_seconds']:.2f} s)")
    cb = head["compile_breakdown"]
    print(f"compile time: {compile_seconds:.2f} s (first call - best steady call); jax.monitoring: "
          f"trace {cb['trace']:.2f} s, lower to MLIR {cb['lower']:.2f} s, XLA {cb['xla_backend_compile']:.2f} s "
          f"over {cb['backend_compiles']} compiled functions (largest: {cb['xla_compiles'][0][0]} "
          f"{cb['xla_compiles'][0][1]:.2f} s)")
    for rec in numpy_runs:
        print(f"NumPy float64 ({rec['predict']}): {_fmt_rate(rec['rate'])} seed-steps/s "
              f"({best(rec['runs'])['seconds']:.2f} s)")
    ratios = {"default_vs_numpy_" + npy["predict"]: steady_rate / npy["rate"]}
    print(f"ratio jaxbail / NumPy (steady state): {steady_rate / npy['rate']:.2f}x  "
          f"(jaxbail default vs NumPy {npy['predict']})")
    if dense and npy["predict"] in ("group", "all"):
        ratios["dense_vs_numpy_" + npy["predict"]] = dense["steady_rate"] / npy["rate"]
        print(f"  like for like, general update: jaxbail dense / NumPy {npy['predict']} = "
              f"{dense['steady_rate'] / npy['rate']:.2f}x")
    if "known" in by_predict and dense:
        ratios["default_vs_numpy_known"] = steady_rate / by_predict["known"]["rate"]
        print(f"  like for like, known-state update: jaxbail default / NumPy known = "
              f"{steady_rate / by_predict['known']['rate']:.2f}x")

    print("\nsanity check: mean regret per seed, jaxbail (float32) vs NumPy (float64), independent random numbers")
    print(f"  experts: {experts['expert_choices_differ']} of {experts['expert_choices_total']} greedy choices differ "
          f"(max |Q32 - Q64| = {experts['max_abs_q_difference']:.2e})")
    labels = {"gap_per_episode": "gap regret / episode (all episodes)", "gap_episode_1": "gap regret, episode 1",
              "gap_last_10pct": "gap regret / episode (last 10%)", "return_per_episode": "return regret / episode"}
    ok = True
    for key, label in labels.items():
        a, b2, c = head["regret"][key], npy["regret"][key], check[key]
        ok &= abs(c["z"]) < 4
        print(f"  {label:38s} jaxbail {a['mean']:.5f} ± {a['se']:.5f} (n={a['n']})   "
              f"NumPy {b2['mean']:.5f} ± {b2['se']:.5f} (n={b2['n']})   z = {c['z']:+.2f}")
    if dense:  # first runs of both use the same key
        gap = max(abs(dense["regret_first_run"][k]["mean"] - head["regret_first_run"][k]["mean"]) for k in labels)
        print(f"  jaxbail dense vs default (same key): regret means differ by at most {gap:.1e}")
        ok &= gap < 1e-5
    for rec in numpy_runs[1:]:  # first runs use the same random numbers
        gap = max(abs(rec["regret_first_run"][k]["mean"] - npy["regret_first_run"][k]["mean"]) for k in labels)
        print(f"  NumPy {rec['predict']} vs {npy['predict']} (same random numbers): regret means differ by at most "
              f"{gap:.1e}")
        ok &= gap < 1e-9
    print(f"  agreement: {'yes' if ok else 'NO - the simulators disagree'}")

    flops_all = costs["flops_per_seed_step_all_subgoals"]
    flops_min = costs["flops_per_seed_step_chosen_only"]
    flops_known = costs["flops_per_seed_step_known_state"]
    print(f"\ncost model per seed-step: {flops_all:,} flop with the all-subgoal prediction "
          f"(Z*S*G*S multiply-adds = {2 * z * s_ * g * s_:,} flop of it), {flops_min:,} with the chosen subgoal only, "
          f"{flops_known:,} with the known-state update; bytes "
          f"{costs['bytes_per_seed_step_min_f32']:,} (f32 state) .. "
          f"{costs['bytes_per_seed_step_with_intermediate_f32']:,} (with the [Z,G,S] intermediate), "
          f"{costs['bytes_per_seed_step_known_state_f32']:,} known-state")
    print(f"  ceiling: {ceiling:.3g} flop/s ({ceiling_formula})")
    if dense:
        print(f"  jaxbail dense achieved: {dense['steady_rate'] * flops_all:.3g} flop/s = "
              f"{100 * dense['steady_rate'] * flops_all / ceiling:.1f}% of the ceiling; "
              f"{dense['steady_rate'] * costs['bytes_per_seed_step_with_intermediate_f32'] / 1e9:.2f} GB/s "
              f"of per-seed data by the count above")
    default_flops = flops_known if dense else flops_all
    print(f"  jaxbail default achieved: {steady_rate * default_flops:.3g} flop/s = "
          f"{100 * steady_rate * default_flops / ceiling:.1f}% of the ceiling "
          f"(counted as {'known-state' if dense else 'all-subgoal'} update); "
          f"{steady_rate * costs['bytes_per_seed_step_known_state_f32'] / 1e9:.2f} GB/s of per-seed data")
    numpy_count = {"all": flops_all, "group": flops_min, "known": flops_known}
    for rec in numpy_runs:
        f = numpy_count[rec["predict"]]
        print(f"  NumPy {rec['predict']:5s} achieved: {rec['rate'] * f:.3g} flop/s = "
              f"{100 * rec['rate'] * f / ceiling:.1f}% of the ceiling (float64)")

    print("\nscaling (jaxbail default, steady state; each size in a fresh process; episodes scaled to equal "
          "seed-steps)")
    print(f"  {'seeds':>6} {'episodes':>8} {'seed-steps/s':>13} {'steady s':>9} {'first call s':>12} "
          f"{'cores':>5} {'RSS before':>10} {'peak RSS':>9}")
    for rec in table:
        b = best(rec["steady"])
        print(f"  {rec['seeds']:6d} {rec['episodes']:8d} {_fmt_rate(rec['steady_rate']):>13} {b['seconds']:9.2f} "
              f"{rec['first_call']['seconds']:12.2f} {b['cores_used']:5.2f} {rec['rss_before_mb']:8.0f}MB "
              f"{rec['peak_rss_mb']:7.0f}MB")
    all_jax = table + ([dense] if dense else [])
    noisy = [r for r in all_jax if not clean(best(r["steady"]))] + \
        [r for r in numpy_runs if not clean(best(r["runs"]))]
    if noisy:
        print(f"\nWARNING: every timed run of {len(noisy)} measurement(s) was contended (other processes > "
              f"{CONTENDED} cores); rerun on an idle machine.")
    versions = sorted({r["jaxbail_sources"] for r in all_jax} | {jv["sources_sha256"]})
    if len(versions) > 1:
        print(f"\nWARNING: jaxbail's sources changed during the benchmark (hashes {', '.join(versions)}); "
              "the measurements mix versions. Rerun.")

    if args.json:
        Path(args.json).write_text(json.dumps({
            "formula": "seed-steps/s = seeds * episodes * H / seconds",
            "instance": {"generator": "random_instance", "seed": args.instance_seed, **INSTANCE,
                         "reporter": "identity", "mode": "bayes"},
            "machine": machine, "cost_model": costs, "experts_check": experts, "jaxbail_sources_seen": versions,
            "headline": {"seeds": seeds, "episodes": episodes, "jax_steady_rate": steady_rate,
                         "jax_dense_steady_rate": dense["steady_rate"] if dense else None,
                         "jax_first_call_rate": whole_rate,
                         "jax_process_seconds": head["process_start_to_first_result_seconds"],
                         "compile_seconds": compile_seconds, "numpy_rates": {r["predict"]: r["rate"] for r in
                                                                             numpy_runs},
                         "ratios": ratios, "regret_agreement": check, "agree": ok},
            "jax_runs": table, "jax_dense_run": dense, "numpy_runs": numpy_runs}, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
