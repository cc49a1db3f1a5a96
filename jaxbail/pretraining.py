"""Pretraining data of SPEC 3: behaviour-policy rollouts labelled with the task experts' subgoals.

Single-episode prompts: the ``K = 1`` case of :mod:`jaxbail.llm.data` (same sampler, same layout of
uniforms), with the keys of the trajectories split from one key.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from jaxbail.instance import Instance
from jaxbail.llm.data import Prompts, bail_targets, parse_behaviour, sample_rollouts

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
    every decision labelled by a draw from the expert ``pi*_{z,h}(.|s_h)``; trajectory ``i`` uses
    ``split(key, num)[i]``."""
    kind, table = parse_behaviour(behaviour, instance)
    prompts = sample_rollouts(jax.random.split(key, num), instance.replace(name=""), table, 1, None, kind)
    return Episodes(prompts.tasks, prompts.observations[:, 0], prompts.subgoals[:, 0], prompts.labels[:, 0])


def bail_along(instance: Instance, episodes: Episodes) -> jax.Array:
    """``[N, H, G]`` exact BAIL at every decision of every (single-episode) prompt."""
    prompts = Prompts(episodes.tasks, None, episodes.observations[:, None], episodes.subgoals[:, None],
                      episodes.labels[:, None])
    return bail_targets(instance, prompts)[:, 0]
