"""An independent float64 NumPy reference for the tests.

Written from SPEC sections 2-5 with plain loops, not from the JAX code: backward
induction experts, the exact filter over ``(z, s)`` (task marginal in log space),
BAIL's posterior mixture, and brute-force enumeration of every trajectory of one
or two episodes of BAIL on tiny instances (exact expected regret).

SPEC 8: per-episode instructions (one model per instruction, brute force over the
instruction drawn in each episode) and several Actors (the product model built entry by
entry from the per-actor tables, then everything above on it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TIE_TOL = 1e-5  # SPEC 2: greedy experts, ties (within this) to the lowest index


@dataclass
class Model:
    """float64 copies of an instance's tables."""

    prior: np.ndarray  # [Z]
    init: np.ndarray  # [Z, S]
    transition: np.ndarray  # [Z, S, G, S]
    emission: np.ndarray  # [Z, S, O]
    reward: np.ndarray  # [Z, S, G] ([Z, W, S, G] with instructions)
    horizon: int
    instructions: np.ndarray | None = None  # [W]

    @property
    def shape(self):
        z, s, g = self.transition.shape[:3]
        return z, s, g, self.emission.shape[2]


def model_of(instance) -> Model:
    def f64(a):
        return np.asarray(a, dtype=np.float64)
    return Model(
        f64(instance.prior),
        f64(instance.init),
        f64(instance.transition),
        f64(instance.emission),
        f64(instance.reward),
        int(instance.horizon),
        None if instance.instructions is None else f64(instance.instructions),
    )


def instruction_model(m: Model, w: int) -> Model:
    """The model of instruction ``w``: reward ``r_{., w}``."""
    return Model(m.prior, m.init, m.transition, m.emission, m.reward[:, w].copy(), m.horizon)


def product_model(instance) -> Model:
    """The single-Actor product model of a multi-agent instance, entry by entry (float64):
    joint indices mixed radix with actor 0 the most significant digit."""
    init, trans, emit = (np.asarray(a, np.float64) for a in (instance.init, instance.transition, instance.emission))
    n, z_count, s_count, g_count, _ = trans.shape
    o_count = emit.shape[3]
    joint_s, joint_g, joint_o = s_count ** n, g_count ** n, o_count ** n

    def digits(index, base):
        return np.unravel_index(index, (base,) * n)

    p_init = np.ones((z_count, joint_s))
    p_trans = np.ones((z_count, joint_s, joint_g, joint_s))
    p_emit = np.ones((z_count, joint_s, joint_o))
    for z in range(z_count):
        for s in range(joint_s):
            sd = digits(s, s_count)
            for i in range(n):
                p_init[z, s] *= init[i, z, sd[i]]
            for o in range(joint_o):
                od = digits(o, o_count)
                for i in range(n):
                    p_emit[z, s, o] *= emit[i, z, sd[i], od[i]]
            for g in range(joint_g):
                gd = digits(g, g_count)
                for t in range(joint_s):
                    td = digits(t, s_count)
                    for i in range(n):
                        p_trans[z, s, g, t] *= trans[i, z, sd[i], gd[i], td[i]]
    return Model(np.asarray(instance.prior, np.float64), p_init, p_trans, p_emit,
                 np.asarray(instance.reward, np.float64), int(instance.horizon))


# ----------------------------------------------------------------------------- experts


@dataclass
class RefExperts:
    q: np.ndarray  # [H, Z, S, G]
    v: np.ndarray  # [H + 1, Z, S]
    policy: np.ndarray  # [H, Z, S, G]
    value: np.ndarray  # [Z]


def greedy_row(q_row: np.ndarray) -> np.ndarray:
    """One-hot of the lowest index whose value is within TIE_TOL of the best."""
    best = max(q_row)
    out = np.zeros(len(q_row))
    for g, val in enumerate(q_row):
        if val >= best - TIE_TOL:
            out[g] = 1.0
            break
    return out


def softmax_row(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / e.sum()


def experts(m: Model, temperature: float | None = None) -> RefExperts:
    num_z, num_s, num_g, _ = m.shape
    horizon = m.horizon
    q = np.zeros((horizon, num_z, num_s, num_g))
    v = np.zeros((horizon + 1, num_z, num_s))
    policy = np.zeros((horizon, num_z, num_s, num_g))
    for h in range(horizon - 1, -1, -1):
        for z in range(num_z):
            for s in range(num_s):
                for g in range(num_g):
                    q[h, z, s, g] = m.reward[z, s, g] + sum(
                        m.transition[z, s, g, t] * v[h + 1, z, t] for t in range(num_s)
                    )
                v[h, z, s] = max(q[h, z, s])
                if temperature is None:
                    policy[h, z, s] = greedy_row(q[h, z, s])
                else:
                    policy[h, z, s] = softmax_row(q[h, z, s] / temperature)
    value = np.array([sum(m.init[z, s] * v[0, z, s] for s in range(num_s)) for z in range(num_z)])
    return RefExperts(q, v, policy, value)


def policy_value(m: Model, policy: np.ndarray) -> np.ndarray:
    """``J_z(pi)`` for a Markov policy ``[H, S, G]`` shared by all tasks or ``[H, Z, S, G]``."""
    num_z, num_s, num_g, _ = m.shape
    out = np.zeros(num_z)
    for z in range(num_z):
        pol = policy if policy.ndim == 3 else policy[:, z]
        v_next = np.zeros(num_s)
        for h in range(m.horizon - 1, -1, -1):
            v = np.zeros(num_s)
            for s in range(num_s):
                for g in range(num_g):
                    v[s] += pol[h, s, g] * (m.reward[z, s, g] + m.transition[z, s, g] @ v_next)
            v_next = v
        out[z] = m.init[z] @ v_next
    return out


def action_gap_max(ex: RefExperts) -> float:
    horizon = ex.q.shape[0]
    return max(float(np.max(ex.v[h][..., None] - ex.q[h])) for h in range(horizon))


# ----------------------------------------------------------------------------- filter


@dataclass
class RefBelief:
    log_task: np.ndarray  # [Z], -inf for ruled-out tasks
    state: np.ndarray  # [Z, S], q(s | z), rows sum to 1

    @property
    def task(self) -> np.ndarray:
        return np.exp(self.log_task)

    @property
    def joint(self) -> np.ndarray:
        return self.task[:, None] * self.state


def logsumexp(x: np.ndarray) -> float:
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return -math.inf
    top = finite.max()
    return float(top + math.log(sum(math.exp(a - top) for a in finite)))


def _fold(log_task: np.ndarray, prediction: np.ndarray, likelihood: np.ndarray):
    """New belief from ``b'(z, s) ∝ w(z) prediction[z, s] likelihood[z, s]``.

    Returns ``(belief, log_normaliser, misspecified)``. On a misspecification event
    (zero probability under every (z, s) of positive belief) the task marginal is
    kept and each task's state belief becomes the prediction.
    """
    num_z = len(log_task)
    unnorm = prediction * likelihood
    evidence = unnorm.sum(axis=1)
    log_joint = np.array([log_task[z] + math.log(evidence[z]) if evidence[z] > 0 else -math.inf for z in range(num_z)])
    log_norm = logsumexp(log_joint)
    if not math.isfinite(log_norm):
        return RefBelief(log_task.copy(), prediction.copy()), -math.inf, True
    new_state = np.array([unnorm[z] / evidence[z] if evidence[z] > 0 else prediction[z] for z in range(num_z)])
    return RefBelief(log_joint - log_norm, new_state), log_norm, False


def log_prior(prior: np.ndarray) -> np.ndarray:
    lp = np.log(prior)
    return lp - logsumexp(lp)


def begin_episode(m: Model, log_task: np.ndarray, obs: int):
    """``b_{t,1}(z, s) ∝ w_t(z) mu_z(s) O_z(o_1|s)``."""
    return _fold(np.asarray(log_task, np.float64), m.init.copy(), m.emission[:, :, obs])


def predict(m: Model, state: np.ndarray, subgoal: int) -> np.ndarray:
    num_z, num_s, _, _ = m.shape
    out = np.zeros((num_z, num_s))
    for z in range(num_z):
        for s in range(num_s):
            out[z] += state[z, s] * m.transition[z, s, subgoal]
    return out


def update(m: Model, belief: RefBelief, subgoal: int, obs: int):
    """``b'(z, s') ∝ sum_s b(z, s) P_z(s'|s, g) O_z(o'|s')``."""
    return _fold(belief.log_task, predict(m, belief.state, subgoal), m.emission[:, :, obs])


def delusional(belief: RefBelief, expert_policy_h: np.ndarray, subgoal: int):
    """``b(z, s) ∝ b(z, s) pi*_{z,h}(g|s)``: the planner's own subgoal counted as expert evidence."""
    return _fold(belief.log_task, belief.state.copy(), expert_policy_h[:, :, subgoal])


def filter_episode(m: Model, log_task: np.ndarray, observations, subgoals):
    """Decision-time beliefs ``[H]``, log normalisers ``[H+1]``, flags ``[H+1]``, end belief."""
    b, ln, miss = begin_episode(m, log_task, observations[0])
    beliefs, lns, misses = [], [ln], [miss]
    for g, o in zip(subgoals, observations[1:]):
        beliefs.append(b)
        b, ln, miss = update(m, b, g, o)
        lns.append(ln)
        misses.append(miss)
    return beliefs, np.array(lns), np.array(misses), b


def episode_log_evidence(m: Model, log_task: np.ndarray, observations, subgoals) -> float:
    """``log sum_z w(z) sum_{s_1..s_{H+1}} mu_z(s_1) O_z(o_1|s_1) prod_h P_z(s_{h+1}|s_h,g_h) O_z(o_{h+1}|s_{h+1})``
    by enumerating every state path (tiny sizes only)."""
    num_z, num_s, _, _ = m.shape
    total = 0.0
    horizon = len(subgoals)
    for z in range(num_z):
        w = math.exp(log_task[z])
        if w == 0:
            continue
        for path in np.ndindex(*([num_s] * (horizon + 1))):
            p = m.init[z, path[0]] * m.emission[z, path[0], observations[0]]
            for h in range(horizon):
                p *= (
                    m.transition[z, path[h], subgoals[h], path[h + 1]] * m.emission[z, path[h + 1], observations[h + 1]]
                )
            total += w * p
    return math.log(total) if total > 0 else -math.inf


# ----------------------------------------------------------------------------- planners


def bail(belief: RefBelief, policy_h: np.ndarray) -> np.ndarray:
    """``sum_{z,s} b(z, s) pi*_{z,h}(g|s)``."""
    num_z, num_s, num_g = policy_h.shape
    joint = belief.joint
    out = np.zeros(num_g)
    for z in range(num_z):
        for s in range(num_s):
            out += joint[z, s] * policy_h[z, s]
    return out


def task_expert(belief: RefBelief, policy_h: np.ndarray, task: int) -> np.ndarray:
    """Task ``task``'s expert acting on ``q(s | task)``."""
    return belief.state[task] @ policy_h[task]


def map_task(belief: RefBelief) -> int:
    best = max(belief.log_task)
    return int(min(z for z, lw in enumerate(belief.log_task) if lw == best))


# ----------------------------------------------------------------------------- brute force


def bail_episode_outcomes(m: Model, ex: RefExperts, task: int, log_task: np.ndarray):
    """Every trajectory of one BAIL episode with true task ``task`` from task belief ``log_task``.

    Returns a list of ``(probability, gap, total_reward, end_log_task)``: the gap is
    ``sum_h V*_h(s_h) - Q*_h(s_h, g_h)`` and ``end_log_task`` the task marginal after
    ``o_{H+1}``, the carry-over into the next episode.
    """
    _, num_s, num_g, num_o = m.shape
    out = []

    def rec(h, s, belief, prob, gap, ret):
        if h == m.horizon:
            out.append((prob, gap, ret, belief.log_task))
            return
        pi = bail(belief, ex.policy[h])
        for g in range(num_g):
            if pi[g] <= 0:
                continue
            step_gap = ex.v[h, task, s] - ex.q[h, task, s, g]
            step_ret = m.reward[task, s, g]
            for o2 in range(num_o):
                reachable = [
                    s2 for s2 in range(num_s) if m.transition[task, s, g, s2] > 0 and m.emission[task, s2, o2] > 0
                ]
                if not reachable:
                    continue
                nb, _, miss = update(m, belief, g, o2)  # the belief depends on (g, o2), not on s2
                assert not miss
                for s2 in reachable:
                    p = prob * pi[g] * m.transition[task, s, g, s2] * m.emission[task, s2, o2]
                    rec(h + 1, s2, nb, p, gap + step_gap, ret + step_ret)

    for s1 in range(num_s):
        if m.init[task, s1] <= 0:
            continue
        for o1 in range(num_o):
            p = m.init[task, s1] * m.emission[task, s1, o1]
            if p <= 0:
                continue
            b, _, miss = begin_episode(m, log_task, o1)
            assert not miss
            rec(0, s1, b, p, 0.0, 0.0)
    return out


def bail_expected_episode(m: Model, ex: RefExperts, task: int, log_task: np.ndarray) -> tuple[float, float]:
    """``(E gap, E total reward)`` of one BAIL episode from task belief ``log_task``."""
    outcomes = bail_episode_outcomes(m, ex, task, log_task)
    total_p = sum(o[0] for o in outcomes)
    assert abs(total_p - 1.0) < 1e-5, total_p  # float32 tables: rows sum to 1 within ~1e-7
    return sum(p * gap for p, gap, _, _ in outcomes), sum(p * ret for p, _, ret, _ in outcomes)


def bail_exact_regret(m: Model, ex: RefExperts, num_episodes: int = 1) -> np.ndarray:
    """Exact Bayesian expected per-episode regret of BAIL, episodes ``1..num_episodes`` (1 or 2).

    Returns ``[num_episodes, 2]``: columns are the expected gap regret and the
    expected return regret ``J*_z - E sum_h r`` (equal by performance difference),
    each averaged over ``z ~ rho``.
    """
    assert num_episodes in (1, 2)
    w1 = log_prior(m.prior)
    out = np.zeros((num_episodes, 2))
    for z, rho in enumerate(m.prior):
        outcomes = bail_episode_outcomes(m, ex, z, w1)
        gap1 = sum(p * gap for p, gap, _, _ in outcomes)
        ret1 = sum(p * r for p, _, r, _ in outcomes)
        out[0] += rho * np.array([gap1, ex.value[z] - ret1])
        if num_episodes == 2:
            gap2 = ret2 = 0.0
            for p, _, _, w2 in outcomes:
                g, r = bail_expected_episode(m, ex, z, w2)
                gap2 += p * g
                ret2 += p * r
            out[1] += rho * np.array([gap2, ex.value[z] - ret2])
    return out


# ----------------------------------------------------------------------------- sampling


def _choice(rng: np.random.Generator, probs: np.ndarray) -> int:
    p = np.asarray(probs, np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


def sample_episode(m: Model, task: int, rng: np.random.Generator, subgoals=None):
    """One episode of the environment ``m`` with true task ``task`` and uniformly random
    subgoals (or the given ones): ``(observations [H+1], subgoals [H], states [H+1])``."""
    num_g = m.shape[2]
    if subgoals is None:
        subgoals = rng.integers(0, num_g, size=m.horizon)
    s = _choice(rng, m.init[task])
    states, obs = [s], [_choice(rng, m.emission[task, s])]
    for g in subgoals:
        s = _choice(rng, m.transition[task, s, g])
        states.append(s)
        obs.append(_choice(rng, m.emission[task, s]))
    return np.array(obs), np.asarray(subgoals), np.array(states)


def bail_exact_regret_instructed(m: Model, num_episodes: int = 1) -> np.ndarray:
    """:func:`bail_exact_regret` with per-episode instructions ``omega ~ q`` (each episode's own draw):
    BAIL mixes ``pi*_{., omega}`` with the posterior carried over from the previous episode; regret
    is against ``J*_{z, omega}``. Returns ``[num_episodes, 2]`` (gap, return), Bayesian over ``z``."""
    assert num_episodes in (1, 2) and m.instructions is not None
    views = [instruction_model(m, w) for w in range(len(m.instructions))]
    exs = [experts(v) for v in views]
    w1 = log_prior(m.prior)
    out = np.zeros((num_episodes, 2))
    for z, rho in enumerate(m.prior):
        for w, q in enumerate(m.instructions):
            if q == 0:
                continue
            outcomes = bail_episode_outcomes(views[w], exs[w], z, w1)
            gap1 = sum(p * gap for p, gap, _, _ in outcomes)
            ret1 = sum(p * r for p, _, r, _ in outcomes)
            out[0] += rho * q * np.array([gap1, exs[w].value[z] - ret1])
            if num_episodes == 2:
                for p, _, _, end in outcomes:
                    for w2, q2 in enumerate(m.instructions):
                        if q2 == 0:
                            continue
                        g2, r2 = bail_expected_episode(views[w2], exs[w2], z, end)
                        out[1] += rho * q * p * q2 * np.array([g2, exs[w2].value[z] - r2])
    return out
