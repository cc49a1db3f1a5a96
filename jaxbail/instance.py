"""The latent-task POMDP instance: a frozen pytree, its validation, JSON load/save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = ["Instance", "InstanceError", "make_instance", "load_instance", "save_instance", "same_values",
           "reporter_is_injective",
           "instance_from_dict", "instance_to_dict"]

ROW_TOL = 1e-6


class InstanceError(ValueError):
    """A bad instance: the message names the offending key and the problem."""


@struct.dataclass
class Instance:
    """A family of finite-horizon tabular POMDPs indexed by a latent task ``z``.

    Arrays are traced pytree leaves; ``horizon`` and ``name`` are static, so one
    compiled simulation serves every instance of the same sizes.

    Attributes:
      prior: ``[Z]`` prior over tasks, every entry > 0.
      init: ``[Z, S]`` initial-state distribution ``mu_z(s)``.
      transition: ``[Z, S, G, S]`` high-level kernel ``P_z(s'|s, g)`` (Actor folded in).
      emission: ``[Z, S, O]`` Reporter ``O_z(o|s)``.
      reward: ``[Z, S, G]`` latent reward ``r_z(s, g)`` in ``[0, 1]``.
      horizon: subgoals per episode ``H``.
      name: a label, ignored by every computation.
    """

    prior: Any
    init: Any
    transition: Any
    emission: Any
    reward: Any
    horizon: int = struct.field(pytree_node=False)
    name: str = struct.field(pytree_node=False, default="")

    @property
    def num_tasks(self) -> int:
        return int(self.transition.shape[0])

    @property
    def num_states(self) -> int:
        return int(self.transition.shape[1])

    @property
    def num_subgoals(self) -> int:
        return int(self.transition.shape[2])

    @property
    def num_observations(self) -> int:
        return int(self.emission.shape[2])

    @property
    def sizes(self) -> dict[str, int]:
        return {"Z": self.num_tasks, "S": self.num_states, "G": self.num_subgoals,
                "O": self.num_observations, "H": self.horizon}


def _as_float_array(key: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise InstanceError(f"{key}: must be a (nested) list of numbers of rectangular shape") from None
    if not np.all(np.isfinite(arr)):
        raise InstanceError(f"{key}: contains a non-finite entry (NaN or infinity)")
    return arr


def _check_ndim(key: str, arr: np.ndarray, dims: str) -> None:
    if arr.ndim != len(dims.split(",")):
        raise InstanceError(f"{key}: expected shape [{dims}] ({len(dims.split(','))} axes), got {arr.ndim} axes "
                            f"with shape {list(arr.shape)}")


def _check_shape(key: str, arr: np.ndarray, expected: tuple[int, ...], names: str) -> None:
    if arr.shape != expected:
        raise InstanceError(f"{key}: expected shape [{names}] = {list(expected)}, got {list(arr.shape)}")


def _check_distribution(key: str, arr: np.ndarray, what: str) -> None:
    if np.any(arr < 0):
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise InstanceError(f"{key}: negative probability {arr[idx]:g} at index {list(idx)}")
    if np.any(arr > 1):
        idx = tuple(int(i) for i in np.argwhere(arr > 1)[0])
        raise InstanceError(f"{key}: probability {arr[idx]:g} > 1 at index {list(idx)}")
    sums = arr.sum(axis=-1)
    dev = np.abs(sums - 1.0)
    if np.any(dev > ROW_TOL):
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(dev), dev.shape))
        raise InstanceError(f"{key}: {what} must sum to 1 within {ROW_TOL:g}; the one at index {list(idx)} "
                            f"sums to {sums[idx]:.9g}")


def validate_arrays(prior, init, transition, emission, reward, horizon) -> tuple[np.ndarray, ...]:
    """Check shapes, ranges and normalisation; return float64 NumPy copies.

    Raises:
      InstanceError: with a one-line message naming the key and the problem.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
        raise InstanceError(f"horizon: must be an integer, got {horizon!r}")
    if horizon < 1:
        raise InstanceError(f"horizon: must be >= 1, got {horizon}")
    prior = _as_float_array("prior", prior)
    _check_ndim("prior", prior, "Z")
    init = _as_float_array("init", init)
    _check_ndim("init", init, "Z, S")
    transition = _as_float_array("transition", transition)
    _check_ndim("transition", transition, "Z, S, G, S")
    emission = _as_float_array("emission", emission)
    _check_ndim("emission", emission, "Z, S, O")
    reward = _as_float_array("reward", reward)
    _check_ndim("reward", reward, "Z, S, G")

    num_tasks = prior.shape[0]
    if num_tasks < 1:
        raise InstanceError("prior: needs at least one task")
    num_states, num_subgoals = transition.shape[1], transition.shape[2]
    if num_states < 1 or num_subgoals < 1 or emission.shape[2] < 1:
        raise InstanceError("transition: needs at least one state and one subgoal, emission at least one observation")
    _check_shape("init", init, (num_tasks, num_states), "Z, S")
    _check_shape("transition", transition, (num_tasks, num_states, num_subgoals, num_states), "Z, S, G, S")
    _check_shape("emission", emission, (num_tasks, num_states, emission.shape[2]), "Z, S, O")
    _check_shape("reward", reward, (num_tasks, num_states, num_subgoals), "Z, S, G")

    if np.any(prior <= 0):
        z = int(np.argwhere(prior <= 0)[0][0])
        raise InstanceError(f"prior: every entry must be > 0 (task {z} has {prior[z]:g})")
    _check_distribution("prior", prior, "the prior")
    _check_distribution("init", init, "each row init[z]")
    _check_distribution("transition", transition, "each row transition[z, s, g]")
    _check_distribution("emission", emission, "each row emission[z, s]")
    if np.any(reward < 0) or np.any(reward > 1):
        idx = tuple(int(i) for i in np.argwhere((reward < 0) | (reward > 1))[0])
        raise InstanceError(f"reward: entries must lie in [0, 1]; found {reward[idx]:g} at index {list(idx)}")
    return prior, init, transition, emission, reward


def make_instance(prior, init, transition, emission, reward, horizon: int, name: str = "",
                  *, validate: bool = True) -> Instance:
    """Build an :class:`Instance` (float32 arrays), validating it first by default.

    Args:
      prior: ``[Z]``; init: ``[Z, S]``; transition: ``[Z, S, G, S]``;
      emission: ``[Z, S, O]``; reward: ``[Z, S, G]``; horizon: ``H >= 1``.
      validate: set False only for arrays built correctly by construction
        (generators that run under ``jit``).
    """
    if validate:
        prior, init, transition, emission, reward = validate_arrays(
            prior, init, transition, emission, reward, horizon)
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    return Instance(prior=f32(prior), init=f32(init), transition=f32(transition),
                    emission=f32(emission), reward=f32(reward), horizon=int(horizon), name=str(name))


REQUIRED_KEYS = ("prior", "init", "transition", "emission", "reward", "horizon")


def instance_from_dict(data: Any) -> Instance:
    """Build a validated instance from the SPEC 9 JSON object."""
    if not isinstance(data, dict):
        raise InstanceError(f"instance file: top level must be a JSON object, got {type(data).__name__}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise InstanceError(f"{key}: missing required key")
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - {"name"})
    if unknown:
        raise InstanceError(f"{unknown[0]}: unknown key (allowed: {', '.join(REQUIRED_KEYS)}, name)")
    horizon = data["horizon"]
    if isinstance(horizon, float) and horizon.is_integer():
        horizon = int(horizon)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InstanceError("name: must be a string")
    return make_instance(data["prior"], data["init"], data["transition"], data["emission"],
                         data["reward"], horizon, name)


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """The SPEC 9 JSON object of an instance (floats as written by float32 -> float64)."""
    out: dict[str, Any] = {}
    if instance.name:
        out["name"] = instance.name
    for key in ("prior", "init", "transition", "emission", "reward"):
        out[key] = np.asarray(getattr(instance, key), dtype=np.float64).tolist()
    out["horizon"] = int(instance.horizon)
    return out


def same_values(a: Instance, b: Instance) -> bool:
    """Whether two instances hold the same tables (names and object identity aside)."""
    return a is b or all(np.array_equal(np.asarray(getattr(a, k)), np.asarray(getattr(b, k)))
                         for k in ("prior", "init", "transition", "emission", "reward"))


def reporter_is_injective(instance: Instance) -> bool:
    """True when every task's Reporter is deterministic and tells states apart (the state is known)."""
    emission = np.asarray(instance.emission)
    return bool(np.all((emission == 0) | (emission == 1)) and np.all(emission.sum(axis=1) <= 1))


def load_instance(path: str | Path) -> Instance:
    """Load and validate an instance JSON file.

    Raises:
      InstanceError: unreadable file, bad JSON, missing key, bad shape or values.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InstanceError(f"instance file: cannot read {str(path)!r}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InstanceError(f"instance file: invalid JSON in {str(path)!r} at line {err.lineno} "
                            f"column {err.colno}: {err.msg}") from None
    return instance_from_dict(data)


def save_instance(instance: Instance, path: str | Path) -> None:
    """Write an instance in the SPEC 9 JSON format."""
    Path(path).write_text(json.dumps(instance_to_dict(instance)))
