"""Built-in instances: valid, documented sizes, ``hard``'s structure, parameter errors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxbail import belief as bf
from jaxbail.experts import compute_experts
from jaxbail.instance import (
    InstanceError,
    MultiAgentInstance,
    instance_from_dict,
    instance_to_dict,
    load_instance,
    make_instance,
    save_instance,
    validate_arrays,
)
from jaxbail.instances import INSTANCES, actor_slip, hard, instance_by_name, parse_params, random_instance
from jaxbail.multi_agent import flatten

# (instance, expected sizes Z, S, G, O, H)
BUILTINS = {
    "hard-default": (lambda: hard(), {"Z": 3, "S": 4, "G": 4, "O": 4, "H": 5}),
    "hard-4": (
        lambda: hard(num_tasks=4, horizon=3, prior=[0.4, 0.3, 0.2, 0.1], reveal=0.5),
        {"Z": 4, "S": 5, "G": 5, "O": 5, "H": 3},
    ),
    "safe_arm-default": (lambda: instance_by_name("safe_arm"), {"Z": 3, "S": 4, "G": 5, "O": 4, "H": 5}),
    "random-identity": (lambda: random_instance(0, reporter="identity"), {"Z": 4, "S": 4, "G": 3, "O": 4, "H": 4}),
    "random-noisy": (lambda: random_instance(1, reporter="noisy", noise=0.4), {"Z": 4, "S": 4, "G": 3, "O": 4, "H": 4}),
    "random-aliased": (lambda: random_instance(2, reporter="aliased"), {"Z": 4, "S": 4, "G": 3, "O": 2, "H": 4}),
    "random-aliased-O3": (
        lambda: random_instance(2, reporter="aliased", num_observations=3),
        {"Z": 4, "S": 4, "G": 3, "O": 3, "H": 4},
    ),
    "random-dirichlet": (lambda: random_instance(3, reporter="dirichlet"), {"Z": 4, "S": 4, "G": 3, "O": 4, "H": 4}),
    "random-dirichlet-O5": (
        lambda: random_instance(
            3,
            num_tasks=3,
            num_states=4,
            num_subgoals=4,
            horizon=5,
            reporter="dirichlet",
            num_observations=5,
            concentration=0.3,
        ),
        {"Z": 3, "S": 4, "G": 4, "O": 5, "H": 5},
    ),
    "actor_slip-default": (lambda: actor_slip(), {"Z": 3, "S": 5, "G": 4, "O": 5, "H": 4}),
    "actor_slip-noslip": (
        lambda: actor_slip(num_tasks=2, horizon=6, slip=0.0),
        {"Z": 2, "S": 4, "G": 3, "O": 4, "H": 6},
    ),
}


def _arrays(instance):
    return (instance.prior, instance.init, instance.transition, instance.emission, instance.reward, instance.horizon)


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_instance_passes_validation_with_documented_sizes(name):
    build, sizes = BUILTINS[name]
    instance = build()
    validate_arrays(*_arrays(instance))
    assert instance.sizes == sizes
    for leaf in _arrays(instance)[:5]:
        assert leaf.dtype == jnp.float32


def test_instance_by_name_builds_every_registered_family():
    assert set(INSTANCES) == {"hard", "random", "actor_slip", "coordination", "safe_arm"}
    for name in INSTANCES:
        instance = instance_by_name(name)
        # several Actors validate as their flattened single-Actor product instance
        validate_arrays(*_arrays(flatten(instance) if isinstance(instance, MultiAgentInstance) else instance))
    rnd = instance_by_name("random", seed=5, reporter="noisy")
    np.testing.assert_array_equal(
        np.asarray(rnd.transition), np.asarray(random_instance(5, reporter="noisy").transition)
    )
    assert parse_params("hard", ["num_tasks=4", "prior=[0.4,0.3,0.2,0.1]"]) == {
        "num_tasks": 4,
        "prior": [0.4, 0.3, 0.2, 0.1],
    }
    assert parse_params("hard", ["prior=0.5,0.5"]) == {"prior": [0.5, 0.5]}


def test_random_reporters_have_their_documented_emissions():
    s = 4
    np.testing.assert_array_equal(np.asarray(random_instance(0, reporter="identity").emission[1]), np.eye(s))
    noisy = np.asarray(random_instance(0, reporter="noisy", noise=0.2).emission[2], np.float64)
    np.testing.assert_allclose(noisy, 0.8 * np.eye(s) + 0.2 / s, atol=1e-7)
    aliased = np.asarray(random_instance(0, reporter="aliased").emission[0])
    np.testing.assert_array_equal(aliased, np.eye(2)[np.arange(s) % 2])
    assert np.all(np.asarray(random_instance(0).prior) == np.float32(0.25))


@pytest.mark.parametrize("num_tasks, horizon, prior", [(3, 5, None), (4, 3, [0.4, 0.3, 0.2, 0.1]), (2, 1, None)])
def test_hard_experts_never_use_the_probe(num_tasks, horizon, prior):
    instance = hard(num_tasks=num_tasks, horizon=horizon, prior=prior)
    policy = np.asarray(compute_experts(instance).policy)
    assert np.all(policy[..., num_tasks] == 0.0)
    # expert z always pulls arm z, from every state and at every step
    for z in range(num_tasks):
        np.testing.assert_array_equal(policy[:, z, :, z], 1.0)


@pytest.mark.parametrize("reveal", [1.0, 0.4])
def test_hard_probe_reveals_the_task(reveal):
    num_tasks = 3
    instance = hard(num_tasks=num_tasks, horizon=2, prior=[0.5, 0.3, 0.2], reveal=reveal)
    probe = num_tasks
    transition = np.asarray(instance.transition, np.float64)
    for z in range(num_tasks):
        np.testing.assert_allclose(transition[z, :, probe, 1 + z], reveal, atol=1e-7)
        np.testing.assert_allclose(transition[z, :, probe, 0], 1.0 - reveal, atol=1e-7)
    log_w = bf.prior_log_task(instance.prior)
    start = bf.begin_episode(instance, log_w, jnp.int32(0))
    np.testing.assert_allclose(np.asarray(start.belief.task_posterior), [0.5, 0.3, 0.2], atol=1e-6)
    for z in range(num_tasks):
        seen = bf.update(instance, start.belief, jnp.int32(probe), jnp.int32(1 + z))
        np.testing.assert_array_equal(np.asarray(seen.belief.task_posterior), np.eye(num_tasks)[z])
    # arms are uninformative: the same laws in every task
    for g in range(num_tasks):
        np.testing.assert_array_equal(transition[:, :, g], transition[:1, :, g].repeat(num_tasks, 0))
    if reveal < 1:  # an unlucky probe (home) tells nothing
        home = bf.update(instance, start.belief, jnp.int32(probe), jnp.int32(0))
        np.testing.assert_allclose(np.asarray(home.belief.task_posterior), [0.5, 0.3, 0.2], atol=1e-6)


def test_actor_slip_reward_lies_only_at_found_and_runs_start_at_zero():
    instance = actor_slip(num_tasks=3, horizon=4, slip=0.25)
    reward, init = np.asarray(instance.reward), np.asarray(instance.init)
    found = 4
    np.testing.assert_array_equal(init[:, 0], 1.0)
    np.testing.assert_array_equal(reward[:, found], 1.0)
    assert np.all(reward[:, :found] == 0.0)
    transition = np.asarray(instance.transition, np.float64)
    for z in range(3):
        np.testing.assert_allclose(transition[z, 0, z + 1, found], 0.75, atol=1e-7)  # the treasure location
        np.testing.assert_allclose(transition[z, 0, z + 1, 0], 0.25, atol=1e-7)  # the Actor slipped


BAD_PARAMETERS = [
    (hard, {"num_tasks": 1}, "num_tasks"),
    (hard, {"num_tasks": 2.5}, "num_tasks"),
    (hard, {"horizon": 0}, "horizon"),
    (hard, {"reveal": 0.0}, "reveal"),
    (hard, {"reveal": 1.5}, "reveal"),
    (hard, {"reveal": "x"}, "reveal"),
    (hard, {"num_tasks": 3, "prior": [0.5, 0.5]}, "prior"),
    (hard, {"num_tasks": 2, "prior": [1.0, 0.0]}, "prior"),
    (hard, {"num_tasks": 2, "prior": [0.7, 0.7]}, "prior"),
    (random_instance, {"num_tasks": 0}, "num_tasks"),
    (random_instance, {"num_states": 0}, "num_states"),
    (random_instance, {"num_subgoals": True}, "num_subgoals"),
    (random_instance, {"horizon": -1}, "horizon"),
    (random_instance, {"reporter": "perfect"}, "reporter"),
    (random_instance, {"noise": 1.2}, "noise"),
    (random_instance, {"concentration": 0.0}, "concentration"),
    (random_instance, {"concentration": "a lot"}, "concentration"),
    (random_instance, {"reporter": "identity", "num_observations": 3}, "num_observations"),
    (random_instance, {"reporter": "dirichlet", "num_observations": 0}, "num_observations"),
    (actor_slip, {"num_tasks": 0}, "num_tasks"),
    (actor_slip, {"slip": 1.0}, "slip"),
    (actor_slip, {"slip": -0.1}, "slip"),
    (actor_slip, {"horizon": 0}, "horizon"),
]


@pytest.mark.parametrize(
    "builder, params, key",
    BAD_PARAMETERS,
    ids=[f"{b.__name__}-{'-'.join(p)}-{i}" for i, (b, p, _) in enumerate(BAD_PARAMETERS)],
)
def test_bad_generator_parameter_raises_instance_error_naming_it(builder, params, key):
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        builder(**params)


@pytest.mark.parametrize(
    "name, params, key",
    [
        ("nope", {}, "instance"),
        ("hard", {"size": 3}, "size"),
        ("random", {"seed": "x"}, "seed"),
        ("random", {"key": 3}, "key"),
    ],
)
def test_instance_by_name_rejects_unknown_names_and_parameters(name, params, key):
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        instance_by_name(name, **params)


def _good():
    inst = hard(num_tasks=2, horizon=2)
    return {
        k: np.asarray(v, np.float64)
        for k, v in zip(("prior", "init", "transition", "emission", "reward"), _arrays(inst)[:5])
    } | {"horizon": 2}


def _mutate(key, fn):
    d = _good()
    d[key] = fn(d[key])
    return d


BAD_ARRAYS = [
    (_mutate("horizon", lambda h: 0), "horizon", "must be >= 1"),
    (_mutate("horizon", lambda h: 2.0), "horizon", "integer"),
    (_mutate("prior", lambda p: np.array([1.0, 0.0])), "prior", "> 0"),
    (_mutate("prior", lambda p: np.array([0.6, 0.6])), "prior", "sum to 1"),
    (_mutate("init", lambda a: a[:, :2]), "init", "expected shape"),
    (_mutate("init", lambda a: np.where(a == 1, 1.1, a)), "init", "> 1"),
    (_mutate("transition", lambda a: a[0]), "transition", "axes"),
    (_mutate("transition", lambda a: a * 0.5), "transition", "sum to 1"),
    (_mutate("transition", lambda a: np.where(a == 0, -1e-3, a)), "transition", "negative"),
    (_mutate("emission", lambda a: np.concatenate([a, a], axis=1)), "emission", "expected shape"),
    (_mutate("emission", lambda a: np.where(a == 1, np.nan, a)), "emission", "non-finite"),
    (_mutate("reward", lambda a: a + 1.0), "reward", r"\[0, 1\]"),
    (_mutate("reward", lambda a: [[1, 2], [3]]), "reward", "rectangular"),
]


@pytest.mark.parametrize("arrays, key, problem", BAD_ARRAYS, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_ARRAYS)])
def test_validate_arrays_names_the_bad_key_and_problem(arrays, key, problem):
    with pytest.raises(InstanceError, match=rf"^{key}: .*{problem}"):
        validate_arrays(**arrays)
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        make_instance(**arrays)


def test_instance_json_round_trip_and_bad_file(tmp_path):
    instance = hard(num_tasks=3, horizon=4, prior=[0.5, 0.25, 0.25], reveal=0.5)
    path = tmp_path / "hard.json"
    save_instance(instance, path)
    loaded = load_instance(path)
    assert loaded.sizes == instance.sizes and loaded.name == "hard"
    for a, b in zip(_arrays(loaded)[:5], _arrays(instance)[:5]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    data = instance_to_dict(instance)
    del data["reward"]
    with pytest.raises(InstanceError, match="^reward: missing"):
        instance_from_dict(data)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InstanceError, match="invalid JSON"):
        load_instance(bad)
