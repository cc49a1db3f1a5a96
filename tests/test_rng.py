"""The runner's fused threefry uniforms are jax.random's, bit for bit (default partitionable threefry)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbail import rng


@pytest.fixture(autouse=True)
def _partitionable_threefry():
    # the layout jaxbail.rng reproduces; JAX's default since 0.5
    with jax.threefry_partitionable(True):
        yield


KEYS = [jax.random.PRNGKey(0), jax.random.PRNGKey(7), jax.random.PRNGKey(2**31 - 1)]


@pytest.mark.parametrize("key", KEYS)
def test_fold_in_equals_jax_random(key):
    for data in [0, 1, 2, 5, 123_456, 2**31 + 5, 2**32 - 1]:
        np.testing.assert_array_equal(rng.fold_in(key, jnp.uint32(data)), jax.random.fold_in(key, data))
    batch = jnp.arange(100, dtype=jnp.uint32)
    want = jax.vmap(lambda d: jax.random.fold_in(key, d))(batch)
    np.testing.assert_array_equal(rng.fold_in(key, batch), want)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("num", [1, 2, 3, 7])
def test_split_equals_jax_random(key, num):
    np.testing.assert_array_equal(rng.split(key, num), jax.random.split(key, num))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("num", [1, 2, 10, 22, 33])
def test_uniform_equals_jax_random_and_lies_in_unit_interval(key, num):
    got = rng.uniform(key, num)
    np.testing.assert_array_equal(got, jax.random.uniform(key, (num,)))
    assert got.dtype == jnp.float32 and bool(jnp.all((got >= 0) & (got < 1)))
    assert float(rng.uniform(key, 1)[0]) == float(jax.random.uniform(key))


def test_batched_keys_hash_row_by_row_under_jit_and_vmap():
    keys = jax.vmap(lambda i: jax.random.fold_in(KEYS[1], i))(jnp.arange(16))
    got = jax.jit(lambda k: rng.uniform(rng.fold_in(k, jnp.uint32(3)), 5))(keys)
    want = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 3), (5,)))(keys)
    np.testing.assert_array_equal(got, want)


def test_raw_key_accepts_legacy_and_typed_threefry_keys():
    np.testing.assert_array_equal(rng.raw_key(jax.random.PRNGKey(3)), jax.random.PRNGKey(3))
    typed = jax.random.key(3)
    np.testing.assert_array_equal(rng.raw_key(typed), jax.random.key_data(typed))
    np.testing.assert_array_equal(rng.uniform(rng.raw_key(typed), 4), jax.random.uniform(typed, (4,)))


def test_raw_key_rejects_other_implementations_and_shapes():
    with pytest.raises(ValueError, match="needs a threefry2x32 key, got a .*rbg"):
        rng.raw_key(jax.random.key(0, impl="rbg"))
    with pytest.raises(ValueError, match=r"expected a threefry key \(uint32 \[..., 2\]\), got int32 \[3\]"):
        rng.raw_key(jnp.arange(3))
