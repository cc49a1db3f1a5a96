"""The latent-task POMDP instance: a frozen pytree, its validation, JSON load/save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = ["Instance", "MultiAgentInstance", "InstanceError", "make_instance", "make_multi_agent_instance",
           "load_instance", "save_instance", "same_values", "reporter_is_injective", "instruction_view",
           "instance_from_dict", "instance_to_dict", "MAX_JOINT_ENTRIES", "joint_table_entries",
           "largest_num_actors", "check_joint_budget"]

ROW_TOL = 1e-6

MAX_JOINT_ENTRIES = 1 << 25
"""Memory budget of a multi-agent instance: at most this many entries (``2**25``, 128 MiB of float32)
in one joint table ``[H, Z, S^N, G^N]`` (the experts' ``Q*`` and policy, the runner's regret table).
A simulation holds about eight such tables at its peak (the model's experts, the environment's
experts while its regret table is built, that table), so the budget is about 1 GiB per cell."""


class InstanceError(ValueError):
    """A bad instance: the message names the offending key and the problem."""


@struct.dataclass
class Instance:
    """A family of finite-horizon tabular POMDPs indexed by a latent task ``z``.

    Arrays are traced pytree leaves; ``horizon`` and ``name`` are static, so one
    compiled simulation serves every instance of the same sizes.

    With per-episode **instructions** (SPEC 8), an observed instruction ``omega ~ q`` is
    drawn at the start of every episode and selects the reward ``r_{z, omega}``; the task
    still fixes the dynamics for the whole run. ``reward`` then has an instruction axis.

    Attributes:
      prior: ``[Z]`` prior over tasks, every entry > 0.
      init: ``[Z, S]`` initial-state distribution ``mu_z(s)``.
      transition: ``[Z, S, G, S]`` high-level kernel ``P_z(s'|s, g)`` (Actor folded in).
      emission: ``[Z, S, O]`` Reporter ``O_z(o|s)``.
      reward: ``[Z, S, G]`` latent reward ``r_z(s, g)`` in ``[0, 1]``; with instructions
        ``[Z, W, S, G]``, ``r_{z, omega}(s, g)``.
      horizon: subgoals per episode ``H``.
      name: a label, ignored by every computation.
      instructions: ``None`` (no instructions) or ``[W]`` the instruction distribution ``q``.
    """

    prior: Any
    init: Any
    transition: Any
    emission: Any
    reward: Any
    horizon: int = struct.field(pytree_node=False)
    name: str = struct.field(pytree_node=False, default="")
    instructions: Any = None

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
    def num_instructions(self) -> int | None:
        """``W``, or ``None`` without instructions."""
        return None if self.instructions is None else int(self.instructions.shape[0])

    @property
    def sizes(self) -> dict[str, int]:
        sizes = {"Z": self.num_tasks, "S": self.num_states, "G": self.num_subgoals,
                 "O": self.num_observations, "H": self.horizon}
        if self.instructions is not None:
            sizes["W"] = self.num_instructions
        return sizes

    def expected_next(self, v_next: jax.Array) -> jax.Array:
        """``sum_s' P_z(s'|s, g) v[z, ..., s']``: ``v_next [Z, S] -> [Z, S, G]`` (or ``[Z, W, S] -> [Z, W, S, G]``)."""
        if v_next.ndim == 2:
            return jnp.einsum("zsgt,zt->zsg", self.transition, v_next)
        return jnp.einsum("zsgt,zwt->zwsg", self.transition, v_next)

    def start_value(self, v_first: jax.Array) -> jax.Array:
        """``sum_s mu_z(s) v[z, ..., s]``: ``[Z, S] -> [Z]`` (or ``[Z, W, S] -> [Z, W]``)."""
        init = self.init if v_first.ndim == 2 else self.init[:, None]
        return jnp.sum(init * v_first, axis=-1)


def instruction_view(instance: Instance, instruction) -> Instance:
    """The plain instance of one instruction: reward ``r_{., omega}`` ``[Z, S, G]``, no instruction axis.

    ``instruction`` may be traced (the runner's per-episode view of the planner's model).
    """
    return instance.replace(reward=instance.reward[:, instruction], instructions=None)


@struct.dataclass
class MultiAgentInstance:
    """``N`` Actors under one Planner (SPEC 8): per-actor states, a joint subgoal, a latent task.

    Given the task, the Actors are independent: each has its own initial law, kernel and
    Reporter over its own state, driven by its own component of the joint subgoal. The
    reward is a table over *joint* states and subgoals, so it can demand coordination.

    Joint states, subgoals and observations are mixed-radix indices with actor 0 the most
    significant digit (C order): ``s = sum_i s^i S^(N-1-i)``. The planner interface sees the
    joint view (``num_states = S^N``, ``num_subgoals = G^N``, ``num_observations = O^N``); the
    filter and the simulation use the factorisation (cost linear in ``N``). The joint tables
    (reward, experts) are exponential in ``N``: see :data:`MAX_JOINT_ENTRIES`. All Actors share
    the sizes ``S, G, O``; instructions are not supported for several Actors.

    Attributes:
      prior: ``[Z]`` prior over tasks.
      init: ``[N, Z, S]`` actor ``i``'s initial law ``mu^i_z``.
      transition: ``[N, Z, S, G, S]`` actor ``i``'s kernel ``P^i_z(s'|s, g^i)``.
      emission: ``[N, Z, S, O]`` actor ``i``'s Reporter ``O^i_z(o|s)``.
      reward: ``[Z, S^N, G^N]`` the joint reward ``r_z(s, g)`` in ``[0, 1]``.
      horizon: joint subgoals per episode ``H``.
      name: a label.
    """

    prior: Any
    init: Any
    transition: Any
    emission: Any
    reward: Any
    horizon: int = struct.field(pytree_node=False)
    name: str = struct.field(pytree_node=False, default="")

    instructions = None  # no instruction axis (a class attribute, not a pytree field)

    @property
    def num_actors(self) -> int:
        return int(self.transition.shape[0])

    @property
    def num_tasks(self) -> int:
        return int(self.transition.shape[1])

    @property
    def actor_states(self) -> int:
        return int(self.transition.shape[2])

    @property
    def actor_subgoals(self) -> int:
        return int(self.transition.shape[3])

    @property
    def actor_observations(self) -> int:
        return int(self.emission.shape[3])

    @property
    def num_states(self) -> int:
        """``S^N`` joint states."""
        return self.actor_states ** self.num_actors

    @property
    def num_subgoals(self) -> int:
        """``G^N`` joint subgoals."""
        return self.actor_subgoals ** self.num_actors

    @property
    def num_observations(self) -> int:
        """``O^N`` joint observations."""
        return self.actor_observations ** self.num_actors

    @property
    def num_instructions(self) -> None:
        return None

    @property
    def sizes(self) -> dict[str, int]:
        """Per-actor sizes ``S, G, O`` and ``N``."""
        return {"N": self.num_actors, "Z": self.num_tasks, "S": self.actor_states, "G": self.actor_subgoals,
                "O": self.actor_observations, "H": self.horizon}

    def expected_next(self, v_next: jax.Array) -> jax.Array:
        """``sum_s' prod_i P^i_z(s'^i|s^i, g^i) v[z, s']``: ``[Z, S^N] -> [Z, S^N, G^N]``.

        Contracted one Actor at a time (never the ``[S^N, G^N, S^N]`` joint kernel): the
        largest intermediate is the ``[Z, S^N, G^N]`` result.
        """
        n, s, g = self.num_actors, self.actor_states, self.actor_subgoals
        x = v_next.reshape((v_next.shape[0],) + (s,) * n)  # z, t_0 .. t_{N-1}
        for i in range(n):  # contract t_i (always axis 1), append (s_i, g_i) at the end
            x = jnp.einsum("zt...,zsgt->z...sg", x, self.transition[i])
        # axes now z, s_0, g_0, s_1, g_1, ...: states first, then subgoals
        x = jnp.transpose(x, (0,) + tuple(1 + 2 * i for i in range(n)) + tuple(2 + 2 * i for i in range(n)))
        return x.reshape(x.shape[0], s ** n, g ** n)

    def start_value(self, v_first: jax.Array) -> jax.Array:
        """``sum_s prod_i mu^i_z(s^i) v[z, s]``: ``[Z, S^N] -> [Z]``, one Actor at a time."""
        n, s = self.num_actors, self.actor_states
        x = v_first.reshape((v_first.shape[0],) + (s,) * n)
        for i in range(n):
            x = jnp.einsum("zs...,zs->z...", x, self.init[i])
        return x


def joint_table_entries(num_actors: int, num_tasks: int, num_states: int, num_subgoals: int, horizon: int) -> int:
    """Entries of one joint table ``[H, Z, S^N, G^N]`` (per-actor ``S``, ``G``)."""
    return horizon * num_tasks * num_states ** num_actors * num_subgoals ** num_actors


def largest_num_actors(num_tasks: int, num_states: int, num_subgoals: int, horizon: int,
                       budget: int = MAX_JOINT_ENTRIES) -> int:
    """The largest ``N`` whose joint table fits :data:`MAX_JOINT_ENTRIES` (0 if not even one Actor)."""
    n = 0
    while joint_table_entries(n + 1, num_tasks, num_states, num_subgoals, horizon) <= budget:
        n += 1
    return n


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
    _check_float32(key, arr)
    sums = arr.sum(axis=-1)
    dev = np.abs(sums - 1.0)
    if np.any(dev > ROW_TOL):
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(dev), dev.shape))
        raise InstanceError(f"{key}: {what} must sum to 1 within {ROW_TOL:g}; the one at index {list(idx)} "
                            f"sums to {sums[idx]:.9g}")


FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _check_float32(key: str, arr: np.ndarray) -> None:
    """The simulation runs in float32 (subnormals flush to zero): a probability that is positive in float64
    but below float32's smallest normal number would act as 0 and make a correct model look misspecified."""
    tiny = (arr > 0) & (arr < FLOAT32_TINY)
    if np.any(tiny):
        idx = tuple(int(i) for i in np.argwhere(tiny)[0])
        raise InstanceError(f"{key}: probability {arr[idx]:g} at index {list(idx)} is positive but below float32's "
                            f"smallest normal {FLOAT32_TINY:.4g}, where the simulation would treat it as 0; "
                            "set it to 0 or to at least that value")


def _check_horizon(horizon) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
        raise InstanceError(f"horizon: must be an integer, got {horizon!r}")
    if horizon < 1:
        raise InstanceError(f"horizon: must be >= 1, got {horizon}")
    if horizon > 2**31 - 1:
        raise InstanceError(f"horizon: must be at most {2**31 - 1} (the simulation counts steps in int32), got "
                            f"{horizon if len(str(horizon)) <= 24 else f'a {len(str(horizon))}-digit number'}")


def _check_reward_range(reward: np.ndarray) -> None:
    if np.any(reward < 0) or np.any(reward > 1):
        idx = tuple(int(i) for i in np.argwhere((reward < 0) | (reward > 1))[0])
        raise InstanceError(f"reward: entries must lie in [0, 1]; found {reward[idx]:g} at index {list(idx)}")


def validate_instructions(instructions) -> np.ndarray:
    """Check an instruction distribution ``[W]`` (entries in ``[0, 1]`` summing to 1; zeros allowed)."""
    instructions = _as_float_array("instructions", instructions)
    _check_ndim("instructions", instructions, "W")
    if instructions.shape[0] < 1:
        raise InstanceError("instructions: needs at least one instruction")
    _check_distribution("instructions", instructions, "the instruction distribution")
    return instructions


def _validate_tables(prior, init, transition, emission, reward, horizon, *, actors: bool,
                     instructions=None) -> tuple[np.ndarray, ...]:
    """The checks of :func:`validate_arrays` (one Actor, ``actors=False``) and
    :func:`validate_multi_agent_arrays` (a leading Actor axis ``N`` on ``init``, ``transition`` and
    ``emission``, a joint reward ``[Z, S^N, G^N]`` and the joint-table budget), in one order."""
    n, i = ("N, ", "i, ") if actors else ("", "")
    _check_horizon(horizon)
    prior = _as_float_array("prior", prior)
    _check_ndim("prior", prior, "Z")
    init = _as_float_array("init", init)
    _check_ndim("init", init, n + "Z, S")
    transition = _as_float_array("transition", transition)
    _check_ndim("transition", transition, n + "Z, S, G, S")
    emission = _as_float_array("emission", emission)
    _check_ndim("emission", emission, n + "Z, S, O")
    if not actors:
        if instructions is not None:
            instructions = validate_instructions(instructions)
        reward = _as_float_array("reward", reward)
        if instructions is None and reward.ndim == 4:
            raise InstanceError("reward: 4 axes [Z, W, S, G] need the instruction distribution 'instructions' [W]")
        _check_ndim("reward", reward, "Z, S, G" if instructions is None else "Z, W, S, G")
    lead = transition.shape[:1] if actors else ()
    if actors and lead[0] < 1:
        raise InstanceError("transition: needs at least one Actor (axis N)")
    num_tasks = prior.shape[0]
    if num_tasks < 1:
        raise InstanceError("prior: needs at least one task")
    num_states, num_subgoals = transition.shape[len(lead) + 1], transition.shape[len(lead) + 2]
    num_obs = emission.shape[len(lead) + 2]
    if num_states < 1 or num_subgoals < 1 or num_obs < 1:
        raise InstanceError("transition: needs at least one state and one subgoal, emission at least one observation")
    _check_shape("init", init, lead + (num_tasks, num_states), n + "Z, S")
    _check_shape("transition", transition, lead + (num_tasks, num_states, num_subgoals, num_states),
                 n + "Z, S, G, S")
    _check_shape("emission", emission, lead + (num_tasks, num_states, num_obs), n + "Z, S, O")
    if actors:
        check_joint_budget(lead[0], num_tasks, num_states, num_subgoals, horizon)
        reward = _as_float_array("reward", reward)
        _check_ndim("reward", reward, "Z, S^N, G^N")
        _check_shape("reward", reward, (num_tasks, num_states ** lead[0], num_subgoals ** lead[0]), "Z, S^N, G^N")
    elif instructions is None:
        _check_shape("reward", reward, (num_tasks, num_states, num_subgoals), "Z, S, G")
    else:
        _check_shape("reward", reward, (num_tasks, instructions.shape[0], num_states, num_subgoals), "Z, W, S, G")

    if np.any(prior <= 0):
        z = int(np.argwhere(prior <= 0)[0][0])
        raise InstanceError(f"prior: every entry must be > 0 (task {z} has {prior[z]:g})")
    _check_distribution("prior", prior, "the prior")
    _check_distribution("init", init, f"each row init[{i}z]")
    _check_distribution("transition", transition, f"each row transition[{i}z, s, g]")
    _check_distribution("emission", emission, f"each row emission[{i}z, s]")
    _check_reward_range(reward)
    return prior, init, transition, emission, reward


def validate_arrays(prior, init, transition, emission, reward, horizon,
                    instructions=None) -> tuple[np.ndarray, ...]:
    """Check shapes, ranges and normalisation; return float64 NumPy copies of the five tables.

    With ``instructions`` (``[W]``), ``reward`` must be ``[Z, W, S, G]``.

    Raises:
      InstanceError: with a one-line message naming the key and the problem.
    """
    return _validate_tables(prior, init, transition, emission, reward, horizon, actors=False,
                            instructions=instructions)


def check_joint_budget(num_actors: int, num_tasks: int, num_states: int, num_subgoals: int, horizon: int) -> None:
    """Raise when the joint tables ``[H, Z, S^N, G^N]`` of ``N`` Actors exceed :data:`MAX_JOINT_ENTRIES`.

    Raises:
      InstanceError: naming ``num_actors``, the entries needed and the largest ``N`` that fits.
    """
    entries = joint_table_entries(num_actors, num_tasks, num_states, num_subgoals, horizon)
    if entries > MAX_JOINT_ENTRIES:
        largest = largest_num_actors(num_tasks, num_states, num_subgoals, horizon)
        raise InstanceError(f"num_actors: {num_actors} Actors need joint tables [H, Z, S^N, G^N] of {entries:,} "
                            f"entries, over the memory budget of {MAX_JOINT_ENTRIES:,} (128 MiB of float32 each); "
                            f"the largest N for Z={num_tasks}, S={num_states}, G={num_subgoals}, H={horizon} "
                            f"is {largest}")


def validate_multi_agent_arrays(prior, init, transition, emission, reward, horizon) -> tuple[np.ndarray, ...]:
    """Check a :class:`MultiAgentInstance`'s tables (shapes, ranges, normalisation, the joint-table
    memory budget); return float64 NumPy copies.

    Raises:
      InstanceError: with a one-line message naming the key and the problem.
    """
    return _validate_tables(prior, init, transition, emission, reward, horizon, actors=True)


def make_instance(prior, init, transition, emission, reward, horizon: int, name: str = "",
                  *, instructions=None, validate: bool = True) -> Instance:
    """Build an :class:`Instance` (float32 arrays), validating it first by default.

    Args:
      prior: ``[Z]``; init: ``[Z, S]``; transition: ``[Z, S, G, S]``;
      emission: ``[Z, S, O]``; reward: ``[Z, S, G]`` (``[Z, W, S, G]`` with instructions);
      horizon: ``H >= 1``.
      instructions: ``None`` or the per-episode instruction distribution ``q`` ``[W]``.
      validate: set False only for arrays built correctly by construction
        (generators that run under ``jit``).
    """
    if validate:
        prior, init, transition, emission, reward = validate_arrays(
            prior, init, transition, emission, reward, horizon, instructions)
        if instructions is not None:
            instructions = validate_instructions(instructions)
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    return Instance(prior=f32(prior), init=f32(init), transition=f32(transition),
                    emission=f32(emission), reward=f32(reward), horizon=int(horizon), name=str(name),
                    instructions=None if instructions is None else f32(instructions))


def make_multi_agent_instance(prior, init, transition, emission, reward, horizon: int, name: str = "",
                              *, validate: bool = True) -> MultiAgentInstance:
    """Build a :class:`MultiAgentInstance` (float32 arrays), validating it first by default.

    Args:
      prior: ``[Z]``; init: ``[N, Z, S]``; transition: ``[N, Z, S, G, S]``;
      emission: ``[N, Z, S, O]``; reward: ``[Z, S^N, G^N]`` (joint, mixed-radix, actor 0 most
      significant); horizon: ``H >= 1``.
    """
    if validate:
        prior, init, transition, emission, reward = validate_multi_agent_arrays(
            prior, init, transition, emission, reward, horizon)
    f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
    return MultiAgentInstance(prior=f32(prior), init=f32(init), transition=f32(transition),
                              emission=f32(emission), reward=f32(reward), horizon=int(horizon), name=str(name))


REQUIRED_KEYS = ("prior", "init", "transition", "emission", "reward", "horizon")
OPTIONAL_KEYS = ("name", "instructions")
MULTI_AGENT_OPTIONAL_KEYS = ("name", "num_actors")


def instance_from_dict(data: Any) -> Instance | MultiAgentInstance:
    """Build a validated instance from its JSON object: SPEC 9's (optionally with ``instructions [W]``
    and then ``reward [Z][W][S][G]``), or a multi-agent one (marked by ``num_actors``; ``init [N][Z][S]``,
    ``transition [N][Z][S][G][S]``, ``emission [N][Z][S][O]``, ``reward [Z][S^N][G^N]``)."""
    if not isinstance(data, dict):
        raise InstanceError(f"instance file: top level must be a JSON object, got {type(data).__name__}")
    multi = "num_actors" in data
    for key in REQUIRED_KEYS:
        if key not in data:
            raise InstanceError(f"{key}: missing required key")
    optional = MULTI_AGENT_OPTIONAL_KEYS if multi else OPTIONAL_KEYS
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(optional))
    if unknown:
        what = " of a multi-agent instance" if multi else ""
        raise InstanceError(f"{unknown[0]}: unknown key{what} (allowed: {', '.join(REQUIRED_KEYS + optional)})")
    horizon = data["horizon"]
    if isinstance(horizon, float) and horizon.is_integer():
        horizon = int(horizon)
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InstanceError("name: must be a string")
    if not multi:
        return make_instance(data["prior"], data["init"], data["transition"], data["emission"],
                             data["reward"], horizon, name, instructions=data.get("instructions"))
    num_actors = data["num_actors"]
    if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
        raise InstanceError(f"num_actors: must be an integer >= 1, got {num_actors!r}")
    transition = _as_float_array("transition", data["transition"])
    if transition.ndim >= 1 and transition.shape[0] != num_actors:
        raise InstanceError(f"transition: num_actors is {num_actors} but axis N has {transition.shape[0]} Actors")
    return make_multi_agent_instance(data["prior"], data["init"], transition, data["emission"],
                                     data["reward"], horizon, name)


def instance_to_dict(instance: Instance | MultiAgentInstance) -> dict[str, Any]:
    """The JSON object of an instance (floats as written by float32 -> float64)."""
    out: dict[str, Any] = {}
    if instance.name:
        out["name"] = instance.name
    if isinstance(instance, MultiAgentInstance):
        out["num_actors"] = instance.num_actors
    for key in ("prior", "init", "transition", "emission", "reward"):
        out[key] = np.asarray(getattr(instance, key), dtype=np.float64).tolist()
    if instance.instructions is not None:
        out["instructions"] = np.asarray(instance.instructions, dtype=np.float64).tolist()
    out["horizon"] = int(instance.horizon)
    return out


def same_values(a: Instance | MultiAgentInstance, b: Instance | MultiAgentInstance) -> bool:
    """Whether two instances hold the same tables (names and object identity aside)."""
    if a is b:
        return True
    if type(a) is not type(b) or (a.instructions is None) != (b.instructions is None):
        return False
    keys = ("prior", "init", "transition", "emission", "reward") + (() if a.instructions is None else ("instructions",))
    return all(np.shape(getattr(a, k)) == np.shape(getattr(b, k))
               and np.array_equal(np.asarray(getattr(a, k)), np.asarray(getattr(b, k))) for k in keys)


def reporter_is_injective(instance: Instance | MultiAgentInstance) -> bool:
    """True when every task's Reporter (every Actor's, for several) is deterministic and tells states
    apart (the state is known)."""
    emission = np.asarray(instance.emission)  # [..., Z, S, O]
    return bool(np.all((emission == 0) | (emission == 1)) and np.all(emission.sum(axis=-2) <= 1))


def load_instance(path: str | Path) -> Instance | MultiAgentInstance:
    """Load and validate an instance JSON file.

    Raises:
      InstanceError: unreadable file, bad JSON, missing key, bad shape or values.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise InstanceError(f"instance file: cannot read {str(path)!r}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise InstanceError(f"instance file: {str(path)!r} is not UTF-8 text (invalid byte at offset "
                            f"{err.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InstanceError(f"instance file: invalid JSON in {str(path)!r} at line {err.lineno} "
                            f"column {err.colno}: {err.msg}") from None
    except (RecursionError, ValueError) as err:  # nesting too deep, an integer past Python's digit limit
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err).splitlines()[0]
        raise InstanceError(f"instance file: invalid JSON in {str(path)!r}: {reason}") from None
    return instance_from_dict(data)


def save_instance(instance: Instance | MultiAgentInstance, path: str | Path) -> None:
    """Write an instance in its JSON format (SPEC 9's, with ``instructions`` or ``num_actors`` where they apply)."""
    Path(path).write_text(json.dumps(instance_to_dict(instance)))
