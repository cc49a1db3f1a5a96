"""Replay a given trajectory through the exact posterior: the task posterior and BAIL at every decision."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance, InstanceError, MultiAgentInstance, instruction_view
from jaxbail.planners.base import mixture_over_belief


@jax.jit
def _replay_episode(model: Instance, policy, log_task, observations, subgoals):
    beliefs, _, missed, end_log_task = filt.filter_episode(model, log_task, observations, subgoals)
    bail = jax.vmap(mixture_over_belief)(beliefs, policy)
    return jnp.exp(beliefs.log_task), bail, missed, end_log_task


@jax.jit
def _replay_factored_episode(model: MultiAgentInstance, policy, log_task, observations, subgoals):
    beliefs, _, missed, end_log_task = filt.filter_episode_with(filt.FactoredFilter(model), log_task, observations,
                                                                subgoals)
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
    if model.instructions is not None:
        if instructions is None:
            raise InstanceError("replay: this instance has per-episode instructions, so each episode needs its "
                                "instruction (Python: replay(..., instructions=[...]); the CLI trajectory format "
                                "has no instruction field)")
        if len(instructions) != len(episodes) or not all(
                isinstance(w, (int, np.integer)) and 0 <= w < model.num_instructions for w in instructions):
            raise InstanceError(f"replay: instructions must be one integer in [0, {model.num_instructions - 1}] "
                                f"per episode ({len(episodes)} episodes)")
        dynamics = instruction_view(model, 0)  # the filter reads the dynamics only
    elif instructions is not None:
        raise InstanceError("replay: instructions given, but the instance has none")
    else:
        dynamics = model
    episode_fn = _replay_factored_episode if isinstance(model, MultiAgentInstance) else _replay_episode
    log_task = filt.prior_log_task(model.prior)
    steps, missed_total = [], 0
    for t, (observations, subgoals) in enumerate(episodes):
        policy = experts.policy if instructions is None else experts.for_instruction(int(instructions[t])).policy
        posterior, bail, missed, log_task = episode_fn(
            dynamics, policy, log_task, jnp.asarray(observations, jnp.int32), jnp.asarray(subgoals, jnp.int32))
        missed_total += int(np.sum(missed))
        posterior, bail = np.asarray(posterior, np.float64), np.asarray(bail, np.float64)
        for h in range(instance.horizon):
            steps.append({"episode": t, "step": h, "task_posterior": posterior[h].tolist(), "bail": bail[h].tolist()})
    return {"steps": steps, "misspecification_events": missed_total}
