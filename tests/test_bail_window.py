"""``bail_window`` (SPEC 7): exact BAIL from the last K episodes, against a float64 NumPy re-filter of
those episodes on recorded trajectories, against ``bail`` when K covers the run, and against its
closed form on ``hard`` (:mod:`jaxbail.window_theory`) within 4 measured standard errors."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from jaxbail import belief as filt
from jaxbail.env import kind_of
from jaxbail.experts import compute_experts
from jaxbail.instance import reporter_is_injective
from jaxbail.instances import coordination, hard, random_instance
from jaxbail.planners import Bail, Context, epsilon_greedy, make_planner
from jaxbail.planners.bail_window import BailWindow, bail_window, check_window_belief
from jaxbail.runner import simulate, simulate_many
from jaxbail.window_theory import hard_params, reveal_probability, window_per_episode_hard, window_regret_hard

ATOL = 2e-5


# ----------------------------------------------------------------------------- the NumPy re-filter


def _window_bail_reference(m: ref.Model, policy: np.ndarray, episodes, t: int, h: int, window: int) -> np.ndarray:
    """BAIL at decision ``h`` of episode ``t`` from the prior and episodes ``max(0, t-K+1) .. t`` only
    (episode ``t`` up to its ``h``-th decision): the reference filter, float64, from scratch."""
    log_task = ref.log_prior(m.prior)
    for e in range(max(0, t - window + 1), t):
        obs, goals = episodes[e]
        log_task = ref.filter_episode(m, log_task, obs, goals)[3].log_task
    obs, goals = episodes[t]
    beliefs = ref.filter_episode(m, log_task, obs[: h + 2], goals[: h + 1])[0]
    return ref.bail(beliefs[h], policy[h])


def _drive(planner, instance, episodes, key=0):
    """Feed recorded ``episodes`` (``(observations [H+1], subgoals [H])``, joint indices) through the runner's
    own filter and ``planner``'s ``begin_episode``/``act``/``end_episode``; return its ``[T, H, G]`` decisions."""
    model = instance.replace(name="")
    flt = kind_of(model).filter(model, reporter_is_injective(model))
    experts = compute_experts(model)
    i32 = lambda x: jnp.asarray(x, jnp.int32)  # noqa: E731

    def ctx(belief, step, episode, obs, prev):
        return Context(belief=belief, step=i32(step), episode=i32(episode), num_episodes=i32(len(episodes)),
                       observation=i32(obs), prev_subgoal=i32(prev), model=model, experts=experts,
                       true_task=i32(0), true_state=i32(0))

    begin = jax.jit(lambda p, s, c: p.begin_episode(jax.random.PRNGKey(key), s, c))
    act = jax.jit(lambda p, s, c: p.act(s, c))
    end = jax.jit(lambda p, s, c: p.end_episode(s, c))
    log_task = filt.prior_log_task(model.prior)
    state = planner.init(jax.random.PRNGKey(key), ctx(kind_of(model).carried_belief(model, log_task), 0, 0, 0, -1))
    out = []
    for t, (obs, goals) in enumerate(episodes):
        state = begin(planner, state, ctx(kind_of(model).carried_belief(model, log_task), 0, t, obs[0], -1))
        belief, prev, decisions = flt.begin_episode(log_task, i32(obs[0])).belief, -1, []
        for h, g in enumerate(goals):
            probs, state = act(planner, state, ctx(belief, h, t, obs[h], prev))
            decisions.append(np.asarray(probs, np.float64))
            belief, prev = flt.update(belief, i32(g), i32(obs[h + 1])).belief, int(g)
        state = end(planner, state, ctx(belief, len(goals), t, obs[-1], prev))
        log_task = belief.log_task
        out.append(decisions)
    return np.asarray(out)


def _episodes(m: ref.Model, task: int, num: int, seed: int, subgoal_probs=None):
    rng = np.random.default_rng(seed)
    num_g = m.shape[2]
    out = []
    for _ in range(num):
        goals = rng.choice(num_g, size=m.horizon, p=subgoal_probs)
        obs, goals, _ = ref.sample_episode(m, task, rng, goals)
        out.append((obs, goals))
    return out


def _check_against_reference(instance, m, window, episodes, capacity=None):
    planner = bail_window(window, capacity)
    got = _drive(planner, instance, episodes)
    policy = ref.experts(m).policy
    for t in range(len(episodes)):
        for h in range(m.horizon):
            want = _window_bail_reference(m, policy, episodes, t, h, window)
            np.testing.assert_allclose(got[t, h], want, atol=ATOL, err_msg=f"K={window} episode {t} step {h}")
    return got


@pytest.mark.parametrize("window,capacity", [(1, None), (3, None), (2, 5)])
def test_dense_belief_matches_a_refilter_of_the_last_k_episodes(window, capacity):
    # a noisy Reporter: the runner keeps the general (z, s) belief; every episode moves the posterior
    instance = random_instance(5, num_tasks=3, num_states=3, num_subgoals=3, horizon=3, reporter="noisy", noise=0.3)
    m = ref.model_of(instance)
    episodes = _episodes(m, task=1, num=7, seed=window)
    got = _check_against_reference(instance, m, window, episodes, capacity)
    # the window matters here: full-history BAIL differs once an episode has left it
    full = _drive(Bail(), instance, episodes)
    assert np.max(np.abs(got[window:] - full[window:])) > 1e-3


def test_known_state_belief_on_hard_recovers_tasks_ruled_out_by_forgotten_episodes():
    # hard with a half-reliable probe and a non-uniform prior: a revealing episode rules two tasks out
    # (-inf) and the window must bring them back once it leaves; the runner keeps the known-state belief
    instance = hard(num_tasks=3, horizon=3, prior=[0.5, 0.3, 0.2], reveal=0.5)
    m = ref.model_of(instance)
    episodes = _episodes(m, task=2, num=8, seed=3, subgoal_probs=[0.2, 0.2, 0.2, 0.4])
    revealed = [bool(np.any(obs > 0)) for obs, _ in episodes]
    assert any(revealed[:5]) and not all(revealed)  # the sample exercises both
    got = _check_against_reference(instance, m, 2, episodes)
    full = _drive(Bail(), instance, episodes)
    assert np.max(np.abs(got - full)) > 0.1


def test_factored_beliefs_of_several_actors_match_the_product_model_refilter():
    instance = coordination(num_actors=2, num_tasks=2, horizon=2, prior=[0.7, 0.3], reveal=0.6)
    m = ref.product_model(instance)
    episodes = _episodes(m, task=1, num=6, seed=1)
    _check_against_reference(instance, m, 2, episodes)


def test_a_window_covering_the_run_is_bail_bit_for_bit():
    instance = hard(num_tasks=3, horizon=4, prior=[0.5, 0.3, 0.2])
    t_count = 12
    key = jax.random.PRNGKey(7)
    # with exploration (eps = 0.3), so the runs reveal tasks and exploit them; the plain planners are the
    # same code path (the wrapper's non-exploring episodes)
    a = simulate(key, instance, epsilon_greedy(Bail(), 0.3), num_episodes=t_count, num_seeds=32, progress=False)
    b = simulate(key, instance, epsilon_greedy(bail_window(t_count), 0.3), num_episodes=t_count, num_seeds=32,
                 progress=False)
    assert np.mean(a.true_task_posterior[:, -1] > 0.99) > 0.5
    for field in ("gap_regret", "return_regret", "true_task_posterior"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


# ----------------------------------------------------------------------------- the closed form on hard


@pytest.mark.parametrize("task", [None, 0])
def test_simulated_regret_matches_the_closed_form_within_4_se(task):
    instance = hard(num_tasks=3, horizon=3, prior=[0.5, 0.3, 0.2], reveal=0.7)
    eps, t_count, seeds = 0.25, 40, 1500
    windows = (1, 2, 4)
    # one compile: the window is a traced leaf, every cell keeps capacity 3
    planners = [epsilon_greedy(bail_window(k, capacity=3), eps) for k in windows] + [epsilon_greedy(Bail(), eps)]
    runs = simulate_many(jax.random.PRNGKey(1), [instance] * 3, planners[:3], num_episodes=t_count,
                         num_seeds=seeds, tasks=[task] * 3, progress=False)
    runs.append(simulate(jax.random.PRNGKey(1), instance, planners[3], num_episodes=t_count, num_seeds=seeds,
                         task=task, progress=False))
    finals = []
    for window, run in zip(windows + (None,), runs):
        mean = run.gap_regret.mean(axis=0)
        se = run.gap_regret.std(axis=0, ddof=1) / np.sqrt(seeds)
        want = window_regret_hard(instance, eps, window, run.episodes, task=task)
        assert np.all(np.abs(mean - want) <= 4 * se), (window, np.max(np.abs(mean - want) / se))
        finals.append(want[-1])
    assert finals == sorted(finals, reverse=True)  # longer memory, less regret


def test_closed_form_holds_with_per_episode_instructions():
    # the planner filters the episode's instruction view (same dynamics), the closed form is unchanged
    instance = hard(num_tasks=3, horizon=3, prior=[0.5, 0.3, 0.2], num_instructions=2)
    seeds = 1500
    run = simulate(jax.random.PRNGKey(2), instance, make_planner("eps_bail_window", window=3, eps_scale=0.2),
                   num_episodes=40, num_seeds=seeds, progress=False)
    mean = run.gap_regret.mean(axis=0)
    se = run.gap_regret.std(axis=0, ddof=1) / np.sqrt(seeds)
    assert np.all(np.abs(mean - window_regret_hard(instance, 0.2, 3, run.episodes)) <= 4 * se)


def test_closed_form_is_the_sum_of_its_per_episode_terms_and_reads_hard_back():
    instance = hard(num_tasks=4, horizon=5, prior=[0.4, 0.3, 0.2, 0.1], reveal=0.6)
    params = hard_params(instance)
    assert params.num_tasks == 4 and params.horizon == 5 and params.reveal == pytest.approx(0.6)
    explore = [0.1, 0.2, 0.3, 0.1, 0.3]
    assert reveal_probability(params, explore) == pytest.approx(1 - (1 - 0.3 * 0.6) ** 5)
    t = np.arange(1, 301)
    for window in (1, 2, 7, 50, None):
        for task in (None, 3):
            per = window_per_episode_hard(params, 0.15, window, t - 1, task=task, explore=explore)
            np.testing.assert_allclose(window_regret_hard(params, 0.15, window, t, task=task, explore=explore),
                                       np.cumsum(per), rtol=1e-12)
    # eps = 0: BAIL's exact line H (1 - sum rho^2) per episode, whatever the window
    rho = params.prior  # the instance's float32 numbers
    np.testing.assert_allclose(window_regret_hard(params, 0.0, 3, t), t * 5 * (1 - rho @ rho), rtol=1e-12)
    # a window of one episode never remembers: linear with the eps-mixture's slope
    slope = 0.15 * 5 * (1 - rho @ np.asarray(explore[:4])) + 0.85 * 5 * (1 - rho @ rho)
    np.testing.assert_allclose(window_regret_hard(params, 0.15, 1, t, explore=explore), slope * t, rtol=1e-12)


def test_closed_form_validation_messages():
    params = hard_params(hard())
    with pytest.raises(ValueError, match=r"eps: must be in \[0, 1\], got 1.5"):
        window_regret_hard(params, 1.5, 2, [10])
    with pytest.raises(ValueError, match="window: must be an integer >= 1 or None"):
        window_regret_hard(params, 0.1, 0, [10])
    with pytest.raises(ValueError, match=r"task: must be in \[0, 2\], got 3"):
        window_regret_hard(params, 0.1, 2, [10], task=3)
    with pytest.raises(ValueError, match="explore: must be a distribution over the 4 subgoals"):
        window_regret_hard(params, 0.1, 2, [10], explore=[0.5, 0.5])
    with pytest.raises(ValueError, match="the instance is not hard"):
        hard_params(random_instance(0, num_tasks=3, num_states=4, num_subgoals=4))
    with pytest.raises(ValueError, match="the instance is not hard \\(its reward table differs\\)"):
        bad = hard()
        hard_params(bad.replace(reward=bad.reward[::-1]))


# ----------------------------------------------------------------------------- validation


def test_builder_and_registry_validation_messages():
    with pytest.raises(ValueError, match="window: must be an integer >= 1 .* got 0"):
        bail_window(0)
    with pytest.raises(ValueError, match="window: must be an integer >= 1 .* got 2.5"):
        bail_window(2.5)
    with pytest.raises(ValueError, match="capacity: must be an integer >= window - 1 = 3, got 2"):
        bail_window(4, capacity=2)
    with pytest.raises(ValueError, match="planner 'bail_window' needs window=K"):
        make_planner("bail_window")
    with pytest.raises(ValueError, match="window applies to bail_window, eps_bail_window, llm and eps_llm, not to "
                                         "'bail'"):
        make_planner("bail", window=3)
    with pytest.raises(ValueError, match="bail_window needs belief='exact'"):
        check_window_belief("delusional")
    check_window_belief("exact")
    planner = make_planner("eps_bail_window", window=5, eps_scale=0.2)
    assert isinstance(planner.inner, BailWindow) and planner.inner.capacity == 4 and int(planner.inner.window) == 5
    assert float(planner.scale) == pytest.approx(0.2)
    assert isinstance(make_planner("bail_window", window=1), BailWindow)


# ----------------------------------------------------------------------------- CLI and sweeps


def test_cli_run_window_planner_matches_the_closed_form(capsys):
    from jaxbail.cli import main

    code = main(["run", "--instance", "hard", "--param", "horizon=3", "--planner", "eps_bail_window", "--window", "3",
                 "--eps", "0.2", "--episodes", "30", "--seeds", "600", "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["window"] == 3 and summary["eps"]["eps"] == pytest.approx(0.2)
    se = (summary["regret_ci95"][1] - summary["regret_mean"]) / 1.96
    want = window_regret_hard(hard(horizon=3), 0.2, 3, [30])[0]
    assert abs(summary["regret_mean"] - want) <= 4 * se


@pytest.mark.parametrize("argv, pattern", [
    (["--planner", "bail_window"], r"--planner bail_window needs --window K"),
    (["--planner", "bail", "--window", "3"],
     r"--window applies to bail_window, eps_bail_window, llm and eps_llm, not to 'bail'"),
    (["--planner", "bail_window", "--window", "0"], r"--window must be a positive integer, got 0"),
    (["--planner", "eps_bail_window", "--window", "2", "--belief", "delusional"],
     r"--planner eps_bail_window needs --belief exact"),
])
def test_cli_bad_window_arguments_get_one_line_and_exit_2(capsys, argv, pattern):
    import re

    from jaxbail.cli import main

    code = main(["run", "--instance", "hard", *argv, "--episodes", "5", "--seeds", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err


SWEEP = """
name = "w"
episodes = 10
seeds = 4
belief = "{belief}"
[instance]
name = "hard"
[planner]
name = {names}
eps = "0.1"
{window}
"""


def _sweep(names='["bail", "eps_bail_window"]', window="window = [1, 4]", belief="exact"):
    return SWEEP.format(names=names, window=window, belief=belief)


def test_sweep_expands_window_cells_and_batches_each_window_alone(tmp_path):
    import tomllib

    from jaxbail.sweep import _batches, expand_cells

    cells = expand_cells(tomllib.loads(_sweep()))
    assert [(c["planner"], c.get("window")) for c in cells] == [("bail", None), ("eps_bail_window", 1),
                                                                 ("eps_bail_window", 4)]
    assert "window" not in cells[0]  # other planners' cells (and their ids) are unchanged
    assert len(_batches(cells)) == 3
    # the LLM's window is optional: without planner.window its cells carry none; with it, one cell per K
    cells = expand_cells(tomllib.loads(_sweep(names='["eps_llm"]', window="")))
    assert [(c["planner"], c.get("window")) for c in cells] == [("eps_llm", None)]
    cells = expand_cells(tomllib.loads(_sweep(names='["eps_llm", "bail"]', belief="delusional")))
    assert [(c["planner"], c.get("window")) for c in cells] == [("eps_llm", 1), ("eps_llm", 4), ("bail", None)]


@pytest.mark.parametrize("text, pattern", [
    (_sweep(window=""), r"planner\.window: 'eps_bail_window' needs window = K"),
    (_sweep(names='["bail"]'),
     r"planner\.window: applies to bail_window, eps_bail_window, llm and eps_llm, none of which"),
    (_sweep(window="window = [2, 0]"), r"planner\.window: must be integers >= 1, got 0"),
    (_sweep(belief="delusional"), r"planner\.window: the window planners need belief = 'exact'"),
])
def test_sweep_window_validation(text, pattern):
    import tomllib

    from jaxbail.sweep import SweepError, expand_cells

    with pytest.raises(SweepError, match=pattern):
        expand_cells(tomllib.loads(text))
