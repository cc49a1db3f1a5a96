"""A small pre-LN causal transformer (flax linen) over observation/subgoal tokens, with a key/value cache.

Linen, not nnx: the weights are a plain pytree of arrays (``{"params": ...}``) that a
``flax.struct`` planner carries as traced leaves and the runner stacks, vmaps and jits like
any other hyperparameter; ``apply`` is a pure function, and msgpack serialisation of the
dict is one call. An nnx module is a mutable object that would need ``nnx.split``/``merge``
at every boundary to play the same role.

Every function here works on one sequence (no batch axis); batches are ``jax.vmap`` of it
(:func:`Transformer.forward_batch`), and the runner's vmap over seeds batches the decoding.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ModelConfig", "KVCache", "RingCache", "ring_layout", "alibi_slopes", "POSITIONS", "Transformer",
           "Recurrent", "RecurrentState", "FAMILIES", "build_model"]

FAMILIES = ("transformer", "recurrent")
POSITIONS = ("absolute", "alibi")
"""Model families, chosen by :attr:`ModelConfig.family` (``jaxbail pretrain --model``)."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of the token layout and of the network (hashable: a static field of the planner).

    Token layout (see :mod:`jaxbail.llm.data`): observation ``o -> o``, subgoal ``g -> O + g``,
    episode separator ``SEP = O + G``, ``BOS = O + G + 1``; vocabulary ``V = O + G + 2``. A prompt is
    ``BOS`` then ``K`` episodes of ``E = 2H + 2`` tokens ``o_1 g_1 .. o_H g_H o_{H+1} SEP``, so the
    context is ``C = 1 + K E`` tokens.

    Attributes:
      num_observations, num_subgoals, horizon: the instance's ``O, G, H``.
      context_episodes: ``K``, episodes that fit in the context.
      layers, width, heads: transformer depth, model width ``D``, attention heads (``D % heads == 0``).
      mlp_ratio: hidden width of the MLP as a multiple of ``D``.
      positions: the transformer's positions: ``"absolute"`` (learned embeddings of positions
        ``0..C-1``; side files without the key) or ``"alibi"``: no position embedding; attention
        scores get ``-slope_head * (i - j)`` for query ``i`` and key ``j >= 1``, and 0 for the ``BOS``
        key at 0 (an attention sink); every layer but the last attends only to ``BOS`` and its own
        episode, the last one across episodes. A token's keys and values then depend on its own
        episode only, and scores on distances only, so dropping the oldest episode leaves every kept
        key as a fresh forward over the kept episodes would compute it: a ring-buffer cache with
        no re-encoding, whose window can be longer at deployment than in training.
      family: ``"transformer"`` (:class:`Transformer`, the default: side files written before the
        recurrent family existed have no ``family`` key) or ``"recurrent"`` (:class:`Recurrent`, whose
        ``context_episodes`` is only the length of its training prompts: it reads any history).
    """

    num_observations: int
    num_subgoals: int
    horizon: int
    context_episodes: int
    layers: int = 2
    width: int = 64
    heads: int = 4
    mlp_ratio: int = 4
    family: str = "transformer"
    positions: str = "absolute"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions: expected one of {', '.join(POSITIONS)}, got {self.positions!r}")
        for name in ("num_observations", "num_subgoals", "horizon", "context_episodes", "layers", "width",
                     "heads", "mlp_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if self.width % self.heads:
            raise ValueError(f"width: must be a multiple of heads = {self.heads}, got {self.width}")

    @property
    def vocab_size(self) -> int:
        """``V = O + G + 2``."""
        return self.num_observations + self.num_subgoals + 2

    @property
    def sep(self) -> int:
        """The episode-separator token ``O + G``."""
        return self.num_observations + self.num_subgoals

    @property
    def bos(self) -> int:
        """The beginning-of-prompt token ``O + G + 1``."""
        return self.num_observations + self.num_subgoals + 1

    @property
    def episode_tokens(self) -> int:
        """``E = 2H + 2`` tokens per episode (separator included)."""
        return 2 * self.horizon + 2

    @property
    def context_tokens(self) -> int:
        """``C = 1 + K E``."""
        return 1 + self.context_episodes * self.episode_tokens

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"model config: unknown key {unknown[0]!r}")
        return cls(**data)


class KVCache(NamedTuple):
    """Keys and values of every layer at every context position (one sequence).

    Attributes:
      keys, values: ``[layers, C, heads, head_dim]``; entries past the current position are
        stale and masked out by :meth:`Transformer.decode_step`.
    """

    keys: jax.Array
    values: jax.Array


class _Block(nn.Module):
    """Pre-LN block: ``x + attn(LN(x))`` then ``x + mlp(LN(x))``."""

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        out_init = nn.initializers.normal(0.02 / math.sqrt(2 * cfg.layers))
        self.ln_attn = nn.LayerNorm()
        self.qkv = nn.Dense(3 * cfg.width, kernel_init=nn.initializers.normal(0.02))
        self.proj = nn.Dense(cfg.width, kernel_init=out_init)
        self.ln_mlp = nn.LayerNorm()
        self.mlp_in = nn.Dense(cfg.mlp_ratio * cfg.width, kernel_init=nn.initializers.normal(0.02))
        self.mlp_out = nn.Dense(cfg.width, kernel_init=out_init)

    def _qkv(self, x):
        cfg = self.config
        q, k, v = jnp.split(self.qkv(self.ln_attn(x)), 3, axis=-1)
        shape = x.shape[:-1] + (cfg.heads, cfg.head_dim)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def _finish(self, x, attended):
        x = x + self.proj(attended.reshape(x.shape))
        return x + self.mlp_out(nn.gelu(self.mlp_in(self.ln_mlp(x))))

    def __call__(self, x, bias=None):
        """``x [T, D]`` -> (``[T, D]``, keys ``[T, heads, hd]``, values ``[T, heads, hd]``), causal.

        ``bias``: ``[heads, T, T]`` added to the scores (ALiBi), or ``None``."""
        q, k, v = self._qkv(x)
        length = x.shape[0]
        scores = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(self.config.head_dim)
        if bias is not None:
            scores = scores + bias
        causal = jnp.tril(jnp.ones((length, length), bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
        return self._finish(x, jnp.einsum("hqk,khd->qhd", weights, v)), k, v

    def step(self, x, keys, values, position):
        """One token ``x [D]`` at ``position`` against the cache ``keys, values [C, heads, hd]``."""
        q, k, v = self._qkv(x)
        at = jnp.arange(keys.shape[0]) == position
        keys = jnp.where(at[:, None, None], k, keys)
        values = jnp.where(at[:, None, None], v, values)
        scores = jnp.einsum("hd,khd->hk", q, keys) / math.sqrt(self.config.head_dim)
        visible = jnp.arange(keys.shape[0]) <= position
        weights = jax.nn.softmax(jnp.where(visible, scores, -jnp.inf), axis=-1)
        return self._finish(x, jnp.einsum("hk,khd->hd", weights, values)), keys, values

    def ring_step(self, x, keys, values, slot, bias, ring_keys=None, ring_values=None, ring_bias=None):
        """One token ``x [D]`` written at ``slot`` of ``keys, values [heads, slots, hd]``, attending to them with
        ``bias [heads, slots]`` (``-inf`` where not visible) and, if given, to ``ring_keys, ring_values
        [heads, R, hd]`` with ``ring_bias [heads, R]`` (one softmax over both).

        ``slot`` and the biases depend on the stream position only, the same for every sequence
        decoded in step, so under a vmap over seeds nothing here is gathered per seed.
        """
        q, k, v = self._qkv(x)
        keys = jax.lax.dynamic_update_index_in_dim(keys, k, slot, 1)
        values = jax.lax.dynamic_update_index_in_dim(values, v, slot, 1)
        scale = 1.0 / math.sqrt(self.config.head_dim)
        scores = jnp.einsum("hd,hkd->hk", q, keys) * scale + bias
        if ring_keys is None:
            weights = jax.nn.softmax(scores, axis=-1)
            return self._finish(x, jnp.einsum("hk,hkd->hd", weights, values)), keys, values
        ring_scores = jnp.einsum("hd,hkd->hk", q, ring_keys) * scale + ring_bias
        weights = jax.nn.softmax(jnp.concatenate([scores, ring_scores], axis=-1), axis=-1)
        own = weights[:, :scores.shape[1]]
        attended = (jnp.einsum("hk,hkd->hd", own, values)
                    + jnp.einsum("hk,hkd->hd", weights[:, scores.shape[1]:], ring_values))
        return self._finish(x, attended), keys, values


def alibi_slopes(heads: int) -> jax.Array:
    """``[heads]`` ALiBi slopes ``2^(-8 (h + 1) / heads)`` (Press et al., 2022)."""
    return jnp.asarray([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], jnp.float32)


def alibi_bias(heads: int, query_positions: jax.Array, key_positions: jax.Array) -> jax.Array:
    """``[heads, Q, K]`` bias ``-slope (i - j)``, and 0 for the ``BOS`` key (position 0, the sink)."""
    distance = (query_positions[:, None] - key_positions[None, :]).astype(jnp.float32)
    bias = -alibi_slopes(heads)[:, None, None] * distance[None]
    return jnp.where(key_positions[None, None, :] == 0, 0.0, bias)


def episode_of(positions: jax.Array, episode_tokens: int) -> jax.Array:
    """0-based episode of each stream position (``BOS`` at 0: ``-1``)."""
    return jnp.where(positions >= 1, (positions - 1) // episode_tokens, -1)


class RingCache(NamedTuple):
    """Cache of an ALiBi transformer decoding a window of ``W`` episodes (one sequence).

    Every layer keeps ``BOS`` and the current episode's keys and values by offset (the layers but the
    last attend only to those); the last layer also keeps a ring of the ``W - 1`` episodes before the
    current one (episode ``t`` in row ``t mod (W - 1)``), written once per episode by
    :meth:`Transformer.ring_close` rather than token by token. Which keys are visible, and their
    distances, follow from the current token's episode and offset alone (:func:`ring_layout`), so
    the cache stores no positions. Heads lead (``[heads, slots, head_dim]``), the layout the
    attention products read without a transpose.

    Attributes:
      keys, values: ``[layers, heads, 1 + E, head_dim]``: ``BOS`` (slot 0) and the current episode.
      ring_keys, ring_values: ``[heads, (W - 1) E, head_dim]``: the last layer's earlier episodes.
    """

    keys: jax.Array
    values: jax.Array
    ring_keys: jax.Array
    ring_values: jax.Array


def ring_layout(config: "ModelConfig", window: int, episode: jax.Array, offset: jax.Array):
    """ALiBi biases of the token at ``offset`` of 0-based ``episode`` in a :class:`RingCache` of ``window``
    episodes: ``-slope (p - q)`` for a visible key at stream position ``q`` (``p`` the token's), ``0`` for
    ``BOS`` (the attention sink), ``-inf`` for keys not visible.

    Returns:
      ``(bias [heads, 1 + E], ring_bias [heads, (W - 1) E])``: the current episode's slots (later
      offsets not visible) and the ring's (rows never written not visible).
    """
    length = config.episode_tokens
    episode = jnp.asarray(episode, jnp.int32)
    offset = jnp.asarray(offset, jnp.int32)
    query = (1 + episode * length + offset)[None]  # the token's stream position
    own = jnp.arange(-1, length)  # slot j holds offset j - 1 (slot 0: BOS, stream position 0)
    own_positions = jnp.where(own >= 0, 1 + episode * length + own, 0)
    bias = jnp.where((own <= offset)[None], alibi_bias(config.heads, query, own_positions)[:, 0], -jnp.inf)
    rows = window - 1
    slot = jnp.arange(rows * length)
    row, row_offset = slot // length, slot % length
    held = (episode - 1) - (episode - 1 - row) % max(rows, 1)  # the latest earlier episode stored in each row
    ring_positions = 1 + held * length + row_offset
    ring_bias = jnp.where((held >= 0)[None], alibi_bias(config.heads, query, ring_positions)[:, 0], -jnp.inf)
    return bias, ring_bias


class _Net(nn.Module):
    """Token + learned absolute position embeddings, pre-LN blocks, final LN, head over the ``G`` subgoals."""

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        self.token_embed = nn.Embed(cfg.vocab_size, cfg.width, embedding_init=nn.initializers.normal(0.02))
        if cfg.positions == "absolute":
            self.position_embed = nn.Embed(cfg.context_tokens, cfg.width,
                                           embedding_init=nn.initializers.normal(0.02))
        self.blocks = [_Block(cfg) for _ in range(cfg.layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(cfg.num_subgoals)

    def __call__(self, tokens):
        """``tokens [T]`` (``T <= C``, positions ``0..T-1``) -> (logits ``[T, G]``, cache of the ``T`` positions)."""
        positions = jnp.arange(tokens.shape[0])
        x = self.token_embed(tokens)
        bias = None
        if self.config.positions == "absolute":
            x = x + self.position_embed(positions)
        else:
            bias = alibi_bias(self.config.heads, positions, positions)
            episode = episode_of(positions, self.config.episode_tokens)
            local = (episode[:, None] == episode[None, :]) | (positions[None, :] == 0)
            local_bias = jnp.where(local[None], bias, -jnp.inf)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            last = layer == len(self.blocks) - 1
            x, k, v = block(x, None if bias is None else bias if last else local_bias)
            keys.append(k)
            values.append(v)
        return self.head(self.ln_out(x)), KVCache(jnp.stack(keys), jnp.stack(values))

    def step(self, token, position, cache: KVCache):
        """One token at ``position`` -> (logits ``[G]``, the cache with this position written)."""
        x = self.token_embed(token) + self.position_embed(position)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.step(x, cache.keys[layer], cache.values[layer], position)
            keys.append(k)
            values.append(v)
        return self.head(self.ln_out(x)), KVCache(jnp.stack(keys), jnp.stack(values))

    def ring_step(self, token, episode, offset, cache: RingCache):
        """ALiBi: one token at ``offset`` of ``episode`` into a :class:`RingCache` (see :func:`ring_layout`)."""
        window = 1 + cache.ring_keys.shape[1] // self.config.episode_tokens
        bias, ring_bias = ring_layout(self.config, window, episode, offset)
        x = self.token_embed(token)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            last = layer == len(self.blocks) - 1
            x, k, v = block.ring_step(x, cache.keys[layer], cache.values[layer], 1 + offset, bias,
                                      *((cache.ring_keys, cache.ring_values, ring_bias) if last else ()))
            keys.append(k)
            values.append(v)
        return self.head(self.ln_out(x)), cache._replace(keys=jnp.stack(keys), values=jnp.stack(values))


@dataclasses.dataclass(frozen=True)
class Transformer:
    """Pure functions of ``(params, ...)`` for one :class:`ModelConfig` (hashable, jit-static).

    ``params`` is the linen variable dict ``{"params": ...}``.
    """

    config: ModelConfig

    @property
    def net(self) -> _Net:
        return _Net(self.config)

    def init_params(self, key: jax.Array) -> Any:
        """Fresh weights (initialised under ``jit``: linen's eager init is op by op)."""
        return jax.jit(self.net.init)(key, jnp.zeros((self.config.context_tokens,), jnp.int32))

    def forward(self, params: Any, tokens: jax.Array) -> jax.Array:
        """Full causal forward: ``tokens [T]`` (``T <= C``) -> logits ``[T, G]`` at every position."""
        return self.net.apply(params, tokens)[0]

    def forward_batch(self, params: Any, tokens: jax.Array) -> jax.Array:
        """``tokens [B, T]`` -> logits ``[B, T, G]``."""
        return jax.vmap(lambda t: self.forward(params, t))(tokens)

    def prefill(self, params: Any, tokens: jax.Array) -> tuple[jax.Array, KVCache]:
        """Full forward over ``tokens [C]`` that also returns the cache of every position.

        Returns:
          logits ``[C, G]`` and a :class:`KVCache` with ``keys, values [layers, C, heads, hd]``.
        """
        return self.net.apply(params, tokens)

    def empty_cache(self) -> KVCache:
        """Zero cache ``[layers, C, heads, hd]`` (everything masked until written)."""
        cfg = self.config
        shape = (cfg.layers, cfg.context_tokens, cfg.heads, cfg.head_dim)
        return KVCache(jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))

    def decode_step(self, params: Any, cache: KVCache, token: jax.Array,
                    position: jax.Array) -> tuple[jax.Array, KVCache]:
        """Incremental decoding: feed ``token`` (scalar int) at ``position`` (scalar, ``< C``).

        Attends to the cached positions ``0..position``; equals :meth:`forward`'s logits at that
        position when the cache holds the same earlier tokens.

        Returns:
          logits ``[G]`` and the cache with ``position`` written.
        """
        return self.net.apply(params, token, position, cache, method=_Net.step)

    def ring_cache(self, params: Any, window: int) -> RingCache:
        """ALiBi: an empty :class:`RingCache` of ``window`` episodes with ``BOS`` fed (slot 0 of every layer)."""
        if self.config.positions != "alibi":
            raise ValueError("ring_cache: needs positions='alibi' (absolute positions do not survive a slide)")
        cfg = self.config
        _, bos = self.prefill(params, jnp.full((1,), cfg.bos, jnp.int32))
        own = (cfg.layers, cfg.heads, cfg.episode_tokens, cfg.head_dim)
        ring = jnp.zeros((cfg.heads, (window - 1) * cfg.episode_tokens, cfg.head_dim), jnp.float32)

        def with_bos(cached):  # [layers, 1, heads, hd] -> [layers, heads, 1 + E, hd]
            return jnp.concatenate([jnp.swapaxes(cached, 1, 2), jnp.zeros(own, jnp.float32)], axis=2)

        return RingCache(with_bos(bos.keys), with_bos(bos.values), ring, ring)

    def ring_step(self, params: Any, cache: RingCache, token: jax.Array, episode: jax.Array,
                  offset: jax.Array) -> tuple[jax.Array, RingCache]:
        """ALiBi: feed ``token`` at ``offset`` (``0 .. E - 1``) of 0-based ``episode`` (any, unbounded), attending
        to ``BOS``, the ``W - 1`` episodes before it and this one's earlier tokens (``W`` the cache's window).

        Equals :meth:`forward`'s logits over ``BOS`` followed by the visible tokens (distances are the
        same), so dropping the oldest episode re-encodes nothing. Feed every offset of an episode in
        order, then :meth:`ring_close` it. ``episode`` and ``offset`` are the same for every sequence
        decoded in step (the runner's episode and step), so under a vmap over seeds the cache writes
        are slice updates.
        """
        return self.net.apply(params, token, jnp.asarray(episode, jnp.int32), jnp.asarray(offset, jnp.int32), cache,
                              method=_Net.ring_step)

    @staticmethod
    def ring_close(cache: RingCache, episode: jax.Array) -> RingCache:
        """After the last token of 0-based ``episode``: its last-layer keys and values move into the ring
        (row ``episode mod (W - 1)``, replacing the oldest episode); nothing for ``W = 1``."""
        rows_tokens = cache.ring_keys.shape[1]
        length = cache.keys.shape[2] - 1
        if rows_tokens == 0:
            return cache
        start = (jnp.asarray(episode, jnp.int32) % (rows_tokens // length)) * length

        def put(ring, own):
            return jax.lax.dynamic_update_slice_in_dim(ring, own[-1, :, 1:], start, axis=1)

        return cache._replace(ring_keys=put(cache.ring_keys, cache.keys), ring_values=put(cache.ring_values,
                                                                                             cache.values))


class RecurrentState(NamedTuple):
    """State of :class:`Recurrent` after the tokens fed so far (one sequence): ``O(1)`` in their number.

    Attributes:
      prev: ``[layers, D]`` each block's normalised input at the previous token (the token shift; zeros at the start).
      hidden: ``[layers, D]`` the gated linear recurrence ``h_t = (1 - z_t) h_{t-1} + z_t c_t`` (zeros at the start).
      peak: ``[layers, D]`` the running maximum ``m_t = max(m_{t-1}, tanh(f_t))`` (``-1`` at the start, the
        identity of the maximum over ``[-1, 1]``).
    """

    prev: jax.Array
    hidden: jax.Array
    peak: jax.Array


GATE_BIAS = -3.0
"""Initial bias of the write gates' logits: ``z ~ 0.05``, so an untrained state keeps ~95% per token."""


def _gate_bias_init(width: int):
    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.concatenate([jnp.full((width,), GATE_BIAS), jnp.zeros((shape[0] - width,))]).astype(dtype)

    return init


def _linear_recurrence(left, right):
    """Composition of ``h -> a h + b`` maps (``left`` first): the associative operator of the parallel scan."""
    a1, b1 = left
    a2, b2 = right
    return a1 * a2, a2 * b1 + b2


class _RecBlock(nn.Module):
    """Pre-LN recurrent block: ``x + proj([h, m])`` then ``x + mlp(LN(x))``.

    The block's normalised input ``u_t`` and the previous one ``u_{t-1}`` (a token shift, as in RWKV,
    so one block sees an (observation, subgoal) pair) give write-gate logits ``l_t``, a candidate ``c_t``
    and a feature ``f_t``; ``h_t = sigmoid(-l_t) h_{t-1} + sigmoid(l_t) c_t`` (a minGRU-style diagonal
    linear recurrence, a parallel ``associative_scan`` over the sequence in training) and
    ``m_t = max(m_{t-1}, tanh(f_t))`` (a cumulative maximum: an event seen once is remembered
    exactly, however long ago).
    """

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        out_init = nn.initializers.normal(0.02 / math.sqrt(2 * cfg.layers))
        self.ln = nn.LayerNorm()
        self.mix = nn.Dense(3 * cfg.width, kernel_init=nn.initializers.normal(0.02),
                            bias_init=_gate_bias_init(cfg.width))
        self.proj = nn.Dense(cfg.width, kernel_init=out_init)
        self.ln_mlp = nn.LayerNorm()
        self.mlp_in = nn.Dense(cfg.mlp_ratio * cfg.width, kernel_init=nn.initializers.normal(0.02))
        self.mlp_out = nn.Dense(cfg.width, kernel_init=out_init)

    def _inputs(self, u, prev):
        logits, candidate, feature = jnp.split(self.mix(jnp.concatenate([u, prev], axis=-1)), 3, axis=-1)
        return jax.nn.sigmoid(-logits), jax.nn.sigmoid(logits) * candidate, jnp.tanh(feature)

    def _finish(self, x, hidden, peak):
        x = x + self.proj(jnp.concatenate([hidden, peak], axis=-1))
        return x + self.mlp_out(nn.gelu(self.mlp_in(self.ln_mlp(x))))

    def __call__(self, x):
        """``x [T, D]`` -> ``[T, D]`` (causal; the state starts empty)."""
        u = self.ln(x)
        prev = jnp.concatenate([jnp.zeros_like(u[:1]), u[:-1]])
        keep, inject, feature = self._inputs(u, prev)
        _, hidden = jax.lax.associative_scan(_linear_recurrence, (keep, inject), axis=0)
        return self._finish(x, hidden, jax.lax.cummax(feature, axis=0))

    def step(self, x, prev, hidden, peak):
        """One token ``x [D]`` -> (``[D]``, the new ``prev, hidden, peak``)."""
        u = self.ln(x)
        keep, inject, feature = self._inputs(u, prev)
        hidden = keep * hidden + inject
        peak = jnp.maximum(peak, feature)
        return self._finish(x, hidden, peak), u, hidden, peak


class _RecNet(nn.Module):
    """Token embeddings (no positions: the recurrence orders the tokens), recurrent blocks, final LN, head."""

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        self.token_embed = nn.Embed(cfg.vocab_size, cfg.width, embedding_init=nn.initializers.normal(0.02))
        self.blocks = [_RecBlock(cfg) for _ in range(cfg.layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(cfg.num_subgoals)

    def __call__(self, tokens):
        x = self.token_embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_out(x))

    def step(self, token, state: RecurrentState):
        x = self.token_embed(token)
        prev, hidden, peak = [], [], []
        for layer, block in enumerate(self.blocks):
            x, p, h, m = block.step(x, state.prev[layer], state.hidden[layer], state.peak[layer])
            prev.append(p)
            hidden.append(h)
            peak.append(m)
        return self.head(self.ln_out(x)), RecurrentState(jnp.stack(prev), jnp.stack(hidden), jnp.stack(peak))


@dataclasses.dataclass(frozen=True)
class Recurrent:
    """The recurrent family: pure functions of ``(params, ...)`` for one :class:`ModelConfig` (``family="recurrent"``).

    Its state (:class:`RecurrentState`) summarises the whole history in ``O(1)`` memory; one token
    costs one :meth:`decode_step` however long the history. Training uses :meth:`forward` (a
    parallel scan); ``config.context_episodes`` only sets the training prompts' length.
    """

    config: ModelConfig

    @property
    def net(self) -> _RecNet:
        return _RecNet(self.config)

    def init_params(self, key: jax.Array) -> Any:
        return jax.jit(self.net.init)(key, jnp.zeros((self.config.context_tokens,), jnp.int32))

    def forward(self, params: Any, tokens: jax.Array) -> jax.Array:
        """Full causal forward from the empty state: ``tokens [T]`` (any ``T``) -> logits ``[T, G]``."""
        return self.net.apply(params, tokens)

    def forward_batch(self, params: Any, tokens: jax.Array) -> jax.Array:
        """``tokens [B, T]`` -> logits ``[B, T, G]``."""
        return jax.vmap(lambda t: self.forward(params, t))(tokens)

    def empty_state(self) -> RecurrentState:
        """The state before any token (``prev, hidden`` zeros, ``peak`` -1)."""
        cfg = self.config
        zeros = jnp.zeros((cfg.layers, cfg.width), jnp.float32)
        return RecurrentState(zeros, zeros, jnp.full_like(zeros, -1.0))

    def decode_step(self, params: Any, state: RecurrentState, token: jax.Array) -> tuple[jax.Array, RecurrentState]:
        """Feed one ``token``: logits ``[G]`` after it (:meth:`forward`'s at that position) and the new state."""
        return self.net.apply(params, token, state, method=_RecNet.step)


def build_model(config: ModelConfig) -> "Transformer | Recurrent":
    """The model of ``config.family``."""
    return Recurrent(config) if config.family == "recurrent" else Transformer(config)


def count_params(params: Any) -> int:
    """Number of scalar weights."""
    return int(sum(leaf.size for leaf in jax.tree.leaves(params)))
