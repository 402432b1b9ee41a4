"""The library's parameter and state types: NamedTuple pytrees, with no behaviour of their own.

This module imports nothing from the package, so every other module (and the
validation layer ``rbm_jax._checks``) can import it without a cycle.

A params type names its unit types (``visible_units``, ``hidden_units``, keys of
``rbm_jax._src.units.UNITS``) and answers every shape question through
``n_visible`` and ``n_hidden``: code elsewhere never reads ``W.shape``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

__all__ = ["RBMParams", "GaussianRBMParams", "CategoricalRBMParams", "PARAMS_TYPES", "GibbsState", "PTState", "TrainState", "Offsets"]


# Shape questions every params type answers the same way (NamedTuples take no mixins).
_N_HIDDEN = property(lambda self: self.c.shape[-1], doc="Number of hidden units.")
_DTYPE = property(lambda self: self.c.dtype,
                  doc="The floating dtype of the parameters (and of every output computed from them).")


class RBMParams(NamedTuple):
    """Parameters of a binary RBM, E(v, h) = −bᵀv − cᵀh − vᵀWh (a pytree)."""

    W: jax.Array  # [n_visible, n_hidden] couplings
    b: jax.Array  # [n_visible] visible biases
    c: jax.Array  # [n_hidden] hidden biases

    # Which unit type each layer has (see rbm_jax._src.units); class attributes, not fields.
    visible_units = "bernoulli"
    hidden_units = "bernoulli"

    @property
    def n_visible(self) -> int:
        return self.b.shape[-1]

    n_hidden = _N_HIDDEN
    dtype = _DTYPE


class GaussianRBMParams(NamedTuple):
    """Parameters of a Gaussian-Bernoulli RBM (Cho, Ilin & Raiko 2011), a pytree.

    E(v, h) = Σ_i (v_i − b_i)²/(2σ_i²) − cᵀh − Σ_ij (v_i/σ_i²) W_ij h_j with σ = exp(log_sigma):
    P(v | h) = N(b + Wh, diag σ²), P(h_j = 1 | v) = σ(c_j + Σ_i v_i W_ij / σ_i²).
    """

    W: jax.Array  # [n_visible, n_hidden] couplings
    b: jax.Array  # [n_visible] visible means (at h = 0)
    c: jax.Array  # [n_hidden] hidden biases
    log_sigma: jax.Array  # [n_visible] log standard deviations of P(v | h) (learnable)

    visible_units = "gaussian"
    hidden_units = "bernoulli"

    @property
    def n_visible(self) -> int:
        return self.b.shape[-1]

    n_hidden = _N_HIDDEN
    dtype = _DTYPE


class CategoricalRBMParams(NamedTuple):
    """Parameters of a categorical (Potts) RBM with q states per visible site, a pytree.

    E(v, h) = −Σ_i b[i, v_i] − cᵀh − Σ_ij W[i, v_i, j] h_j, v integer-coded in {0, …, q−1}.

    Gauge: adding g_i to b[i, ·] changes nothing but log Z; adding g_ij to
    W[i, ·, j] and subtracting Σ_i g_ij from c_j leaves E unchanged up to a constant. So P(v)
    is the same for every gauge; ``rbm.zero_sum_gauge`` picks the one with
    Σ_a b[i, a] = 0 and Σ_a W[i, a, j] = 0, in which to compare parameters.
    """

    W: jax.Array  # [n_visible, n_states, n_hidden] couplings
    b: jax.Array  # [n_visible, n_states] visible fields
    c: jax.Array  # [n_hidden] hidden biases

    visible_units = "categorical"
    hidden_units = "bernoulli"

    @property
    def n_visible(self) -> int:
        return self.b.shape[-2]

    @property
    def n_states(self) -> int:
        """q, the number of states of each visible site."""
        return self.b.shape[-1]

    n_hidden = _N_HIDDEN
    dtype = _DTYPE


#: Every params type (the RBM families), in the order of ``rbm.FAMILIES``.
PARAMS_TYPES = (RBMParams, GaussianRBMParams, CategoricalRBMParams)


class GibbsState(NamedTuple):
    """A joint sample (v, h) of one chain, carried by the scan."""

    v: jax.Array  # [..., n_visible] a visible configuration (int32 for categorical units)
    h: jax.Array  # [..., n_hidden]  0./1., a draw from P(h | v) (at the chain's β)


class PTState(NamedTuple):
    """One parallel-tempering system: a joint sample per rung, swap counters and round trips."""

    v: jax.Array  # [n_temps, n_visible]; rung 0 is β = 1, the model itself
    h: jax.Array  # [n_temps, n_hidden]
    accepted: jax.Array  # [n_temps - 1] int32, accepted swaps of pair (i, i+1)
    attempted: jax.Array  # [n_temps - 1] int32, attempted swaps of pair (i, i+1)
    # Round trips (reference end -> target end -> reference end), tracked per replica: the
    # label of the sample on each rung moves with it when swaps permute the samples.
    direction: jax.Array  # [n_temps] int32: +1 heading to the target (last end visited: the
    #                        reference, rung n_temps - 1), -1 heading back (last end: rung 0), 0 neither yet
    round_trips: jax.Array  # [] int32, round trips completed (replicas back at the reference after the target)
    n_phases: jax.Array  # [] int32, swap phases done (a phase swaps the even pairs or the odd pairs)


class TrainState(NamedTuple):
    """Everything training carries from one update to the next (a pytree)."""

    params: Any  # a params type (RBMParams)
    opt_state: Any  # optax state; the default optimizer keeps the learning rate here, once
    chains: Any  # None (CD), GibbsState [n_chains, ...] (PCD) or PTState [n_chains, ...] (PT)
    key: jax.Array  # base key: update t uses fold_in(split(key)[0], t)
    step: jax.Array  # [] int32, updates done so far
    offsets: Any = None  # centered training: Offsets(mu [n_visible], lam [n_hidden]); None otherwise


class Offsets(NamedTuple):
    """The centering offsets of a binary RBM (Melchior, Fischer & Wiskott 2016).

    In centered coordinates E(v, h) = −(v−μ)ᵀW(h−λ) − (v−μ)ᵀb_c − (h−λ)ᵀc_c, the same model as
    ``RBMParams(W, b_c − Wλ, c_c − Wᵀμ)`` up to a constant.
    """

    mu: jax.Array  # [n_visible] visible offset μ
    lam: jax.Array  # [n_hidden] hidden offset λ
