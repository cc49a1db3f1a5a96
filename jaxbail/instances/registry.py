"""Instance families by name, with parameters parsed from ``key=value`` strings.

A family is one generator (a function of keyword parameters returning an instance) plus one
:class:`Family` entry in :data:`INSTANCES`. Everything else is read off the entry: the CLI's
parameters, their types for sweeps (:func:`list_valued`: from the generator's annotations), and
the smoke test's small instances (:attr:`Family.examples`). A generator whose first parameter is
``key`` takes a PRNG key; by name it takes ``seed`` (an integer) instead.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from jaxbail.instance import Instance, InstanceError, MultiAgentInstance
from jaxbail.instances.actor_slip import actor_slip
from jaxbail.instances.coordination import coordination
from jaxbail.instances.hard import hard
from jaxbail.instances.random import random_instance
from jaxbail.instances.safe_arm import safe_arm

__all__ = ["Family", "INSTANCES", "parameters", "list_valued", "parse_params", "instance_by_name"]


@dataclass(frozen=True)
class Family:
    """One registered instance family.

    Attributes:
      generator: keyword parameters (annotated: a parameter whose annotation admits a sequence,
        e.g. ``Sequence[float] | None``, takes a list as one value) to an instance.
      examples: small parameter sets by label, for tests: each label has two, of the same sizes
        and different values (the smoke test runs every planner on both and checks that the
        second reuses the first's compile).
    """

    generator: Callable[..., Instance | MultiAgentInstance]
    examples: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """The first line of the generator's docstring."""
        return (self.generator.__doc__ or "").strip().splitlines()[0]


INSTANCES: dict[str, Family] = {
    "hard": Family(hard, {
        "default": ({"num_tasks": 2, "horizon": 3, "prior": [0.5, 0.5]},
                    {"num_tasks": 2, "horizon": 3, "prior": [0.3, 0.7]}),
        "instructions": ({"num_tasks": 2, "horizon": 3, "num_instructions": 2, "instruction_probs": [0.5, 0.5]},
                         {"num_tasks": 2, "horizon": 3, "num_instructions": 2, "instruction_probs": [0.2, 0.8]})}),
    "random": Family(random_instance, {
        "default": ({"seed": 0, "num_tasks": 2, "num_states": 3, "num_subgoals": 2, "horizon": 3},
                    {"seed": 1, "num_tasks": 2, "num_states": 3, "num_subgoals": 2, "horizon": 3}),
        "noisy": ({"seed": 0, "num_tasks": 2, "num_states": 3, "num_subgoals": 2, "horizon": 3, "reporter": "noisy",
                   "noise": 0.1},
                  {"seed": 1, "num_tasks": 2, "num_states": 3, "num_subgoals": 2, "horizon": 3, "reporter": "noisy",
                   "noise": 0.2})}),
    "actor_slip": Family(actor_slip, {
        "default": ({"num_tasks": 2, "horizon": 3, "slip": 0.1}, {"num_tasks": 2, "horizon": 3, "slip": 0.3})}),
    "coordination": Family(coordination, {
        "default": ({"num_actors": 2, "num_tasks": 2, "horizon": 2, "reveal": 1.0},
                    {"num_actors": 2, "num_tasks": 2, "horizon": 2, "reveal": [0.5, 0.8]})}),
    "safe_arm": Family(safe_arm, {
        "default": ({"num_tasks": 2, "horizon": 3, "safe": 0.6}, {"num_tasks": 2, "horizon": 3, "safe": 0.4})}),
}


def _family(name: str) -> Family:
    if name not in INSTANCES:
        raise InstanceError(f"instance: unknown instance {name!r} (choose from {', '.join(INSTANCES)})")
    return INSTANCES[name]


def _takes_key(generator: Callable) -> bool:
    return next(iter(inspect.signature(generator).parameters), None) == "key"


def parameters(name: str) -> dict[str, inspect.Parameter]:
    """The parameters of family ``name`` by name (``seed`` in place of a generator's ``key``)."""
    generator = _family(name).generator
    params = dict(inspect.signature(generator).parameters)
    if _takes_key(generator):
        del params["key"]
        params["seed"] = inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=int)
    return params


def _admits_sequence(hint: Any) -> bool:
    """Whether a value of type ``hint`` may be a list (``Sequence[float]``, ``float | list[float]``, ...)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_admits_sequence(arg) for arg in typing.get_args(hint))
    cls = origin or hint
    return (isinstance(cls, type) and issubclass(cls, (collections.abc.Sequence, np.ndarray))
            and not issubclass(cls, (str, bytes)))


def list_valued(name: str) -> set[str]:
    """The parameters of family ``name`` that take a list as one value (from the generator's type
    annotations): a sweep reads a list of lists as a grid axis of them, and a flat list as one value.
    An unannotated parameter is taken as a scalar (a list of it is a grid axis)."""
    hints = typing.get_type_hints(_family(name).generator)
    return {p for p in parameters(name) if _admits_sequence(hints.get(p))}


def param_kind(name: str, key: str) -> str | None:
    """What parameter ``key`` of family ``name`` takes, read from the generator's type annotation (the one
    source: :func:`jaxbail.validate.check_builtin_params` checks values by it):

    ``"name"`` (``str``), ``"number"`` (``float``; a list of them too where the annotation admits a
    sequence, as coordination's per-Actor ``reveal``), ``"numbers"`` (``Sequence[float]``: a list, as
    ``prior``), ``"int"`` (a size or count), ``"seed"`` (the PRNG seed of a generator taking a key), or
    ``None`` for an unknown key or an unannotated parameter.
    """
    if key == "seed" and key in parameters(name) and _takes_key(_family(name).generator):
        return "seed"
    hint = typing.get_type_hints(_family(name).generator).get(key)
    if hint is None:
        return None
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    args = [a for a in args if a is not type(None)]
    if str in args:
        return "name"
    if float in args:
        return "number"
    if _admits_sequence(hint):
        return "numbers"
    if int in args:
        return "int"
    return None


def parse_params(name: str, items: list[str]) -> dict[str, Any]:
    """Parse ``["num_tasks=4", "prior=[0.5,0.3,0.2]"]`` for instance ``name``.

    Values are JSON where they parse as JSON, strings otherwise; ``a,b,c`` is a list.
    """
    allowed = parameters(name)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InstanceError(f"param: expected key=value, got {item!r}")
        if key not in allowed:
            raise InstanceError(f"{key}: unknown parameter of instance {name!r} (allowed: {', '.join(allowed)})")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            if "," in raw:
                try:
                    value = [json.loads(v) for v in raw.split(",")]
                except json.JSONDecodeError:
                    value = raw
            else:
                value = raw
        out[key] = value
    return out


def instance_by_name(name: str, **params: Any) -> Instance | MultiAgentInstance:
    """Build a built-in instance: ``instance_by_name("hard", num_tasks=4)``,
    ``instance_by_name("coordination", num_actors=3)``, ``instance_by_name("hard", num_instructions=2)``.

    ``random`` takes ``seed`` (an integer) in place of a key.
    """
    allowed = parameters(name)
    for key in params:
        if key not in allowed:
            raise InstanceError(f"{key}: unknown parameter of instance {name!r} (allowed: {', '.join(allowed)})")
    generator = INSTANCES[name].generator
    if _takes_key(generator):
        seed = params.pop("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InstanceError(f"seed: must be an integer, got {seed!r}")
        return generator(seed, **params)
    return generator(**params)
