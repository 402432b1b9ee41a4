"""MCMC diagnostics: autocorrelation, integrated autocorrelation time, ESS, split R-hat.

Contract:
  * Layout is time-major, as the library's Gibbs trace: ``x`` is
    ``[n_draws, n_chains, *event]`` — draws along ``draw_axis`` (default 0),
    independent chains along ``chain_axis`` (default 1), and any further
    ``event`` axes are separate scalar quantities, each diagnosed on its own
    (one ESS per visible unit, say). ``chain_axis=None`` means one chain:
    ``x`` is then ``[n_draws, *event]``. Results have shape ``[*event]`` (the
    remaining axes of ``x`` in their original order). Note that ArviZ lays its
    arrays out the other way round, ``[chain, draw, *event]``.
  * Multi-chain statistics split every chain into halves first (Vehtari et
    al. 2021): with an odd number of draws the middle draw is dropped, so a
    run of ``n_draws`` draws on ``n_chains`` chains becomes
    ``2 n_chains`` chains of ``n_draws // 2`` draws. They need
    ``n_draws >= 4``.
  * The definitions are those of Stan and ArviZ 0.23 (``arviz.ess``,
    ``arviz.rhat``, ``arviz.autocorr``) and agree with them to float64
    round-off, except where a function's docstring says otherwise (constant
    input, and R-hat of a single chain).
  * Integer and boolean traces (the 0/1 states of an RBM Gibbs chain) are
    accepted and promoted to the default float type; floating input keeps its
    dtype (float32 by default, float64 when the caller enables x64), and so do
    the outputs (half precision is promoted to float32).
  * Arguments are checked at the Python boundary (shapes always; NaN/inf when
    the values are concrete, i.e. not under a caller's ``jit``/``vmap``); the
    jitted cores then run with static shapes.

References:
  Geyer (1992), Practical Markov chain Monte Carlo, Statistical Science 7(4).
  Vehtari, Gelman, Simpson, Carpenter, Bürkner (2021), Rank-normalization,
  folding, and localization: an improved R-hat for assessing convergence of
  MCMC, Bayesian Analysis 16(2).
  Stan Reference Manual, "Effective sample size" and "Potential scale reduction".
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from rbm_jax import _checks
from rbm_jax._src import mcmc_stats

__all__ = [
    "MIN_DRAWS",
    "autocovariance",
    "autocorrelation",
    "ess",
    "integrated_autocorr_time",
    "rhat",
]

#: Fewest draws per chain accepted by the split-chain statistics (ESS, τ, R-hat):
#: each half-chain then has at least 2 draws, enough for a sample variance.
MIN_DRAWS = _checks.MIN_DRAWS

_ESS_METHODS = ("bulk", "mean", "tail")
_RHAT_METHODS = ("rank", "split", "z_scale", "folded")


# --------------------------------------------------------------------------
# Validation (the checks shared with rbm_jax.montecarlo live in rbm_jax._checks)


def _method(method: Any, allowed: tuple[str, ...]) -> str:
    if method not in allowed:
        raise ValueError(f"method must be one of {allowed}, got {method!r}")
    return method


# --------------------------------------------------------------------------
# Jitted cores. Canonical layout [n_draws, n_chains, *event]; shapes static.
# The ESS core and the split-chain pieces that rbm_jax.montecarlo shares are in
# rbm_jax._src.mcmc_stats.


def _autocorr_core(x: jax.Array) -> jax.Array:
    acov = mcmc_stats.autocov_core(x)
    var = acov[:1]
    ok = var > 0
    lag0 = (jnp.arange(x.shape[0]) == 0).reshape((-1,) + (1,) * (x.ndim - 1))
    # A constant series: ρ_0 = 1 and ρ_t = 0 for t > 0 (nothing to correlate).
    return jnp.where(ok, acov / jnp.where(ok, var, 1), lag0.astype(x.dtype))


def _fold(x: jax.Array) -> jax.Array:
    """|x - median|, the median over all draws and chains."""
    med = jnp.median(x.reshape((-1,) + x.shape[2:]), axis=0)
    return jnp.abs(x - med)


def _rhat_core(y: jax.Array) -> jax.Array:
    """sqrt(((n-1)/n W + B/n) / W) of split chains ``y`` [n, M, ...].

    W = 0 (every chain constant): inf if the chains differ (B > 0), else NaN,
    which the callers resolve (see ``_rhat_jit``).
    """
    n = y.shape[0]
    dtype = y.dtype
    # Per-chain shift for the within-chain variance (a constant chain gives exactly 0)
    # and one global shift for the chain means (identical chains give equal means).
    within = jnp.mean(jnp.var(y - y[:1], axis=0, ddof=1), axis=0)  # W
    chain_means = jnp.mean(y - y[:1, :1], axis=0)
    between = n * jnp.var(chain_means, axis=0, ddof=1)  # B
    ok = within > 0
    value = jnp.sqrt((between / jnp.where(ok, within, 1) + n - 1) / n)
    # W = 0: every chain constant; differing ones never mix (inf); identical ones: 0/0.
    degenerate = jnp.where(between > 0, jnp.inf, jnp.nan)
    return jnp.where(ok, value, degenerate).astype(dtype)


@functools.partial(jax.jit, static_argnames=("method", "axes"))
def _rhat_jit(x: jax.Array, method: str, axes=(0, 1)) -> jax.Array:
    x = mcmc_stats.canonical(x, axes)
    y = mcmc_stats.split_chains(x)
    if method == "split":
        r = _rhat_core(y)
    elif method == "z_scale":
        r = _rhat_core(mcmc_stats.rank_normalise(y))
    elif method == "folded":
        r = _rhat_core(mcmc_stats.rank_normalise(_fold(y)))
    else:
        # rank: bulk and tail side by side on a trailing axis of length 2; the max of
        # those that are defined (a folded trace that is all one value says nothing).
        both = _rhat_core(mcmc_stats.rank_normalise(jnp.stack([y, _fold(y)], axis=-1)))
        r = jnp.fmax(both[..., 0], both[..., 1])
    # All draws identical: the chains agree.
    return jnp.where(jnp.isnan(r), 1, r).astype(x.dtype)


@functools.partial(jax.jit, static_argnames=("axis", "normalise"))
def _acf_jit(x: jax.Array, axis: int, normalise: bool) -> jax.Array:
    y = jnp.moveaxis(x, axis, 0)
    out = _autocorr_core(y) if normalise else mcmc_stats.autocov_core(y)
    return jnp.moveaxis(out, 0, axis)


# --------------------------------------------------------------------------
# Public, validated API


def _series(x: Any, axis: Any) -> tuple[jax.Array, int]:
    arr = _checks.float_array(x, "x")
    if arr.ndim < 1:
        raise ValueError("x must have a draw axis, got a scalar")
    a = _checks.axis_index(axis, arr.ndim, "axis")
    if arr.shape[a] < 1:
        raise ValueError(f"x has no draws along axis {a}, shape {arr.shape}")
    _checks.check_finite(arr, "x")
    return arr, a


def autocovariance(x, *, axis: int = 0) -> jax.Array:
    """Autocovariance of each series at every lag, via FFT.

    ``γ̂_t = (1/n) Σ_{s=0}^{n-1-t} (x_s - x̄)(x_{s+t} - x̄)`` for t = 0 .. n-1: the
    biased (1/n) estimator, which is positive semi-definite; ``γ̂_0`` is the
    variance with ddof=0. Computed with a zero-padded FFT of length a power of
    two >= 2n - 1, so O(n log n).

    Args:
      x: [..., n, ...] series along ``axis`` (draws); every other axis (chains,
        units) is a separate series.
      axis: the draw (time) axis; 0 for a time-major trace ``[n_draws, n_chains, ...]``.

    Returns:
      Same shape as ``x``: lag t at position t along ``axis``.
    """
    arr, a = _series(x, axis)
    return _acf_jit(arr, a, False)


def autocorrelation(x, *, axis: int = 0) -> jax.Array:
    """Autocorrelation ``ρ̂_t = γ̂_t / γ̂_0`` of each series at every lag (FFT).

    The same as ``arviz.autocorr`` (there on ``axis=-1``), except for a constant
    series, whose variance is 0: ArviZ returns NaN, we return ``ρ̂_0 = 1`` and
    ``ρ̂_t = 0`` for t > 0 (as for white noise: a constant carries no
    correlation, and its ESS is then the number of draws).

    Args:
      x: [..., n, ...] series along ``axis``; every other axis is a separate series.
      axis: the draw (time) axis, 0 for a time-major trace.

    Returns:
      Same shape as ``x``; 1 at lag 0.
    """
    arr, a = _series(x, axis)
    return _acf_jit(arr, a, True)


def ess(x, *, method: str = "bulk", draw_axis: int = 0, chain_axis: int | None = 1) -> jax.Array:
    """Multi-chain effective sample size (split chains, Geyer's initial monotone sequence).

    With the chains split in halves (``M = 2 n_chains`` chains of ``n = n_draws // 2``
    draws; see the module docstring) and ``γ̂_{t,m}`` the biased autocovariance of
    split chain m at lag t (``autocovariance``)::

        W    = (1/M) Σ_m γ̂_{0,m} · n / (n - 1)            mean within-chain variance
        var⁺ = (1/M) Σ_m γ̂_{0,m} + var_m(ȳ_m)            (ddof=1 across chain means)
        ρ̂_t  = 1 - (W - (1/M) Σ_m γ̂_{t,m}) / var⁺,        ρ̂_0 = 1
        P̂_k  = ρ̂_{2k} + ρ̂_{2k+1},  k = 0 .. K,  K = max(⌊(n - 3)/2⌋, 0)
        k̂    = the first k with P̂_k <= 0, else K            (initial positive sequence)
        P̃_k  = min(P̂_0, ..., P̂_k)                          (initial monotone sequence)
        τ̂    = -1 + 2 Σ_{k<k̂} P̃_k + ρ̂_{2k̂} · [P̂_k̂ >= 0 or ρ̂_{2k̂} > 0]
        τ̂   ← max(τ̂, 1 / log10(M n))
        ESS  = M n / τ̂

    This is Stan's estimator as ArviZ 0.23 implements it, including its two
    small-sample details: the half-pair term ``ρ̂_{2k̂}`` at the truncation point,
    and the cap ``ESS <= M n log10(M n)`` for antithetic chains. ``method``
    selects what it is applied to:

    * ``"bulk"`` (default; ``arviz.ess(method="bulk")``): the rank-normalised
      split draws ``z = Φ⁻¹((r - 3/8)/(N + 1/4))``, r the average rank (ties
      share their mean rank, which matters for 0/1 traces) among all
      ``N = M n`` split draws. Invariant to monotone transforms.
    * ``"mean"`` (``arviz.ess(method="mean")``): the raw split draws: the ESS
      that governs the Monte Carlo error of the mean (``montecarlo.mcmc_mean``).
    * ``"tail"`` (``arviz.ess(method="tail")``): the smaller of the ``"mean"``
      ESS of the indicators ``I(x <= q_0.05)`` and ``I(x <= q_0.95)``, the
      quantiles (linear interpolation) taken over all draws and chains.

    Degenerate input: when all split draws are identical (a constant trace),
    ESS = M n (the number of draws used) and τ̂ = 1. ArviZ returns the same, but
    decides constancy by ``max - min < 1e-15`` rather than exact equality.

    Args:
      x: [n_draws, n_chains, *event] trace (time-major), finite, n_draws >= 4.
      method: ``"bulk"``, ``"mean"`` or ``"tail"``.
      draw_axis: the draw axis of ``x``.
      chain_axis: the chain axis of ``x``, or None for a single chain.

    Returns:
      [*event] effective sample sizes (dtype of ``x``; float for int/bool input).

    References:
      Geyer (1992); Vehtari et al. (2021), section 3; Stan Reference Manual.
    """
    method = _method(method, _ESS_METHODS)
    arr, axes = _checks.draws_chains(x, draw_axis, chain_axis)
    return mcmc_stats.ess_core(arr, method, axes)[0]


def integrated_autocorr_time(
    x, *, method: str = "mean", draw_axis: int = 0, chain_axis: int | None = 1
) -> jax.Array:
    """Integrated autocorrelation time τ̂ = N / ESS, pooled over chains.

    ``τ = 1 + 2 Σ_{t>=1} ρ_t``, estimated as the ``τ̂`` of ``ess`` (same
    ``method``; default ``"mean"``, the τ of the raw draws), so that
    ``ESS = N / τ̂`` with ``N = 2 n_chains (n_draws // 2)`` the number of
    split draws used. For an AR(1) chain ``x_t = φ x_{t-1} + ε_t``,
    ``τ = (1 + φ) / (1 - φ)``. Constant input gives τ̂ = 1; antithetic chains are
    capped at ``τ̂ >= 1 / log10 N``.

    Args:
      x: [n_draws, n_chains, *event] trace (time-major), finite, n_draws >= 4.
      method: ``"mean"``, ``"bulk"`` or ``"tail"`` (see ``ess``).
      draw_axis: the draw axis of ``x``.
      chain_axis: the chain axis of ``x``, or None for a single chain.

    Returns:
      [*event] integrated autocorrelation times, in draws.
    """
    method = _method(method, _ESS_METHODS)
    arr, axes = _checks.draws_chains(x, draw_axis, chain_axis)
    return mcmc_stats.ess_core(arr, method, axes)[1]


def rhat(x, *, method: str = "rank", draw_axis: int = 0, chain_axis: int | None = 1) -> jax.Array:
    """Split R-hat, by default the rank-normalised one of Vehtari et al. (2021).

    For split chains ``y`` [n, M] (see the module docstring)::

        W     = (1/M) Σ_m s²_m                  (ddof=1 within-chain variances)
        B     = n · var_m(ȳ_m)                  (ddof=1 across chain means)
        R̂     = sqrt(((n - 1)/n · W + B/n) / W)

    ``method`` says what it is applied to, as ``arviz.rhat(method=...)``:

    * ``"rank"`` (default): ``max(R̂(z), R̂(z_fold))``, the bulk R-hat of the
      rank-normalised split draws ``z`` and the tail R-hat of the rank-normalised
      folded draws ``|y - median(y)|`` (median over all split draws). Ties share
      their average rank.
    * ``"split"``: R̂ of the raw split draws (Gelman et al. BDA3).
    * ``"z_scale"``: the bulk part alone; ``"folded"``: the tail part alone.

    Values above ~1.01 indicate chains that have not mixed.

    Where it differs from ArviZ 0.23: (1) a single chain (``chain_axis=None``
    or one chain) is accepted — split into halves it still gives 2 chains —
    whereas ArviZ returns NaN below 2 chains; (2) W = 0 (every split chain
    constant), where ArviZ divides by zero: R̂ = inf if the constant chains
    differ (they never mix, e.g. RBM chains frozen in different modes); if all
    the (transformed) draws are one value that part says nothing: ``"rank"``
    then takes the other part (as ArviZ does when only its tail part is 0/0,
    e.g. a 0/1 trace whose median is 0.5), and R̂ = 1 when both parts, or the
    one part of the other methods, are all one value (a constant trace).

    Args:
      x: [n_draws, n_chains, *event] trace (time-major), finite, n_draws >= 4.
      method: ``"rank"``, ``"split"``, ``"z_scale"`` or ``"folded"``.
      draw_axis: the draw axis of ``x``.
      chain_axis: the chain axis of ``x``, or None for a single chain.

    Returns:
      [*event] R-hat values (>= 0; ≈ 1 when converged).

    References:
      Vehtari, Gelman, Simpson, Carpenter, Bürkner (2021); Gelman et al., BDA3 §11.4.
    """
    method = _method(method, _RHAT_METHODS)
    arr, axes = _checks.draws_chains(x, draw_axis, chain_axis)
    return _rhat_jit(arr, method, axes)
