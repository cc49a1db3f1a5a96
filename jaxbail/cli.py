"""The ``jaxbail`` command line: a thin front-end over the Python API."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from jaxbail.instance import InstanceError
from jaxbail.validate import INT32_MAX, InputError, seed_arg

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(message)


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {value}")
        if value > INT32_MAX:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer of at most {INT32_MAX} (the "
                                             f"simulation counts in int32), got {_digits(value)}")
        return value
    return parse


def _digits(value: int) -> str:
    return str(value) if len(str(value)) <= 24 else f"a {len(str(abs(value)))}-digit number"


def _int(name: str):
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
    return parse


def _add_instance_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    from jaxbail.instances import INSTANCES

    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--instance", metavar="NAME", help=f"a built-in instance: {', '.join(INSTANCES)}")
    group.add_argument("--instance-file", metavar="F", help="an instance JSON file (SPEC 9 format)")
    parser.add_argument("--param", metavar="KEY=VALUE", action="append", default=[],
                        help="a parameter of the built-in instance, e.g. num_tasks=4 or prior=0.5,0.3,0.2")


def _load_instance(args: argparse.Namespace):
    from jaxbail.instance import load_instance
    from jaxbail.instances import instance_by_name, parse_params

    if args.instance_file is not None:
        if args.param:
            raise UsageError("--param applies to built-in instances (--instance), not to --instance-file")
        return load_instance(args.instance_file)
    from jaxbail.validate import check_builtin_params

    params = parse_params(args.instance, args.param)
    check_builtin_params(args.instance, params)
    try:
        return instance_by_name(args.instance, **params)
    except InstanceError:
        raise
    except (TypeError, ValueError, OverflowError) as err:  # what the generators' own checks let through
        raise UsageError(f"--param: instance {args.instance!r} cannot be built from "
                         f"{', '.join(args.param)}: {err}") from None


def build_parser() -> argparse.ArgumentParser:
    from jaxbail.planners import PLANNERS

    parser = _Parser(prog="jaxbail", description="In-context Bayesian imitation (BAIL) for LLM agents: "
                     "regret simulations with theory overlays.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="simulate a planner over many seeds and report regret")
    _add_instance_args(run)
    run.add_argument("--model-file", metavar="F", help="the instance the planner believes in (default: the "
                     "environment); same sizes, for misspecification studies")
    run.add_argument("--planner", required=True, choices=list(PLANNERS), metavar="P",
                     help=f"one of {', '.join(PLANNERS)}")
    run.add_argument("--eps", metavar="X", help="eps_* planners: a number in [0,1], 'auto' (bound-optimal for "
                     "this T, the default) or 'anytime:c' (eps_t = min(1, c/sqrt(t)))")
    run.add_argument("--mode", choices=["bayes", "fixed"], default="bayes",
                     help="bayes: each seed's task from the prior (Bayesian regret); fixed: --task")
    run.add_argument("--task", type=_int("--task"), help="the true task in --mode fixed")
    run.add_argument("--episodes", type=_positive_int("--episodes"), required=True, metavar="T")
    run.add_argument("--seeds", type=_positive_int("--seeds"), required=True, metavar="N")
    run.add_argument("--seed", type=seed_arg("--seed"), default=0, metavar="K", help="the base PRNG seed")
    run.add_argument("--belief", choices=["exact", "delusional"], default="exact",
                     help="the exact posterior (default) or the delusional variant")
    run.add_argument("--expert-temperature", type=float, metavar="TAU",
                     help="Boltzmann experts for the planner (default: greedy)")
    run.add_argument("--checkpoint", metavar="CKPT", help="llm/eps_llm: the weights file written by pretrain "
                     "(default: the checkpoint shipped for --instance hard or random)")
    run.add_argument("--window", type=_positive_int("--window"), metavar="K", help="bail_window/eps_bail_window: "
                     "episodes in the context (the current one included); llm/eps_llm with an ALiBi transformer "
                     "checkpoint: its window at deployment (default: its training prompts' episodes)")
    run.add_argument("--json", action="store_true", help="one JSON object on stdout")
    run.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    replay = sub.add_parser("replay", help="posterior and BAIL at every decision of a given trajectory")
    _add_instance_args(replay)
    replay.add_argument("--trajectory", required=True, metavar="TR.json")
    replay.add_argument("--json", action="store_true", help="one JSON object on stdout")

    sweep = sub.add_parser("sweep", help="run a TOML grid of cells (resumable, shardable)")
    sweep.add_argument("config", metavar="FILE.toml")
    sweep.add_argument("--out", metavar="DIR", help="results directory (default: results/<sweep name>)")
    sweep.add_argument("--shard", metavar="k/n", help="run every n-th batch of cells starting at k (0-based), "
                       "e.g. --shard $SLURM_ARRAY_TASK_ID/8")
    sweep.add_argument("--status", action="store_true", help="list done and missing cells, run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    sweep.add_argument("--force", action="store_true", help="write into an --out that holds another sweep's "
                       "results (its cells stay; its results.csv and metadata.json are replaced)")
    sweep.add_argument("--allow-large-grid", action="store_true", help="confirm a grid of more than 10,000 cells")

    plot = sub.add_parser("plot", help="figures (PNG and PDF) from a sweep's results")
    plot.add_argument("results", metavar="RESULTS", help="a sweep output directory or its results.csv")
    plot.add_argument("--out", metavar="DIR", help="where to write the figures (default: RESULTS)")

    repro = sub.add_parser("reproduce", help="the paper's claims 1-5: figures, summary.md and summary.json")
    repro.add_argument("--quick", action="store_true", help="fewer seeds and episodes (under 3 minutes on 2 cores, "
                       "about half that once its compilations are cached)")
    repro.add_argument("--out", metavar="DIR", default="results/reproduce", help="output directory")

    pre = sub.add_parser("pretrain", help="pretrain the LLM planner (llm; recurrent or transformer) on an instance; "
                         "save a checkpoint")
    _add_instance_args(pre)
    pre.add_argument("--out", required=True, metavar="CKPT", help="weights file to write (CKPT.msgpack; the "
                     "model config, instance and training record go to the side file CKPT.json)")
    pre.add_argument("--quick", action="store_true", help="the 'quick' preset (under 5 minutes on a 2-core CPU)")
    pre.add_argument("--trajectories", type=_positive_int("--trajectories"), metavar="N",
                     help="number of pretraining prompts N (each K behaviour episodes of one task)")
    for flag, meta, text in (("--layers", "L", "transformer layers"), ("--width", "D", "model width"),
                             ("--heads", "NH", "attention heads (must divide --width)"),
                             ("--context-episodes", "K", "episodes in the context window"),
                             ("--steps", "S", "optimiser steps"), ("--batch", "B", "prompts per step"),
                             ("--heldout", "M", "held-out prompts for delta"),
                             ("--deploy-episodes", "T", "episodes of the deployment delta measurement (default 20)"),
                             ("--deploy-seeds", "NS", "seeds of the deployment delta measurement (default 1024)")):
        pre.add_argument(flag, type=_positive_int(flag), metavar=meta, help=text)
    pre.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (warmup-cosine schedule)")
    pre.add_argument("--model", default="recurrent", metavar="FAMILY",
                     help="model family: recurrent (default; reads the whole history in O(1) memory per token) "
                     "or transformer (a K-episode window)")
    pre.add_argument("--positions", default="alibi", metavar="P",
                     help="transformer positions: alibi (default; a ring-buffer cache, no re-encoding when the "
                     "window slides) or absolute (learned embeddings, the shipped transformer checkpoints)")
    pre.add_argument("--behaviour", metavar="B", help="behaviour policy of the data: uniform (the transformer's "
                     "default), dirichlet[:ALPHA] (a task-independent table per prompt), eps-bail[:EPS] (BAIL's own "
                     "play with exploring episodes; the recurrent default), never-play:G or no-probe (hard's probe)")
    pre.add_argument("--seed", type=seed_arg("--seed"), default=0, metavar="K", help="the PRNG seed")
    pre.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    sub.add_parser("list", help="list built-in instances and planners")
    for command in (run, sweep, repro):
        command.add_argument("--devices", metavar="N|all", default="all", help="shard the seeds over the first "
                             "N local devices (GPUs, TPU cores) or all of them (the default)")
    for command in (run, replay, sweep, repro, pre):
        command.add_argument("--no-compile-cache", action="store_true", help="do not use the persistent "
                             "compilation cache (default: ~/.cache/jaxbail/xla, or $JAXBAIL_COMPILE_CACHE)")
    return parser


def _setup_scale(args: argparse.Namespace) -> None:
    """jax.distributed for ``run`` (JAXBAIL_COORDINATOR), the compilation cache (unless --no-compile-cache)
    and --devices, before anything compiles. In a distributed run only process 0 prints."""
    if args.command == "run":
        import os

        from jaxbail.devices import init_distributed

        try:
            if init_distributed():
                import jax

                # the collectives' libraries print to file descriptor 1: send it to stderr, keep stdout for
                # the result (process 0's; the others print nothing)
                sys.stdout.flush()
                saved = os.dup(1)
                os.dup2(2, 1)
                sys.stdout = os.fdopen(saved, "w") if jax.process_index() == 0 else open(os.devnull, "w")  # noqa: SIM115
        except ValueError as err:
            raise UsageError(str(err)) from None
    if hasattr(args, "no_compile_cache") and not args.no_compile_cache:
        from jaxbail.compile_cache import enable_compile_cache

        enable_compile_cache()
    if getattr(args, "devices", None) is not None:
        from jaxbail.devices import set_default_devices

        try:
            set_default_devices(args.devices)
        except ValueError as err:
            raise UsageError(f"--{err}") from None


def _check_run_args(args: argparse.Namespace, instance) -> int | None:
    if args.mode == "fixed":
        if args.task is None:
            raise UsageError("--mode fixed needs --task Z")
        if not 0 <= args.task < instance.num_tasks:
            raise UsageError(f"--task must be in [0, {instance.num_tasks - 1}] for this instance, got {args.task}")
        return args.task
    if args.task is not None:
        raise UsageError("--task needs --mode fixed")
    return None


def _check_window_args(args: argparse.Namespace) -> None:
    from jaxbail.planners import PLANNERS

    windowed = [name for name, spec in PLANNERS.items() if spec.takes_window]
    if args.planner in windowed and PLANNERS[args.planner].needs_window:
        if args.window is None:
            raise UsageError(f"--planner {args.planner} needs --window K (episodes in its context)")
        if args.belief != "exact":
            raise UsageError(f"--planner {args.planner} needs --belief exact (a window of the delusional evidence "
                             "is not defined)")
    elif args.window is not None and args.planner not in windowed:
        from jaxbail.planners.registry import windowed_names

        raise UsageError(f"--window applies to {windowed_names()}, not to {args.planner!r}")


def _cmd_run(args: argparse.Namespace) -> int:
    from jaxbail.experiment import parse_eps, run_and_summarize
    from jaxbail.instance import load_instance
    from jaxbail.planners import PLANNERS

    spec = PLANNERS[args.planner]
    eps = None
    if args.eps is not None:
        if not spec.takes_eps:
            raise UsageError(f"--eps applies to eps_* planners, not to {args.planner!r}")
        try:
            eps = parse_eps(args.eps)
        except ValueError as err:
            raise UsageError(f"--eps: {err}") from None
    if args.expert_temperature is not None and not args.expert_temperature > 0:
        raise UsageError(f"--expert-temperature must be > 0, got {args.expert_temperature:g}")
    if args.checkpoint is not None and not spec.needs_checkpoint:
        pretrained = [name for name, other in PLANNERS.items() if other.needs_checkpoint]
        raise UsageError(f"--checkpoint applies to {' and '.join(pretrained)}, not to {args.planner!r}")
    _check_window_args(args)
    instance = _load_instance(args)
    task = _check_run_args(args, instance)
    from jaxbail.env import kind_of

    if spec.entry.single_actor_reason is not None and not kind_of(instance).one_history:
        raise UsageError(f"--planner {args.planner}: {spec.entry.single_actor_reason}; "
                         "it is not available for several Actors")
    if args.belief == "delusional" and not kind_of(instance).delusional:
        raise UsageError("--belief delusional is not available for several Actors (it does not factorise)")
    model = None
    if args.model_file is not None:
        model = load_instance(args.model_file)
        if model.sizes != instance.sizes:
            raise UsageError(f"--model-file: sizes {model.sizes} differ from the environment's {instance.sizes}")
    _check_run_memory(instance, args)
    try:
        summary = run_and_summarize(instance, args.planner, num_episodes=args.episodes, num_seeds=args.seeds,
                                    task=task, eps=eps, seed=args.seed, model=model, belief=args.belief,
                                    expert_temperature=args.expert_temperature,
                                    progress=False if args.no_progress else None, checkpoint=args.checkpoint,
                                    window=args.window)
    except ValueError as err:
        from jaxbail.llm.checkpoint import CheckpointError

        if isinstance(err, CheckpointError):
            raise UsageError(str(err)) from None
        raise UsageError(f"--eps: {err}" if str(err).startswith("eps") else f"run: {err}") from None
    if args.json:
        from jaxbail.validate import dumps_json

        print(dumps_json(summary))
    else:
        print(_human_summary(summary))
    return 0


def _check_run_memory(instance, args: argparse.Namespace) -> None:
    """Refuse a run that would not fit in memory, before anything is compiled."""
    from jaxbail.validate import check_memory, run_memory

    check_memory(run_memory(instance.sizes, num_episodes=args.episodes, num_seeds=args.seeds), "this run",
                 "use fewer --seeds or a smaller instance (horizon, states, tasks)")


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _fixed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _human_summary(s: dict[str, Any]) -> str:
    lines = [f"{s['planner']} on {s['instance'] or 'instance file'} ({s['mode']} mode"
             + (f", task {s['task']}" if s["task"] is not None else "") + f"): "
             f"{s['seeds']} seeds x {s['episodes']} episodes"]
    if s["eps"]:
        lines.append(f"  eps: {s['eps']['spec']} -> {_fmt(s['eps']['eps'])}")
    if s.get("window"):
        lines.append(f"  window: the last {s['window']} episodes")
    lo, hi = s["regret_ci95"]
    lines.append(f"  cumulative regret (gap estimator): {_fmt(s['regret_mean'])}  95% CI [{_fmt(lo)}, {_fmt(hi)}]")
    lo, hi = s["return_regret_ci95"]
    lines.append(f"  cumulative regret (return estimator): {_fmt(s['return_regret_mean'])}  "
                 f"95% CI [{_fmt(lo)}, {_fmt(hi)}]")
    lo, hi = s["slope_ci95"]
    lines.append(f"  log-log slope over episodes {s['slope_range'][0]}..{s['slope_range'][1]}: "
                 f"{_fixed(s['slope'])}  95% CI [{_fixed(lo)}, {_fixed(hi)}]")
    lines.append(f"  per-episode regret, last 10% of episodes: {_fmt(s['per_episode_regret_last'])}")
    lines.append(f"  posterior mass on the true task at the end: {_fmt(s['true_task_posterior_final'])}")
    if s.get("delta"):
        lo, hi = s["delta"]["ci95"]
        lines.append(f"  checkpoint: {s['checkpoint']}")
        lines.append(f"  delta (TV to exact BAIL on its own decisions): {_fmt(s['delta']['mean'])}  "
                     f"95% CI [{_fmt(lo)}, {_fmt(hi)}]")
    if s["misspecification_events"]:
        lines.append(f"  misspecification events: {s['misspecification_events']}")
    th = s["theory"]
    if th is None:
        lines.append(f"  theory: none ({s['theory_note']})")
    else:
        label = "exact line" if th["kind"] == "exact_line" else "upper bound"
        lines.append(f"  theory ({label}): {_fmt(th['value'])} at T={s['episodes']}  [{th['formula']}]")
        lines.append(f"    {s['theory_note']}")
    return "\n".join(lines)


def _load_trajectory(path: str, instance) -> list[tuple[list[int], list[int]]]:
    from jaxbail.validate import loads_json, read_text

    data = loads_json(read_text(path, "--trajectory"), "--trajectory")
    if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
        raise UsageError("--trajectory: expected an object with a list 'episodes'")
    horizon, num_obs, num_subgoals = instance.horizon, instance.num_observations, instance.num_subgoals
    episodes = []
    for t, episode in enumerate(data["episodes"]):
        if not isinstance(episode, dict):
            raise UsageError(f"--trajectory: episodes[{t}] must be an object with 'observations' and 'subgoals'")
        for key, length, bound in (("observations", horizon + 1, num_obs), ("subgoals", horizon, num_subgoals)):
            seq = episode.get(key)
            if not isinstance(seq, list):
                raise UsageError(f"--trajectory: episodes[{t}].{key} is missing or not a list")
            if len(seq) != length:
                raise UsageError(f"--trajectory: episodes[{t}].{key} has length {len(seq)}, expected {length} "
                                 f"(horizon {horizon})")
            for h, value in enumerate(seq):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
                    raise UsageError(f"--trajectory: episodes[{t}].{key}[{h}] = {value!r} is out of range "
                                     f"[0, {bound - 1}]")
        episodes.append((episode["observations"], episode["subgoals"]))
    return episodes


def _cmd_replay(args: argparse.Namespace) -> int:
    from jaxbail.replay import replay

    instance = _load_instance(args)
    episodes = _load_trajectory(args.trajectory, instance)
    out = replay(instance, episodes)
    if args.json:
        from jaxbail.validate import dumps_json

        print(dumps_json(out))
    else:
        for step in out["steps"]:
            post = " ".join(f"{p:.4f}" for p in step["task_posterior"])
            bail = " ".join(f"{p:.4f}" for p in step["bail"])
            print(f"episode {step['episode']} step {step['step']}: task posterior [{post}]  bail [{bail}]")
        if out["misspecification_events"]:
            print(f"misspecification events: {out['misspecification_events']}")
    return 0


def _parse_shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        k_int, n_int = int(k), int(n)
    except ValueError:
        raise UsageError(f"--shard: expected k/n with integers 0 <= k < n, got {text!r}") from None
    if not sep or n_int < 1 or not 0 <= k_int < n_int:
        raise UsageError(f"--shard: expected k/n with integers 0 <= k < n, got {text!r}")
    return k_int, n_int


def _cmd_sweep(args: argparse.Namespace) -> int:
    from jaxbail.sweep import (
        SweepError,
        check_out_dir,
        corrupt_cells,
        expand_cells,
        load_sweep,
        run_sweep,
        sweep_status,
        write_table,
    )

    shard = None if args.shard is None else _parse_shard(args.shard)
    try:
        config = load_sweep(args.config)
        config["_allow_large"] = args.allow_large_grid
        cells = expand_cells(config)
    except SweepError as err:
        raise UsageError(f"{args.config}: {err}") from None
    out = Path(args.out) if args.out else Path("results") / str(config.get("name") or Path(args.config).stem)
    if args.status:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out: {str(out)!r} is a file, not a directory")
        done, missing = sweep_status(cells, out)
        corrupt = {c.cell_id for c in corrupt_cells(cells, out)}
        ids = {c.cell_id for c in done}
        for cell in cells:
            state = "done" if cell.cell_id in ids else ("corrupt" if cell.cell_id in corrupt else "missing")
            print(f"{cell.cell_id}  {state:<7}  {json.dumps(dict(cell), sort_keys=True)}")
        note = f" ({len(corrupt)} corrupt: recomputed by the next run)" if corrupt else ""
        print(f"{len(done)} done, {len(missing)} missing of {len(cells)} cells in {out}{note}")
        try:
            check_out_dir(out, config, force=args.force)
        except SweepError:  # another sweep's directory: report only, never replace its table
            return 0
        if done:
            write_table(out, cells)
        return 0
    try:
        report = run_sweep(config, out, shard=shard, progress=False if args.no_progress else None, force=args.force)
    except SweepError as err:
        raise UsageError(str(err) if str(err).startswith("--out") else f"{args.config}: {err}") from None
    if report.get("corrupt"):
        print(f"sweep {out}: {report['corrupt']} corrupt cell files (truncated or invalid) were recomputed",
              file=sys.stderr)
    print(f"sweep {out}: ran {report['ran']} cells; {report['done']} of {report['cells']} done; "
          f"table {out / 'results.csv'}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from jaxbail.plot import PlotInputError, plot_results

    try:
        paths = plot_results(args.results, args.out)
    except (FileNotFoundError, RuntimeError, PlotInputError) as err:
        raise UsageError(str(err)) from None
    except OSError as err:  # a figure could not be written (the old one, if any, is left whole)
        raise UsageError(f"plot: cannot write a figure: {err.strerror or err}") from None
    for path in paths:
        print(path)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from jaxbail.reproduce import reproduce

    summary = reproduce(args.out, quick=args.quick, log=lambda msg: print(msg, file=sys.stderr))
    print((Path(args.out) / "summary.md").read_text())
    # exit 1 when a claim is not supported; descriptive entries ("beyond the paper's assumptions") never fail
    return 1 if any(c["verdict"] == "not supported" for c in summary["claims"]) else 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be a finite number > 0, got {args.lr:g}")
    from jaxbail.llm.checkpoint import side_file
    from jaxbail.llm.model import FAMILIES, POSITIONS
    from jaxbail.validate import check_writable

    if args.model not in FAMILIES:
        raise UsageError(f"--model: expected one of {', '.join(FAMILIES)}, got {args.model!r}")
    if args.positions not in POSITIONS:
        raise UsageError(f"--positions: expected one of {', '.join(POSITIONS)}, got {args.positions!r}")
    out = Path(args.out)
    check_writable(out, "--out")  # before training: a run that cannot be saved is not started
    check_writable(side_file(out), "--out (its side file)")
    instance = _load_instance(args)
    from jaxbail.env import kind_of

    if not kind_of(instance).one_history:
        raise UsageError("pretrain: the transformer reads one Actor's history; several Actors are not supported")
    from jaxbail.llm.train import pretrain

    _check_pretrain_memory(instance, args)

    options = {"num_trajectories": args.trajectories, "layers": args.layers, "width": args.width,
               "heads": args.heads, "context_episodes": args.context_episodes, "steps": args.steps,
               "batch": args.batch, "heldout": args.heldout, "lr": args.lr, "behaviour": args.behaviour,
               "model": args.model, "positions": args.positions}
    options = {k: v for k, v in options.items() if v is not None}
    deploy = {"deploy_episodes": args.deploy_episodes or 20, "deploy_seeds": args.deploy_seeds or 1024}
    try:
        result = pretrain(instance, out, preset="quick" if args.quick else "default", seed=args.seed,
                          progress=False if args.no_progress else None,
                          log=lambda line: print(line, file=sys.stderr, flush=True), **deploy, **options)
    except ValueError as err:
        raise UsageError(f"pretrain: {err}") from None
    rec = result.record
    from jaxbail.validate import dumps_json

    print(dumps_json({"checkpoint": str(out), "model": args.model, "num_params": rec["num_params"],
                      "train_seconds": rec["train_seconds"], "final_loss": rec["final_loss"],
                      **{part: {k: rec[part][k] for k in ("delta", "lo", "hi")}
                         for part in ("heldout", "deployment", "window_only")}}))
    return 0


def _check_pretrain_memory(instance, args: argparse.Namespace) -> None:
    """Refuse a pretraining run whose parameters, data and activations would not fit in memory."""
    from jaxbail.llm.train import PRESETS
    from jaxbail.validate import check_memory, pretrain_memory

    preset = PRESETS["quick" if args.quick else "default"]
    pick = lambda flag, key: preset[key] if flag is None else flag  # noqa: E731
    check_memory(pretrain_memory(instance.sizes, layers=pick(args.layers, "layers"), width=pick(args.width, "width"),
                                 heads=pick(args.heads, "heads"),
                                 context_episodes=pick(args.context_episodes, "context_episodes"),
                                 num_trajectories=pick(args.trajectories, "num_trajectories"),
                                 batch=pick(args.batch, "batch"), heldout=pick(args.heldout, "heldout"),
                                 deploy_seeds=args.deploy_seeds or 1024),
                 "pretraining", "use a smaller --width, --layers, --batch, --context-episodes or --trajectories")


def _cmd_list(args: argparse.Namespace) -> int:
    from jaxbail.instances import INSTANCES
    from jaxbail.instances.registry import parameters
    from jaxbail.planners import PLANNERS

    print("instances:")
    for name, family in INSTANCES.items():
        print(f"  {name:<12} {family.description}  params: {', '.join(parameters(name))}")
    print("planners:")
    for name, spec in PLANNERS.items():
        print(f"  {name:<12} {spec.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        command = {"run": _cmd_run, "replay": _cmd_replay, "sweep": _cmd_sweep, "plot": _cmd_plot,
                   "reproduce": _cmd_reproduce,
                   "pretrain": _cmd_pretrain, "list": _cmd_list}[args.command]
        _setup_scale(args)
        return command(args)
    except (UsageError, InstanceError, InputError) as err:
        print(f"jaxbail: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
