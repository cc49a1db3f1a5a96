"""``actor_slip``: an imperfect Actor that reaches its target only with probability 1 - p."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxbail.instance import Instance, make_instance
from jaxbail.instances._common import check_int, check_prior, check_unit


def actor_slip(num_tasks: int = 3, horizon: int = 4, slip: float = 0.2,
               prior: Sequence[float] | None = None) -> Instance:
    """Locations ``0 .. Z`` and a ``found`` state ``Z + 1``; subgoal ``g`` asks the
    Actor to go to location ``g``, which it reaches with probability ``1 - slip``
    (otherwise it stays where it is). In task ``z`` the treasure lies at location
    ``z + 1``: reaching it shows ``found``, which pays 1 per step while the Actor
    keeps asking for that location. Every run starts at location 0.

    Tasks differ only in where the reward lies; the Reporter shows the state, and
    a visit to a location rules tasks in or out, so BAIL's own subgoals are
    informative here (the contrast to ``hard``).
    """
    z_count = check_int("num_tasks", num_tasks, 1)
    horizon = check_int("horizon", horizon, 1)
    slip = check_unit("slip", slip, open_high=True)
    prior = check_prior(prior, z_count)
    locations = z_count + 1
    found = locations
    num_states, num_subgoals = locations + 1, locations
    init = np.zeros((z_count, num_states))
    init[:, 0] = 1.0
    transition = np.zeros((z_count, num_states, num_subgoals, num_states))
    reward = np.zeros((z_count, num_states, num_subgoals))
    for z in range(z_count):
        goal = z + 1
        for s in range(num_states):
            for g in range(num_subgoals):
                target = found if g == goal else g
                transition[z, s, g, target] += 1.0 - slip
                transition[z, s, g, s] += slip
        reward[z, found, :] = 1.0
    emission = np.broadcast_to(np.eye(num_states), (z_count, num_states, num_states))
    return make_instance(prior, init, transition, emission, reward, horizon, name="actor_slip")
