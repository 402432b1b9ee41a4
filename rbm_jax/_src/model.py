"""Model math for every params type, written once through the unit protocol (``units.py``).

A *family* says how a params type couples its two layers: the natural
parameters of each layer's conditional given the other, and the visible
layer's own energy. Everything else — energies, free energies, conditionals,
samplers — is generic here, so a new family is one ``Family`` entry plus its
unit type. Unchecked and traceable: public modules validate first.

For the binary RBM (``RBMParams``), E(v, h) = −bᵀv − cᵀh − vᵀWh:

    η_v(h) = b + Wh,   η_h(v) = c + Wᵀv,
    F(v)   = −bᵀv − A_h(η_h(v)),       F_h(h) = −cᵀh − A_v(η_v(h)).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp

from rbm_jax._src.units import UNITS
from rbm_jax.types import RBMParams

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
    "path_free_energy",
    "reference_log_partition",
]


@dataclasses.dataclass(frozen=True)
class Family:
    """How one params type couples its layers (all functions traceable, batch axes leading)."""

    visible_natural: Callable  # (params, h [..., n_h]) -> η_v [..., n_v, ...]
    hidden_natural: Callable  # (params, v [..., n_v]) -> η_h [..., n_h]
    visible_self_energy: Callable  # (params, v) -> [...] the visible terms of E without h
    energy: Callable  # (params, v, h) -> [...] the joint energy
    statistics: Callable  # (params, v [n, n_v], mean_h [n, n_h]) -> params-shaped mean of −∂E/∂θ


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
    return UNITS[type(params).visible_units]


def hidden_units(params):
    return UNITS[type(params).hidden_units]


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


def hidden_free_energy(params, h):
    """F_h(h) = −log Σ_v exp(−E(v, h)) = −cᵀh − A_v(η_v(h))."""
    return -(h @ params.c) - visible_units(params).log_normaliser(visible_natural(params, h))


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


def reference_log_partition(params, reference):
    """log Z of the reference model of independent units: A_v(η_ref,v) + A_h(η_ref,h)."""
    return visible_units(params).log_normaliser(reference.v) + hidden_units(params).log_normaliser(reference.h)


