"""BAWM: the plan in the posterior-mean model, its exact line, and linear vs sublinear regret."""

import jax
import numpy as np
import pytest

from jaxbail import stats, theory
from jaxbail.experiment import parse_eps, run_and_summarize
from jaxbail.instance import make_instance
from jaxbail.instances import hard
from jaxbail.planners import Bawm, make_planner, mean_model_plan
from jaxbail.runner import simulate


def safe_arm_instance(horizon=3):
    """Two tasks, one state; arm z pays 1 in task z only, a 'safe' arm pays 0.6 in both.
    The experts never use the safe arm, but the mean model (w = 1/2) prefers it: 0.6 > 0.5."""
    reward = np.array([[[1.0, 0.0, 0.6]], [[0.0, 1.0, 0.6]]])
    transition = np.ones((2, 1, 3, 1))
    emission = np.ones((2, 1, 1))
    return make_instance([0.5, 0.5], [[1.0], [1.0]], transition, emission, reward, horizon, name="safe_arm")


def test_mean_model_plan_picks_the_safe_arm_no_expert_uses():
    inst = safe_arm_instance()
    plan = np.asarray(mean_model_plan(np.array([0.5, 0.5], np.float32), inst.transition, inst.reward, 3))
    np.testing.assert_array_equal(plan[:, 0], np.tile([0.0, 0.0, 1.0], (3, 1)))
    skewed = np.asarray(mean_model_plan(np.array([0.7, 0.3], np.float32), inst.transition, inst.reward, 3))
    np.testing.assert_array_equal(skewed[:, 0], np.tile([1.0, 0.0, 0.0], (3, 1)))  # 0.7 > 0.6


def test_bawm_and_bail_differ_where_the_mean_plan_is_not_the_expert_mixture():
    inst = safe_arm_instance(horizon=4)
    bawm = theory.theory_for(inst, make_planner("bawm"), 100)
    bail = theory.theory_for(inst, make_planner("bail"), 100)
    assert bawm.per_episode == pytest.approx(4 * (1 - 0.6), abs=1e-6)  # safe arm every step
    assert bail.per_episode == pytest.approx(4 * (1 - 0.5), abs=1e-6)  # the right arm half the time
    result = simulate(jax.random.PRNGKey(0), inst, make_planner("bawm"), num_episodes=20, num_seeds=64,
                      progress=False)
    np.testing.assert_allclose(result.gap_regret[:, -1], 20 * 4 * 0.4, rtol=1e-5)  # deterministic


@pytest.mark.parametrize("prior", [None, [0.6, 0.3, 0.1]])
def test_bawm_regret_on_hard_is_its_exact_line(prior):
    inst = hard(3, 5, prior=prior)
    result = simulate(jax.random.PRNGKey(1), inst, Bawm(), num_episodes=200, num_seeds=1000, progress=False)
    per_episode = stats.mean_ci(result.gap_regret[:, -1] / 200)
    exact = theory.theory_for(inst, Bawm(), 200)
    assert exact.kind == "exact_line"
    # the mode arm every step: H (1 - rho(mode)), in Bayesian mode
    rho = np.full(3, 1 / 3) if prior is None else np.asarray(prior)
    assert exact.per_episode == pytest.approx(5 * (1 - rho.max()), abs=1e-6)
    assert abs(per_episode.mean - exact.per_episode) <= 4 * per_episode.se
    assert abs(stats.loglog_slope(result.episodes, result.gap_regret).slope - 1) <= 0.05


def test_eps_bawm_is_sublinear_on_hard_and_carries_the_reference_bound():
    summary = run_and_summarize(hard(3, 5), "eps_bawm", num_episodes=2000, num_seeds=300,
                                eps=parse_eps("anytime:1"), seed=2, progress=False)
    assert summary["slope"] < 0.65
    assert summary["theory"]["kind"] == "upper_bound" and "covers BAIL" in summary["theory_note"]
    assert summary["regret_ci95"][1] <= summary["theory"]["value"]


def test_no_exact_line_for_bawm_when_its_plan_uses_an_informative_subgoal():
    # the safe arm reveals the task if its transitions differ: make it lead to task-specific states
    reward = np.array([[[1.0, 0.0, 0.6], [1.0, 0.0, 0.6]], [[0.0, 1.0, 0.6], [0.0, 1.0, 0.6]]])
    transition = np.zeros((2, 2, 3, 2))
    transition[:, :, :2, 0] = 1.0
    transition[0, :, 2, 0] = 1.0
    transition[1, :, 2, 1] = 1.0
    emission = np.broadcast_to(np.eye(2), (2, 2, 2))
    inst = make_instance([0.5, 0.5], [[1.0, 0.0], [1.0, 0.0]], transition, emission, reward, 3)
    assert theory.theory_for(inst, make_planner("bawm"), 10).kind is None
    assert theory.theory_for(inst, make_planner("bail"), 10).kind == "exact_line"  # experts never use it
