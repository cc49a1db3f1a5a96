"""The environment protocol: what a simulation asks of the system it runs in, and one rollout loop.

An :class:`Environment` holds the tables prepared once per run and answers everything that
depends on which kind of system it is, so the runner, theory, replay and the CLI never ask:

- :class:`SingleActor`: one Actor (:class:`~jaxbail.instance.Instance` without instructions);
- :class:`Instructed`: one Actor with a per-episode instruction ``omega ~ q`` that selects the
  reward ``r_{z, omega}`` (the planner sees that instruction's instance and experts);
- :class:`SeveralActors`: ``N`` Actors independent given the task
  (:class:`~jaxbail.instance.MultiAgentInstance`): per-Actor draws, the factorised filter,
  joint indices for the planner.

:func:`kind_of` is the one place that looks at an instance's type. Kind-level answers (the filter,
the carried belief, the start view, the dynamics for theory) are class methods that need no
tables; per-run answers (reset, step, the episode's view, regret terms) are methods of the object
:meth:`Environment.prepare` returns. :func:`rollout` is the step loop every sampler shares (the
runner, theory's Monte Carlo ``eta``, the pretraining data); each caller keeps its own layout of
uniforms through ``uniforms(h)``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbail import belief as filt
from jaxbail import rng
from jaxbail.experts import Experts, compute_experts
from jaxbail.instance import Instance, InstanceError, MultiAgentInstance, instruction_view
from jaxbail.multi_agent import actor_view, ravel_joint, unravel_joint
from jaxbail.sampling import cumulative, draw

__all__ = ["Environment", "EpisodeView", "SingleActor", "Instructed", "SeveralActors", "Tables", "FactoredTables",
           "kind_of", "prepare", "rollout", "product_factors", "env_tables", "env_reset", "env_step", "factored_tables",
           "factored_reset", "factored_step"]


class EpisodeView(NamedTuple):
    """What the planner sees of one episode: the instruction (``-1`` without), the planner's model
    under it and its experts."""

    instruction: jax.Array
    model: Any
    experts: Experts


class Environment(Protocol):
    """The environment interface (see the module docstring). ``state`` and ``obs`` are the
    environment's own representation (per-Actor ``[N]`` for several Actors); ``subgoal`` is the
    planner's index (joint for several Actors)."""

    horizon: int

    @classmethod
    def prepare(cls, instance) -> "Environment":
        """The tables of one run (traced; called inside the compiled simulation)."""

    def uniforms(self, key: jax.Array) -> jax.Array:
        """One episode's environment uniforms ``u_env`` (layout: :func:`jaxbail.runner._episode`)."""

    def reset(self, task, u_state, u_obs) -> tuple[jax.Array, jax.Array]:
        """``s_1 ~ mu_z``, ``o_1 ~ O_z(.|s_1)``."""

    def step(self, task, state, subgoal, u_state, u_obs) -> tuple[jax.Array, jax.Array]:
        """``s' ~ P_z(.|s, g)``, ``o' ~ O_z(.|s')``."""

    def episode(self, u_env: jax.Array, model, experts: Experts) -> EpisodeView:
        """The episode's view for the planner (draws the instruction where there is one)."""

    def regret_terms(self, view: EpisodeView, task, h, state, subgoal) -> jax.Array:
        """``[2]``: ``V* - Q*`` and ``r`` of this decision, one gather."""

    def optimal_value(self, view: EpisodeView, task) -> jax.Array:
        """``J*`` of the episode (per instruction where there is one)."""

    def planner_state(self, state) -> jax.Array:
        """The state as the planner indexes it (joint for several Actors)."""

    def planner_observation(self, obs) -> jax.Array:
        """The observation as the planner sees it (joint for several Actors)."""

    @classmethod
    def filter(cls, model, known_state: bool) -> Any:
        """The exact filter that fits (``known_state``: the known-state one)."""

    @classmethod
    def carried_belief(cls, model, log_task) -> filt.BeliefView:
        """The belief ``begin_episode`` sees: ``w_t`` with the initial state laws."""

    @classmethod
    def start_view(cls, model, experts: Experts) -> EpisodeView:
        """The view a planner's ``init`` sees (sizes; instruction 0's view where there are instructions)."""


# ----------------------------------------------------------------------------- one Actor


class Tables(NamedTuple):
    """Environment tables prepared once per run (traced)."""

    cum_init: jax.Array       # [Z, S]
    cum_transition: jax.Array  # [Z, S, G, S]
    cum_emission: jax.Array   # [Z, S, O]
    reward: jax.Array         # [Z, S, G]
    v: jax.Array              # [H + 1, Z, S] env V*
    q: jax.Array              # [H, Z, S, G] env Q*
    value: jax.Array          # [Z] env J*
    gap_reward: jax.Array     # [H, Z, S, G, 2] (V* - Q*, r): both regret increments in one gather
    cum_instructions: jax.Array | None = None  # [W] with instructions (then v, q, value, gap_reward gain W)


def _gap_reward(env_experts: Experts, reward: jax.Array) -> jax.Array:
    gap = env_experts.v[:-1, ..., None] - env_experts.q
    return jnp.stack([gap, jnp.broadcast_to(reward, gap.shape)], axis=-1)


def env_tables(env: Instance) -> Tables:
    """Cumulative tables and the environment's optimal values, prepared once per run
    (with instructions, the values and regret table per ``(z, omega)``)."""
    env_experts = compute_experts(env)
    cum_instructions = None if env.instructions is None else cumulative(env.instructions)
    return Tables(cum_init=cumulative(env.init), cum_transition=cumulative(env.transition),
                  cum_emission=cumulative(env.emission), reward=env.reward, v=env_experts.v, q=env_experts.q,
                  value=env_experts.value, gap_reward=_gap_reward(env_experts, env.reward),
                  cum_instructions=cum_instructions)


def env_reset(tables: Tables, task, u_state, u_obs):
    """``s_1 ~ mu_z``, ``o_1 ~ O_z(.|s_1)`` from two uniforms."""
    state = draw(tables.cum_init[task], u_state)
    return state, draw(tables.cum_emission[task, state], u_obs)


def env_step(tables: Tables, task, state, subgoal, u_state, u_obs):
    """``s' ~ P_z(.|s, g)``, ``o' ~ O_z(.|s')`` from two uniforms."""
    next_state = draw(tables.cum_transition[task, state, subgoal], u_state)
    return next_state, draw(tables.cum_emission[task, next_state], u_obs)


def _identity(x):
    return x


class _NoInstructions:
    """What a kind without instructions answers about them: the planner sees the model itself."""

    def episode(self, u_env, model, experts):
        return EpisodeView(jnp.int32(-1), model, experts)

    @classmethod
    def start_view(cls, model, experts):
        return EpisodeView(jnp.int32(-1), model, experts)

    @classmethod
    def views(cls, instance) -> list[tuple[int, float, Instance]]:
        """``[(omega, q(omega), instance of omega)]``: ``[(-1, 1, instance)]`` without instructions."""
        return [(-1, 1.0, instance)]

    @classmethod
    def dynamics(cls, instance):
        """The instance with what the filter and ``eta`` read (the dynamics; no instruction axis)."""
        return instance

    @classmethod
    def episode_policy(cls, experts: Experts, instructions, episode: int) -> jax.Array:
        """The experts' policy episode ``episode`` of a replay mixes (``instructions``: replay's per-episode
        list, checked by :meth:`check_instructions`)."""
        return experts.policy

    @classmethod
    def check_instructions(cls, instance, instructions, num_episodes: int) -> None:
        """Replay's check of its per-episode instructions (none allowed here)."""
        if instructions is not None:
            raise InstanceError("replay: instructions given, but the instance has none")


@struct.dataclass
class SingleActor(_NoInstructions):
    """One Actor, no instructions: ``u_env`` has ``2H + 2`` numbers (0 the initial state, 1 the first
    observation, ``2 + 2h`` and ``3 + 2h`` step ``h``'s state and observation)."""

    tables: Tables
    horizon: int = struct.field(pytree_node=False)

    @classmethod
    def prepare(cls, instance: Instance) -> "SingleActor":
        return cls(env_tables(instance), instance.horizon)

    def uniforms(self, key):
        return rng.uniform(key, 2 * self.horizon + 2)

    def reset(self, task, u_state, u_obs):
        return env_reset(self.tables, task, u_state, u_obs)

    def step(self, task, state, subgoal, u_state, u_obs):
        return env_step(self.tables, task, state, subgoal, u_state, u_obs)

    def regret_terms(self, view, task, h, state, subgoal):
        return self.tables.gap_reward[h, task, state, subgoal]

    def optimal_value(self, view, task):
        return self.tables.value[task]

    planner_state = planner_observation = staticmethod(_identity)

    @classmethod
    def filter(cls, model, known_state: bool):
        return filt.KnownStateFilter.build(model) if known_state else filt.DenseFilter(model)

    @classmethod
    def carried_belief(cls, model, log_task):
        return filt.Belief(log_task, model.init)

    # ---- kind-level answers for theory and replay (host side)

    @classmethod
    def actors(cls, instance) -> list[Instance]:
        """The single-Actor instances the system is a product of (itself here)."""
        return [cls.dynamics(instance)]

    @classmethod
    def subgoal_digits(cls, instance, subgoals: np.ndarray) -> np.ndarray:
        """``[K, N]`` each Actor's component of the planner's subgoals ``[K]``."""
        return np.asarray(subgoals)[:, None]

    @classmethod
    def expected_next64(cls, instance, v_next: np.ndarray) -> np.ndarray:
        """Float64 ``sum_s' P_z(s'|s, g) v[z, s']``: ``[Z, S] -> [Z, S, G]``."""
        return np.einsum("zsgt,zt->zsg", np.asarray(instance.transition, np.float64), v_next)

    @classmethod
    def start_value64(cls, instance, v_first: np.ndarray) -> np.ndarray:
        """Float64 ``sum_s mu_z(s) v[z, s]``: ``[Z, S] -> [Z]``."""
        return np.sum(np.asarray(instance.init, np.float64) * v_first, axis=-1)

    @classmethod
    def explore_factors(cls, instance, explore) -> list[np.ndarray]:
        """Each Actor's exploration policy (``explore``: ``None`` for uniform, or ``[G]``)."""
        num_subgoals = cls.dynamics(instance).num_subgoals
        return [np.full(num_subgoals, 1.0 / num_subgoals) if explore is None else np.asarray(explore, np.float64)]

    @classmethod
    def actor_key(cls, key, actor: int):
        """The Monte Carlo key of Actor ``actor``'s ``eta`` (``None``: the default key)."""
        return key

    @classmethod
    def eta_method(cls, methods: list[str]) -> str:
        """The method label of ``eta`` from each Actor's."""
        return methods[0]

    one_history = True
    """Whether the system has one observation history (what the pretrained transformer reads)."""
    delusional = True
    """Whether the delusional posterior (the planner's subgoals as expert evidence) is available."""
    system_note = ""
    """What theory adds to a bound's note for this kind."""
    line_note = ""
    """What theory adds to an exact line's note for this kind."""


@struct.dataclass
class Instructed(SingleActor):
    """One Actor with per-episode instructions: ``u_env`` has one more number, ``2H + 2``, that draws
    the instruction; the planner sees ``instruction_view(model, omega)`` and ``pi*_{., omega}``."""

    def uniforms(self, key):
        return rng.uniform(key, 2 * self.horizon + 3)

    def episode(self, u_env, model, experts):
        instruction = draw(self.tables.cum_instructions, u_env[2 * self.horizon + 2])
        return EpisodeView(instruction, instruction_view(model, instruction), experts.for_instruction(instruction))

    def regret_terms(self, view, task, h, state, subgoal):
        return self.tables.gap_reward[h, task, view.instruction, state, subgoal]

    def optimal_value(self, view, task):
        return self.tables.value[task, view.instruction]

    @classmethod
    def start_view(cls, model, experts):
        return EpisodeView(jnp.int32(0), instruction_view(model, 0), experts.for_instruction(0))

    @classmethod
    def views(cls, instance):
        q = np.asarray(instance.instructions, np.float64)
        q = q / q.sum()
        return [(w, float(q[w]), instruction_view(instance, w)) for w in range(q.size) if q[w] > 0]

    @classmethod
    def dynamics(cls, instance):
        return instruction_view(instance, 0)  # the instruction changes the reward only

    @classmethod
    def episode_policy(cls, experts, instructions, episode):
        return experts.for_instruction(int(instructions[episode])).policy

    @classmethod
    def check_instructions(cls, instance, instructions, num_episodes: int) -> None:
        if instructions is None:
            raise InstanceError("replay: this instance has per-episode instructions, so each episode needs its "
                                "instruction (Python: replay(..., instructions=[...]); the CLI trajectory format "
                                "has no instruction field)")
        if len(instructions) != num_episodes or not all(
                isinstance(w, (int, np.integer)) and 0 <= w < instance.num_instructions for w in instructions):
            raise InstanceError(f"replay: instructions must be one integer in [0, {instance.num_instructions - 1}] "
                                f"per episode ({num_episodes} episodes)")

    @classmethod
    def expected_next64(cls, instance, v_next):
        raise ValueError("evaluate: pass one instruction's view (jaxbail.instance.instruction_view)")

    system_note = "; Dmax is the largest over instructions"
    line_note = ", averaged over the instruction distribution q"


# ----------------------------------------------------------------------------- several Actors


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


def factored_tables(env: MultiAgentInstance) -> FactoredTables:
    """Cumulative per-actor tables and the joint optimal values, prepared once per run."""
    env_experts = compute_experts(env)
    return FactoredTables(cum_init=cumulative(env.init), cum_transition=cumulative(env.transition),
                          cum_emission=cumulative(env.emission), gap_reward=_gap_reward(env_experts, env.reward),
                          value=env_experts.value)


def factored_reset(tables: FactoredTables, task, u_state: jax.Array, u_obs: jax.Array):
    """Per-actor ``s^i_1 ~ mu^i_z``, ``o^i_1 ~ O^i_z(.|s^i_1)`` from ``[N]`` uniforms each; returns ``[N]``, ``[N]``."""
    actors = jnp.arange(tables.cum_init.shape[0])
    state = draw(tables.cum_init[actors, task], u_state)
    return state, draw(tables.cum_emission[actors, task, state], u_obs)


def factored_step(tables: FactoredTables, task, state: jax.Array, subgoal: jax.Array, u_state: jax.Array,
                  u_obs: jax.Array):
    """Per-actor ``s'^i ~ P^i_z(.|s^i, g^i)``, ``o'^i ~ O^i_z(.|s'^i)``: ``state``, ``subgoal`` (per-actor
    digits) and the uniforms are ``[N]``."""
    actors = jnp.arange(tables.cum_init.shape[0])
    next_state = draw(tables.cum_transition[actors, task, state, subgoal], u_state)
    return next_state, draw(tables.cum_emission[actors, task, next_state], u_obs)


@struct.dataclass
class SeveralActors(_NoInstructions):
    """``N`` Actors: ``u_env`` is ``[2H + 2, N]``, Actor ``i``'s numbers at positions ``i (2H + 2) + j`` of
    one draw laid out as :class:`SingleActor`'s (Actor 0's are the single-Actor ones). States and
    observations are per-Actor ``[N]``; the planner sees joint indices."""

    tables: FactoredTables
    horizon: int = struct.field(pytree_node=False)
    num_actors: int = struct.field(pytree_node=False)
    actor_states: int = struct.field(pytree_node=False)
    actor_subgoals: int = struct.field(pytree_node=False)
    actor_observations: int = struct.field(pytree_node=False)

    @classmethod
    def prepare(cls, instance: MultiAgentInstance) -> "SeveralActors":
        return cls(factored_tables(instance), instance.horizon, instance.num_actors, instance.actor_states,
                   instance.actor_subgoals, instance.actor_observations)

    def uniforms(self, key):  # [2H + 2, N]: u_env[j] holds every Actor's number j
        return rng.uniform(key, self.num_actors * (2 * self.horizon + 2)).reshape(self.num_actors, -1).T

    def reset(self, task, u_state, u_obs):
        return factored_reset(self.tables, task, u_state, u_obs)

    def step(self, task, state, subgoal, u_state, u_obs):
        digits = unravel_joint(subgoal, base=self.actor_subgoals, num_actors=self.num_actors)
        return factored_step(self.tables, task, state, digits, u_state, u_obs)

    def regret_terms(self, view, task, h, state, subgoal):
        return self.tables.gap_reward[h, task, self.planner_state(state), subgoal]

    def optimal_value(self, view, task):
        return self.tables.value[task]

    def planner_state(self, state):
        return ravel_joint(state, base=self.actor_states)

    def planner_observation(self, obs):
        return ravel_joint(obs, base=self.actor_observations)

    @classmethod
    def filter(cls, model, known_state: bool):
        return filt.FactoredKnownStateFilter.build(model) if known_state else filt.FactoredFilter(model)

    @classmethod
    def carried_belief(cls, model, log_task):
        return filt.FactoredBelief(log_task, model.init)

    @classmethod
    def actors(cls, instance):
        return [actor_view(instance, i) for i in range(instance.num_actors)]

    @classmethod
    def subgoal_digits(cls, instance, subgoals):
        n, g = instance.num_actors, instance.actor_subgoals
        return (np.asarray(subgoals)[:, None] // g ** np.arange(n - 1, -1, -1, dtype=np.int64)) % g

    @classmethod
    def expected_next64(cls, instance, v_next):
        """Float64 :meth:`MultiAgentInstance.expected_next`: ``v [Z, S^N] -> [Z, S^N, G^N]``."""
        transition = np.asarray(instance.transition, np.float64)
        n, z, s, g = transition.shape[:4]
        x = v_next.reshape((z,) + (s,) * n)
        for i in range(n):
            x = np.einsum("zt...,zsgt->z...sg", x, transition[i])
        x = np.transpose(x, (0,) + tuple(1 + 2 * i for i in range(n)) + tuple(2 + 2 * i for i in range(n)))
        return x.reshape(z, s ** n, g ** n)

    @classmethod
    def start_value64(cls, instance, v_first):
        """Float64 ``sum_s prod_i mu^i_z(s^i) v[z, s]``: ``[Z, S^N] -> [Z]``, one Actor at a time."""
        init = np.asarray(instance.init, np.float64)
        x = v_first.reshape((instance.num_tasks,) + (instance.actor_states,) * instance.num_actors)
        for i in range(instance.num_actors):
            x = np.einsum("zs...,zs->z...", x, init[i])
        return x

    @classmethod
    def explore_factors(cls, instance, explore):
        return list(product_factors(explore, instance.num_actors, instance.actor_subgoals))

    @classmethod
    def actor_key(cls, key, actor: int):
        return None if key is None else jax.random.fold_in(key, actor)

    @classmethod
    def eta_method(cls, methods):
        return "product(" + ",".join(sorted(set(methods))) + ")"

    one_history = False
    delusional = False  # counting joint subgoals as expert evidence does not factorise across Actors
    line_note = ""
    system_note = ("; for the joint system of the Actors (eta from the product of per-Actor Bhattacharyya "
                   "coefficients, Dmax over joint subgoals)")


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


def kind_of(instance) -> type:
    """The environment kind of an instance: the one place that looks at its type."""
    if isinstance(instance, MultiAgentInstance):
        return SeveralActors
    return SingleActor if instance.instructions is None else Instructed


def prepare(instance):
    """The prepared :class:`Environment` of ``instance`` (tables of one run)."""
    return kind_of(instance).prepare(instance)


# ----------------------------------------------------------------------------- the rollout


def rollout(env: Environment, task, state, obs, decide: Callable, record: Callable, uniforms: Callable, carry,
            horizon: int):
    """The step loop every sampler shares: ``H`` decisions from ``(state, obs)``.

    At step ``h``: ``subgoal, carry, info = decide(carry, h, state, obs)``; the environment steps with
    ``uniforms(h) = (u_state, u_obs)`` (each caller's own layout); then
    ``carry, out = record(carry, info, h, state, subgoal, next_state, next_obs)``.

    Returns:
      ``((state, obs, carry) after the last step, outs stacked over steps)``.
    """
    def body(c, h):
        state, obs, inner = c
        subgoal, inner, info = decide(inner, h, state, obs)
        next_state, next_obs = env.step(task, state, subgoal, *uniforms(h))
        inner, out = record(inner, info, h, state, subgoal, next_state, next_obs)
        return (next_state, next_obs, inner), out

    return jax.lax.scan(body, (state, obs, carry), jnp.arange(horizon))
