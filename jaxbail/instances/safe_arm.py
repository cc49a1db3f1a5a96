"""``safe_arm``: `hard` plus a safe arm no expert uses, so BAWM's mean-model plan is not BAIL's mixture."""

from __future__ import annotations

import numpy as np

from jaxbail.instance import Instance, make_instance
from jaxbail.instances._common import check_int, check_prior, check_unit


def safe_arm(num_tasks: int = 3, horizon: int = 5, safe: float = 0.6, prior=None, reveal: float = 1.0) -> Instance:
    """An instance where BAWM (plan in the posterior-mean model) and BAIL (mix the experts) differ.

    The states, arms and probe of :func:`~jaxbail.instances.hard` (state ``0`` = home, ``1 + z`` =
    the signpost of task ``z``; arm ``g < Z`` pays 1 in task ``g`` only and returns home; subgoal
    ``Z`` is the probe, which pays 0 and shows the task's signpost with probability ``reveal``),
    plus subgoal ``Z + 1``: the **safe arm**, which pays ``safe`` in every task and returns home.
    The Reporter shows the state.

    The experts (expert ``z`` always pulls arm ``z``, since ``1 > safe``) never use the safe arm or
    the probe, so BAIL is the fixed prior mixture of arms (per-episode regret ``H (1 - rho(z))``,
    ``H (1 - sum_z rho(z)^2)`` Bayesian). In the prior-mean model arm ``z`` pays ``rho(z)`` and the
    safe arm ``safe`` (the probe pays nothing and leads to states worth the same as home), so when
    ``safe > max_z rho(z)`` BAWM pulls the safe arm at every step: a plan that is not a mixture of
    the experts' plans. The safe arm's laws are the same in every task, so BAWM's posterior never
    moves either and its regret is exactly linear, ``H (1 - safe)`` per episode in every task.
    Exploration (uniform over the ``Z + 2`` subgoals) finds the probe; once the posterior has
    concentrated on ``z`` (``w(z) > safe``) BAWM pulls arm ``z``.

    Args:
      num_tasks: ``Z >= 2``. horizon: ``H >= 1``.
      safe: the safe arm's pay, in ``(0, 1)``.
      prior: ``[Z]`` task prior (default uniform).
      reveal: probability in ``(0, 1]`` that the probe shows the task.
    """
    z_count = check_int("num_tasks", num_tasks, 2)
    horizon = check_int("horizon", horizon, 1)
    safe = check_unit("safe", safe, open_low=True, open_high=True)
    reveal = check_unit("reveal", reveal, open_low=True)
    prior = check_prior(prior, z_count)
    num_states, num_subgoals, probe, safe_index = z_count + 1, z_count + 2, z_count, z_count + 1
    init = np.zeros((z_count, num_states))
    init[:, 0] = 1.0
    transition = np.zeros((z_count, num_states, num_subgoals, num_states))
    reward = np.zeros((z_count, num_states, num_subgoals))
    for z in range(z_count):
        transition[z, :, :probe, 0] = 1.0
        transition[z, :, safe_index, 0] = 1.0
        transition[z, :, probe, 1 + z] = reveal
        transition[z, :, probe, 0] += 1.0 - reveal
        reward[z, :, z] = 1.0
        reward[z, :, safe_index] = safe
    emission = np.broadcast_to(np.eye(num_states), (z_count, num_states, num_states))
    return make_instance(prior, init, transition, emission, reward, horizon, name="safe_arm")
