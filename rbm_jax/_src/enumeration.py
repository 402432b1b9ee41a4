"""Exact sums by enumeration: the building blocks of ``rbm_jax.exact`` (and of training's exact monitor).

Everything is a sum over enumerated configurations of one layer, the other
summed out analytically, done in log space (logsumexp) and in chunks, so
memory stays bounded however many configurations there are. Configurations
come from the layer's unit type (``units.index_states``), in
``itertools.product`` order. Unchecked and traceable: ``exact`` validates.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from rbm_jax._src import model

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "Moments",
    "check_enumerable",
    "chunk_log2",
    "map_configs",
    "chunked_logsumexp",
    "enumerates_hidden",
    "log_partition",
    "log_marginal_v",
    "log_marginal_v_table",
    "model_moments",
    "inverse_cdf_indices",
    "sample_exact",
]

#: Largest layer enumerated (2**24 ≈ 1.7e7 configurations).
MAX_ENUMERATED_UNITS = 24

# Elements (chunk rows × width of the summed-out layer) computed at once.
CHUNK_ELEMENTS = 2**22


class Moments(NamedTuple):
    """Exact first and second moments of an RBM's joint distribution."""

    v: jax.Array  # [n_visible]  ⟨v⟩
    h: jax.Array  # [n_hidden]   ⟨h⟩
    vh: jax.Array  # [n_visible, n_hidden]  ⟨v hᵀ⟩


def check_enumerable(n: int, what: str, cap: int = MAX_ENUMERATED_UNITS) -> None:
    """Refuses, with the size in the message, a layer beyond the enumeration cap."""
    if n > cap:
        raise ValueError(
            f"{what} = {n} is too large to enumerate: 2**{n} = {2**n:.3g} configurations "
            f"(the cap is {cap} units). Use rbm_jax.ais for log Z of larger models."
        )


def chunk_log2(n: int, width: int) -> int:
    """log2 of the rows per chunk when enumerating n units against a layer of ``width``."""
    per_row = max(1, width)
    return max(0, min(n, (CHUNK_ELEMENTS // per_row).bit_length() - 1))


def map_configs(fn, units, n: int, width: int, dtype) -> jax.Array:
    """Applies ``fn`` ([rows, n] configurations -> [rows]) to all 2**n configurations of ``units``.

    Returns the [2**n] results in enumeration order, computed chunk by chunk.
    """
    rows = 2 ** chunk_log2(n, width)

    def one_chunk(start):
        return fn(units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, dtype))

    starts = jnp.arange(0, 2**n, rows, dtype=jnp.int32)
    return lax.map(one_chunk, starts).reshape(2**n)


def chunked_logsumexp(fn, units, n: int, width: int, dtype) -> jax.Array:
    """log Σ_x exp(fn(x)) over all 2**n configurations of ``units``, with a running max."""
    rows = 2 ** chunk_log2(n, width)

    def body(carry, start):
        m, s = carry
        x = fn(units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, dtype))
        m_new = jnp.maximum(m, jnp.max(x))
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(x - m_new))
        return (m_new, s), None

    starts = jnp.arange(0, 2**n, rows, dtype=jnp.int32)
    init = (jnp.array(-jnp.inf, dtype), jnp.array(0, dtype))
    (m, s), _ = lax.scan(body, init, starts)
    return m + jnp.log(s)


def enumerates_hidden(params) -> bool:
    """Whether the hidden layer is the one enumerated (it is the smaller, or as small)."""
    return params.n_hidden <= params.n_visible


# --------------------------------------------------------------------------
# Jitted cores (shapes are static under jit, so no static arguments needed)


@jax.jit
def log_partition(params) -> jax.Array:
    """log Z, enumerating the smaller layer and summing the other out analytically."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    if enumerates_hidden(params):
        # log Z = log Σ_h exp(-F_h(h)): the visible layer is summed out analytically.
        return chunked_logsumexp(lambda h: -model.hidden_free_energy(params, h),
                                 model.hidden_units(params), n_hidden, n_visible, dtype)
    return chunked_logsumexp(lambda v: -model.free_energy(params, v),
                             model.visible_units(params), n_visible, n_hidden, dtype)


@jax.jit
def log_marginal_v(params, v: jax.Array) -> jax.Array:
    """log P(v) = −F(v) − log Z."""
    return -model.free_energy(params, v) - log_partition(params)


@jax.jit
def log_marginal_v_table(params) -> jax.Array:
    """log P(v) for every visible configuration, in enumeration order."""
    neg_f = map_configs(lambda v: -model.free_energy(params, v), model.visible_units(params),
                        params.n_visible, params.n_hidden, params.dtype)
    return neg_f - jax.nn.logsumexp(neg_f)


@jax.jit
def model_moments(params) -> Moments:
    """Exact ⟨v⟩, ⟨h⟩, ⟨v hᵀ⟩ by enumerating the smaller layer."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    log_z = log_partition(params)
    enumerate_hidden = enumerates_hidden(params)
    units = model.hidden_units(params) if enumerate_hidden else model.visible_units(params)
    n, width = (n_hidden, n_visible) if enumerate_hidden else (n_visible, n_hidden)
    rows = 2 ** chunk_log2(n, width)

    def body(acc, start):
        x = units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, dtype)  # [rows, n]
        if enumerate_hidden:
            w = jnp.exp(-model.hidden_free_energy(params, x) - log_z)  # P(h)
            h_mean, v_mean = x, model.prob_v_given_h(params, x)
        else:
            w = jnp.exp(-model.free_energy(params, x) - log_z)  # P(v)
            v_mean, h_mean = x, model.prob_h_given_v(params, x)
        m_v, m_h, m_vh = acc
        wv = w[:, None] * v_mean
        return (m_v + jnp.sum(wv, 0), m_h + w @ h_mean, m_vh + wv.T @ h_mean), None

    starts = jnp.arange(0, 2**n, rows, dtype=jnp.int32)
    acc0 = (
        jnp.zeros((n_visible,), dtype),
        jnp.zeros((n_hidden,), dtype),
        jnp.zeros((n_visible, n_hidden), dtype),
    )
    acc, _ = lax.scan(body, acc0, starts)
    return Moments(*acc)


def inverse_cdf_indices(key, log_p: jax.Array, n: int) -> jax.Array:
    """n draws of table indices with probabilities exp(log_p), by inverse CDF.

    Memory O(len(log_p) + n), unlike Gumbel-max which needs an [n, len] noise array.
    """
    cdf = jnp.cumsum(jnp.exp(log_p))
    u = jax.random.uniform(key, (n,), log_p.dtype) * cdf[-1]
    idx = jnp.searchsorted(cdf, u, side="right")
    return jnp.minimum(idx, log_p.shape[0] - 1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=2)
def sample_exact(key, params, n: int) -> jax.Array:
    """n exact draws of P(v), through the smaller layer."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    units_v, units_h = model.visible_units(params), model.hidden_units(params)
    if n_visible <= n_hidden:
        idx = inverse_cdf_indices(key, log_marginal_v_table(params), n)
        return units_v.index_states(idx, n_visible, dtype)
    # Fewer hidden units: draw h from its exact marginal P(h) ∝ exp(−F_h(h)), then
    # v ~ P(v | h); the pair is an exact draw of P(v, h), so v is one of P(v).
    key_h, key_v = jax.random.split(key)
    neg_f = map_configs(lambda h: -model.hidden_free_energy(params, h), units_h, n_hidden, n_visible, dtype)
    h = units_h.index_states(inverse_cdf_indices(key_h, neg_f - jax.nn.logsumexp(neg_f), n), n_hidden, dtype)
    return model.sample_v_given_h(key_v, params, h)
