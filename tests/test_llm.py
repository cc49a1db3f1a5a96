"""The pretrained-transformer LLM planner: data, tokens, model, training, checkpoints, planner in the runner."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from flax import struct

from jaxbail.experts import compute_experts
from jaxbail.instances import hard, random_instance
from jaxbail.llm.checkpoint import (
    CheckpointError,
    default_checkpoint,
    load_checkpoint,
    save_checkpoint,
    shipped_checkpoint,
    side_file,
)
from jaxbail.llm.data import bail_targets, decision_positions, empirical_conditional_entropy, sample_prompts, tokenize
from jaxbail.llm.deployment import deployment_delta
from jaxbail.llm.model import ModelConfig, Transformer
from jaxbail.llm.planner import LlmPlanner, WindowedBail, eps_llm, llm_planner_from_checkpoint
from jaxbail.llm.train import dataset_loss, evaluate_delta, make_heldout, train, training_keys
from jaxbail.planners.base import Context, Planner
from jaxbail.runner import simulate
from jaxbail.stats import Z95

SMALL_RANDOM = dict(num_tasks=3, num_states=3, num_subgoals=2, horizon=3)


def _config(instance, episodes, **kw):
    return ModelConfig(instance.num_observations, instance.num_subgoals, instance.horizon, episodes, **kw)


@pytest.fixture(scope="module")
def trained_hard():
    """A tiny model briefly trained on ``hard`` (K = 2 episodes); shared by several tests."""
    instance = hard()
    result = train(instance, num_trajectories=2048, layers=1, width=32, heads=2, context_episodes=2, steps=250,
                   batch=32, lr=5e-3, warmup=25, heldout=256, eval_every=250, seed=0, progress=False)
    return instance, result


# ----------------------------------------------------------------------------- data


def test_labels_are_the_expert_choices_at_the_returned_states():
    instance = random_instance(1, **SMALL_RANDOM)
    prompts = sample_prompts(jax.random.PRNGKey(0), instance, 64, 3)
    policy = np.asarray(compute_experts(instance).policy)  # [H, Z, S, G]
    tasks, states, labels = (np.asarray(a) for a in (prompts.tasks, prompts.states, prompts.labels))
    assert states.shape == (64, 3, 4) and labels.shape == (64, 3, 3)
    expected = policy[np.arange(3)[None, None, :], tasks[:, None, None], states[:, :, :3]].argmax(-1)
    np.testing.assert_array_equal(labels, expected)
    # identity Reporter: the observations are the states
    np.testing.assert_array_equal(np.asarray(prompts.observations), states)
    assert len(set(tasks.tolist())) == 3  # every task drawn


def test_behaviour_policy_is_what_is_played_and_prompts_do_not_depend_on_batch_size():
    instance = random_instance(1, **SMALL_RANDOM)
    only_one = sample_prompts(jax.random.PRNGKey(0), instance, 32, 2, behaviour=jnp.array([0.0, 1.0]))
    assert np.all(np.asarray(only_one.subgoals) == 1)
    small = sample_prompts(jax.random.PRNGKey(5), instance, 8, 2)
    large = sample_prompts(jax.random.PRNGKey(5), instance, 40, 2)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[:8]), small, large)
    other = sample_prompts(jax.random.PRNGKey(6), instance, 8, 2)
    assert not np.array_equal(np.asarray(small.observations), np.asarray(other.observations))


def test_tokenisation_layout():
    instance = random_instance(2, **SMALL_RANDOM)
    k_eps = 2
    cfg = _config(instance, k_eps)
    prompts = sample_prompts(jax.random.PRNGKey(1), instance, 5, k_eps)
    toks = tokenize(prompts, cfg)
    o_count, g_count, horizon = instance.num_observations, instance.num_subgoals, instance.horizon
    assert cfg.vocab_size == o_count + g_count + 2 and cfg.sep == o_count + g_count and cfg.bos == o_count + g_count + 1
    obs, subs, labels = (np.asarray(a) for a in (prompts.observations, prompts.subgoals, prompts.labels))
    for n in range(5):
        expected, targets, mask = [cfg.bos], [0], [False]
        for k in range(k_eps):
            for h in range(horizon):
                expected += [obs[n, k, h], o_count + subs[n, k, h]]
                targets += [labels[n, k, h], 0]
                mask += [True, False]
            expected += [obs[n, k, horizon], cfg.sep]
            targets += [0, 0]
            mask += [False, False]
        np.testing.assert_array_equal(np.asarray(toks.tokens[n]), expected)
        np.testing.assert_array_equal(np.asarray(toks.targets[n]), targets)
        np.testing.assert_array_equal(np.asarray(toks.mask[n]), mask)
    assert toks.tokens.shape == (5, cfg.context_tokens) == (5, 1 + k_eps * (2 * horizon + 2))
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(toks.mask[0])),
                                  decision_positions(horizon, k_eps).reshape(-1))


def test_bail_targets_equal_the_reference_filter_carried_across_episodes():
    instance = random_instance(3, **SMALL_RANDOM)
    prompts = sample_prompts(jax.random.PRNGKey(2), instance, 6, 3)
    bail = np.asarray(bail_targets(instance, prompts))  # [N, K, H, G]
    model = ref.model_of(instance)
    policy = ref.experts(model).policy
    for n in range(6):
        log_task = ref.log_prior(model.prior)
        for k in range(3):
            beliefs, _, _, end = ref.filter_episode(model, log_task, np.asarray(prompts.observations[n, k]),
                                                    np.asarray(prompts.subgoals[n, k]))
            for h, belief in enumerate(beliefs):
                np.testing.assert_allclose(bail[n, k, h], ref.bail(belief, policy[h]), atol=1e-5)
            log_task = end.log_task


def test_conditional_entropy_floor_counts_only_ambiguous_prefixes():
    instance = hard(horizon=2)
    cfg = _config(instance, 1)
    prompts = sample_prompts(jax.random.PRNGKey(0), instance, 200, 1, behaviour=jnp.array([1.0, 0, 0, 0]))
    # arm 0 always: no observation reveals the task, every prefix is shared, labels are the task's arm
    tasks = np.asarray(prompts.tasks)
    freq = np.bincount(tasks, minlength=3) / tasks.size
    entropy = -np.sum(freq[freq > 0] * np.log(freq[freq > 0]))
    assert empirical_conditional_entropy(tokenize(prompts, cfg)) == pytest.approx(entropy, rel=1e-9)


# ----------------------------------------------------------------------------- model


def test_cached_decoding_equals_full_forward():
    instance = random_instance(4, **SMALL_RANDOM)
    cfg = _config(instance, 3, layers=2, width=32, heads=4)
    model = Transformer(cfg)
    params = model.init_params(jax.random.PRNGKey(0))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (cfg.context_tokens,), 0, cfg.vocab_size)
    full = np.asarray(model.forward(params, tokens))
    step = jax.jit(model.decode_step)
    cache, cached = model.empty_cache(), []
    for position in range(cfg.context_tokens):
        logits, cache = step(params, cache, tokens[position], jnp.int32(position))
        cached.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(cached), full, atol=1e-5)
    # a cache built by prefill over a prefix continues like the decoded one
    prefix = 9
    _, pre = model.prefill(params, jnp.where(jnp.arange(cfg.context_tokens) < prefix, tokens, 0))
    logits, _ = step(params, pre, tokens[prefix], jnp.int32(prefix))
    np.testing.assert_allclose(np.asarray(logits), full[prefix], atol=1e-5)
    assert np.abs(full).max() > 1e-3  # not a degenerate all-zero output


def test_model_overfits_a_tiny_data_set_to_its_entropy_floor():
    instance = hard(horizon=2)
    seed = 3
    result = train(instance, num_trajectories=12, layers=2, width=32, heads=2, context_episodes=2, steps=250,
                   batch=12, lr=1e-2, warmup=20, weight_decay=0.0, heldout=4, eval_every=250, seed=seed,
                   progress=False)
    data_key = training_keys(seed)[0]
    data = tokenize(sample_prompts(data_key, instance, 12, 2), result.config)
    floor = empirical_conditional_entropy(data)
    loss = dataset_loss(Transformer(result.config), result.params, data)
    untrained = dataset_loss(Transformer(result.config), Transformer(result.config).init_params(
        jax.random.PRNGKey(0)), data)
    assert floor > 0  # the first decision's prefix is shared by every prompt: the task is ambiguous there
    assert loss >= floor - 1e-4
    assert loss - floor < 0.02 * (untrained - floor), (loss, floor, untrained)


def test_short_training_on_hard_beats_the_untrained_model(trained_hard):
    _, result = trained_hard
    hist = result.history
    assert hist["step"][0] == 0 and hist["step"][-1] == 250
    # step 0 is the untrained model on the same held-out prompts
    assert hist["delta_hi"][-1] < hist["delta_lo"][0], hist
    rec = result.record
    assert rec["heldout"]["delta"] == pytest.approx(hist["delta"][-1])
    assert rec["num_trajectories"] == 2048 and rec["steps"] == 250 and rec["train_seconds"] > 0
    assert len(rec["heldout"]["per_episode"]) == 2


# ----------------------------------------------------------------------------- checkpoints


def test_save_reload_gives_identical_outputs(tmp_path, trained_hard):
    instance, result = trained_hard
    path = save_checkpoint(tmp_path / "m.msgpack", result.config, result.params, instance, result.record)
    config, params, trained_on, record = load_checkpoint(path, instance)
    assert config == result.config and trained_on.sizes == instance.sizes
    np.testing.assert_array_equal(np.asarray(trained_on.transition), np.asarray(instance.transition))
    assert record["heldout"]["delta"] == pytest.approx(result.record["heldout"]["delta"])
    tokens = jax.random.randint(jax.random.PRNGKey(0), (config.context_tokens,), 0, config.vocab_size)
    model = Transformer(config)
    np.testing.assert_array_equal(np.asarray(model.forward(params, tokens)),
                                  np.asarray(model.forward(result.params, tokens)))


def test_bad_checkpoints_raise_one_line_errors_naming_the_problem(tmp_path, trained_hard):
    instance, result = trained_hard
    missing = tmp_path / "nope.msgpack"
    with pytest.raises(CheckpointError, match="nope.msgpack"):
        load_checkpoint(missing)
    path = save_checkpoint(tmp_path / "m.msgpack", result.config, result.params, instance, result.record)
    other = hard(horizon=4)
    with pytest.raises(CheckpointError, match="H=5 vs 4") as err:
        llm_planner_from_checkpoint(path, other)
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="Z=3 vs 4, S=4 vs 5, G=4 vs 5, O=4 vs 5"):
        load_checkpoint(path, hard(num_tasks=4))
    side_file(path).write_text("{not json")
    with pytest.raises(CheckpointError, match="m.json"):
        load_checkpoint(path)
    path.write_bytes(b"\x00garbage")
    side_file(path).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="not a jaxbail-llm-checkpoint"):
        load_checkpoint(path)
    side_file(path).unlink()
    with pytest.raises(CheckpointError, match="missing side file"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no shipped checkpoint for instance 'actor_slip'"):
        default_checkpoint(hard().replace(name="actor_slip"))


def test_shipped_checkpoints_load_and_their_recorded_deployment_delta_is_below_005():
    instances = {"hard": hard(), "random": random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)}
    for name, instance in instances.items():
        path = shipped_checkpoint(name)
        assert path.stat().st_size < 4 * 2**20
        config, params, trained_on, record = load_checkpoint(path, instance)
        np.testing.assert_allclose(np.asarray(trained_on.transition), np.asarray(instance.transition), atol=1e-7)
        planner = llm_planner_from_checkpoint(path, instance)
        assert planner.config == config and default_checkpoint(instance) == path
        deployed = record["deployment"]
        assert deployed["planner"] == "llm" and deployed["seeds"] >= 512
        assert deployed["hi"] < 0.05, (name, deployed)
        assert record["heldout"]["hi"] < 0.05, (name, record["heldout"])


def test_shipped_hard_checkpoint_deployment_delta_remeasured():
    instance = hard()
    planner = llm_planner_from_checkpoint(shipped_checkpoint("hard"), instance)
    # fresh seeds (a key the recorded measurement did not use), fewer episodes than the record's T
    fresh = deployment_delta(jax.random.PRNGKey(7), instance, planner, num_episodes=6, num_seeds=256)
    assert fresh["hi"] < 0.05, fresh


# ----------------------------------------------------------------------------- planner


class FullForwardLlm(Planner):
    """Reference: the same history kept as a token list and pushed through the *full* forward at every decision."""

    params: object
    config: ModelConfig = struct.field(pytree_node=False)

    def init(self, key, ctx):
        return (jnp.full((self.config.context_tokens,), self.config.bos, jnp.int32), jnp.int32(1))

    @staticmethod
    def _push(state, token):
        tokens, count = state
        return tokens.at[count].set(jnp.asarray(token, jnp.int32)), count + 1

    def begin_episode(self, key, state, ctx):
        tokens, count = state
        length = self.config.episode_tokens
        if_full = (jnp.concatenate([tokens[:1], tokens[1 + length:], jnp.zeros(length, jnp.int32)]), count - length)
        return jax.tree.map(lambda a, b: jnp.where(count + length > self.config.context_tokens, a, b), if_full, state)

    def act(self, state, ctx):
        pushed = self._push(state, self.config.num_observations + ctx.prev_subgoal)
        state = jax.tree.map(lambda a, b: jnp.where(ctx.step > 0, a, b), pushed, state)
        state = self._push(state, ctx.observation)
        logits = Transformer(self.config).forward(self.params, state[0])
        return jax.nn.softmax(logits[state[1] - 1]), state

    def end_episode(self, state, ctx):
        state = self._push(state, self.config.num_observations + ctx.prev_subgoal)
        state = self._push(state, ctx.observation)
        return self._push(state, self.config.sep)


RUN = dict(num_episodes=5, num_seeds=48, measure_tv=True, log_points=np.arange(1, 6), progress=False)
"""Shared by the runner tests so each planner structure compiles once; K = 2, so the window slides from episode 3."""


def test_llm_planner_in_the_runner_matches_the_full_forward_on_the_same_histories(trained_hard):
    instance, result = trained_hard
    cached = LlmPlanner(params=result.params, config=result.config)
    full = FullForwardLlm(params=result.params, config=result.config)
    key = jax.random.PRNGKey(11)
    # exploration makes the histories probe (reveal) often, so the model's output varies along them
    runs = [simulate(key, instance, eps_llm(p, 0.5), **RUN) for p in (cached, full)]
    np.testing.assert_allclose(runs[0].tv_to_bail, runs[1].tv_to_bail, atol=1e-5)
    np.testing.assert_array_equal(runs[0].gap_regret, runs[1].gap_regret)
    assert np.nanstd(runs[0].tv_to_bail) > 0.01  # histories that differ, not one constant output (NaN: explored)


def test_llm_planner_reads_a_history_exactly_as_training_tokenises_it(trained_hard):
    instance, result = trained_hard
    cfg = result.config
    planner = LlmPlanner(params=result.params, config=cfg)
    prompts = sample_prompts(jax.random.PRNGKey(3), instance, 4, cfg.context_episodes)
    logits = Transformer(cfg).forward_batch(result.params, tokenize(prompts, cfg).tokens)
    expected = jax.nn.softmax(logits[:, decision_positions(cfg.horizon, cfg.context_episodes)], axis=-1)
    experts = compute_experts(instance)

    def ctx(step, episode, obs, prev):
        i32 = lambda x: jnp.asarray(x, jnp.int32)  # noqa: E731
        return Context(belief=None, step=i32(step), episode=i32(episode), num_episodes=i32(cfg.context_episodes),
                       observation=i32(obs), prev_subgoal=i32(prev), model=instance, experts=experts,
                       true_task=i32(0), true_state=i32(0))

    init = jax.jit(lambda p, c: p.init(jax.random.PRNGKey(0), c))
    begin = jax.jit(lambda p, s, c: p.begin_episode(jax.random.PRNGKey(0), s, c))
    act = jax.jit(lambda p, s, c: p.act(s, c))
    end = jax.jit(lambda p, s, c: p.end_episode(s, c))
    for n in range(4):
        obs, subs = np.asarray(prompts.observations[n]), np.asarray(prompts.subgoals[n])
        state = init(planner, ctx(0, 0, 0, -1))
        for k in range(cfg.context_episodes):
            state = begin(planner, state, ctx(0, k, obs[k, 0], -1))
            for h in range(cfg.horizon):
                probs, state = act(planner, state, ctx(h, k, obs[k, h], subs[k, h - 1] if h else -1))
                np.testing.assert_allclose(np.asarray(probs), np.asarray(expected[n, k, h]), atol=1e-5)
            state = end(planner, state, ctx(cfg.horizon, k, obs[k, -1], subs[k, -1]))
        np.testing.assert_array_equal(np.asarray(state.tokens), np.asarray(tokenize(prompts, cfg).tokens[n]))
        assert int(state.position) == cfg.context_tokens


def test_eps_llm_with_zero_eps_is_llm_so_the_wrapper_forwards_every_hook(trained_hard):
    instance, result = trained_hard
    planner = LlmPlanner(params=result.params, config=result.config)
    key = jax.random.PRNGKey(2)
    plain = simulate(key, instance, planner, **RUN)
    wrapped = simulate(key, instance, eps_llm(planner, 0.0), **RUN)
    np.testing.assert_allclose(wrapped.tv_to_bail, plain.tv_to_bail, atol=1e-6)
    np.testing.assert_array_equal(wrapped.gap_regret, plain.gap_regret)


def test_deployment_delta_interval_is_the_seed_mean_interval(trained_hard):
    instance, result = trained_hard
    planner = LlmPlanner(params=result.params, config=result.config)
    episodes, seeds = RUN["num_episodes"], RUN["num_seeds"]
    out = deployment_delta(jax.random.PRNGKey(4), instance, planner, num_episodes=episodes, num_seeds=seeds)
    run = simulate(jax.random.PRNGKey(4), instance, planner, **RUN)
    per_seed = run.mean_tv_to_bail
    assert out["delta"] == pytest.approx(per_seed.mean())
    assert out["hi"] - out["delta"] == pytest.approx(Z95 * per_seed.std(ddof=1) / np.sqrt(seeds))
    np.testing.assert_allclose(out["per_episode"], run.tv_to_bail.mean(axis=0))
    assert out["episodes"] == episodes and out["seeds"] == seeds


def test_windowed_bail_is_bail_while_the_window_holds_the_whole_run_and_loses_evidence_after():
    instance = random_instance(0, num_tasks=4, num_states=4, num_subgoals=3, horizon=4)
    # K = 2: the first two episodes are fully in the window, later ones see one earlier episode
    short = deployment_delta(jax.random.PRNGKey(0), instance, WindowedBail(context_episodes=2), num_episodes=5,
                             num_seeds=256)
    np.testing.assert_allclose(short["per_episode"][:2], 0.0, atol=1e-5)
    assert min(short["per_episode_lo"][2:]) > 0  # evidence forgotten: a measurable loss in every later episode


def test_heldout_delta_of_the_trained_model_matches_a_fresh_evaluation(trained_hard):
    instance, result = trained_hard
    held = make_heldout(jax.random.PRNGKey(99), instance, result.config, 256)
    fresh = evaluate_delta(Transformer(result.config), result.params, held)
    rec = result.record["heldout"]
    # two independent held-out sets: the difference is within ~4 standard errors of the difference
    assert abs(fresh["delta"] - rec["delta"]) < 4 * np.hypot(fresh["se"], rec["se"])
