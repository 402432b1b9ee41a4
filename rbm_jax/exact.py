"""Brute-force references for small RBMs: log Z, marginals, likelihood, moments, T.

Every statistical test of the library leans on these, so they are written for
exactness first: everything is a sum over enumerated configurations, done in
log space (logsumexp) and in chunks, so memory stays bounded however many
configurations there are.

Contract:
  * Enumeration order everywhere is ``itertools.product([0, 1], repeat=n)``:
    row ``k`` is ``k`` in binary, unit 0 the most significant bit
    (``config_index`` / ``configurations`` convert both ways).
  * ``log_partition`` sums the larger layer out analytically (via the free
    energy) and enumerates the smaller one: cost 2**min(n_v, n_h) rows.
  * Functions that return or sample the table of P(v) enumerate the visible
    layer (2**n_visible rows); ``gibbs_transition_matrix`` enumerates both.
  * Each function refuses, with the size in the message, a model beyond its
    enumeration cap rather than running out of memory or time.
  * Outputs follow the params' dtype; exact to float64 round-off when the
    caller enables x64. Data given here must be ``[n_rows, n_visible]`` with
    values in [0, 1] (checked when concrete; under a caller's ``jit`` only the
    shape can be checked).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from rbm_jax import _checks
from rbm_jax._src import enumeration as core
from rbm_jax._src import model
from rbm_jax._src.enumeration import MAX_ENUMERATED_UNITS, Moments, check_enumerable, chunk_log2
from rbm_jax._src.units import Bernoulli
from rbm_jax.types import RBMParams

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "MAX_TRANSITION_VISIBLE",
    "MAX_TRANSITION_HIDDEN",
    "MAX_TRANSITION_LOG2_COST",
    "Moments",
    "configurations",
    "config_index",
    "log_partition",
    "log_marginal_v",
    "log_likelihood",
    "log_marginal_v_table",
    "marginal_v_table",
    "gibbs_transition_matrix",
    "sample_exact",
    "model_moments",
    "empirical_distribution",
    "total_variation",
]

#: Caps of ``gibbs_transition_matrix``, which enumerates both layers: its cost
#: is 2**(2 n_visible + n_hidden) multiply-adds, capped at 2**36 (12 visible and
#: 12 hidden units take ~7 s on two CPU cores in float64; 12 × 16 would take ~100 s).
MAX_TRANSITION_VISIBLE = 12
MAX_TRANSITION_HIDDEN = 16
MAX_TRANSITION_LOG2_COST = 36


# --------------------------------------------------------------------------
# Enumeration order


def configurations(n: int, dtype=jnp.float32) -> jax.Array:
    """All 2**n binary configurations, [2**n, n], in ``itertools.product`` order."""
    n = _checks.positive_int(n, "n")
    check_enumerable(n, "n")
    return Bernoulli.states(n, _checks.float_dtype(dtype))


def config_index(x) -> jax.Array:
    """Index of each binary row of ``x`` [..., n] in the enumeration order -> [...] int32."""
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must have shape [..., n] of binary rows, got a scalar")
    n = x.shape[-1]
    check_enumerable(n, "x.shape[-1]")
    _checks.unit_values(x, "x", binary=True)
    powers = 2 ** jnp.arange(n - 1, -1, -1, dtype=jnp.int32)
    return jnp.sum(x.astype(jnp.int32) * powers, axis=-1)


# --------------------------------------------------------------------------
# The one core only this module needs (the others live in rbm_jax._src.enumeration)


@jax.jit
def _gibbs_transition_matrix(params: RBMParams) -> jax.Array:
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    vs = model.visible_units(params).states(n_visible, dtype)  # [S_v, n_v]
    a = model.hidden_natural(params, vs)  # [S_v, n_h]: c + Wᵀv for every v
    log_norm_h = jnp.sum(jax.nn.softplus(a), axis=-1)  # [S_v]
    log_rows = chunk_log2(n_hidden, 2**n_visible)
    rows = 2**log_rows

    # T = Σ_h P(h|v_i) P(v_j|h), accumulated over chunks of h so that only
    # [S_v, rows] blocks of the two conditionals ever exist.
    # log P(h|v) = hᵀa - Σ softplus(a) and log P(v|h) = vᵀu - Σ softplus(u).
    def body(t, start):
        hs = model.hidden_units(params).index_states(start + jnp.arange(rows, dtype=jnp.int32), n_hidden, dtype)  # [rows, n_h]
        p_h_given_v = jnp.exp(a @ hs.T - log_norm_h[:, None])  # [S_v, rows]
        u = model.visible_natural(params, hs)  # [rows, n_v]
        log_norm_v = jnp.sum(jax.nn.softplus(u), axis=-1)  # [rows]
        p_v_given_h = jnp.exp(u @ vs.T - log_norm_v[:, None])  # [rows, S_v]
        return t + p_h_given_v @ p_v_given_h, None

    starts = jnp.arange(0, 2**n_hidden, rows, dtype=jnp.int32)
    t0 = jnp.zeros((2**n_visible, 2**n_visible), dtype)
    t, _ = lax.scan(body, t0, starts)
    return t


# --------------------------------------------------------------------------
# Public, validated API


def _checked(params, *, layer: str | None = None, cap: int = MAX_ENUMERATED_UNITS) -> RBMParams:
    """Validates params and the enumeration size (smallest layer, or ``layer``)."""
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    n_visible, n_hidden = params.n_visible, params.n_hidden
    if layer == "visible":
        check_enumerable(n_visible, "n_visible", cap)
    else:
        n = min(n_visible, n_hidden)
        check_enumerable(n, f"min(n_visible, n_hidden) = min({n_visible}, {n_hidden})", cap)
    return params


def log_partition(params: RBMParams) -> jax.Array:
    """Exact log Z = log Σ_{v,h} exp(-E(v, h)).

    Sums the larger layer out analytically and enumerates the smaller one::

        log Z = logsumexp_h(-F_h(h))   if n_hidden <= n_visible
        log Z = logsumexp_v(-F(v))     otherwise,

    in chunks with a running logsumexp, so memory stays bounded. Cost is
    2**min(n_visible, n_hidden) free-energy evaluations; the smaller layer may
    have at most ``MAX_ENUMERATED_UNITS`` units.

    Args:
      params: ``RBMParams`` (finite; checked when concrete).

    Returns:
      Scalar log Z in the params' dtype.
    """
    return core.log_partition(_checked(params))


def log_marginal_v(params: RBMParams, v) -> jax.Array:
    """Exact log P(v) = -F(v) - log Z.

    Args:
      params: ``RBMParams``.
      v: [..., n_visible] configurations with values in [0, 1] (checked when concrete).

    Returns:
      [...] log-probabilities.
    """
    params = _checked(params)
    v = _checks.configuration(v, params.n_visible, "v", params.dtype, layer="n_visible")
    _checks.unit_values(v, "v")
    return core.log_marginal_v(params, v)


def log_likelihood(params: RBMParams, data) -> jax.Array:
    """Exact average log-likelihood (1/N) Σ_n log P(v_n) of the rows of ``data``.

    Args:
      params: ``RBMParams``; its smaller layer is enumerated.
      data: [n_rows, n_visible] with values in [0, 1] (checked when concrete).

    Returns:
      Scalar mean log-likelihood in nats.
    """
    params = _checked(params)
    data = _checks.data_matrix(data, params.n_visible, "data", params.dtype)
    return jnp.mean(core.log_marginal_v(params, data))


def log_marginal_v_table(params: RBMParams) -> jax.Array:
    """log P(v) for all 2**n_visible visible configurations, in enumeration order.

    Returns:
      [2**n_visible] log-probabilities (they logsumexp to 0).
    """
    return core.log_marginal_v_table(_checked(params, layer="visible"))


def marginal_v_table(params: RBMParams) -> jax.Array:
    """P(v) for all 2**n_visible visible configurations, in enumeration order.

    Returns:
      [2**n_visible] probabilities summing to 1.
    """
    return jnp.exp(log_marginal_v_table(params))


def gibbs_transition_matrix(params: RBMParams) -> jax.Array:
    """The exact transition matrix of one block-Gibbs sweep v → h → v.

    ``T[i, j] = P(v_j | v_i) = Σ_h P(h | v_i) P(v_j | h)``, rows and columns in
    enumeration order. P(v) is its stationary distribution and it satisfies
    detailed balance. Enumerates both layers, so it is capped at
    ``MAX_TRANSITION_VISIBLE`` visible and ``MAX_TRANSITION_HIDDEN`` hidden
    units and at a cost of 2**(2 n_visible + n_hidden) <= 2**36 multiply-adds
    (12 visible × 12 hidden: ~7 s on two CPU cores in float64).

    Returns:
      [2**n_visible, 2**n_visible] row-stochastic matrix.
    """
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    n_visible, n_hidden = params.n_visible, params.n_hidden
    log2_cost = 2 * n_visible + n_hidden
    if (
        n_visible > MAX_TRANSITION_VISIBLE
        or n_hidden > MAX_TRANSITION_HIDDEN
        or log2_cost > MAX_TRANSITION_LOG2_COST
    ):
        raise ValueError(
            f"gibbs_transition_matrix enumerates both layers; it is capped at "
            f"{MAX_TRANSITION_VISIBLE} visible and {MAX_TRANSITION_HIDDEN} hidden units and "
            f"2**(2 n_visible + n_hidden) <= 2**{MAX_TRANSITION_LOG2_COST} multiply-adds; got "
            f"n_visible={n_visible}, n_hidden={n_hidden}: a {2**n_visible}×{2**n_visible} "
            f"matrix summed over 2**{n_hidden} hidden states (2**{log2_cost} multiply-adds)"
        )
    return _gibbs_transition_matrix(params)


def sample_exact(key, params: RBMParams, n: int) -> jax.Array:
    """Draws ``n`` independent exact samples of P(v), enumerating the smaller layer.

    With n_visible <= n_hidden: inverse-CDF sampling from the table of all
    2**n_visible probabilities P(v). Otherwise: h from the table of P(h) (2**n_hidden
    entries), then v ~ P(v | h) — an exact draw of the joint, so of P(v) too;
    this makes exact samples available for models with many visible units and
    few hidden ones (e.g. 784 × 20). Memory O(2**min(n_v, n_h) + n). For reference
    checks use float64: in float32 the cumulative table carries round-off of
    order 2**min(n_v, n_h) × 1e-7.

    Args:
      key: a PRNG key (typed or legacy).
      params: ``RBMParams`` whose smaller layer has at most ``MAX_ENUMERATED_UNITS`` units.
      n: number of samples.

    Returns:
      [n, n_visible] samples, 0./1. in the params' dtype.
    """
    key = _checks.key(key)
    params = _checked(params)
    n = _checks.positive_int(n, "n")
    return core.sample_exact(key, params, n)


def model_moments(params: RBMParams) -> Moments:
    """Exact ⟨v⟩, ⟨h⟩ and ⟨v hᵀ⟩ under the model, by enumerating the smaller layer.

    With the hidden layer enumerated, ⟨v⟩ = Σ_h P(h) σ(b + Wh) and
    ⟨v hᵀ⟩ = Σ_h P(h) σ(b + Wh) hᵀ; symmetrically otherwise.

    Returns:
      ``Moments(v [n_visible], h [n_hidden], vh [n_visible, n_hidden])``.
    """
    return core.model_moments(_checked(params))


def empirical_distribution(samples) -> jax.Array:
    """Histogram of binary rows over all 2**n configurations, normalised.

    Args:
      samples: [..., n] binary rows (checked when concrete), at least one;
        all leading axes are pooled.

    Returns:
      [2**n] frequencies in enumeration order, in the samples' float dtype
      (float32 for integer or bool input).
    """
    samples = jnp.asarray(samples)
    if samples.ndim < 1 or samples.shape[-1] == 0 or samples.size == 0:
        raise ValueError(f"samples must be binary rows [..., n] with at least one row and one unit, "
                         f"got shape {samples.shape}")
    idx = config_index(samples).reshape(-1)
    n = samples.shape[-1]
    dtype = samples.dtype if jnp.issubdtype(samples.dtype, jnp.floating) else jnp.float32
    counts = jnp.bincount(idx, length=2**n)
    return (counts / idx.shape[0]).astype(dtype)


def total_variation(p, q) -> jax.Array:
    """Total-variation distance ½ Σ |p - q| over the last axis.

    Args:
      p, q: [..., K] probability vectors (broadcast against each other); when
        concrete, each must be finite, >= 0 and sum to 1 within sqrt(eps) of
        its dtype, so that a histogram of counts or an unnormalised table is
        refused instead of giving a "distance" above 1.

    Returns:
      [...] distances in [0, 1].
    """
    p, q = _checks.float_array(p, "p"), _checks.float_array(q, "q")
    if p.ndim == 0 or q.ndim == 0 or p.shape[-1] != q.shape[-1] or p.shape[-1] == 0:
        raise ValueError(
            f"p and q must be probability vectors of one length [..., K], got shapes {p.shape} and {q.shape}"
        )
    _checks.broadcastable(p, q, "p", "q")
    _checks.values((p, "p", _checks.DISTRIBUTION), (q, "q", _checks.DISTRIBUTION))
    return 0.5 * jnp.sum(jnp.abs(p - q), axis=-1)
