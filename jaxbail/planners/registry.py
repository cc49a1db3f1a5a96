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
    "llm": "a pretrained transformer reading the tokenised history (a checkpoint; shipped for hard and random)",
    "eps_llm": "the pretrained transformer with per-episode epsilon-greedy exploration",
    "bail_window": "exact BAIL from the last K episodes only (--window K): a perfectly pretrained K-window model",
    "eps_bail_window": "bail_window with per-episode epsilon-greedy exploration",
}
NEEDS_WINDOW = ("bail_window", "eps_bail_window")
"""Planners that take ``window=K``."""
NEEDS_CHECKPOINT = ("llm", "eps_llm")
"""Planners built from a pretrained checkpoint (``checkpoint=`` or the one shipped for the instance)."""


def make_planner(name: str, *, eps_scale: float = 0.1, eps_power: float = 0.0, explore=None,
                 instance=None, checkpoint=None, window: int | None = None) -> Planner:
    """Build a planner by name; ``eps_scale``/``eps_power`` are the schedule of ``eps_*`` planners
    (``eps_t = min(1, scale * t**-power)``).

    ``llm`` and ``eps_llm`` load the transformer from ``checkpoint`` (a path), or, if it is
    ``None``, from the checkpoint shipped for ``instance`` (``hard`` or ``random``); ``instance``
    is required for them and its sizes are checked against the checkpoint's.

    ``bail_window`` and ``eps_bail_window`` need ``window`` (``K >= 1`` episodes).

    Raises:
      ValueError: an unknown name; a missing or bad ``window`` (or one given to another planner);
        :class:`jaxbail.llm.CheckpointError` (a ``ValueError``) for a
        missing, unreadable or mismatched checkpoint.
    """
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r} (choose from {', '.join(PLANNERS)})")
    if (window is not None) != (name in NEEDS_WINDOW):
        raise ValueError(f"planner {name!r} needs window=K" if window is None
                         else f"window applies to {' and '.join(NEEDS_WINDOW)}, not to {name!r}")
    if name in NEEDS_WINDOW:
        from jaxbail.planners.bail_window import bail_window

        inner = bail_window(window)
        return inner if name == "bail_window" else epsilon_greedy(inner, eps_scale, eps_power, explore)
    if name in NEEDS_CHECKPOINT:
        from jaxbail.llm.checkpoint import default_checkpoint
        from jaxbail.llm.planner import eps_llm, llm_planner_from_checkpoint

        if instance is None:
            raise ValueError(f"planner {name!r} needs the instance it runs on (to pick and check its checkpoint)")
        path = default_checkpoint(instance) if checkpoint is None else checkpoint
        llm = llm_planner_from_checkpoint(path, instance)
        return llm if name == "llm" else eps_llm(llm, eps_scale, eps_power, explore)
    base = {"oracle": Oracle, "bail": Bail, "eps_bail": Bail, "psrl": Psrl, "map": Map, "bawm": Bawm,
            "eps_bawm": Bawm}
    if name == "uniform":
        return Uniform(explore=None if explore is None else jnp.asarray(explore, jnp.float32))
    planner = base[name]()
    if name.startswith("eps_"):
        planner = epsilon_greedy(planner, eps_scale, eps_power, explore)
    return planner
