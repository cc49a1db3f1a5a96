"""Instance families by name, with parameters parsed from ``key=value`` strings."""

from __future__ import annotations

import inspect
import json
from typing import Any, Callable

from jaxbail.instance import Instance, InstanceError, MultiAgentInstance
from jaxbail.instances.actor_slip import actor_slip
from jaxbail.instances.coordination import coordination
from jaxbail.instances.hard import hard
from jaxbail.instances.random import random_instance
from jaxbail.instances.safe_arm import safe_arm

INSTANCES: dict[str, Callable[..., Instance | MultiAgentInstance]] = {
    "hard": hard,
    "random": random_instance,
    "actor_slip": actor_slip,
    "coordination": coordination,
    "safe_arm": safe_arm,
}


def _parameters(name: str) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(INSTANCES[name]).parameters)
    params.pop("key", None)
    if name == "random":
        params["seed"] = inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=0)
    return params


def parse_params(name: str, items: list[str]) -> dict[str, Any]:
    """Parse ``["num_tasks=4", "prior=[0.5,0.3,0.2]"]`` for instance ``name``.

    Values are JSON where they parse as JSON, strings otherwise; ``a,b,c`` is a list.
    """
    if name not in INSTANCES:
        raise InstanceError(f"instance: unknown instance {name!r} (choose from {', '.join(INSTANCES)})")
    allowed = _parameters(name)
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
    if name not in INSTANCES:
        raise InstanceError(f"instance: unknown instance {name!r} (choose from {', '.join(INSTANCES)})")
    allowed = _parameters(name)
    for key in params:
        if key not in allowed:
            raise InstanceError(f"{key}: unknown parameter of instance {name!r} (allowed: {', '.join(allowed)})")
    if name == "random":
        seed = params.pop("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InstanceError(f"seed: must be an integer, got {seed!r}")
        return random_instance(seed, **params)
    return INSTANCES[name](**params)
