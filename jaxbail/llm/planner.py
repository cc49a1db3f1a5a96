"""The ``llm`` planner: a pretrained transformer decoding the interaction history with a key/value cache.

It is registered here (``llm`` and ``eps_llm``, :func:`jaxbail.planners.registry.register`), so the planner
registry never imports this package; this module imports no runner (``deployment_delta``, which runs
the planner, is in :mod:`jaxbail.llm.deployment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxbail import belief as filt
from jaxbail.instance import Instance
from jaxbail.llm.checkpoint import check_instance_sizes, default_checkpoint, load_checkpoint
from jaxbail.llm.model import KVCache, ModelConfig, Recurrent, RecurrentState, RingCache, Transformer
from jaxbail.planners.base import Context, Planner, mixture_over_belief
from jaxbail.planners.core import EpsilonGreedy, epsilon_greedy
from jaxbail.planners.registry import PlannerEntry, register

__all__ = ["TokenStreamPlanner", "LlmState", "LlmPlanner", "RecurrentLlmPlanner", "RingLlmPlanner", "planner_for",
           "llm_planner_from_checkpoint", "eps_llm", "WindowedBail"]


class TokenStreamPlanner(Planner):
    """The token stream every ``llm`` planner reads (SPEC 7's layout): ``BOS``, then per episode
    ``o_1 g_1 .. o_H g_H o_{H+1} SEP`` with the subgoals actually played.

    :meth:`act` feeds ``g_h`` (after the first step) and ``o_{h+1}`` and returns the softmax of the logits
    at ``o_{h+1}``; :meth:`end_episode` feeds ``g_H``, ``o_{H+1}`` and ``SEP``, then :meth:`_close`. A model
    family supplies :meth:`_feed`: one token at ``offset`` (``0 .. 2H + 1``) of 0-based ``episode`` (both
    the same for every seed under the runner's vmap, so the ``cond`` below stays a branch).
    """

    config: ModelConfig = struct.field(pytree_node=False)

    def _feed(self, state: Any, token: jax.Array, episode: jax.Array, offset: jax.Array) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def _skip(self, state: Any, token: jax.Array, episode: jax.Array | None = None,
              offset: jax.Array | None = None) -> Any:
        """:meth:`_feed` without the logits (``episode``, ``offset``: where the family needs them)."""
        return self._feed(state, token, episode, offset)[1]

    def _close(self, state: Any, episode: jax.Array) -> Any:
        """After an episode's ``SEP`` (nothing by default)."""
        del episode
        return state

    def act(self, state: Any, ctx: Context) -> tuple[jax.Array, Any]:
        """Feed ``g_h`` (after the first step) and ``o_{h+1}``; the softmax ``[G]`` of the logits at ``o_{h+1}``."""
        subgoal_token = self.config.num_observations + ctx.prev_subgoal
        state = jax.lax.cond(ctx.step > 0, self._skip, lambda s, *_: s, state, subgoal_token, ctx.episode,
                             2 * ctx.step - 1)
        logits, state = self._feed(state, ctx.observation, ctx.episode, 2 * ctx.step)
        return jax.nn.softmax(logits), state

    def end_episode(self, state: Any, ctx: Context) -> Any:
        """Feed ``g_H``, ``o_{H+1}`` and ``SEP`` (offsets ``2H - 1, 2H, 2H + 1``), then close the episode."""
        last = 2 * self.config.horizon
        state = self._skip(state, self.config.num_observations + ctx.prev_subgoal, ctx.episode, last - 1)
        state = self._skip(state, ctx.observation, ctx.episode, last)
        state = self._skip(state, self.config.sep, ctx.episode, last + 1)
        return self._close(state, ctx.episode)


class LlmState(NamedTuple):
    """Per-seed state of :class:`LlmPlanner`.

    Attributes:
      cache: :class:`~jaxbail.llm.model.KVCache`, ``keys, values [layers, C, heads, head_dim]``.
      position: scalar int32, the next position to write (tokens fed so far since ``BOS``).
      tokens: ``[C]`` int32, the tokens at positions ``0 .. position - 1`` (``BOS`` and the last
        episodes); later entries are stale.
    """

    cache: KVCache
    position: jax.Array
    tokens: jax.Array


class LlmPlanner(TokenStreamPlanner):
    """A pretrained causal transformer reading the tokenised history (SPEC 7), decoded incrementally.

    The prompt is the training layout: ``BOS``, then per episode ``o_1 g_1 .. o_H g_H o_{H+1} SEP``
    with the subgoals actually played. The context holds ``K`` episodes: when the next episode
    would not fit, :meth:`begin_episode` drops the oldest episode and rebuilds the cache by one full
    forward over ``BOS`` and the kept episodes at positions from 0, as every training prompt
    starts at its first episode. The model then sees only the last ``K - 1`` .. ``K`` episodes,
    while exact BAIL sees the whole history: the measured ``delta`` includes what the window loses.

    Attributes:
      params: the weights (traced leaves: a new checkpoint of the same config reuses the compile).
      config: the :class:`~jaxbail.llm.model.ModelConfig` (static).
    """

    params: Any

    @property
    def model(self) -> Transformer:
        return Transformer(self.config)

    def _feed(self, state: LlmState, token: jax.Array, episode=None, offset=None) -> tuple[jax.Array, LlmState]:
        """Decode one token at ``state.position`` (the window's own position, after slides): logits ``[G]``
        there, and the advanced state."""
        token = jnp.asarray(token, jnp.int32)
        logits, cache = self.model.decode_step(self.params, state.cache, token, state.position)
        tokens = jnp.where(jnp.arange(self.config.context_tokens) == state.position, token, state.tokens)
        return logits, LlmState(cache, state.position + 1, tokens)

    def init(self, key: jax.Array, ctx: Context) -> LlmState:
        """An empty cache with ``BOS`` fed at position 0."""
        del key, ctx
        cfg = self.config
        empty = LlmState(self.model.empty_cache(), jnp.zeros((), jnp.int32),
                         jnp.full((cfg.context_tokens,), cfg.bos, jnp.int32))
        return self._skip(empty, cfg.bos)

    def _slide(self, state: LlmState) -> LlmState:
        """Drop the oldest episode: ``BOS`` + the rest shifted left by ``E``, cache rebuilt by one full forward."""
        cfg = self.config
        shifted = jnp.concatenate([state.tokens[:1], state.tokens[1 + cfg.episode_tokens:],
                                   jnp.full((cfg.episode_tokens,), cfg.sep, jnp.int32)])
        _, cache = self.model.prefill(self.params, shifted)
        return LlmState(cache, state.position - cfg.episode_tokens, shifted)

    def begin_episode(self, key: jax.Array, state: LlmState, ctx: Context) -> LlmState:
        """Slide the window if this episode's ``E`` tokens would not fit in the ``C``-token context.

        Every episode has the same ``E`` tokens, so the context is full exactly from the 0-based
        episode ``K`` on (``state.position`` is then ``C``). The test reads ``ctx.episode``, which is
        the same for every seed under the runner's vmap, so the ``cond`` stays a branch: the first
        ``K`` episodes skip the forward that every later episode pays for its slide.
        """
        del key
        full = ctx.episode >= self.config.context_episodes
        return jax.lax.cond(full, self._slide, lambda s: s, state)


class RecurrentLlmPlanner(TokenStreamPlanner):
    """A pretrained recurrent model (``family="recurrent"``) reading the whole tokenised history.

    The token stream is the transformer's (``BOS``, then per episode ``o_1 g_1 .. o_H g_H o_{H+1}
    SEP``) but there is no window: the planner's state is the model's
    :class:`~jaxbail.llm.model.RecurrentState` (``O(1)`` in the history's length), and every token
    costs one :meth:`~jaxbail.llm.model.Recurrent.decode_step`, in every episode.

    Attributes:
      params: the weights (traced leaves). config: the :class:`~jaxbail.llm.model.ModelConfig` (static).
    """

    params: Any

    @property
    def model(self) -> Recurrent:
        return Recurrent(self.config)

    def _feed(self, state: RecurrentState, token: jax.Array, episode=None,
              offset=None) -> tuple[jax.Array, RecurrentState]:
        return self.model.decode_step(self.params, state, jnp.asarray(token, jnp.int32))

    def init(self, key: jax.Array, ctx: Context) -> RecurrentState:
        """The empty state with ``BOS`` fed."""
        del key, ctx
        return self._skip(self.model.empty_state(), self.config.bos)


class RingLlmPlanner(TokenStreamPlanner):
    """An ALiBi transformer (``positions="alibi"``) decoding into a ring-buffer cache of ``window`` episodes.

    In episode ``t`` the model sees ``BOS``, the last ``window - 1`` complete episodes and the
    current one (as :class:`LlmPlanner` after its slides), but a slide costs nothing: every layer
    keeps the current episode's keys (the layers but the last attend only within it), and at the
    episode's end the last layer's move into the ring row of the oldest episode
    (:meth:`~jaxbail.llm.model.Transformer.ring_close`). Each token costs one
    :meth:`~jaxbail.llm.model.Transformer.ring_step` at the offset given by the runner's step
    (``o_{h+1}`` at ``2h``, ``g_h`` at ``2h - 1``, ``SEP`` at ``2H + 1``), the same for every seed, so
    the cache writes are slice updates. ``window`` may exceed the training prompts' ``context_episodes``.

    Attributes:
      params: the weights (traced). config: the model config (static). window: episodes in the ring (static).
    """

    params: Any
    window: int = struct.field(pytree_node=False, default=4)

    @property
    def model(self) -> Transformer:
        return Transformer(self.config)

    def _feed(self, cache: RingCache, token: jax.Array, episode: jax.Array,
              offset: jax.Array) -> tuple[jax.Array, RingCache]:
        return self.model.ring_step(self.params, cache, jnp.asarray(token, jnp.int32), episode, offset)

    def init(self, key: jax.Array, ctx: Context) -> RingCache:
        """The ring with ``BOS`` fed."""
        del key, ctx
        return self.model.ring_cache(self.params, self.window)

    def _close(self, state: RingCache, episode: jax.Array) -> RingCache:
        """The episode's last-layer keys and values move into the ring."""
        return Transformer.ring_close(state, episode)


def planner_for(config: ModelConfig, params: Any, window: int | None = None) -> Planner:
    """The ``llm`` planner of ``config``'s family and positions with these weights.

    Args:
      window: episodes in the context of an ALiBi transformer (default: its training prompts'
        ``context_episodes``); not accepted for the others (absolute positions fix the window, the
        recurrent model has none).
    """
    if config.family == "recurrent" or config.positions == "absolute":
        if window is not None:
            raise ValueError(f"window: only an ALiBi transformer's window can be set (this model: {config.family}, "
                             f"{config.positions} positions)")
        cls = RecurrentLlmPlanner if config.family == "recurrent" else LlmPlanner
        return cls(params=params, config=config)
    window = config.context_episodes if window is None else window
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window: must be an integer >= 1, got {window!r}")
    return RingLlmPlanner(params=params, config=config, window=window)


def llm_planner_from_checkpoint(path: str | Path, instance: Instance, window: int | None = None) -> Planner:
    """The ``llm`` planner of a checkpoint's model family, checked against ``instance``'s sizes.

    ``window``: see :func:`planner_for`.

    Raises:
      CheckpointError: bad path or files, or sizes that differ from ``instance``'s (the message names them).
    """
    config, params, trained_on, _ = load_checkpoint(path)
    check_instance_sizes(path, trained_on, instance)
    return planner_for(config, params, window)


def eps_llm(inner: Planner, scale: float = 0.1, power: float = 0.0, explore: Any = None) -> EpsilonGreedy:
    """``eps_llm``: :func:`jaxbail.planners.core.epsilon_greedy` around an :class:`LlmPlanner`.

    The LLM keeps reading the history during exploration episodes (the wrapper forwards every
    hook, ``end_episode`` included: the LLM needs each episode's last subgoal, last observation
    and separator), so it sees what exploration revealed.
    """
    return epsilon_greedy(inner, scale, power, explore)


class WindowedBail(Planner):
    """Exact BAIL restricted to the LLM's context window (an analysis tool, not a paper planner).

    It uses what a perfect ``K``-episode model can see: the prior, the last ``K - 1`` complete
    episodes and the current one (the window of :class:`LlmPlanner` after its first slide; all
    earlier episodes before it). Its TV to exact BAIL is the part of ``delta`` due to the window.
    Each episode is filtered from a uniform task prior, so its per-task log-likelihood survives
    even for tasks an earlier episode ruled out.

    Attributes:
      context_episodes: ``K`` (static).
    """

    context_episodes: int = struct.field(pytree_node=False, default=4)

    def init(self, key: jax.Array, ctx: Context) -> tuple[jax.Array, filt.Belief]:
        """Ring ``[K - 1, Z]`` of the last episodes' per-task log-likelihoods (zeros) and the episode's own belief."""
        num_tasks = ctx.model.init.shape[0]
        local = filt.Belief(jnp.full((num_tasks,), -jnp.log(num_tasks)), ctx.model.init)
        return (jnp.zeros((self.context_episodes - 1, num_tasks), jnp.float32), local)

    def begin_episode(self, key: jax.Array, state: Any, ctx: Context) -> Any:
        num_tasks = ctx.model.init.shape[0]
        flat = jnp.full((num_tasks,), -jnp.log(num_tasks))
        return (state[0], filt.begin_episode(ctx.model, flat, ctx.observation).belief)

    def _windowed(self, ring: jax.Array, local: filt.Belief, ctx: Context) -> filt.Belief:
        log_task = filt.prior_log_task(ctx.model.prior) + jnp.sum(ring, axis=0) + local.log_task
        log_task = log_task - jax.nn.logsumexp(log_task)
        return filt.Belief(log_task, local.state)

    def act(self, state: Any, ctx: Context) -> tuple[jax.Array, Any]:
        ring, local = state
        updated = filt.update(ctx.model, local, ctx.prev_subgoal, ctx.observation).belief
        local = jax.tree.map(lambda a, b: jnp.where(ctx.step > 0, a, b), updated, local)
        probs = mixture_over_belief(self._windowed(ring, local, ctx), ctx.experts.policy[ctx.step])
        return probs, (ring, local)

    def end_episode(self, state: Any, ctx: Context) -> Any:
        ring, local = state
        local = filt.update(ctx.model, local, ctx.prev_subgoal, ctx.observation).belief
        ring = jnp.concatenate([ring[1:], local.log_task[None]])[-(self.context_episodes - 1):] \
            if self.context_episodes > 1 else ring
        return (ring, local)


def _from_checkpoint(instance: Instance, checkpoint: str | Path | None = None, window: int | None = None) -> Planner:
    """The registry's builder: ``checkpoint``, or the one shipped for ``instance``; ``window`` (an ALiBi
    transformer's episodes in context at deployment, default its training prompts') see :func:`planner_for`."""
    return llm_planner_from_checkpoint(default_checkpoint(instance) if checkpoint is None else checkpoint, instance,
                                       window)


def _untrained(instance: Instance, key: jax.Array) -> LlmPlanner:
    """A small untrained transformer of ``instance``'s sizes (the smoke test's stand-in for a checkpoint)."""
    config = ModelConfig(num_observations=instance.num_observations, num_subgoals=instance.num_subgoals,
                         horizon=instance.horizon, context_episodes=2, layers=1, width=16, heads=2)
    return LlmPlanner(params=Transformer(config).init_params(key), config=config)


register(PlannerEntry(
    "llm", _from_checkpoint,
    "a pretrained sequence model (transformer or recurrent) reading the tokenised history (a checkpoint; "
    "shipped for hard and random)",
    eps_description="the pretrained model with per-episode epsilon-greedy exploration",
    needs_checkpoint=True, single_actor_reason="the pretrained model reads one Actor's history",
    key_free=True, takes_window=True, window_optional=True, stand_in=_untrained))
