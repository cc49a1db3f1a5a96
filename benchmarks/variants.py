#!/usr/bin/env python
"""Where jaxbail's BAIL simulation spends its time: timed variants of the real runner, and a profile.

Experimental, read-only with respect to ``jaxbail/``: each variant runs in a
fresh subprocess that imports jaxbail unchanged and then *monkeypatches*
``jaxbail.belief.predict`` (looked up at trace time by ``belief.update``) or
swaps the planner, so the real ``jaxbail.runner.simulate`` is what is timed.

Every variant but the ``known_*`` ones runs ``simulate(..., filter="dense")`` (the general
``(z, s)`` update, where ``predict`` is called) when jaxbail's ``simulate`` has that
argument; ``known_state`` runs the default (``filter="auto"``), which on this
identity-Reporter instance keeps the known-state posterior (log task marginal and one state
index per task, :class:`jaxbail.belief.KnownStateFilter`).

Variants of the default path, each undoing one of its speed choices:

- ``known_jax_random``: the runner's uniforms from ``jax.random`` (``fold_in``, ``split``,
  ``uniform``; rolled threefry loops on CPU) instead of ``jaxbail.rng`` (the same bits);
- ``known_ynn``: XLA:CPU's default YNNPACK fusions left on (``jaxbail.runner._compiler_options``
  patched to return ``None``); ``dense_ynn`` the same for the dense path;
- ``known_cumsum_draw``: subgoal draws by ``draw(cumulative(p), u)`` (a cumulative-sum kernel)
  instead of the unrolled ``draw_from_probs`` (the same indices).

Variants of the prediction ``[Z, S'] = sum_s q(s|z) P_z(s'|s, g)``:

- ``base``: jaxbail's ``predict`` as it is (it contracts with every subgoal, then selects the
  chosen block: by a one-hot contraction at commit ``a0c0d4f``, by a chain of ``where`` later);
- ``take``: contract with every subgoal, then index the chosen row (``all[:, g, :]``);
- ``gather``: gather ``transition[:, :, g, :]`` per seed, then ``einsum("zs,zst->zt")``;
- ``onehot_table``: ``einsum("zsgt,g->zst")`` (a per-seed table), then contract;
- ``no_predict``: skip the prediction (``predicted = q``): a floor for everything else
  (changes the results; timing only);
- ``mixture_per_task``: BAIL's mixture as ``exp(log_task) @ einsum("zs,zsg->zg", q, pi_h)``
  (``jaxbail.planners.core.mixture_over_belief`` patched) instead of the ``[Z, S]`` joint;
- ``absorb_linear``: the step normaliser as ``log(sum_z w(z) c_z)`` instead of a
  max-shifted ``logsumexp`` (``jaxbail.belief.absorb`` patched; same misspecification rule);
- ``combined``: ``take`` + ``mixture_per_task`` + ``absorb_linear``;
- planners ``uniform`` / ``oracle`` in place of ``bail`` (no mixture; the belief is still filtered).

All variants but ``no_predict`` and the other planners compute the same
posterior and the same subgoal draws up to float32 rounding, so their regret
must match ``base`` (printed).

``--profile [VARIANT]`` runs ``base`` (or VARIANT) under ``jax.profiler.trace`` with an XLA HLO dump and
prints the per-step kernels (thunks) by total time with the jax operation each
one came from.

Usage::

    python benchmarks/variants.py [--seeds 4096 --episodes 50] [--profile [VARIANT]] [--json OUT]
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and any(v in os.environ for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
    _env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], _env)

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from throughput import INSTANCE, Meter, _attempts, clean, wait_for_quiet  # noqa: E402

VARIANTS = ("base", "known_state", "known_jax_random", "known_ynn", "known_cumsum_draw", "dense_ynn", "take",
            "gather", "onehot_table", "no_predict", "mixture_per_task", "absorb_linear", "combined",
            "planner_uniform", "planner_oracle")


class _JaxRandomStreams:
    """``jaxbail.rng``'s interface on ``jax.random`` (the same bits, rolled threefry loops on CPU)."""

    @staticmethod
    def raw_key(key):
        return key

    @staticmethod
    def fold_in(key, data):
        import jax
        import jax.numpy as jnp

        data = jnp.asarray(data)
        if data.ndim:
            return jax.vmap(lambda d: jax.random.fold_in(key, d))(data)
        return jax.random.fold_in(key, data)

    @staticmethod
    def split(key, num):
        import jax

        return jax.random.split(key, num)

    @staticmethod
    def uniform(key, num):
        import jax

        return jax.random.uniform(key, (num,))


def _patch(variant: str) -> str:
    """Install the variant; return the planner name."""
    import jax.numpy as jnp

    import jaxbail.belief as belief

    def take(model, state, subgoal):
        return jnp.einsum("zs,zsgt->zgt", state, model.transition)[:, subgoal, :]

    def gather(model, state, subgoal):
        return jnp.einsum("zs,zst->zt", state, model.transition[:, :, subgoal, :])

    def onehot_table(model, state, subgoal):
        chosen = jax_one_hot(subgoal, model.num_subgoals, state.dtype)
        return jnp.einsum("zs,zst->zt", state, jnp.einsum("zsgt,g->zst", model.transition, chosen))

    def no_predict(model, state, subgoal):
        return state

    def jax_one_hot(i, n, dtype):
        import jax

        return jax.nn.one_hot(i, n, dtype=dtype)

    def mixture_per_task(b, policy_h):
        # sum_z w(z) [sum_s q(s|z) pi(g|s,z)]: exp of Z numbers, not of a broadcast [Z, S] joint
        return jnp.exp(b.log_task) @ jnp.einsum("zs,zsg->zg", b.state, policy_h)

    def absorb_linear(log_task, fallback_state, unnormalised):
        # normaliser log(sum_z w(z) c_z) without logsumexp's max shift: w is normalised, so its largest
        # entry is >= 1/Z and the sum cannot underflow unless every c_z does (then: misspecified)
        evidence = jnp.sum(unnormalised, axis=-1)
        positive = evidence > 0
        total = jnp.exp(log_task) @ evidence
        misspecified = ~(total > 0)
        log_norm = jnp.log(jnp.where(misspecified, 1.0, total))
        log_joint = jnp.where(positive, log_task + jnp.log(jnp.where(positive, evidence, 1.0)), -jnp.inf)
        new_log_task = jnp.where(misspecified, log_task, log_joint - log_norm)
        new_state = jnp.where(positive[:, None] & ~misspecified,
                              unnormalised / jnp.where(positive, evidence, 1.0)[:, None], fallback_state)
        return belief.Update(belief.Belief(new_log_task, new_state),
                             jnp.where(misspecified, -jnp.inf, log_norm), misspecified)

    import jaxbail.planners.core as core
    import jaxbail.runner as runner
    from jaxbail.sampling import cumulative, draw

    if variant == "known_jax_random":
        runner.rng = _JaxRandomStreams
    if variant in ("known_ynn", "dense_ynn"):
        runner._compiler_options = lambda platform=None: None
    if variant == "known_cumsum_draw":
        runner.draw_from_probs = lambda probs, u: draw(cumulative(probs), u)
    patches = {"take": take, "gather": gather, "onehot_table": onehot_table, "no_predict": no_predict}
    if variant in patches:
        belief.predict = patches[variant]
    if variant in ("mixture_per_task", "combined"):
        core.mixture_over_belief = mixture_per_task
    if variant in ("absorb_linear", "combined"):
        belief.absorb = absorb_linear
    if variant == "combined":
        belief.predict = take
    return variant.removeprefix("planner_") if variant.startswith("planner_") else "bail"


def worker(variant: str, seeds: int, episodes: int, repeats: int, profile_dir: str | None,
           quiet_wait: float) -> dict:
    import inspect

    import jax
    import numpy as np

    from jaxbail.instances import random_instance
    from jaxbail.planners import make_planner
    from jaxbail.runner import simulate

    planner_name = _patch(variant)
    instance = random_instance(0, **INSTANCE)
    planner = make_planner(planner_name)
    # every variant but the known_* ones times the general (dense) update, where predict is called
    has_filter = "filter" in inspect.signature(simulate).parameters
    extra = {"filter": "dense"} if has_filter and not variant.startswith("known") else {}

    def run(k):
        return simulate(jax.random.PRNGKey(k), instance, planner, num_episodes=episodes, num_seeds=seeds,
                        progress=False, **extra)

    t0 = time.perf_counter()
    run(0)
    first = time.perf_counter() - t0
    records = []
    result = None
    for _ in _attempts(repeats, records, repeats + 4):
        wait_for_quiet(quiet_wait)
        with Meter() as m:
            result = run(1)
        records.append(m.record())
    if profile_dir:  # the profiled run is the same call as the timed ones
        wait_for_quiet(quiet_wait)
        with Meter() as m, jax.profiler.trace(profile_dir, create_perfetto_trace=False):
            run(1)
        records.append({**m.record(), "profiled": True})
    timed = [r for r in records if not r.get("profiled")]
    best = min(r["seconds"] for r in ([r for r in timed if clean(r)] or timed))
    regret = result.gap_regret[:, -1] / episodes
    return {"variant": variant, "planner": planner_name, "simulate_kwargs": extra, "seeds": seeds,
            "episodes": episodes,
            "first_call_seconds": first, "runs": records,
            "rate": seeds * episodes * instance.horizon / best,
            "gap_regret_per_episode": float(np.mean(regret)),
            "gap_regret_se": float(np.std(regret, ddof=1) / np.sqrt(regret.size))}


def _spawn(args: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"variant worker {args} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile(variant: str, seeds: int, episodes: int, quiet_wait: float) -> list[dict]:
    """Per-kernel time of one variant, with each kernel's jax op from the optimised HLO."""
    with tempfile.TemporaryDirectory() as tmp:
        dump, trace = os.path.join(tmp, "dump"), os.path.join(tmp, "trace")
        env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={dump} --xla_dump_hlo_as_text"}
        rec = _spawn(["--worker", variant, "--seeds", str(seeds), "--episodes", str(episodes), "--repeats", "1",
                      "--profile-dir", trace, "--quiet-wait", str(quiet_wait)], env=env)
        profiled_run = rec["runs"][-1]
        origin = {}
        # the simulation is the largest optimised module (kernel names are only unique within a module)
        modules = sorted(glob.glob(os.path.join(dump, "*after_optimizations.txt")), key=os.path.getsize)
        for path in modules[-1:]:
            body_op: dict[str, str] = {}  # fused computation -> the last op_name inside it (its root)
            current = None
            lines = Path(path).read_text().splitlines()
            for line in lines:
                head = re.match(r"%?([\w.\-]+) \(.*\{$", line)
                if head:
                    current = head.group(1)
                op = re.search(r'op_name="([^"]*)"', line)
                if current and op:
                    body_op[current] = op.group(1)
            for line in lines:
                m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ", line)
                if not m:
                    continue
                name, shape = m.groups()
                op = re.search(r'op_name="([^"]*)"', line)
                calls = re.search(r"calls=%?([\w.\-]+)", line)
                op_name = op.group(1) if op else body_op.get(calls.group(1), "?") if calls else "?"
                origin[name] = (shape, "/".join(op_name.split("/")[-2:]))
        files = glob.glob(os.path.join(trace, "plugins", "profile", "*", "*.trace.json.gz"))
        events = json.load(gzip.open(files[0]))["traceEvents"]
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "X" and not name.startswith("$") and "Thunk" not in name and "Pjit" not in name \
                and "Execute" not in name and not name.startswith("while"):
            total[name] += e.get("dur", 0)
            count[name] += 1
    steps = episodes * INSTANCE["horizon"]
    rows = []
    for name, micros in total.most_common():
        shape, op = origin.get(name, ("?", "?"))
        rows.append({"kernel": name, "calls": count[name], "ms_total": micros / 1e3,
                     "ns_per_seed_step": micros * 1e3 / (seeds * steps), "shape": shape, "jax_op": op})
    return rows, profiled_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4096)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", type=str, default=",".join(VARIANTS))
    parser.add_argument("--profile", type=str, nargs="?", const="base", default=None, metavar="VARIANT",
                        help="also profile a variant (default base) kernel by kernel")
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--json", type=str, default=None)
    parser.add_argument("--worker", type=str, help=argparse.SUPPRESS)
    parser.add_argument("--profile-dir", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds, args.episodes, args.repeats, args.profile_dir,
                                args.quiet_wait)))
        return 0

    steps = args.seeds * args.episodes * INSTANCE["horizon"]
    print(f"variants of jaxbail's runner: {args.seeds} seeds x {args.episodes} episodes x H = {steps:,} seed-steps")
    out = {"seeds": args.seeds, "episodes": args.episodes, "variants": [], "profile": None}
    base_rate = None
    for variant in args.variants.split(","):
        load = wait_for_quiet(args.quiet_wait)
        rec = _spawn(["--worker", variant, "--seeds", str(args.seeds), "--episodes", str(args.episodes),
                      "--repeats", str(args.repeats), "--quiet-wait", str(args.quiet_wait)])
        rec["load_before"] = load
        base_rate = base_rate or rec["rate"]
        timed = [r for r in rec["runs"] if not r.get("profiled")]
        best = min([r for r in timed if clean(r)] or timed, key=lambda r: r["seconds"])
        out["variants"].append(rec)
        print(f"  {variant:16s} {rec['rate']:9.3g} seed-steps/s  x{rec['rate'] / base_rate:5.2f}  "
              f"(cores {best['cores_used']:.2f}, others {best['other_processes_cores']:.2f}; "
              f"compile+first {rec['first_call_seconds']:.1f} s)  "
              f"gap regret/episode {rec['gap_regret_per_episode']:.5f} ± {rec['gap_regret_se']:.5f}", flush=True)
    if args.profile:
        wait_for_quiet(args.quiet_wait)
        rows, profiled_run = profile(args.profile, args.seeds, min(args.episodes, 10), args.quiet_wait)
        out["profile"] = rows
        out["profiled_run"] = profiled_run
        whole = sum(r["ns_per_seed_step"] for r in rows)
        print(f"\nprofile of {args.profile} ({args.seeds} seeds): kernels by time, ns per seed-step "
              f"(sum {whole:.0f} ns = {1e9 / whole:.3g} seed-steps/s if nothing else ran; other processes used "
              f"{profiled_run['other_processes_cores']:.2f} cores meanwhile)")
        for r in rows[:20]:
            print(f"  {r['ns_per_seed_step']:7.1f} ns  {r['calls']:5d} calls  {r['kernel']:28s} {r['shape']:22s} "
                  f"{r['jax_op']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
