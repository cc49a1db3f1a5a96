"""BAWM: the LLM as a world model; plan optimally in the posterior-mean model, re-planned every episode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail.belief import prior_log_task
from jaxbail.experts import greedy, posterior_mean_plan
from jaxbail.instance import MultiAgentInstance
from jaxbail.planners.base import Context, MarkovPlay, Planner


def mean_model_plan(task_posterior: jax.Array, transition: jax.Array, reward: jax.Array,
                    horizon: int) -> jax.Array:
    """Greedy plan ``[H, S, G]`` by backward induction in ``Pbar = sum_z w(z) P_z``, ``rbar = sum_z w(z) r_z``.

    Args:
      task_posterior: ``[Z]`` weights ``w``; transition: ``[Z, S, G, S]``; reward: ``[Z, S, G]``.
    """
    mean_transition = jnp.einsum("z,zsgt->sgt", task_posterior, transition)
    mean_reward = jnp.einsum("z,zsg->sg", task_posterior, reward)

    def backup(v_next, _):
        q = mean_reward + mean_transition @ v_next
        choice = greedy(q)
        return jnp.sum(choice * q, axis=-1), choice

    _, plan = jax.lax.scan(backup, jnp.zeros(transition.shape[1], transition.dtype), None, length=horizon,
                           reverse=True)
    return plan


def plan_for(task_posterior: jax.Array, model) -> jax.Array:
    """BAWM's plan ``[H, S, G]`` in ``model``'s posterior-mean model (joint ``S^N``, ``G^N`` for several
    Actors, whose mean model is a mixture of product kernels, planned without the joint kernel)."""
    if isinstance(model, MultiAgentInstance):
        return posterior_mean_plan(task_posterior, model)
    return mean_model_plan(task_posterior, model.transition, model.reward, model.horizon)


class Bawm(Planner):
    """Bayesian world model: at the start of every episode, backward induction in the
    posterior-mean model (transition and reward averaged over ``w_t``); at each step the
    plan acts on the current state belief ``sum_z b(z, s)``. Greedy, lowest-index ties.

    For several Actors the plan is over joint states and subgoals: ``H S^N G^N`` floats per seed."""

    bail_bound = ("drawn for eps-BAWM as a reference: its derivation (a step deviates from the true expert "
                  "with probability <= 1 - w(z)) covers BAIL, not the mean-model plan")

    def init(self, key, ctx: Context):
        model = ctx.model
        return jnp.zeros((model.horizon, model.num_states, model.num_subgoals), jnp.float32)

    def begin_episode(self, key, state, ctx: Context):
        return plan_for(ctx.belief.task_posterior, ctx.model)

    def act(self, state, ctx: Context):
        return ctx.belief.state_marginal() @ state[ctx.step], state

    def frozen_play(self, model, experts_policy, task_weights):
        """Its plan under the prior (computed as the simulator does, from the float32 prior); the
        posterior is frozen when that plan, not the experts, uses only uninformative subgoals."""
        plan = np.asarray(plan_for(jnp.exp(prior_log_task(model.prior)), model), np.float64)
        return MarkovPlay(plan[None], np.ones(1), frozen_under=plan)
