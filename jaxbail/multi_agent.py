"""Several Actors under one Planner (SPEC 8): joint indices, the flattened product instance, the
factorised simulation tables, the posterior-mean plan and float64 theory helpers.

A :class:`~jaxbail.instance.MultiAgentInstance` has ``N`` Actors that are independent given the
task. Everything per step that can factorise does: the environment draws each Actor's state and
observation from its own kernel and Reporter, and the filter (:class:`jaxbail.belief.FactoredFilter`)
keeps one state belief per Actor and task, so an update costs ``O(N Z S^2 G)`` instead of the
flattened product's ``O(Z S^(2N) G^N)``. What is joint by nature stays joint: the reward, the
experts and BAIL's distribution over ``G^N`` joint subgoals (bounded by
:data:`~jaxbail.instance.MAX_JOINT_ENTRIES`).

Joint indices are mixed-radix with actor 0 the most significant digit (C order).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail.experts import compute_experts, greedy
from jaxbail.instance import MAX_JOINT_ENTRIES, Instance, InstanceError, MultiAgentInstance, make_instance
from jaxbail.sampling import cumulative, draw

__all__ = ["ravel_joint", "unravel_joint", "flatten", "actor_view", "FactoredTables", "env_tables", "env_reset",
           "env_step", "mean_model_plan", "evaluate", "frozen_posterior", "product_factors",
           "random_multi_agent"]


# ----------------------------------------------------------------------------- joint indices


def _powers(base: int, num_actors: int) -> np.ndarray:
    return base ** np.arange(num_actors - 1, -1, -1, dtype=np.int64)


def ravel_joint(digits: jax.Array, base: int) -> jax.Array:
    """Joint index ``sum_i digits[..., i] base^(N-1-i)`` of per-actor indices ``digits [..., N]`` (int32)."""
    powers = jnp.asarray(_powers(base, digits.shape[-1]), jnp.int32)
    return jnp.sum(digits.astype(jnp.int32) * powers, axis=-1)


def unravel_joint(index: jax.Array, base: int, num_actors: int) -> jax.Array:
    """Per-actor indices ``[..., N]`` of joint indices ``index [...]`` (the inverse of :func:`ravel_joint`)."""
    powers = jnp.asarray(_powers(base, num_actors), jnp.int32)
    return (jnp.asarray(index, jnp.int32)[..., None] // powers) % base


# ----------------------------------------------------------------------------- the flattened product


def _kron_tables(tables: np.ndarray, axes: int) -> np.ndarray:
    """Product over the leading actor axis of ``tables [N, Z, a_1..a_k]``: ``[Z, a_1^N .. a_k^N]``,
    each joint axis mixed-radix with actor 0 the most significant digit."""
    out = tables[0]
    for table in tables[1:]:
        z = out.shape[0]
        expanded = out.reshape((z,) + tuple(d for dim in out.shape[1:] for d in (dim, 1)))
        factor = table.reshape((z,) + tuple(d for dim in table.shape[1:] for d in (1, dim)))
        out = (expanded * factor).reshape((z,) + tuple(a * b for a, b in zip(out.shape[1:], table.shape[1:])))
    assert out.ndim == axes + 1
    return out


def flatten(instance: MultiAgentInstance, name: str | None = None) -> Instance:
    """The same system as a single-Actor :class:`~jaxbail.instance.Instance` on the product space.

    ``S^N`` states, ``G^N`` subgoals, ``O^N`` observations (mixed-radix, actor 0 most significant),
    ``init``, ``transition`` and ``emission`` the products of the per-actor tables (in float64,
    then float32), the joint reward unchanged. Its exact posterior is the factorised one, so it is
    the test oracle for :class:`jaxbail.belief.FactoredFilter`; its ``[Z, S^N, G^N, S^N]`` kernel is
    what the factorisation avoids (capped at :data:`~jaxbail.instance.MAX_JOINT_ENTRIES` entries).

    Raises:
      InstanceError: the flattened kernel would exceed the memory budget.
    """
    n, z, s, g, o = (instance.num_actors, instance.num_tasks, instance.actor_states, instance.actor_subgoals,
                     instance.actor_observations)
    entries = z * s ** n * g ** n * s ** n
    if entries > MAX_JOINT_ENTRIES:
        raise InstanceError(f"num_actors: the flattened kernel [Z, S^N, G^N, S^N] of {n} Actors has {entries:,} "
                            f"entries, over the memory budget of {MAX_JOINT_ENTRIES:,}")
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    init = _kron_tables(f64(instance.init), 1)
    transition = _kron_tables(f64(instance.transition), 3)
    emission = _kron_tables(f64(instance.emission), 2)
    # rows are products of float32 rows that sum to 1: renormalise in float64 before the cast
    init /= init.sum(axis=-1, keepdims=True)
    transition /= transition.sum(axis=-1, keepdims=True)
    emission /= emission.sum(axis=-1, keepdims=True)
    assert init.shape == (z, s ** n) and emission.shape == (z, s ** n, o ** n)
    return make_instance(f64(instance.prior), init, transition, emission, f64(instance.reward), instance.horizon,
                         name=instance.name + "-flat" if name is None else name, validate=False)


def actor_view(instance: MultiAgentInstance, actor: int) -> Instance:
    """Actor ``actor`` alone as a single-Actor instance (its own tables; reward 0): for its filter
    tables and its distinguishability."""
    zeros = jnp.zeros(instance.transition.shape[1:4], jnp.float32)
    return Instance(prior=instance.prior, init=instance.init[actor], transition=instance.transition[actor],
                    emission=instance.emission[actor], reward=zeros, horizon=instance.horizon,
                    name=f"{instance.name}-actor{actor}")


# ----------------------------------------------------------------------------- simulation


class FactoredTables(NamedTuple):
    """Environment tables of a multi-agent run (traced): per-actor cumulative tables for the draws,
    the joint regret table.

    Attributes:
      cum_init: ``[N, Z, S]``; cum_transition: ``[N, Z, S, G, S]``; cum_emission: ``[N, Z, S, O]``.
      gap_reward: ``[H, Z, S^N, G^N, 2]`` (``V* - Q*``, ``r``) over joint states and subgoals.
      value: ``[Z]`` the environment's ``J*``.
    """

    cum_init: jax.Array
    cum_transition: jax.Array
    cum_emission: jax.Array
    gap_reward: jax.Array
    value: jax.Array


def env_tables(env: MultiAgentInstance) -> FactoredTables:
    """Cumulative per-actor tables and the joint optimal values, prepared once per run."""
    env_experts = compute_experts(env)
    gap = env_experts.v[:-1, ..., None] - env_experts.q
    gap_reward = jnp.stack([gap, jnp.broadcast_to(env.reward, gap.shape)], axis=-1)
    return FactoredTables(cum_init=cumulative(env.init), cum_transition=cumulative(env.transition),
                          cum_emission=cumulative(env.emission), gap_reward=gap_reward, value=env_experts.value)


def env_reset(tables: FactoredTables, task, u_state: jax.Array, u_obs: jax.Array):
    """Per-actor ``s^i_1 ~ mu^i_z``, ``o^i_1 ~ O^i_z(.|s^i_1)`` from ``[N]`` uniforms each; returns ``[N]``, ``[N]``."""
    actors = jnp.arange(tables.cum_init.shape[0])
    state = draw(tables.cum_init[actors, task], u_state)
    return state, draw(tables.cum_emission[actors, task, state], u_obs)


def env_step(tables: FactoredTables, task, state: jax.Array, subgoal: jax.Array, u_state: jax.Array,
             u_obs: jax.Array):
    """Per-actor ``s'^i ~ P^i_z(.|s^i, g^i)``, ``o'^i ~ O^i_z(.|s'^i)``: ``state``, ``subgoal`` (per-actor
    digits) and the uniforms are ``[N]``."""
    actors = jnp.arange(tables.cum_init.shape[0])
    next_state = draw(tables.cum_transition[actors, task, state, subgoal], u_state)
    return next_state, draw(tables.cum_emission[actors, task, next_state], u_obs)


# ----------------------------------------------------------------------------- BAWM's mean-model plan


def mean_model_plan(task_posterior: jax.Array, instance: MultiAgentInstance) -> jax.Array:
    """Greedy plan ``[H, S^N, G^N]`` by backward induction in the posterior-mean model of several Actors.

    ``Pbar = sum_z w(z) prod_i P^i_z`` is a mixture of product kernels, not a product, so the
    backup is ``sum_z w(z)`` of each task's factorised expectation (never the joint kernel).
    """
    mean_reward = jnp.einsum("z,zsg->sg", task_posterior, instance.reward)
    num_tasks, num_states = instance.num_tasks, instance.num_states

    def backup(v_next, _):
        expected = instance.expected_next(jnp.broadcast_to(v_next, (num_tasks, num_states)))
        q = mean_reward + jnp.einsum("z,zsg->sg", task_posterior, expected)
        choice = greedy(q)
        return jnp.sum(choice * q, axis=-1), choice

    _, plan = jax.lax.scan(backup, jnp.zeros(num_states, instance.reward.dtype), None, length=instance.horizon,
                           reverse=True)
    return plan


# ----------------------------------------------------------------------------- float64 theory helpers


def _expected_next64(transition: np.ndarray, v_next: np.ndarray) -> np.ndarray:
    """float64 :meth:`MultiAgentInstance.expected_next`: ``transition [N, Z, S, G, S]``, ``v [Z, S^N]``."""
    n, z, s, g = transition.shape[:4]
    x = v_next.reshape((z,) + (s,) * n)
    for i in range(n):
        x = np.einsum("zt...,zsgt->z...sg", x, transition[i])
    x = np.transpose(x, (0,) + tuple(1 + 2 * i for i in range(n)) + tuple(2 + 2 * i for i in range(n)))
    return x.reshape(z, s ** n, g ** n)


def evaluate(instance: MultiAgentInstance, policy) -> tuple[np.ndarray, np.ndarray]:
    """Float64 policy evaluation of a Markov joint policy in every task (factorised kernel).

    Args:
      policy: ``[H, S^N, G^N]`` (shared) or ``[H, Z, S^N, G^N]`` (per task).
    Returns:
      ``(J [Z], Q [H, Z, S^N, G^N])``.
    """
    reward, trans = np.asarray(instance.reward, np.float64), np.asarray(instance.transition, np.float64)
    init = np.asarray(instance.init, np.float64)
    policy = np.asarray(policy, np.float64)
    if policy.ndim == 3:
        policy = np.broadcast_to(policy[:, None], (instance.horizon,) + reward.shape)
    v = np.zeros(reward.shape[:2])
    qs = []
    for h in reversed(range(instance.horizon)):
        q = reward + _expected_next64(trans, v)
        v = np.sum(policy[h] * q, axis=-1)
        qs.append(q)
    x = v.reshape((instance.num_tasks,) + (instance.actor_states,) * instance.num_actors)
    for i in range(instance.num_actors):
        x = np.einsum("zs...,zs->z...", x, init[i])
    return x, np.stack(qs[::-1])


def frozen_posterior(instance: MultiAgentInstance, policy) -> tuple[bool, str]:
    """Whether the posterior can never move under a joint policy ``[..., G^N]`` (SPEC 6, per Actor).

    The Actors are independent given the task, so it is frozen when every Actor's initial law
    and Reporter are the same in all tasks and, for every joint subgoal the policy uses, every
    Actor's kernel under its component is the same in all tasks.
    """
    n, g = instance.num_actors, instance.actor_subgoals
    policy = np.asarray(policy, np.float64)
    used = np.flatnonzero(policy.reshape(-1, g ** n).max(axis=0) > 0)
    digits = (used[:, None] // _powers(g, n)) % g  # [used, N]
    init, emission = np.asarray(instance.init, np.float64), np.asarray(instance.emission, np.float64)
    trans = np.asarray(instance.transition, np.float64)
    for i in range(n):
        if not np.allclose(init[i], init[i, :1], atol=1e-7):
            return False, f"Actor {i}'s initial-state laws differ across tasks"
        if not np.allclose(emission[i], emission[i, :1], atol=1e-7):
            return False, f"Actor {i}'s Reporters differ across tasks"
        used_i = np.unique(digits[:, i])
        block = trans[i][:, :, used_i]
        if not np.allclose(block, block[:1], atol=1e-7):
            return False, f"a joint subgoal the policy uses gives Actor {i} task-dependent transitions"
    return True, (f"the policy uses joint subgoals {used.tolist()}, whose per-Actor laws are the same in every task")


def product_factors(explore, num_actors: int, num_subgoals: int) -> np.ndarray:
    """Per-actor factors ``[N, G]`` of a product exploration policy over joint subgoals.

    ``explore``: ``None`` (uniform over ``G^N``: uniform for every Actor) or ``[G^N]``.

    Raises:
      ValueError: ``explore`` is not a product of per-actor distributions.
    """
    if explore is None:
        return np.full((num_actors, num_subgoals), 1.0 / num_subgoals)
    joint = np.asarray(explore, np.float64).reshape((num_subgoals,) * num_actors)
    joint = joint / joint.sum()
    factors = np.stack([joint.sum(axis=tuple(j for j in range(num_actors) if j != i)) for i in range(num_actors)])
    product = factors[0]
    for factor in factors[1:]:
        product = np.multiply.outer(product, factor)
    if not np.allclose(product, joint, atol=1e-7):
        raise ValueError("the exploration policy over joint subgoals is not a product of per-Actor policies; "
                         "eta is derived here for independent Actors under a product exploration policy")
    return factors


# ----------------------------------------------------------------------------- a random family


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
    from jaxbail.instance import make_multi_agent_instance
    from jaxbail.instances._common import check_int, check_unit
    from jaxbail.rng import raw_key

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
