"""Per-episode instructions (SPEC 8): experts pi*_{z,omega} against the float64 reference, BAIL's mixture
under the episode's instruction, regret per instruction, planners reading it, files and theory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail import stats, theory
from jaxbail.experiment import parse_eps, run_and_summarize
from jaxbail.experts import compute_experts, policy_value
from jaxbail.instance import (
    InstanceError,
    instance_from_dict,
    instance_to_dict,
    load_instance,
    make_instance,
    save_instance,
    validate_arrays,
)
from jaxbail.instances import hard, instance_by_name, parse_params, random_instance
from jaxbail.planners import Bail, Planner, make_planner
from jaxbail.replay import replay
from jaxbail.runner import simulate, simulate_many


def mixed_instance(instructions, prior=(0.6, 0.4), horizon=3):
    """One state, three arms. Instruction 0: arm z pays in task z (the task matters); instruction 1:
    arm 2 pays in every task (it does not). The posterior never moves, so BAIL's regret per episode is
    q(0) H (1 - rho(z))."""
    reward = np.zeros((2, 2, 1, 3))
    reward[0, 0, 0, 0] = reward[1, 0, 0, 1] = 1.0
    reward[:, 1, 0, 2] = 1.0
    return make_instance(list(prior), [[1.0], [1.0]], np.ones((2, 1, 3, 1)), np.ones((2, 1, 1)), reward, horizon,
                         name="mixed", instructions=instructions)


def test_instruction_experts_match_the_reference_per_instruction():
    inst = random_instance(3, num_tasks=3, num_states=3, num_subgoals=2, horizon=3, reporter="noisy",
                           num_instructions=3)
    assert inst.sizes == {"Z": 3, "S": 3, "G": 2, "O": 3, "H": 3, "W": 3}
    ex = compute_experts(inst)
    assert ex.q.shape == (3, 3, 3, 3, 2) and ex.v.shape == (4, 3, 3, 3) and ex.value.shape == (3, 3)
    m = ref.model_of(inst)
    rng = np.random.default_rng(0)
    for w in range(3):
        r_ex = ref.experts(ref.instruction_model(m, w))
        np.testing.assert_allclose(np.asarray(ex.q[:, :, w]), r_ex.q, atol=1e-5)
        np.testing.assert_allclose(np.asarray(ex.v[:, :, w]), r_ex.v, atol=1e-5)
        np.testing.assert_allclose(np.asarray(ex.value[:, w]), r_ex.value, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(ex.policy[:, :, w]), r_ex.policy)
        np.testing.assert_array_equal(np.asarray(ex.for_instruction(w).policy), r_ex.policy)
        np.testing.assert_allclose(np.asarray(ex.for_instruction(w).value), r_ex.value, atol=1e-5)
        policy = rng.dirichlet(np.ones(2), (3, 3, 3))  # a random per-task Markov policy [H, Z, S, G]
        mixed = np.asarray(policy_value(inst, jnp.asarray(np.broadcast_to(policy[:, :, None], (3, 3, 3, 3, 2)),
                                                          jnp.float32)))
        np.testing.assert_allclose(mixed[:, w], ref.policy_value(ref.instruction_model(m, w), policy), atol=1e-5)


def test_bail_with_instructions_matches_brute_force():
    """One episode, instruction drawn from q = (0.3, 0.7): mean gap and return regret within 4 standard
    errors of the exact expectation (BAIL mixes pi*_{., omega} with the posterior, regret against
    J*_{z, omega}); the q-mixture is far, in standard errors, from either instruction alone."""
    inst = random_instance(4, num_tasks=2, num_states=2, num_subgoals=2, horizon=2, reporter="noisy", noise=0.3,
                           num_instructions=2, instruction_probs=[0.3, 0.7])
    m = ref.model_of(inst)
    exact = ref.bail_exact_regret_instructed(m, num_episodes=1)[0]
    alone = [ref.bail_exact_regret(v, ref.experts(v))[0, 0] for v in (ref.instruction_model(m, w) for w in (0, 1))]
    np.testing.assert_allclose(exact[0], 0.3 * alone[0] + 0.7 * alone[1], atol=1e-6)
    result = simulate(jax.random.PRNGKey(4), inst, Bail(), num_episodes=1, num_seeds=20000, progress=False)
    for estimator, cum in ((0, result.gap_regret), (1, result.return_regret)):
        samples = cum[:, 0]
        se = samples.std(ddof=1) / np.sqrt(samples.size)
        assert abs(samples.mean() - exact[estimator]) <= 4 * se, (estimator, samples.mean(), exact, se)
        assert min(abs(samples.mean() - a) for a in alone) > 8 * se


def test_regret_per_instruction_follows_the_instruction_distribution():
    """Three cells of one batch: q = (1, 0), (0, 1), (0.3, 0.7). BAIL's mean per-episode regret is the exact
    line q(0) H (1 - sum rho^2) within 4 standard errors (0 exactly when the task never matters). (The
    oracle's zero regret under instructions is checked in tests/test_smoke.py.)"""
    qs = ([1.0, 0.0], [0.0, 1.0], [0.3, 0.7])
    instances = [mixed_instance(q) for q in qs]
    episodes = 40
    bail = simulate_many(jax.random.PRNGKey(5), instances, [Bail()] * 3, num_episodes=episodes, num_seeds=400,
                         progress=False)
    for q, inst, result in zip(qs, instances, bail):
        line = theory.theory_for(inst, Bail(), episodes)
        assert line.kind == "exact_line"
        assert line.per_episode == pytest.approx(q[0] * 3 * (1 - 0.6 ** 2 - 0.4 ** 2), abs=1e-6)
        per_episode = stats.mean_ci(result.gap_regret[:, -1] / episodes)
        assert abs(per_episode.mean - line.per_episode) <= 4 * per_episode.se + 1e-9, (q, per_episode, line)
    np.testing.assert_array_equal(bail[1].gap_regret, 0.0)


class FollowInstruction(Planner):
    """Plays subgoal ``omega``: optimal exactly when arm omega pays under instruction omega."""

    def act(self, state, ctx):
        return jax.nn.one_hot(ctx.instruction, ctx.model.num_subgoals), state


def test_planners_see_the_episodes_instruction_in_their_context():
    reward = np.zeros((2, 3, 1, 3))
    for w in range(3):
        reward[:, w, 0, w] = 1.0  # under instruction w, arm w pays in every task
    inst = make_instance([0.5, 0.5], [[1.0], [1.0]], np.ones((2, 1, 3, 1)), np.ones((2, 1, 1)), reward, 2,
                         instructions=[0.2, 0.3, 0.5])
    result = simulate(jax.random.PRNGKey(6), inst, FollowInstruction(), num_episodes=30, num_seeds=50,
                      progress=False)
    np.testing.assert_array_equal(result.gap_regret, 0.0)
    np.testing.assert_array_equal(result.return_regret, 0.0)


def test_one_instruction_runs_exactly_like_no_instructions():
    """W = 1 (q = [1]) appends one unused-in-effect uniform per episode and leaves every other random
    number where it was: the same trajectories, regret, posterior and TV to BAIL as the plain instance."""
    planner = make_planner("eps_bawm", eps_scale=0.3)
    runs = [simulate(jax.random.PRNGKey(3), inst, planner, num_episodes=12, num_seeds=40, measure_tv=True,
                     progress=False) for inst in (hard(3, 4, prior=[0.5, 0.3, 0.2], num_instructions=1),
                                                  hard(3, 4, prior=[0.5, 0.3, 0.2]))]
    for name in ("gap_regret", "return_regret", "true_task_posterior", "tv_to_bail", "tasks"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name), err_msg=name)


def test_hard_with_instructions_has_its_documented_rewards_and_frozen_posterior():
    inst = hard(3, 2, num_instructions=2, instruction_probs=[0.25, 0.75])
    reward = np.asarray(inst.reward)
    assert reward.shape == (3, 2, 4, 4)
    for z in range(3):
        for w in range(2):
            expected = np.zeros(4)
            expected[(z + w) % 3] = 1.0
            np.testing.assert_array_equal(reward[z, w], np.broadcast_to(expected, (4, 4)))
    np.testing.assert_allclose(np.asarray(inst.instructions), [0.25, 0.75])
    assert theory.frozen_posterior(inst)[0]
    params = parse_params("hard", ["horizon=2", "num_instructions=2", "instruction_probs=0.25,0.75"])
    assert instance_by_name("hard", **params).sizes == inst.sizes
    plain = random_instance(7, num_tasks=2, num_states=3, num_subgoals=2)
    assert plain.instructions is None and "W" not in plain.sizes


def test_eps_bail_with_instructions_is_sublinear_and_under_its_bound():
    summary = run_and_summarize(hard(2, 3, num_instructions=2, instruction_probs=[0.4, 0.6]), "eps_bail",
                                num_episodes=1000, num_seeds=200, eps=parse_eps("anytime:1"), seed=1, progress=False)
    assert summary["slope"] < 0.7, summary["slope"]
    assert summary["theory"]["kind"] == "upper_bound" and "largest over instructions" in summary["theory_note"]
    assert summary["regret_ci95"][1] <= summary["theory"]["value"]


def test_replay_with_instructions_mixes_that_instructions_experts():
    inst = hard(2, 2, num_instructions=2)
    episodes = [([0, 0, 0], [0, 1]), ([0, 0, 0], [1, 1])]
    out = replay(inst, episodes, instructions=[0, 1])
    # the posterior never moves: BAIL is the prior mixture of pi*_{z, omega}: arms (z + omega) mod 2
    np.testing.assert_allclose(out["steps"][0]["bail"], [0.5, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["steps"][2]["bail"], [0.5, 0.5, 0.0], atol=1e-6)
    skewed = hard(2, 2, prior=[0.8, 0.2], num_instructions=2)
    out = replay(skewed, episodes, instructions=[0, 1])
    np.testing.assert_allclose(out["steps"][0]["bail"], [0.8, 0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(out["steps"][2]["bail"], [0.2, 0.8, 0.0], atol=1e-6)
    with pytest.raises(InstanceError, match="^replay: this instance has per-episode instructions"):
        replay(inst, episodes)
    with pytest.raises(InstanceError, match="^replay: instructions must be one integer"):
        replay(inst, episodes, instructions=[0, 2])


def _good():
    inst = hard(2, 2, num_instructions=2)
    data = instance_to_dict(inst)
    return {k: (np.asarray(v, np.float64) if isinstance(v, list) else v) for k, v in data.items() if k != "name"}


def _mutate(key, fn):
    d = _good()
    d[key] = fn(d[key])
    return d


def _drop(key):
    d = _good()
    del d[key]
    return d


BAD_ARRAYS = [
    (_mutate("instructions", lambda q: q[None]), "instructions", r"expected shape \[W\]"),
    (_mutate("instructions", lambda q: q[:0]), "instructions", "at least one instruction"),
    (_mutate("instructions", lambda q: np.array([1.2, -0.2])), "instructions", "negative"),
    (_mutate("instructions", lambda q: np.array([0.6, 0.6])), "instructions", "sum to 1"),
    (_mutate("instructions", lambda q: np.array([np.nan, 1.0])), "instructions", "non-finite"),
    (_mutate("instructions", lambda q: "many"), "instructions", "rectangular"),
    (_mutate("instructions", lambda q: np.array([0.2, 0.3, 0.5])), "reward", r"\[Z, W, S, G\] = \[2, 3, 3, 3\]"),
    (_mutate("reward", lambda r: r[:, 0]), "reward", r"\[Z, W, S, G\] \(4 axes\)"),
    (_mutate("reward", lambda r: r + 1.0), "reward", r"\[0, 1\]"),
    (_drop("instructions"), "reward", "need the instruction distribution 'instructions'"),
]


@pytest.mark.parametrize("arrays, key, problem", BAD_ARRAYS, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_ARRAYS)])
def test_bad_instructions_or_reward_name_the_key_in_one_line(arrays, key, problem):
    with pytest.raises(InstanceError, match=rf"^{key}: .*{problem}") as info:
        validate_arrays(**arrays)
    assert "\n" not in str(info.value)
    as_json = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        instance_from_dict(as_json)


def test_instruction_file_round_trip(tmp_path):
    inst = hard(3, 2, num_instructions=2, instruction_probs=[0.25, 0.75])
    path = tmp_path / "instructed.json"
    save_instance(inst, path)
    loaded = load_instance(path)
    assert loaded.sizes == inst.sizes and loaded.sizes["W"] == 2
    for key in ("prior", "init", "transition", "emission", "reward", "instructions"):
        np.testing.assert_array_equal(np.asarray(getattr(loaded, key)), np.asarray(getattr(inst, key)))


@pytest.mark.parametrize("builder, params, key", [
    (hard, {"num_instructions": 0}, "num_instructions"),
    (hard, {"num_instructions": 2.5}, "num_instructions"),
    (hard, {"instruction_probs": [0.5, 0.6]}, "instruction_probs"),
    (hard, {"instruction_probs": [1.5, -0.5]}, "instruction_probs"),
    (hard, {"num_instructions": 3, "instruction_probs": [0.5, 0.5]}, "num_instructions"),
    (random_instance, {"num_instructions": True}, "num_instructions"),
])
def test_bad_instruction_parameters_raise_naming_them(builder, params, key):
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        builder(**params)
