"""Experts (SPEC 2) against the float64 backward-induction reference."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail.experts import TIE_TOL, action_gap_max, compute_experts, policy_value
from jaxbail.instance import make_instance
from jaxbail.instances import actor_slip, hard, random_instance

ATOL = 1e-5

# (Z, S, G, H): tiny, the default, the sizes of ``hard()``, and a one-step horizon. Generating a
# random instance of a new (Z, S, G) costs a few seconds of compilation, so the suite reuses these.
SIZES = [(2, 2, 2, 2), (4, 4, 3, 4), (3, 4, 4, 5), (3, 4, 4, 1)]
REPORTERS = ["identity", "noisy", "aliased", "dirichlet"]
SEEDS = [0, 1, 2]

_experts = jax.jit(compute_experts, static_argnames=("temperature",))
_policy_value = jax.jit(policy_value)


def _grid_gen():
    for (z, s, g, h), reporter, seed in itertools.product(SIZES, REPORTERS, SEEDS):
        yield pytest.param(
            {"key": seed, "num_tasks": z, "num_states": s, "num_subgoals": g, "horizon": h, "reporter": reporter},
            id=f"Z{z}S{s}G{g}H{h}-{reporter}-{seed}",
        )


def _named_gen():
    yield pytest.param(hard(), id="hard")
    yield pytest.param(hard(num_tasks=4, horizon=3, prior=[0.4, 0.3, 0.2, 0.1], reveal=0.5), id="hard-nonuniform")
    yield pytest.param(actor_slip(), id="actor_slip")
    yield pytest.param(actor_slip(num_tasks=2, horizon=6, slip=0.0), id="actor_slip-noslip")


def _check_against_reference(instance, temperature=None):
    m = ref.model_of(instance)
    want = ref.experts(m, temperature)
    got = _experts(instance, temperature=temperature)
    np.testing.assert_allclose(np.asarray(got.q), want.q, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(got.v), want.v, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(got.policy), want.policy, atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(got.value), want.value, atol=ATOL, rtol=0)
    assert got.q.shape == (m.horizon,) + m.reward.shape
    assert got.v.shape == (m.horizon + 1,) + m.init.shape
    assert np.all(np.asarray(got.v[-1]) == 0.0)


@pytest.mark.parametrize("params", list(_grid_gen()))
def test_greedy_experts_match_reference_backward_induction(params):
    _check_against_reference(random_instance(**params))


@pytest.mark.parametrize("instance", list(_named_gen()))
def test_greedy_experts_match_reference_on_builtin_instances(instance):
    _check_against_reference(instance)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 3.0])
@pytest.mark.parametrize(
    "params",
    [
        {"key": 3, "num_tasks": 3, "num_states": 4, "num_subgoals": 4, "horizon": 5, "reporter": "noisy"},
        {"key": 4, "num_tasks": 2, "num_states": 2, "num_subgoals": 2, "horizon": 3, "reporter": "dirichlet"},
    ],
)
def test_boltzmann_experts_match_reference_softmax(params, temperature):
    instance = random_instance(**params)
    _check_against_reference(instance, temperature)
    # values are those of the optimal policy whatever the temperature
    greedy = _experts(instance, temperature=None)
    boltz = _experts(instance, temperature=temperature)
    np.testing.assert_array_equal(np.asarray(greedy.v), np.asarray(boltz.v))
    np.testing.assert_array_equal(np.asarray(greedy.value), np.asarray(boltz.value))


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_nonpositive_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="temperature"):
        compute_experts(hard(), temperature=temperature)


def _one_state(rewards, horizon=1):
    g = len(rewards)
    return make_instance([1.0], [[1.0]], np.ones((1, 1, g, 1)), [[[1.0]]], [[rewards]], horizon)


@pytest.mark.parametrize(
    "rewards, choice",
    [
        ([0.3, 0.5, 0.5 + 0.4 * TIE_TOL], 1),  # within TIE_TOL of the best: the lower index wins
        ([0.5 + 0.4 * TIE_TOL, 0.5, 0.3], 0),
        ([0.3, 0.5, 0.5 + 100 * TIE_TOL], 2),  # a clear best wins
        ([0.7, 0.7, 0.7], 0),  # exact ties go to index 0
        ([0.0, 0.2, 0.2], 1),
    ],
)
def test_greedy_ties_within_tolerance_go_to_lowest_index(rewards, choice):
    instance = _one_state(rewards, horizon=2)
    got = np.asarray(_experts(instance).policy)
    want = ref.experts(ref.model_of(instance)).policy
    expected = np.zeros(len(rewards))
    expected[choice] = 1.0
    np.testing.assert_array_equal(got[:, 0, 0], np.broadcast_to(expected, (2, len(rewards))))
    np.testing.assert_array_equal(want[:, 0, 0], np.broadcast_to(expected, (2, len(rewards))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_value_matches_reference_for_random_markov_policies(seed):
    instance = random_instance(seed, num_tasks=3, num_states=4, num_subgoals=4, horizon=5, reporter="noisy")
    m = ref.model_of(instance)
    rng = np.random.default_rng(seed)
    shared = rng.dirichlet(np.ones(4), size=(5, 4))  # [H, S, G]
    per_task = rng.dirichlet(np.ones(4), size=(5, 3, 4))  # [H, Z, S, G]
    for policy in (shared, per_task):
        got = _policy_value(instance, jnp.asarray(policy, jnp.float32))
        np.testing.assert_allclose(np.asarray(got), ref.policy_value(m, policy), atol=ATOL, rtol=0)


@pytest.mark.parametrize("params", [{"key": 5, "reporter": "identity"}, {"key": 6, "reporter": "aliased"}])
def test_policy_value_of_the_experts_is_optimal_value(params):
    instance = random_instance(**params)
    ex = _experts(instance)
    np.testing.assert_allclose(np.asarray(_policy_value(instance, ex.policy)), np.asarray(ex.value), atol=ATOL, rtol=0)
    # every other Markov policy is no better in any task
    rng = np.random.default_rng(0)
    other = rng.dirichlet(np.ones(instance.num_subgoals), size=(instance.horizon, instance.num_states))
    assert np.all(np.asarray(_policy_value(instance, jnp.asarray(other, jnp.float32))) <= np.asarray(ex.value) + ATOL)


@pytest.mark.parametrize(
    "instance",
    [random_instance(7), random_instance(8, reporter="dirichlet", horizon=6), hard(), actor_slip(slip=0.3)],
    ids=["random7", "random8", "hard", "slip"],
)
def test_action_gap_max_matches_reference(instance):
    m = ref.model_of(instance)
    want = ref.action_gap_max(ref.experts(m))
    got = float(action_gap_max(_experts(instance)))
    assert abs(got - want) <= ATOL
    assert 0.0 <= got <= instance.horizon


def test_action_gap_max_on_hard_is_one():
    # on hard, pulling a wrong arm loses exactly the one unit of this step's reward
    assert float(action_gap_max(_experts(hard(num_tasks=3, horizon=5)))) == pytest.approx(1.0, abs=ATOL)
