"""Vectorised float64 NumPy BAIL simulator: the baseline that ``throughput.py`` times jaxbail against.

Same model as jaxbail (SPEC 1-3, 5): exact posterior over ``(z, s)`` with the task
marginal in log space and a normaliser at every step, BAIL subgoal draws from the
posterior mixture of greedy experts (backward induction, near-ties within
``TIE_TOL`` to the lowest index), environment transitions and Reporter
observations by one-uniform inverse-CDF draws, per-episode gap and return regret.

Vectorised over seeds: every array carries a seed axis ``N``; the only Python
loops are over episodes and steps. The belief is stored task-major,
``q[z, n, s] = q_n(s | z)``, so the prediction over all subgoals is one stacked
BLAS product ``[Z] x ([N, S] @ [S, G*S])`` and the chosen subgoal's row is picked
afterwards (``predict="all"``); ``predict="group"`` instead runs, for each subgoal,
one product over the seeds that chose it (the faster general update here).
``predict="known"`` is valid only with a deterministic injective Reporter, where
every ``q(.|z)`` is a point mass, and is the analogue of jaxbail's default
(``filter="auto"``, :class:`jaxbail.belief.KnownStateFilter`): the belief is the
log task marginal ``[Z, N]`` and the last observation, each step adds one row
``log P_z(s_z(o') | s_z(o), g)`` of an observation-indexed table and BAIL
gathers one expert row per task (the same numbers as the general update).

No jax import: tables come in as NumPy arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

TIE_TOL = 1e-5
"""Same near-tie tolerance as ``jaxbail.experts.TIE_TOL``."""


class Tables(NamedTuple):
    """float64 model tables and everything derived from them once per run.

    Shapes: prior ``[Z]``, init ``[Z, S]``, transition ``[Z, S, G, S]``,
    emission ``[Z, S, O]``, reward ``[Z, S, G]``; q ``[H, Z, S, G]``,
    v ``[H + 1, Z, S]``, policy ``[H, Z, S, G]`` (one-hot greedy experts),
    value ``[Z]`` (``J*_z``); cum_* inverse-CDF tables; emission_zos ``[Z, O, S]``;
    transition_flat ``[Z, S, G * S]``.
    """

    prior: np.ndarray
    init: np.ndarray
    transition: np.ndarray
    emission: np.ndarray
    reward: np.ndarray
    horizon: int
    q: np.ndarray
    v: np.ndarray
    policy: np.ndarray
    value: np.ndarray
    cum_prior: np.ndarray
    cum_init: np.ndarray
    cum_transition: np.ndarray
    cum_emission: np.ndarray
    emission_zos: np.ndarray
    transition_flat: np.ndarray


def cumulative(probs: np.ndarray) -> np.ndarray:
    """Inverse-CDF table over the last axis, exactly 1 from the last positive entry on."""
    cum = np.cumsum(probs, axis=-1)
    total = cum[..., -1:]
    cum = cum / np.where(total > 0, total, 1.0)
    k = probs.shape[-1]
    last = k - 1 - np.argmax(np.flip(probs > 0, axis=-1), axis=-1)
    return np.where(np.arange(k) >= last[..., None], 1.0, cum)


def draw(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index ``i`` with ``cum[i-1] <= u < cum[i]`` for ``cum [..., K]``, ``u [...]``."""
    return np.count_nonzero(cum <= u[..., None], axis=-1)


def greedy(q: np.ndarray) -> np.ndarray:
    """One-hot best subgoal over the last axis; near-ties to the lowest index."""
    best = q.max(axis=-1, keepdims=True)
    choice = np.argmax(q >= best - TIE_TOL, axis=-1)
    return np.eye(q.shape[-1])[choice]


def compute_experts(init, transition, reward, horizon):
    """Backward induction in each task's MDP: ``(q [H,Z,S,G], v [H+1,Z,S], policy [H,Z,S,G], value [Z])``."""
    z_count, s_count, g_count, _ = transition.shape
    q = np.zeros((horizon, z_count, s_count, g_count))
    v = np.zeros((horizon + 1, z_count, s_count))
    policy = np.zeros_like(q)
    for h in range(horizon - 1, -1, -1):
        q[h] = reward + np.einsum("zsgt,zt->zsg", transition, v[h + 1])
        policy[h] = greedy(q[h])
        v[h] = np.sum(policy[h] * q[h], axis=-1)  # V = Q of the expert's choice: its own gap is exactly 0
    value = np.sum(init * v[0], axis=-1)
    return q, v, policy, value


def make_tables(prior, init, transition, emission, reward, horizon: int) -> Tables:
    """Build the float64 tables (rows renormalised in float64) and the experts."""
    def rows(a):
        a = np.asarray(a, np.float64)
        return a / a.sum(axis=-1, keepdims=True)

    prior, init, transition, emission = rows(prior), rows(init), rows(transition), rows(emission)
    reward = np.asarray(reward, np.float64)
    q, v, policy, value = compute_experts(init, transition, reward, horizon)
    z_count, s_count, g_count, _ = transition.shape
    return Tables(prior=prior, init=init, transition=transition, emission=emission, reward=reward,
                  horizon=int(horizon), q=q, v=v, policy=policy, value=value,
                  cum_prior=cumulative(prior), cum_init=cumulative(init),
                  cum_transition=cumulative(transition), cum_emission=cumulative(emission),
                  emission_zos=np.ascontiguousarray(emission.transpose(0, 2, 1)),
                  transition_flat=np.ascontiguousarray(transition.reshape(z_count, s_count, g_count * s_count)))


class Result(NamedTuple):
    """Per-episode, per-seed outputs.

    gap_regret, return_regret: ``[T, N]``; misspecified: ``[T, N]`` events per
    episode; true_task_posterior: ``[T, N]`` at the end of each episode; tasks ``[N]``.
    """

    gap_regret: np.ndarray
    return_regret: np.ndarray
    misspecified: np.ndarray
    true_task_posterior: np.ndarray
    tasks: np.ndarray


def _absorb(log_task, fallback, unnormalised):
    """``b'(z, s) ∝ w(z) unnormalised[z, n, s]`` in log space; misspecified seeds keep their belief.

    log_task ``[Z, N]``; fallback, unnormalised ``[Z, N, S]``. Returns ``(log_task, state, misspecified [N])``.
    """
    evidence = unnormalised.sum(axis=-1)  # [Z, N]
    positive = evidence > 0
    all_positive = bool(positive.all())
    if all_positive:
        log_joint = log_task + np.log(evidence)
    else:
        with np.errstate(divide="ignore"):
            log_joint = log_task + np.log(evidence)  # -inf where the evidence is 0
    top = log_joint.max(axis=0)  # [N]
    finite = np.isfinite(top)
    if finite.all():
        log_norm = top + np.log(np.exp(log_joint - top).sum(axis=0))
        new_log_task = log_joint - log_norm
        misspecified = np.zeros(top.shape, bool)
    else:
        safe_top = np.where(finite, top, 0.0)
        with np.errstate(divide="ignore"):
            log_norm = safe_top + np.log(np.exp(log_joint - safe_top).sum(axis=0))
        misspecified = ~np.isfinite(log_norm)
        new_log_task = np.where(misspecified, log_task, log_joint - np.where(misspecified, 0.0, log_norm))
    state = unnormalised / np.where(positive, evidence, 1.0)[..., None]
    if not all_positive or misspecified.any():
        keep = positive[..., None] & ~misspecified[None, :, None]
        state = np.where(keep, state, fallback)
    return new_log_task, state, misspecified


def simulate(tables: Tables, num_seeds: int, num_episodes: int, rng: np.random.Generator,
             task: int | None = None, predict: str = "group") -> Result:
    """BAIL on ``num_seeds`` independent seeds for ``num_episodes`` episodes, all seeds at once.

    Args:
      task: ``None`` draws each seed's task from the prior (Bayesian regret); an index fixes it.
      predict: ``"all"`` contracts the belief with every subgoal's transitions then
        selects the chosen row; ``"group"`` runs one product per subgoal over the seeds that chose it;
        ``"known"`` gathers one transition row per task (deterministic injective Reporter only).
    """
    if predict not in ("all", "group", "known"):
        raise ValueError(f"predict: 'all', 'group' or 'known', got {predict!r}")
    if predict == "known" and not (np.all((tables.emission == 0) | (tables.emission == 1))
                                   and np.all(tables.emission.sum(axis=1) <= 1)):
        raise ValueError("predict='known' needs a deterministic injective Reporter")
    if predict == "known":
        return _simulate_known(tables, num_seeds, num_episodes, rng, task)
    t = tables
    n = num_seeds
    horizon = t.horizon
    z_count, s_count, g_count, _ = t.transition.shape
    seeds = np.arange(n)
    tasks = draw(t.cum_prior[None, :], rng.random(n)) if task is None else np.full(n, task)
    log_task = np.repeat(np.log(t.prior)[:, None], n, axis=1)  # [Z, N]
    log_task -= np.log(np.exp(log_task).sum(axis=0))
    init_zns = np.broadcast_to(t.init[:, None, :], (z_count, n, s_count))
    cum_init_n = t.cum_init[tasks]  # [N, S]
    j_star = t.value[tasks]  # [N]

    out_gap = np.empty((num_episodes, n))
    out_ret = np.empty((num_episodes, n))
    out_miss = np.empty((num_episodes, n), np.int32)
    out_post = np.empty((num_episodes, n))
    for episode in range(num_episodes):
        u = rng.random((3 * horizon + 2, n))  # env: 2H + 2, planner: H
        state = draw(cum_init_n, u[0])
        obs = draw(t.cum_emission[tasks, state], u[1])
        log_task, belief, missed = _absorb(log_task, init_zns, init_zns * t.emission_zos[:, obs, :])
        missed = missed.astype(np.int32)
        gap = np.zeros(n)
        ret = np.zeros(n)
        for h in range(horizon):
            # BAIL: sum_{z,s} w(z) q(s|z) pi*_{z,h}(g|s)
            per_task = np.matmul(belief, t.policy[h])  # [Z, N, G]
            mixture = np.einsum("zn,zng->ng", np.exp(log_task), per_task)
            subgoal = draw(cumulative(mixture), u[2 * horizon + 2 + h])
            gap += t.v[h, tasks, state] - t.q[h, tasks, state, subgoal]
            ret += t.reward[tasks, state, subgoal]
            next_state = draw(t.cum_transition[tasks, state, subgoal], u[2 + 2 * h])
            next_obs = draw(t.cum_emission[tasks, next_state], u[3 + 2 * h])
            # prediction sum_s q(s|z) P_z(s'|s, g_n)
            if predict == "all":
                every = np.matmul(belief, t.transition_flat)  # [Z, N, G*S]
                predicted = every.reshape(z_count, n, g_count, s_count)[:, seeds, subgoal, :]
            elif predict == "known":
                known = belief.argmax(axis=-1)  # [Z, N]: the state each task's belief sits on
                predicted = t.transition[np.arange(z_count)[:, None], known, subgoal[None, :], :]
            else:
                predicted = np.empty_like(belief)
                for g in range(g_count):
                    chose = np.flatnonzero(subgoal == g)
                    if chose.size:
                        predicted[:, chose, :] = np.matmul(belief[:, chose, :], t.transition[:, :, g, :])
            log_task, belief, m = _absorb(log_task, predicted, predicted * t.emission_zos[:, next_obs, :])
            missed += m
            state, obs = next_state, next_obs
        out_gap[episode] = gap
        out_ret[episode] = j_star - ret
        out_miss[episode] = missed
        out_post[episode] = np.exp(log_task[tasks, seeds])
    return Result(gap_regret=out_gap, return_regret=out_ret, misspecified=out_miss,
                  true_task_posterior=out_post, tasks=tasks)


def _logsumexp0(x: np.ndarray) -> np.ndarray:
    """``log sum_z exp x[z, n]`` over axis 0 with the max subtracted (``-inf`` where every entry is)."""
    top = x.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(x - safe).sum(axis=0))


def _simulate_known(t: Tables, n: int, num_episodes: int, rng: np.random.Generator, task: int | None) -> Result:
    """:func:`simulate` with ``predict="known"``: belief = log task marginal ``[Z, N]`` + last observation."""
    horizon = t.horizon
    z_count, s_count, g_count, _ = t.transition.shape
    zi = np.arange(z_count)[:, None]
    shows = t.emission > 0  # [Z, S, O]
    state_of_obs = shows.argmax(axis=1)  # [Z, O]
    possible = shows.any(axis=1)  # [Z, O]
    with np.errstate(divide="ignore"):
        log_first = np.log(np.where(possible, t.init[zi, state_of_obs], 0.0)).T  # [O, Z]
        step = t.transition[zi[:, :, None, None], state_of_obs[:, :, None, None],
                            np.arange(g_count)[None, None, :, None], state_of_obs[:, None, None, :]]
        log_step = np.ascontiguousarray(np.moveaxis(np.log(np.where(possible[:, None, None, :], step, 0.0)), 0, -1))
    seeds = np.arange(n)
    tasks = draw(t.cum_prior[None, :], rng.random(n)) if task is None else np.full(n, task)
    log_task = np.repeat(np.log(t.prior)[:, None], n, axis=1)  # [Z, N]
    log_task -= _logsumexp0(log_task)
    cum_init_n = t.cum_init[tasks]
    j_star = t.value[tasks]
    out_gap = np.empty((num_episodes, n))
    out_ret = np.empty((num_episodes, n))
    out_post = np.empty((num_episodes, n))

    def absorb(log_task, log_likelihood):  # log_likelihood [N, Z]
        log_joint = log_task + log_likelihood.T
        log_norm = _logsumexp0(log_joint)
        return log_joint - log_norm  # never misspecified: the model is the environment

    for episode in range(num_episodes):
        u = rng.random((3 * horizon + 2, n))
        state = draw(cum_init_n, u[0])
        obs = draw(t.cum_emission[tasks, state], u[1])
        log_task = absorb(log_task, log_first[obs])
        gap = np.zeros(n)
        ret = np.zeros(n)
        for h in range(horizon):
            rows = t.policy[h][zi, state_of_obs[:, obs]]  # [Z, N, G]: each task's expert at its s_z
            mixture = np.einsum("zn,zng->ng", np.exp(log_task), rows)
            subgoal = draw(cumulative(mixture), u[2 * horizon + 2 + h])
            gap += t.v[h, tasks, state] - t.q[h, tasks, state, subgoal]
            ret += t.reward[tasks, state, subgoal]
            next_state = draw(t.cum_transition[tasks, state, subgoal], u[2 + 2 * h])
            next_obs = draw(t.cum_emission[tasks, next_state], u[3 + 2 * h])
            log_task = absorb(log_task, log_step[obs, subgoal, next_obs])
            state, obs = next_state, next_obs
        out_gap[episode] = gap
        out_ret[episode] = j_star - ret
        out_post[episode] = np.exp(log_task[tasks, seeds])
    return Result(gap_regret=out_gap, return_regret=out_ret, misspecified=np.zeros((num_episodes, n), np.int32),
                  true_task_posterior=out_post, tasks=tasks)
