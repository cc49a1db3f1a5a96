"""Several Actors (SPEC 8): the factorised posterior against the flattened product instance and the
float64 reference, joint experts and BAIL, the factorised simulation, memory limits and files."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail import belief as filt
from jaxbail import multi_agent as ma
from jaxbail import theory
from jaxbail.experts import compute_experts, posterior_mean_plan
from jaxbail.instance import (
    InstanceError,
    MultiAgentInstance,
    instance_from_dict,
    instance_to_dict,
    largest_num_actors,
    load_instance,
    save_instance,
)
from jaxbail.instances import coordination, hard, instance_by_name, parse_params
from jaxbail.instances.coordination import joint_target, random_multi_agent
from jaxbail.planners import make_planner, mean_model_plan
from jaxbail.runner import simulate


def _random(num_actors, reporter="dirichlet", seed=0, **kw):
    sizes = {"num_tasks": 2, "num_states": 2, "num_subgoals": 2, "horizon": 3} | kw
    return random_multi_agent(seed + 10 * num_actors, num_actors=num_actors, reporter=reporter, **sizes)


@functools.cache
def _filter_fn(kind):
    def run(model, log_task, observations, subgoals):
        flt = {"factored": lambda: filt.FactoredFilter(model), "factored_known": lambda: filt.FactoredKnownStateFilter
               .build(model), "dense": lambda: filt.DenseFilter(model),
               "known": lambda: filt.KnownStateFilter.build(model)}[kind]()
        return filt.filter_episode_with(flt, log_task, observations, subgoals)
    return jax.jit(run)


def _episodes(m: ref.Model, num_episodes: int, seed: int):
    """(observations, subgoals) of episodes sampled from the product model with random subgoals."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_episodes):
        task = int(rng.integers(len(m.prior)))
        obs, subgoals, _ = ref.sample_episode(m, task, rng)
        out.append((obs, subgoals))
    return out


@pytest.mark.parametrize("num_actors", [1, 2, 3])
def test_flatten_is_the_entrywise_product_of_the_actor_tables(num_actors):
    inst = _random(num_actors)
    flat, product = ma.flatten(inst), ref.product_model(inst)
    assert flat.sizes == {"Z": 2, "S": 2 ** num_actors, "G": 2 ** num_actors, "O": 2 ** num_actors, "H": 3}
    for key in ("init", "transition", "emission", "reward", "prior"):
        np.testing.assert_allclose(np.asarray(getattr(flat, key), np.float64), getattr(product, key), atol=1e-6,
                                   err_msg=key)
    np.testing.assert_array_equal(np.asarray(ma.unravel_joint(jnp.arange(8), 2, 3)),
                                  np.array(np.unravel_index(np.arange(8), (2, 2, 2))).T)
    np.testing.assert_array_equal(np.asarray(ma.ravel_joint(jnp.array([[1, 0, 1], [0, 1, 1]]), 2)), [5, 3])


@pytest.mark.parametrize("num_actors", [1, 2, 3])
def test_factored_posterior_equals_the_flattened_and_reference_posteriors(num_actors):
    """Three chained episodes of Actor-specific noisy Reporters: the factorised filter, jaxbail's dense
    filter on the flattened product and the float64 reference on the entrywise product agree to 1e-5."""
    inst = _random(num_actors)
    flat, product = ma.flatten(inst), ref.product_model(inst)
    log_task = np.asarray(filt.prior_log_task(inst.prior), np.float64)
    ref_log_task = ref.log_prior(product.prior)
    for observations, subgoals in _episodes(product, 3, seed=num_actors):
        args = (jnp.asarray(observations, jnp.int32), jnp.asarray(subgoals, jnp.int32))
        beliefs, norms, missed, end = _filter_fn("factored")(inst, jnp.asarray(log_task, jnp.float32), *args)
        d_beliefs, d_norms, _, d_end = _filter_fn("dense")(flat, jnp.asarray(log_task, jnp.float32), *args)
        r_beliefs, r_norms, r_missed, r_end = ref.filter_episode(product, ref_log_task, observations, subgoals)
        assert not np.any(np.asarray(missed)) and not np.any(r_missed)
        for h, r_belief in enumerate(r_beliefs):
            belief = jax.tree.map(lambda leaf, h=h: leaf[h], beliefs)
            np.testing.assert_allclose(np.asarray(belief.task_posterior), r_belief.task, atol=1e-5)
            np.testing.assert_allclose(np.asarray(belief.joint), r_belief.joint, atol=1e-5)
            np.testing.assert_allclose(np.asarray(belief.joint), np.asarray(d_beliefs.state[h])
                                       * np.exp(np.asarray(d_beliefs.log_task[h]))[:, None], atol=1e-5)
        np.testing.assert_allclose(np.asarray(norms), r_norms, atol=1e-5)
        np.testing.assert_allclose(np.asarray(norms), np.asarray(d_norms), atol=1e-5)
        np.testing.assert_allclose(np.exp(np.asarray(end)), np.exp(r_end.log_task), atol=1e-5)
        np.testing.assert_allclose(np.exp(np.asarray(end)), np.exp(np.asarray(d_end)), atol=1e-5)
        log_task, ref_log_task = np.asarray(end, np.float64), r_end.log_task


@pytest.mark.parametrize("build", [lambda: coordination(3, 2, 3, prior=[0.7, 0.3], reveal=[0.5, 1.0, 0.8]),
                                   lambda: _random(2, reporter="identity", num_states=3)],
                         ids=["coordination-3", "random-identity-2"])
def test_known_state_factored_filter_equals_the_dense_factored_and_flattened_filters(build):
    inst = build()
    flat, product = ma.flatten(inst), ref.product_model(inst)
    log_task = filt.prior_log_task(inst.prior)
    policy = np.asarray(compute_experts(inst).policy)
    for observations, subgoals in _episodes(product, 2, seed=7):
        args = (jnp.asarray(observations, jnp.int32), jnp.asarray(subgoals, jnp.int32))
        known, k_norms, _, k_end = _filter_fn("factored_known")(inst, log_task, *args)
        dense, d_norms, _, d_end = _filter_fn("factored")(inst, log_task, *args)
        flat_known, f_norms, _, f_end = _filter_fn("known")(flat, log_task, *args)
        np.testing.assert_allclose(np.exp(np.asarray(known.log_task)), np.exp(np.asarray(dense.log_task)), atol=1e-6)
        np.testing.assert_allclose(np.exp(np.asarray(known.log_task)), np.exp(np.asarray(flat_known.log_task)),
                                   atol=1e-6)
        np.testing.assert_allclose(np.asarray(k_norms), np.asarray(f_norms), atol=1e-5)
        np.testing.assert_array_equal(np.asarray(known.joint_index), np.asarray(flat_known.state_index))
        for h in range(inst.horizon):
            k_b, d_b = (jax.tree.map(lambda leaf, h=h: leaf[h], b) for b in (known, dense))
            np.testing.assert_allclose(np.asarray(k_b.mixture(policy[h])), np.asarray(d_b.mixture(policy[h])),
                                       atol=1e-6)
            np.testing.assert_allclose(np.asarray(k_b.state_marginal()), np.asarray(d_b.state_marginal()), atol=1e-6)
            np.testing.assert_allclose(np.asarray(k_b.task_mixture(policy[h], 1)),
                                       np.asarray(d_b.task_mixture(policy[h], 1)), atol=1e-6)
        log_task = k_end


@pytest.mark.parametrize("kind", ["factored", "factored_known"])
def test_an_observation_impossible_under_every_task_is_a_misspecification_event(kind):
    """Both Actors pull arms (home in every task) but Actor 1 reports a signpost: flagged, belief kept, no NaN."""
    inst = coordination(2, 2, 2, prior=[0.6, 0.4])
    base = inst.actor_observations
    observations = jnp.asarray([0, 0 * base + 2, 0], jnp.int32)  # o_2: Actor 0 home, Actor 1 at signpost 1
    subgoals = jnp.asarray([0, 0], jnp.int32)
    beliefs, norms, missed, end = _filter_fn(kind)(inst, filt.prior_log_task(inst.prior), observations, subgoals)
    np.testing.assert_array_equal(np.asarray(missed), [False, True, False])
    assert np.asarray(norms)[1] == -np.inf and np.all(np.isfinite(np.asarray(norms)[[0, 2]]))
    np.testing.assert_allclose(np.exp(np.asarray(end)), [0.6, 0.4], atol=1e-6)
    assert not np.any(np.isnan(np.asarray(beliefs.log_task)))


def test_factored_update_costs_linear_flops_in_the_number_of_actors():
    """XLA's flop count of one update: affine in N for the factorised filter (N = 1..4), multiplied by
    about S^2 G per added Actor for the flattened product's filter (N = 1..3)."""
    def flops(fn, *args):
        cost = jax.jit(fn).lower(*args).compile().cost_analysis()
        return (cost[0] if isinstance(cost, list) else cost)["flops"]

    factored, flattened = [], []
    for n in (1, 2, 3, 4):
        inst = _random(n, reporter="noisy", num_states=3, num_subgoals=3, horizon=1)
        log_task = filt.prior_log_task(inst.prior)
        factored.append(flops(filt.FactoredFilter(inst).update, filt.FactoredBelief(log_task, inst.init),
                              jnp.int32(0), jnp.int32(0)))
        if n <= 3:
            flat = ma.flatten(inst)
            flattened.append(flops(filt.DenseFilter(flat).update, filt.Belief(log_task, flat.init), jnp.int32(0),
                                   jnp.int32(0)))
    steps = np.diff(factored)
    assert np.all(np.abs(steps / steps.mean() - 1) < 0.15), factored
    assert factored[3] < 4 * factored[0], factored
    assert flattened[1] > 10 * flattened[0] and flattened[2] > 10 * flattened[1], flattened


@pytest.mark.parametrize("num_actors", [2, 3])
def test_joint_experts_and_bail_match_the_reference_on_the_product_model(num_actors):
    inst = _random(num_actors, reporter="noisy")
    product = ref.product_model(inst)
    ex, r_ex = compute_experts(inst), ref.experts(product)
    np.testing.assert_allclose(np.asarray(ex.q), r_ex.q, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ex.v), r_ex.v, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ex.value), r_ex.value, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ex.policy), r_ex.policy)
    observations, subgoals = _episodes(product, 1, seed=3)[0]
    log_task = filt.prior_log_task(inst.prior)
    beliefs, *_ = _filter_fn("factored")(inst, log_task, jnp.asarray(observations, jnp.int32),
                                         jnp.asarray(subgoals, jnp.int32))
    r_beliefs, *_ = ref.filter_episode(product, ref.log_prior(product.prior), observations, subgoals)
    for h, r_belief in enumerate(r_beliefs):
        belief = jax.tree.map(lambda leaf, h=h: leaf[h], beliefs)
        policy_h = ex.policy[h]
        np.testing.assert_allclose(np.asarray(belief.mixture(policy_h)), ref.bail(r_belief, r_ex.policy[h]),
                                   atol=1e-5)
        np.testing.assert_allclose(np.asarray(belief.task_mixture(policy_h, 1)),
                                   ref.task_expert(r_belief, r_ex.policy[h], 1), atol=1e-5)
        np.testing.assert_allclose(np.asarray(belief.state_marginal()), r_belief.joint.sum(axis=0), atol=1e-5)


def test_bawm_plan_of_several_actors_is_the_flattened_mean_model_plan():
    inst = _random(2, reporter="noisy", num_states=3)
    flat = ma.flatten(inst)
    for weights in ([0.5, 0.5], [0.8, 0.2]):
        w = jnp.asarray(weights, jnp.float32)
        np.testing.assert_array_equal(np.asarray(posterior_mean_plan(w, inst)),
                                      np.asarray(mean_model_plan(w, flat.transition, flat.reward, flat.horizon)))


def test_one_actor_runs_exactly_like_the_single_actor_instance():
    """coordination with N = 1 has hard's tables; its factorised run (Actor 0's random numbers are the
    single-Actor ones) gives the same trajectories: regret, posterior and TV to BAIL equal."""
    planner = make_planner("eps_bawm", eps_scale=0.3)
    runs = [simulate(jax.random.PRNGKey(3), inst, planner, num_episodes=12, num_seeds=40, measure_tv=True,
                     progress=False) for inst in (coordination(1, 3, 4, prior=[0.5, 0.3, 0.2]),
                                                  hard(3, 4, prior=[0.5, 0.3, 0.2]))]
    for name in ("gap_regret", "return_regret", "true_task_posterior", "tv_to_bail", "tasks"):
        np.testing.assert_allclose(getattr(runs[0], name), getattr(runs[1], name), rtol=0, atol=1e-6, err_msg=name)
    assert runs[0].gap_regret[:, -1].mean() > 0


def test_factored_bail_regret_matches_brute_force_on_the_product_model():
    """One episode of BAIL, two Actors with noisy Reporters: the factorised simulation's mean gap and
    return regret lie within 4 standard errors of the exact expectation by enumerating every
    trajectory of the entrywise product model."""
    inst = _random(2, reporter="noisy", seed=1, horizon=2)
    product = ref.product_model(inst)
    exact = ref.bail_exact_regret(product, ref.experts(product), num_episodes=1)[0]
    assert exact[0] > 0.05
    np.testing.assert_allclose(exact[0], exact[1], atol=1e-5)
    result = simulate(jax.random.PRNGKey(11), inst, make_planner("bail"), num_episodes=1, num_seeds=20000,
                      progress=False)
    for estimator, cum in ((0, result.gap_regret), (1, result.return_regret)):
        samples = cum[:, 0]
        se = samples.std(ddof=1) / np.sqrt(samples.size)
        assert abs(samples.mean() - exact[estimator]) <= 4 * se, (estimator, samples.mean(), exact, se)


def test_coordination_structure_and_its_targets():
    inst = coordination(3, 3, 2)
    assert isinstance(inst, MultiAgentInstance)
    assert inst.sizes == {"N": 3, "Z": 3, "S": 4, "G": 4, "O": 4, "H": 2}
    assert (inst.num_states, inst.num_subgoals, inst.num_observations) == (64, 64, 64)
    reward = np.asarray(inst.reward)
    for z in range(3):
        target = joint_target(3, 3, z)
        np.testing.assert_array_equal(np.asarray(ma.unravel_joint(target, 4, 3)), [(z + i) % 3 for i in range(3)])
        np.testing.assert_array_equal(reward[z, :, target], 1.0)
        assert reward[z].sum() == 64  # one paying joint subgoal per joint state
    policy = np.asarray(compute_experts(inst).policy)
    for z in range(3):
        np.testing.assert_array_equal(policy[:, z, :, joint_target(3, 3, z)], 1.0)
    assert theory.frozen_posterior(inst)[0]
    assert instance_by_name("coordination", **parse_params("coordination", ["num_actors=3"])).num_actors == 3


def test_joint_tables_past_the_memory_budget_raise_naming_the_largest_n():
    assert largest_num_actors(3, 4, 4, 5) == 5 and largest_num_actors(2, 3, 3, 5) == 6
    assert coordination(5).num_states == 4 ** 5
    with pytest.raises(InstanceError, match=r"^num_actors: 6 Actors need joint tables .* the largest N for Z=3, "
                                            r"S=4, G=4, H=5 is 5$"):
        coordination(6)
    with pytest.raises(InstanceError, match=r"^num_actors: the flattened kernel"):
        ma.flatten(coordination(4))


BAD_PARAMETERS = [({"num_actors": 0}, "num_actors"), ({"num_tasks": 1}, "num_tasks"), ({"horizon": 0}, "horizon"),
                  ({"reveal": 0.0}, "reveal"), ({"num_actors": 2, "reveal": [0.5]}, "reveal"),
                  ({"num_actors": 2, "reveal": [0.5, 1.5]}, "reveal"), ({"prior": [0.2, 0.8]}, "prior")]


@pytest.mark.parametrize("params, key", BAD_PARAMETERS)
def test_bad_coordination_parameter_raises_naming_it(params, key):
    with pytest.raises(InstanceError, match=rf"^{key}: "):
        coordination(**params)


def _good_file():
    return instance_to_dict(coordination(2, 2, 2, reveal=[0.5, 1.0]))


def _bad(fn):
    data = _good_file()
    fn(data)
    return data


BAD_FILES = [
    (lambda d: d.update(num_actors=0), "num_actors", "integer >= 1"),
    (lambda d: d.update(num_actors=True), "num_actors", "integer >= 1"),
    (lambda d: d.update(num_actors=3), "transition", "num_actors is 3 but axis N has 2"),
    (lambda d: d.update(instructions=[1.0]), "instructions", "unknown key of a multi-agent instance"),
    (lambda d: d.update(init=d["init"][0]), "init", r"expected shape \[N, Z, S\]"),
    (lambda d: d.update(init=[d["init"][0]]), "init", "expected shape"),
    (lambda d: d.update(emission=np.asarray(d["emission"])[:, :, :, :2].tolist()), "emission", "sum to 1"),
    (lambda d: d.update(transition=(np.asarray(d["transition"]) * 0.5).tolist()), "transition", "sum to 1"),
    (lambda d: d.update(reward=np.asarray(d["reward"])[:, :4].tolist()), "reward", r"\[Z, S\^N, G\^N\]"),
    (lambda d: d.update(reward=np.asarray(d["reward"])[0].tolist()), "reward", "axes"),
    (lambda d: d.update(reward=(np.asarray(d["reward"]) * 2).tolist()), "reward", r"\[0, 1\]"),
    (lambda d: d.update(prior=[1.0, 0.0]), "prior", "> 0"),
    (lambda d: d.pop("emission"), "emission", "missing"),
]


@pytest.mark.parametrize("mutate, key, problem", BAD_FILES, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD_FILES)])
def test_bad_multi_agent_file_gets_one_line_naming_the_key(mutate, key, problem):
    with pytest.raises(InstanceError, match=rf"^{key}: .*{problem}") as info:
        instance_from_dict(_bad(mutate))
    assert "\n" not in str(info.value)


def test_multi_agent_file_round_trip_and_the_joint_budget_in_files(tmp_path):
    inst = coordination(2, 2, 2, reveal=[0.5, 1.0])
    path = tmp_path / "coord.json"
    save_instance(inst, path)
    loaded = load_instance(path)
    assert isinstance(loaded, MultiAgentInstance) and loaded.sizes == inst.sizes and loaded.name == "coordination"
    for key in ("prior", "init", "transition", "emission", "reward"):
        np.testing.assert_array_equal(np.asarray(getattr(loaded, key)), np.asarray(getattr(inst, key)))
    assert largest_num_actors(2, 2, 2, 50) == 9
    big = {"num_actors": 10, "prior": [0.5, 0.5], "init": [[[1.0, 0.0]] * 2] * 10,
           "transition": [[[[[1.0, 0.0]] * 2] * 2] * 2] * 10, "emission": [[[[1.0, 0.0], [0.0, 1.0]]] * 2] * 10,
           "reward": [[0.0]], "horizon": 50}
    with pytest.raises(InstanceError, match=r"^num_actors: 10 Actors need joint tables .* the largest N .* is 9$"):
        instance_from_dict(big)


def test_eta_and_bound_constants_of_the_joint_system_equal_the_flattened_instance():
    """Under the product (uniform) exploration policy the Bhattacharyya coefficient of independent Actors is
    the product of theirs: eta, Dmax and every exact line equal the flattened instance's."""
    for inst in (coordination(2, 3, 3, prior=[0.5, 0.3, 0.2], reveal=[0.4, 0.9]),
                 _random(2, reporter="noisy", horizon=2)):
        flat = ma.flatten(inst)
        eta, flat_eta = theory.distinguishability(inst), theory.distinguishability(flat)
        assert eta.method.startswith("product(")
        # the same numbers up to the float32 rounding of the flattened products
        assert eta.eta == pytest.approx(flat_eta.eta, abs=1e-6)
        np.testing.assert_allclose(eta.hellinger, flat_eta.hellinger, atol=1e-6)
        assert theory.max_action_gap(inst) == pytest.approx(theory.max_action_gap(flat), abs=1e-6)
        for name in ("bail", "map", "psrl", "bawm", "uniform", "oracle", "eps_bail"):
            planner = make_planner(name, eps_scale=0.25)
            mine, theirs = theory.theory_for(inst, planner, 500), theory.theory_for(flat, planner, 500)
            assert mine.kind == theirs.kind, (name, mine.note, theirs.note)
            if mine.kind is not None:
                assert mine.value == pytest.approx(theirs.value, rel=1e-6), name
    with pytest.raises(ValueError, match="not a product"):
        theory.distinguishability(coordination(2, 2, 2), explore=np.eye(9)[0] * 0.5 + np.eye(9)[4] * 0.5)


def test_delusional_belief_is_refused_for_several_actors():
    with pytest.raises(ValueError, match="^belief: the delusional posterior is not available for several Actors"):
        simulate(jax.random.PRNGKey(0), coordination(2, 2, 2), make_planner("bail"), num_episodes=2, num_seeds=2,
                 belief="delusional")


# ----------------------------------------------------------------------------- regret: linear vs sublinear

CONTRAST = {"num_tasks": 2, "horizon": 3, "prior": [0.6, 0.4], "reveal": 0.5}
CONTRAST_EPISODES, CONTRAST_SEEDS = 1000, 200


@functools.cache
def _contrast(num_actors):
    from jaxbail.experiment import multi_agent_contrast

    bail, eps_bail = multi_agent_contrast((num_actors,), num_episodes=CONTRAST_EPISODES, num_seeds=CONTRAST_SEEDS,
                                          eps="anytime:1", seed=0, progress=False, **CONTRAST)
    return bail, eps_bail


@pytest.mark.parametrize("num_actors", [2, 3])
def test_bail_regret_with_several_actors_is_its_exact_line(num_actors):
    """The experts' joint subgoals (arms) never move the posterior: BAIL is the prior mixture of joint
    targets, regret H (1 - sum rho^2) per episode (Bayesian), measured within 4 standard errors; slope 1."""
    bail, _ = _contrast(num_actors)
    assert bail["num_actors"] == num_actors and bail["sizes"]["N"] == num_actors
    theory_line = bail["theory"]
    assert theory_line["kind"] == "exact_line"
    exact_per_episode = 3 * (1 - 0.6 ** 2 - 0.4 ** 2)
    assert theory_line["value"] == pytest.approx(exact_per_episode * CONTRAST_EPISODES, rel=1e-6)
    assert abs(bail["regret_mean"] - theory_line["value"]) <= 4 * bail["regret_se"], bail["regret_mean"]
    assert abs(bail["slope"] - 1.0) <= 0.02
    assert bail["true_task_posterior_final"] == pytest.approx(0.6 ** 2 + 0.4 ** 2, abs=0.05)  # never moved


@pytest.mark.parametrize("num_actors", [2, 3])
def test_eps_bail_regret_with_several_actors_is_sublinear_and_under_the_joint_bound(num_actors):
    """eps_t = min(1, 1/sqrt(t)): the log-log slope over the last decade stays well below 1, the 95% upper
    end of the regret stays under the SPEC 6 bound of the joint system, and the posterior concentrates."""
    bail, eps_bail = _contrast(num_actors)
    assert eps_bail["slope"] < 0.7, eps_bail["slope"]
    bound = eps_bail["theory"]
    assert bound["kind"] == "upper_bound" and "joint system" in eps_bail["theory_note"]
    assert eps_bail["regret_ci95"][1] <= bound["value"]
    assert eps_bail["regret_ci95"][1] < 0.3 * bail["regret_mean"]
    assert eps_bail["true_task_posterior_final"] > 0.99
    # eta of the joint system grows with N (more Actors probe): the bound's eta is the product form
    inst = coordination(num_actors, **CONTRAST)
    per_actor = theory.distinguishability(ma.actor_view(inst, 0))
    joint = theory.distinguishability(inst)
    assert 1 - joint.eta == pytest.approx((1 - per_actor.eta) ** num_actors, abs=1e-9)
