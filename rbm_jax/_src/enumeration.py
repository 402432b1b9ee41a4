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
    "MAX_CONFIGS",
    "n_configs",
    "chunk_exponent",
    "visible_width",
    "enumerated_size",
    "log_marginal_h_table",
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

#: Most configurations a layer may have to be enumerated: 2**24 ≈ 1.7e7 (24 binary units;
#: for q-state units, n with q**n <= 2**24).
MAX_ENUMERATED_UNITS = 24
MAX_CONFIGS = 2**MAX_ENUMERATED_UNITS

# Elements (chunk rows × width of the summed-out layer) computed at once.
CHUNK_ELEMENTS = 2**22


class Moments(NamedTuple):
    """Exact first and second moments of an RBM's joint distribution.

    For categorical visible units ⟨v⟩ is the [n_visible, q] table of state
    probabilities and ⟨v hᵀ⟩ is [n_visible, q, n_hidden] (one-hot v).
    """

    v: jax.Array  # [n_visible] (or [n_visible, q])  ⟨v⟩
    h: jax.Array  # [n_hidden]   ⟨h⟩
    vh: jax.Array  # [n_visible, n_hidden] (or [n_visible, q, n_hidden])  ⟨v hᵀ⟩


def n_configs(units, n: int) -> int:
    """How many configurations n units of this type have (``units.n_states ** n``)."""
    if units.n_states is None:
        raise TypeError(f"{units.name} units are continuous: their configurations cannot be enumerated")
    return units.n_states ** n


def check_enumerable(n: int, what: str, cap: int = MAX_ENUMERATED_UNITS, base: int = 2) -> None:
    """Refuses, with the size in the message, a layer beyond the enumeration cap (2**cap configurations)."""
    if base ** n > 2**cap:
        raise ValueError(
            f"{what} = {n} is too large to enumerate: {base}**{n} = {base**n:.3g} configurations "
            f"(the cap is 2**{cap} = {2**cap:.3g}). Use rbm_jax.ais for log Z of larger models."
        )


def chunk_exponent(base: int, n: int, width: int) -> int:
    """k such that chunks of base**k configurations (of n units, against a layer of ``width``)
    hold about ``CHUNK_ELEMENTS`` elements; base**k divides base**n."""
    per_row = max(1, width)
    k = 0
    while k < n and base ** (k + 1) * per_row <= CHUNK_ELEMENTS:
        k += 1
    return k


def chunk_log2(n: int, width: int) -> int:
    """log2 of the rows per chunk when enumerating n binary units against a layer of ``width``."""
    return chunk_exponent(2, n, width)


def _chunks(units, n: int, width: int):
    total = n_configs(units, n)
    rows = units.n_states ** chunk_exponent(units.n_states, n, width)
    return total, rows, jnp.arange(0, total, rows, dtype=jnp.int32)


def map_configs(fn, units, n: int, width: int, dtype) -> jax.Array:
    """Applies ``fn`` ([rows, n] configurations -> [rows]) to all configurations of ``units``.

    Returns the results in enumeration order, computed chunk by chunk.
    """
    total, rows, starts = _chunks(units, n, width)

    def one_chunk(start):
        return fn(units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, dtype))

    return lax.map(one_chunk, starts).reshape(total)


def chunked_logsumexp(fn, units, n: int, width: int, dtype, acc_dtype=None) -> jax.Array:
    """log Σ_x exp(fn(x)) over all configurations of ``units`` (in ``dtype``, int32 for
    categorical states), with a running max and sum in ``acc_dtype`` (default ``dtype``)."""
    _, rows, starts = _chunks(units, n, width)
    acc_dtype = dtype if acc_dtype is None else acc_dtype

    def body(carry, start):
        m, s = carry
        x = fn(units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, dtype))
        m_new = jnp.maximum(m, jnp.max(x))
        s = s * jnp.exp(m - m_new) + jnp.sum(jnp.exp(x - m_new))
        return (m_new, s), None

    init = (jnp.array(-jnp.inf, acc_dtype), jnp.array(0, acc_dtype))
    (m, s), _ = lax.scan(body, init, starts)
    return m + jnp.log(s)


def visible_width(params) -> int:
    """Entries of one visible configuration's statistics: n_visible (× q for categorical units)."""
    return params.n_visible * (getattr(params, "n_states", None) or 1)


def enumerates_hidden(params) -> bool:
    """Whether the hidden layer is the one enumerated: it has no more configurations than the
    visible layer, or the visible units are continuous (Gaussian) and cannot be enumerated."""
    units_v = model.visible_units(params)
    if units_v.n_states is None:
        return True
    return 2**params.n_hidden <= units_v.n_states ** params.n_visible


def enumerated_size(params) -> tuple[str, int, int]:
    """(what, n, base) of the layer ``log_partition`` enumerates, for ``check_enumerable``."""
    if enumerates_hidden(params):
        return "n_hidden", params.n_hidden, 2
    return "n_visible", params.n_visible, model.visible_units(params).n_states


# --------------------------------------------------------------------------
# Jitted cores (shapes are static under jit, so no static arguments needed)


@jax.jit
def log_partition(params) -> jax.Array:
    """log Z, enumerating the layer with fewer configurations and summing the other out analytically."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    if enumerates_hidden(params):
        # log Z = log Σ_h exp(-F_h(h)): the visible layer is summed (or integrated) out analytically.
        return chunked_logsumexp(lambda h: -model.hidden_free_energy(params, h),
                                 model.hidden_units(params), n_hidden, visible_width(params), dtype)
    return chunked_logsumexp(lambda v: -model.free_energy(params, v),
                             model.visible_units(params), n_visible, n_hidden, model.state_dtype(params), dtype)


@jax.jit
def log_marginal_v(params, v: jax.Array) -> jax.Array:
    """log P(v) = −F(v) − log Z (a log-density for Gaussian units)."""
    return -model.free_energy(params, v) - log_partition(params)


@jax.jit
def log_marginal_v_table(params) -> jax.Array:
    """log P(v) for every visible configuration, in enumeration order."""
    neg_f = map_configs(lambda v: -model.free_energy(params, v), model.visible_units(params),
                        params.n_visible, params.n_hidden, model.state_dtype(params))
    return neg_f - jax.nn.logsumexp(neg_f)


@jax.jit
def log_marginal_h_table(params) -> jax.Array:
    """log P(h) for every hidden configuration, in enumeration order."""
    neg_f = map_configs(lambda h: -model.hidden_free_energy(params, h), model.hidden_units(params),
                        params.n_hidden, visible_width(params), params.dtype)
    return neg_f - jax.nn.logsumexp(neg_f)


@jax.jit
def model_moments(params) -> Moments:
    """Exact ⟨v⟩, ⟨h⟩, ⟨v hᵀ⟩ by enumerating the layer with fewer configurations."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    log_z = log_partition(params)
    enumerate_hidden = enumerates_hidden(params)
    units_v = model.visible_units(params)
    units = model.hidden_units(params) if enumerate_hidden else units_v
    n, width = (n_hidden, visible_width(params)) if enumerate_hidden else (n_visible, n_hidden)
    _, rows, starts = _chunks(units, n, width)
    x_dtype = dtype if enumerate_hidden else model.state_dtype(params)

    def body(acc, start):
        x = units.index_states(start + jnp.arange(rows, dtype=jnp.int32), n, x_dtype)  # [rows, n]
        if enumerate_hidden:
            w = jnp.exp(-model.hidden_free_energy(params, x) - log_z)  # P(h)
            h_mean, v_mean = x, model.prob_v_given_h(params, x)
        else:
            w = jnp.exp(-model.free_energy(params, x) - log_z)  # P(v)
            v_mean, h_mean = units_v.expand(x).astype(dtype), model.prob_h_given_v(params, x)
        m_v, m_h, m_vh = acc
        wv = w.reshape((-1,) + (1,) * (v_mean.ndim - 1)) * v_mean
        return (m_v + jnp.sum(wv, 0), m_h + w @ h_mean, m_vh + jnp.tensordot(wv, h_mean, axes=(0, 0))), None

    v_shape = (n_visible, params.n_states) if hasattr(params, "n_states") else (n_visible,)
    acc0 = (
        jnp.zeros(v_shape, dtype),
        jnp.zeros((n_hidden,), dtype),
        jnp.zeros(v_shape + (n_hidden,), dtype),
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
    """n exact draws of P(v), through the layer with fewer configurations."""
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    units_v, units_h = model.visible_units(params), model.hidden_units(params)
    # The visible table when it is no larger than the hidden one (ties: visible).
    if units_v.n_states is not None and units_v.n_states ** n_visible <= 2**n_hidden:
        idx = inverse_cdf_indices(key, log_marginal_v_table(params), n)
        return units_v.index_states(idx, n_visible, model.state_dtype(params))
    # Draw h from its exact marginal P(h) ∝ exp(−F_h(h)), then v ~ P(v | h); the
    # pair is an exact draw of P(v, h), so v is one of P(v).
    key_h, key_v = jax.random.split(key)
    h = units_h.index_states(inverse_cdf_indices(key_h, log_marginal_h_table(params), n), n_hidden, dtype)
    return model.sample_v_given_h(key_v, params, h)
