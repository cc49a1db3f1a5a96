"""Replay a given trajectory through the exact posterior: the task posterior and BAIL at every decision."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance
from jaxbail.planners.base import mixture_over_belief


@jax.jit
def _replay_episode(model: Instance, policy, log_task, observations, subgoals):
    beliefs, _, missed, end_log_task = filt.filter_episode(model, log_task, observations, subgoals)
    bail = jax.vmap(mixture_over_belief)(beliefs, policy)
    return jnp.exp(beliefs.log_task), bail, missed, end_log_task


def replay(instance: Instance, episodes: Sequence[tuple[Sequence[int], Sequence[int]]]) -> dict[str, Any]:
    """Posterior and BAIL at every decision point of ``episodes`` (validated ``(observations, subgoals)``).

    Returns the SPEC 9 ``replay`` object: ``{"steps": [{"episode", "step", "task_posterior",
    "bail"}, ...], "misspecification_events": n}``, with 0-based episode and step.
    """
    model = instance.replace(name="")
    policy = compute_experts(model).policy
    log_task = filt.prior_log_task(model.prior)
    steps, missed_total = [], 0
    for t, (observations, subgoals) in enumerate(episodes):
        posterior, bail, missed, log_task = _replay_episode(
            model, policy, log_task, jnp.asarray(observations, jnp.int32), jnp.asarray(subgoals, jnp.int32))
        missed_total += int(np.sum(missed))
        posterior, bail = np.asarray(posterior, np.float64), np.asarray(bail, np.float64)
        for h in range(instance.horizon):
            steps.append({"episode": t, "step": h, "task_posterior": posterior[h].tolist(), "bail": bail[h].tolist()})
    return {"steps": steps, "misspecification_events": missed_total}
