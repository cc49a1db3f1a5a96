"""``hard``: BAIL's posterior never moves, yet a probe subgoal no expert uses reveals the task."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxbail.instance import Instance, make_instance
from jaxbail.instances._common import check_instructions, check_int, check_prior, check_unit


def hard(num_tasks: int = 3, horizon: int = 5, prior: Sequence[float] | None = None, reveal: float = 1.0,
         num_instructions: int | None = None, instruction_probs: Sequence[float] | None = None) -> Instance:
    """The SPEC 6 linear-regret instance.

    States: ``0`` = home, ``1 + z`` = the signpost of task ``z``. Subgoals
    ``0 .. Z-1`` are arms: arm ``g`` pays 1 in task ``g`` (0 otherwise) and
    returns home, identically in every task, so the experts (expert ``z``
    always pulls arm ``z``) never move the posterior. Subgoal ``Z`` is the
    probe: it pays 0 and leads to task ``z``'s signpost with probability
    ``reveal`` (home otherwise). The Reporter shows the state.

    BAIL plays the fixed prior mixture of arms: per-episode regret
    ``H (1 - rho(z))``, so linear regret; exploration finds the probe.

    Args:
      num_tasks: ``Z >= 2``. horizon: ``H >= 1``.
      prior: ``[Z]`` task prior (default uniform); non-uniform allowed.
      reveal: probability ``q`` in ``(0, 1]`` that the probe shows the task
        (dials the distinguishability ``eta`` down as it shrinks).
      num_instructions, instruction_probs: per-episode instructions (SPEC 8), uniform over
        ``W = num_instructions`` or drawn from ``instruction_probs``: under instruction
        ``omega`` arm ``(z + omega) mod Z`` pays in task ``z`` (so expert ``(z, omega)`` pulls
        that arm). The dynamics are unchanged, so the posterior is still frozen and BAIL's
        regret is the same ``H (1 - rho(z))`` per episode. Default: no instructions.
    """
    z_count = check_int("num_tasks", num_tasks, 2)
    horizon = check_int("horizon", horizon, 1)
    reveal = check_unit("reveal", reveal, open_low=True)
    prior = check_prior(prior, z_count)
    instructions = check_instructions(num_instructions, instruction_probs)
    num_states, num_subgoals, probe = z_count + 1, z_count + 1, z_count
    init = np.zeros((z_count, num_states))
    init[:, 0] = 1.0
    transition = np.zeros((z_count, num_states, num_subgoals, num_states))
    reward = np.zeros((z_count, num_states, num_subgoals))
    for z in range(z_count):
        transition[z, :, :probe, 0] = 1.0
        transition[z, :, probe, 1 + z] = reveal
        transition[z, :, probe, 0] += 1.0 - reveal
        reward[z, :, z] = 1.0
    emission = np.broadcast_to(np.eye(num_states), (z_count, num_states, num_states))
    if instructions is not None:
        reward = np.zeros((z_count, instructions.size, num_states, num_subgoals))
        for w in range(instructions.size):
            for z in range(z_count):
                reward[z, w, :, (z + w) % z_count] = 1.0
    return make_instance(prior, init, transition, emission, reward, horizon, name="hard", instructions=instructions)
