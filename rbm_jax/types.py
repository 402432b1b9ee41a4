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

__all__ = ["RBMParams", "GibbsState", "PTState", "TrainState"]


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

    @property
    def n_hidden(self) -> int:
        return self.c.shape[-1]

    @property
    def dtype(self):
        """The floating dtype of the parameters (and of every output computed from them)."""
        return self.c.dtype


class GibbsState(NamedTuple):
    """A joint sample (v, h) of one chain, carried by the scan."""

    v: jax.Array  # [..., n_visible] a visible configuration
    h: jax.Array  # [..., n_hidden]  0./1., a draw from P(h | v) (at the chain's β)


class PTState(NamedTuple):
    """One parallel-tempering system: a joint sample per rung, and swap counters."""

    v: jax.Array  # [n_temps, n_visible]; rung 0 is β = 1, the model itself
    h: jax.Array  # [n_temps, n_hidden]
    accepted: jax.Array  # [n_temps - 1] int32, accepted swaps of pair (i, i+1)
    attempted: jax.Array  # [n_temps - 1] int32, attempted swaps of pair (i, i+1)


class TrainState(NamedTuple):
    """Everything training carries from one update to the next (a pytree)."""

    params: Any  # a params type (RBMParams)
    opt_state: Any  # optax state; the default optimizer keeps the learning rate here, once
    chains: Any  # None (CD), GibbsState [n_chains, ...] (PCD) or PTState [n_chains, ...] (PT)
    key: jax.Array  # base key: update t uses fold_in(split(key)[0], t)
    step: jax.Array  # [] int32, updates done so far
