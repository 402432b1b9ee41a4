"""Cores of the fit metrics (``rbm_jax.metrics``), shared with training's in-loop monitor.

Unchecked and traceable; ``rbm_jax.metrics`` validates at its boundary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rbm_jax._src import model, units
from rbm_jax.types import CategoricalRBMParams

__all__ = ["reconstruction_error", "flip_free_energies", "site_free_energies", "has_pseudo_likelihood", "pseudo_log_likelihood", "stochastic_pseudo_log_likelihood"]


def reconstruction_error(params, v: jax.Array) -> jax.Array:
    """Mean over rows of Σ_i |T(v_i) − E[T(v_i) | h = P(h|v)]|²: mean-field, deterministic.

    T(v) is v for binary and Gaussian units, the one-hot row for categorical ones.
    """
    p_h = model.prob_h_given_v(params, v)
    v_rec = model.prob_v_given_h(params, p_h)
    return jnp.mean(model.visible_units(params).squared_error(v, v_rec))


# Units flipped per step of the map: 8 × n_rows × n_hidden floats at a time (3.2 MB for 1,000
# rows and 100 hidden units), an eighth of the loop's steps of one unit at a time.
_UNITS_PER_STEP = 8


def flip_free_energies(params, v: jax.Array) -> jax.Array:
    """F(v with bit i flipped) for every row and every i: [n_visible, n_rows].

    Flipping unit i adds d_i = 1 − 2 v_i to it, which moves the hidden input by
    d_i W_i: a rank-one update, so each unit costs O(n_rows × n_hidden), and
    memory stays O(n_rows × n_hidden) by mapping over units.
    """
    a = model.hidden_natural(params, v)  # [n_rows, n_hidden]
    bv = v @ params.b

    def one_unit(i):
        d = 1 - 2 * v[:, i]  # [n_rows]
        a_i = a + d[:, None] * params.W[i]
        return -(bv + d * params.b[i]) - jnp.sum(units.softplus(a_i), axis=-1)

    return jax.lax.map(one_unit, jnp.arange(v.shape[-1]), batch_size=_UNITS_PER_STEP)


def site_free_energies(params: CategoricalRBMParams, v: jax.Array) -> jax.Array:
    """F(v with site i set to state a) for every row, site and state: [n_visible, n_rows, q].

    Setting site i to a moves the hidden input by W[i, a] − W[i, v_i]: a
    rank-one update per state, mapped over sites so that memory stays
    O(n_rows × q × n_hidden).
    """
    a = model.hidden_natural(params, v)  # [n_rows, n_hidden]
    b_v = -model.visible_self_energy(params, v)  # [n_rows] Σ_i b[i, v_i]

    def one_site(i):
        w_cur, b_cur = params.W[i, v[:, i]], params.b[i, v[:, i]]  # [n_rows, n_h], [n_rows]
        a_i = a[:, None, :] - w_cur[:, None, :] + params.W[i][None]  # [n_rows, q, n_h]
        return -(b_v - b_cur)[:, None] - params.b[i][None] - jnp.sum(units.softplus(a_i), axis=-1)

    return jax.lax.map(one_site, jnp.arange(v.shape[-1]))


def has_pseudo_likelihood(params) -> bool:
    """Whether log P(v_i | v_−i) is a finite sum (discrete visible units), not an integral."""
    return model.visible_units(params).discrete


@jax.jit
def pseudo_log_likelihood(params, v: jax.Array) -> jax.Array:
    """Σ_i log P(v_i | v_−i) per row: [n_rows] (binary or categorical visible units)."""
    if isinstance(params, CategoricalRBMParams):
        neg_f = -site_free_energies(params, v)  # [n_visible, n_rows, q]
        own = jnp.take_along_axis(neg_f, v.T[:, :, None], axis=-1)[..., 0]
        return jnp.sum(own - jax.nn.logsumexp(neg_f, axis=-1), axis=0)
    f = model.free_energy(params, v)  # [n_rows]
    f_flip = flip_free_energies(params, v)  # [n_visible, n_rows]
    # P(v_i | v_−i) = e^{−F(v)} / (e^{−F(v)} + e^{−F(v^i)}) = σ(F(v^i) − F(v)).
    return jnp.sum(jax.nn.log_sigmoid(f_flip - f), axis=0)


@jax.jit
def stochastic_pseudo_log_likelihood(params, v: jax.Array, flip_index: jax.Array) -> jax.Array:
    """scikit-learn's estimate: n_visible · log σ(F(ṽ) − F(v)), one flipped unit per row."""
    rows = jnp.arange(v.shape[0])
    v_flip = v.at[rows, flip_index].set(1 - v[rows, flip_index])
    return v.shape[-1] * jax.nn.log_sigmoid(model.free_energy(params, v_flip) - model.free_energy(params, v))
