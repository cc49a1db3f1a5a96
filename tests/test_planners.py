"""Planners (SPEC 4): the subgoal distributions ``act`` returns, against the float64 reference."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail.belief import Belief
from jaxbail.experts import compute_experts
from jaxbail.instances import hard, random_instance
from jaxbail.planners import (
    PLANNERS,
    Bail,
    Context,
    EpsilonGreedy,
    Map,
    Oracle,
    Planner,
    PlannerEntry,
    Psrl,
    Uniform,
    epsilon_greedy,
    make_planner,
    planner_name,
    register,
)
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


# --- the registry, the planners' self-description for the theory, and the README's worked example ---

README = Path(__file__).parent.parent / "README.md"


def _readme_example() -> str:
    """The first python block after the README's ``### Adding a planner`` heading."""
    text = README.read_text()
    section = text[text.index("### Adding a planner"):]
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]


@pytest.fixture()
def stubborn():
    """Run the README's example (it registers ``stubborn`` and ``eps_stubborn``); unregister afterwards."""
    namespace: dict = {}
    exec(compile(_readme_example(), str(README), "exec"), namespace)
    try:
        yield namespace["Stubborn"]
    finally:
        for name in ("stubborn", "eps_stubborn"):
            PLANNERS.pop(name, None)


def test_readme_planner_runs_in_simulate_the_cli_sweeps_and_the_theory(stubborn, capsys, tmp_path):
    from jaxbail import cli, theory
    from jaxbail.runner import simulate
    from jaxbail.sweep import expand_cells, load_sweep

    assert PLANNERS["stubborn"].description == "the expert of task 0, whatever the posterior says"
    assert PLANNERS["eps_stubborn"].takes_eps and not PLANNERS["stubborn"].takes_eps
    assert PLANNERS["stubborn"].batches_with_eps
    assert isinstance(make_planner("stubborn"), stubborn)
    horizon, episodes, prior = 4, 30, [0.5, 0.3, 0.2]
    instance = hard(3, horizon, prior=prior)
    # in task 1 expert 0 pulls arm 0 at every step: gap 1 per step, deterministic
    result = simulate(jax.random.PRNGKey(0), instance, make_planner("stubborn"), num_episodes=episodes, num_seeds=4,
                      task=1, progress=False)
    np.testing.assert_array_equal(result.gap_regret[:, -1], episodes * horizon)
    # the theory's exact line, against float64 policy evaluation of expert 0 in the reference
    model = ref.model_of(instance)
    expert = ref.experts(model)
    rho = model.prior / model.prior.sum()
    want = rho @ (ref.policy_value(model, expert.policy) - ref.policy_value(model, expert.policy[:, 0]))
    line = theory.theory_for(instance, make_planner("stubborn"), episodes)
    assert line.kind == "exact_line"
    np.testing.assert_allclose(line.per_episode, want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(want, horizon * (1 - rho[0]), rtol=1e-12)
    eps = theory.theory_for(instance, make_planner("eps_stubborn", eps_scale=0.1), episodes)
    assert eps.kind is None
    assert eps.note == "no bound for epsilon-greedy around Stubborn without its measured delta to BAIL"
    # the CLI, in this process (its --planner choices are the registry's)
    code = cli.main(["run", "--instance", "hard", "--param", "horizon=4", "--param", "prior=0.5,0.3,0.2",
                     "--planner", "stubborn", "--mode", "fixed", "--task", "1", "--episodes", str(episodes),
                     "--seeds", "4", "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["regret_mean"] == episodes * horizon and out["theory"]["kind"] == "exact_line"
    assert out["theory"]["value"] == pytest.approx(episodes * horizon, rel=1e-12)
    # a sweep expands eps values for the eps_ variant only
    config = tmp_path / "s.toml"
    config.write_text('[instance]\nname = "hard"\n[planner]\nname = ["stubborn", "eps_stubborn"]\n'
                      'eps = ["0.1", "auto"]\n')
    cells = expand_cells(load_sweep(config))
    assert [(c["planner"], c["eps"]) for c in cells] == [("stubborn", None), ("eps_stubborn", "0.1"),
                                                         ("eps_stubborn", "auto")]


def test_registry_names_carry_what_callers_ask():
    assert list(PLANNERS) == ["oracle", "bail", "eps_bail", "psrl", "map", "uniform", "bawm", "eps_bawm",
                              "bail_window", "eps_bail_window", "llm", "eps_llm"]
    assert {n for n, s in PLANNERS.items() if s.takes_eps} == {"eps_bail", "eps_bawm", "eps_bail_window", "eps_llm"}
    assert {n for n, s in PLANNERS.items() if s.takes_window} == {"bail_window", "eps_bail_window", "llm", "eps_llm"}
    assert {n for n, s in PLANNERS.items() if s.needs_window} == {"bail_window", "eps_bail_window"}
    assert {n for n, s in PLANNERS.items() if s.needs_checkpoint} == {"llm", "eps_llm"}
    assert {n for n, s in PLANNERS.items() if s.batches_with_eps} == {"bail", "bawm", "llm"}
    assert {n for n, s in PLANNERS.items() if s.entry.single_actor_reason} == {"llm", "eps_llm"}
    for name, spec in PLANNERS.items():
        assert spec.name == name and spec.description
        assert (spec.entry.stand_in is not None) == spec.needs_checkpoint
        assert name == (f"eps_{spec.entry.name}" if spec.takes_eps else spec.entry.name)
    with pytest.raises(ValueError, match=r"^unknown planner 'eps_psrl' \(choose from oracle, bail, eps_bail, "):
        planner_name("eps_psrl")
    before = dict(PLANNERS)
    with pytest.raises(ValueError, match=r"^planner 'bail' is already registered$"):
        register(PlannerEntry("bail", Bail, "again"))
    with pytest.raises(ValueError, match=r"^planner 'map' is already registered$"):
        register(PlannerEntry("map", Map, "again", eps_description="again"))
    with pytest.raises(ValueError, match=r"^planner 'eps_map': a name starting with eps_ is an epsilon-greedy "
                       r"variant; register 'map' with eps_description instead$"):
        register(PlannerEntry("eps_map", Map, "again"))
    assert PLANNERS == before  # a refused entry leaves nothing behind
    with pytest.raises(ValueError, match=r"^planner 'eps_llm' needs the instance it runs on"):
        make_planner("eps_llm")


def test_batching_as_eps_zero_plays_bit_for_bit_what_the_planner_plays():
    """``batches_with_eps``: the wrapper at eps = 0 gives the very same run (same key, same regret bits)."""
    from jaxbail.runner import simulate

    instance = random_instance(1, num_tasks=2, num_states=3, num_subgoals=2, horizon=3, reporter="noisy")
    for name in ("bail", "bawm"):
        plain = make_planner(name)
        runs = [simulate(jax.random.PRNGKey(5), instance, p, num_episodes=6, num_seeds=16, progress=False)
                for p in (plain, epsilon_greedy(plain, 0.0))]
        np.testing.assert_array_equal(runs[0].gap_regret, runs[1].gap_regret)
        np.testing.assert_array_equal(runs[0].return_regret, runs[1].return_regret)


class _Silent(Planner):
    """A planner that says nothing about itself (the defaults)."""

    def act(self, state, ctx):
        return jnp.full((ctx.model.num_subgoals,), 1.0 / ctx.model.num_subgoals), state


def test_theory_reads_the_planners_description_and_defaults_to_none():
    from jaxbail import theory

    instance = hard(3, 4, prior=[0.5, 0.3, 0.2])
    assert _Silent().frozen_play(instance, None, None) is None and _Silent().exploration() is None
    assert theory.theory_for(instance, _Silent(), 10).note == "no exact line for planner _Silent"
    assert theory.theory_for(instance, epsilon_greedy(_Silent()), 10).note == (
        "no bound for epsilon-greedy around _Silent without its measured delta to BAIL")
    wrapped = epsilon_greedy(Bail(), 0.3, 0.5, [0.1, 0.2, 0.3, 0.4])
    schedule = wrapped.exploration()
    assert schedule.inner is wrapped.inner and float(schedule.scale) == pytest.approx(0.3)
    np.testing.assert_array_equal(np.asarray(schedule.explore), np.asarray(wrapped.explore))
    # each MarkovPlay against the float64 reference on hard (frozen, injective)
    model = ref.model_of(instance)
    expert = ref.experts(model).policy
    rho = model.prior / model.prior.sum()
    values = ref.policy_value(model, expert)
    want = {"oracle": np.zeros(3),
            "bail": values - ref.policy_value(model, np.einsum("z,hzsg->hsg", rho, expert)),
            "map": values - ref.policy_value(model, expert[:, 0]),
            "psrl": values - rho @ np.stack([ref.policy_value(model, expert[:, k]) for k in range(3)]),
            "uniform": values - ref.policy_value(model, np.full((4, 4, 4), 0.25))}
    for name, per_task in want.items():
        for task in (None, 1):
            line = theory.exact_line(instance, make_planner(name), task)
            np.testing.assert_allclose(line.per_episode, rho @ per_task if task is None else per_task[task],
                                       rtol=1e-9, atol=1e-12, err_msg=name)


def test_no_planner_module_imports_up_the_layers():
    """``jaxbail.planners`` imports neither the runner nor ``jaxbail.llm``; ``jaxbail.llm.planner`` no runner."""
    import ast

    package = Path(__file__).parent.parent / "jaxbail"

    def imported(path):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        return names

    for path in sorted((package / "planners").glob("*.py")) + [package / "llm" / "planner.py"]:
        names = imported(path)
        assert not {n for n in names if n.startswith(("jaxbail.runner", "jaxbail.experiment"))}, path
        if path.parent.name == "planners":
            assert not {n for n in names if n.startswith("jaxbail.llm")}, path
