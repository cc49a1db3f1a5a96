"""Exact Bayesian filter over the joint (task, state), task marginal kept in log space.

Representations of the same posterior, with the same read interface for planners
(``task_posterior``, ``joint``, ``mixture``, ``task_mixture``, ``state_marginal``):

- :class:`Belief`: the general one, ``log_task [Z]`` and ``q(s | z) [Z, S]``;
- :class:`KnownStateBelief`: when every task's Reporter is deterministic and injective,
  each task's state is known from the last observation, so the posterior is
  ``log_task [Z]`` and one state index per task. :class:`KnownStateFilter` updates it
  with one row of an observation-indexed likelihood table per step (``Z`` numbers)
  instead of ``[Z, S]`` passes; the runner picks it where it is exact;
- for several Actors (:class:`~jaxbail.instance.MultiAgentInstance`), which are
  independent given the task, :class:`FactoredBelief` (``log_task [Z]`` and one state
  belief ``[Z, S]`` per Actor) and :class:`FactoredKnownStateBelief`, updated by
  :class:`FactoredFilter` and :class:`FactoredKnownStateFilter` at a cost linear in ``N``,
  never a table over the ``S^N`` joint states.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
from flax import struct

from jaxbail.instance import Instance
from jaxbail.multi_agent import actor_view, ravel_joint, unravel_joint


@runtime_checkable
class BeliefView(Protocol):
    """The read interface every posterior representation offers planners (:class:`Belief`,
    :class:`KnownStateBelief`, :class:`FactoredBelief`, :class:`FactoredKnownStateBelief`); ``S``
    and ``G`` are joint (``S^N``, ``G^N``) for several Actors.

    Attributes:
      log_task: ``[Z]`` log task posterior (``-inf`` for ruled-out tasks).
    """

    log_task: jax.Array

    @property
    def task_posterior(self) -> jax.Array:
        """``[Z]`` the task marginal ``w(z)``."""

    @property
    def state(self) -> jax.Array:
        """``[Z, S]`` ``q(s | z)`` (``[N, Z, S]`` per Actor for several Actors)."""

    @property
    def joint(self) -> jax.Array:
        """``[Z, S]`` the joint ``b(z, s)``."""

    def mixture(self, policy_h: jax.Array) -> jax.Array:
        """``[G]`` ``sum_{z,s} b(z, s) pi_z(g | s)`` for a per-task policy ``policy_h [Z, S, G]`` (BAIL's rule)."""

    def task_mixture(self, policy_h: jax.Array, task: jax.Array) -> jax.Array:
        """``[G]`` task ``task``'s policy acting on its state belief."""

    def state_marginal(self) -> jax.Array:
        """``[S]`` ``sum_z b(z, s)``."""


class Belief(NamedTuple):
    """``b(z, s) = exp(log_task[z]) * state[z, s]``.

    The task marginal is kept in log space (it is what becomes extreme across
    episodes); the state distribution given each task is kept normalised.

    Attributes:
      log_task: ``[Z]`` log task posterior, ``logsumexp = 0``; ``-inf`` for ruled-out tasks.
      state: ``[Z, S]`` ``q(s | z)``, each row sums to 1.
    """

    log_task: jax.Array
    state: jax.Array

    @property
    def task_posterior(self) -> jax.Array:
        """``[Z]`` the task marginal ``w(z)``."""
        return jnp.exp(self.log_task)

    @property
    def joint(self) -> jax.Array:
        """``[Z, S]`` the joint ``b(z, s)``."""
        return jnp.exp(self.log_task)[:, None] * self.state

    def mixture(self, policy_h: jax.Array) -> jax.Array:
        """``[G]`` ``sum_{z,s} b(z, s) pi_z(g | s)`` for a per-task policy ``policy_h [Z, S, G]`` (BAIL's rule)."""
        return jnp.einsum("zs,zsg->g", self.joint, policy_h)

    def task_mixture(self, policy_h: jax.Array, task: jax.Array) -> jax.Array:
        """``[G]`` task ``task``'s policy acting on the state belief ``q(s | task)``."""
        return jnp.einsum("s,sg->g", self.state[task], policy_h[task])

    def state_marginal(self) -> jax.Array:
        """``[S]`` ``sum_z b(z, s)``."""
        return jnp.sum(self.joint, axis=0)


@struct.dataclass
class KnownStateBelief:
    """The posterior when the state of every task is known: ``b(z, s) = w(z) [s = s_z]``.

    Attributes:
      log_task: ``[Z]`` log task posterior (``-inf`` for ruled-out tasks).
      state_index: ``[Z]`` int32 ``s_z``, the state task ``z``'s Reporter maps the last observation to.
      observation: int32 scalar, that observation.
      num_states: ``S`` (static).
    """

    log_task: Any
    state_index: Any
    observation: Any
    num_states: int = struct.field(pytree_node=False)

    @property
    def task_posterior(self) -> jax.Array:
        """``[Z]`` the task marginal ``w(z)``."""
        return jnp.exp(self.log_task)

    @property
    def state(self) -> jax.Array:
        """``[Z, S]`` ``q(s | z)``: one-hot rows."""
        return jax.nn.one_hot(self.state_index, self.num_states, dtype=self.log_task.dtype)

    @property
    def joint(self) -> jax.Array:
        """``[Z, S]`` the joint ``b(z, s)``."""
        return self.task_posterior[:, None] * self.state

    def mixture(self, policy_h: jax.Array) -> jax.Array:
        """``[G]`` ``sum_z w(z) pi_z(g | s_z)``: one gathered row per task."""
        rows = policy_h[jnp.arange(policy_h.shape[0]), self.state_index]  # [Z, G]
        return jnp.sum(self.task_posterior[:, None] * rows, axis=0)

    def task_mixture(self, policy_h: jax.Array, task: jax.Array) -> jax.Array:
        """``[G]`` ``pi_task(g | s_task)``."""
        return policy_h[task, self.state_index[task]]

    def state_marginal(self) -> jax.Array:
        """``[S]`` ``sum_z w(z) [s = s_z]``."""
        return self.task_posterior @ self.state


class Update(NamedTuple):
    """A filtered belief with the step's log normaliser and misspecification flag.

    Attributes:
      belief: the new belief (the old one, unchanged, on a misspecification event).
      log_normaliser: ``log p(o | history)`` under the model; ``-inf`` on a misspecification event.
      misspecified: True when the observation has probability 0 under every ``(z, s)``
        of positive belief.
    """

    belief: BeliefView
    log_normaliser: jax.Array
    misspecified: jax.Array


def prior_log_task(prior: jax.Array) -> jax.Array:
    """``[Z]`` normalised log prior, the task belief ``w_1`` at the start of a run."""
    log_prior = jnp.log(prior)
    return log_prior - jax.nn.logsumexp(log_prior)


def normalise(log_task: jax.Array, log_joint: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The normalise-and-flag step of every filter: ``(new log_task, log normaliser, misspecified)``.

    ``log_joint [Z]`` is ``log w(z) + log p(evidence | z)``; when it is ``-inf`` for every task (an
    observation impossible under the model: a misspecification event) the old ``log_task`` is kept.
    """
    log_normaliser = jax.nn.logsumexp(log_joint)
    misspecified = ~jnp.isfinite(log_normaliser)
    new_log_task = jnp.where(misspecified, log_task, log_joint - jnp.where(misspecified, 0.0, log_normaliser))
    return new_log_task, log_normaliser, misspecified


def _absorb_states(log_task: jax.Array, fallback_state: jax.Array, unnormalised: jax.Array):
    """:func:`absorb` for state beliefs ``[..., Z, S]`` (a leading Actor axis: the task evidence is the
    product of the Actors' evidences); returns ``(new log_task, new state, log normaliser, misspecified)``."""
    evidence = jnp.sum(unnormalised, axis=-1)  # [..., Z]
    positive = evidence > 0
    log_evidence = _log(evidence)
    if log_evidence.ndim > 1:  # several Actors: the product of their evidences
        log_evidence = jnp.sum(log_evidence, axis=0)
    log_joint = log_task + log_evidence
    new_log_task, log_normaliser, misspecified = normalise(log_task, log_joint)
    new_state = jnp.where(positive[..., None] & ~misspecified,
                          unnormalised / jnp.where(positive, evidence, 1.0)[..., None], fallback_state)
    return new_log_task, new_state, log_normaliser, misspecified


def absorb(log_task: jax.Array, fallback_state: jax.Array, unnormalised: jax.Array) -> Update:
    """Fold ``unnormalised[z, s] = q_old-weighted likelihood`` into the task marginal.

    ``b'(z, s) ∝ w(z) * unnormalised[z, s]``, renormalised in log space. The
    per-task evidence ``c_z = sum_s unnormalised[z, s]`` is the likelihood of the
    new observation given the task.
    """
    log_task, state, log_normaliser, misspecified = _absorb_states(log_task, fallback_state, unnormalised)
    return Update(Belief(log_task, state), log_normaliser, misspecified)


def begin_episode(model: Instance, log_task: jax.Array, observation: jax.Array) -> Update:
    """``b_{t,1}(z, s) ∝ w_t(z) mu_z(s) O_z(o_1 | s)``."""
    unnormalised = model.init * model.emission[:, :, observation]
    return absorb(log_task, model.init, unnormalised)


def predict(model: Instance, state: jax.Array, subgoal: jax.Array) -> jax.Array:
    """``[Z, S']`` state prediction ``sum_s q(s|z) P_z(s'|s, g)`` for the chosen subgoal.

    Contracts the belief with the transitions of *all* subgoals, then selects
    one with a chain of ``where``: under ``vmap`` over seeds this is one dense
    batched matrix product and an elementwise select, instead of a per-seed
    gather of a ``[Z, S, S]`` table (measured 20x slower on CPU) or a one-hot
    contraction (which XLA turns into one tiny matrix product per seed).
    """
    all_subgoals = jnp.einsum("zs,zsgt->zgt", state, model.transition)
    chosen = all_subgoals[:, 0]
    for g in range(1, model.num_subgoals):
        chosen = jnp.where(subgoal == g, all_subgoals[:, g], chosen)
    return chosen


def update(model: Instance, belief: Belief, subgoal: jax.Array, observation: jax.Array) -> Update:
    """``b'(z, s') ∝ sum_s b(z, s) P_z(s'|s, g) O_z(o'|s')``."""
    predicted = predict(model, belief.state, subgoal)
    unnormalised = predicted * model.emission[:, :, observation]
    return absorb(belief.log_task, predicted, unnormalised)


def delusional_evidence(belief: Belief, expert_policy_h: jax.Array, subgoal: jax.Array) -> Update:
    """The *delusional* variant's extra step: treat the planner's own subgoal as expert evidence.

    ``b(z, s) ∝ b(z, s) pi*_{z,h}(g | s)``: what a model pretrained on pure
    expert demonstrations computes. Not the exact posterior of SPEC 3.

    Args:
      expert_policy_h: ``[Z, S, G]`` the experts' policy at this step.
    """
    likelihood = jnp.take(expert_policy_h, subgoal, axis=-1)  # [Z, S]
    return absorb(belief.log_task, belief.state, belief.state * likelihood)


def filter_episode(model: Instance, log_task: jax.Array, observations: jax.Array,
                   subgoals: jax.Array) -> tuple[Belief, jax.Array, jax.Array, jax.Array]:
    """Filter one whole episode (for replay, checks and theory).

    Args:
      observations: ``[H + 1]`` ints; subgoals: ``[H]`` ints.
    Returns:
      ``(beliefs, log_normalisers, misspecified, end_log_task)`` where ``beliefs``
      stacks the ``H`` decision-time beliefs (leaves ``[H, ...]``), the
      normalisers and flags are ``[H + 1]``, and ``end_log_task`` ``[Z]`` is the
      task marginal after the last observation.
    """
    return filter_episode_with(DenseFilter(model), log_task, observations, subgoals)


@struct.dataclass
class DenseFilter:
    """The general filter (:func:`begin_episode`, :func:`update`) over :class:`Belief`; any model."""

    model: Instance

    def begin_episode(self, log_task: jax.Array, observation: jax.Array) -> Update:
        return begin_episode(self.model, log_task, observation)

    def update(self, belief: Belief, subgoal: jax.Array, observation: jax.Array) -> Update:
        return update(self.model, belief, subgoal, observation)


@struct.dataclass
class KnownStateFilter:
    """The exact filter over :class:`KnownStateBelief`, valid when every task's Reporter is deterministic
    and injective (:func:`jaxbail.instance.reporter_is_injective`), the model is the environment and the
    posterior is exact (then no observation is ever impossible under every task).

    Build it with :meth:`build`. Tables (``O`` observations, ``s_z(o)`` the state task ``z`` maps ``o`` to):

    Attributes:
      state_of_obs: ``[Z, O]`` int32 ``s_z(o)`` (0 where task ``z`` never shows ``o``).
      log_first: ``[O, Z]`` ``log mu_z(s_z(o))`` (``-inf`` where task ``z`` never shows ``o``).
      log_step: ``[O, G, O, Z]`` ``log P_z(s_z(o') | s_z(o), g)`` (``-inf`` where impossible): one
        contiguous ``[Z]`` row per step, the same numbers as :func:`update` on point masses.
    """

    state_of_obs: Any
    log_first: Any
    log_step: Any
    num_states: int = struct.field(pytree_node=False)

    @classmethod
    def build(cls, model: Instance) -> "KnownStateFilter":
        shows = model.emission > 0  # [Z, S, O]
        state_of_obs = jnp.argmax(shows, axis=1).astype(jnp.int32)  # [Z, O]
        possible = jnp.any(shows, axis=1)  # [Z, O]
        tasks = jnp.arange(model.num_tasks)[:, None]
        first = jnp.where(possible, model.init[tasks, state_of_obs], 0.0)  # [Z, O]
        step = model.transition[tasks[:, :, None, None], state_of_obs[:, :, None, None],
                                jnp.arange(model.num_subgoals)[None, None, :, None],
                                state_of_obs[:, None, None, :]]  # [Z, O, G, O]
        step = jnp.where(possible[:, None, None, :], step, 0.0)
        return cls(state_of_obs=state_of_obs, log_first=_log(first).T, log_step=jnp.moveaxis(_log(step), 0, -1),
                   num_states=model.num_states)

    def _absorb(self, log_task: jax.Array, log_likelihood: jax.Array, observation: jax.Array) -> Update:
        new_log_task, log_normaliser, misspecified = normalise(log_task, log_task + log_likelihood)
        belief = KnownStateBelief(new_log_task, self.state_of_obs[:, observation], observation,
                                  num_states=self.num_states)
        return Update(belief, log_normaliser, misspecified)

    def begin_episode(self, log_task: jax.Array, observation: jax.Array) -> Update:
        return self._absorb(log_task, self.log_first[observation], observation)

    def update(self, belief: KnownStateBelief, subgoal: jax.Array, observation: jax.Array) -> Update:
        return self._absorb(belief.log_task, self.log_step[belief.observation, subgoal, observation], observation)


def _log(p: jax.Array) -> jax.Array:
    """``log p`` with ``-inf`` at exact zeros (no warning, no NaN)."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)


# ----------------------------------------------------------------------------- several Actors


def _digits(index: jax.Array, base: int, num_actors: int) -> jax.Array:
    """Per-actor digits ``[N]`` of a joint index, or ``index`` itself when it is already ``[N]``."""
    index = jnp.asarray(index)
    return index.astype(jnp.int32) if index.ndim == 1 else unravel_joint(index, base, num_actors)


def _contract_actors(table: jax.Array, state: jax.Array) -> jax.Array:
    """``sum_{s^1..s^N} prod_i state[i, z, s^i] table[z, s^1, .., s^N, ...]``, one Actor at a time.

    ``table [Z, S, .., S, ...]`` (``N`` state axes after the task axis), ``state [N, Z, S]``.
    """
    for i in range(state.shape[0]):  # axis 1 is always the next Actor's state
        table = jnp.einsum("zs...,zs->z...", table, state[i])
    return table


def _outer_actors(state: jax.Array) -> jax.Array:
    """``[Z, S^N]`` ``prod_i state[i, z, s^i]`` at joint index ``s`` (mixed radix, actor 0 first)."""
    out = state[0]
    for i in range(1, state.shape[0]):
        out = (out[:, :, None] * state[i][:, None, :]).reshape(out.shape[0], -1)
    return out


class FactoredBelief(NamedTuple):
    """The exact posterior of several Actors that are independent given the task:
    ``b(z, s^1..s^N) = w(z) prod_i q_i(s^i | z)``.

    Same read interface as :class:`Belief` over *joint* states and subgoals (``S^N``, ``G^N``);
    ``state`` is per Actor.

    Attributes:
      log_task: ``[Z]`` log task posterior (``-inf`` for ruled-out tasks).
      state: ``[N, Z, S]`` ``q_i(s | z)``, each row sums to 1.
    """

    log_task: jax.Array
    state: jax.Array

    @property
    def task_posterior(self) -> jax.Array:
        """``[Z]`` the task marginal ``w(z)``."""
        return jnp.exp(self.log_task)

    @property
    def joint(self) -> jax.Array:
        """``[Z, S^N]`` the joint ``b(z, s)`` (exponential in ``N``: for checks and small ``N``)."""
        return self.task_posterior[:, None] * _outer_actors(self.state)

    def mixture(self, policy_h: jax.Array) -> jax.Array:
        """``[G^N]`` ``sum_{z,s} b(z, s) pi_z(g | s)`` for ``policy_h [Z, S^N, G^N]``, contracted Actor by Actor
        (``O(Z S^N G^N)``: the size of the policy table, never more)."""
        num_actors, num_states = self.state.shape[0], self.state.shape[2]
        table = policy_h.reshape((policy_h.shape[0],) + (num_states,) * num_actors + policy_h.shape[-1:])
        return jnp.einsum("z,zg->g", self.task_posterior, _contract_actors(table, self.state))

    def task_mixture(self, policy_h: jax.Array, task: jax.Array) -> jax.Array:
        """``[G^N]`` task ``task``'s policy acting on its state belief ``prod_i q_i(. | task)``."""
        num_actors, num_states = self.state.shape[0], self.state.shape[2]
        table = policy_h[task].reshape((1,) + (num_states,) * num_actors + policy_h.shape[-1:])
        return _contract_actors(table, self.state[:, task][:, None])[0]

    def state_marginal(self) -> jax.Array:
        """``[S^N]`` ``sum_z b(z, s)``."""
        return jnp.sum(self.joint, axis=0)


def factored_absorb(log_task: jax.Array, fallback_state: jax.Array, unnormalised: jax.Array) -> Update:
    """:func:`absorb` for several Actors: ``unnormalised [N, Z, S]``; the task evidence is the product of
    the Actors' evidences (a sum of logs), each Actor's state belief is normalised on its own."""
    log_task, state, log_normaliser, misspecified = _absorb_states(log_task, fallback_state, unnormalised)
    return Update(FactoredBelief(log_task, state), log_normaliser, misspecified)


@struct.dataclass
class FactoredFilter:
    """The exact filter of a :class:`~jaxbail.instance.MultiAgentInstance` over :class:`FactoredBelief`.

    Subgoals and observations are joint indices (as the planner sees them) or per-actor digits
    ``[N]``. Per step ``O(N Z S^2 G)``: each Actor's prediction under its own subgoal component,
    each Actor's likelihood of its own observation; the task evidence is their product.
    """

    model: Any

    def _split(self, index, base):
        return _digits(index, base, self.model.num_actors)

    def begin_episode(self, log_task: jax.Array, observation: jax.Array) -> Update:
        """``b_{t,1}(z, s) ∝ w_t(z) prod_i mu^i_z(s^i) O^i_z(o^i_1 | s^i)``."""
        model = self.model
        obs = self._split(observation, model.actor_observations)
        likelihood = model.emission[jnp.arange(model.num_actors), :, :, obs]  # [N, Z, S]
        return factored_absorb(log_task, model.init, model.init * likelihood)

    def update(self, belief: FactoredBelief, subgoal: jax.Array, observation: jax.Array) -> Update:
        """``b'(z, s') ∝ sum_s b(z, s) prod_i P^i_z(s'^i|s^i, g^i) O^i_z(o'^i|s'^i)``, Actor by Actor."""
        model = self.model
        actors = jnp.arange(model.num_actors)
        goals = self._split(subgoal, model.actor_subgoals)
        obs = self._split(observation, model.actor_observations)
        # as in `predict`: contract with every subgoal at once, then select each Actor's own
        all_subgoals = jnp.einsum("nzs,nzsgt->nzgt", belief.state, model.transition)
        predicted = all_subgoals[:, :, 0]
        for g in range(1, model.actor_subgoals):
            predicted = jnp.where((goals == g)[:, None, None], all_subgoals[:, :, g], predicted)
        return factored_absorb(belief.log_task, predicted, predicted * model.emission[actors, :, :, obs])


@struct.dataclass
class FactoredKnownStateBelief:
    """:class:`KnownStateBelief` for several Actors: every Actor's Reporter is deterministic and injective,
    so ``b(z, s) = w(z) [s = s_z]`` with ``s_z`` the joint state of per-actor states ``s^i_z``.

    Attributes:
      log_task: ``[Z]`` log task posterior.
      state_index: ``[N, Z]`` int32 ``s^i_z``.
      observation: ``[N]`` int32, the last per-actor observations.
      num_states: per-actor ``S`` (static).
    """

    log_task: Any
    state_index: Any
    observation: Any
    num_states: int = struct.field(pytree_node=False)

    @property
    def task_posterior(self) -> jax.Array:
        return jnp.exp(self.log_task)

    @property
    def joint_index(self) -> jax.Array:
        """``[Z]`` each task's joint state index (``[..., Z]`` for stacked beliefs)."""
        return ravel_joint(jnp.swapaxes(self.state_index, -1, -2), self.num_states)

    @property
    def state(self) -> jax.Array:
        """``[N, Z, S]`` one-hot per-actor rows."""
        return jax.nn.one_hot(self.state_index, self.num_states, dtype=self.log_task.dtype)

    @property
    def joint(self) -> jax.Array:
        """``[Z, S^N]`` the joint ``b(z, s)``."""
        num_joint = self.num_states ** self.state_index.shape[0]
        return self.task_posterior[:, None] * jax.nn.one_hot(self.joint_index, num_joint, dtype=self.log_task.dtype)

    def mixture(self, policy_h: jax.Array) -> jax.Array:
        """``[G^N]`` ``sum_z w(z) pi_z(g | s_z)``: one gathered row per task."""
        rows = policy_h[jnp.arange(policy_h.shape[0]), self.joint_index]  # [Z, G^N]
        return jnp.sum(self.task_posterior[:, None] * rows, axis=0)

    def task_mixture(self, policy_h: jax.Array, task: jax.Array) -> jax.Array:
        return policy_h[task, self.joint_index[task]]

    def state_marginal(self) -> jax.Array:
        """``[S^N]`` ``sum_z w(z) [s = s_z]``."""
        return jnp.sum(self.joint, axis=0)


@struct.dataclass
class FactoredKnownStateFilter:
    """The exact filter over :class:`FactoredKnownStateBelief` (every Actor's Reporter deterministic and
    injective, the model the environment, the exact posterior): per step ``N`` gathered ``[Z]`` rows of
    each Actor's :class:`KnownStateFilter` table, summed. Build it with :meth:`build`.

    Attributes:
      state_of_obs: ``[N, Z, O]``; log_first: ``[N, O, Z]``; log_step: ``[N, O, G, O, Z]``: the
        per-actor tables of :class:`KnownStateFilter`.
    """

    state_of_obs: Any
    log_first: Any
    log_step: Any
    num_states: int = struct.field(pytree_node=False)

    @classmethod
    def build(cls, model) -> "FactoredKnownStateFilter":
        per_actor = [KnownStateFilter.build(actor_view(model, i)) for i in range(model.num_actors)]
        stack = lambda name: jnp.stack([getattr(f, name) for f in per_actor])  # noqa: E731
        return cls(state_of_obs=stack("state_of_obs"), log_first=stack("log_first"), log_step=stack("log_step"),
                   num_states=model.actor_states)

    def _absorb(self, log_task, log_likelihood, obs) -> Update:
        new_log_task, log_normaliser, misspecified = normalise(log_task, log_task + jnp.sum(log_likelihood, axis=0))
        actors = jnp.arange(self.state_of_obs.shape[0])
        belief = FactoredKnownStateBelief(new_log_task, self.state_of_obs[actors, :, obs], obs,
                                          num_states=self.num_states)
        return Update(belief, log_normaliser, misspecified)

    def begin_episode(self, log_task: jax.Array, observation: jax.Array) -> Update:
        num_actors, num_obs = self.state_of_obs.shape[0], self.state_of_obs.shape[2]
        obs = _digits(observation, num_obs, num_actors)
        return self._absorb(log_task, self.log_first[jnp.arange(num_actors), obs], obs)

    def update(self, belief: FactoredKnownStateBelief, subgoal: jax.Array, observation: jax.Array) -> Update:
        num_actors, num_obs = self.state_of_obs.shape[0], self.state_of_obs.shape[2]
        goals = _digits(subgoal, self.log_step.shape[2], num_actors)
        obs = _digits(observation, num_obs, num_actors)
        rows = self.log_step[jnp.arange(num_actors), belief.observation, goals, obs]  # [N, Z]
        return self._absorb(belief.log_task, rows, obs)


def filter_episode_with(flt, log_task: jax.Array, observations: jax.Array, subgoals: jax.Array):
    """:func:`filter_episode` with any filter object (``begin_episode``/``update``), e.g. a factored one.

    Returns ``(beliefs, log_normalisers, misspecified, end_log_task)`` as :func:`filter_episode`.
    """
    first = flt.begin_episode(log_task, observations[0])

    def step(belief, inputs):
        g, o = inputs
        out = flt.update(belief, g, o)
        return out.belief, (belief, out.log_normaliser, out.misspecified)

    last, (beliefs, log_norms, missed) = jax.lax.scan(step, first.belief, (subgoals, observations[1:]))
    log_norms = jnp.concatenate([first.log_normaliser[None], log_norms])
    missed = jnp.concatenate([first.misspecified[None], missed])
    return beliefs, log_norms, missed, last.log_task
