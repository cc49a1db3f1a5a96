"""The environment protocol (jaxbail.env): every kind goes through it, with the numbers of before it existed."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbail import belief as filt
from jaxbail import env as envs
from jaxbail import rng, runner
from jaxbail.experts import compute_experts
from jaxbail.instances import coordination, hard, random_instance
from jaxbail.instances.coordination import random_multi_agent
from jaxbail.planners import make_planner
from jaxbail.pretraining import sample_episodes
from jaxbail.runner import simulate

# Recorded on main at commit 1aa32a3 (before jaxbail.env existed), under this suite's XLA flags (conftest.py):
# simulate(PRNGKey(7), instance, planner, num_episodes=12, num_seeds=6), each seed's task and cumulative gap
# and return regret after episode 12 (shortest round-trip reprs: == below is bit equality).
RECORDED = {
    "single": ("bail", "auto", [0, 2, 1, 2, 2, 0],
        [0.0, 0.0, 0.11740803718566895, 1.3914958238601685, 0.14669013023376465, 0.317563533782959],
        [-0.11822926998138428, -1.4207239151000977, 2.08902907371521,
         1.5290701389312744, 1.2439998388290405, 0.04476571083068848]),
    "instructed": ("eps_bail", "dense", [0, 2, 1, 2, 2, 0],
        [3.6838316917419434, 1.735478401184082, 0.7325136661529541,
         0.4378150701522827, 0.43936634063720703, 3.464712679386139],
        [3.844506859779358, 0.7935628890991211, 1.7333760261535645,
         2.604684591293335, 0.9191597700119019, 2.498135805130005]),
    "several": ("bawm", "auto", [0, 1, 1, 1, 1, 0],
        [0.987299919128418, 1.7922004461288452, 0.7959024906158447,
         1.7872251272201538, 2.748227059841156, 1.6295124292373657],
        [0.9717371463775635, 1.1569077968597412, 0.79728102684021,
         0.6596620082855225, 2.7968015670776367, 1.55363130569458]),
    "several_known_state": ("eps_bail", "auto", [0, 2, 1, 2, 2, 0],
        [15.0, 12.0, 11.0, 9.0, 10.0, 21.0],
        [15.0, 12.0, 11.0, 9.0, 10.0, 21.0]),
}


def _instance(name):
    if name == "single":
        return random_instance(jax.random.PRNGKey(1), num_tasks=3, num_states=3, num_subgoals=2, horizon=3)
    if name == "instructed":
        return random_instance(jax.random.PRNGKey(2), num_tasks=3, num_states=3, num_subgoals=2, horizon=3,
                               num_instructions=2)
    if name == "several":
        return random_multi_agent(3, num_actors=2, num_tasks=2, num_states=2, horizon=3)
    return coordination(num_actors=2, num_tasks=3, horizon=3)


@pytest.mark.parametrize("name", list(RECORDED))
def test_every_environment_kind_runs_through_the_protocol_with_its_recorded_numbers(name):
    planner, flt, tasks, gap, ret = RECORDED[name]
    result = simulate(jax.random.PRNGKey(7), _instance(name), make_planner(planner, eps_scale=0.3),
                      num_episodes=12, num_seeds=6, filter=flt, progress=False)
    assert result.tasks.tolist() == tasks
    assert result.gap_regret[:, -1].tolist() == gap
    assert result.return_regret[:, -1].tolist() == ret


def test_kind_of_is_the_one_dispatch_and_each_kind_fits_its_filter_and_belief():
    single, instructed = hard(num_tasks=2, horizon=2), hard(num_tasks=2, horizon=2, num_instructions=2)
    several = coordination(num_actors=2, num_tasks=2, horizon=2)
    assert envs.kind_of(single) is envs.SingleActor
    assert envs.kind_of(instructed) is envs.Instructed
    assert envs.kind_of(several) is envs.SeveralActors
    expected = {envs.SingleActor: (filt.DenseFilter, filt.KnownStateFilter),
                envs.Instructed: (filt.DenseFilter, filt.KnownStateFilter),
                envs.SeveralActors: (filt.FactoredFilter, filt.FactoredKnownStateFilter)}
    for inst in (single, instructed, several):
        kind = envs.kind_of(inst)
        dynamics = kind.dynamics(inst)
        assert dynamics.instructions is None
        prepared = envs.prepare(inst)
        assert isinstance(prepared, kind) and prepared.horizon == inst.horizon
        for known_state, cls in zip((False, True), expected[kind]):
            flt = kind.filter(dynamics, known_state)
            assert isinstance(flt, cls)
            first = flt.begin_episode(filt.prior_log_task(inst.prior), jnp.int32(0))
            assert isinstance(first.belief, filt.BeliefView)  # the read interface planners rely on
        assert isinstance(kind.carried_belief(dynamics, filt.prior_log_task(inst.prior)), filt.BeliefView)
        view = kind.start_view(inst, compute_experts(inst))
        assert view.model.instructions is None and int(view.instruction) == (0 if kind is envs.Instructed else -1)


def test_rollout_draws_the_inverse_cdf_of_each_kernel():
    """The shared rollout against a float64 NumPy inverse-CDF simulation of the same uniforms."""
    inst = random_instance(jax.random.PRNGKey(4), num_tasks=2, num_states=4, num_subgoals=3, horizon=5,
                           reporter="noisy")
    env = envs.SingleActor.prepare(inst)
    u = jax.random.uniform(jax.random.PRNGKey(5), (2 + 3 * inst.horizon,))
    task = 1

    def decide(carry, h, state, obs):
        return (state + obs + h) % inst.num_subgoals, carry + 1, None

    def record(carry, info, h, state, subgoal, next_state, next_obs):
        return carry, (subgoal, next_state, next_obs)

    state, obs = env.reset(task, u[0], u[1])
    (last_state, last_obs, count), (subgoals, states, observations) = envs.rollout(
        env, task, state, obs, decide, record, lambda h: (u[2 + 3 * h], u[3 + 3 * h]), 0, inst.horizon)

    def inverse_cdf(p, x):
        cum = np.cumsum(np.asarray(p, np.float64))
        return int(np.sum(cum / cum[-1] <= x))

    init, trans, emis = (np.asarray(a, np.float64) for a in (inst.init, inst.transition, inst.emission))
    u = np.asarray(u, np.float64)
    s = inverse_cdf(init[task], u[0])
    o = inverse_cdf(emis[task, s], u[1])
    assert (int(state), int(obs)) == (s, o)
    for h in range(inst.horizon):
        g = (s + o + h) % inst.num_subgoals
        s = inverse_cdf(trans[task, s, g], u[2 + 3 * h])
        o = inverse_cdf(emis[task, s], u[3 + 3 * h])
        assert (int(subgoals[h]), int(states[h]), int(observations[h])) == (g, s, o)
    assert (int(last_state), int(last_obs), int(count)) == (s, o, inst.horizon)


def test_pretraining_episodes_keep_their_recorded_numbers():
    """sample_episodes (now the K = 1 case of llm.data's sampler) gives what it gave at 1aa32a3."""
    inst = random_instance(jax.random.PRNGKey(1), num_tasks=3, num_states=3, num_subgoals=2, horizon=3)
    episodes = sample_episodes(jax.random.PRNGKey(4), inst, 7)
    assert np.asarray(episodes.tasks).tolist() == [1, 1, 2, 0, 1, 0, 1]
    assert np.asarray(episodes.observations).tolist() == [[2, 1, 1, 1], [2, 1, 0, 2], [0, 2, 2, 1], [2, 0, 2, 1],
                                                          [2, 1, 0, 1], [0, 1, 1, 2], [1, 1, 1, 0]]
    assert np.asarray(episodes.subgoals).tolist() == [[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0], [0, 0, 0],
                                                      [0, 0, 0], [1, 1, 0]]
    assert np.asarray(episodes.labels).tolist() == [[0, 1, 1], [0, 1, 1], [0, 0, 1], [1, 0, 1], [0, 1, 1],
                                                    [0, 0, 0], [1, 1, 1]]


def test_keys_are_refused_without_partitionable_threefry():
    key = jax.random.PRNGKey(0)
    jax.config.update("jax_threefry_partitionable", False)
    try:
        with pytest.raises(RuntimeError, match="jax_threefry_partitionable=False"):
            rng.raw_key(key)
    finally:
        jax.config.update("jax_threefry_partitionable", True)
    assert rng.raw_key(key).shape == (2,)


def test_unknown_compiler_options_are_dropped_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(runner, "_CPU_OPTIONS", {"xla_no_such_option_for_jaxbail": ""})
    runner._compiler_options.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="jaxbail.runner"):
            assert runner._compiler_options() is None
        if jax.default_backend() == "cpu":  # elsewhere no CPU option is tried, so nothing is dropped
            assert "xla_no_such_option_for_jaxbail" in caplog.text and "dropped" in caplog.text
        else:
            assert caplog.text == ""
    finally:
        runner._compiler_options.cache_clear()
