"""The samplers' random numbers: ``jax.random``'s own draws, computed as fused array arithmetic.

Every function here returns exactly what its ``jax.random`` namesake returns for
the same key (bit for bit: the tests compare them), for the keys a user gets by
default — threefry keys, typed (``jax.random.key``) or legacy
(``jax.random.PRNGKey``), under JAX's default ``jax_threefry_partitionable=True``.
For any other key implementation or setting they simply call ``jax.random``.
So swapping them in changed no draw anywhere in the library; only the speed.

Why they exist (the profile behind issue 11). ``jax.random`` draws threefry bits
through one primitive whose CPU lowering is a *rolled* loop over the hash's five
four-round blocks (JAX chooses this to keep compile times down). A rolled loop
cannot fuse with what consumes the bits: every block materialises its arrays,
the loop runs on one core, and the comparison ``u < p`` waits in a separate
pass. On 16 × 16 layers with 100,000 chains that made random numbers about 85%
of a Gibbs sweep (the sweep ran at 0.15 of the no-randomness ceiling). Written
out unrolled, the same Threefry-2x32 (20 rounds, Salmon et al. 2011, "Parallel
random numbers: as easy as 1, 2, 3") becomes plain integer arithmetic that XLA
fuses with the sigmoid and the comparison into one vectorised, multi-threaded
loop: about 0.57 of the ceiling there (README, Speed), and the statistical pedigree is JAX's.

Counters are JAX's: with partitionable threefry, element i (row-major) of a
draw of any shape hashes the counter (0, i) under the key, and 32-bit draws
use the two output words XORed; ``split``/``fold_in`` hash (0, j).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["threefry2x32", "accelerated", "bits", "uniform", "bernoulli", "normal", "split", "fold_in"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)  # Threefry's key-schedule constant


def threefry2x32(k0, k1, x0, x1):
    """The Threefry-2x32 hash with 20 rounds (JAX's generator), unrolled; broadcasts its uint32 arguments."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = (x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))
            x1 = x1 ^ x0
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _is_typed(key) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


def accelerated(key) -> bool:
    """Whether ``key`` takes the fused path (a threefry key under partitionable threefry)."""
    if not jax.config.jax_threefry_partitionable:
        return False
    if _is_typed(key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return jax.config.jax_default_prng_impl == "threefry2x32" and key.dtype == jnp.uint32 and key.shape[-1:] == (2,)


def _words(key):
    data = jax.random.key_data(key) if _is_typed(key) else key
    return data[..., 0], data[..., 1]


def _rewrap(key, data):
    return jax.random.wrap_key_data(data, impl="threefry2x32") if _is_typed(key) else data


def _counters(shape):
    """The low word of each element's row-major index (the high word is 0 below 2**32 elements)."""
    index = jnp.zeros(shape, jnp.uint32)
    stride = 1
    for axis in range(len(shape) - 1, -1, -1):
        index = index + lax.broadcasted_iota(jnp.uint32, shape, axis) * np.uint32(stride)
        stride *= shape[axis]
    return index


def _fused(key, shape) -> bool:
    return key.ndim == (0 if _is_typed(key) else 1) and accelerated(key) and math.prod(shape) < 2**32


def _hash(key, shape):
    k0, k1 = _words(key)
    return threefry2x32(k0, k1, jnp.zeros(shape, jnp.uint32), _counters(shape))


def bits(key, shape, width: int = 32) -> jax.Array:
    """``jax.random.bits(key, shape, uint32 or uint64)``."""
    shape = tuple(shape)
    if not _fused(key, shape):
        return jax.random.bits(key, shape, jnp.uint32 if width == 32 else jnp.uint64)
    y0, y1 = _hash(key, shape)
    if width == 32:
        return y0 ^ y1
    return (y0.astype(jnp.uint64) << np.uint64(32)) | y1.astype(jnp.uint64)


def uniform(key, shape, dtype=jnp.float32, minval=0.0, maxval=1.0) -> jax.Array:
    """``jax.random.uniform`` (float32 or float64): the top mantissa bits of ``bits``, in [minval, maxval)."""
    shape, dtype = tuple(shape), jnp.dtype(dtype)
    if not _fused(key, shape) or dtype not in (jnp.float32, jnp.float64):
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    finfo = jnp.finfo(dtype)
    nbits, uint = finfo.bits, (jnp.uint32 if finfo.bits == 32 else jnp.uint64)
    if nbits == 64 and not jax.config.jax_enable_x64:  # pragma: no cover - float64 needs x64
        return jax.random.uniform(key, shape, dtype, minval, maxval)
    b = bits(key, shape, nbits)
    one = np.array(1.0, dtype).view(uint)
    floats = lax.bitcast_convert_type((b >> np.array(nbits - finfo.nmant, uint)) | one, dtype) - dtype.type(1)
    minval = lax.convert_element_type(minval, dtype)
    maxval = lax.convert_element_type(maxval, dtype)
    return lax.max(minval, floats * (maxval - minval) + minval)


def bernoulli(key, p: jax.Array) -> jax.Array:
    """``jax.random.bernoulli(key, p)``: ``u < p`` with u the key's uniform in p's dtype (bool)."""
    return uniform(key, p.shape, p.dtype) < p


def normal(key, shape, dtype=jnp.float32) -> jax.Array:
    """``jax.random.normal``: √2 erf⁻¹(u) with u uniform on (−1, 1)."""
    dtype = jnp.dtype(dtype)
    if not _fused(key, tuple(shape)):
        return jax.random.normal(key, shape, dtype)
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    u = uniform(key, shape, dtype, lo, 1.0)
    return lax.mul(np.array(np.sqrt(2), dtype), lax.erf_inv(u))


def split(key, num: int = 2):
    """``jax.random.split(key, num)``: key j hashes the counter (0, j)."""
    if not _fused(key, (num,)):
        return jax.random.split(key, num)
    y0, y1 = _hash(key, (num,))
    return _rewrap(key, jnp.stack([y0, y1], axis=-1))


def fold_in(key, data):
    """``jax.random.fold_in(key, data)`` for a 32-bit non-negative ``data``: the hash of (0, data)."""
    if not _fused(key, ()):
        return jax.random.fold_in(key, data)
    k0, k1 = _words(key)
    data = jnp.asarray(data, jnp.uint32) if isinstance(data, (int, np.integer)) else jnp.asarray(data).astype(jnp.uint32)
    y0, y1 = threefry2x32(k0, k1, jnp.uint32(0), data)
    return _rewrap(key, jnp.stack([y0, y1], axis=-1))
