"""``coordination``: N Actors are paid only when their joint subgoal hits the task's joint target."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxbail.instance import InstanceError, MultiAgentInstance, check_joint_budget, make_multi_agent_instance
from jaxbail.instances._common import check_int, check_prior, check_unit
from jaxbail.rng import raw_key


def coordination(num_actors: int = 2, num_tasks: int = 3, horizon: int = 5, prior: Sequence[float] | None = None,
                 reveal: float | Sequence[float] = 1.0) -> MultiAgentInstance:
    """Several Actors under one Planner: the multi-agent analogue of ``hard`` (BAIL linear, eps-BAIL sublinear).

    Every Actor has the states ``0`` = home and ``1 + z`` = the signpost of task ``z``, and the
    subgoals ``0 .. Z-1`` (arms: back home, identically in every task) and ``Z`` (the probe: to
    the signpost of the true task with probability ``reveal``, home otherwise); its Reporter
    shows its state. In task ``z`` the joint target is "Actor ``i`` pulls arm ``(z + i) mod Z``":
    the reward is 1 when the joint subgoal is the target (whatever the states), else 0, so no
    Actor earns anything alone. The experts (expert ``z`` always plays task ``z``'s target) use
    arms only, so the posterior never moves and BAIL is the fixed mixture
    ``sum_z rho(z) [target_z]`` (per-episode regret ``H (1 - rho(z))``); exploration (a uniform
    joint subgoal, i.e. every Actor uniform on its own) probes and reveals the task.

    Sizes: per Actor ``S = G = O = Z + 1``; joint ``(Z + 1)^N`` states and subgoals. The joint
    tables ``[H, Z, (Z+1)^N, (Z+1)^N]`` must fit :data:`~jaxbail.instance.MAX_JOINT_ENTRIES`
    (the largest ``N`` is 5 for the defaults ``Z = 3``, ``H = 5``; 6 for ``Z = 2``, ``H = 5``).

    Args:
      num_actors: ``N >= 1``. num_tasks: ``Z >= 2``. horizon: ``H >= 1``.
      prior: ``[Z]`` task prior (default uniform).
      reveal: probability in ``(0, 1]`` that a probe shows the task: one number for every Actor
        or a list of ``N`` (Actors of different quality).
    """
    n = check_int("num_actors", num_actors, 1)
    z_count = check_int("num_tasks", num_tasks, 2)
    horizon = check_int("horizon", horizon, 1)
    prior = check_prior(prior, z_count)
    if isinstance(reveal, (list, tuple, np.ndarray)):
        if len(reveal) != n:
            raise InstanceError(f"reveal: expected one number or {n} (one per Actor), got {len(reveal)}")
        reveals = [check_unit("reveal", r, open_low=True) for r in reveal]
    else:
        reveals = [check_unit("reveal", reveal, open_low=True)] * n
    num_states = num_subgoals = z_count + 1
    probe = z_count
    check_joint_budget(n, z_count, num_states, num_subgoals, horizon)
    init = np.zeros((n, z_count, num_states))
    init[:, :, 0] = 1.0
    transition = np.zeros((n, z_count, num_states, num_subgoals, num_states))
    for i, q in enumerate(reveals):
        for z in range(z_count):
            transition[i, z, :, :probe, 0] = 1.0
            transition[i, z, :, probe, 1 + z] = q
            transition[i, z, :, probe, 0] += 1.0 - q
    emission = np.broadcast_to(np.eye(num_states), (n, z_count, num_states, num_states))
    powers = num_subgoals ** np.arange(n - 1, -1, -1)
    reward = np.zeros((z_count, num_states ** n, num_subgoals ** n))
    for z in range(z_count):
        target = sum(((z + i) % z_count) * int(powers[i]) for i in range(n))
        reward[z, :, target] = 1.0
    return make_multi_agent_instance(prior, init, transition, emission, reward, horizon, name="coordination")


def joint_target(num_actors: int, num_tasks: int, task: int) -> int:
    """The joint subgoal index of ``coordination``'s target in task ``task``: Actor ``i`` pulls ``(task + i) mod Z``."""
    base = num_tasks + 1
    return sum(((task + i) % num_tasks) * base ** (num_actors - 1 - i) for i in range(num_actors))


def random_multi_agent(key: jax.Array | int = 0, num_actors: int = 2, num_tasks: int = 2, num_states: int = 2,
                       num_subgoals: int = 2, horizon: int = 3, reporter: str = "noisy", noise: float = 0.2,
                       num_observations: int | None = None) -> MultiAgentInstance:
    """Random Actors (Dirichlet(1) initial laws and kernels, every Actor its own), a uniform joint
    reward ``U[0, 1]`` over ``[Z, S^N, G^N]``, a uniform prior.

    Reporters: ``identity`` (``O = S``), ``noisy`` (the state with probability ``1 - noise``,
    else uniform) or ``dirichlet`` (random rows, ``O`` default ``S``): every Actor its own.

    Args:
      key: a ``jax.random`` key or an integer seed; the tables are drawn with NumPy's generator
        seeded by it (no compile per size, which matters for tests of many small sizes).
    """
    n = check_int("num_actors", num_actors, 1)
    z = check_int("num_tasks", num_tasks, 1)
    s = check_int("num_states", num_states, 1)
    g = check_int("num_subgoals", num_subgoals, 1)
    horizon = check_int("horizon", horizon, 1)
    noise = check_unit("noise", noise)
    if reporter not in ("identity", "noisy", "dirichlet"):
        raise InstanceError(f"reporter: must be identity, noisy or dirichlet, got {reporter!r}")
    o = check_int("num_observations", s if num_observations is None else num_observations, 1)
    if reporter != "dirichlet" and o != s:
        raise InstanceError(f"num_observations: the {reporter} Reporter needs O = S = {s}, got {o}")
    seed = [key] if isinstance(key, int) else np.asarray(raw_key(key)).reshape(-1).tolist()
    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.ones(s), (n, z))
    transition = rng.dirichlet(np.ones(s), (n, z, s, g))
    reward = rng.uniform(size=(z, s ** n, g ** n))
    if reporter == "identity":
        emission = np.broadcast_to(np.eye(s), (n, z, s, s))
    elif reporter == "noisy":
        emission = np.broadcast_to((1.0 - noise) * np.eye(s) + noise / s, (n, z, s, s))
    else:
        emission = rng.dirichlet(np.ones(o), (n, z, s))
    return make_multi_agent_instance(np.full(z, 1.0 / z), init, transition, emission, reward, horizon,
                                     name="random_multi_agent")
