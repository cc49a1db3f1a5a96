"""Theory overlays: eta, prior constants, exact lines and bounds, and the paper's regret claims on `hard`."""

import math

import jax
import numpy as np
import pytest

from jaxbail import stats, theory
from jaxbail.experiment import parse_eps, resolve_planner, run_and_summarize
from jaxbail.instances import actor_slip, hard, random_instance
from jaxbail.planners import make_planner
from jaxbail.runner import simulate


@pytest.mark.parametrize("num_tasks, horizon, reveal", [(2, 3, 1.0), (3, 5, 1.0), (4, 2, 0.5)])
def test_eta_on_hard_has_its_closed_form(num_tasks, horizon, reveal):
    # trajectories of two tasks differ only once the probe (prob 1/G per step) reveals;
    # BC = P(no revealing probe in H steps) = (1 - reveal/G)^H
    eta = theory.distinguishability(hard(num_tasks, horizon, reveal=reveal))
    assert eta.method == "recursion"
    assert eta.eta == pytest.approx(1 - (1 - reveal / (num_tasks + 1)) ** horizon, abs=1e-12)


def test_recursion_equals_enumeration_on_an_injective_instance():
    inst = random_instance(3, num_tasks=3, num_states=3, num_subgoals=2, horizon=3)
    rec = theory.distinguishability(inst, method="recursion")
    enum = theory.distinguishability(inst, method="enumeration")
    np.testing.assert_allclose(rec.hellinger, enum.hellinger, atol=1e-12)


def test_exploration_distribution_changes_eta():
    inst = hard(3, 4)
    probe_heavy = theory.distinguishability(inst, explore=[0.1, 0.1, 0.1, 0.7])
    assert probe_heavy.eta == pytest.approx(1 - 0.3**4, abs=1e-6)


def test_monte_carlo_eta_agrees_with_enumeration_within_its_error():
    inst = random_instance(5, num_tasks=3, num_states=3, num_subgoals=2, horizon=3, reporter="noisy", noise=0.3)
    exact = theory.distinguishability(inst)
    assert exact.method == "enumeration"
    mc = theory.distinguishability(inst, method="monte_carlo", num_samples=40_000, key=jax.random.PRNGKey(7))
    se = (mc.hi - mc.lo) / (2 * 1.959963984540054)
    assert abs(mc.eta - exact.eta) <= 4 * se
    assert mc.lo < mc.hi


def test_prior_constants():
    prior = np.array([0.5, 0.25, 0.25])
    assert theory.prior_coverage(prior) == pytest.approx(1 / (3 * 0.25))
    c = theory.concentration(prior)
    assert c[0] == pytest.approx(2 * math.sqrt(0.25 / 0.5))
    assert c[1] == pytest.approx(math.sqrt(0.5 / 0.25) + 1.0)


def test_max_action_gap_on_hard_is_one():
    assert theory.max_action_gap(hard(3, 5)) == pytest.approx(1.0)


def test_frozen_posterior_detection():
    assert theory.frozen_posterior(hard())[0]
    frozen, why = theory.frozen_posterior(actor_slip())
    assert not frozen and "task-dependent transitions" in why


@pytest.mark.parametrize("prior", [None, [0.6, 0.3, 0.1]])
def test_exact_bail_line_on_hard_is_h_times_one_minus_sum_rho_squared(prior):
    inst = hard(3, 5, prior=prior)
    rho = np.full(3, 1 / 3) if prior is None else np.asarray(prior)
    th = theory.theory_for(inst, make_planner("bail"), 100)
    assert th.kind == "exact_line"
    assert th.per_episode == pytest.approx(5 * (1 - np.sum(rho**2)), rel=1e-6)
    fixed = theory.theory_for(inst, make_planner("bail"), 100, task=2)
    assert fixed.per_episode == pytest.approx(5 * (1 - rho[2]), rel=1e-6)


def test_no_exact_line_or_bound_where_the_theory_does_not_apply():
    assert theory.theory_for(actor_slip(), make_planner("bail"), 10).kind is None
    noisy = random_instance(0, reporter="noisy")
    th = theory.theory_for(noisy, make_planner("eps_bail"), 10)
    assert th.kind is None and "injective" in th.note
    assert theory.theory_for(hard(), make_planner("bail"), 10, expert_temperature=0.5).kind is None


def test_epsilon_bound_closed_form_and_schedule_sum():
    value, formula = theory.epsilon_bound(5, 1.0, 2.0, 0.5, 1000, 0.1, 0.0)
    assert value == pytest.approx(0.1 * 1000 * 5 + 5 * 1.0 * 2.0 / (0.1 * 0.5))
    assert "eps*T*H" in formula
    anytime, _ = theory.epsilon_bound(5, 1.0, 2.0, 0.5, 1000, 1.0, 0.5)
    t = np.arange(1, 1001)
    eps = np.minimum(1, t**-0.5)
    survive = np.concatenate([[1.0], np.cumprod(1 - 0.5 * eps)[:-1]])
    assert anytime == pytest.approx(np.minimum(5, 5 * eps + 10 * survive).sum())
    assert theory.optimal_epsilon(1.0, 2.0, 0.5, 1000) == pytest.approx(math.sqrt(2.0 / 500))


# --- the paper's claims on `hard`, with tolerances from measured standard errors ---


@pytest.mark.parametrize("task", [None, 0])
def test_bail_regret_on_hard_is_the_exact_line(task):
    inst = hard(3, 5, prior=[0.5, 0.3, 0.2])
    num_episodes = 200
    result = simulate(jax.random.PRNGKey(11), inst, make_planner("bail"), num_episodes=num_episodes,
                      num_seeds=2000, task=task, progress=False)
    per_episode = stats.mean_ci(result.gap_regret[:, -1] / num_episodes)
    exact = theory.theory_for(inst, make_planner("bail"), num_episodes, task).per_episode
    assert abs(per_episode.mean - exact) <= 4 * per_episode.se
    slope = stats.loglog_slope(result.episodes, result.gap_regret)
    assert abs(slope.slope - 1.0) <= 0.05


def test_eps_bail_anytime_schedule_is_sublinear_on_hard():
    summary = run_and_summarize(hard(3, 5), "eps_bail", num_episodes=2000, num_seeds=400,
                                eps=parse_eps("anytime:1"), seed=3, progress=False)
    assert summary["slope"] < 0.65
    bail = theory.theory_for(hard(3, 5), make_planner("bail"), 2000)
    assert summary["regret_ci95"][1] < bail.value  # far below BAIL's line


def test_eps_bail_auto_stays_under_its_printed_bound():
    summary = run_and_summarize(hard(3, 5), "eps_bail", num_episodes=2000, num_seeds=400,
                                eps=parse_eps("auto"), seed=4, progress=False)
    assert summary["theory"]["kind"] == "upper_bound"
    assert summary["regret_ci95"][1] <= summary["theory"]["value"]


def test_auto_eps_is_the_bound_optimal_value():
    inst = hard(3, 5)
    planner, info = resolve_planner("eps_bail", inst, 1000, None, parse_eps("auto"))
    eta = 1 - 0.75**5
    assert info["eps"] == pytest.approx(math.sqrt(1.0 * 2.0 / (eta * 1000)), rel=1e-9)
    assert float(planner.scale) == pytest.approx(info["eps"], rel=1e-6)
