"""The validation layer at the boundary: integer ranges, checked file reads, strict JSON, atomic writes,
and memory estimates that refuse a run before it is compiled.

Every check raises :class:`InputError` (a ``ValueError``) with one line that names the culprit (a flag,
a file or a key) and says what would be accepted; the CLI prints it and exits 2.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["InputError", "INT32_MAX", "SEED_MAX", "check_int", "int_arg", "seed_arg", "read_text",
           "loads_json", "strict_json", "dumps_json", "atomic_write", "check_writable", "available_memory",
           "MemoryEstimate", "run_memory", "pretrain_memory", "check_memory", "check_builtin_params",
           "format_bytes"]

INT32_MAX = 2**31 - 1
"""Largest episode, seed-count and size value: the simulation indexes them with int32."""
SEED_MAX = 2**32 - 1
"""Largest PRNG seed: ``jax.random.PRNGKey`` keeps 32 bits (larger seeds would wrap onto smaller ones)."""


class InputError(ValueError):
    """Bad input from the user, caught at the boundary: one line, exit code 2."""


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + "...'"[: 4 if text[0] == "'" else 3]


# ---------------------------------------------------------------------------------------------- integers

def check_int(value: Any, name: str, low: int, high: int, *, what: str = "") -> int:
    """``value`` as an int in ``[low, high]`` (bools refused); ``what`` explains the upper bound."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer in [{low}, {high}], got {_show(value)}")
    if not low <= value <= high:
        shown = str(value) if len(str(value)) <= 24 else f"a {len(str(abs(value)))}-digit number"
        raise InputError(f"{name} must be an integer in [{low}, {high}]{what}, got {shown}")
    return value


def _parse_int_text(text: str, name: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text.strip()) if len(text) <= 64 else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(f"{name} must be an integer in [{low}, {high}]{what}, got {_show(text)}")
    return check_int(value, name, low, high, what=what)


def int_arg(name: str, low: int = 1, high: int = INT32_MAX) -> Callable[[str], int]:
    """An argparse ``type`` for an integer flag in ``[low, high]``."""
    import argparse

    what = " (the simulation counts in int32)" if high == INT32_MAX else ""

    def parse(text: str) -> int:
        try:
            return _parse_int_text(text, name, low, high, what)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


def seed_arg(name: str = "--seed") -> Callable[[str], int]:
    """An argparse ``type`` for a PRNG seed in ``[0, 2**32 - 1]``."""
    import argparse

    def parse(text: str) -> int:
        try:
            return _parse_int_text(text, name, 0, SEED_MAX, " (a 32-bit PRNG seed)")
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


# ---------------------------------------------------------------------------------------------- reading

def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path``; one line naming ``what`` (e.g. ``--trajectory``) when it cannot be read."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{what}: cannot read {str(path)!r}: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{what}: {str(path)!r} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                         f"{err.start})") from None


def loads_json(text: str, what: str) -> Any:
    """Parse JSON; one line with the position on a syntax error or a nesting too deep to parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{what}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply to parse") from None
    except ValueError as err:  # e.g. an integer literal past Python's digit limit
        raise InputError(f"{what}: invalid JSON: {str(err).splitlines()[0]}") from None


# ---------------------------------------------------------------------------------------------- JSON out

def strict_json(obj: Any, path: str = "") -> tuple[Any, list[str]]:
    """``obj`` with every non-finite float replaced by ``None``, and the notes saying where and what."""
    notes: list[str] = []

    def walk(x: Any, where: str) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            what = "NaN" if math.isnan(x) else ("+infinity" if x > 0 else "-infinity")
            notes.append(f"{where or '(top)'} is null: the value is {what}")
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(x)]
        return x
    return walk(obj, path), notes


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """Standard JSON (never ``NaN`` or ``Infinity``): non-finite floats become ``null``, and a top-level
    object gains ``"null_notes"`` listing each such value (e.g. the eps-BAIL bound at ``eps = 0`` is
    infinite). Output with only finite numbers is exactly ``json.dumps``'s."""
    clean, notes = strict_json(obj)
    if notes and isinstance(clean, dict):
        clean["null_notes"] = notes
    return json.dumps(clean, allow_nan=False, **kwargs)


# ---------------------------------------------------------------------------------------------- writing

def atomic_write(path: str | Path, data: str | bytes, *, write: Callable[[Path], None] | None = None) -> Path:
    """Write ``data`` (or call ``write(tmp)``) to a temporary file beside ``path``, fsync it, then
    ``os.replace`` it onto ``path``: a reader sees the old file or the whole new one, never a part.
    The temporary file is removed when anything fails."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if write is None:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode() if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            os.close(fd)
            write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_writable(path: str | Path, what: str) -> None:
    """Refuse now (before any work) when the file ``path`` could not be written: its directory is
    missing, not a directory or not writable, or ``path`` is a directory."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what}: {str(path)!r} is a directory; give a file name such as "
                         f"{str(path / 'model.msgpack')!r}")
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{what}: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise InputError(f"{what}: {str(parent)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"{what}: cannot write in {str(parent)!r}: {err.strerror or err}") from None


# ---------------------------------------------------------------------------------------------- memory

def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 1e4 * size else f"{n / size:.3g} {unit}"
    return f"{n / 1024:.0f} KiB"


def available_memory() -> tuple[int, str]:
    """``(bytes, source)``: memory this process may still use (``MemAvailable`` of /proc/meminfo, capped
    by a cgroup v2 limit), or ``os.sysconf``'s available pages where /proc is missing."""
    avail, source = None, ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail, source = int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo"
                break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            source = "available pages (os.sysconf)"
        except (ValueError, OSError, AttributeError):
            return 1 << 62, "unknown"
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max" and int(limit) - used < avail:
            avail, source = max(0, int(limit) - used), "the cgroup memory limit"
    except (OSError, ValueError):
        pass
    return int(avail), source


def _rss() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemoryEstimate(dict):
    """Bytes by part (``tables``, ``per_seed``, ``outputs``, ...); ``total`` is their sum."""

    @property
    def total(self) -> int:
        return int(sum(self.values()))

    def describe(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {format_bytes(v)}" for k, v in self.items()
                         if v >= 1 << 20 and k != "process")


COMPILE_BYTES = 192 << 20
"""Headroom for XLA's compilation and the runtime's own buffers (measured: see benchmarks/RESULTS.md)."""


def run_memory(sizes: dict[str, int], *, num_episodes: int, num_seeds: int, num_cells: int = 1,
               num_logged: int | None = None, baseline: int | None = None) -> MemoryEstimate:
    """Estimated new memory (bytes) of a simulation (``jaxbail.runner.simulate_many``) beyond the
    process's current RSS: the float32 tables of every cell (environment and model, their experts
    ``[H, Z, (W,) S, G]``, the regret table), the per-seed carry and step temporaries (filter
    ``[Z, S, S]``, planner ``[Z, S, G]``, the episode's ``2H + 2`` uniforms), the outputs of one chunk
    (5 per seed-episode, device and host copies) and the logged host arrays."""
    n = sizes.get("N", 1)
    z, s, g, o, h, w = tuple(int(sizes[k]) for k in ("Z", "S", "G", "O", "H")) + (int(sizes.get("W", 1)),)
    s_joint, g_joint = s ** n, g ** n
    per_table = z * (n * s * g * s + n * s * o + n * s + w * s_joint * g_joint)
    expert = h * z * w * s_joint * g_joint
    tables = 4 * num_cells * (4 * per_table + 8 * expert + (h + 1) * z * w * s_joint)
    step = z * (n * s * s + 2 * s_joint * g_joint) + 3 * (2 * h + 2) * n + 512
    per_seed = 6 * num_cells * num_seeds * step  # float32, 1.5 copies (carry in and out of the scan)
    chunk = max(1, min(num_episodes, (1 << 20) // (num_seeds * num_cells)))
    outputs = chunk * num_seeds * num_cells * (5 * 4 + 4 + 16)
    if num_logged is None:
        from jaxbail.runner import log_spaced_episodes

        num_logged = len(log_spaced_episodes(num_episodes))
    logged_points = num_logged
    logged = 8 * num_cells * num_seeds * (5 * logged_points + 6)
    return MemoryEstimate(tables=tables, per_seed_carry=per_seed, outputs_per_chunk=outputs, logged=logged,
                          compile=COMPILE_BYTES, process=_rss() if baseline is None else baseline)


def pretrain_memory(sizes: dict[str, int], *, layers: int, width: int, heads: int, context_episodes: int,
                    num_trajectories: int, batch: int, heldout: int, deploy_seeds: int,
                    mlp_ratio: int = 4, baseline: int | None = None) -> MemoryEstimate:
    """Estimated memory of ``jaxbail pretrain``: parameters with gradients and AdamW moments, the
    tokenised prompts and their BAIL targets, and the activations of one training batch (and of the
    held-out and deployment evaluations) through ``layers`` blocks."""
    o, g, h = int(sizes["O"]), int(sizes["G"]), int(sizes["H"])
    vocab = o + g + 2
    ctx = 1 + context_episodes * (2 * h + 2)
    params = layers * ((4 + 2 * mlp_ratio) * width * width + 13 * width) + 2 * vocab * width + ctx * width
    decisions = context_episodes * h
    data = 4 * (num_trajectories + heldout) * (ctx + 2 * decisions * g + decisions)
    act_per_prompt = 4 * layers * (ctx * width * (8 + 2 * mlp_ratio) + 3 * heads * ctx * ctx) + 4 * ctx * vocab
    activations = act_per_prompt * max(2 * batch, min(heldout, 1024), min(deploy_seeds, 1024))
    return MemoryEstimate(parameters=5 * 4 * params, data=data, activations=activations,
                          compile=COMPILE_BYTES, process=_rss() if baseline is None else baseline)


def check_memory(estimate: MemoryEstimate, what: str, hint: str) -> None:
    """Refuse (one line: how much is needed and how much there is) when ``estimate`` does not fit."""
    avail, source = available_memory()
    need = estimate.total - estimate.get("process", 0)
    if need > avail:
        raise InputError(f"{what} needs about {format_bytes(need)} of memory ({estimate.describe()}) but "
                         f"{format_bytes(avail)} is available ({source}); {hint}")


# ---------------------------------------------------------------------------------------------- --param

def check_builtin_params(name: str, params: dict[str, Any]) -> None:
    """Types and ranges of a built-in instance's parameters, and the memory its tables would take,
    checked before the generator runs. What each parameter takes comes from the generator's type
    annotations (:func:`jaxbail.instances.registry.param_kind`). Messages start with the parameter's
    name (the CLI's and the sweep's prefixes name where it came from)."""
    from jaxbail.instance import InstanceError

    def bad(msg: str) -> InstanceError:
        return InstanceError(msg)

    from jaxbail.instances.registry import INSTANCES, list_valued, param_kind

    def finite(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    lists = list_valued(name) if name in INSTANCES else set()
    for key, value in params.items():
        kind = param_kind(name, key) if name in INSTANCES else None
        if kind is None or (value is None and kind in ("numbers", "int")):
            continue  # unknown names: instance_by_name's message lists the allowed ones; None: the default
        if kind == "numbers":
            items = value if isinstance(value, list) else [value]
            if not items or not all(finite(v) for v in items):
                raise bad(f"{key}: expected a list of finite numbers such as 0.5,0.3,0.2, got {_show(value)}")
        elif kind == "number":  # a per-Actor list where the annotation admits one (coordination's reveal)
            items = value if isinstance(value, list) and value and key in lists else [value]
            if not all(finite(v) for v in items):
                raise bad(f"{key}: must be a finite number, got {_show(value)}")
        elif kind == "name":
            if not isinstance(value, str):
                raise bad(f"{key}: must be a name, got {_show(value)}")
        elif kind == "seed":
            try:
                check_int(value, key, 0, SEED_MAX, what=" (a 32-bit PRNG seed)")
            except InputError as err:
                raise bad(str(err).replace(f"{key} must", f"{key}: must")) from None
        else:  # the sizes and counts: num_tasks, num_states, horizon, num_instructions, ...
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(f"{key}: must be an integer >= 1, got {_show(value)}")
            if value > INT32_MAX:
                raise bad(f"{key}: must be an integer in [1, {INT32_MAX}], got a {len(str(value))}-digit number")
    actors = params.get("num_actors")
    if name == "coordination" and isinstance(actors, int) and actors > 64:
        from jaxbail.instance import largest_num_actors

        z = params.get("num_tasks", 3) if isinstance(params.get("num_tasks", 3), int) else 3
        h = params.get("horizon", 5) if isinstance(params.get("horizon", 5), int) else 5
        raise bad(f"num_actors: {actors} Actors need joint tables [H, Z, S^N, G^N] far past the memory budget; "
                  f"the largest N for num_tasks={z}, horizon={h} is {largest_num_actors(z, z + 1, z + 1, h)}")
    if name == "coordination":
        from jaxbail.instance import check_joint_budget

        n, z, h = (params.get(k, d) for k, d in (("num_actors", 2), ("num_tasks", 3), ("horizon", 5)))
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (n, z, h)):
            check_joint_budget(n, z, z + 1, z + 1, h)  # its own message: the largest N that fits
    sizes = _predicted_sizes(name, params)
    if sizes is not None:
        z, s, g, o, w, n = sizes
        entries = z * n * (s * g * s + s * o + s) + z * w * (s ** n) * (g ** n)
        est = MemoryEstimate(tables=3 * 8 * entries)  # float64 validation copies and the float32 tables
        avail, source = available_memory()
        if est.total > avail:
            culprit = [k for k in ("num_states", "num_tasks", "num_subgoals", "num_observations", "num_actors",
                                   "num_instructions") if k in params]
            raise bad(f"{culprit[0] if culprit else 'size'}: "
                      f"the instance's tables (Z={z}, S={s}, G={g}, O={o}) need about {format_bytes(est.total)} "
                      f"of memory but {format_bytes(avail)} is available ({source}); choose smaller sizes")


def _predicted_sizes(name: str, params: dict[str, Any]) -> tuple[int, ...] | None:
    """Upper bounds ``(Z, S, G, O, W, N)`` of a built-in's sizes from integer parameters (None if unknown)."""
    def get(key: str, default: int) -> int | None:
        v = params.get(key, default)
        v = default if v is None else v
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else None

    w = params.get("instruction_probs")
    w = len(w) if isinstance(w, list) else get("num_instructions", 1)
    if name == "random":
        z, s, g = get("num_tasks", 4), get("num_states", 4), get("num_subgoals", 3)
        o = get("num_observations", s or 1)
        vals = (z, s, g, o, w, 1)
    else:
        z = get("num_tasks", 3)
        n = get("num_actors", 1) if name == "coordination" else 1
        vals = (z, None if z is None else z + 2, None if z is None else z + 2, None if z is None else z + 2, w, n)
    return None if any(v is None for v in vals) else vals
