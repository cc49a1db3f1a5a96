"""The paper's planners and the baselines: oracle, BAIL, epsilon-greedy wrapper, PSRL, MAP, uniform."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail.planners.base import Context, Exploration, MarkovPlay, Planner, mixture_over_belief, task_policy
from jaxbail.sampling import draw_from_probs


class Oracle(Planner):
    """``pi*_z`` with the true task and the true state: regret exactly 0 (a sanity check)."""

    def act(self, state, ctx: Context):
        return ctx.experts.policy[ctx.step, ctx.true_task, ctx.true_state], state

    def frozen_play(self, model, experts_policy, task_weights):
        """The true task's expert, on every instance (its per-episode regret is exactly 0)."""
        return MarkovPlay(experts_policy[None], np.ones(1), reads_posterior=False)


class Bail(Planner):
    """BAIL, the perfectly pretrained LLM: ``pi(g|hist) = sum_{z,s} b(z,s) pi*_{z,h}(g|s)``."""

    bail_bound = ""

    def act(self, state, ctx: Context):
        return mixture_over_belief(ctx.belief, ctx.experts.policy[ctx.step]), state

    def frozen_play(self, model, experts_policy, task_weights):
        """The prior mixture of the experts ``sum_z rho(z) pi*_z``."""
        return MarkovPlay(np.einsum("z,hzsg->hsg", task_weights, experts_policy)[None], np.ones(1))


class Uniform(Planner):
    """The exploration policy ``pi_exp`` at every step.

    Attributes:
      explore: ``[G]`` exploration distribution, or ``None`` for uniform over subgoals.
    """

    explore: Any = None

    def act(self, state, ctx: Context):
        return exploration_probs(self.explore, ctx.model.num_subgoals), state

    def frozen_play(self, model, experts_policy, task_weights):
        """The exploration policy at every step, on every instance."""
        probs = np.asarray(exploration_probs(self.explore, model.num_subgoals), np.float64)
        policy = np.broadcast_to(probs, (model.horizon, model.num_states, model.num_subgoals))
        return MarkovPlay(policy[None], np.ones(1), reads_posterior=False)


def exploration_probs(explore, num_subgoals: int) -> jax.Array:
    if explore is None:
        return jnp.full((num_subgoals,), 1.0 / num_subgoals, jnp.float32)
    return explore


class Psrl(Planner):
    """Posterior sampling: draw ``z ~ w_t`` at each episode start, then play ``pi*_z``."""

    def init(self, key, ctx):
        return jnp.zeros((), jnp.int32)

    def begin_episode(self, key, state, ctx: Context):
        return draw_from_probs(ctx.belief.task_posterior, jax.random.uniform(key))

    def act(self, state, ctx: Context):
        return task_policy(ctx.belief, ctx.experts.policy[ctx.step], state), state

    def frozen_play(self, model, experts_policy, task_weights):
        """Expert ``k`` with probability ``rho(k)``, drawn per episode."""
        return MarkovPlay(np.moveaxis(experts_policy, 1, 0), task_weights)


class Map(Planner):
    """Greedy baseline: the expert of the posterior mode (ties to the lowest task index)."""

    def act(self, state, ctx: Context):
        mode = jnp.argmax(ctx.belief.log_task)
        return task_policy(ctx.belief, ctx.experts.policy[ctx.step], mode), state

    def frozen_play(self, model, experts_policy, task_weights):
        """The expert of the prior's mode."""
        return MarkovPlay(experts_policy[:, int(np.argmax(task_weights))][None], np.ones(1))


class EpsilonGreedy(Planner):
    """With probability ``eps_t``, decided at the start of each episode, play the
    exploration policy for the whole episode; otherwise the wrapped planner.

    The schedule is ``eps_t = min(1, scale * t ** (-power))`` for episode ``t = 1, 2, ...``:
    ``power = 0`` is a fixed ``eps = scale``; ``power = 0.5`` is ``anytime:c``.
    ``scale`` and ``power`` are traced, so an eps sweep reuses one compile.

    Attributes:
      inner: the planner followed when not exploring (its state is kept up to date).
      scale, power: the schedule's parameters.
      explore: ``[G]`` exploration distribution, or ``None`` for uniform.
    """

    inner: Planner
    scale: Any = 0.1
    power: Any = 0.0
    explore: Any = None

    def epsilon(self, episode: jax.Array) -> jax.Array:
        """``eps_t`` for the 0-based episode index."""
        t = jnp.asarray(episode, jnp.float32) + 1.0
        return jnp.clip(self.scale * t ** (-self.power), 0.0, 1.0)

    def init(self, key, ctx):
        return (jnp.zeros((), bool), self.inner.init(key, ctx))

    def begin_episode(self, key, state, ctx: Context):
        coin_key, inner_key = jax.random.split(key)
        exploring = jax.random.uniform(coin_key) < self.epsilon(ctx.episode)
        return (exploring, self.inner.begin_episode(inner_key, state[1], ctx))

    def end_episode(self, state, ctx: Context):
        return (state[0], self.inner.end_episode(state[1], ctx))

    def exploring(self, state):
        """This episode's coin: ``True`` while the exploration policy plays."""
        return state[0]

    def exploration(self) -> Exploration:
        return Exploration(self.scale, self.power, self.explore, self.inner)

    def act(self, state, ctx: Context):
        exploring, inner_state = state
        inner_probs, inner_state = self.inner.act(inner_state, ctx)
        probs = jnp.where(exploring, exploration_probs(self.explore, ctx.model.num_subgoals), inner_probs)
        return probs, (exploring, inner_state)


def epsilon_greedy(inner: Planner, scale: float = 0.1, power: float = 0.0, explore=None) -> EpsilonGreedy:
    """Wrap ``inner`` with per-episode epsilon-greedy exploration (see :class:`EpsilonGreedy`)."""
    if explore is not None:
        explore = jnp.asarray(explore, jnp.float32)
    return EpsilonGreedy(inner=inner, scale=jnp.asarray(scale, jnp.float32),
                         power=jnp.asarray(power, jnp.float32), explore=explore)
