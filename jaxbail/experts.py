"""Task experts: backward induction in each task's fully observed MDP, batched over tasks."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxbail.instance import Instance

TIE_TOL = 1e-5
"""Subgoals whose Q* lies within this of the best count as tied; ties go to the lowest index."""


class Experts(NamedTuple):
    """Optimal values and the expert policies of every task, indexed from step 0.

    With instructions (``reward [Z, W, S, G]``) every table gains the instruction axis after
    the task axis: ``q [H, Z, W, S, G]``, ``v [H + 1, Z, W, S]``, ``policy [H, Z, W, S, G]``
    (``pi*_{z, omega}``), ``value [Z, W]`` (``J*_{z, omega}``); :meth:`for_instruction` takes one
    instruction's slice. For a :class:`~jaxbail.instance.MultiAgentInstance`, ``S`` and ``G``
    are the joint ``S^N`` and ``G^N``.

    Attributes:
      q: ``[H, Z, S, G]`` ``Q*_{z,h}(s, g)``.
      v: ``[H + 1, Z, S]`` ``V*_{z,h}(s)``; ``v[H] = 0``.
      policy: ``[H, Z, S, G]`` expert subgoal probabilities ``pi*_{z,h}(g|s)``.
      value: ``[Z]`` ``J*_z = sum_s mu_z(s) V*_{z,0}(s)``.
    """

    q: jax.Array
    v: jax.Array
    policy: jax.Array
    value: jax.Array

    def for_instruction(self, instruction) -> "Experts":
        """The experts ``pi*_{., omega}`` of one instruction (``instruction`` may be traced)."""
        return Experts(q=self.q[:, :, instruction], v=self.v[:, :, instruction],
                       policy=self.policy[:, :, instruction], value=self.value[:, instruction])


def greedy(q: jax.Array) -> jax.Array:
    """One-hot of the best subgoal over the last axis; near-ties (``TIE_TOL``) to the lowest index."""
    best = jnp.max(q, axis=-1, keepdims=True)
    choice = jnp.argmax(q >= best - TIE_TOL, axis=-1)
    return jax.nn.one_hot(choice, q.shape[-1], dtype=q.dtype)


@partial(jax.jit, static_argnames=("temperature",))
def compute_experts(instance: Instance, temperature: float | None = None) -> Experts:
    """Backward induction ``Q*_{z,h}(s,g) = r_z(s,g) + sum_s' P_z(s'|s,g) V*_{z,h+1}(s')``.

    With instructions, per ``(z, omega)`` with ``r_{z, omega}`` (tables gain a ``W`` axis);
    for several Actors, over joint states and subgoals with the factorised kernel
    (``instance.expected_next``; never the ``[S^N, G^N, S^N]`` joint kernel).

    Args:
      instance: the POMDP family (an :class:`Instance` or a ``MultiAgentInstance``).
      temperature: ``None`` (default) for greedy experts with lowest-index ties;
        a positive number for Boltzmann experts ``softmax(Q*/temperature)``.
        The values ``V*`` and ``J*`` are always those of the optimal policy.

    Jitted (one compile per instance sizes and temperature).
    """
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature: must be > 0 or None, got {temperature}")
    reward = instance.reward

    def backup(v_next, _):
        q = reward + instance.expected_next(v_next)
        choice = greedy(q)
        # V = Q of the greedy choice, so the expert's own gap is exactly 0.
        v = jnp.sum(choice * q, axis=-1)
        return v, (q, v)

    v_end = jnp.zeros(reward.shape[:-1], reward.dtype)  # [Z, S] ([Z, W, S]; joint S^N)
    _, (q, v) = jax.lax.scan(backup, v_end, None, length=instance.horizon, reverse=True)
    v = jnp.concatenate([v, v_end[None]], axis=0)
    if temperature is None:
        policy = greedy(q)
    else:
        policy = jax.nn.softmax(q / temperature, axis=-1)
    value = instance.start_value(v[0])
    return Experts(q=q, v=v, policy=policy, value=value)


def policy_value(instance: Instance, policy: jax.Array) -> jax.Array:
    """``J_z(pi)`` of a Markov policy ``[H, S, G]`` (or ``[H, Z, S, G]`` per task) in every task.

    With instructions, ``policy`` is ``[H, Z, W, S, G]`` (or ``[H, S, G]``, shared) and the result ``[Z, W]``.

    Returns:
      ``[Z]`` expected total reward of the policy in each task's MDP.
    """
    if policy.ndim == 3:
        policy = jnp.broadcast_to(policy.reshape((policy.shape[0],) + (1,) * (instance.reward.ndim - 2)
                                                 + policy.shape[1:]),
                                  (instance.horizon,) + instance.reward.shape)

    def backup(v_next, pi_h):
        q = instance.reward + instance.expected_next(v_next)
        v = jnp.sum(pi_h * q, axis=-1)
        return v, None

    v0, _ = jax.lax.scan(backup, jnp.zeros(instance.reward.shape[:-1], instance.reward.dtype), policy, reverse=True)
    return instance.start_value(v0)


def action_gap_max(experts: Experts) -> jax.Array:
    """``Dmax = max_{z,h,s,g} V*_{z,h}(s) - Q*_{z,h}(s,g)``, the largest action gap."""
    return jnp.max(experts.v[:-1, ..., None] - experts.q)


def posterior_mean_plan(task_posterior: jax.Array, instance) -> jax.Array:
    """Greedy plan ``[H, S, G]`` by backward induction in the posterior-mean model of an instance whose
    kernel is applied by ``instance.expected_next`` (BAWM's plan for several Actors: ``[H, S^N, G^N]``).

    ``Pbar = sum_z w(z) P_z`` of several Actors is a mixture of product kernels, not a product, so the
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
