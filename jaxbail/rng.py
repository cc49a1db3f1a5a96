"""Counter-based uniforms for the runner: the threefry2x32 hash written out in ``jnp`` so XLA fuses it.

The runner needs, for every seed and episode, a few dozen uniforms from keys
derived by ``fold_in``. With ``jax.random`` on CPU, every ``fold_in``, ``split``
and ``uniform`` call lowers to a rolled five-iteration loop of small kernels;
in the simulation that was 40% of a BAIL step. The same hash, unrolled here in
plain ``jnp`` integer ops, is one elementwise fusion.

The functions below take *raw* threefry keys (``uint32 [..., 2]``, as returned
by ``jax.random.PRNGKey`` or ``jax.random.key_data``) and reproduce
``jax.random`` bit for bit under JAX's default ``jax_threefry_partitionable=True``
(the default from JAX 0.5, which pyproject requires; tested): ``fold_in(k, d)``,
``split(k, n)[i]`` and ``uniform(k, (n,))``. :func:`raw_key`, where every simulation's keys
enter, refuses to run with the flag off (:func:`check_threefry_mode`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["raw_key", "check_threefry_mode", "threefry2x32", "fold_in", "split", "uniform"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def check_threefry_mode() -> None:
    """Raise unless ``jax_threefry_partitionable`` is on (the hash below is ``jax.random``'s only then).

    Raises:
      RuntimeError: the flag is off (an old JAX default, or set by the user), naming the fix.
    """
    if not jax.config.jax_threefry_partitionable:
        raise RuntimeError("jaxbail's random numbers reproduce jax.random only with partitionable threefry "
                           "(JAX's default from 0.5); this process has jax_threefry_partitionable=False: "
                           "call jax.config.update('jax_threefry_partitionable', True) or upgrade JAX")


def raw_key(key: jax.Array) -> jax.Array:
    """``uint32 [..., 2]`` key data of a legacy (``PRNGKey``) or typed (``jax.random.key``) threefry key.

    Raises:
      ValueError: a typed key of another implementation (e.g. ``rbg``).
      RuntimeError: partitionable threefry is off (:func:`check_threefry_mode`).
    """
    check_threefry_mode()
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        impl = str(jax.random.key_impl(key))
        if "threefry" not in impl:
            raise ValueError(f"key: the simulation needs a threefry2x32 key, got a {impl!r} key "
                             "(use jax.random.PRNGKey(seed) or jax.random.key(seed, impl='threefry2x32'))")
        key = jax.random.key_data(key)
    key = jnp.asarray(key)
    if key.dtype != jnp.uint32 or key.shape[-1:] != (2,):
        raise ValueError(f"key: expected a threefry key (uint32 [..., 2]), got {key.dtype} {list(key.shape)}")
    return key


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The threefry2x32 block hash (20 rounds) of counters ``(x0, x1)`` under key ``(k0, k1)``; broadcasts."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _hash(key: jax.Array, counter: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Hash of the 64-bit counter ``(0, counter)`` under ``key [..., 2]`` (``counter`` broadcasts)."""
    counter = jnp.asarray(counter, jnp.uint32)
    return threefry2x32(key[..., 0], key[..., 1], jnp.zeros_like(counter), counter)


def fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    """``jax.random.fold_in(key, data)`` on raw keys ``[..., 2]``; ``data`` broadcasts against ``key[..., 0]``."""
    return jnp.stack(_hash(key, data), axis=-1)


def split(key: jax.Array, num: int) -> jax.Array:
    """``jax.random.split(key, num)`` on raw keys: ``[..., num, 2]``."""
    return jnp.stack(_hash(key[..., None, :], jnp.arange(num, dtype=jnp.uint32)), axis=-1)


def uniform(key: jax.Array, num: int) -> jax.Array:
    """``jax.random.uniform(key, (num,))`` (float32 in ``[0, 1)``) on raw keys: ``[..., num]``."""
    y0, y1 = _hash(key[..., None, :], jnp.arange(num, dtype=jnp.uint32))
    bits = (y0 ^ y1) >> np.uint32(9) | np.uint32(0x3F800000)
    return jnp.maximum(0.0, jax.lax.bitcast_convert_type(bits, jnp.float32) - 1.0)
