"""Theory overlays (SPEC 6): distinguishability, prior constants, exact lines and the epsilon-BAIL bound.

Also for the SPEC 8 extensions. **Instructions**: the dynamics (hence the posterior and ``eta``)
do not depend on the instruction, so an exact line is the ``q``-weighted sum of each
instruction's line, and the bound holds with ``Dmax`` the largest action gap over instructions
(a BAIL step under instruction ``omega`` still deviates from ``pi*_{z, omega}`` with probability
at most ``1 - w(z)``). **Several Actors**: the same quantities for the joint system, computed
with the factorised kernel; under a product exploration policy the Bhattacharyya coefficient of
independent Actors is the product of the per-Actor ones.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxbail import belief as filt
from jaxbail.env import SingleActor, kind_of, rollout
from jaxbail.experts import compute_experts
from jaxbail.instance import Instance, reporter_is_injective, same_values
from jaxbail.planners.base import Planner
from jaxbail.planners.core import Bail
from jaxbail.sampling import cumulative, draw
from jaxbail.stats import Z95

__all__ = ["Distinguishability", "Theory", "prior_coverage", "concentration", "max_action_gap",
           "distinguishability", "reporter_is_injective", "frozen_posterior", "exact_line",
           "epsilon_bound", "epsilon_bound_curve", "theory_curve", "optimal_epsilon", "bound_constants", "evaluate",
           "theory_for"]

ENUMERATION_LIMIT = 200_000
"""Largest number of observation/subgoal sequences eta is computed by exact enumeration for."""


class Distinguishability(NamedTuple):
    """``eta = min_{z != z'} D_H^2`` of episode trajectory laws under ``pi_exp``.

    Attributes:
      eta: the estimate (exact where ``method`` is not ``monte_carlo``).
      lo, hi: a 95% interval (equal to ``eta`` when exact).
      method: ``recursion`` (deterministic injective Reporter), ``enumeration``
        (every trajectory, small instances) or ``monte_carlo``.
      pair: the task pair attaining the minimum.
      hellinger: ``[Z, Z]`` all squared Hellinger distances (estimates).
    """

    eta: float
    lo: float
    hi: float
    method: str
    pair: tuple[int, int]
    hellinger: np.ndarray


class Theory(NamedTuple):
    """What the theory says for a run, or why it says nothing.

    ``kind`` is ``exact_line``, ``upper_bound`` or ``None`` (then ``note`` says why).
    """

    kind: str | None
    value: float | None
    formula: str | None
    note: str
    per_episode: float | None = None
    constants: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any] | None:
        if self.kind is None:
            return None
        return {"kind": self.kind, "value": self.value, "formula": self.formula}


def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _prior(instance: Instance) -> np.ndarray:
    """The prior as the simulator uses it: float32 entries renormalised in float64."""
    prior = _np(instance.prior)
    return prior / prior.sum()


def prior_coverage(prior) -> float:
    """``c_Z = max_z 1 / (Z rho(z))``."""
    prior = _np(prior)
    return float(np.max(1.0 / (prior.size * prior)))


def concentration(prior) -> np.ndarray:
    """``[Z]`` ``C_z = sum_{z' != z} sqrt(rho(z') / rho(z))``."""
    prior = _np(prior)
    root = np.sqrt(prior)
    return (root.sum() - root) / root


def _views(instance: Instance) -> list[tuple[int, float, Instance]]:
    """``[(omega, q(omega), instance of omega)]`` over the instructions drawn with positive probability
    (``[(-1, 1, instance)]`` without instructions)."""
    return kind_of(instance).views(instance)


def evaluate(instance: Instance, policy) -> tuple[np.ndarray, np.ndarray]:
    """Float64 policy evaluation of a Markov policy in every task's MDP.

    Args:
      instance: a plain instance (one instruction's view: :func:`~jaxbail.instance.instruction_view`)
        or a multi-agent one (joint states and subgoals, factorised kernel).
      policy: ``[H, S, G]`` (shared) or ``[H, Z, S, G]`` (per task) subgoal probabilities.
    Returns:
      ``(J [Z], Q [H, Z, S, G])``: expected total reward and the policy's Q-values.
    """
    kind = kind_of(instance)
    reward, policy = _np(instance.reward), _np(policy)
    if policy.ndim == 3:
        policy = np.broadcast_to(policy[:, None], (instance.horizon,) + reward.shape)
    v = np.zeros(reward.shape[:2])
    qs = []
    for h in reversed(range(instance.horizon)):
        q = reward + kind.expected_next64(instance, v)
        v = np.sum(policy[h] * q, axis=-1)
        qs.append(q)
    return kind.start_value64(instance, v), np.stack(qs[::-1])


def max_action_gap(instance: Instance) -> float:
    """``Dmax = max_{z,h,s,g} V*_{z,h}(s) - Q*_{z,h}(s,g)`` (float64, for the experts' greedy policy);
    with instructions the largest over the instructions drawn with positive probability."""
    gaps = []
    for _, _, view in _views(instance):
        _, q = evaluate(view, compute_experts(view).policy)
        gaps.append(float(np.max(q.max(axis=-1, keepdims=True) - q)))
    return max(gaps)


def _trajectory_count(instance: Instance) -> int:
    return instance.num_observations * (instance.num_subgoals * instance.num_observations) ** instance.horizon


def _bc_recursion(instance: Instance, explore: np.ndarray) -> np.ndarray:
    """``[Z, Z]`` Bhattacharyya coefficients by a forward recursion in observation space
    (the Reporter is deterministic and injective, so observations are states)."""
    emission = _np(instance.emission)  # [Z, S, O], one-hot rows, injective
    init = np.einsum("zs,zso->zo", _np(instance.init), emission)
    trans = np.einsum("zso,zsgt,ztp->zogp", emission, _np(instance.transition), emission)
    num_tasks = instance.num_tasks
    bc = np.ones((num_tasks, num_tasks))
    for a in range(num_tasks):
        for b in range(a + 1, num_tasks):
            alpha = np.sqrt(init[a] * init[b])
            step = np.einsum("g,ogp->op", explore, np.sqrt(trans[a] * trans[b]))
            for _ in range(instance.horizon):
                alpha = alpha @ step
            bc[a, b] = bc[b, a] = alpha.sum()
    return bc


def _bc_enumeration(instance: Instance, explore: np.ndarray) -> np.ndarray:
    """``[Z, Z]`` Bhattacharyya coefficients by enumerating every (observation, subgoal) sequence."""
    init, trans, emission = _np(instance.init), _np(instance.transition), _np(instance.emission)
    # alpha[n, z, s] = P_z(prefix n, s_h = s) ; weight[n] = pi_exp(subgoals of prefix n)
    alpha = np.einsum("zs,zso->ozs", init, emission)
    weight = np.ones(alpha.shape[0])
    for _ in range(instance.horizon):
        pred = np.einsum("nzs,zsgt->ngzt", alpha, trans)
        alpha = np.einsum("ngzt,zto->ngozt", pred, emission).reshape(-1, *alpha.shape[1:])
        weight = np.einsum("n,g->ng", weight, explore)
        weight = np.repeat(weight[:, :, None], instance.num_observations, axis=2).reshape(-1)
    probs = alpha.sum(axis=-1)  # [n, Z], each P_z(obs | subgoals)
    return np.einsum("n,nz,ny->zy", weight, np.sqrt(probs), np.sqrt(probs))


def _bc_monte_carlo(instance: Instance, explore: np.ndarray, num_samples: int, key) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and standard errors of ``BC(z, z') = E_z sqrt(P_z'(traj) / P_z(traj))``."""
    model = instance.replace(name="")
    env = SingleActor.prepare(model)
    cum_explore = cumulative(jnp.asarray(explore, jnp.float32))
    horizon = instance.horizon
    uniform_log_task = filt.prior_log_task(jnp.ones(instance.num_tasks))

    def sample(key, task):
        u = jax.random.uniform(key, (3 * horizon + 2,))  # 0, 1 reset; 2 + 3h the subgoal, 3 + 3h, 4 + 3h the step
        state, obs0 = env.reset(task, u[0], u[1])

        def decide(_, h, state, obs):
            return draw(cum_explore, u[2 + 3 * h]), None, None

        def record(_, info, h, state, subgoal, next_state, next_obs):
            return None, (subgoal, next_obs)

        _, (subgoals, obs) = rollout(env, task, state, obs0, decide, record, lambda h: (u[3 + 3 * h], u[4 + 3 * h]),
                                     None, horizon)
        observations = jnp.concatenate([obs0[None], obs])
        *_, end_log_task = filt.filter_episode(model, uniform_log_task, observations, subgoals)
        # from a uniform prior, log_task[z'] - log_task[z] = log P_z'(traj) - log P_z(traj)
        return jnp.exp(0.5 * (end_log_task - end_log_task[task]))

    @jax.jit
    def run(key):
        def per_task(task):
            keys = jax.random.split(jax.random.fold_in(key, task), num_samples)
            return jax.vmap(sample, in_axes=(0, None))(keys, task)
        return jax.vmap(per_task)(jnp.arange(instance.num_tasks))  # [Z, n, Z]

    ratios = np.asarray(run(key), dtype=np.float64)
    return ratios.mean(axis=1), ratios.std(axis=1, ddof=1) / math.sqrt(num_samples)


def _bhattacharyya(instance: Instance, explore: np.ndarray, method: str, num_samples: int,
                   key: jax.Array | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(BC [Z, Z], standard errors or None where exact, method used)`` of one single-Actor instance."""
    if method == "auto":
        if reporter_is_injective(instance):
            method = "recursion"
        elif _trajectory_count(instance) <= ENUMERATION_LIMIT:
            method = "enumeration"
        else:
            method = "monte_carlo"
    if method == "recursion":
        if not reporter_is_injective(instance):
            raise ValueError("method='recursion' needs a deterministic injective Reporter")
        bc, se = _bc_recursion(instance, explore), None
    elif method == "enumeration":
        bc, se = _bc_enumeration(instance, explore), None
    elif method == "monte_carlo":
        key = jax.random.PRNGKey(0) if key is None else key
        est, est_se = _bc_monte_carlo(instance, explore, num_samples, key)
        # symmetrise: average the two directions' estimates
        bc, se = 0.5 * (est + est.T), 0.5 * np.sqrt(est_se**2 + est_se.T**2)
    else:
        raise ValueError(f"method: must be auto, recursion, enumeration or monte_carlo, got {method!r}")
    return bc, se, method


def distinguishability(instance: Instance, explore=None, *, method: str = "auto", num_samples: int = 20_000,
                       key: jax.Array | None = None) -> Distinguishability:
    """``eta`` of SPEC 6 under the exploration policy (uniform by default).

    ``method="auto"``: the exact recursion when the Reporter is deterministic and
    injective, exact enumeration when there are at most ``ENUMERATION_LIMIT``
    trajectories, else Monte Carlo with a 95% interval.

    With instructions: the dynamics' ``eta`` (the instruction does not change observation laws).
    For several Actors: ``explore [G^N]`` must be a product of per-Actor policies (uniform by
    default); then ``BC(z, z') = prod_i BC_i(z, z')`` with each Actor's ``BC_i`` computed as above
    (``method`` ``product(...)``; with Monte Carlo Actors the interval multiplies their 95% ends).
    """
    if instance.num_tasks < 2:
        raise ValueError("distinguishability needs at least two tasks")
    kind = kind_of(instance)
    actors = kind.actors(instance)  # eta depends on the dynamics only (not on an instruction)
    factors = kind.explore_factors(instance, explore)
    bc, bc_lo, bc_hi, methods = 1.0, 1.0, 1.0, []
    for i, actor in enumerate(actors):
        actor_bc, actor_se, actor_method = _bhattacharyya(actor, factors[i], method, num_samples,
                                                          kind.actor_key(key, i))
        spread = 0.0 if actor_se is None else Z95 * actor_se
        bc, bc_lo, bc_hi = bc * actor_bc, bc_lo * np.clip(actor_bc - spread, 0, 1), bc_hi * np.clip(
            actor_bc + spread, 0, 1)
        methods.append(actor_method)
    exact = all(m != "monte_carlo" for m in methods)
    return _from_bc(bc, None if exact else (bc_lo, bc_hi), kind.eta_method(methods))


def _from_bc(bc: np.ndarray, bounds: tuple[np.ndarray, np.ndarray] | None, method: str) -> Distinguishability:
    """``eta`` and its interval from Bhattacharyya coefficients (``bounds``: their lower and upper 95% ends)."""
    hellinger = np.clip(1.0 - bc, 0.0, 1.0)
    np.fill_diagonal(hellinger, np.inf)
    a, b = np.unravel_index(np.argmin(hellinger), hellinger.shape)
    eta = float(hellinger[a, b])
    if bounds is None:
        lo = hi = eta
    else:
        lows = np.clip(1.0 - bounds[1], 0.0, 1.0)
        highs = np.clip(1.0 - bounds[0], 0.0, 1.0)
        np.fill_diagonal(lows, np.inf)
        np.fill_diagonal(highs, np.inf)
        lo, hi = float(lows.min()), float(highs.min())
    np.fill_diagonal(hellinger, 0.0)
    return Distinguishability(eta, lo, hi, method, (int(min(a, b)), int(max(a, b))), hellinger)


def frozen_posterior(instance: Instance, experts=None, policy=None) -> tuple[bool, str]:
    """Whether the posterior can never move under the experts' subgoals (SPEC 6), or under
    ``policy`` (``[..., G]``, e.g. BAWM's plan) when given.

    Checked as: identical initial laws and Reporters for all tasks, and identical
    transitions for all tasks under every subgoal the policy uses at some step and state
    (with instructions, at some instruction; for several Actors, which are independent given the
    task, per Actor under each component of the joint subgoals used).
    """
    if policy is None:
        experts = compute_experts(instance) if experts is None else experts
        policy = experts.policy
    kind = kind_of(instance)
    used = np.flatnonzero(_np(policy).reshape(-1, instance.num_subgoals).max(axis=0) > 0)
    digits = kind.subgoal_digits(instance, used)  # [used, N]: each Actor's component
    actors = kind.actors(instance)
    for i, actor in enumerate(actors):
        who, whom = ("the ", "") if len(actors) == 1 else (f"Actor {i}'s ", f" for Actor {i}")
        init, emission, trans = _np(actor.init), _np(actor.emission), _np(actor.transition)
        if not np.allclose(init, init[:1], atol=1e-7):
            return False, f"{who}initial-state laws differ across tasks"
        if not np.allclose(emission, emission[:1], atol=1e-7):
            return False, f"{who}Reporters differ across tasks"
        used_trans = trans[:, :, np.unique(digits[:, i]), :]
        if not np.allclose(used_trans, used_trans[:1], atol=1e-7):
            return False, f"a subgoal the policy uses has task-dependent transitions{whom}"
    return True, f"the policy uses subgoals {used.tolist()}, whose laws are the same in every task"


def _per_task_regret(instance: Instance, play, experts_policy: np.ndarray) -> np.ndarray:
    """``[Z]`` exact per-episode regret of a planner that plays ``play`` (a
    :class:`~jaxbail.planners.base.MarkovPlay`) on this instance."""
    values, _ = evaluate(instance, experts_policy)
    per_policy = np.stack([evaluate(instance, policy)[0] for policy in play.policies])
    return values - _np(play.weights) @ per_policy


def _average(per_task: np.ndarray, instance: Instance, task: int | None) -> float:
    return float(per_task[task]) if task is not None else float(_prior(instance) @ per_task)


def exact_line(instance: Instance, planner, task: int | None = None) -> Theory:
    """The exact per-episode regret ``c`` (``Reg(T) = c T``) where one applies.

    Where the planner says it plays a fixed Markov policy (:meth:`~jaxbail.planners.base.Planner.frozen_play`):
    ``oracle`` and ``uniform`` anywhere; ``bail``, ``map``, ``psrl`` and ``bawm`` on a
    frozen-posterior instance with an injective Reporter, where each is a fixed
    Markov policy (policy evaluation gives ``c``). With instructions, ``c`` is the
    ``q``-weighted sum of each instruction's line (each must exist); for several Actors,
    the joint system's, evaluated with the factorised kernel.
    """
    total = None
    for w, q_w, view in _views(instance):
        line = _view_exact_line(view, planner, task)
        if line.kind is None:
            return line if w < 0 else Theory(None, None, None, f"{line.note} under instruction {w}")
        total = q_w * line.per_episode if total is None else total + q_w * line.per_episode
    return Theory("exact_line", None, None, "exact per-episode regret by policy evaluation"
                  + kind_of(instance).line_note, per_episode=total)


def _view_exact_line(instance: Instance, planner, task: int | None) -> Theory:
    """:func:`exact_line` of one instruction's view (or of an instance without instructions)."""
    experts = compute_experts(instance)
    experts_policy = _np(experts.policy)
    play = planner.frozen_play(instance, experts_policy, _prior(instance))
    if play is None:
        return Theory(None, None, None, f"no exact line for planner {type(planner).__name__}")
    if play.reads_posterior:
        frozen, why = frozen_posterior(instance, experts, play.frozen_under)
        if not frozen:
            return Theory(None, None, None, f"no exact line: the posterior can move ({why})")
        if not reporter_is_injective(instance):
            return Theory(None, None, None, "no exact line: the Reporter is not injective, so the policy "
                          "depends on the observation history")
    c = _average(_per_task_regret(instance, play, experts_policy), instance, task)
    return Theory("exact_line", None, None, "", per_episode=c)


def bound_constants(instance: Instance, task: int | None = None, explore=None,
                    eta: Distinguishability | None = None) -> tuple[float, float, Distinguishability]:
    """``(Dmax, C, eta)`` of the epsilon-BAIL bound: ``C = C_z`` for a fixed task, its
    prior average in Bayesian mode."""
    eta = distinguishability(instance, explore) if eta is None else eta
    c_const = _average(concentration(_prior(instance)), instance, task)
    return max_action_gap(instance), c_const, eta


def optimal_epsilon(dmax: float, c_const: float, eta: float, num_episodes: int) -> float:
    """The bound-optimal ``eps* = min(1, sqrt(Dmax C / (eta T)))``."""
    return float(min(1.0, math.sqrt(dmax * c_const / (eta * num_episodes))))


def epsilon_bound_curve(horizon: int, dmax: float, c_const: float, eta: float, episodes,
                        scale: float, power: float, delta: float = 0.0) -> np.ndarray:
    """The SPEC 6 upper bound on ``E Reg(t)`` of epsilon-BAIL at each ``t`` in ``episodes``.

    Fixed ``eps`` (``power = 0``): ``eps t H + H Dmax C / (eps eta)``. A decaying
    schedule ``eps_t = min(1, scale t^-power)``: the same argument summed episode by
    episode, ``sum_{u<=t} min(H, eps_u H + H Dmax C prod_{s<u} (1 - eta eps_s))``.

    ``delta > 0`` is the practical setting (SPEC 6): a planner at mean total variation ``delta``
    from BAIL on its own decisions adds ``(1 - eps_u) H delta Dmax`` per episode, i.e.
    ``(1 - eps) t H delta Dmax`` for a fixed ``eps``.
    """
    episodes = np.asarray(episodes, dtype=np.int64)
    if power == 0:
        eps = min(1.0, scale)
        if eps <= 0:
            return np.full(episodes.shape, np.inf)
        return (eps * episodes * horizon + horizon * dmax * c_const / (eps * eta)
                + (1.0 - eps) * episodes * horizon * delta * dmax)
    t = np.arange(1, int(episodes.max()) + 1, dtype=np.float64)
    eps_t = np.minimum(1.0, scale * t ** (-power))
    survive = np.concatenate([[1.0], np.cumprod(1.0 - eta * eps_t)[:-1]])
    per_episode = np.minimum(horizon, eps_t * horizon + horizon * dmax * c_const * survive
                             + (1.0 - eps_t) * horizon * delta * dmax)
    return np.cumsum(per_episode)[episodes - 1]


def epsilon_bound(horizon: int, dmax: float, c_const: float, eta: float, num_episodes: int,
                  scale: float, power: float, delta: float = 0.0) -> tuple[float, str]:
    """The bound of :func:`epsilon_bound_curve` at ``T = num_episodes``, with its formula."""
    value = float(epsilon_bound_curve(horizon, dmax, c_const, eta, [num_episodes], scale, power, delta)[0])
    if power == 0:
        extra = " + (1-eps)*T*H*delta*Dmax" if delta else ""
        return value, "eps*T*H + H*Dmax*C/(eps*eta)" + extra
    extra = " + (1-eps_t)*H*delta*Dmax" if delta else ""
    return value, f"sum_t min(H, eps_t*H + H*Dmax*C*prod_{{s<t}}(1 - eta*eps_s){extra})"


def theory_curve(th: Theory, episodes) -> np.ndarray | None:
    """The line or bound of ``th`` at each logged episode count (``None`` where there is none)."""
    episodes = np.asarray(episodes, dtype=np.float64)
    if th.kind == "exact_line":
        return th.per_episode * episodes
    if th.kind == "upper_bound" and th.constants is not None:
        return epsilon_bound_curve(**th.constants, episodes=episodes.astype(np.int64))
    return None


def theory_for(instance: Instance, planner: Planner, num_episodes: int, task: int | None = None, *,
               model: Instance | None = None, expert_temperature: float | None = None,
               eta: Distinguishability | None = None, delta: float | None = None) -> Theory:
    """The line or bound matching a run of ``planner`` on ``instance``, or why none applies.

    ``delta`` is the planner's measured mean total variation to BAIL on its own decisions (the
    pretrained ``llm``): with it, an epsilon-greedy planner around anything gets SPEC 6's
    practical bound (the epsilon-BAIL bound plus ``(1 - eps) T H delta Dmax``), and a planner
    without exploration gets no number (its regret is BAIL's only up to ``delta``).

    The planner says what applies: :meth:`~jaxbail.planners.base.Planner.exploration` (the schedule
    of an epsilon-greedy planner), :attr:`~jaxbail.planners.base.Planner.bail_bound` of the planner
    it wraps, and :meth:`~jaxbail.planners.base.Planner.frozen_play` for the exact line.
    """
    if model is not None and not same_values(model, instance):
        return Theory(None, None, None, "no theory: the planner's model differs from the environment")
    if expert_temperature is not None:
        return Theory(None, None, None, "no theory: the experts are Boltzmann, not optimal")
    if delta is not None and not (math.isfinite(delta) and 0.0 <= delta <= 1.0):
        raise ValueError(f"delta: must be a total variation in [0, 1], got {delta}")
    schedule = planner.exploration()
    if delta is not None and schedule is None:
        line = exact_line(instance, Bail(), task)
        bail = (f"; BAIL's exact line here is c*T with c = {line.per_episode:.6g} per episode"
                if line.kind == "exact_line" else "")
        return Theory(None, None, None, f"no theory: {type(planner).__name__} is BAIL only up to its measured "
                      f"delta = {delta:.4g} (the practical bound needs exploration){bail}")
    if schedule is not None:
        if schedule.inner.bail_bound is None and delta is None:
            return Theory(None, None, None, f"no bound for epsilon-greedy around {type(schedule.inner).__name__} "
                          "without its measured delta to BAIL")
        if not reporter_is_injective(instance):
            return Theory(None, None, None, "no bound: it is derived for an injective Reporter (known state)")
        if instance.num_tasks < 2:
            return Theory("upper_bound", float(num_episodes * instance.horizon * float(schedule.scale)),
                          "eps*T*H (one task)", "one task: only exploration costs")
        dmax, c_const, eta = bound_constants(instance, task, schedule.explore, eta)
        if eta.lo <= 0:
            return Theory(None, None, None, "no bound: eta = 0 under the exploration policy (tasks indistinguishable)")
        practical = 0.0 if delta is None else float(delta)
        value, formula = epsilon_bound(instance.horizon, dmax, c_const, eta.lo, num_episodes,
                                       float(schedule.scale), float(schedule.power), practical)
        constants = {"horizon": instance.horizon, "dmax": dmax, "c_const": c_const, "eta": eta.lo,
                     "scale": float(schedule.scale), "power": float(schedule.power)}
        if delta is not None:
            constants["delta"] = practical
        caveat = f"; {schedule.inner.bail_bound}" if schedule.inner.bail_bound else ""
        system = kind_of(instance).system_note
        if delta is not None:
            caveat += f"; practical setting (SPEC 6): delta={practical:.4g} measured along this run"
        note = (f"eta={eta.eta:.6g} ({eta.method}{'' if eta.lo == eta.hi else ', lower 95% end used'}), "
                f"Dmax={dmax:.6g}, C={c_const:.6g}, H={instance.horizon}{system}{caveat}")
        return Theory("upper_bound", value, formula, note, constants=constants)
    line = exact_line(instance, planner, task)
    if line.kind is None:
        return line
    value = line.per_episode * num_episodes
    formula = f"c*T with c = J*_z - J_z(pi) = {line.per_episode:.9g} per episode"
    return Theory("exact_line", float(value), formula, line.note, line.per_episode)
