"""Monte Carlo and importance-sampling estimators, each with its standard error.

Every estimator returns an ``Estimate(mean, stderr, ess)``. Draws run along
axis 0 (``values`` is ``[n, *event]``: one estimate per event entry), except
``mcmc_mean``, which takes a time-major trace ``[n_draws, n_chains, *event]``
as ``rbm_jax.diagnostics`` does.

A note on the lecture notes: they write the Monte Carlo estimate of E_p[f] as
``x̂ = (1/n) Σ_i p(x_i) f(x_i)``. As written that is wrong: with ``x_i ~ p`` the
right estimate is ``(1/n) Σ f(x_i)`` (``monte_carlo_mean``); with ``x_i`` drawn
from some other proposal ``q`` it is the importance-sampling estimate
``(1/n) Σ p(x_i)/q(x_i) f(x_i)`` (``importance_sampling``) — the notes' formula
is this one with the proposal density ``q`` missing from the denominator, or,
equivalently, uniform sampling over a finite space X (``q = 1/|X|``) with the
factor ``|X|`` dropped. When p is known only up to its normaliser (an RBM's
``exp(-F(v))``) use ``self_normalized_importance_sampling``.

Contract:
  * Log densities are given, never densities: weights ``w = exp(log p - log q)``
    are formed relative to their maximum, so log-weights of any size neither
    overflow nor underflow before the final result.
  * Outputs follow the input's floating dtype (float32 by default, float64
    when the caller enables x64); int/bool values are promoted to the default
    float.
  * Arguments are checked at the Python boundary (shapes always, NaN/inf when
    concrete); the cores are jitted with static shapes and also run under a
    caller's ``jit``/``vmap``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax._src import mcmc_stats
from rbm_jax._src.mcmc_stats import Estimate

__all__ = [
    "Estimate",
    "monte_carlo_mean",
    "importance_sampling",
    "self_normalized_importance_sampling",
    "mcmc_mean",
    "log_mean_exp",
    "kish_ess",
]


# Estimate(mean, stderr, ess) is defined in rbm_jax._src.mcmc_stats (the cores
# build it, and rbm_jax.ais uses them); this module is its public home.


# --------------------------------------------------------------------------
# Validation


def _values(x: Any, name: str, *, min_draws: int = 2) -> jax.Array:
    arr = _checks.float_array(x, name)
    if arr.ndim < 1:
        raise ValueError(f"{name} must be [n, *event] with draws along axis 0, got a scalar")
    if arr.shape[0] < min_draws:
        raise ValueError(
            f"{name} must have at least {min_draws} draws along axis 0 for a standard "
            f"error, got shape {arr.shape}"
        )
    _checks.check_finite(arr, name)
    return arr


def _log_densities(values: jax.Array, log_p: Any, log_q: Any, p_name: str):
    """Checks log_p, log_q [n, *batch] against values [n, *batch, *event]; returns both."""
    lp = _checks.float_array(log_p, p_name)
    lq = _checks.float_array(log_q, "log_q")
    if lp.shape != lq.shape:
        raise ValueError(
            f"{p_name} and log_q must have the same shape (one log density per draw), "
            f"got {p_name} {lp.shape} and log_q {lq.shape}"
        )
    if lp.ndim < 1 or values.shape[: lp.ndim] != lp.shape:
        raise ValueError(
            f"{p_name} and log_q must be [n] (or [n, *batch]) matching the leading axes of "
            f"values {values.shape}, got {lp.shape}"
        )
    _checks.check_finite(lp, p_name, allow_neg_inf=True)  # p(x) = 0 is a valid (zero) weight
    _checks.check_finite(lq, "log_q")  # x was drawn from q, so q(x) > 0
    return lp, lq


def _common(values: jax.Array, log_p: jax.Array, log_q: jax.Array):
    """(values, log w = log_p - log_q) in their common dtype (traced)."""
    dtype = jnp.result_type(values.dtype, log_p.dtype, log_q.dtype)
    return values.astype(dtype), log_p.astype(dtype) - log_q.astype(dtype)


def _expand(w: jax.Array, ndim: int) -> jax.Array:
    return w.reshape(w.shape + (1,) * (ndim - w.ndim))


# --------------------------------------------------------------------------
# Jitted cores


@jax.jit
def _mc_mean_core(values: jax.Array) -> Estimate:
    n = values.shape[0]
    mean = jnp.mean(values, axis=0)
    sd = jnp.std(values - values[:1], axis=0, ddof=1)  # shift: exact 0 for constants
    ess = jnp.full(mean.shape, n, values.dtype)
    return Estimate(mean, sd / jnp.sqrt(jnp.asarray(n, values.dtype)), ess)


@jax.jit
def _is_core(values: jax.Array, log_p: jax.Array, log_q: jax.Array) -> Estimate:
    values, log_w = _common(values, log_p, log_q)
    n = values.shape[0]
    w, m = mcmc_stats.shifted_weights(log_w)
    wf = _expand(w, values.ndim) * values  # scaled by exp(-m)
    scale = _expand(jnp.exp(m), values.ndim - 1)  # [*batch, 1, ...]: undo the shift

    def rescale(a):  # a · exp(m), with 0 staying 0 even if exp(m) overflows
        return jnp.where(a == 0, 0, a * scale)

    mean = rescale(jnp.mean(wf, axis=0))
    stderr = rescale(jnp.std(wf, axis=0, ddof=1) / jnp.sqrt(jnp.asarray(n, values.dtype)))
    ess = jnp.broadcast_to(_expand(mcmc_stats.kish_core(log_w), mean.ndim), mean.shape)
    return Estimate(mean.astype(values.dtype), stderr.astype(values.dtype), ess)


@jax.jit
def _snis_core(values: jax.Array, log_p: jax.Array, log_q: jax.Array) -> Estimate:
    values, log_w = _common(values, log_p, log_q)
    w_norm = jax.nn.softmax(log_w, axis=0)  # w̃_i = w_i / Σ_j w_j
    wn = _expand(w_norm, values.ndim)
    mean = jnp.sum(wn * values, axis=0)
    var = jnp.sum(wn**2 * (values - mean) ** 2, axis=0)
    kish = mcmc_stats.kish_core(log_w)
    any_weight = _expand(kish > 0, mean.ndim)
    mean = jnp.where(any_weight, mean, jnp.nan)
    stderr = jnp.where(any_weight, jnp.sqrt(var), jnp.nan)
    ess = jnp.broadcast_to(_expand(kish, mean.ndim), mean.shape)
    return Estimate(mean.astype(values.dtype), stderr.astype(values.dtype), ess)


@functools.partial(jax.jit, static_argnames="axes")
def _mcmc_mean_core(trace: jax.Array, axes=(0, 1)) -> Estimate:
    trace = mcmc_stats.canonical(trace, axes)
    ess, _ = mcmc_stats.ess_core(trace, "mean")
    flat = trace.reshape((-1,) + trace.shape[2:])
    mean = jnp.mean(flat, axis=0)
    sd = jnp.std(flat - flat[:1], axis=0, ddof=1)
    return Estimate(mean, (sd / jnp.sqrt(ess)).astype(trace.dtype), ess)


# --------------------------------------------------------------------------
# Public, validated API


def monte_carlo_mean(values) -> Estimate:
    """Plain Monte Carlo: E_p[f] ≈ (1/n) Σ_i f(x_i) for independent x_i ~ p.

    ``stderr = s / sqrt(n)`` with ``s`` the sample standard deviation (ddof=1);
    ``ess = n``. For correlated draws (a Markov chain) use ``mcmc_mean``.

    Args:
      values: [n, *event] values ``f(x_i)`` of independent draws, n >= 2, finite.

    Returns:
      ``Estimate`` with fields of shape [*event].
    """
    return _mc_mean_core(_values(values, "values"))


def importance_sampling(values, log_p, log_q) -> Estimate:
    """Importance sampling: E_p[f] ≈ (1/n) Σ_i w_i f(x_i), x_i ~ q, w_i = p(x_i)/q(x_i).

    Unbiased when ``p`` and ``q`` are both *normalised* densities (or pmfs) and
    q > 0 wherever p f ≠ 0. This is the notes' ``(1/n) Σ p(x) f(x)`` with the
    proposal density restored in the denominator; for uniform q on a finite X
    it is ``(|X|/n) Σ p(x_i) f(x_i)``. ``stderr = sd_i(w_i f_i) / sqrt(n)`` (ddof=1;
    its square is unbiased for the variance of the estimate). With ``q = p`` every
    weight is exactly 1 and this is ``monte_carlo_mean``; with ``q ∝ p·f``
    (f >= 0) every ``w_i f_i`` equals E_p[f] and the standard error is 0.

    Args:
      values: [n, *batch, *event] values ``f(x_i)``, finite, n >= 2.
      log_p: [n, *batch] normalised ``log p(x_i)``; ``-inf`` (p = 0) allowed.
      log_q: [n, *batch] normalised ``log q(x_i)`` of the proposal that drew x_i; finite.

    Returns:
      ``Estimate(mean, stderr, ess)`` of shape [*batch, *event]; ``ess`` is Kish's
      ``(Σ w)² / Σ w²`` of the weights (0 if every weight is 0, in which case the
      estimate is 0 with stderr 0).
    """
    values = _values(values, "values")
    log_p, log_q = _log_densities(values, log_p, log_q, "log_p")
    return _is_core(values, log_p, log_q)


def self_normalized_importance_sampling(values, log_p_unnormalized, log_q) -> Estimate:
    """Self-normalised IS: E_p[f] ≈ Σ_i w_i f(x_i) / Σ_i w_i, x_i ~ q, w_i = p̃(x_i)/q(x_i).

    For a target known up to its normaliser, ``p = p̃ / Z`` (an RBM's
    ``exp(-F(v))``); ``q`` may be unnormalised too. Consistent, with bias
    O(1/n). With ``w̃_i = w_i / Σ_j w_j`` the delta-method standard error is
    (Owen 2013, §9.2)::

        stderr² = Σ_i w̃_i² (f(x_i) - mean)²,

    and ``ess`` is Kish's effective sample size ``1 / Σ_i w̃_i² = (Σ w)² / Σ w²``
    (n for equal weights, 1 when one weight dominates).

    Args:
      values: [n, *batch, *event] values ``f(x_i)``, finite, n >= 2.
      log_p_unnormalized: [n, *batch] ``log p̃(x_i)``; ``-inf`` allowed.
      log_q: [n, *batch] ``log q(x_i)`` (up to a constant); finite.

    Returns:
      ``Estimate(mean, stderr, ess)`` of shape [*batch, *event]. If every weight is
      0 the estimate is undefined: concrete input raises ``ValueError``; under a
      caller's ``jit`` mean and stderr are NaN and ess is 0.

    References:
      Owen (2013), Monte Carlo theory, methods and examples, §9.2; Kish (1965).
    """
    values = _values(values, "values")
    log_p, log_q = _log_densities(values, log_p_unnormalized, log_q, "log_p_unnormalized")
    if _checks.is_concrete(log_p) and not np.all(np.any(np.asarray(log_p) > -np.inf, axis=0)):
        raise ValueError(
            "log_p_unnormalized is -inf at every draw (of some batch entry): all importance "
            "weights are zero and the self-normalised estimate is undefined"
        )
    return _snis_core(values, log_p, log_q)


def mcmc_mean(trace, *, draw_axis: int = 0, chain_axis: int | None = 1) -> Estimate:
    """Mean of a Markov-chain trace with a standard error that accounts for autocorrelation.

    ``mean`` is the average over all draws and chains; ::

        stderr = sd / sqrt(ESS) = sd · sqrt(τ̂ / N),

    with ``sd`` the standard deviation over all draws and chains (ddof=1) and
    ``ESS = N / τ̂`` the multi-chain split-chain ESS of the raw draws,
    ``diagnostics.ess(method="mean")`` (Geyer's initial monotone sequence).
    This is ``arviz.mcse(method="mean")``. Assumes the chains have converged
    (check ``diagnostics.rhat``); a naive ``sd / sqrt(N)`` under-covers by a
    factor ``sqrt(τ)``.

    Args:
      trace: [n_draws, n_chains, *event] time-major trace, finite, n_draws >= 4
        (int/bool 0/1 traces of an RBM are fine).
      draw_axis: the draw axis of ``trace``.
      chain_axis: the chain axis of ``trace``, or None for a single chain.

    Returns:
      ``Estimate(mean, stderr, ess)`` of shape [*event]. A constant trace gives
      stderr 0 and ess N.
    """
    arr, axes = _checks.draws_chains(trace, draw_axis, chain_axis, name="trace")
    return _mcmc_mean_core(arr, axes)


def log_mean_exp(log_w, *, axis: int = 0) -> Estimate:
    """log((1/n) Σ_i exp(log_w_i)) with a delta-method standard error, stably.

    The log of an average of weights given in log space — e.g. the AIS estimate
    of log Z from the runs' log importance weights, or log Z/Z_q from IS. With
    ``w_i = exp(log_w_i - max)``::

        mean   = max + log((1/n) Σ w_i)
        stderr = sd(w) / (sqrt(n) · mean(w))        (ddof=1; delta method for log)
        ess    = (Σ w)² / Σ w²                       (Kish)

    The stderr is that of the log estimate; note that exp(mean) is unbiased for
    the mean weight but ``mean`` itself is biased low by about stderr²/2 (Jensen).

    Args:
      log_w: [..., n, ...] log weights along ``axis``, n >= 2; ``-inf`` (weight 0)
        allowed, NaN and ``+inf`` are not.
      axis: the axis holding the n draws.

    Returns:
      ``Estimate`` with the other axes of ``log_w``. If every weight is 0:
      mean ``-inf``, stderr ``inf`` and ess 0.
    """
    arr = _checks.float_array(log_w, "log_w")
    if arr.ndim < 1:
        raise ValueError("log_w must have a draw axis, got a scalar")
    a = _checks.axis_index(axis, arr.ndim, "axis")
    if arr.shape[a] < 2:
        raise ValueError(
            f"log_w must have at least 2 draws along axis {a} for a standard error, "
            f"got {arr.shape[a]}"
        )
    _checks.check_finite(arr, "log_w", allow_neg_inf=True)
    return mcmc_stats.log_mean_exp_core(arr, a)


def kish_ess(log_w, *, axis: int = 0) -> jax.Array:
    """Kish's effective sample size ``(Σ w)² / Σ w²`` of weights given in log space.

    Between 1 (one weight dominates) and n (equal weights); 0 if every weight is 0.

    Args:
      log_w: [..., n, ...] log weights along ``axis``, n >= 1; ``-inf`` allowed.
      axis: the axis holding the n weights.

    Returns:
      The other axes of ``log_w``.
    """
    arr = _checks.float_array(log_w, "log_w")
    if arr.ndim < 1:
        raise ValueError("log_w must have a draw axis, got a scalar")
    a = _checks.axis_index(axis, arr.ndim, "axis")
    if arr.shape[a] == 0:
        raise ValueError(f"log_w has no weights along axis {a} (shape {arr.shape}): their ESS is undefined")
    _checks.check_finite(arr, "log_w", allow_neg_inf=True)
    return _kish_jit(arr, a)


@functools.partial(jax.jit, static_argnames="axis")
def _kish_jit(log_w: jax.Array, axis: int) -> jax.Array:
    return mcmc_stats.kish_core(jnp.moveaxis(log_w, axis, 0))
