"""Model math for every params type, written once through the unit protocol (``units.py``).

A *family* says how a params type couples its two layers: the natural
parameters of each layer's conditional given the other, and the visible
layer's own energy. Everything else — energies, free energies, conditionals,
samplers — is generic here, so a new family is one ``Family`` entry plus its
unit type. Unchecked and traceable: public modules validate first.

Every family's energy has the form E(v, h) = E_v(v) − cᵀh − (coupling of v and
h), with E_v(v) = −⟨η_v(0), T(v)⟩ + κ for a constant κ (the ``visible_constant``),
so that

    F(v)   = E_v(v) − A_h(η_h(v)),       F_h(h) = −cᵀh − A_v(η_v(h)) + κ.

Binary (``RBMParams``), E = −bᵀv − cᵀh − vᵀWh: η_v(h) = b + Wh, η_h(v) = c + Wᵀv, κ = 0.

Gaussian (``GaussianRBMParams``), E = Σ (v_i − b_i)²/(2σ_i²) − cᵀh − Σ (v_i/σ_i²) W_ij h_j:
η_v(h) = ((b + Wh)/σ², 1/σ²) (precision-weighted mean, precision), η_h(v) =
c + Wᵀ(v/σ²), κ = Σ b_i²/(2σ_i²).

Categorical (``CategoricalRBMParams``), E = −Σ b[i, v_i] − cᵀh − Σ W[i, v_i, j] h_j:
η_v(h) = b + W·h ([n_v, q] logits), η_h(v) = c + Σ_i W[i, v_i, :], κ = 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from rbm_jax._src.units import GaussianNatural, units_of
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams

__all__ = [
    "Family",
    "family",
    "register_family",
    "visible_units",
    "hidden_units",
    "visible_natural",
    "hidden_natural",
    "energy",
    "statistics",
    "free_energy",
    "hidden_free_energy",
    "prob_h_given_v",
    "prob_v_given_h",
    "log_prob_v_given_h",
    "log_prob_h_given_v",
    "sample_h_given_v",
    "sample_v_given_h",
    "visible_self_energy",
    "visible_constant",
    "state_dtype",
    "Reference",
    "reference_of",
    "uniform_reference",
    "tempering_reference",
    "reference_energy",
    "sample_reference_v",
    "path_free_energy",
    "reference_log_partition",
    "zero_sum_gauge",
]


@dataclasses.dataclass(frozen=True)
class Family:
    """How one params type couples its layers (all functions traceable, batch axes leading)."""

    visible_natural: Callable  # (params, h [..., n_h]) -> η_v [..., n_v, ...]
    hidden_natural: Callable  # (params, v [..., n_v]) -> η_h [..., n_h]
    visible_self_energy: Callable  # (params, v) -> [...] the visible terms of E without h
    energy: Callable  # (params, v, h) -> [...] the joint energy
    statistics: Callable  # (params, v [n, n_v], mean_h [n, n_h]) -> params-shaped mean of −∂E/∂θ
    visible_constant: Callable = lambda params: 0.0  # κ: the part of E_v that depends on neither layer


_FAMILIES: dict[type, Family] = {}


def register_family(params_type: type, fam: Family) -> None:
    """Makes ``params_type`` usable by every sampler, estimator and reference of the library."""
    _FAMILIES[params_type] = fam


def family(params) -> Family:
    try:
        return _FAMILIES[type(params)]
    except KeyError:
        raise TypeError(f"no RBM family is registered for {type(params).__name__}") from None


def visible_units(params):
    """The visible layer's unit type (bound to q for categorical units)."""
    return units_of(type(params).visible_units, getattr(params, "n_states", None))


def hidden_units(params):
    return units_of(type(params).hidden_units)


def state_dtype(params):
    """The dtype of a visible configuration: the params' dtype, or int32 for categorical units."""
    return visible_units(params).state_dtype(params.dtype)


# --------------------------------------------------------------------------
# The binary family.


def _binary_energy(params: RBMParams, v, h):
    # vᵀWh is computed as (vW)·h; for batches this is a matmul then a row-wise dot.
    return -(v @ params.b) - (h @ params.c) - jnp.sum((v @ params.W) * h, axis=-1)


def _binary_statistics(params: RBMParams, v, mean_h):
    # The mean of −∂E/∂θ over rows, with h replaced by E[h | v] (Rao-Blackwellised):
    # (⟨v hᵀ⟩, ⟨v⟩, ⟨h⟩).
    n = v.shape[0]
    return RBMParams(v.T @ mean_h / n, jnp.mean(v, axis=0), jnp.mean(mean_h, axis=0))


register_family(RBMParams, Family(
    visible_natural=lambda p, h: p.b + h @ p.W.T,
    hidden_natural=lambda p, v: p.c + v @ p.W,
    visible_self_energy=lambda p, v: -(v @ p.b),
    energy=_binary_energy,
    statistics=_binary_statistics,
))


# --------------------------------------------------------------------------
# The Gaussian family (Gaussian visible units, binary hidden units).


def _precision(params: GaussianRBMParams):
    return jnp.exp(-2 * params.log_sigma)  # 1/σ²


def _gaussian_visible_natural(p: GaussianRBMParams, h):
    prec = _precision(p)
    mean = p.b + h @ p.W.T
    return GaussianNatural(mean * prec, jnp.broadcast_to(prec, mean.shape))


def _gaussian_self_energy(p: GaussianRBMParams, v):
    return 0.5 * jnp.sum((v - p.b) ** 2 * _precision(p), axis=-1)


def _gaussian_energy(p: GaussianRBMParams, v, h):
    return _gaussian_self_energy(p, v) - h @ p.c - jnp.sum(((v * _precision(p)) @ p.W) * h, axis=-1)


def _gaussian_statistics(p: GaussianRBMParams, v, mean_h):
    # −∂E/∂θ with h replaced by E[h | v]: W: (v/σ²) hᵀ; b: (v − b)/σ²; c: h;
    # log σ: ((v − b)² − 2 v (Wh)) / σ².
    n = v.shape[0]
    prec = _precision(p)
    vs = v * prec
    return GaussianRBMParams(
        vs.T @ mean_h / n,
        jnp.mean((v - p.b) * prec, axis=0),
        jnp.mean(mean_h, axis=0),
        jnp.mean(((v - p.b) ** 2 - 2 * v * (mean_h @ p.W.T)) * prec, axis=0),
    )


register_family(GaussianRBMParams, Family(
    visible_natural=_gaussian_visible_natural,
    hidden_natural=lambda p, v: p.c + (v * _precision(p)) @ p.W,
    visible_self_energy=_gaussian_self_energy,
    energy=_gaussian_energy,
    statistics=_gaussian_statistics,
    visible_constant=lambda p: 0.5 * jnp.sum(p.b ** 2 * _precision(p)),
))


# --------------------------------------------------------------------------
# The categorical (Potts) family: q-state visible units, binary hidden units.


def _one_hot_flat(p: CategoricalRBMParams, v):
    """[..., n_v] int states -> [..., n_v·q] one-hot rows in the params' dtype."""
    x = visible_units(p).one_hot(v, p.dtype)
    return x.reshape(*x.shape[:-2], -1)


def _categorical_hidden_natural(p: CategoricalRBMParams, v):
    return p.c + _one_hot_flat(p, v) @ p.W.reshape(-1, p.W.shape[-1])


def _categorical_energy(p: CategoricalRBMParams, v, h):
    return (-visible_units(p).dot(v, p.b) - h @ p.c
            - jnp.sum((_one_hot_flat(p, v) @ p.W.reshape(-1, p.W.shape[-1])) * h, axis=-1))


def _categorical_statistics(p: CategoricalRBMParams, v, mean_h):
    n = v.shape[0]
    x = _one_hot_flat(p, v)  # [n, n_v·q]
    return CategoricalRBMParams((x.T @ mean_h / n).reshape(p.W.shape),
                                jnp.mean(x, axis=0).reshape(p.b.shape), jnp.mean(mean_h, axis=0))


def zero_sum_gauge(p: CategoricalRBMParams) -> CategoricalRBMParams:
    """The same P(v, h) with Σ_a b[i, a] = 0 and Σ_a W[i, a, j] = 0 (c absorbs W's state means)."""
    w_mean = jnp.mean(p.W, axis=1)  # [n_v, n_h]
    return CategoricalRBMParams(p.W - w_mean[:, None, :], p.b - jnp.mean(p.b, axis=-1, keepdims=True),
                                p.c + jnp.sum(w_mean, axis=0))


register_family(CategoricalRBMParams, Family(
    visible_natural=lambda p, h: p.b + jnp.einsum("...j,iaj->...ia", h, p.W),
    hidden_natural=_categorical_hidden_natural,
    visible_self_energy=lambda p, v: -visible_units(p).dot(v, p.b),
    energy=_categorical_energy,
    statistics=_categorical_statistics,
))


# --------------------------------------------------------------------------
# Generic model math.


def visible_natural(params, h):
    """η of P(v | h): b + Wh for binary units."""
    return family(params).visible_natural(params, h)


def hidden_natural(params, v):
    """η of P(h | v): c + Wᵀv for binary units."""
    return family(params).hidden_natural(params, v)


def visible_self_energy(params, v):
    return family(params).visible_self_energy(params, v)


def energy(params, v, h):
    return family(params).energy(params, v, h)


def statistics(params, v, mean_h):
    """Mean sufficient statistics −∂E/∂θ over the rows of v, h replaced by E[h | v]: params-shaped."""
    return family(params).statistics(params, v, mean_h)


def free_energy(params, v):
    """F(v) = −log Σ_h exp(−E(v, h)) = E_v(v) − A_h(η_h(v))."""
    return visible_self_energy(params, v) - hidden_units(params).log_normaliser(hidden_natural(params, v))


def visible_constant(params):
    """κ, the part of the energy that depends on neither layer (Gaussian units: Σ b²/(2σ²))."""
    return family(params).visible_constant(params)


def hidden_free_energy(params, h):
    """F_h(h) = −log Σ_v exp(−E(v, h)) = −cᵀh − A_v(η_v(h)) + κ (an integral for Gaussian units)."""
    return (-(h @ params.c) - visible_units(params).log_normaliser(visible_natural(params, h))
            + visible_constant(params))


def prob_h_given_v(params, v):
    return hidden_units(params).mean(hidden_natural(params, v))


def prob_v_given_h(params, h):
    return visible_units(params).mean(visible_natural(params, h))


def log_prob_v_given_h(params, v, h):
    return visible_units(params).log_prob(v, visible_natural(params, h))


def log_prob_h_given_v(params, h, v):
    return hidden_units(params).log_prob(h, hidden_natural(params, v))


def sample_h_given_v(key, params, v):
    return hidden_units(params).sample(key, hidden_natural(params, v))


def sample_v_given_h(key, params, h):
    return visible_units(params).sample(key, visible_natural(params, h))


# --------------------------------------------------------------------------
# The path between a reference of independent units and the model.


def path_free_energy(params, reference, beta, v):
    """F_β(v) on the path ∝ exp(−β E(v, h) − (1 − β) E_ref(v, h)), the hidden layer summed out.

    ``reference`` holds the natural parameters (``.v``, ``.h``) of independent
    units, whose energy is E_ref(v, h) = −⟨η_ref,v, T(v)⟩ − ⟨η_ref,h, h⟩. So
    F_β(v) = β E_v(v) − (1 − β) ⟨η_ref,v, T(v)⟩ − A_h(β η_h(v) + (1 − β) η_ref,h);
    F_1 is the model's free energy, and exp(−F_0) the reference's unnormalised P(v).
    """
    units_v, units_h = visible_units(params), hidden_units(params)
    eta_h = units_h.mix(hidden_natural(params, v), reference.h, beta)
    return (beta * visible_self_energy(params, v) - (1 - beta) * units_v.dot(v, reference.v)
            - units_h.log_normaliser(eta_h))


class Reference(NamedTuple):
    """Natural parameters of a reference model of independent units (no couplings)."""

    v: Any  # η of the visible units: [n_visible] (binary), GaussianNatural, or [n_visible, q]
    h: jax.Array  # η of the hidden units [n_hidden]


def reference_of(params, data=None, smoothing=1.0) -> Reference:
    """The reference of independent units at the data's statistics (the base-rate model), or
    without data the visible units' own conditional at h = 0 (binary: σ(b); Gaussian: N(b, σ²);
    categorical: softmax(b)) with uniform hidden units.

    Args:
      data: [n_rows, n_visible] configurations (checked by the caller), or None.
      smoothing: pseudo-count of discrete units' frequencies (a variance floor's scale for Gaussian units).
    """
    if data is None:
        eta_v = visible_natural(params, jnp.zeros((params.n_hidden,), params.dtype))
    else:
        eta_v = visible_units(params).base_rate(data, smoothing, params.dtype)
    return Reference(eta_v, jnp.zeros((params.n_hidden,), params.dtype))


def reference_energy(params, reference: Reference, v, h):
    """E_ref(v, h) = −⟨η_ref,v, T(v)⟩ − ⟨η_ref,h, h⟩, the reference's joint energy (no couplings).

    With it the reference path's joint log density is −β E − (1 − β) E_ref
    = −E_ref − β (E − E_ref), so a PT swap between rungs β_i, β_j sees E − E_ref
    where the tempered path sees E.
    """
    return -visible_units(params).dot(v, reference.v) - hidden_units(params).dot(h, reference.h)


def uniform_reference(params) -> Reference:
    """The reference of uniform units where they exist: η = 0 for binary and categorical
    visible units (each state equally likely); Gaussian units have no uniform law, so they get
    their own conditional at h = 0, N(b, σ²). Hidden units uniform."""
    units_v = visible_units(params)
    if units_v.n_states is None:
        eta_v = visible_natural(params, jnp.zeros((params.n_hidden,), params.dtype))
    else:
        eta_v = jnp.zeros_like(visible_natural(params, jnp.zeros((params.n_hidden,), params.dtype)))
    return Reference(eta_v, jnp.zeros((params.n_hidden,), params.dtype))


def tempering_reference(params, data=None, smoothing=1.0) -> Reference:
    """The β = 0 end of tempering's reference path: the base-rate model of ``data``
    (``reference_of``), or without data ``uniform_reference``."""
    return uniform_reference(params) if data is None else reference_of(params, data, smoothing)


def sample_reference_v(key, params, reference: Reference, n: int):
    """n iid draws of the reference's visible units: [n, n_visible]."""
    eta = jax.tree_util.tree_map(lambda e: jnp.broadcast_to(e, (n, *e.shape)), reference.v)
    return visible_units(params).sample(key, eta)


def reference_log_partition(params, reference):
    """log Z of the reference model of independent units: A_v(η_ref,v) + A_h(η_ref,h)."""
    return visible_units(params).log_normaliser(reference.v) + hidden_units(params).log_normaliser(reference.h)


