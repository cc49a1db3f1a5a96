"""Pretraining data of SPEC 3: behaviour-policy rollouts labelled with the task experts' subgoals."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxbail import belief as filt
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance
from jaxbail.planners.base import mixture_over_belief
from jaxbail.runner import env_reset, env_step, env_tables
from jaxbail.sampling import cumulative, draw, draw_from_probs

__all__ = ["Episodes", "sample_episodes", "bail_along"]


class Episodes(NamedTuple):
    """Single-episode prompts with expert labels (leading axis: trajectories).

    Attributes:
      tasks: ``[N]`` the latent task of each trajectory.
      observations: ``[N, H + 1]``; subgoals: ``[N, H]`` the behaviour policy's subgoals;
      labels: ``[N, H]`` the expert subgoal ``pi*_{z,h}(s_h)`` at each decision.
    """

    tasks: jax.Array
    observations: jax.Array
    subgoals: jax.Array
    labels: jax.Array


def sample_episodes(key: jax.Array, instance: Instance, num: int, behaviour=None) -> Episodes:
    """``num`` behaviour-policy episodes (uniform by default; it never depends on ``z``), ``z ~ rho`` each,
    every decision labelled by a draw from the expert ``pi*_{z,h}(.|s_h)``."""
    model = instance.replace(name="")
    tables = env_tables(model)
    policy = compute_experts(model).policy
    behaviour = jnp.full((instance.num_subgoals,), 1.0 / instance.num_subgoals) if behaviour is None else behaviour
    cum_behaviour = cumulative(jnp.asarray(behaviour, jnp.float32))
    horizon = instance.horizon

    def one(key):
        u = jax.random.uniform(key, (4 * horizon + 3,))
        task = draw_from_probs(model.prior, u[0])
        state, obs0 = env_reset(tables, task, u[1], u[2])

        def step(state, h):
            label = draw_from_probs(policy[h, task, state], u[3 + 4 * h])
            subgoal = draw(cum_behaviour, u[4 + 4 * h])
            next_state, obs = env_step(tables, task, state, subgoal, u[5 + 4 * h], u[6 + 4 * h])
            return next_state, (subgoal, obs, label)

        _, (subgoals, obs, labels) = jax.lax.scan(step, state, jnp.arange(horizon))
        return Episodes(task, jnp.concatenate([obs0[None], obs]), subgoals, labels)

    return jax.jit(jax.vmap(one))(jax.random.split(key, num))


def bail_along(instance: Instance, episodes: Episodes) -> jax.Array:
    """``[N, H, G]`` exact BAIL at every decision of every (single-episode) prompt."""
    model = instance.replace(name="")
    policy = compute_experts(model).policy
    log_prior = filt.prior_log_task(model.prior)

    def one(observations, subgoals):
        beliefs, *_ = filt.filter_episode(model, log_prior, observations, subgoals)
        return jax.vmap(mixture_over_belief)(beliefs, policy)

    return jax.jit(jax.vmap(one))(episodes.observations, episodes.subgoals)
