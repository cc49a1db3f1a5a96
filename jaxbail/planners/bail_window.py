"""``bail_window``: exact BAIL computed from the last ``K`` episodes only (SPEC 7).

What a perfectly pretrained model with a context of ``K`` episodes computes: the posterior given the
current episode and the ``K - 1`` episodes before it, all older episodes forgotten. It is the exact
reference for every bounded-context planner (the transformer's sliding window).

Construction. The state is redrawn from ``mu_z`` at the start of every episode, so given the task the
episodes are independent and the task posterior after a history is

    w(z | episodes e_1..e_n, current partial episode) ∝ rho(z) prod_k L_k(z) L_cur(z),

with ``L_k(z) = p(o_{1:H+1} | z, g_{1:H})`` episode ``k``'s likelihood, and the state belief
``q(s | z)`` depends on the current episode alone. The window keeps the factors of its own episodes:

* during an episode the planner runs its own exact filter (:class:`~jaxbail.belief.DenseFilter`, or
  :class:`~jaxbail.belief.FactoredFilter` for several Actors) started from uniform task weights, so
  its log task weights are ``log L_cur(z)`` up to a constant over ``z`` (``-inf`` where the episode
  rules ``z`` out);
* at the end of the episode that vector goes into a ring buffer of the last ``capacity``
  completed episodes;
* at the start of episode ``t`` the planner sums ``log rho`` and the last ``min(t, K - 1)``
  buffered vectors (:func:`window_base`); at each decision it adds the current episode's and
  renormalises (:func:`windowed_log_task`), and the decision is
  BAIL's mixture on the runner's belief with its task weights replaced by these (its ``q(s | z)``,
  or the known-state indices, are the current episode's and do not depend on the task weights).

Why not subtract the forgotten episodes from the runner's full-history weights: once an episode rules
a task out its weight is ``-inf`` for good, and ``-inf - (-inf)`` cannot bring it back when that
episode leaves the window (on ``hard`` every revealing probe does this).

While no episode has left the window (``t < K``) the decision is the runner's own belief, so
``bail_window`` is bit-identical to ``bail`` over a run of ``T <= K`` episodes.

Scope. Exact for every belief the runner keeps under ``belief="exact"``: the general
:class:`~jaxbail.belief.Belief`, the known-state belief (its state indices are the current episode's),
and the factored beliefs of several Actors (the per-Actor filter's task evidence is the product over
Actors). Under a misspecified model the planner's filter skips an observation impossible under every
task, as the runner's does, and should the window's episodes rule out every task between them the
decision falls back to the runner's full-history belief. Under ``belief="delusional"`` the window
is not defined (the delusional evidence is not a likelihood of the episode);
:func:`check_window_belief` refuses it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxbail import belief as filt
from jaxbail.instance import MultiAgentInstance
from jaxbail.planners.base import Context, Planner

__all__ = ["BailWindow", "bail_window", "window_base", "windowed_log_task", "with_log_task", "check_window_belief"]


def with_log_task(belief, log_task: jax.Array):
    """``belief`` with its task weights replaced (state part kept): any of the four belief classes."""
    if isinstance(belief, tuple):  # Belief, FactoredBelief (NamedTuples)
        return belief._replace(log_task=log_task)
    return belief.replace(log_task=log_task)  # KnownStateBelief, FactoredKnownStateBelief (struct dataclasses)


def _episode_filter(model):
    return filt.FactoredFilter(model) if isinstance(model, MultiAgentInstance) else filt.DenseFilter(model)


def window_base(log_prior: jax.Array, ring: jax.Array, completed: jax.Array, window: jax.Array) -> jax.Array:
    """``[Z]`` ``log rho + sum_{e = t-K+1}^{t-1} ring[e mod C]``: the window's completed episodes.

    Args:
      log_prior: ``[Z]``; ring: ``[C, Z]`` per-episode log likelihoods (episode ``e`` in slot ``e mod C``;
      the episodes before ``t - C`` are gone, so ``K - 1 <= C`` is required); completed: the number
      ``t`` of completed episodes; window: ``K``.
    """
    capacity = ring.shape[0]
    if not capacity:
        return log_prior
    slots = jnp.arange(capacity)
    age = jnp.mod(completed - 1 - slots, capacity) + 1  # 1 = the episode just completed
    keep = (age <= completed) & (age <= window - 1)
    return log_prior + jnp.sum(jnp.where(keep[:, None], ring, 0.0), axis=0)


def windowed_log_task(base: jax.Array, current: jax.Array) -> jax.Array:
    """``[Z]`` the window's normalised log task weights: ``base`` (:func:`window_base`) plus the current
    episode's log likelihood ``current``, renormalised (all ``-inf`` where they rule out every task)."""
    total = base + current
    norm = jax.nn.logsumexp(total)
    return total - jnp.where(jnp.isfinite(norm), norm, 0.0)


class BailWindow(Planner):
    """BAIL on the posterior of the last ``window`` episodes (the current one included); see the module.

    Attributes:
      window: ``K >= 1`` episodes (a traced int32 leaf: a sweep over ``K <= capacity + 1`` reuses one compile).
      capacity: completed episodes kept (static), at least ``K - 1``.
    """

    window: Any = 1
    capacity: int = struct.field(pytree_node=False, default=0)

    def init(self, key, ctx: Context):
        del key
        num_tasks = ctx.model.num_tasks
        zeros = jnp.zeros((num_tasks,), jnp.float32)
        episode = _episode_filter(ctx.model).begin_episode(zeros, jnp.zeros((), jnp.int32)).belief
        # (ring of completed episodes' log likelihoods, the window's base weights this episode (window_base),
        # this episode's own belief); ``ctx.episode`` is the number of completed episodes
        return jnp.zeros((self.capacity, num_tasks), jnp.float32), zeros, episode

    def begin_episode(self, key, state, ctx: Context):
        ring = state[0]
        base = window_base(filt.prior_log_task(ctx.model.prior), ring, ctx.episode, self.window)
        uniform = jnp.zeros((ctx.model.num_tasks,), jnp.float32)
        return ring, base, _episode_filter(ctx.model).begin_episode(uniform, ctx.observation).belief  # o_1

    def _advance(self, state, ctx: Context):
        """Absorb ``(g_h, o_{h+1})`` into the episode's own filter (nothing before the first decision)."""
        ring, base, episode = state
        upd = _episode_filter(ctx.model).update(episode, ctx.prev_subgoal, ctx.observation)
        episode = jax.tree.map(lambda new, old: jnp.where(ctx.prev_subgoal >= 0, new, old), upd.belief, episode)
        return ring, base, episode

    def window_belief(self, state, ctx: Context):
        """The window's belief at this decision (``state`` already advanced): the runner's own while
        no episode has left the window, else its task weights replaced by the window's."""
        _, base, episode = state
        windowed = windowed_log_task(base, episode.log_task)
        # some episode has left the window (and, under a misspecified model only, the window leaves a task)
        forgot = (ctx.episode >= self.window) & jnp.any(jnp.isfinite(windowed))
        return with_log_task(ctx.belief, jnp.where(forgot, windowed, ctx.belief.log_task))

    def act(self, state, ctx: Context):
        state = self._advance(state, ctx)
        return self.window_belief(state, ctx).mixture(ctx.experts.policy[ctx.step]), state

    def end_episode(self, state, ctx: Context):
        ring, base, episode = self._advance(state, ctx)  # g_H, o_{H+1}
        if self.capacity:
            ring = ring.at[jnp.mod(ctx.episode, self.capacity)].set(episode.log_task)
        return ring, base, episode


def bail_window(window: int, capacity: int | None = None) -> BailWindow:
    """``BailWindow`` with ``K = window`` episodes, keeping ``capacity`` (default ``K - 1``) completed ones.

    Raises:
      ValueError: ``window`` not an integer ``>= 1``, or ``capacity < window - 1``.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window: must be an integer >= 1 (episodes in the context), got {window!r}")
    capacity = window - 1 if capacity is None else capacity
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < window - 1:
        raise ValueError(f"capacity: must be an integer >= window - 1 = {window - 1}, got {capacity!r}")
    return BailWindow(window=jnp.asarray(window, jnp.int32), capacity=capacity)


def check_window_belief(belief: str) -> None:
    """``bail_window`` needs the exact posterior.

    Raises:
      ValueError: for ``belief="delusional"``.
    """
    if belief != "exact":
        raise ValueError("bail_window needs belief='exact': the delusional evidence is not an episode likelihood, "
                         "so a window of it is not defined")
