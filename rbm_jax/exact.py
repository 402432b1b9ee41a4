"""Brute-force references for small RBMs of every family: log Z, marginals, likelihood, moments, T.

Every statistical test of the library leans on these, so they are written for
exactness first: everything is a sum over enumerated configurations of one
layer, the other summed (or, for Gaussian units, integrated) out in closed
form, done in log space (logsumexp) and in chunks, so memory stays bounded
however many configurations there are.

Contract:
  * Enumeration order everywhere is ``itertools.product(range(q), repeat=n)``:
    row ``k`` is ``k`` in base q (q = 2 for binary units), unit 0 the most
    significant digit (``config_index`` / ``configurations`` convert both ways).
  * ``log_partition``, ``log_marginal_v``, ``log_likelihood``,
    ``model_moments`` and ``sample_exact`` enumerate the layer with fewer
    configurations: cost min(2**n_hidden, q**n_visible) rows. Gaussian
    visible units are continuous, so for them the hidden layer is always the
    one enumerated: P(v) = Σ_h P(h) N(v; b + Wh, diag σ²) is a mixture of
    2**n_hidden Gaussians (``visible_mixture``), and log Z, log P(v) are
    log-densities with respect to Lebesgue measure.
  * Functions that return or sample the table of P(v) enumerate the visible
    layer; ``gibbs_transition_matrix`` enumerates both. Tables of categorical
    models are capped at ``MAX_CATEGORICAL_TABLE`` = 4,096 visible
    configurations; Gaussian models have no table.
  * Each function refuses, with the size in the message, a model beyond its
    enumeration cap rather than running out of memory or time.
  * Outputs follow the params' dtype; exact to float64 round-off when the
    caller enables x64. Data given here must be ``[n_rows, n_visible]`` of the
    family's values (binary: in [0, 1]; Gaussian: finite; categorical: integer
    states in {0, …, q−1}), checked when concrete (under a caller's ``jit``
    only the shape can be checked).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rbm_jax import _checks
from rbm_jax._src import enumeration as core
from rbm_jax._src import model
from rbm_jax._src.enumeration import MAX_ENUMERATED_UNITS, Moments, check_enumerable, chunk_exponent
from rbm_jax._src.units import Bernoulli, Categorical
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams

__all__ = [
    "MAX_ENUMERATED_UNITS",
    "MAX_TRANSITION_VISIBLE",
    "MAX_TRANSITION_HIDDEN",
    "MAX_TRANSITION_LOG2_COST",
    "MAX_CATEGORICAL_TABLE",
    "Moments",
    "VisibleMixture",
    "visible_mixture",
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
#: Most visible configurations of a categorical model whose table of P(v) or transition
#: matrix is built (q**n_visible; the binary cap of 12 units is the same 4,096).
MAX_CATEGORICAL_TABLE = 4096


# --------------------------------------------------------------------------
# Enumeration order


def configurations(n: int, dtype=jnp.float32, *, n_states: int = 2) -> jax.Array:
    """All n_states**n configurations of n units, [n_states**n, n], in ``itertools.product`` order.

    Binary (``n_states=2``): 0./1. in ``dtype``. Categorical (``n_states`` = q > 2): int32 states.
    """
    n = _checks.positive_int(n, "n")
    q = _checks.positive_int(n_states, "n_states")
    if q < 2:
        raise ValueError(f"n_states must be at least 2, got {q}")
    check_enumerable(n, "n", base=q)
    if q == 2:
        return Bernoulli.states(n, _checks.float_dtype(dtype))
    return Categorical(q).states(n)


def config_index(x, *, n_states: int = 2) -> jax.Array:
    """Index of each row of ``x`` [..., n] in the enumeration order -> [...] int32.

    Rows are binary (``n_states=2``) or integer states in {0, …, q−1} (``n_states`` = q).
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("x must have shape [..., n] of configurations, got a scalar")
    q = _checks.positive_int(n_states, "n_states")
    if q < 2:
        raise ValueError(f"n_states must be at least 2, got {q}")
    n = x.shape[-1]
    check_enumerable(n, "x.shape[-1]", base=q)
    if q == 2:
        _checks.unit_values(x, "x", binary=True)
    else:
        _checks.unit_values(x, "x", binary=True, units=Categorical(q))
    powers = jnp.asarray([q ** (n - 1 - i) for i in range(n)], jnp.int32)
    return jnp.sum(x.astype(jnp.int32) * powers, axis=-1)


# --------------------------------------------------------------------------
# The one core only this module needs (the others live in rbm_jax._src.enumeration)


@jax.jit
def _gibbs_transition_matrix(params) -> jax.Array:
    n_visible, n_hidden, dtype = params.n_visible, params.n_hidden, params.dtype
    units_v, units_h = model.visible_units(params), model.hidden_units(params)
    vs = units_v.states(n_visible, model.state_dtype(params))  # [S_v, n_v]
    n_v_states = vs.shape[0]
    a = model.hidden_natural(params, vs)  # [S_v, n_h]: η of P(h | v) for every v
    log_norm_h = units_h.log_normaliser(a)  # [S_v]
    rows = 2 ** chunk_exponent(2, n_hidden, n_v_states)

    # T = Σ_h P(h|v_i) P(v_j|h), accumulated over chunks of h so that only
    # [S_v, rows] blocks of the two conditionals ever exist.
    # log P(h|v) = ⟨a, h⟩ − A_h(a) and log P(v|h) = ⟨u, T(v)⟩ − A_v(u).
    def body(t, start):
        hs = units_h.index_states(start + jnp.arange(rows, dtype=jnp.int32), n_hidden, dtype)  # [rows, n_h]
        p_h_given_v = jnp.exp(units_h.dot_table(hs, a) - log_norm_h[:, None])  # [S_v, rows]
        u = model.visible_natural(params, hs)  # [rows, n_v, ...]
        p_v_given_h = jnp.exp(units_v.dot_table(vs, u) - units_v.log_normaliser(u)[:, None])  # [rows, S_v]
        return t + p_h_given_v @ p_v_given_h, None

    starts = jnp.arange(0, 2**n_hidden, rows, dtype=jnp.int32)
    t0 = jnp.zeros((n_v_states, n_v_states), dtype)
    t, _ = lax.scan(body, t0, starts)
    return t


# --------------------------------------------------------------------------
# Public, validated API


def _checked(params, *, layer: str | None = None, cap: int = MAX_ENUMERATED_UNITS):
    """Validates params and the enumeration size (the enumerated layer, or ``layer``)."""
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    if layer == "visible":
        _visible_table_size(params, "this function")
        check_enumerable(params.n_visible, "n_visible", cap, base=model.visible_units(params).n_states)
    else:
        what, n, base = core.enumerated_size(params)
        if isinstance(params, RBMParams):  # the smaller layer, whichever it is
            what = f"min(n_visible, n_hidden) = min({params.n_visible}, {params.n_hidden})"
        check_enumerable(n, what, cap, base=base)
    return params


def _visible_table_size(params, what: str) -> int:
    """The number of visible configurations of a table of P(v); refuses Gaussian models and
    categorical models above ``MAX_CATEGORICAL_TABLE``."""
    units_v = model.visible_units(params)
    if units_v.n_states is None:
        raise TypeError(f"{what} needs a table over visible configurations, but {type(params).__name__} "
                        f"has continuous (Gaussian) visible units: use log_marginal_v, visible_mixture "
                        f"or sample_exact, which enumerate the hidden layer")
    size = units_v.n_states ** params.n_visible
    if isinstance(params, CategoricalRBMParams) and size > MAX_CATEGORICAL_TABLE:
        raise ValueError(f"{what} builds a table over all q**n_visible = {units_v.n_states}**{params.n_visible} "
                         f"= {size} visible configurations; categorical models are capped at "
                         f"MAX_CATEGORICAL_TABLE = {MAX_CATEGORICAL_TABLE}")
    return size


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
      v: [..., n_visible] configurations of the family's values (binary: in [0, 1]; Gaussian: finite;
        categorical: integer states in {0, …, q−1}), checked when concrete.

    Returns:
      [...] log-probabilities.
    """
    params = _checked(params)
    v = _checks.visible_configuration(params, v, "v")
    _checks.unit_values(v, "v", units=model.visible_units(params))
    return core.log_marginal_v(params, v)


def log_likelihood(params: RBMParams, data) -> jax.Array:
    """Exact average log-likelihood (1/N) Σ_n log P(v_n) of the rows of ``data``.

    Args:
      params: ``RBMParams``; its smaller layer is enumerated.
      data: [n_rows, n_visible] of the family's values (as for ``log_marginal_v``), checked when concrete.

    Returns:
      Scalar mean log-likelihood in nats.
    """
    params = _checked(params)
    data = _checks.visible_data(params, data, "data")
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
    size = _visible_table_size(params, "gibbs_transition_matrix")
    log2_cost = 2 * float(np.log2(size)) + n_hidden
    if (
        size > 2**MAX_TRANSITION_VISIBLE
        or n_hidden > MAX_TRANSITION_HIDDEN
        or log2_cost > MAX_TRANSITION_LOG2_COST
    ):
        if isinstance(params, RBMParams):
            caps = (f"{MAX_TRANSITION_VISIBLE} visible and {MAX_TRANSITION_HIDDEN} hidden units and "
                    f"2**(2 n_visible + n_hidden)")
        else:
            caps = (f"{2**MAX_TRANSITION_VISIBLE} visible configurations (q**n_visible), {MAX_TRANSITION_HIDDEN} "
                    f"hidden units and (q**n_visible)² × 2**n_hidden")
        raise ValueError(
            f"gibbs_transition_matrix enumerates both layers; it is capped at {caps} <= "
            f"2**{MAX_TRANSITION_LOG2_COST} multiply-adds; got n_visible={n_visible}, n_hidden={n_hidden}: "
            f"a {size}×{size} matrix summed over 2**{n_hidden} hidden states (2**{log2_cost:.4g} multiply-adds)"
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
      [n, n_visible] samples: 0./1. (binary) or reals (Gaussian) in the params' dtype, int32 states
      (categorical).
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


def empirical_distribution(samples, *, n_states: int = 2) -> jax.Array:
    """Histogram of rows over all n_states**n configurations, normalised.

    Args:
      samples: [..., n] binary rows (or integer states in {0, …, q−1} with
        ``n_states`` = q), checked when concrete, at least one; all leading
        axes are pooled.
      n_states: states per unit (2 for binary units).

    Returns:
      [n_states**n] frequencies in enumeration order, in the samples' float dtype
      (float32 for integer or bool input).
    """
    samples = jnp.asarray(samples)
    if samples.ndim < 1 or samples.shape[-1] == 0 or samples.size == 0:
        raise ValueError(f"samples must be binary rows [..., n] with at least one row and one unit "
                         f"(integer states in {{0, ..., q-1}} with n_states=q), got shape {samples.shape}")
    idx = config_index(samples, n_states=n_states).reshape(-1)
    n = samples.shape[-1]
    dtype = samples.dtype if jnp.issubdtype(samples.dtype, jnp.floating) else jnp.float32
    counts = jnp.bincount(idx, length=n_states**n)
    return (counts / idx.shape[0]).astype(dtype)


class VisibleMixture(NamedTuple):
    """P(v) of a Gaussian RBM as the mixture Σ_h P(h) N(v; mean_h, diag σ²) over all 2**n_hidden h."""

    log_weights: jax.Array  # [2**n_hidden] log P(h), in enumeration order
    means: jax.Array  # [2**n_hidden, n_visible] b + Wh
    sigma: jax.Array  # [n_visible] the shared standard deviations σ


def visible_mixture(params: GaussianRBMParams) -> VisibleMixture:
    """The exact marginal of a Gaussian RBM's visible units, a mixture of 2**n_hidden Gaussians.

    P(v, h) ∝ exp(−E) is, given h, N(v; b + Wh, diag σ²), and P(h) ∝
    exp(−F_h(h)) with F_h the hidden free energy (the Gaussian integral in
    closed form). So ⟨v⟩ = Σ_h P(h)(b + Wh) and Cov v = diag σ² + Σ_h P(h)
    (m_h − ⟨v⟩)(m_h − ⟨v⟩)ᵀ, and any 1-D projection uᵀv has the CDF
    Σ_h P(h) Φ((x − uᵀm_h)/√(uᵀ diag σ² u)).

    Args:
      params: ``GaussianRBMParams`` with at most ``MAX_ENUMERATED_UNITS`` hidden units.

    Returns:
      ``VisibleMixture(log_weights [2**n_hidden], means [2**n_hidden, n_visible], sigma [n_visible])``.
    """
    params = _checked(params)
    if not isinstance(params, GaussianRBMParams):
        raise TypeError(f"visible_mixture is defined for GaussianRBMParams, got {type(params).__name__}")
    return _visible_mixture(params)


@jax.jit
def _visible_mixture(params):
    hs = model.hidden_units(params).states(params.n_hidden, params.dtype)
    return VisibleMixture(core.log_marginal_h_table(params), params.b + hs @ params.W.T,
                          jnp.exp(params.log_sigma))


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
