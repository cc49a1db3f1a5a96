"""Replay a given trajectory through the exact posterior: the task posterior and BAIL at every decision."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail.env import kind_of
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance, MultiAgentInstance
from jaxbail.planners.base import mixture_over_belief


@jax.jit
def _replay_episode(flt, policy, log_task, observations, subgoals):
    beliefs, _, missed, end_log_task = filt.filter_episode_with(flt, log_task, observations, subgoals)
    bail = jax.vmap(mixture_over_belief)(beliefs, policy)
    return jnp.exp(beliefs.log_task), bail, missed, end_log_task


def replay(instance: Instance | MultiAgentInstance, episodes: Sequence[tuple[Sequence[int], Sequence[int]]],
           instructions: Sequence[int] | None = None) -> dict[str, Any]:
    """Posterior and BAIL at every decision point of ``episodes`` (validated ``(observations, subgoals)``).

    For several Actors, observations and subgoals are joint indices (mixed radix, actor 0 most
    significant) and the filter is the factorised one. With per-episode instructions,
    ``instructions`` gives each episode's ``omega`` (BAIL mixes ``pi*_{., omega}``).

    Returns the SPEC 9 ``replay`` object: ``{"steps": [{"episode", "step", "task_posterior",
    "bail"}, ...], "misspecification_events": n}``, with 0-based episode and step.

    Raises:
      InstanceError: an instance with instructions but no (or a bad) ``instructions`` list.
    """
    model = instance.replace(name="")
    experts = compute_experts(model)
    kind = kind_of(model)
    kind.check_instructions(model, instructions, len(episodes))
    flt = kind.filter(kind.dynamics(model), known_state=False)  # the filter reads the dynamics only
    log_task = filt.prior_log_task(model.prior)
    steps, missed_total = [], 0
    for t, (observations, subgoals) in enumerate(episodes):
        policy = kind.episode_policy(experts, instructions, t)
        posterior, bail, missed, log_task = _replay_episode(
            flt, policy, log_task, jnp.asarray(observations, jnp.int32), jnp.asarray(subgoals, jnp.int32))
        missed_total += int(np.sum(missed))
        posterior, bail = np.asarray(posterior, np.float64), np.asarray(bail, np.float64)
        for h in range(instance.horizon):
            steps.append({"episode": t, "step": h, "task_posterior": posterior[h].tolist(), "bail": bail[h].tolist()})
    return {"steps": steps, "misspecification_events": missed_total}
