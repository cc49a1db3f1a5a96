"""Categorical draws from one uniform each, through robust cumulative tables."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cumulative(probs: jax.Array) -> jax.Array:
    """Cumulative table over the last axis, safe for one-uniform inverse-CDF draws.

    The table is normalised by its total and set to exactly 1 from the last
    positive entry on, so :func:`draw` with ``u`` in ``[0, 1)`` never returns
    an index of probability zero, whatever the rounding of the sums.

    Args:
      probs: ``[..., K]`` non-negative weights with a positive total.
    Returns:
      ``[..., K]`` non-decreasing table ending in 1.
    """
    cum = jnp.cumsum(probs, axis=-1)
    total = cum[..., -1:]
    cum = cum / jnp.where(total > 0, total, 1.0)
    positive = probs > 0
    # index of the last positive entry along the axis
    k = probs.shape[-1]
    last = k - 1 - jnp.argmax(jnp.flip(positive, axis=-1), axis=-1)
    return jnp.where(jnp.arange(k) >= last[..., None], 1.0, cum)


def draw(cum: jax.Array, u: jax.Array) -> jax.Array:
    """Index ``i`` with ``cum[i-1] <= u < cum[i]``: one categorical draw per uniform.

    Args:
      cum: ``[..., K]`` table from :func:`cumulative`.
      u: ``[...]`` uniforms in ``[0, 1)``.
    Returns:
      ``[...]`` int32 indices.
    """
    return jnp.sum(cum <= u[..., None], axis=-1, dtype=jnp.int32)


UNROLL_MAX = 16
"""Up to this many categories, :func:`draw_from_probs` writes the cumulative sum out term by term."""


def draw_from_probs(probs: jax.Array, u: jax.Array) -> jax.Array:
    """One categorical draw from (possibly unnormalised) ``probs [..., K]`` per uniform.

    The same index as ``draw(cumulative(probs), u)``. For ``K <= UNROLL_MAX`` the running sum is
    written out (the same additions in the same order), so under ``jit`` the whole draw is one
    elementwise fusion instead of a cumulative-sum kernel followed by a comparison kernel.
    """
    k = probs.shape[-1]
    if k > UNROLL_MAX:
        return draw(cumulative(probs), u)
    running = [probs[..., 0]]
    for j in range(1, k):
        running.append(running[-1] + probs[..., j])
    positive = running[-1] > 0
    total = jnp.where(positive, running[-1], 1.0)
    # entries from the last positive one on (all of them, if none is) are 1 in `cumulative`: never <= u < 1
    last = jnp.zeros(u.shape, jnp.int32)
    for j in range(1, k):
        last = jnp.where(probs[..., j] > 0, j, last)
    last = jnp.where(positive, last, k - 1)
    index = jnp.zeros(u.shape, jnp.int32)
    for j in range(k - 1):
        index = index + ((j < last) & (running[j] / total <= u)).astype(jnp.int32)
    return index
