"""The planner interface: a pytree of hyperparameters with five functions the runner calls
(``init``, ``begin_episode``, ``act``, ``end_episode``, ``exploring``) and two that describe the
planner to the theory (:meth:`Planner.frozen_play`, :meth:`Planner.exploration`)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbail.belief import Belief, BeliefView, KnownStateBelief
from jaxbail.experts import Experts
from jaxbail.instance import Instance


class Context(NamedTuple):
    """What a planner may read at a decision point (all leaves per seed, traced).

    Attributes:
      belief: the exact posterior over ``(z, s)`` under the planner's model: a
        :class:`~jaxbail.belief.Belief` or, where the runner uses the known-state filter, a
        :class:`~jaxbail.belief.KnownStateBelief`; for several Actors a
        :class:`~jaxbail.belief.FactoredBelief` or :class:`~jaxbail.belief.FactoredKnownStateBelief`
        (same read interface: ``task_posterior``, ``joint``, ``mixture``, ``task_mixture``,
        ``state_marginal``, over joint states and subgoals).
      step: 0-based step ``h`` within the episode (the decision chooses ``g_{h+1}``).
      episode: 0-based episode index ``t``.
      num_episodes: the run's ``T`` (for schedules that know it).
      observation: the latest observation ``o_{h+1}`` (joint index for several Actors).
      prev_subgoal: the previous subgoal of this episode, ``-1`` at step 0 (joint index).
      model: the instance the planner believes in. With per-episode instructions, the
        episode's view of it: reward ``r_{., omega}`` ``[Z, S, G]`` and no instruction axis
        (:func:`~jaxbail.instance.instruction_view`); for several Actors a
        :class:`~jaxbail.instance.MultiAgentInstance` (joint ``num_states``, ``num_subgoals``).
      experts: the model's experts (with instructions, ``pi*_{., omega}`` of the episode's
        instruction, ``[H, Z, S, G]``; for several Actors over joint states and subgoals).
      true_task, true_state: privileged information, read only by ``oracle`` (``true_state``
        is the joint index for several Actors).
      instruction: the episode's observed instruction ``omega`` (int32), ``-1`` for an
        instance without instructions.
    """

    belief: BeliefView
    step: jax.Array
    episode: jax.Array
    num_episodes: jax.Array
    observation: jax.Array
    prev_subgoal: jax.Array
    model: Instance
    experts: Experts
    true_task: jax.Array
    true_state: jax.Array
    instruction: jax.Array | int = -1


class MarkovPlay(NamedTuple):
    """What a planner plays where the theory can evaluate it exactly (SPEC 6's exact lines): at the
    start of each episode one of ``K`` Markov policies, drawn with probabilities ``weights``.

    Attributes:
      policies: ``[K, H, S, G]`` (one policy for every task) or ``[K, H, Z, S, G]`` (in task ``z``
        the policy ``[:, :, z]``: e.g. the true task's expert) subgoal probabilities, float64.
      weights: ``[K]`` float64 probabilities (``[1.0]`` for a planner that plays one policy).
      reads_posterior: the planner reads the belief, so the line holds only where the belief cannot
        move (a frozen posterior) and the state is known (an injective Reporter); ``False`` for a
        planner that ignores it (``oracle``, ``uniform``): the line holds on every instance.
      frozen_under: ``[..., G]`` the policy whose subgoals must leave the posterior unmoved for the
        line to hold; ``None`` (the default): the experts' (SPEC 6's frozen-posterior instance).
    """

    policies: np.ndarray
    weights: np.ndarray
    reads_posterior: bool = True
    frozen_under: np.ndarray | None = None


class Exploration(NamedTuple):
    """An epsilon-greedy planner's schedule, for the epsilon-BAIL bound (SPEC 6).

    Attributes:
      scale, power: ``eps_t = min(1, scale * t ** (-power))``.
      explore: ``[G]`` exploration distribution, or ``None`` for uniform.
      inner: the planner followed when not exploring.
    """

    scale: Any
    power: Any
    explore: Any
    inner: Planner


class Planner(struct.PyTreeNode):
    """Base class. Subclasses are ``flax.struct`` pytrees: hyperparameters that a
    sweep varies (eps, exploration distribution) are array leaves, so new values
    reuse the compiled simulation; structural choices are static fields.

    A planner returns a *distribution* over subgoals; the runner draws from it
    with one uniform, so every planner's randomness is common-random-number
    paired with every other's.

    The runner calls :meth:`init`, :meth:`begin_episode`, :meth:`act`, :meth:`end_episode` and
    :meth:`exploring` (only ``act`` has no default). The theory (:mod:`jaxbail.theory`) reads
    :meth:`frozen_play`, :meth:`exploration` and :attr:`bail_bound`; their defaults say "no exact
    line, no bound", so a new planner gets theory by overriding them, never by a change in theory.
    """

    bail_bound: ClassVar[str | None] = None
    """Whether SPEC 6's epsilon-BAIL bound is drawn for epsilon-greedy around this planner without a
    measured ``delta``: ``None`` (it is not; the default), ``""`` (it holds: the planner is BAIL) or a
    caveat the theory's note carries (drawn as a reference)."""

    def init(self, key: jax.Array, ctx: Context) -> Any:
        """Per-seed planner state at the start of a run (default: none)."""
        del key, ctx
        return ()

    def begin_episode(self, key: jax.Array, state: Any, ctx: Context) -> Any:
        """Called once at the start of each episode; ``ctx.belief`` is ``w_t``, the task marginal
        carried over from the previous episode (state belief ``mu_z``), before ``o_1`` is absorbed."""
        del key, ctx
        return state

    def end_episode(self, state: Any, ctx: Context) -> Any:
        """Called once at the end of each episode: ``ctx.prev_subgoal`` is ``g_H`` and
        ``ctx.observation`` is ``o_{H+1}``; ``ctx.belief`` is the posterior after them."""
        del ctx
        return state

    def act(self, state: Any, ctx: Context) -> tuple[jax.Array, Any]:
        """Subgoal distribution ``[G]`` at this decision and the new planner state."""
        raise NotImplementedError

    def exploring(self, state: Any) -> jax.Array:
        """Whether this episode plays an exploration policy instead of the planner's own (default:
        never). ``measure_tv`` leaves such episodes out of ``delta``, which is the planner's distance
        to BAIL on its own decisions (SPEC 6: the ``(1 - eps)`` share of episodes)."""
        del state
        return jnp.zeros((), bool)

    def frozen_play(self, model: Instance, experts_policy: np.ndarray, task_weights: np.ndarray) -> MarkovPlay | None:
        """What this planner plays as a fixed Markov policy where its belief never moves, for the
        theory's exact lines; ``None`` (the default) where it is not one (then the theory has no line).

        Args:
          model: the instance (one instruction's view; for several Actors the joint view).
          experts_policy: ``[H, Z, S, G]`` the greedy experts' policy, float64.
          task_weights: ``[Z]`` the posterior that never moves: the prior (float64, renormalised).
        """
        del model, experts_policy, task_weights
        return None

    def exploration(self) -> Exploration | None:
        """The epsilon-greedy schedule if this planner explores per episode (the theory's epsilon-BAIL
        bound), else ``None`` (the default)."""
        return None


def mixture_over_belief(belief: Belief | KnownStateBelief, policy_h: jax.Array) -> jax.Array:
    """``sum_{z,s} b(z, s) pi_{z,h}(g|s)``: ``policy_h`` is ``[Z, S, G]``."""
    return belief.mixture(policy_h)


def task_policy(belief: Belief | KnownStateBelief, policy_h: jax.Array, task: jax.Array) -> jax.Array:
    """Task ``task``'s expert acting on the state belief ``q(s | task)``."""
    return belief.task_mixture(policy_h, task)
