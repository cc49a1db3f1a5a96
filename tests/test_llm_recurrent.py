"""The recurrent LLM family, eps_bail-style and never-play pretraining data (issue 10)."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxbail.instances import hard
from jaxbail.llm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, shipped_checkpoint, side_file
from jaxbail.llm.data import bail_targets, parse_behaviour, sample_prompts
from jaxbail.llm.model import ModelConfig, Recurrent, Transformer, build_model
from jaxbail.llm.planner import (
    LlmPlanner,
    RecurrentLlmPlanner,
    RingLlmPlanner,
    eps_llm,
    llm_planner_from_checkpoint,
    planner_for,
)
from jaxbail.llm.train import train
from jaxbail.planners.base import Planner
from jaxbail.runner import simulate


def _config(instance, episodes=2, **kw):
    kw.setdefault("family", "recurrent")
    return ModelConfig(instance.num_observations, instance.num_subgoals, instance.horizon, episodes, **kw)


@pytest.fixture(scope="module")
def trained_recurrent():
    """A tiny recurrent model briefly trained on ``hard`` with eps_bail-style prompts of 4 episodes."""
    instance = hard()
    result = train(instance, model="recurrent", num_trajectories=1024, layers=1, width=24, heads=2,
                   context_episodes=4, steps=200, batch=32, lr=5e-3, warmup=20, heldout=128, eval_every=200,
                   behaviour="eps-bail", seed=0, progress=False)
    return instance, result


# ----------------------------------------------------------------------------- model


def _np_layer_norm(x, p):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * p["scale"] + p["bias"]


def _np_dense(x, p):
    return x @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)


def _np_gelu(x):  # flax's default: the tanh approximation
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_recurrent_forward(params, config, tokens):
    """Independent float64 reference: the recurrence run token by token with plain loops."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    x = p["token_embed"]["embedding"][np.asarray(tokens)]
    width = config.width
    for layer in range(config.layers):
        b = p[f"blocks_{layer}"]
        u = _np_layer_norm(x, b["ln"])
        prev = np.vstack([np.zeros((1, width)), u[:-1]])
        mixed = _np_dense(np.concatenate([u, prev], -1), b["mix"])
        logits, candidate, feature = mixed[:, :width], mixed[:, width:2 * width], mixed[:, 2 * width:]
        hidden, peak = np.zeros(width), -np.ones(width)
        hs, ms = [], []
        for t in range(len(tokens)):
            z = _np_sigmoid(logits[t])
            hidden = (1 - z) * hidden + z * candidate[t]
            peak = np.maximum(peak, np.tanh(feature[t]))
            hs.append(hidden)
            ms.append(peak)
        x = x + _np_dense(np.concatenate([np.array(hs), np.array(ms)], -1), b["proj"])
        x = x + _np_dense(_np_gelu(_np_dense(_np_layer_norm(x, b["ln_mlp"]), b["mlp_in"])), b["mlp_out"])
    return _np_dense(_np_layer_norm(x, p["ln_out"]), p["head"])


def test_recurrent_forward_and_incremental_decoding_equal_a_float64_numpy_recurrence():
    instance = hard()
    cfg = _config(instance, 3, layers=2, width=16)
    model = Recurrent(cfg)
    params = model.init_params(jax.random.PRNGKey(0))
    # perturb every weight so the gates and features are far from their initial values
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(5), len(leaves))
    params = jax.tree.unflatten(treedef, [a + 0.5 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])
    tokens = jax.random.randint(jax.random.PRNGKey(1), (80,), 0, cfg.vocab_size)  # longer than any training prompt
    reference = numpy_recurrent_forward(params, cfg, tokens)
    full = np.asarray(model.forward(params, tokens))
    np.testing.assert_allclose(full, reference, atol=2e-4, rtol=1e-4)
    step = jax.jit(model.decode_step)
    state, decoded = model.empty_state(), []
    for token in tokens:
        logits, state = step(params, state, token)
        decoded.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(decoded), reference, atol=2e-4, rtol=1e-4)
    np.testing.assert_allclose(np.stack(decoded), full, atol=2e-5, rtol=1e-5)
    assert np.abs(reference).max() > 0.1
    assert isinstance(build_model(cfg), Recurrent) and isinstance(build_model(_config(instance, family="transformer")),
                                                                  Transformer)


def test_model_config_rejects_an_unknown_family():
    with pytest.raises(ValueError, match="family: expected one of transformer, recurrent, got 'lstm'"):
        ModelConfig(4, 4, 5, 2, family="lstm")
    assert ModelConfig.from_dict({k: v for k, v in ModelConfig(4, 4, 5, 2).to_dict().items()
                                  if k != "family"}).family == "transformer"


# ----------------------------------------------------------------------------- planner


class FullHistoryRecurrent(Planner):
    """Reference: the whole history kept as a token list, the full (parallel-scan) forward at every decision."""

    params: object
    config: ModelConfig = struct.field(pytree_node=False)
    length: int = struct.field(pytree_node=False, default=64)

    def init(self, key, ctx):
        return (jnp.full((self.length,), self.config.sep, jnp.int32).at[0].set(self.config.bos), jnp.int32(1))

    @staticmethod
    def _push(state, token):
        tokens, count = state
        return tokens.at[count].set(jnp.asarray(token, jnp.int32)), count + 1

    def act(self, state, ctx):
        pushed = self._push(state, self.config.num_observations + ctx.prev_subgoal)
        state = jax.tree.map(lambda a, b: jnp.where(ctx.step > 0, a, b), pushed, state)
        state = self._push(state, ctx.observation)
        logits = Recurrent(self.config).forward(self.params, state[0])
        return jax.nn.softmax(logits[state[1] - 1]), state

    def end_episode(self, state, ctx):
        state = self._push(state, self.config.num_observations + ctx.prev_subgoal)
        state = self._push(state, ctx.observation)
        return self._push(state, self.config.sep)


def test_recurrent_planner_in_the_runner_matches_the_full_forward_over_the_whole_history(trained_recurrent):
    instance, result = trained_recurrent
    planner = RecurrentLlmPlanner(params=result.params, config=result.config)
    episodes = 5  # more than the 4 episodes of the training prompts: no window, nothing forgotten
    full = FullHistoryRecurrent(params=result.params, config=result.config,
                                length=1 + episodes * result.config.episode_tokens)
    run = dict(num_episodes=episodes, num_seeds=32, measure_tv=True, log_points=np.arange(1, episodes + 1),
               progress=False)
    runs = [simulate(jax.random.PRNGKey(3), instance, eps_llm(p, 0.5), **run) for p in (planner, full)]
    np.testing.assert_allclose(runs[0].tv_to_bail, runs[1].tv_to_bail, atol=1e-5)
    np.testing.assert_array_equal(runs[0].gap_regret, runs[1].gap_regret)
    assert np.nanstd(runs[0].tv_to_bail) > 1e-3  # outputs that differ between histories


def test_short_recurrent_training_beats_the_untrained_model(trained_recurrent):
    _, result = trained_recurrent
    hist = result.history
    assert hist["step"] == [0.0, 200.0]
    assert hist["delta_hi"][-1] < hist["delta_lo"][0], hist
    assert result.config.family == "recurrent" and result.record["family"] == "recurrent"
    assert result.record["behaviour"] == "eps-bail"


# ----------------------------------------------------------------------------- checkpoints


def test_recurrent_save_reload_picks_the_family_and_mismatches_are_one_line_errors(tmp_path, trained_recurrent):
    instance, result = trained_recurrent
    path = save_checkpoint(tmp_path / "r.msgpack", result.config, result.params, instance, result.record)
    assert json.loads(side_file(path).read_text())["model_config"]["family"] == "recurrent"
    config, params, _, _ = load_checkpoint(path, instance)
    assert config == result.config
    tokens = jax.random.randint(jax.random.PRNGKey(0), (40,), 0, config.vocab_size)
    np.testing.assert_array_equal(np.asarray(Recurrent(config).forward(params, tokens)),
                                  np.asarray(Recurrent(config).forward(result.params, tokens)))
    planner = llm_planner_from_checkpoint(path, instance)
    assert isinstance(planner, RecurrentLlmPlanner) and planner.config == config
    meta = json.loads(side_file(path).read_text())
    # the side file says transformer, the weights are recurrent
    meta["model_config"]["family"] = "transformer"
    side_file(path).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match the model config \\(family 'transformer'\\)") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)
    meta["model_config"]["family"] = "lstm"
    side_file(path).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unknown model family 'lstm' \\(known: transformer, recurrent\\)"):
        load_checkpoint(path)
    # transformer weights under a recurrent side file
    tcfg = _config(instance, 2, layers=1, width=24, heads=2, family="transformer")
    tpath = save_checkpoint(tmp_path / "t.msgpack", tcfg, Transformer(tcfg).init_params(jax.random.PRNGKey(0)),
                            instance)
    assert isinstance(llm_planner_from_checkpoint(tpath, instance), LlmPlanner)
    meta = json.loads(side_file(tpath).read_text())
    meta["model_config"]["family"] = "recurrent"
    side_file(tpath).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="family 'recurrent'") as err:
        llm_planner_from_checkpoint(tpath, instance)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- data


def test_eps_bail_behaviour_plays_bail_when_not_exploring_and_uniform_when_exploring():
    instance = hard(prior=[0.6, 0.3, 0.1])
    n, k = 512, 6
    prompts = sample_prompts(jax.random.PRNGKey(0), instance, n, k, behaviour="eps-bail:0.25")
    subgoals, obs = np.asarray(prompts.subgoals), np.asarray(prompts.observations)
    bail = np.asarray(bail_targets(instance, prompts))  # [N, K, H, G] exact BAIL at every decision
    played = np.take_along_axis(bail, subgoals[..., None], -1)[..., 0]
    # an episode is exploring iff it played a subgoal BAIL gives probability 0 somewhere, or by chance none
    impossible = (played <= 1e-7).any(axis=2)  # [N, K]
    probe = instance.num_subgoals - 1
    # the exploring share: episodes with an impossible move are exploring; an exploring episode shows one
    # unless all its H uniform subgoals are possible under BAIL. Under the prior (no probe yet) BAIL's
    # support is the 3 arms, so P(no impossible move | exploring, unrevealed) = (3/4)^H.
    unrevealed = np.cumsum((obs[:, :, 1:] > 0).any(axis=2), axis=1) == 0
    first = np.concatenate([np.ones((n, 1), bool), unrevealed[:, :-1]], axis=1)  # not revealed before this episode
    share = impossible[first].mean()
    expected = 0.25 * (1 - 0.75 ** instance.horizon)
    se = math.sqrt(expected * (1 - expected) / first.sum())
    assert abs(share - expected) < 4 * se, (share, expected, se)
    # after a reveal, a non-exploring episode plays the revealed task's arm at every step
    revealed_task = np.where(obs > 0, obs - 1, -1).max(axis=2)  # [N, K] the task shown in the episode, or -1
    known = np.maximum.accumulate(revealed_task, axis=1)
    for i, j in zip(*np.nonzero(known[:, :-1] >= 0)):
        if not impossible[i, j + 1]:
            assert (subgoals[i, j + 1] == known[i, j]).all()
    np.testing.assert_array_equal(known.max(axis=1)[known.max(axis=1) >= 0],
                                  np.asarray(prompts.tasks)[known.max(axis=1) >= 0])
    # eps 0 is BAIL itself: every subgoal has positive BAIL probability, no probe ever
    pure = sample_prompts(jax.random.PRNGKey(1), instance, 128, 3, behaviour="eps-bail:0")
    pure_bail = np.asarray(bail_targets(instance, pure))
    pure_played = np.take_along_axis(pure_bail, np.asarray(pure.subgoals)[..., None], -1)
    assert (pure_played > 1e-7).all() and not (np.asarray(pure.subgoals) == probe).any()


def test_eps_bail_per_prompt_eps_and_never_play_behaviours():
    instance = hard()
    probe = instance.num_subgoals - 1
    drawn = sample_prompts(jax.random.PRNGKey(2), instance, 64, 3, behaviour="eps-bail")
    assert (np.asarray(drawn.subgoals) == probe).any()  # some prompts explore
    for spec in ("no-probe", f"never-play:{probe}"):
        prompts = sample_prompts(jax.random.PRNGKey(3), instance, 256, 2, behaviour=spec)
        counts = np.bincount(np.asarray(prompts.subgoals).ravel(), minlength=instance.num_subgoals)
        assert counts[probe] == 0 and (counts[:probe] > 0).all()
    never_zero = sample_prompts(jax.random.PRNGKey(3), instance, 64, 2, behaviour="never-play:0")
    assert not (np.asarray(never_zero.subgoals) == 0).any()
    kind, table = parse_behaviour("eps-bail:0.3", instance)
    assert kind == "eps-bail" and float(table[0]) == pytest.approx(0.3)


@pytest.mark.parametrize("spec, message", [
    ("eps-bail:2", "eps-bail exploration probability must be in \\[0, 1\\], got 2"),
    ("eps-bail:x", "bad exploration probability in 'eps-bail:x'"),
    ("never-play:9", "subgoal 9 out of range \\[0, 3\\]"),
    ("never-play:a", "expected never-play:G with a subgoal index G, got 'never-play:a'"),
    ("no-probe:1", "'no-probe' takes no argument"),
    ("greedy", "expected 'uniform', 'dirichlet\\[:ALPHA\\]', 'eps-bail\\[:EPS\\]', 'never-play:G', 'no-probe'"),
])
def test_bad_behaviours_are_rejected_with_their_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_behaviour(spec, hard())


def test_train_rejects_an_unknown_family():
    with pytest.raises(ValueError, match="model: expected one of transformer, recurrent, got 'gru'"):
        train(hard(), model="gru", steps=1)


# ----------------------------------------------------------------------------- ALiBi transformer, ring buffer


def _perturbed(model, key, scale=0.3):
    params = model.init_params(jax.random.PRNGKey(0))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [a + scale * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)])


@pytest.mark.parametrize("layers, window", [(1, 2), (3, 2), (2, 1), (2, 3)])
def test_ring_buffer_outputs_after_slides_equal_a_fresh_forward_over_the_kept_episodes(layers, window):
    instance = hard(horizon=2)
    cfg = _config(instance, 2, layers=layers, width=16, heads=2, family="transformer", positions="alibi")
    model = Transformer(cfg)
    params = _perturbed(model, jax.random.PRNGKey(3))
    assert "position_embed" not in params["params"]
    length = cfg.episode_tokens
    stream = jax.random.randint(jax.random.PRNGKey(1), (1 + 5 * length,), 0, cfg.vocab_size).at[0].set(cfg.bos)
    step = jax.jit(model.ring_step)
    forward = jax.jit(model.forward)
    cache = model.ring_cache(params, window)
    assert cache.keys.shape == (cfg.layers, cfg.heads, 1 + length, cfg.head_dim)
    assert cache.ring_keys.shape == (cfg.heads, (window - 1) * length, cfg.head_dim)
    slid = 0
    for position in range(1, stream.shape[0]):
        episode, offset = divmod(position - 1, length)
        first = 1 + max(0, episode - window + 1) * length
        logits, cache = step(params, cache, stream[position], episode, offset)
        if offset == length - 1:
            cache = model.ring_close(cache, episode)
        fresh = jnp.concatenate([stream[:1], stream[first:position + 1]])  # BOS + the kept episodes, from position 0
        # padded to one length (one compile): a causal forward's logits at a position ignore the tokens after it
        padded = jnp.concatenate([fresh, jnp.full((stream.shape[0] - fresh.shape[0],), cfg.sep, fresh.dtype)])
        np.testing.assert_allclose(np.asarray(logits), np.asarray(forward(params, padded)[fresh.shape[0] - 1]),
                                   atol=2e-5, rtol=1e-5)
        slid += first > 1
    assert slid == (5 - window) * length  # episodes window .. 4 ran after a slide
    with pytest.raises(ValueError, match="needs positions='alibi'"):
        Transformer(_config(instance, 2, family="transformer")).ring_cache(params, 4)


class FreshWindowForward(Planner):
    """Reference for the ring planner: the kept episodes as a token list, a fresh full forward at every decision."""

    params: object
    config: ModelConfig = struct.field(pytree_node=False)
    window: int = struct.field(pytree_node=False, default=2)

    def init(self, key, ctx):
        size = 1 + self.window * self.config.episode_tokens
        return (jnp.full((size,), self.config.sep, jnp.int32).at[0].set(self.config.bos), jnp.int32(1))

    @staticmethod
    def _push(state, token):
        tokens, count = state
        return tokens.at[count].set(jnp.asarray(token, jnp.int32)), count + 1

    def begin_episode(self, key, state, ctx):
        tokens, count = state
        length = self.config.episode_tokens
        dropped = (jnp.concatenate([tokens[:1], tokens[1 + length:], jnp.zeros(length, jnp.int32)]), count - length)
        return jax.tree.map(lambda a, b: jnp.where(count + length > tokens.shape[0], a, b), dropped, state)

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


def test_ring_planner_in_the_runner_matches_fresh_forwards_and_its_window_exceeds_training():
    instance = hard()
    cfg = _config(instance, 2, layers=2, width=16, heads=2, family="transformer", positions="alibi")
    params = _perturbed(Transformer(cfg), jax.random.PRNGKey(4))
    window = 3  # longer than the 2-episode training prompts of this config
    ring = planner_for(cfg, params, window=window)
    assert isinstance(ring, RingLlmPlanner) and ring.window == window
    fresh = FreshWindowForward(params=params, config=cfg, window=window)
    run = dict(num_episodes=6, num_seeds=16, measure_tv=True, log_points=np.arange(1, 7), progress=False)
    runs = [simulate(jax.random.PRNGKey(5), instance, eps_llm(p, 0.5), **run) for p in (ring, fresh)]
    np.testing.assert_allclose(runs[0].tv_to_bail, runs[1].tv_to_bail, atol=1e-5)
    np.testing.assert_array_equal(runs[0].gap_regret, runs[1].gap_regret)
    assert np.nanstd(runs[0].tv_to_bail) > 1e-3
    with pytest.raises(ValueError, match="window: must be an integer >= 1, got 0"):
        planner_for(cfg, params, window=0)
    with pytest.raises(ValueError, match="only an ALiBi transformer's window can be set"):
        planner_for(_config(instance, 2, family="recurrent"), params, window=4)
    with pytest.raises(ValueError, match="positions: expected one of absolute, alibi, got 'rope'"):
        _config(instance, 2, positions="rope")


def test_shipped_recurrent_checkpoints_are_small_and_load_as_the_recurrent_planner():
    instance = hard()
    for name in ("hard-recurrent",):
        path = shipped_checkpoint(name)
        assert path.stat().st_size < 4 * 2**20
        config, _, trained_on, record = load_checkpoint(path, instance)
        assert config.family == "recurrent" and trained_on.sizes == instance.sizes
        assert isinstance(llm_planner_from_checkpoint(path, instance), RecurrentLlmPlanner)
        assert record["deployment"]["planner"] == "llm" and record["deployment"]["seeds"] >= 256
        assert record["window_only"]["delta"] == 0.0
