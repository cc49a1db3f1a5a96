"""Closed-form regret of ``bail_window`` (exact BAIL from the last ``K`` episodes) on ``hard``.

Setting (SPEC 6's ``hard``, :func:`jaxbail.instances.hard`): ``Z`` tasks, horizon ``H``, prior
``rho``, probe reveal probability ``q``. Subgoals ``0..Z-1`` are arms (arm ``g`` pays 1 in task
``g``, returns home in every task), subgoal ``Z`` is the probe (pays 0, leads to task ``z``'s
signpost with probability ``q``, home otherwise). The planner is ``eps_bail_window`` with a fixed
``eps`` and exploration distribution ``pi_exp`` over the ``Z + 1`` subgoals (uniform by default),
decided once per episode.

Derivation (gap estimator, SPEC 5). ``V*_h = H - h`` everywhere, and ``V*_h - Q*_h(s, g) = 1 -
[g = z]`` for every state and subgoal (a non-paying arm and the probe both lose exactly the one
reward of that step). So a step costs ``1 - P(g = z)``.

* An **exploring** episode plays ``pi_exp`` at every step: it costs ``H (1 - pi_exp(z))``.
* An episode **reveals** the task iff at least one of its steps plays the probe and lands on the
  signpost: then the observation (the signpost of ``z``) has probability 0 under every other task.
  A probe that lands home, every arm and every home observation have the same probability under
  every task, so an episode that does not reveal multiplies the posterior by a constant: the
  posterior of a window without a revealing episode is the prior ``rho``, and that of a window
  with one is the point mass on ``z``. The experts (expert ``z`` pulls arm ``z`` in every state)
  never play the probe, so a BAIL episode never reveals; only exploring episodes do, each with
  probability ``r = 1 - (1 - pi_exp(Z) q)^H``, independently across episodes (the exploration
  coins and the environment noise are independent across episodes). Per episode:
  ``p = eps r``.
* A **BAIL** episode ``t`` (0-based) plays the window's posterior mixture of the experts. Its
  window holds the ``m_t = min(t, K - 1)`` episodes before it (and the current one, which
  reveals nothing while BAIL plays). With probability ``(1 - p)^{m_t}`` none of them revealed:
  the mixture is the prior's, and the episode costs ``H (1 - rho(z))``; otherwise it costs 0.

Hence the expected regret of episode ``t`` for task ``z``,

    E r_t(z) = eps H (1 - pi_exp(z)) + (1 - eps) H (1 - rho(z)) (1 - p)^{min(t, K-1)},

and cumulatively, with ``m = min(T, K - 1)`` and ``u = 1 - p``,

    E Reg_z(T) = eps T H (1 - pi_exp(z)) + (1 - eps) H (1 - rho(z)) [ (1 - u^m)/p + (T - m) u^{K-1} ]

(``T`` times ``u^0 = 1`` when ``p = 0``). ``K = inf`` is exact BAIL with the whole history
(``m = T``): the bracket becomes ``(1 - u^T)/p`` and the regret is ``eps T H (1 - pi_exp(z)) + O(1/p)``,
while for finite ``K`` the regret stays linear with slope ``eps H (1 - pi_exp(z)) + (1 - eps) H
(1 - rho(z)) (1 - p)^{K-1}`` once ``t >= K - 1``. Bayesian regret averages over ``z ~ rho``:
``1 - rho(z)`` becomes ``1 - sum rho^2`` and ``1 - pi_exp(z)`` becomes ``1 - sum rho pi_exp``.
With per-episode instructions (arm ``(z + omega) mod Z`` pays) every factor above is unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from jaxbail.instance import Instance

__all__ = ["HardParams", "hard_params", "reveal_probability", "window_regret_hard", "window_per_episode_hard"]


class HardParams:
    """``hard``'s numbers the closed form reads: ``prior [Z]``, ``horizon``, ``reveal`` (``q``)."""

    def __init__(self, prior, horizon: int, reveal: float):
        self.prior = np.asarray(prior, np.float64)
        self.horizon = int(horizon)
        self.reveal = float(reveal)

    @property
    def num_tasks(self) -> int:
        return self.prior.size


def hard_params(instance: Instance) -> HardParams:
    """Read ``prior``, ``H`` and ``q`` back from a ``hard`` instance's tables.

    Raises:
      ValueError: an instance that is not ``hard``'s construction (checked on its tables).
    """
    from jaxbail.instances import hard

    prior = np.asarray(instance.prior, np.float64)
    z_count = prior.size
    trans = np.asarray(instance.transition, np.float64)
    if instance.num_subgoals != z_count + 1 or instance.num_states != z_count + 1:
        raise ValueError("window_regret_hard: the instance is not hard (it needs Z + 1 states and subgoals)")
    reveal = float(trans[0, 0, z_count, 1])
    num_instr = None if instance.instructions is None else int(np.asarray(instance.instructions).size)
    ref = hard(num_tasks=z_count, horizon=instance.horizon, prior=prior, reveal=reveal, num_instructions=num_instr,
               instruction_probs=None if instance.instructions is None else np.asarray(instance.instructions))
    for field in ("init", "transition", "emission", "reward"):
        if not np.allclose(np.asarray(getattr(ref, field)), np.asarray(getattr(instance, field)), atol=1e-7):
            raise ValueError(f"window_regret_hard: the instance is not hard (its {field} table differs)")
    return HardParams(prior, instance.horizon, reveal)


def _explore(explore, num_subgoals: int) -> np.ndarray:
    if explore is None:
        return np.full(num_subgoals, 1.0 / num_subgoals)
    explore = np.asarray(explore, np.float64)
    if explore.shape != (num_subgoals,) or np.any(explore < 0) or not math.isclose(explore.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"explore: must be a distribution over the {num_subgoals} subgoals, got {explore.tolist()}")
    return explore


def _check(eps: float, window) -> None:
    if not (math.isfinite(eps) and 0.0 <= eps <= 1.0):
        raise ValueError(f"eps: must be in [0, 1], got {eps}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1):
        raise ValueError(f"window: must be an integer >= 1 or None (the whole history), got {window!r}")


def reveal_probability(params: HardParams, explore=None) -> float:
    """``r = 1 - (1 - pi_exp(probe) q)^H``: the chance an exploring episode reveals the task."""
    pi = _explore(explore, params.num_tasks + 1)
    return 1.0 - (1.0 - pi[-1] * params.reveal) ** params.horizon


def _costs(params: HardParams, explore, task):
    """``(explore cost per episode, BAIL's unrevealed cost per episode)`` for ``task`` or averaged over rho."""
    pi = _explore(explore, params.num_tasks + 1)
    rho, h = params.prior, params.horizon
    if task is None:
        return h * (1.0 - float(rho @ pi[:-1])), h * (1.0 - float(rho @ rho))
    if not 0 <= task < params.num_tasks:
        raise ValueError(f"task: must be in [0, {params.num_tasks - 1}], got {task}")
    return h * (1.0 - pi[task]), h * (1.0 - rho[task])


def window_per_episode_hard(params: HardParams | Instance, eps: float, window: int | None, episodes,
                            task: int | None = None, explore=None) -> np.ndarray:
    """``E r_t`` for 0-based episodes ``t`` (see the module docstring); ``window=None`` is the whole history."""
    params = params if isinstance(params, HardParams) else hard_params(params)
    _check(eps, window)
    t = np.asarray(episodes, np.float64)
    c_exp, c_bail = _costs(params, explore, task)
    survive = 1.0 - eps * reveal_probability(params, explore)
    m = t if window is None else np.minimum(t, window - 1)
    return eps * c_exp + (1.0 - eps) * c_bail * survive ** m


def window_regret_hard(params: HardParams | Instance, eps: float, window: int | None, num_episodes,
                       task: int | None = None, explore=None) -> np.ndarray:
    """Expected cumulative gap regret ``E Reg(T)`` of ``eps_bail_window`` (``K = window``, ``None`` for
    the whole history) on ``hard`` at each ``T`` in ``num_episodes`` (1-based counts, array-like).

    Bayesian (``task=None``, ``z ~ rho``) or for a fixed task. The derivation is the module docstring.
    """
    params = params if isinstance(params, HardParams) else hard_params(params)
    _check(eps, window)
    big_t = np.asarray(num_episodes, np.float64)
    c_exp, c_bail = _costs(params, explore, task)
    p = eps * reveal_probability(params, explore)
    u = 1.0 - p
    m = big_t if window is None else np.minimum(big_t, window - 1)
    if p == 0.0:
        bracket = big_t
    else:
        tail = 0.0 if window is None else (big_t - m) * u ** (window - 1)
        bracket = (1.0 - u ** m) / p + tail
    return eps * big_t * c_exp + (1.0 - eps) * c_bail * bracket
