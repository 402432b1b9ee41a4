"""Ladder arithmetic of non-reversible parallel tempering (traceable, vmappable).

Syed, Bouchard-Côté, Deligiannidis & Doucet (2021) show that with the
deterministic even-odd swap scheme and well-mixed rungs, a ladder whose pairs
reject swaps with rates r_i has round-trip rate (round trips per swap phase,
all replicas together)

    τ = 1 / (2 + 2 Σ_i r_i / (1 − r_i)),

and that as the ladder is refined Σ r_i tends to the path's *global
communication barrier* Λ, so τ → 1 / (2 + 2 Λ). For a fixed number of rungs τ
is largest when every pair rejects equally often; the cumulative barrier
Λ(β) = Σ of the rejections of the pairs below β is estimated at the rungs,
interpolated monotonically (piecewise linear), and inverted at equal steps:
``respace``. Shared by ``rbm_jax.tempering`` and the PT training estimator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["respace", "round_trip_rate_theory", "round_trip_rate_limit", "MIN_REJECTION"]

#: Floor of a pair's rejection rate when re-spacing: a pair that never rejected still spans a
#: sliver of barrier, so the cumulative barrier is strictly increasing and its inverse unique.
MIN_REJECTION = 1e-6


def respace(betas: jax.Array, rejection: jax.Array) -> jax.Array:
    """A ladder with the same ends whose pairs would reject equally often.

    Args:
      betas: [n_temps] decreasing ladder (β_0 = 1 first).
      rejection: [n_temps − 1] rejection rate of pair (β_i, β_{i+1}).

    Returns:
      [n_temps] decreasing ladder: β at equal steps of the cumulative barrier
      Λ(β), itself the piecewise-linear interpolation of the rungs' cumulative
      rejections from the low end (a monotone interpolation, so the inverse
      exists); the ends are kept exactly.
    """
    x = betas[::-1]  # increasing: from the reference end up to β = 1
    r = jnp.maximum(rejection[::-1], MIN_REJECTION).astype(x.dtype)
    lam = jnp.concatenate([jnp.zeros((1,), x.dtype), jnp.cumsum(r)])
    levels = lam[-1] * jnp.linspace(0, 1, x.shape[0], dtype=x.dtype)
    new = jnp.interp(levels, lam, x)
    new = new.at[0].set(x[0]).at[-1].set(x[-1])
    return new[::-1]


def round_trip_rate_theory(rejection: jax.Array) -> jax.Array:
    """1 / (2 + 2 Σ r_i / (1 − r_i)): non-reversible PT's round trips per swap phase."""
    r = jnp.asarray(rejection)
    return 1 / (2 + 2 * jnp.sum(r / (1 - r), axis=-1))


def round_trip_rate_limit(barrier) -> jax.Array:
    """1 / (2 + 2 Λ): the round-trip rate of a refined ladder on a path with barrier Λ."""
    return 1 / (2 + 2 * jnp.asarray(barrier))
