"""One-uniform categorical draws: never a zero-probability index, right frequencies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbail.sampling import UNROLL_MAX, cumulative, draw, draw_from_probs

U_MAX = np.nextafter(np.float32(1.0), np.float32(0.0))  # the largest float32 below 1

ROWS = {
    "dense": [0.2, 0.3, 0.5],
    "leading-zero": [0.0, 0.5, 0.5],
    "leading-zeros": [0.0, 0.0, 1.0],
    "middle-zero": [0.5, 0.0, 0.5],
    "trailing-zero": [0.3, 0.7, 0.0],
    "trailing-zeros": [0.3, 0.7, 0.0, 0.0],
    "mixed-zeros": [0.0, 0.3, 0.0, 0.7, 0.0],
    "tiny-first": [1e-7, 0.0, 1.0 - 1e-7],
    "tiny-last": [1.0 - 1e-7, 0.0, 1e-7, 0.0],
    "thirds": [1 / 3, 1 / 3, 1 / 3, 0.0],
    "tenths": [0.1] * 10 + [0.0],
    "unnormalised": [2.0, 0.0, 3.0, 0.0],
    "single": [1.0],
}

_draw_many = jax.jit(jax.vmap(draw_from_probs, in_axes=(None, 0)))


def _edge_uniforms(cum: np.ndarray) -> np.ndarray:
    """0, the largest float32 below 1, every table entry and its float32 neighbours (inside [0, 1))."""
    c = np.asarray(cum, np.float32)
    pts = np.concatenate(
        [c, np.nextafter(c, np.float32(0)), np.nextafter(c, np.float32(2)), [0.0, U_MAX, np.float32(0.5)]]
    ).astype(np.float32)
    return pts[(pts >= 0) & (pts < 1)]


@pytest.mark.parametrize("name", list(ROWS))
def test_draw_never_returns_a_zero_probability_index(name):
    probs = np.asarray(ROWS[name], np.float32)
    cum = cumulative(jnp.asarray(probs))
    u = np.concatenate([_edge_uniforms(cum), np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (50000,)))]).astype(
        np.float32
    )
    idx = np.asarray(jax.vmap(draw, in_axes=(None, 0))(cum, jnp.asarray(u)))
    assert np.all((idx >= 0) & (idx < len(probs)))
    assert np.all(probs[idx] > 0), (name, u[probs[idx] <= 0], idx[probs[idx] <= 0])
    # the largest uniform picks the last positive index, 0 picks the first one
    positive = np.flatnonzero(probs > 0)
    assert int(draw(cum, jnp.float32(U_MAX))) == positive[-1]
    assert int(draw(cum, jnp.float32(0.0))) == positive[0]


@pytest.mark.parametrize("name", list(ROWS))
def test_draw_from_probs_never_returns_a_zero_probability_index(name):
    probs = np.asarray(ROWS[name], np.float32)
    u = np.concatenate([_edge_uniforms(cumulative(jnp.asarray(probs))),
                        np.asarray(jax.random.uniform(jax.random.PRNGKey(2), (50000,)))]).astype(np.float32)
    idx = np.asarray(_draw_many(jnp.asarray(probs), jnp.asarray(u)))
    assert np.all(probs[idx] > 0), (name, u[probs[idx] <= 0], idx[probs[idx] <= 0])
    positive = np.flatnonzero(probs > 0)
    assert int(draw_from_probs(jnp.asarray(probs), jnp.float32(U_MAX))) == positive[-1]
    assert int(draw_from_probs(jnp.asarray(probs), jnp.float32(0.0))) == positive[0]


@pytest.mark.parametrize("num", [1, 2, 3, 4, 7, UNROLL_MAX, UNROLL_MAX + 1, 40])
def test_draw_from_probs_is_the_inverse_cdf_draw_on_random_rows(num):
    """The unrolled small-K path draws the same index as ``draw(cumulative(p), u)`` (random rows with
    zeros, unnormalised rows and all-zero rows; uniforms from a key)."""
    rng = np.random.default_rng(num)
    rows = rng.dirichlet(np.ones(num), size=50_000) * rng.uniform(0.1, 3.0, size=(50_000, 1))
    rows[rng.random(rows.shape) < 0.3] = 0.0
    rows[:50] = 0.0
    rows = jnp.asarray(rows, jnp.float32)
    u = jax.random.uniform(jax.random.PRNGKey(num), (50_000,))
    got = jax.jit(draw_from_probs)(rows, u)
    want = jax.jit(lambda p, v: draw(cumulative(p), v))(rows, u)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert got.dtype == jnp.int32


@pytest.mark.parametrize("name", list(ROWS))
def test_cumulative_table_is_nondecreasing_and_ends_in_one(name):
    probs = jnp.asarray(ROWS[name], jnp.float32)
    cum = np.asarray(cumulative(probs))
    assert np.all(np.diff(cum) >= 0)
    assert cum[-1] == 1.0
    last = np.flatnonzero(np.asarray(probs) > 0)[-1]
    assert np.all(cum[last:] == 1.0)
    want = np.cumsum(np.asarray(ROWS[name], np.float64)) / np.sum(ROWS[name])
    np.testing.assert_allclose(cum, want, atol=1e-6)


def test_batched_rows_draw_their_own_row():
    probs = jnp.asarray([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
    u = jnp.asarray([0.0, U_MAX, 0.5], jnp.float32)
    np.testing.assert_array_equal(np.asarray(draw(cumulative(probs), u)), [1, 0, 2])
    assert draw(cumulative(probs), u).dtype == jnp.int32


@pytest.mark.parametrize("name", ["dense", "mixed-zeros", "thirds", "unnormalised", "tiny-last"])
def test_draw_frequencies_match_probabilities_within_4se(name):
    n = 200000
    probs = np.asarray(ROWS[name], np.float64)
    probs = probs / probs.sum()
    u = jax.random.uniform(jax.random.PRNGKey(1), (n,))
    idx = np.asarray(_draw_many(jnp.asarray(ROWS[name], jnp.float32), u))
    freq = np.bincount(idx, minlength=len(probs)) / n
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) <= 4 * se), (freq, probs, se)
    assert np.all(freq[probs == 0] == 0)
