"""Several Actors under one Planner (SPEC 8): joint indices, the flattened product instance and each
Actor's own view. (The simulation of several Actors is :class:`jaxbail.env.SeveralActors`, their
filter :class:`jaxbail.belief.FactoredFilter`, BAWM's plan :func:`jaxbail.experts.posterior_mean_plan`,
the float64 theory in :mod:`jaxbail.theory`, the random family
:func:`jaxbail.instances.coordination.random_multi_agent`.)

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

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail.instance import MAX_JOINT_ENTRIES, Instance, InstanceError, MultiAgentInstance, make_instance

__all__ = ["ravel_joint", "unravel_joint", "flatten", "actor_view", "random_multi_agent"]


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


from jaxbail.instances.coordination import random_multi_agent  # noqa: E402  (kept importable from here)
