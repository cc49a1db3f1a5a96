"""The exact filter over (z, s) (SPEC 3) against the float64 reference."""

from __future__ import annotations

import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail import belief as bf
from jaxbail.experts import compute_experts
from jaxbail.instance import make_instance, reporter_is_injective
from jaxbail.instances import hard, random_instance

ATOL = 1e-5
# log-space values are compared with a float32 relative tolerance on top (|log w| can be large)
LOG_RTOL = 1e-5

_filter_episode = jax.jit(bf.filter_episode)
_begin = jax.jit(bf.begin_episode)
_update = jax.jit(bf.update)
_delusional = jax.jit(bf.delusional_evidence)

INSTANCES = {
    "tiny-noisy": {
        "key": 0,
        "num_tasks": 2,
        "num_states": 2,
        "num_subgoals": 2,
        "horizon": 2,
        "reporter": "noisy",
        "noise": 0.3,
    },
    "tiny-dirichlet": {
        "key": 1,
        "num_tasks": 2,
        "num_states": 2,
        "num_subgoals": 2,
        "horizon": 2,
        "reporter": "dirichlet",
    },
    "default-dirichlet": {"key": 2, "reporter": "dirichlet"},
    "default-identity": {"key": 3, "reporter": "identity"},
    "mid-aliased": {"key": 4, "num_tasks": 3, "num_states": 4, "num_subgoals": 4, "horizon": 5, "reporter": "aliased"},
    "mid-noisy": {
        "key": 5,
        "num_tasks": 3,
        "num_states": 4,
        "num_subgoals": 4,
        "horizon": 5,
        "reporter": "noisy",
        "noise": 0.5,
    },
}


def _log_task32(w: np.ndarray) -> jax.Array:
    w = np.asarray(w, np.float64)
    safe = np.log(np.where(w > 0, w, 1.0))
    return jnp.asarray(np.where(w > 0, safe, -np.inf), jnp.float32)


def _assert_log_close(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert not np.any(np.isnan(got))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], atol=ATOL, rtol=LOG_RTOL)


def _assert_belief_close(got: bf.Belief, want: ref.RefBelief):
    _assert_log_close(got.log_task, want.log_task)
    np.testing.assert_allclose(np.asarray(got.task_posterior), want.task, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(got.joint), want.joint, atol=ATOL, rtol=0)
    # q(s | z) too, also for ruled-out tasks (both keep the prediction there)
    np.testing.assert_allclose(np.asarray(got.state), want.state, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(got.state).sum(-1), 1.0, atol=ATOL)


@pytest.mark.parametrize("start", ["prior", "random", "ruled-out"])
@pytest.mark.parametrize("name", list(INSTANCES))
def test_filter_over_several_episodes_matches_reference(name, start):
    instance = random_instance(**INSTANCES[name])
    m = ref.model_of(instance)
    num_z = m.prior.shape[0]
    rng = np.random.default_rng(zlib.crc32(f"{name}-{start}".encode()))
    if start == "prior":
        w = m.prior
    else:
        w = rng.dirichlet(np.ones(num_z))
        if start == "ruled-out":
            w[num_z - 1] = 0.0
            w /= w.sum()
    log_w32 = _log_task32(w)
    log_w = np.asarray(log_w32, np.float64)  # both start from the same float32 numbers
    task = int(rng.integers(0, num_z - (start == "ruled-out")))
    for _ in range(4):
        obs, subgoals, _ = ref.sample_episode(m, task, rng)
        beliefs, log_norms, missed, end = _filter_episode(instance, log_w32, jnp.asarray(obs), jnp.asarray(subgoals))
        want_beliefs, want_norms, want_missed, want_end = ref.filter_episode(m, log_w, obs, subgoals)
        for h, want in enumerate(want_beliefs):
            _assert_belief_close(bf.Belief(beliefs.log_task[h], beliefs.state[h]), want)
        np.testing.assert_allclose(np.asarray(log_norms), want_norms, atol=ATOL, rtol=LOG_RTOL)
        assert not np.any(np.asarray(missed)) and not np.any(want_missed)
        _assert_log_close(end, want_end.log_task)
        log_w32, log_w = end, want_end.log_task


@pytest.mark.parametrize("name", ["tiny-noisy", "default-dirichlet", "mid-aliased"])
def test_begin_and_update_steps_match_reference(name):
    instance = random_instance(**INSTANCES[name])
    m = ref.model_of(instance)
    num_z = m.shape[0]
    rng = np.random.default_rng(7)
    for _ in range(5):
        w = rng.dirichlet(np.ones(num_z))
        log_w32 = _log_task32(w)
        task = int(rng.choice(num_z, p=w))
        obs, subgoals, _ = ref.sample_episode(m, task, rng)
        got = _begin(instance, log_w32, jnp.int32(obs[0]))
        want, want_ln, want_miss = ref.begin_episode(m, np.asarray(log_w32, np.float64), obs[0])
        _assert_belief_close(got.belief, want)
        assert abs(float(got.log_normaliser) - want_ln) <= ATOL and not bool(got.misspecified) and not want_miss
        # an update from an arbitrary (not filtered) belief
        state = rng.dirichlet(np.ones(m.shape[1]), size=num_z)
        belief = bf.Belief(log_w32, jnp.asarray(state, jnp.float32))
        ref_belief = ref.RefBelief(np.asarray(log_w32, np.float64), np.asarray(belief.state, np.float64))
        g, o = int(subgoals[0]), int(obs[1])
        got = _update(instance, belief, jnp.int32(g), jnp.int32(o))
        want, want_ln, want_miss = ref.update(m, ref_belief, g, o)
        if want_miss:
            assert bool(got.misspecified)
            continue
        _assert_belief_close(got.belief, want)
        assert abs(float(got.log_normaliser) - want_ln) <= ATOL * (1 + abs(want_ln)) and not bool(got.misspecified)


@pytest.mark.parametrize("name", ["tiny-noisy", "tiny-dirichlet", "mid-noisy"])
def test_sum_of_log_normalisers_is_the_episode_log_evidence(name):
    instance = random_instance(**INSTANCES[name])
    m = ref.model_of(instance)
    rng = np.random.default_rng(11)
    num_z = m.prior.shape[0]
    for _ in range(3):
        w = rng.dirichlet(np.ones(num_z))
        log_w32 = _log_task32(w)
        obs, subgoals, _ = ref.sample_episode(m, int(rng.integers(num_z)), rng)
        _, log_norms, _, _ = _filter_episode(instance, log_w32, jnp.asarray(obs), jnp.asarray(subgoals))
        evidence = ref.episode_log_evidence(m, np.asarray(log_w32, np.float64), obs, subgoals)
        assert math.isfinite(evidence)
        assert abs(float(np.sum(np.asarray(log_norms, np.float64))) - evidence) <= ATOL * (1 + abs(evidence))


def _dead_end_instance():
    """Identity Reporter, every subgoal leads to state 0: observing state 1 after a step is impossible.

    Task 1 starts in state 1, task 0 in state 0, so ``o_1`` tells them apart."""
    num_z, num_s, num_g = 2, 3, 2
    init = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    transition = np.zeros((num_z, num_s, num_g, num_s))
    transition[..., 0] = 1.0
    transition[1, :, 1, :] = [0.0, 0.0, 1.0]  # in task 1 subgoal 1 leads to state 2
    emission = np.broadcast_to(np.eye(num_s), (num_z, num_s, num_s))
    reward = np.zeros((num_z, num_s, num_g))
    return make_instance([0.5, 0.5], init, transition, emission, reward, horizon=3)


def _assert_no_nan(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        assert not np.any(np.isnan(np.asarray(leaf, np.float64)))


def test_impossible_observation_is_flagged_and_leaves_task_marginal_unchanged():
    instance = _dead_end_instance()
    m = ref.model_of(instance)
    log_w = bf.prior_log_task(instance.prior)
    # an o_1 of probability zero under every (z, s): state 2 never starts a run
    first = _begin(instance, log_w, jnp.int32(2))
    assert bool(first.misspecified) and np.isneginf(float(first.log_normaliser))
    np.testing.assert_array_equal(np.asarray(first.belief.log_task), np.asarray(log_w))
    _assert_no_nan(first)
    np.testing.assert_allclose(np.asarray(first.belief.state).sum(-1), 1.0, atol=ATOL)

    # a consistent start, then a step observation impossible under every (z, s)
    start = _begin(instance, log_w, jnp.int32(0))
    assert not bool(start.misspecified)
    np.testing.assert_allclose(np.asarray(start.belief.task_posterior), [1.0, 0.0], atol=0)
    bad = _update(instance, start.belief, jnp.int32(0), jnp.int32(1))
    assert bool(bad.misspecified) and np.isneginf(float(bad.log_normaliser))
    np.testing.assert_array_equal(np.asarray(bad.belief.log_task), np.asarray(start.belief.log_task))
    _assert_no_nan(bad)
    np.testing.assert_allclose(np.asarray(bad.belief.state).sum(-1), 1.0, atol=ATOL)
    # only task 1 could produce state 2, but the posterior has ruled task 1 out: still misspecified
    ruled_out = _update(instance, start.belief, jnp.int32(1), jnp.int32(2))
    assert bool(ruled_out.misspecified)
    np.testing.assert_array_equal(np.asarray(ruled_out.belief.log_task), np.asarray(start.belief.log_task))
    _assert_no_nan(ruled_out)

    # a whole episode with the event in the middle: flagged at that step only, then filtering goes on
    obs, subgoals = np.array([0, 1, 0, 0]), np.array([0, 0, 0])
    beliefs, log_norms, missed, end = _filter_episode(instance, log_w, jnp.asarray(obs), jnp.asarray(subgoals))
    _, want_norms, want_missed, want_end = ref.filter_episode(m, np.asarray(log_w, np.float64), obs, subgoals)
    np.testing.assert_array_equal(np.asarray(missed), [False, True, False, False])
    np.testing.assert_array_equal(want_missed, [False, True, False, False])
    _assert_no_nan((beliefs, end))
    assert np.isneginf(np.asarray(log_norms)[1]) and np.all(np.isfinite(np.asarray(log_norms)[[0, 2, 3]]))
    np.testing.assert_allclose(np.asarray(log_norms)[[0, 2, 3]], want_norms[[0, 2, 3]], atol=ATOL)
    _assert_log_close(end, want_end.log_task)


def test_observation_impossible_under_some_tasks_rules_them_out_without_nan():
    instance = _dead_end_instance()
    log_w = bf.prior_log_task(instance.prior)
    out = _begin(instance, log_w, jnp.int32(1))  # only task 1 starts in state 1
    assert not bool(out.misspecified)
    got = np.asarray(out.belief.log_task)
    assert np.isneginf(got[0]) and got[1] == 0.0
    _assert_no_nan(out)
    assert abs(float(out.log_normaliser) - math.log(0.5)) <= ATOL


def test_long_probe_sequence_on_hard_reveals_task_and_stays_finite():
    """300 episodes that always probe on ``hard`` (reveal 0.3): log_task stays normalised, finite or
    -inf, never NaN; once a signpost is seen the true task has posterior 1 for good."""
    instance = hard(num_tasks=3, horizon=4, reveal=0.3)
    m = ref.model_of(instance)
    probe = 3
    num_episodes, task = 300, 2
    rng = np.random.default_rng(3)
    episodes = [ref.sample_episode(m, task, rng, subgoals=np.full(4, probe)) for _ in range(num_episodes)]
    obs = jnp.asarray(np.stack([e[0] for e in episodes]))
    subgoals = jnp.asarray(np.stack([e[1] for e in episodes]))

    @jax.jit
    def run(log_w):
        def body(lw, xs):
            _, log_norms, missed, end = bf.filter_episode(instance, lw, *xs)
            return end, (end, log_norms, missed)

        return jax.lax.scan(body, log_w, (obs, subgoals))[1]

    ends, log_norms, missed = (np.asarray(a) for a in run(bf.prior_log_task(instance.prior)))
    assert not np.any(np.isnan(ends)) and not np.any(np.isnan(log_norms))
    assert not np.any(missed)
    assert np.all(np.isfinite(ends) | np.isneginf(ends))
    np.testing.assert_allclose(jax.nn.logsumexp(jnp.asarray(ends), axis=-1), 0.0, atol=ATOL)
    seen = np.asarray(obs)[:, 1:] == 1 + task
    first = int(np.argmax(seen.any(axis=1)))
    assert seen.any()
    np.testing.assert_allclose(np.exp(ends[:first]), 1.0 / 3.0, atol=ATOL)  # no signpost: no evidence
    np.testing.assert_array_equal(ends[first:, task], 0.0)
    assert np.all(np.isneginf(np.delete(ends[first:], task, axis=1)))


def test_long_noisy_sequence_matches_reference_and_concentrates():
    """200 episodes on a noisy-Reporter instance: log_task tracks the float64 reference, the true
    task's posterior goes to 1, and the other tasks' log posteriors become very negative yet finite."""
    instance = random_instance(**INSTANCES["mid-noisy"])
    m = ref.model_of(instance)
    num_episodes, task = 200, 1
    rng = np.random.default_rng(5)
    episodes = [ref.sample_episode(m, task, rng) for _ in range(num_episodes)]
    obs = jnp.asarray(np.stack([e[0] for e in episodes]))
    subgoals = jnp.asarray(np.stack([e[1] for e in episodes]))

    @jax.jit
    def run(log_w):
        def body(lw, xs):
            end = bf.filter_episode(instance, lw, *xs)[3]
            return end, end

        return jax.lax.scan(body, log_w, (obs, subgoals))[1]

    ends = np.asarray(run(bf.prior_log_task(instance.prior)), np.float64)
    assert not np.any(np.isnan(ends)) and np.all(np.isfinite(ends))
    log_w = np.asarray(bf.prior_log_task(instance.prior), np.float64)
    for t, (o, g, _) in enumerate(episodes):
        log_w = ref.filter_episode(m, log_w, o, g)[3].log_task
        np.testing.assert_allclose(np.exp(ends[t]), np.exp(log_w), atol=ATOL, rtol=0)
    # log posteriors of the wrong tasks: float32 relative precision of their (large) magnitude
    np.testing.assert_allclose(ends[-1], log_w, rtol=1e-4, atol=ATOL)
    assert np.exp(ends[-1, task]) > 1 - 1e-6
    assert np.all(np.delete(ends[-1], task) < -50)


@pytest.mark.parametrize("temperature", [None, 0.3])
def test_delusional_update_multiplies_by_expert_subgoal_probability(temperature):
    instance = random_instance(**INSTANCES["default-dirichlet"])
    m = ref.model_of(instance)
    experts = compute_experts(instance, temperature)
    policy = np.asarray(experts.policy, np.float64)
    rng = np.random.default_rng(9)
    num_z, num_s, num_g, _ = m.shape
    checked = 0
    for _ in range(8):
        w = rng.dirichlet(np.ones(num_z))
        state = rng.dirichlet(np.ones(num_s), size=num_z)
        belief = bf.Belief(_log_task32(w), jnp.asarray(state, jnp.float32))
        ref_belief = ref.RefBelief(np.asarray(belief.log_task, np.float64), np.asarray(belief.state, np.float64))
        h, g = int(rng.integers(m.horizon)), int(rng.integers(num_g))
        got = _delusional(belief, experts.policy[h], jnp.int32(g))
        want, want_ln, want_miss = ref.delusional(ref_belief, policy[h], g)
        assert bool(got.misspecified) == want_miss
        _assert_no_nan(got)
        if want_miss:
            np.testing.assert_array_equal(np.asarray(got.belief.log_task), np.asarray(belief.log_task))
            continue
        checked += 1
        _assert_belief_close(got.belief, want)
        assert abs(float(got.log_normaliser) - want_ln) <= ATOL * (1 + abs(want_ln))
    assert checked >= 4


def test_delusional_update_with_subgoal_no_expert_uses_is_flagged():
    """On ``hard`` no expert ever plays the probe: counting it as expert evidence is impossible."""
    instance = hard(num_tasks=3, horizon=2)
    experts = compute_experts(instance)
    first = _begin(instance, bf.prior_log_task(instance.prior), jnp.int32(0))
    out = _delusional(first.belief, experts.policy[0], jnp.int32(3))
    assert bool(out.misspecified)
    np.testing.assert_array_equal(np.asarray(out.belief.log_task), np.asarray(first.belief.log_task))
    _assert_no_nan(out)
    # an arm is evidence for exactly its own task
    arm = _delusional(first.belief, experts.policy[0], jnp.int32(1))
    np.testing.assert_allclose(np.asarray(arm.belief.task_posterior), [0.0, 1.0, 0.0], atol=0)


def test_experts_own_arms_never_move_the_exact_posterior_on_hard():
    instance = hard(num_tasks=3, horizon=5, prior=[0.5, 0.3, 0.2])
    log_w = bf.prior_log_task(instance.prior)
    obs = jnp.zeros(6, jnp.int32)  # arms always return home
    for arm in range(3):
        _, _, missed, end = _filter_episode(instance, log_w, obs, jnp.full(5, arm, jnp.int32))
        np.testing.assert_allclose(np.exp(np.asarray(end)), [0.5, 0.3, 0.2], atol=1e-6)
        assert not np.any(np.asarray(missed))


# ----------------------------------------------------------------------------- known-state filter


def _injective_instance(seed: int, num_tasks: int, num_states: int, num_subgoals: int, num_obs: int,
                        horizon: int = 4, sparsity: float = 0.4):
    """Per-task injective deterministic Reporters (a random state -> observation map each; with
    ``num_obs > num_states`` some observations are never shown by some tasks) and sparse transitions."""
    rng = np.random.default_rng(seed)
    emission = np.zeros((num_tasks, num_states, num_obs))
    for z in range(num_tasks):
        emission[z, np.arange(num_states), rng.permutation(num_obs)[:num_states]] = 1.0
    transition = rng.dirichlet(np.ones(num_states), size=(num_tasks, num_states, num_subgoals))
    transition[rng.random(transition.shape) < sparsity] = 0.0
    transition[..., 0] += transition.sum(-1) == 0  # keep every row a distribution
    transition /= transition.sum(-1, keepdims=True)
    init = rng.dirichlet(np.ones(num_states), size=num_tasks)
    reward = rng.random((num_tasks, num_states, num_subgoals))
    prior = rng.dirichlet(np.ones(num_tasks))
    return make_instance(prior, init, transition, emission, reward, horizon)


KNOWN = {"identity-like": (0, 3, 4, 3, 4), "permuted": (1, 4, 5, 3, 5), "extra-observations": (2, 4, 3, 2, 6),
         "one-task": (3, 1, 4, 2, 4)}


def _known_belief_matches(got: bf.KnownStateBelief, want: ref.RefBelief):
    _assert_log_close(got.log_task, want.log_task)
    alive = np.isfinite(want.log_task)
    # every surviving task's state belief is the point mass at its state index
    np.testing.assert_array_equal(np.asarray(got.state)[alive], want.state[alive])
    np.testing.assert_allclose(np.asarray(got.joint), want.joint, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(KNOWN))
def test_known_state_filter_matches_reference_over_episodes(name):
    instance = _injective_instance(*KNOWN[name])
    assert reporter_is_injective(instance)
    m = ref.model_of(instance)
    ex = ref.experts(m)
    flt = bf.KnownStateFilter.build(instance)
    begin, step = jax.jit(flt.begin_episode), jax.jit(flt.update)
    rng = np.random.default_rng(11)
    num_z = m.shape[0]
    for _ in range(4):
        task = int(rng.integers(num_z))
        log_w = ref.log_prior(m.prior)
        for _episode in range(3):
            obs, subgoals, _ = ref.sample_episode(m, task, rng)
            upd = begin(jnp.asarray(log_w, jnp.float32), jnp.int32(obs[0]))
            want, want_ln, want_miss = ref.begin_episode(m, log_w, obs[0])
            assert not want_miss and not bool(upd.misspecified)
            assert abs(float(upd.log_normaliser) - want_ln) <= ATOL * (1 + abs(want_ln))
            for h, (g, o) in enumerate(zip(subgoals, obs[1:])):
                _known_belief_matches(upd.belief, want)
                assert int(upd.belief.observation) == obs[h]
                # the planner-facing reads against the reference's
                np.testing.assert_allclose(np.asarray(upd.belief.mixture(jnp.asarray(ex.policy[h], jnp.float32))),
                                           ref.bail(want, ex.policy[h]), atol=ATOL)
                np.testing.assert_allclose(np.asarray(upd.belief.task_mixture(jnp.asarray(ex.policy[h], jnp.float32),
                                                                              jnp.int32(task))),
                                           ref.task_expert(want, ex.policy[h], task), atol=ATOL)
                np.testing.assert_allclose(np.asarray(upd.belief.state_marginal()), want.joint.sum(0), atol=ATOL)
                upd = step(upd.belief, jnp.int32(g), jnp.int32(o))
                want, want_ln, want_miss = ref.update(m, want, int(g), int(o))
                assert not want_miss and not bool(upd.misspecified)
                assert abs(float(upd.log_normaliser) - want_ln) <= ATOL * (1 + abs(want_ln))
            _known_belief_matches(upd.belief, want)
            log_w = np.asarray(upd.belief.log_task, np.float64)


def test_known_state_filter_rules_out_tasks_that_never_show_the_observation():
    instance = _injective_instance(*KNOWN["extra-observations"])
    emission = np.asarray(instance.emission)
    flt = bf.KnownStateFilter.build(instance)
    # an observation some task never shows
    shown = emission.any(axis=1)  # [Z, O]
    obs = int(np.flatnonzero(~shown.all(axis=0))[0])
    upd = flt.begin_episode(bf.prior_log_task(instance.prior), jnp.int32(obs))
    log_task = np.asarray(upd.belief.log_task)
    np.testing.assert_array_equal(np.isneginf(log_task), ~shown[:, obs])
    assert not np.any(np.isnan(log_task)) and not bool(upd.misspecified)


def test_known_state_filter_flags_an_observation_no_task_shows_and_keeps_the_task_marginal():
    instance = _injective_instance(*KNOWN["extra-observations"])
    flt = bf.KnownStateFilter.build(instance)
    start = flt.begin_episode(bf.prior_log_task(instance.prior), jnp.int32(int(np.argmax(instance.emission[0, 0]))))
    # an impossible continuation: a likelihood row of -inf everywhere, forced by hand
    blocked = flt.replace(log_step=jnp.full_like(flt.log_step, -jnp.inf))
    upd = blocked.update(start.belief, jnp.int32(0), jnp.int32(0))
    assert bool(upd.misspecified) and float(upd.log_normaliser) == -np.inf
    np.testing.assert_array_equal(np.asarray(upd.belief.log_task), np.asarray(start.belief.log_task))
