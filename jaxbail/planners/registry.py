"""Planners by name, in one place: what the CLI, sweeps, experiments and the smoke test read.

A planner is registered once, as a :class:`PlannerEntry`: its builder, a description, its
epsilon-greedy variant (registered as ``eps_<name>``) and what callers must know (a checkpoint,
several Actors, whether it draws randomness). Every name, ``eps_`` variants included, resolves
to a :class:`PlannerName` in :data:`PLANNERS`; nothing outside this module parses the ``eps_`` prefix.

Adding a planner: write its class (a :class:`~jaxbail.planners.base.Planner`) in a new file and
add one ``register(PlannerEntry(...))`` call, here for the built-in ones or next to the class
(``jaxbail.llm.planner`` registers ``llm`` that way, so this module never imports ``jaxbail.llm``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import jax.numpy as jnp

from jaxbail.planners.bail_window import bail_window
from jaxbail.planners.base import Planner
from jaxbail.planners.bawm import Bawm
from jaxbail.planners.core import Bail, Map, Oracle, Psrl, Uniform, epsilon_greedy

__all__ = ["PlannerEntry", "PlannerName", "PLANNERS", "register", "planner_name", "make_planner"]

BUILD_ARGS = ("instance", "checkpoint", "explore", "window")
"""What a builder may name in its signature; :func:`make_planner` passes exactly the ones it names."""


@dataclass(frozen=True)
class PlannerEntry:
    """One registered planner.

    Attributes:
      name: the name on the command line and in sweep files.
      build: returns the planner; it is called with those of ``instance`` (the environment),
        ``checkpoint`` (a path or ``None``) and ``explore`` (``[G]`` or ``None``) that its
        signature names, so a planner class without fields is its own builder.
      description: one line for ``jaxbail list``.
      eps_description: if given, ``eps_<name>`` is registered too: this planner inside
        :func:`~jaxbail.planners.core.epsilon_greedy` (``--eps`` sets its schedule).
      needs_checkpoint: built from a pretrained checkpoint (``--checkpoint``; default the one
        shipped for the instance); the run measures its ``delta`` to BAIL.
      single_actor_reason: why it cannot run with several Actors (``None``: it can).
      key_free: ``begin_episode`` ignores its key, so ``epsilon_greedy(planner, 0)`` plays bit for bit
        what the planner plays and its cells can batch with its ``eps_`` variant's.
      takes_window: built with ``window=K`` episodes of context (``--window K``, sweep ``planner.window``).
      window_optional: ``window`` may be left out (the planner has a default; ``llm``: an ALiBi checkpoint's
        training window); otherwise a ``takes_window`` planner needs it.
      stand_in: for ``needs_checkpoint`` planners, ``stand_in(instance, key)`` the same planner with
        untrained weights of the instance's sizes (the smoke test runs it without a checkpoint).
    """

    name: str
    build: Callable[..., Planner]
    description: str
    eps_description: str | None = None
    needs_checkpoint: bool = False
    single_actor_reason: str | None = None
    key_free: bool = False
    takes_window: bool = False
    window_optional: bool = False
    stand_in: Callable[[Any, Any], Planner] | None = None

    def make(self, *, instance=None, checkpoint=None, explore=None, window=None,
             called: str | None = None) -> Planner:
        """The planner itself (never the ``eps_`` variant); ``called`` is the name messages use (default ``name``)."""
        if window is None and self.takes_window and not self.window_optional:
            raise ValueError(f"planner {called or self.name!r} needs window=K")
        if window is not None and not self.takes_window:
            raise ValueError(f"window applies to {windowed_names()}, not to {called or self.name!r}")
        if self.needs_checkpoint and instance is None:
            raise ValueError(f"planner {called or self.name!r} needs the instance it runs on (to pick and check its "
                             "checkpoint)")
        given = {"instance": instance, "checkpoint": checkpoint, "explore": explore, "window": window}
        wanted = inspect.signature(self.build).parameters
        return self.build(**{k: v for k, v in given.items() if k in wanted})


@dataclass(frozen=True)
class PlannerName:
    """A name of :data:`PLANNERS`: a registered planner, or (``epsilon``) its ``eps_`` variant."""

    name: str
    entry: PlannerEntry
    epsilon: bool

    @property
    def description(self) -> str:
        return self.entry.eps_description if self.epsilon else self.entry.description

    @property
    def takes_eps(self) -> bool:
        """An epsilon-greedy planner: ``--eps`` / ``planner.eps`` apply."""
        return self.epsilon

    @property
    def needs_checkpoint(self) -> bool:
        return self.entry.needs_checkpoint

    @property
    def takes_window(self) -> bool:
        return self.entry.takes_window

    @property
    def needs_window(self) -> bool:
        """``window`` is required (a ``takes_window`` planner without a default)."""
        return self.entry.takes_window and not self.entry.window_optional

    @property
    def batches_with_eps(self) -> bool:
        """Runs as ``epsilon_greedy(planner, 0)`` (bit for bit the same play) so that its cells batch with
        its ``eps_`` variant's: a planner without exploration whose ``begin_episode`` ignores its key."""
        return not self.epsilon and self.entry.eps_description is not None and self.entry.key_free

    def wrap(self, planner: Planner, eps_scale: float = 0.1, eps_power: float = 0.0, explore=None) -> Planner:
        """``planner`` (built by the entry) as this name plays it: inside the epsilon-greedy wrapper for ``eps_``."""
        return epsilon_greedy(planner, eps_scale, eps_power, explore) if self.epsilon else planner


PLANNERS: dict[str, PlannerName] = {}
"""Every planner name (``eps_`` variants included), in registration order."""


def register(entry: PlannerEntry) -> PlannerEntry:
    """Add ``entry`` (and ``eps_<name>`` if it has an ``eps_description``) to :data:`PLANNERS`.

    Raises:
      ValueError: a name already taken, or a name starting with ``eps_``.
    """
    if entry.name.startswith("eps_"):
        raise ValueError(f"planner {entry.name!r}: a name starting with eps_ is an epsilon-greedy variant; register "
                         f"{entry.name[len('eps_'):]!r} with eps_description instead")
    names = [entry.name] + ([f"eps_{entry.name}"] if entry.eps_description is not None else [])
    for name in names:
        if name in PLANNERS:
            raise ValueError(f"planner {name!r} is already registered")
    PLANNERS[entry.name] = PlannerName(entry.name, entry, False)
    if entry.eps_description is not None:
        PLANNERS[names[1]] = PlannerName(names[1], entry, True)
    return entry


def planner_name(name: str) -> PlannerName:
    """The registered name ``name``.

    Raises:
      ValueError: an unknown name (the message lists the known ones).
    """
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r} (choose from {', '.join(PLANNERS)})")
    return PLANNERS[name]


def windowed_names() -> str:
    """The planners that take a window, for messages: ``"a, b, c and d"``."""
    names = [n for n, p in PLANNERS.items() if p.entry.takes_window]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


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
    spec = planner_name(name)
    planner = spec.entry.make(instance=instance, checkpoint=checkpoint, explore=explore, window=window, called=name)
    return spec.wrap(planner, eps_scale, eps_power, explore)


def _uniform(explore=None) -> Uniform:
    return Uniform(explore=None if explore is None else jnp.asarray(explore, jnp.float32))


register(PlannerEntry("oracle", Oracle, "the true task's expert with the true state (regret 0; sanity check)",
                      key_free=True))
register(PlannerEntry("bail", Bail, "Bayesian aggregated imitation learning: posterior mixture of the experts",
                      eps_description="BAIL with per-episode epsilon-greedy exploration", key_free=True))
register(PlannerEntry("psrl", Psrl, "posterior sampling: one task drawn from the posterior per episode"))
register(PlannerEntry("map", Map, "the expert of the posterior mode", key_free=True))
register(PlannerEntry("uniform", _uniform, "the exploration policy at every step", key_free=True))
register(PlannerEntry("bawm", Bawm, "the LLM as a world model: optimal plan in the posterior-mean model, "
                      "re-planned every episode", eps_description="BAWM with per-episode epsilon-greedy exploration",
                      key_free=True))


register(PlannerEntry("bail_window", bail_window, "exact BAIL from the last K episodes only (--window K): a "
                      "perfectly pretrained K-window model", eps_description="bail_window with per-episode "
                      "epsilon-greedy exploration", takes_window=True))
