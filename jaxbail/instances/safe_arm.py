"""``safe_arm``: `hard` plus a safe arm no expert uses, so BAWM's mean-model plan is not BAIL's mixture."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxbail.instance import Instance, make_instance
from jaxbail.instances._common import check_unit
from jaxbail.instances.hard import hard


def safe_arm(num_tasks: int = 3, horizon: int = 5, safe: float = 0.6, prior: Sequence[float] | None = None,
             reveal: float = 1.0) -> Instance:
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
    safe = check_unit("safe", safe, open_low=True, open_high=True)
    base = hard(num_tasks=num_tasks, horizon=horizon, prior=prior, reveal=reveal)  # validates the rest
    transition, reward = np.asarray(base.transition), np.asarray(base.reward)
    z_count, num_states = reward.shape[:2]
    # subgoal Z + 1, the safe arm: home in every task, paying `safe` everywhere
    to_home = np.zeros((z_count, num_states, 1, num_states))
    to_home[..., 0] = 1.0
    transition = np.concatenate([transition, to_home], axis=2)
    reward = np.concatenate([reward, np.full((z_count, num_states, 1), safe)], axis=2)
    return make_instance(base.prior, base.init, transition, base.emission, reward, base.horizon, name="safe_arm")
