"""Jitted cores of the MCMC diagnostics and Monte Carlo estimators (internal).

Shared by ``rbm_jax.diagnostics`` (ESS, τ̂, R-hat, autocorrelation),
``rbm_jax.montecarlo`` (``mcmc_mean``, importance sampling, ``log_mean_exp``)
and ``rbm_jax.ais`` (log Z from the runs' log weights). These take arrays that
the public modules have already checked at the Python boundary
(``rbm_jax._checks``) and run with static shapes; the definitions, formulas and
references are documented on the public functions that call them.

Layout: the split-chain cores take the canonical time-major layout
``[n_draws, n_chains, *event]`` (``canonical`` moves a checked trace's axes
there, traced); the weight cores take log weights with the draws on axis 0.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_TAIL_PROBS = (0.05, 0.95)


class Estimate(NamedTuple):
    """A Monte Carlo estimate with its standard error."""

    mean: jax.Array  # [*event] the estimate (for log_mean_exp: the log of the mean)
    stderr: jax.Array  # [*event] its estimated standard error (Monte Carlo, 1 sd)
    ess: jax.Array  # [*event] the effective sample size behind it (see each estimator)


# Public as rbm_jax.montecarlo.Estimate: its repr and pickles name that home.
Estimate.__module__ = "rbm_jax.montecarlo"


# --------------------------------------------------------------------------
# Split-chain cores. Canonical layout [n_draws, n_chains, *event]; shapes static.


def canonical(x: jax.Array, axes: tuple[int, int | None]) -> jax.Array:
    """Moves (draw_axis, chain_axis) to the front: [n_draws, n_chains, *event] (traced)."""
    d, c = axes
    if c is None:
        return jnp.expand_dims(jnp.moveaxis(x, d, 0), 1)
    return jnp.moveaxis(x, (d, c), (0, 1))


def _fft_length(n: int) -> int:
    """A power of two >= 2n - 1: circular correlation of that length is linear."""
    return 1 << max(0, (2 * n - 1 - 1).bit_length())


def autocov_core(x: jax.Array) -> jax.Array:
    """Biased autocovariance along axis 0 via FFT: [n, ...] -> [n, ...]."""
    n = x.shape[0]
    # Centre after shifting by the first draw: a constant series is then exactly
    # zero (no round-off from its mean), and large offsets lose no precision.
    shifted = x - x[:1]
    centred = shifted - jnp.mean(shifted, axis=0, keepdims=True)
    m = _fft_length(n)
    f = jnp.fft.rfft(centred, n=m, axis=0)
    power = f.real**2 + f.imag**2
    acov = jnp.fft.irfft(power, n=m, axis=0)[:n] / n
    return acov.astype(x.dtype)


def split_chains(x: jax.Array) -> jax.Array:
    """[n_draws, n_chains, ...] -> [n_draws // 2, 2 n_chains, ...]; odd: middle draw dropped."""
    half = x.shape[0] // 2
    return jnp.concatenate([x[:half], x[x.shape[0] - half :]], axis=1)


def rank_normalise(x: jax.Array) -> jax.Array:
    """z = Φ⁻¹((r - 3/8) / (N + 1/4)) with r the average rank among all N draws and chains."""
    n, m = x.shape[:2]
    total = n * m
    flat = x.reshape((total, -1))
    iota = lax.broadcasted_iota(jnp.int32, flat.shape, 0)
    # Two ordinal rankings, ties broken by index ascending (a) and descending (b):
    # inside a tie group occupying sorted positions s..e they are reversed, so
    # a + b = s + e and (a + b)/2 is the tie group's average (0-based) rank. Sorts
    # only (each ranking = a sort, then a sort of the permutation to invert it).
    _, perm_a = lax.sort((flat, iota), dimension=0, num_keys=1, is_stable=True)
    _, _, perm_b = lax.sort((flat, -iota, iota), dimension=0, num_keys=2)
    _, rank_a = lax.sort((perm_a, iota), dimension=0, num_keys=1)
    _, rank_b = lax.sort((perm_b, iota), dimension=0, num_keys=1)
    t = (rank_a + rank_b + 1).astype(x.dtype)  # 2r - 1 with r the 1-based average rank; exact
    # u = (r - 3/8) / (N + 1/4) = (t + 1/4) / (2N + 1/2); the upper half goes through
    # 1 - u = (2N + 1/4 - t) / (2N + 1/2), exact too, so both tails keep full precision.
    denom = 2 * total + 0.5
    lower = t <= total  # u <= 1/2
    p = jnp.where(lower, t + 0.25, 2 * total + 0.25 - t) / denom
    z = jax.scipy.special.ndtri(p)
    return jnp.where(lower, z, -z).reshape(x.shape)


def _ess_tau(y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(ESS, τ̂) of split chains ``y`` [n, M, ...], Geyer's initial monotone sequence."""
    n, m = y.shape[:2]
    dtype = y.dtype
    total = n * m
    acov = autocov_core(y)  # [n, M, ...]
    gamma0 = jnp.mean(acov[0], axis=0)  # (1/M) Σ_m γ̂_{0,m}
    mean_var = gamma0 * (n / (n - 1.0))  # W
    shifted = y - y[:1, :1]
    var_plus = gamma0 + jnp.var(jnp.mean(shifted, axis=0), axis=0, ddof=1)  # var⁺
    constant = var_plus <= 0  # every draw identical (exactly, thanks to the shift)
    safe_var_plus = jnp.where(constant, 1, var_plus)
    rho = 1 - (mean_var - jnp.mean(acov, axis=1)) / safe_var_plus  # [n, ...]
    rho = rho.at[0].set(1)

    n_pairs = max((n - 3) // 2, 0) + 1  # pairs P_0 .. P_K, K = max(⌊(n-3)/2⌋, 0)
    even = rho[0 : 2 * n_pairs : 2]
    pairs = even + rho[1 : 2 * n_pairs : 2]  # P_k = ρ_2k + ρ_2k+1
    k_idx = jnp.arange(n_pairs).reshape((-1,) + (1,) * (pairs.ndim - 1))
    nonpositive = pairs <= 0
    # Initial positive sequence: stop at the first P_k <= 0 (or at K).
    k_end = jnp.where(jnp.any(nonpositive, axis=0), jnp.argmax(nonpositive, axis=0), n_pairs - 1)
    # Initial monotone sequence: each P_k replaced by min(P_0, ..., P_k).
    monotone = lax.cummin(pairs, axis=0)
    pair_sum = jnp.sum(jnp.where(k_idx < k_end, monotone, 0), axis=0)
    rho_last = jnp.take_along_axis(even, k_end[None], axis=0)[0]
    pair_last = jnp.take_along_axis(pairs, k_end[None], axis=0)[0]
    last = jnp.where((pair_last >= 0) | (rho_last > 0), rho_last, 0)
    tau = -1 + 2 * pair_sum + last
    tau = jnp.maximum(tau, float(1 / np.log10(total)))  # Stan's cap: ESS <= N log10 N
    tau = jnp.where(constant, 1, tau).astype(dtype)
    return (total / tau).astype(dtype), tau


@functools.partial(jax.jit, static_argnames=("method", "axes"))
def ess_core(x: jax.Array, method: str, axes=(0, 1)) -> tuple[jax.Array, jax.Array]:
    """(ESS, τ̂) [*event] of a checked trace ``x`` for ``method`` "bulk", "mean" or "tail".

    ``axes`` is the ``(draw_axis, chain_axis)`` of ``x`` (see ``canonical``).
    The estimator is documented on ``rbm_jax.diagnostics.ess``.
    """
    x = canonical(x, axes)
    if method == "mean":
        return _ess_tau(split_chains(x))
    if method == "bulk":
        return _ess_tau(rank_normalise(split_chains(x)))
    # tail: min over the 5% and 95% quantile indicators I(x <= q), computed side by
    # side on a trailing axis of length 2 (one traced copy of the ESS code).
    flat = x.reshape((-1,) + x.shape[2:])
    q = jnp.quantile(flat, jnp.asarray(_TAIL_PROBS, x.dtype), axis=0)  # [2, *event], type 7
    indicators = (x[..., None] <= jnp.moveaxis(q, 0, -1)).astype(x.dtype)  # [n, m, *event, 2]
    ess, tau = _ess_tau(split_chains(indicators))
    lo = ess[..., 0] <= ess[..., 1]
    return jnp.where(lo, ess[..., 0], ess[..., 1]), jnp.where(lo, tau[..., 0], tau[..., 1])


# --------------------------------------------------------------------------
# Weight cores. Log weights with the draws along axis 0 (traced).


def shifted_weights(log_w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(exp(log_w - m), m) with m the max over axis 0 (0 where all weights are 0)."""
    m = jnp.max(log_w, axis=0)
    m = jnp.where(jnp.isfinite(m), m, 0)
    return jnp.exp(log_w - m), m


def kish_core(log_w: jax.Array) -> jax.Array:
    """Kish's ``(Σ w)² / Σ w²`` over axis 0 of weights given as ``log_w``; 0 if all are 0."""
    w, _ = shifted_weights(log_w)  # max weight 1: no overflow; equal weights stay exact
    s1, s2 = jnp.sum(w, axis=0), jnp.sum(w**2, axis=0)
    ok = s2 > 0
    return jnp.where(ok, s1**2 / jnp.where(ok, s2, 1), 0).astype(log_w.dtype)


@functools.partial(jax.jit, static_argnames="axis")
def log_mean_exp_core(log_w: jax.Array, axis: int = 0) -> Estimate:
    """``Estimate`` of log((1/n) Σ exp(log_w)) along ``axis`` (see ``montecarlo.log_mean_exp``)."""
    log_w = jnp.moveaxis(log_w, axis, 0)
    n = log_w.shape[0]
    dtype = log_w.dtype
    w, m = shifted_weights(log_w)
    mean_w = jnp.mean(w, axis=0)  # in units of exp(m)
    ok = mean_w > 0
    safe = jnp.where(ok, mean_w, 1)
    log_mean = jnp.where(ok, m + jnp.log(safe), -jnp.inf)
    rel_sd = jnp.std(w, axis=0, ddof=1) / safe  # sd(w) / mean(w), scale-free
    stderr = jnp.where(ok, rel_sd / jnp.sqrt(jnp.asarray(n, dtype)), jnp.inf)
    return Estimate(log_mean.astype(dtype), stderr.astype(dtype), kish_core(log_w))
