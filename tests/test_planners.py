"""Planners (SPEC 4): the subgoal distributions ``act`` returns, against the float64 reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail.belief import Belief
from jaxbail.experts import compute_experts
from jaxbail.instances import hard, random_instance
from jaxbail.planners import Bail, Context, EpsilonGreedy, Map, Oracle, Psrl, Uniform, epsilon_greedy, make_planner
from jaxbail.sampling import draw_from_probs

ATOL = 1e-5
NUM_KEYS = 20000


def _ctx(instance, experts, belief, *, step=0, episode=0, num_episodes=10, true_task=0, true_state=0):
    def i32(x):
        return jnp.asarray(x, jnp.int32)
    return Context(
        belief=belief,
        step=i32(step),
        episode=i32(episode),
        num_episodes=i32(num_episodes),
        observation=i32(0),
        prev_subgoal=i32(-1),
        model=instance,
        experts=experts,
        true_task=i32(true_task),
        true_state=i32(true_state),
    )


def _random_belief(rng, num_z, num_s, dead=()):
    w = rng.dirichlet(np.ones(num_z))
    w[list(dead)] = 0.0
    w /= w.sum()
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    state = rng.dirichlet(np.ones(num_s), size=num_z)
    belief = Belief(jnp.asarray(log_w, jnp.float32), jnp.asarray(state, jnp.float32))
    # the reference reads the very same float32 numbers
    return belief, ref.RefBelief(np.asarray(belief.log_task, np.float64), np.asarray(belief.state, np.float64))


@pytest.fixture(scope="module", params=[None, 0.4], ids=["greedy", "boltzmann"])
def setting(request):
    instance = random_instance(3, num_tasks=3, num_states=4, num_subgoals=4, horizon=5, reporter="noisy")
    experts = compute_experts(instance, request.param)
    ref_policy = ref.experts(ref.model_of(instance), request.param).policy
    return instance, experts, ref_policy


def _beliefs(instance, seed=0):
    rng = np.random.default_rng(seed)
    num_z, num_s = instance.num_tasks, instance.num_states
    return [_random_belief(rng, num_z, num_s) for _ in range(3)] + [_random_belief(rng, num_z, num_s, dead=(0,))]


def test_bail_is_posterior_mixture_of_experts(setting):
    instance, experts, ref_policy = setting
    for belief, ref_belief in _beliefs(instance):
        for step in range(instance.horizon):
            probs, _ = Bail().act((), _ctx(instance, experts, belief, step=step))
            want = ref.bail(ref_belief, ref_policy[step])
            np.testing.assert_allclose(np.asarray(probs), want, atol=ATOL, rtol=0)
            assert abs(float(jnp.sum(probs)) - 1.0) <= ATOL


def test_map_plays_the_posterior_mode_expert_on_its_state_belief(setting):
    instance, experts, ref_policy = setting
    for belief, ref_belief in _beliefs(instance, seed=1):
        for step in (0, instance.horizon - 1):
            probs, _ = Map().act((), _ctx(instance, experts, belief, step=step))
            want = ref.task_expert(ref_belief, ref_policy[step], ref.map_task(ref_belief))
            np.testing.assert_allclose(np.asarray(probs), want, atol=ATOL, rtol=0)


def test_map_breaks_posterior_ties_to_the_lowest_task():
    instance = hard(num_tasks=3, horizon=2)
    experts = compute_experts(instance)
    home = jnp.asarray(np.eye(4)[[0, 0, 0]], jnp.float32)
    belief = Belief(jnp.log(jnp.asarray([0.2, 0.4, 0.4])), home)
    probs, _ = Map().act((), _ctx(instance, experts, belief))
    np.testing.assert_array_equal(np.asarray(probs), [0.0, 1.0, 0.0, 0.0])  # task 1's expert pulls arm 1


def test_uniform_plays_the_exploration_distribution(setting):
    instance, experts, _ = setting
    belief, _ = _beliefs(instance)[0]
    probs, _ = Uniform().act((), _ctx(instance, experts, belief))
    np.testing.assert_allclose(np.asarray(probs), np.full(4, 0.25), atol=ATOL, rtol=0)
    explore = jnp.asarray([0.1, 0.2, 0.3, 0.4], jnp.float32)
    probs, _ = Uniform(explore=explore).act((), _ctx(instance, experts, belief))
    np.testing.assert_array_equal(np.asarray(probs), np.asarray(explore))


def test_oracle_plays_the_true_task_expert_at_the_true_state(setting):
    instance, experts, ref_policy = setting
    belief, _ = _beliefs(instance)[0]
    for step in range(instance.horizon):
        for task in range(instance.num_tasks):
            for s in range(instance.num_states):
                probs, _ = Oracle().act((), _ctx(instance, experts, belief, step=step, true_task=task, true_state=s))
                np.testing.assert_allclose(np.asarray(probs), ref_policy[step, task, s], atol=ATOL, rtol=0)


def test_psrl_plays_the_sampled_task_expert(setting):
    instance, experts, ref_policy = setting
    for belief, ref_belief in _beliefs(instance, seed=2):
        for task in range(instance.num_tasks):
            probs, state = Psrl().act(jnp.int32(task), _ctx(instance, experts, belief, step=2))
            np.testing.assert_allclose(
                np.asarray(probs), ref.task_expert(ref_belief, ref_policy[2], task), atol=ATOL, rtol=0
            )
            assert int(state) == task


def _frequencies(samples, k):
    return np.bincount(np.asarray(samples).ravel(), minlength=k) / np.asarray(samples).size


def _assert_frequencies(freq, probs, n):
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) <= 4 * se), (freq, probs, se)


def test_psrl_samples_tasks_from_the_posterior_and_never_a_ruled_out_one():
    instance = random_instance(3, num_tasks=3, num_states=4, num_subgoals=4, horizon=5, reporter="noisy")
    experts = compute_experts(instance)
    rng = np.random.default_rng(4)
    for dead in ((), (1,)):
        belief, ref_belief = _random_belief(rng, 3, 4, dead=dead)
        ctx = _ctx(instance, experts, belief)
        keys = jax.random.split(jax.random.PRNGKey(7), NUM_KEYS)
        tasks = jax.jit(jax.vmap(Psrl().begin_episode, in_axes=(0, None, None)))(keys, jnp.int32(0), ctx)
        freq = _frequencies(tasks, 3)
        _assert_frequencies(freq, ref_belief.task, NUM_KEYS)
        for z in dead:
            assert freq[z] == 0.0


@pytest.mark.parametrize("scale, power", [(0.1, 0.0), (0.5, 0.5), (3.0, 0.5), (1.0, 1.0), (2.0, 0.25), (0.0, 0.3)])
def test_epsilon_schedule_is_min_one_scale_t_to_minus_power(scale, power):
    planner = epsilon_greedy(Bail(), scale=scale, power=power)
    episodes = np.array([0, 1, 2, 3, 8, 99, 9999])
    got = np.asarray(jax.vmap(planner.epsilon)(jnp.asarray(episodes)))
    want = np.minimum(1.0, scale * (episodes + 1.0) ** (-power))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert np.all((got >= 0) & (got <= 1))


def test_make_planner_builds_the_named_planners():
    assert isinstance(make_planner("bail"), Bail)
    assert isinstance(make_planner("oracle"), Oracle)
    assert isinstance(make_planner("psrl"), Psrl)
    assert isinstance(make_planner("map"), Map)
    assert isinstance(make_planner("uniform"), Uniform)
    eps = make_planner("eps_bail", eps_scale=0.7, eps_power=0.5)
    assert isinstance(eps, EpsilonGreedy) and isinstance(eps.inner, Bail)
    assert float(eps.epsilon(3)) == pytest.approx(0.7 / 2.0, rel=1e-6)
    with pytest.raises(ValueError, match="unknown planner"):
        make_planner("nope")


@pytest.mark.parametrize("scale, power, episode", [(0.3, 0.0, 0), (0.3, 0.0, 17), (2.0, 0.5, 15), (0.9, 1.0, 2)])
def test_epsilon_wrapper_explores_with_frequency_eps(scale, power, episode):
    instance = hard(num_tasks=3, horizon=2)
    experts = compute_experts(instance)
    belief = Belief(jnp.log(jnp.full(3, 1 / 3)), jnp.asarray(np.eye(4)[[0, 0, 0]], jnp.float32))
    planner = epsilon_greedy(Bail(), scale=scale, power=power)
    ctx = _ctx(instance, experts, belief, episode=episode)
    keys = jax.random.split(jax.random.PRNGKey(episode), NUM_KEYS)
    exploring = np.asarray(jax.jit(jax.vmap(lambda k: planner.begin_episode(k, planner.init(k, ctx), ctx)[0]))(keys))
    eps = min(1.0, scale * (episode + 1) ** (-power))
    se = np.sqrt(eps * (1 - eps) / NUM_KEYS)
    assert abs(exploring.mean() - eps) <= 4 * se, (exploring.mean(), eps, se)


@pytest.mark.parametrize("explore", [None, [0.0, 0.0, 0.0, 1.0]], ids=["uniform", "probe"])
def test_epsilon_wrapper_plays_explore_when_exploring_else_inner(setting, explore):
    instance, experts, ref_policy = setting
    belief, ref_belief = _beliefs(instance)[0]
    planner = epsilon_greedy(Bail(), scale=0.5, explore=explore)
    ctx = _ctx(instance, experts, belief, step=1)
    inner = planner.init(jax.random.PRNGKey(0), ctx)[1]
    explore_probs = np.full(4, 0.25) if explore is None else np.asarray(explore)
    for exploring in (True, False):
        probs, state = planner.act((jnp.asarray(exploring), inner), ctx)
        want = explore_probs if exploring else ref.bail(ref_belief, ref_policy[1])
        np.testing.assert_allclose(np.asarray(probs), want, atol=ATOL, rtol=0)
        assert bool(state[0]) == exploring


def test_epsilon_wrapper_keeps_the_inner_planner_state_up_to_date(setting):
    """Around PSRL the wrapped planner still draws its task every episode, exploring or not."""
    instance, experts, ref_policy = setting
    belief, ref_belief = _beliefs(instance)[0]
    ctx = _ctx(instance, experts, belief, step=0)
    for scale in (0.0, 1.0):
        planner = epsilon_greedy(Psrl(), scale=scale)
        key = jax.random.PRNGKey(3)
        state = planner.begin_episode(key, planner.init(key, ctx), ctx)
        assert bool(state[0]) == (scale == 1.0)
        _, inner_key = jax.random.split(key)
        assert int(state[1]) == int(Psrl().begin_episode(inner_key, jnp.int32(0), ctx))
        if scale == 0.0:
            probs, _ = planner.act(state, ctx)
            np.testing.assert_allclose(
                np.asarray(probs), ref.task_expert(ref_belief, ref_policy[0], int(state[1])), atol=ATOL, rtol=0
            )


def test_make_planner_uniform_with_explore_list_gives_a_drawable_distribution():
    """``make_planner("uniform", explore=[...])`` must give a planner the runner can draw from (under
    ``jit``, as in :func:`jaxbail.runner.simulate`), as ``make_planner("eps_bail", explore=[...])`` does."""
    instance = hard(num_tasks=3, horizon=2)
    belief = Belief(jnp.log(jnp.full(3, 1 / 3)), jnp.asarray(np.eye(4)[[0, 0, 0]], jnp.float32))
    ctx = _ctx(instance, compute_experts(instance), belief)
    explore = [0.0, 0.0, 1.0, 0.0]

    @jax.jit
    def draw_one(planner, state, ctx, u):
        return draw_from_probs(planner.act(state, ctx)[0], u)

    for name in ("eps_bail", "uniform"):
        planner = make_planner(name, eps_scale=1.0, explore=explore)
        state = planner.init(jax.random.PRNGKey(0), ctx)
        state = planner.begin_episode(jax.random.PRNGKey(1), state, ctx)
        for u in (0.0, 0.5, 0.99):
            assert int(draw_one(planner, state, ctx, jnp.float32(u))) == 2, name
