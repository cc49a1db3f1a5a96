"""The simulation loop (SPEC 5, 9): regret against brute-force expectations, exact cases,
estimator agreement, seed and chunk invariance, misspecification."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail.experts import TIE_TOL, compute_experts, policy_value
from jaxbail.instance import make_instance
from jaxbail.instances import hard, random_instance
from jaxbail.planners import Bail, Oracle
from jaxbail.runner import simulate

KEY = jax.random.PRNGKey(2024)

# Tiny instances for brute force: Z = S = G = O = H = 2 (all share one compiled simulation).
TINY = {
    "noisy": {
        "key": 0,
        "num_tasks": 2,
        "num_states": 2,
        "num_subgoals": 2,
        "horizon": 2,
        "reporter": "noisy",
        "noise": 0.3,
    },
    "dirichlet": {"key": 1, "num_tasks": 2, "num_states": 2, "num_subgoals": 2, "horizon": 2, "reporter": "dirichlet"},
}
TINY_SEEDS = 20000

# Mid-size runs share the sizes of hard(3, 5): Z = 3, S = G = O = 4, H = 5.
MID_SEEDS, MID_EPISODES = 2000, 20
MID_RANDOM = {"num_tasks": 3, "num_states": 4, "num_subgoals": 4, "horizon": 5}


def _mid(instance, planner, **kwargs):
    return simulate(KEY, instance, planner, num_episodes=MID_EPISODES, num_seeds=MID_SEEDS, **kwargs)


def _within_4se(samples, exact):
    samples = np.asarray(samples, np.float64)
    mean = samples.mean()
    se = samples.std(ddof=1) / np.sqrt(len(samples))
    return abs(mean - exact) <= 4 * se, (mean, exact, se)


def _fields(result):
    return {k: v for k, v in result._asdict().items() if k != "num_episodes" and v is not None}


def _assert_no_nan(result):
    for name, arr in _fields(result).items():
        assert not np.any(np.isnan(np.asarray(arr, np.float64))), name


@pytest.fixture(scope="module")
def tiny_runs():
    runs = {}
    for name, params in TINY.items():
        instance = random_instance(**params)
        runs[name] = (
            instance,
            simulate(KEY, instance, Bail(), num_episodes=2, num_seeds=TINY_SEEDS, log_points=[1, 2]),
        )
    return runs


@functools.cache
def _tiny_exact(name):
    """``[episode, (gap, return)]`` exact expected per-episode regret of BAIL, episodes 1 and 2."""
    m = ref.model_of(random_instance(**TINY[name]))
    return ref.bail_exact_regret(m, ref.experts(m), num_episodes=2)


@pytest.mark.parametrize("name", list(TINY))
def test_bail_episode_regret_matches_brute_force_enumeration(tiny_runs, name):
    """Episodes 1 and 2 (the posterior carries over): mean gap and return regret within 4 SE of the
    exact expectation computed by enumerating every trajectory."""
    _, result = tiny_runs[name]
    exact = _tiny_exact(name)
    # the reference itself: performance difference makes both expectations equal
    np.testing.assert_allclose(exact[:, 0], exact[:, 1], atol=1e-5)
    assert exact[0, 0] > 0 and exact[1, 0] > 0
    for estimator, cum in enumerate((result.gap_regret, result.return_regret)):
        per_episode = (cum[:, 0], cum[:, 1] - cum[:, 0])
        for t in range(2):
            ok, info = _within_4se(per_episode[t], exact[t, estimator])
            assert ok, (name, "gap" if estimator == 0 else "return", t + 1, info)
    assert np.all(result.misspecified == 0)
    _assert_no_nan(result)


def test_tiny_brute_force_shows_learning_between_episodes(tiny_runs):
    """On the noisy tiny instance the second episode's exact regret is below the first's by many
    simulation standard errors, so the test above would catch a posterior that does not carry over."""
    _, result = tiny_runs["noisy"]
    exact = _tiny_exact("noisy")
    # episode 2 from the prior again (no carry-over) would have episode 1's regret
    second = result.gap_regret[:, 1] - result.gap_regret[:, 0]
    se = second.std(ddof=1) / np.sqrt(len(second))
    assert exact[0, 0] - exact[1, 0] > 8 * se


SEED_SLICES = [(0, 10), (5, 10)]  # seeds 0..9 and 5..14 of the 20000-seed run; one compile for both


@functools.cache
def _seed_slice(first_seed, count):
    instance = random_instance(**TINY["noisy"])
    return simulate(KEY, instance, Bail(), num_episodes=2, num_seeds=count, first_seed=first_seed, log_points=[1, 2])


@pytest.mark.parametrize("first_seed, count", SEED_SLICES)
def test_seed_trajectories_do_not_depend_on_batch_size(tiny_runs, first_seed, count):
    """Seed i's random streams are ``fold_in(key, i)``: its task, its trajectory (hence its gap regret)
    and its misspecification count do not depend on the seeds run beside it; float values agree to 1e-5."""
    _, big = tiny_runs["noisy"]
    small = _seed_slice(first_seed, count)
    np.testing.assert_array_equal(small.episodes, big.episodes)
    for name in ("tasks", "gap_regret", "misspecified"):
        np.testing.assert_array_equal(_fields(small)[name], _fields(big)[name][first_seed : first_seed + count])
    for name in ("return_regret", "true_task_posterior"):
        want = _fields(big)[name][first_seed : first_seed + count]
        np.testing.assert_allclose(_fields(small)[name], want, atol=1e-5, rtol=0, err_msg=name)


@pytest.mark.parametrize("log_points", [[1, 3], [0, 2]], ids=["beyond-T", "zero"])
def test_log_points_outside_the_run_are_rejected(tiny_runs, log_points):
    """A log point outside ``1..T`` has nothing to log: it must be an error, not a silent column of
    zeros that reads as "no regret at episode 3" in a 2-episode run."""
    instance, _ = tiny_runs["noisy"]
    with pytest.raises(ValueError, match="log_points"):
        simulate(KEY, instance, Bail(), num_episodes=2, num_seeds=10, log_points=log_points)


@pytest.fixture(scope="module")
def mid_random_noisy():
    instance = random_instance(11, reporter="noisy", noise=0.3, **MID_RANDOM)
    return instance, _mid(instance, Bail())


@pytest.mark.parametrize("which", ["hard", "random-identity", "random-noisy"])
def test_oracle_regret_is_exactly_zero(which):
    if which == "hard":
        instance = hard(num_tasks=3, horizon=5)
    else:
        instance = random_instance(12, reporter=which.split("-")[1], **MID_RANDOM)
    result = _mid(instance, Oracle())
    np.testing.assert_array_equal(result.gap_regret, 0.0)
    _assert_no_nan(result)
    if which == "hard":  # deterministic rewards: the realised return is exactly J*
        np.testing.assert_array_equal(result.return_regret, 0.0)
    else:  # realised returns are noisy around J*
        ok, info = _within_4se(result.return_regret[:, -1], 0.0)
        assert ok, info


def test_gap_and_return_estimators_agree(mid_random_noisy):
    instance, result = mid_random_noisy
    gap, ret = result.gap_regret[:, -1], result.return_regret[:, -1]
    ok, info = _within_4se(gap - ret, 0.0)
    assert ok, info
    # the gap estimator is never negative (up to the greedy tie tolerance of every step) ...
    assert np.all(result.gap_regret >= -TIE_TOL * instance.horizon * result.episodes[None, :])
    # ... its cumulative values never decrease, and it is far less noisy than the realised return
    assert np.all(np.diff(result.gap_regret, axis=1) >= -TIE_TOL * instance.horizon * np.diff(result.episodes))
    assert gap.std() < ret.std()
    assert result.gap_regret[:, -1].mean() > 0
    assert np.all(result.misspecified == 0)
    _assert_no_nan(result)


def test_chunked_run_gives_identical_logged_arrays(mid_random_noisy):
    instance, whole = mid_random_noisy
    chunked = _mid(instance, Bail(), chunk_episodes=7)
    for name, arr in _fields(chunked).items():
        np.testing.assert_array_equal(arr, _fields(whole)[name], err_msg=name)
    assert whole.episodes[-1] == MID_EPISODES


def test_misspecified_model_is_counted_and_nothing_is_nan():
    """The model believes every subgoal leads to state 0; the environment (identity Reporter) goes
    elsewhere, so most observations are impossible under the model."""
    env = random_instance(13, reporter="identity", **MID_RANDOM)
    transition = np.zeros(np.shape(env.transition))
    transition[..., 0] = 1.0
    model = make_instance(env.prior, env.init, transition, env.emission, env.reward, env.horizon, name="wrong")
    result = _mid(env, Bail(), model=model)
    _assert_no_nan(result)
    assert np.all(result.misspecified[:, -1] > 0)
    assert np.all(result.misspecified <= result.episodes[None, :] * (env.horizon + 1))
    assert np.all((result.true_task_posterior >= 0) & (result.true_task_posterior <= 1 + 1e-6))
    assert np.all(np.isfinite(result.gap_regret)) and np.all(np.isfinite(result.return_regret))


HARD_PRIORS = {"uniform": [1 / 3, 1 / 3, 1 / 3], "skewed": [0.5, 0.3, 0.2]}


@pytest.fixture(scope="module", params=list(HARD_PRIORS))
def hard_prior(request):
    prior = np.asarray(HARD_PRIORS[request.param])
    return prior, hard(num_tasks=3, horizon=5, prior=None if request.param == "uniform" else prior)


def _assert_hard_run(instance, result, prior, exact_per_episode):
    horizon = instance.horizon
    per_episode = result.gap_regret[:, -1] / MID_EPISODES
    ok, info = _within_4se(per_episode, exact_per_episode)
    assert ok, info
    # wrong arms cost exactly 1 in both estimators, so they agree seed by seed
    np.testing.assert_array_equal(result.gap_regret, result.return_regret)
    # the posterior never moves
    want = np.broadcast_to(prior[result.tasks][:, None], result.true_task_posterior.shape)
    np.testing.assert_allclose(result.true_task_posterior, want, atol=1e-6)
    assert np.all(result.gap_regret[:, -1] <= horizon * MID_EPISODES)


def test_hard_bail_bayes_regret_is_h_times_one_minus_sum_rho_squared(hard_prior):
    prior, instance = hard_prior
    result = _mid(instance, Bail())
    _assert_hard_run(instance, result, prior, instance.horizon * (1 - np.sum(prior**2)))
    # bayes mode draws tasks from the prior
    counts = np.bincount(result.tasks, minlength=3) / MID_SEEDS
    assert np.all(np.abs(counts - prior) <= 4 * np.sqrt(prior * (1 - prior) / MID_SEEDS))


@pytest.mark.parametrize("task", [0, 2])
def test_hard_bail_fixed_task_regret_is_h_times_one_minus_rho(hard_prior, task):
    prior, instance = hard_prior
    result = _mid(instance, Bail(), task=task)
    np.testing.assert_array_equal(result.tasks, task)
    _assert_hard_run(instance, result, prior, instance.horizon * (1 - prior[task]))


def test_hard_bail_mixture_policy_value_is_exact(hard_prior):
    """BAIL on ``hard`` is the fixed prior mixture of arms: ``J*_z - J_z(mixture) = H (1 - rho(z))``."""
    prior, instance = hard_prior
    experts = compute_experts(instance)
    start = np.asarray(experts.policy)[:, :, 0, :]  # [H, Z, G]: expert z pulls arm z from home
    mixture = np.einsum("z,hzg->hg", prior, start)
    policy = np.broadcast_to(mixture[:, None, :], (instance.horizon, instance.num_states, instance.num_subgoals))
    gap = np.asarray(experts.value) - np.asarray(policy_value(instance, jnp.asarray(policy, jnp.float32)))
    np.testing.assert_allclose(gap, instance.horizon * (1 - prior), atol=1e-5)
    m = ref.model_of(instance)
    np.testing.assert_allclose(
        ref.experts(m).value - ref.policy_value(m, policy), instance.horizon * (1 - prior), atol=1e-5
    )


def test_bayes_mode_draws_tasks_from_the_environment_prior_not_the_model_prior():
    """A planner with a wrong prior (model = ``hard`` with prior [0.8, 0.1, 0.1], environment uniform):
    Bayesian regret averages over the environment's ``rho``, so the true tasks must follow the
    environment's prior while the belief starts from the model's. BAIL then pulls arm g with
    probability rho_model(g): per-episode regret ``H (1 - sum_z rho_env(z) rho_model(z))``."""
    env_prior, model_prior = np.full(3, 1 / 3), np.array([0.8, 0.1, 0.1])
    env = hard(num_tasks=3, horizon=5)
    model = hard(num_tasks=3, horizon=5, prior=model_prior)
    result = _mid(env, Bail(), model=model)
    counts = np.bincount(result.tasks, minlength=3) / MID_SEEDS
    se = np.sqrt(env_prior * (1 - env_prior) / MID_SEEDS)
    assert np.all(np.abs(counts - env_prior) <= 4 * se), (counts, env_prior)
    want = np.broadcast_to(model_prior[result.tasks][:, None], result.true_task_posterior.shape)
    np.testing.assert_allclose(result.true_task_posterior, want, atol=1e-6)
    ok, info = _within_4se(result.gap_regret[:, -1] / MID_EPISODES, env.horizon * (1 - env_prior @ model_prior))
    assert ok, info
