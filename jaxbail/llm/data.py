"""Pretraining prompts for the LLM planner: K-episode behaviour rollouts, expert labels, tokens, exact BAIL targets."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail.env import SingleActor, rollout
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance
from jaxbail.llm.model import ModelConfig
from jaxbail.planners.base import mixture_over_belief
from jaxbail.sampling import cumulative, draw, draw_from_probs

__all__ = ["Prompts", "Tokens", "sample_prompts", "tokenize", "bail_targets", "decision_positions",
           "uniform_behaviour", "parse_behaviour", "empirical_conditional_entropy"]


class Prompts(NamedTuple):
    """Multi-episode pretraining prompts (leading axis: prompts); one task per prompt.

    Attributes:
      tasks: ``[N]`` the latent task, drawn from the prior, fixed for the prompt's ``K`` episodes.
      states: ``[N, K, H + 1]`` the hidden states ``s_1 .. s_{H+1}`` of every episode.
      observations: ``[N, K, H + 1]`` ``o_1 .. o_{H+1}``.
      subgoals: ``[N, K, H]`` the behaviour policy's subgoals (what was played).
      labels: ``[N, K, H]`` the expert subgoal ``pi*_{z,h}(s_h)`` at every decision (the targets).
    """

    tasks: jax.Array
    states: jax.Array
    observations: jax.Array
    subgoals: jax.Array
    labels: jax.Array


class Tokens(NamedTuple):
    """Tokenised prompts (see :class:`~jaxbail.llm.model.ModelConfig` for the layout).

    Attributes:
      tokens: ``[N, C]`` int32 inputs, ``C = 1 + K (2H + 2)``.
      targets: ``[N, C]`` int32 expert subgoal at every observation token ``o_h, h <= H``; 0 elsewhere.
      mask: ``[N, C]`` bool, True exactly at those ``K H`` decision positions.
    """

    tokens: jax.Array
    targets: jax.Array
    mask: jax.Array


EPS_BAIL_LOW = 0.02
"""Smallest per-prompt exploration probability of the ``"eps-bail"`` behaviour (log-uniform on ``[0.02, 1]``)."""


def uniform_behaviour(num_subgoals: int) -> jax.Array:
    """``[G]`` the default behaviour policy: uniform over subgoals."""
    return jnp.full((num_subgoals,), 1.0 / num_subgoals, jnp.float32)


def parse_behaviour(behaviour: Any, instance: Instance) -> tuple[str, jax.Array]:
    """``(kind, table)`` of a behaviour specification (validated once, here).

    ``None`` or ``"uniform"``: uniform over subgoals. An array ``[G]`` (the same distribution at every
    observation) or ``[O, G]`` (a distribution per current observation). ``"dirichlet"`` or
    ``"dirichlet:ALPHA"``: each prompt draws its own table ``[O, G]``, every row from
    ``Dirichlet(ALPHA)`` (default 1), independently of the task. ``"never-play:G"``: uniform over
    every subgoal but ``G`` (a data set that never covers ``G``); ``"no-probe"``: the same for the
    last subgoal, which is ``hard``'s probe. ``"eps-bail"`` or ``"eps-bail:EPS"``: eps_bail's own
    play (see :func:`sample_prompts`) with exploration probability ``EPS`` in ``[0, 1]`` per episode,
    or, without ``EPS``, a per-prompt ``eps`` drawn log-uniformly from ``[EPS_BAIL_LOW, 1]``.
    Returns ``kind`` ``"fixed"`` with the ``[O, G]`` table, ``"dirichlet"`` with ``table = [ALPHA]``,
    or ``"eps-bail"`` with ``table = [EPS]`` (``[-1]`` for the per-prompt draw).
    """
    num_obs, num_subgoals = instance.num_observations, instance.num_subgoals
    if behaviour is None or (isinstance(behaviour, str) and behaviour == "uniform"):
        return "fixed", jnp.broadcast_to(uniform_behaviour(num_subgoals), (num_obs, num_subgoals))
    if isinstance(behaviour, str):
        name, _, arg = behaviour.partition(":")
        if name in ("never-play", "no-probe"):
            if name == "no-probe" and arg:
                raise ValueError(f"behaviour: 'no-probe' takes no argument, got {behaviour!r}")
            text = arg if name == "never-play" else str(num_subgoals - 1)
            try:
                never = int(text)
            except ValueError:
                raise ValueError(f"behaviour: expected never-play:G with a subgoal index G, "
                                 f"got {behaviour!r}") from None
            if not 0 <= never < num_subgoals:
                raise ValueError(f"behaviour: subgoal {never} out of range [0, {num_subgoals - 1}]")
            if num_subgoals < 2:
                raise ValueError("behaviour: never-play needs at least 2 subgoals")
            row = np.full(num_subgoals, 1.0 / (num_subgoals - 1))
            row[never] = 0.0
            return "fixed", jnp.asarray(np.broadcast_to(row, (num_obs, num_subgoals)), jnp.float32)
        if name == "eps-bail":
            if not arg:
                return "eps-bail", jnp.asarray([-1.0], jnp.float32)
            try:
                eps = float(arg)
            except ValueError:
                raise ValueError(f"behaviour: bad exploration probability in {behaviour!r}") from None
            if not 0 <= eps <= 1:
                raise ValueError(f"behaviour: the eps-bail exploration probability must be in [0, 1], got {eps:g}")
            return "eps-bail", jnp.asarray([eps], jnp.float32)
        if name != "dirichlet":
            raise ValueError(f"behaviour: expected 'uniform', 'dirichlet[:ALPHA]', 'eps-bail[:EPS]', 'never-play:G', "
                             f"'no-probe' or an array, got {behaviour!r}")
        try:
            alpha = float(arg) if arg else 1.0
        except ValueError:
            raise ValueError(f"behaviour: bad Dirichlet concentration in {behaviour!r}") from None
        if not alpha > 0:
            raise ValueError(f"behaviour: the Dirichlet concentration must be > 0, got {alpha:g}")
        return "dirichlet", jnp.asarray([alpha], jnp.float32)
    table = np.asarray(behaviour, np.float64)
    if table.shape == (num_subgoals,):
        table = np.broadcast_to(table, (num_obs, num_subgoals))
    if table.shape != (num_obs, num_subgoals):
        raise ValueError(f"behaviour: expected shape [G] = [{num_subgoals}] or [O, G] = [{num_obs}, {num_subgoals}], "
                         f"got {list(table.shape)}")
    if np.any(table < 0) or np.any(np.abs(table.sum(-1) - 1) > 1e-6):
        raise ValueError("behaviour: every row must be a probability distribution over subgoals")
    return "fixed", jnp.asarray(table, jnp.float32)


def sample_prompts(key: jax.Array, instance: Instance, num_prompts: int, context_episodes: int,
                   behaviour: Any = None, expert_temperature: float | None = None,
                   first_prompt: int = 0) -> Prompts:
    """``num_prompts`` prompts of ``K = context_episodes`` behaviour-policy episodes each.

    Prompt ``i`` uses ``fold_in(key, first_prompt + i)``: a larger data set contains the smaller
    one, and a prompt does not depend on how many are drawn beside it. The task is drawn from
    the prior once per prompt; each episode resets the state (``s_1 ~ mu_z``); the behaviour
    policy never depends on the task (only on the current observation and, for ``"dirichlet"``,
    on a per-prompt draw independent of the task; for ``"eps-bail"`` on the history), so the
    subgoals carry no evidence about the task beyond what the history shows, and the
    Bayes-optimal next-label predictor is exact BAIL.

    ``"eps-bail"``: at the start of each episode a coin with probability ``eps`` decides whether
    the whole episode is played uniformly at random (exploring, as eps_bail's exploration) or by
    exact BAIL of the history so far (the exact filter of :mod:`jaxbail.belief` with the task
    marginal carried between episodes, BAIL drawn from its mixture over the experts).

    Args:
      behaviour: see :func:`parse_behaviour` (default uniform over subgoals).
      expert_temperature: ``None`` for greedy experts (labels are the greedy subgoals), or a
        Boltzmann temperature (labels are draws from the expert).
    Returns:
      :class:`Prompts` with leading axis ``num_prompts``.
    """
    if num_prompts < 1 or context_episodes < 1:
        raise ValueError(f"num_prompts and context_episodes must be >= 1, got {num_prompts} and {context_episodes}")
    kind, table = parse_behaviour(behaviour, instance)
    if kind == "eps-bail":
        return _sample_eps_bail(key, instance.replace(name=""), table, jnp.int32(first_prompt), num_prompts,
                                context_episodes, expert_temperature)
    keys = _prompt_keys(key, jnp.int32(first_prompt), num_prompts)
    return sample_rollouts(keys, instance.replace(name=""), table, context_episodes, expert_temperature, kind)


@functools.partial(jax.jit, static_argnums=(2,))
def _prompt_keys(key, first_prompt, num_prompts: int):
    return jax.vmap(lambda index: jax.random.fold_in(key, index))(first_prompt + jnp.arange(num_prompts))


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def sample_rollouts(keys, model: Instance, table, num_episodes: int, temperature: float | None,
                    kind: str) -> Prompts:
    """The sampler behind :func:`sample_prompts` (and :func:`jaxbail.pretraining.sample_episodes`, its
    ``K = 1`` case): one prompt per key in ``keys [N]``, behaviour ``(kind, table)`` of :func:`parse_behaviour`.

    Uniforms of a prompt: ``u = uniform(key, 1 + K (2 + 4H))``; ``u[0]`` draws the task, then episode
    ``k``'s ``2 + 4H`` numbers: 0, 1 the reset, and at step ``h`` ``2 + 4h`` the label, ``3 + 4h`` the
    behaviour's subgoal, ``4 + 4h`` and ``5 + 4h`` the environment's step.
    """
    env = SingleActor.prepare(model)
    policy = compute_experts(model, temperature).policy  # [H, Z, S, G]
    horizon = model.horizon
    per_episode = 2 + 4 * horizon
    num_obs, num_subgoals = model.num_observations, model.num_subgoals

    def one(prompt_key):
        u = jax.random.uniform(prompt_key, (1 + num_episodes * per_episode,))
        if kind == "dirichlet":
            behaviour = jax.random.dirichlet(jax.random.fold_in(prompt_key, 1),
                                             jnp.full((num_subgoals,), table[0]), (num_obs,))
        else:
            behaviour = table
        cum_behaviour = cumulative(behaviour)  # [O, G]
        task = draw_from_probs(model.prior, u[0])

        def episode(_, u_ep):
            state, obs0 = env.reset(task, u_ep[0], u_ep[1])

            def decide(_, h, state, obs):
                label = draw_from_probs(policy[h, task, state], u_ep[2 + 4 * h])
                return draw(cum_behaviour[obs], u_ep[3 + 4 * h]), None, label

            def record(_, label, h, state, subgoal, next_state, next_obs):
                return None, (state, subgoal, next_obs, label)

            (last, _, _), (states, subgoals, obs, labels) = rollout(
                env, task, state, obs0, decide, record, lambda h: (u_ep[4 + 4 * h], u_ep[5 + 4 * h]), None, horizon)
            states = jnp.concatenate([states, last[None]])
            return None, (states, jnp.concatenate([obs0[None], obs]), subgoals, labels)

        _, (states, obs, subgoals, labels) = jax.lax.scan(
            episode, None, u[1:].reshape(num_episodes, per_episode))
        return Prompts(task, states, obs, subgoals, labels)

    return jax.vmap(one)(keys)


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _sample_eps_bail(key, model: Instance, table, first_prompt, num_prompts: int, num_episodes: int,
                     temperature: float | None) -> Prompts:
    env = SingleActor.prepare(model)
    policy = compute_experts(model, temperature).policy  # [H, Z, S, G]
    horizon = model.horizon
    per_episode = 3 + 4 * horizon
    num_subgoals = model.num_subgoals
    uniform = uniform_behaviour(num_subgoals)

    def one(index):
        prompt_key = jax.random.fold_in(key, index)
        u = jax.random.uniform(prompt_key, (2 + num_episodes * per_episode,))
        eps = jnp.where(table[0] >= 0, table[0], EPS_BAIL_LOW ** (1.0 - u[1]))
        task = draw_from_probs(model.prior, u[0])

        def episode(log_task, u_ep):
            exploring = u_ep[2 + 4 * horizon] < eps
            state, obs0 = env.reset(task, u_ep[0], u_ep[1])
            belief = filt.begin_episode(model, log_task, obs0).belief

            def decide(belief, h, state, obs):  # the behaviour reads the exact belief, carried through the loop
                label = draw_from_probs(policy[h, task, state], u_ep[2 + 4 * h])
                play = jnp.where(exploring, uniform, mixture_over_belief(belief, policy[h]))
                return draw_from_probs(play, u_ep[3 + 4 * h]), belief, label

            def record(belief, label, h, state, subgoal, next_state, next_obs):
                return filt.update(model, belief, subgoal, next_obs).belief, (state, subgoal, next_obs, label)

            (last, _, belief), (states, subgoals, obs, labels) = rollout(
                env, task, state, obs0, decide, record, lambda h: (u_ep[4 + 4 * h], u_ep[5 + 4 * h]), belief,
                horizon)
            states = jnp.concatenate([states, last[None]])
            return belief.log_task, (states, jnp.concatenate([obs0[None], obs]), subgoals, labels)

        _, (states, obs, subgoals, labels) = jax.lax.scan(
            episode, filt.prior_log_task(model.prior), u[2:].reshape(num_episodes, per_episode))
        return Prompts(task, states, obs, subgoals, labels)

    return jax.vmap(one)(first_prompt + jnp.arange(num_prompts))


def decision_positions(horizon: int, context_episodes: int) -> np.ndarray:
    """``[K, H]`` token position of ``o_h`` (the decision choosing ``g_h``) in episode ``k``: ``1 + k E + 2 h``."""
    episode_tokens = 2 * horizon + 2
    return 1 + episode_tokens * np.arange(context_episodes)[:, None] + 2 * np.arange(horizon)[None, :]


def tokenize(prompts: Prompts, config: ModelConfig) -> Tokens:
    """Tokens, targets and loss mask of prompts (``K`` must equal ``config.context_episodes``).

    Layout: ``BOS``, then per episode ``o_1 (O+g_1) o_2 (O+g_2) .. o_H (O+g_H) o_{H+1} SEP``,
    where the ``g_h`` are the behaviour policy's subgoals; the target at each ``o_h`` (``h <= H``)
    is the expert label.
    """
    num, episodes, horizon = prompts.subgoals.shape
    if episodes != config.context_episodes or horizon != config.horizon:
        raise ValueError(f"prompts have K={episodes}, H={horizon}; the model config has "
                         f"K={config.context_episodes}, H={config.horizon}")
    return _tokenize(prompts.observations, prompts.subgoals, prompts.labels, config)


@functools.partial(jax.jit, static_argnums=(3,))
def _tokenize(observations, subgoals, labels, config: ModelConfig) -> Tokens:
    num, episodes, horizon = subgoals.shape
    obs = jnp.asarray(observations, jnp.int32)
    subgoal_tokens = config.num_observations + jnp.asarray(subgoals, jnp.int32)
    body = jnp.stack([obs[..., :-1], subgoal_tokens], axis=-1).reshape(num, episodes, 2 * horizon)
    sep = jnp.full((num, episodes, 1), config.sep, jnp.int32)
    episode_tokens = jnp.concatenate([body, obs[..., -1:], sep], axis=-1)  # [N, K, E]
    bos = jnp.full((num, 1), config.bos, jnp.int32)
    tokens = jnp.concatenate([bos, episode_tokens.reshape(num, -1)], axis=1)
    positions = decision_positions(horizon, episodes).reshape(-1)
    targets = jnp.zeros_like(tokens).at[:, positions].set(
        jnp.asarray(labels, jnp.int32).reshape(num, -1))
    mask = jnp.zeros(tokens.shape, bool).at[:, positions].set(True)
    return Tokens(tokens, targets, mask)


def bail_targets(instance: Instance, prompts: Prompts, expert_temperature: float | None = None) -> jax.Array:
    """``[N, K, H, G]`` exact BAIL at every decision of every prompt.

    The exact filter of :mod:`jaxbail.belief` runs episode by episode with the task marginal
    carried between episodes (``b_{t,1}`` starts from ``w_t``, ``w_1 = rho``), as in the runner;
    BAIL is :func:`~jaxbail.planners.base.mixture_over_belief` of the experts' policy.
    """
    return _bail(instance.replace(name=""), prompts.observations, prompts.subgoals, expert_temperature)


@functools.partial(jax.jit, static_argnums=(3,))
def _bail(model: Instance, observations, subgoals, temperature):
    policy = compute_experts(model, temperature).policy

    def one(observations, subgoals):
        def episode(log_task, inputs):
            obs, subs = inputs
            beliefs, _, _, end_log_task = filt.filter_episode(model, log_task, obs, subs)
            return end_log_task, jax.vmap(mixture_over_belief)(beliefs, policy)

        _, bail = jax.lax.scan(episode, filt.prior_log_task(model.prior), (observations, subgoals))
        return bail

    return jax.vmap(one)(observations, subgoals)


def empirical_conditional_entropy(tokens: Tokens) -> float:
    """The floor of the mean masked cross-entropy on this data set (nats).

    At every decision position, prompts with the same token prefix (up to and including the
    position) are grouped; the best any predictor of the prefix can do is the empirical label
    frequency of the group, whose cross-entropy is the group's label entropy. Returns the mean
    over all masked positions (0 when every label is a function of its prefix).
    """
    toks, targets, mask = (np.asarray(a) for a in tokens)
    total, count = 0.0, 0
    for position in np.flatnonzero(mask.any(axis=0)):
        groups: dict[bytes, Counter] = defaultdict(Counter)
        rows = np.flatnonzero(mask[:, position])
        for row in rows:
            groups[toks[row, :position + 1].tobytes()][int(targets[row, position])] += 1
        for counter in groups.values():
            freq = np.array(list(counter.values()), np.float64)
            p = freq / freq.sum()
            total += float(-(freq * np.log(p)).sum())
        count += rows.size
    return total / count
