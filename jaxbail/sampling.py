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


def draw_from_probs(probs: jax.Array, u: jax.Array) -> jax.Array:
    """One categorical draw from (possibly unnormalised) ``probs [..., K]`` per uniform."""
    return draw(cumulative(probs), u)
