"""Sweeps: a TOML grid of cells, run in vmapped batches, resumable, shardable, written as a tidy table."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from jaxbail.validate import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SweepError", "Cell", "load_sweep", "expand_cells", "run_sweep", "sweep_status", "write_table",
           "TABLE_COLUMNS", "package_versions", "corrupt_cells", "check_out_dir", "MAX_GRID_CELLS"]

MAX_GRID_CELLS = 10_000
"""Grids with more cells need confirmation (``config["_allow_large"]``, the CLI's ``--allow-large-grid``)."""

TOP_KEYS = {"name", "seed", "episodes", "seeds", "mode", "task", "belief", "instance", "instances", "planner",
            "description"}
INSTANCE_KEYS = {"name", "file", "params"}
PLANNER_KEYS = {"name", "eps", "window"}
TABLE_COLUMNS = ["cell_id", "instance", "params", "planner", "eps", "mode", "task", "episodes_total", "seeds",
                 "seed", "episode", "regret_mean", "regret_lo", "regret_hi", "return_regret_mean",
                 "true_task_posterior_mean", "slope", "slope_lo", "slope_hi", "per_episode_regret_last",
                 "theory_kind", "theory_value", "eta", "c_Z", "C", "Dmax", "window"]


class SweepError(ValueError):
    """A bad sweep file: the message names the key."""


class Cell(dict):
    """One cell of a sweep: a JSON-able spec; ``cell_id`` is a hash of it."""

    @property
    def cell_id(self) -> str:
        return hashlib.sha1(json.dumps(self, sort_keys=True).encode()).hexdigest()[:12]


def _as_list(value: Any, key: str, list_valued: bool = False) -> list:
    """A scalar is one value; a list is a grid axis. For a key that takes a list as one value
    (``list_valued``: from the generator's annotations), a list holding lists is a grid axis and any
    other value one value."""
    if list_valued:
        if isinstance(value, list) and any(isinstance(v, list) for v in value):
            return value
        return [value]
    if isinstance(value, list):
        if not value:
            raise SweepError(f"{key}: an empty list gives no cells")
        return value
    return [value]


def _positive_ints(value: Any, key: str) -> list[int]:
    from jaxbail.validate import INT32_MAX

    out = []
    for v in _as_list(value, key):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SweepError(f"{key}: must be a positive integer (or a list of them), got {v!r}")
        if v > INT32_MAX:
            raise SweepError(f"{key}: must be a positive integer of at most {INT32_MAX} (the simulation counts "
                             f"in int32), got {v if len(str(v)) <= 24 else f'a {len(str(v))}-digit number'}")
        out.append(v)
    _no_duplicates(out, key)
    return out


def _no_duplicates(values: list, key: str) -> None:
    """Refuse a grid axis that names one value twice (its cells would run, and be written, twice)."""
    seen: set[str] = set()
    for v in values:
        k = json.dumps(v, sort_keys=True)
        if k in seen:
            raise SweepError(f"{key}: the value {v!r} appears twice in the list; give each value once")
        seen.add(k)


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and parse a sweep TOML file (syntax only; :func:`expand_cells` validates)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SweepError(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    try:
        config = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SweepError(f"invalid TOML: {err}") from None
    config["_hash"] = hashlib.sha256(raw).hexdigest()
    config["_dir"] = str(path.resolve().parent)
    return config


def expand_cells(config: dict[str, Any]) -> list[Cell]:
    """Every cell of the grid, validated (instances built, eps parsed) before any work starts."""
    from jaxbail.experiment import parse_eps
    from jaxbail.instance import InstanceError, load_instance
    from jaxbail.instances import INSTANCES, instance_by_name
    from jaxbail.instances.registry import list_valued
    from jaxbail.planners import PLANNERS

    unknown = sorted(set(k for k in config if not k.startswith("_")) - TOP_KEYS)
    if unknown:
        raise SweepError(f"{unknown[0]}: unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SweepError(f"seed: must be an integer, got {seed!r}")
    from jaxbail.validate import SEED_MAX, InputError, check_builtin_params, check_int

    try:
        check_int(seed, "seed", 0, SEED_MAX, what=" (a 32-bit PRNG seed)")
    except InputError as err:
        raise SweepError(str(err).replace("seed must", "seed: must")) from None
    _check_grid_size(config)
    episodes = _positive_ints(config.get("episodes", 1000), "episodes")
    seeds = _positive_ints(config.get("seeds", 100), "seeds")
    mode = config.get("mode", "bayes")
    if mode not in ("bayes", "fixed"):
        raise SweepError(f"mode: must be 'bayes' or 'fixed', got {mode!r}")
    belief = config.get("belief", "exact")
    if belief not in ("exact", "delusional"):
        raise SweepError(f"belief: must be 'exact' or 'delusional', got {belief!r}")
    if mode == "fixed":
        if "task" not in config:
            raise SweepError("task: mode = 'fixed' needs task (an index or a list)")
        tasks = _as_list(config["task"], "task")
        for t in tasks:
            if isinstance(t, bool) or not isinstance(t, int) or t < 0:
                raise SweepError(f"task: must be a non-negative integer, got {t!r}")
        _no_duplicates(tasks, "task")
    else:
        if "task" in config:
            raise SweepError("task: only with mode = 'fixed'")
        tasks = [None]

    if ("instance" in config) == ("instances" in config):
        raise SweepError("instance: give exactly one of [instance] or [[instances]]")
    entries = config["instances"] if "instances" in config else [config["instance"]]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SweepError("instances: must be an array of tables [[instances]]")
    instance_specs: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        where = "instance" if "instance" in config else f"instances[{i}]"
        bad = sorted(set(entry) - INSTANCE_KEYS)
        if bad:
            raise SweepError(f"{where}.{bad[0]}: unknown key (allowed: name, file, params)")
        if ("name" in entry) == ("file" in entry):
            raise SweepError(f"{where}: give exactly one of name (a built-in) or file (a JSON instance)")
        if "file" in entry:
            if entry.get("params"):
                raise SweepError(f"{where}.params: only for built-in instances")
            if not isinstance(entry["file"], str):
                raise SweepError(f"{where}.file: must be a path (a string), got {entry['file']!r}")
            file = Path(entry["file"])
            if not file.is_absolute():
                file = Path(config.get("_dir", ".")) / file
            try:
                built = load_instance(file)
            except InstanceError as err:
                raise SweepError(f"{where}.file: {err}") from None
            for t in tasks:
                if t is not None and t >= built.num_tasks:
                    raise SweepError(f"task: {t} is past the last task {built.num_tasks - 1} of {where}.file")
            digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
            instance_specs.append({"file": str(file), "file_sha256": digest})
            continue
        name = entry["name"]
        if not isinstance(name, str) or name not in INSTANCES:
            raise SweepError(f"{where}.name: unknown instance {name!r} (choose from {', '.join(INSTANCES)})")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise SweepError(f"{where}.params: must be a table")
        keys = sorted(params)
        lists = list_valued(name)
        axes = [_as_list(params[k], f"{where}.params.{k}", k in lists) for k in keys]
        for k, axis in zip(keys, axes):
            _no_duplicates(axis, f"{where}.params.{k}")
        for combo in itertools.product(*axes):
            values = dict(zip(keys, combo))
            try:
                check_builtin_params(name, values)
                built = instance_by_name(name, **values)
            except InstanceError as err:
                raise SweepError(f"{where}.params.{err}") from None
            except (TypeError, ValueError, OverflowError) as err:  # what the generators' own checks let through
                raise SweepError(f"{where}.params: instance {name!r} cannot be built from {values}: {err}") from None
            for t in tasks:
                if t is not None and t >= built.num_tasks:
                    raise SweepError(f"task: {t} is past the last task {built.num_tasks - 1} of {where} "
                                     f"({name} with {values})")
            instance_specs.append({"name": name, "params": values})

    planner_cfg = config.get("planner")
    if not isinstance(planner_cfg, dict) or "name" not in planner_cfg:
        raise SweepError("planner: a [planner] table with name (a planner or a list) is required")
    bad = sorted(set(planner_cfg) - PLANNER_KEYS)
    if bad:
        raise SweepError(f"planner.{bad[0]}: unknown key (allowed: name, eps, window)")
    names = _as_list(planner_cfg["name"], "planner.name")
    _no_duplicates(names, "planner.name")
    for n in names:
        if not isinstance(n, str) or n not in PLANNERS:
            raise SweepError(f"planner.name: unknown planner {n!r} (choose from {', '.join(PLANNERS)})")
    eps_values = [str(e) for e in _as_list(planner_cfg.get("eps", "auto"), "planner.eps")]
    _no_duplicates(eps_values, "planner.eps")
    for e in eps_values:
        try:
            parse_eps(e)
        except ValueError as err:
            raise SweepError(f"planner.eps: {err}") from None

    windows = _windows(planner_cfg, names, belief)
    cells = []
    for spec, name, t_count, n_seeds, task in itertools.product(instance_specs, names, episodes, seeds, tasks):
        for eps in (eps_values if PLANNERS[name].takes_eps else [None]):
            for window in ((windows or [None]) if PLANNERS[name].takes_window else [None]):
                cell = Cell(instance=spec, planner=name, eps=eps, episodes=t_count, seeds=n_seeds, mode=mode,
                            task=task, seed=seed, belief=belief)
                if window is not None:  # only window planners' cells carry the key (other cell ids unchanged)
                    cell["window"] = window
                cells.append(cell)
    cells = list({c.cell_id: c for c in cells}.values())  # one cell per id (two files with the same path)
    _check_auto_eps(cells)
    return cells


def _windows(planner_cfg: dict[str, Any], names: list, belief: str) -> list[int]:
    """``planner.window``: the ``K`` values of the window planners (required by those without a default, refused
    where no planner takes one)."""
    from jaxbail.planners import PLANNERS

    windowed = [n for n, spec in PLANNERS.items() if spec.takes_window]
    wanted = [n for n in names if n in windowed]
    if "window" not in planner_cfg:
        needed = [n for n in wanted if PLANNERS[n].needs_window]
        if needed:
            raise SweepError(f"planner.window: {needed[0]!r} needs window = K (an integer >= 1, or a list)")
        return []
    if not wanted:
        from jaxbail.planners.registry import windowed_names

        raise SweepError(f"planner.window: applies to {windowed_names()}, none of which is in planner.name")
    values = _as_list(planner_cfg["window"], "planner.window")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise SweepError(f"planner.window: must be integers >= 1, got {k!r}")
    if belief != "exact" and any(PLANNERS[n].needs_window for n in wanted):
        raise SweepError("planner.window: the window planners need belief = 'exact'")
    return values


def _list_valued(name: Any) -> set[str]:
    """The list-valued parameters of instance family ``name`` (none for an unknown name or a file)."""
    from jaxbail.instances import INSTANCES
    from jaxbail.instances.registry import list_valued

    return set(list_valued(name)) if isinstance(name, str) and name in INSTANCES else set()


def _check_grid_size(config: dict[str, Any]) -> None:
    """Count the grid's cells from its axes (before building anything); refuse a huge one unconfirmed."""
    def length(value: Any, array_valued: bool = False) -> int:
        if array_valued:
            return len(value) if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else 1
        return len(value) if isinstance(value, list) else 1

    entries = config.get("instances", [config.get("instance")])
    if not isinstance(entries, list):
        return
    instances = 0
    for entry in entries:
        params = entry.get("params", {}) if isinstance(entry, dict) else {}
        count = 1
        for k, v in (params.items() if isinstance(params, dict) else ()):
            count *= length(v, k in _list_valued(entry.get("name")))
        instances += count
    planner_cfg = config.get("planner") if isinstance(config.get("planner"), dict) else {}
    names = planner_cfg.get("name", [])
    names = names if isinstance(names, list) else [names]
    from jaxbail.planners import PLANNERS

    def per_name(n: Any) -> int:
        spec = PLANNERS.get(n) if isinstance(n, str) else None
        if spec is None:
            return 1
        return ((length(planner_cfg.get("eps", "auto")) if spec.takes_eps else 1)
                * (length(planner_cfg.get("window", 1)) if spec.takes_window else 1))

    per_instance = sum(per_name(n) for n in names)
    total = (instances * per_instance * length(config.get("episodes", 1)) * length(config.get("seeds", 1))
             * length(config.get("task", 0)))
    if total > MAX_GRID_CELLS and not config.get("_allow_large"):
        raise SweepError(f"the grid has {total:,} cells (more than {MAX_GRID_CELLS:,}); check its lists, or pass "
                         "--allow-large-grid to run it")


def _check_auto_eps(cells: list[Cell]) -> None:
    """``eps = "auto"`` needs the bound's constants (an injective Reporter, two tasks, eta > 0): check each
    (instance, planner, task) it applies to before any work."""
    from jaxbail.experiment import EpsSpec, resolve_planner

    seen: set[str] = set()
    for cell in cells:
        if cell["eps"] != "auto":
            continue
        key = json.dumps([cell["instance"], cell["planner"], cell["task"]], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            resolve_planner(cell["planner"], _build_instance(cell["instance"]), cell["episodes"], cell["task"],
                            EpsSpec("auto"))
        except ValueError as err:
            spec = cell["instance"]
            what = spec.get("file") or f"{spec['name']} with {spec['params']}"
            raise SweepError(f"planner.eps: {err} (cell {cell['planner']} on {what})") from None


def _build_instance(spec: dict[str, Any]):
    from jaxbail.instance import load_instance
    from jaxbail.instances import instance_by_name

    if "file" in spec:
        return load_instance(spec["file"])
    return instance_by_name(spec["name"], **spec["params"])


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("jaxbail", "jax", "jaxlib", "numpy", "flax", "optax", "chex"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_name() -> str:
    import jax

    dev = jax.devices()[0]
    return f"{dev.platform}:{getattr(dev, 'device_kind', '')}".rstrip(":")


def _batches(cells: list[Cell], max_seed_cells: int = 1 << 16) -> list[list[int]]:
    """Indices of cells that can run as one vmapped batch (same sizes, planner structure, T, N, task mode),
    in a fixed order that does not depend on what is already done."""
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        inst = _build_instance(cell["instance"])
        key = json.dumps([inst.sizes, cell["planner"], cell["episodes"], cell["seeds"], cell["belief"],
                          cell.get("window")])
        groups.setdefault(key, []).append(i)
    batches = []
    for members in groups.values():
        size = max(1, max_seed_cells // cells[members[0]]["seeds"])
        batches.extend(members[j:j + size] for j in range(0, len(members), size))
    return batches


def _run_batch(cells: list[Cell]) -> list[dict[str, Any]]:
    import jax

    from jaxbail import theory
    from jaxbail.experiment import parse_eps, resolve_planner, summarize
    from jaxbail.runner import simulate_many

    instances, planners, infos = [], [], []
    for cell in cells:
        inst = _build_instance(cell["instance"])
        eps = None if cell["eps"] is None else parse_eps(cell["eps"])
        planner, info = resolve_planner(cell["planner"], inst, cell["episodes"], cell["task"], eps,
                                        window=cell.get("window"))
        instances.append(inst)
        planners.append(planner)
        infos.append(info)
    first = cells[0]
    from jaxbail.streaming import STREAM_ABOVE

    results = simulate_many(jax.random.PRNGKey(first["seed"]), instances, planners,
                            num_episodes=first["episodes"], num_seeds=first["seeds"],
                            tasks=[c["task"] for c in cells], belief=first["belief"],
                            keep_curves=first["seeds"] <= STREAM_ABOVE)
    out = []
    for cell, inst, planner, info, result in zip(cells, instances, planners, infos, results):
        if cell["belief"] == "exact":
            th = theory.theory_for(inst, planner, cell["episodes"], cell["task"])
        else:
            th = theory.Theory(None, None, None, "no theory for the delusional posterior")
        summary = summarize(result, planner=cell["planner"], th=th, seed=cell["seed"])
        summary.update({"cell_id": cell.cell_id, "cell": dict(cell), "eps": info,
                        "constants": _constants(inst, cell["task"])})
        out.append(summary)
    return out


_CONSTANTS_CACHE: dict[str, dict[str, Any]] = {}


def _constants(inst, task) -> dict[str, Any]:
    from jaxbail import theory
    from jaxbail.instance import instance_to_dict

    key = hashlib.sha1(json.dumps([instance_to_dict(inst), task]).encode()).hexdigest()
    if key not in _CONSTANTS_CACHE:
        import numpy as np

        prior = np.asarray(inst.prior, np.float64)
        prior = prior / prior.sum()
        c_z = theory.concentration(prior)
        eta = theory.distinguishability(inst) if inst.num_tasks > 1 else None
        _CONSTANTS_CACHE[key] = {
            "eta": None if eta is None else eta.eta,
            "eta_method": None if eta is None else eta.method,
            "c_Z": theory.prior_coverage(prior),
            "C": float(c_z[task]) if task is not None else float(prior @ c_z),
            "Dmax": theory.max_action_gap(inst),
        }
    return _CONSTANTS_CACHE[key]


def _cell_path(out: Path, cell: Cell) -> Path:
    return out / "cells" / f"{cell.cell_id}.json"


def _load_cell(out: Path, cell: Cell) -> dict[str, Any] | None:
    """A finished cell's summary, or ``None`` when its file is missing or not a whole, valid cell
    (truncated, empty, ``{}``, another cell's, rows that cannot be formed): such a cell is recomputed."""
    try:
        data = json.loads(_cell_path(out, cell).read_bytes().decode("utf-8"))
        if not isinstance(data, dict) or data.get("cell_id") != cell.cell_id or data.get("cell") != dict(cell):
            return None
        curve = data["curve"]
        lengths = {len(curve[k]) for k in ("episodes", "regret_mean", "regret_lo", "regret_hi", "return_regret_mean",
                                           "true_task_posterior_mean")}
        if len(lengths) != 1 or lengths == {0} or (curve.get("theory") is not None
                                                   and len(curve["theory"]) not in lengths):
            return None
        list(_rows(data))
    except (OSError, ValueError, RecursionError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return data


def sweep_status(cells: list[Cell], out: Path) -> tuple[list[Cell], list[Cell]]:
    """``(done, missing)`` cells in ``out``; a corrupt cell file counts as missing (see :func:`corrupt_cells`)."""
    valid = {c.cell_id for c in cells if _load_cell(Path(out), c) is not None}
    done = [c for c in cells if c.cell_id in valid]
    missing = [c for c in cells if c.cell_id not in valid]
    return done, missing


def corrupt_cells(cells: list[Cell], out: Path) -> list[Cell]:
    """Cells whose file exists but is not a whole, valid result (they are recomputed by :func:`run_sweep`)."""
    return [c for c in cells if _cell_path(Path(out), c).exists() and _load_cell(Path(out), c) is None]


def check_out_dir(out: Path, config: dict[str, Any], *, force: bool = False) -> None:
    """Refuse an ``--out`` that is a file, cannot be created, or holds another sweep's results (its
    ``metadata.json`` records another config hash) unless ``force``. Writes nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out: {str(out)!r} is a file, not a directory")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise SweepError(f"--out: cannot create {str(out)!r}: {str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SweepError(f"--out: cannot create or write {str(out)!r}: {str(probe)!r} is not writable")
    meta_path = out / "metadata.json"
    if force or not out.exists():
        return
    if meta_path.exists():
        try:
            other = json.loads(meta_path.read_bytes().decode("utf-8")).get("config_sha256")
        except (OSError, ValueError, AttributeError, RecursionError):
            other = "unreadable"
        if other != config.get("_hash"):
            raise SweepError(f"--out: {str(out)!r} holds the results of another sweep (config sha256 "
                             f"{str(other)[:16]}, this one {str(config.get('_hash'))[:16]}); choose another --out, "
                             "or pass --force to write this sweep's table and metadata there")
    elif (out / "results.csv").exists():
        raise SweepError(f"--out: {str(out)!r} holds a results.csv without metadata.json (not this sweep's); "
                         "choose another --out, or pass --force")


def _shard(batches: list[list[int]], shard: tuple[int, int] | None) -> list[list[int]]:
    if shard is None:
        return batches
    k, n = shard
    return [b for i, b in enumerate(batches) if i % n == k]


def _check_batch_memory(cells: list[Cell], batches: list[list[int]]) -> None:
    from jaxbail.validate import InputError, check_memory, run_memory

    for batch in batches:
        first = cells[batch[0]]
        sizes = _build_instance(first["instance"]).sizes
        try:
            check_memory(run_memory(sizes, num_episodes=first["episodes"], num_seeds=first["seeds"],
                                    num_cells=len(batch)),
                         f"a batch of {len(batch)} cells ({first['planner']}, sizes {sizes}, {first['seeds']} seeds)",
                         "use fewer seeds or smaller instances")
        except InputError as err:
            raise SweepError(str(err)) from None


def run_sweep(config: dict[str, Any], out: str | Path, *, shard: tuple[int, int] | None = None,
              progress: bool | None = None, force: bool = False) -> dict[str, Any]:
    """Run every missing cell (of this shard), write each atomically, then the table and metadata.

    Cells that run as one vmapped batch are sharded together (``--shard k/n`` takes
    every n-th batch, 0-based ``k``), so results never depend on how the sweep was split.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    cells = expand_cells(config)
    all_batches = _batches(cells)
    _check_batch_memory(cells, all_batches)
    check_out_dir(out, config, force=force)
    batches = _shard(all_batches, shard)
    try:
        (out / "cells").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SweepError(f"--out: cannot create {str(out / 'cells')!r}: {err.strerror or err}") from None
    corrupt = len(corrupt_cells([cells[i] for b in batches for i in b], out))
    meta = {"config": {k: v for k, v in config.items() if not k.startswith("_")},
            "config_sha256": config.get("_hash"), "versions": package_versions(), "device": device_name(),
            "seed": config.get("seed", 0), "num_cells": len(cells), "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    from jaxbail.validate import dumps_json

    atomic_write(out / "metadata.json", dumps_json(meta, indent=2))
    todo = [b for b in batches if not all(_load_cell(out, cells[i]) is not None for i in b)]
    ran = 0
    with tqdm(total=sum(len(b) for b in todo), unit="cell", desc="sweep", disable=(
            None if progress is None else not progress)) as bar:
        for batch in todo:
            summaries = _run_batch([cells[i] for i in batch])
            from jaxbail.validate import dumps_json

            for i, summary in zip(batch, summaries):
                atomic_write(_cell_path(out, cells[i]), dumps_json(summary))
            ran += len(batch)
            bar.update(len(batch))
    write_table(out, cells)
    done, missing = sweep_status(cells, out)
    return {"cells": len(cells), "ran": ran, "done": len(done), "missing": len(missing), "corrupt": corrupt}


def _rows(summary: dict[str, Any]) -> Iterable[dict[str, Any]]:
    cell, curve, th = summary["cell"], summary["curve"], summary.get("theory")
    spec = cell["instance"]
    const = summary.get("constants", {})
    eps = summary.get("eps")
    for j, episode in enumerate(curve["episodes"]):
        yield {
            "cell_id": summary["cell_id"], "instance": spec.get("name", spec.get("file")),
            "params": json.dumps(spec.get("params", {}), sort_keys=True), "planner": cell["planner"],
            "eps": "" if eps is None else eps["spec"], "mode": cell["mode"],
            "task": "" if cell["task"] is None else cell["task"], "episodes_total": cell["episodes"],
            "seeds": cell["seeds"], "seed": cell["seed"], "episode": episode,
            "regret_mean": curve["regret_mean"][j], "regret_lo": curve["regret_lo"][j],
            "regret_hi": curve["regret_hi"][j], "return_regret_mean": curve["return_regret_mean"][j],
            "true_task_posterior_mean": curve["true_task_posterior_mean"][j],
            "slope": summary["slope"], "slope_lo": summary["slope_ci95"][0], "slope_hi": summary["slope_ci95"][1],
            "per_episode_regret_last": summary["per_episode_regret_last"],
            "theory_kind": "" if th is None else th["kind"],
            "theory_value": "" if curve.get("theory") is None else curve["theory"][j],
            "eta": const.get("eta"), "c_Z": const.get("c_Z"), "C": const.get("C"), "Dmax": const.get("Dmax"),
            "window": cell.get("window"),
        }


def write_table(out: str | Path, cells: list[Cell] | None = None) -> Path:
    """Merge every finished cell in ``out/cells`` (in sweep order when ``cells`` is given) into ``results.csv``."""
    out = Path(out)
    if cells is None:  # every valid cell file in the directory, by file name
        cells = []
        for path in sorted((out / "cells").glob("*.json")):
            try:
                cells.append(Cell(json.loads(path.read_bytes().decode("utf-8"))["cell"]))
            except (OSError, ValueError, RecursionError, KeyError, TypeError):
                continue
    summaries = [s for s in (_load_cell(out, c) for c in cells) if s is not None]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for summary in summaries:
        for row in _rows(summary):
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    target = out / "results.csv"
    atomic_write(target, buffer.getvalue())
    return target
