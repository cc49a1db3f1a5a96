"""Shared checks for instance generators."""

from __future__ import annotations

import numpy as np

from jaxbail.instance import InstanceError


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InstanceError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def check_unit(name: str, value, *, open_low: bool = False, open_high: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InstanceError(f"{name}: must be a number, got {value!r}") from None
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not (low_ok and high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise InstanceError(f"{name}: must lie in {interval}, got {value:g}")
    return value


def check_prior(prior, num_tasks: int) -> np.ndarray:
    """A prior of ``num_tasks`` positive entries summing to 1 (``None``: uniform)."""
    if prior is None:
        return np.full(num_tasks, 1.0 / num_tasks)
    arr = np.asarray(prior, dtype=np.float64).reshape(-1)
    if arr.shape != (num_tasks,):
        raise InstanceError(f"prior: expected {num_tasks} entries (one per task), got {arr.size}")
    if np.any(arr <= 0) or abs(arr.sum() - 1.0) > 1e-6:
        raise InstanceError(f"prior: entries must be > 0 and sum to 1, got {arr.tolist()}")
    return arr


def check_instructions(num_instructions, instruction_probs) -> np.ndarray | None:
    """The instruction distribution ``q [W]`` of a generator, or ``None`` for no instructions.

    ``num_instructions=None`` and ``instruction_probs=None``: no instructions; ``num_instructions=W``:
    uniform over ``W``; ``instruction_probs``: that distribution (entries >= 0 summing to 1; its
    length is ``W``, and must equal ``num_instructions`` when both are given).
    """
    if instruction_probs is None:
        if num_instructions is None:
            return None
        count = check_int("num_instructions", num_instructions, 1)
        return np.full(count, 1.0 / count)
    arr = np.asarray(instruction_probs, dtype=np.float64).reshape(-1)
    if arr.size < 1 or np.any(arr < 0) or abs(arr.sum() - 1.0) > 1e-6:
        raise InstanceError(f"instruction_probs: entries must be >= 0 and sum to 1, got {arr.tolist()}")
    if num_instructions is not None and check_int("num_instructions", num_instructions, 1) != arr.size:
        raise InstanceError(f"num_instructions: {num_instructions} but instruction_probs has {arr.size} entries")
    return arr
