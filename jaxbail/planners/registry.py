"""Planners by name, for the CLI and sweeps."""

from __future__ import annotations

import jax.numpy as jnp

from jaxbail.planners.base import Planner
from jaxbail.planners.bawm import Bawm
from jaxbail.planners.core import Bail, Map, Oracle, Psrl, Uniform, epsilon_greedy

PLANNERS: dict[str, str] = {
    "oracle": "the true task's expert with the true state (regret 0; sanity check)",
    "bail": "Bayesian aggregated imitation learning: posterior mixture of the experts",
    "eps_bail": "BAIL with per-episode epsilon-greedy exploration",
    "psrl": "posterior sampling: one task drawn from the posterior per episode",
    "map": "the expert of the posterior mode",
    "uniform": "the exploration policy at every step",
    "bawm": "the LLM as a world model: optimal plan in the posterior-mean model, re-planned every episode",
    "eps_bawm": "BAWM with per-episode epsilon-greedy exploration",
}


def make_planner(name: str, *, eps_scale: float = 0.1, eps_power: float = 0.0, explore=None) -> Planner:
    """Build a planner by name; ``eps_scale``/``eps_power`` are the schedule of ``eps_*`` planners
    (``eps_t = min(1, scale * t**-power)``)."""
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r} (choose from {', '.join(PLANNERS)})")
    base = {"oracle": Oracle, "bail": Bail, "eps_bail": Bail, "psrl": Psrl, "map": Map, "bawm": Bawm,
            "eps_bawm": Bawm}
    if name == "uniform":
        return Uniform(explore=None if explore is None else jnp.asarray(explore, jnp.float32))
    planner = base[name]()
    if name.startswith("eps_"):
        planner = epsilon_greedy(planner, eps_scale, eps_power, explore)
    return planner
