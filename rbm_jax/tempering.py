"""Non-reversible parallel tempering on the reference path: an adaptive ladder, and log Z from it.

The path. Rungs interpolate the joint energies between a tractable reference
(β = 0) and the model (β = 1)::

    log π_β(v, h) = −β E(v, h) − (1 − β) E_ref(v, h) − log Z_β,

with E_ref a model of independent units (``reference``: the data's base-rate
model, or uniform units). It is AIS's path, block Gibbs works on every rung,
and the β = 0 rung is refreshed by exact iid draws of the reference. Ladders
decrease from β_0 = 1 to β_{n−1} = 0 (the PT order).

The ladder. With the deterministic even-odd swap scheme ('alternate' swaps:
one phase per step, even pairs and odd pairs in turn), Syed et al. (2021)
give the round-trip rate of a ladder whose pairs reject with rates r_i as
τ = 1 / (2 + 2 Σ r_i/(1 − r_i)) per swap phase, tending to 1 / (2 + 2Λ) as it
is refined, Λ the path's global communication barrier. ``adapt_ladder``
estimates the rejections, builds the cumulative barrier Λ(β) by monotone
interpolation and re-spaces the rungs at equal steps of it, round after
round, each round twice as long as the one before (their Algorithm 4).

log Z. Along the ladder, log Z_1 = log Z_0 + Σ_k log(Z_{β_k} / Z_{β_{k+1}}),
with log Z_0 the reference's (closed form) and each ratio a mean over the
PT samples of rung k+1 (the stepping-stone estimator, Xie et al. 2011)::

    Z_{β_k} / Z_{β_{k+1}} = E_{π_{β_{k+1}}}[ exp(F_{β_{k+1}}(v) − F_{β_k}(v)) ],

F_β the path's free energy (h summed out). The samples are correlated in
time and across rungs (swaps move them), so the standard error is the delta
method's, with the variance of the mean taken from the autocorrelation of
the linearised estimate (its effective sample size, ``diagnostics.ess``
'mean' on all systems), not from an iid formula. The same samples read the
other way (samples of rung k for Z_{β_{k+1}}/Z_{β_k}) give ``log_z_reverse``:
by Jensen the forward estimate is low and the reverse one high in
expectation, so together they bracket log Z.

Cost. A PT step on one system costs ``n_temps`` sweeps (one per rung); an
AIS run over K βs costs K − 1 sweeps. ``SteppingStoneResult.n_sweeps`` counts
them, adaptation included, for side-by-side comparisons at equal cost.

References:
  S. Syed, A. Bouchard-Côté, G. Deligiannidis & A. Doucet, Non-reversible parallel
  tempering: a scalable highly parallel MCMC scheme, JRSSB 84(2), 2022 (arXiv 2019);
  Pigeons.jl is its reference implementation.
  W. Xie, P. Lewis, Y. Fan, L. Kuo & M.-H. Chen, Improving marginal likelihood estimation
  for Bayesian phylogenetic model selection, Systematic Biology 60(2), 2011.
  G. Desjardins et al., Tempered Markov chain Monte Carlo for training of RBMs, AISTATS 2010.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rbm_jax import _checks, gibbs
from rbm_jax._src import driver, model, rng
from rbm_jax._src.ladder import respace, round_trip_rate_limit, round_trip_rate_theory
from rbm_jax._src.mcmc_stats import ess_core
from rbm_jax._src.sweep import Reference
from rbm_jax.types import PTState

__all__ = [
    "Reference",
    "AdaptedLadder",
    "SteppingStoneResult",
    "reference",
    "reference_log_partition",
    "respace",
    "round_trip_rate_theory",
    "round_trip_rate_limit",
    "adapt_ladder",
    "log_partition",
    "sweeps_of",
]


class AdaptedLadder(NamedTuple):
    """``adapt_ladder``'s result: the ladder of the last round and what was measured on it."""

    betas: jax.Array  # [n_temps] decreasing from 1 to 0
    rejection: jax.Array  # [n_temps − 1] swap rejection rate per adjacent pair, in the ladder's order
    barrier: jax.Array  # [] the estimated global communication barrier Λ = Σ rejection
    round_trip_rate: jax.Array  # [] round trips per swap phase in the last round, mean over systems
    round_trip_rate_theory: jax.Array  # [] 1 / (2 + 2 Σ r/(1 − r)) of this ladder's rejections
    round_trip_rate_limit: jax.Array  # [] 1 / (2 + 2 Λ), the refined ladder's rate
    barrier_history: jax.Array  # [n_rounds] Λ estimated in each round
    round_trip_history: jax.Array  # [n_rounds] measured round-trip rate of each round
    final: PTState  # [n_systems, ...] the systems after the last round (warm starts)
    reference: Reference  # the path's β = 0 end
    n_sweeps: jax.Array  # [] sweeps spent (n_systems · n_temps · steps)


class SteppingStoneResult(NamedTuple):
    """``log_partition``'s result: log Z from the ladder, its standard error first."""

    log_z: jax.Array  # [] stepping-stone estimate of log Z (forward: samples of the lower rung)
    stderr: jax.Array  # [] its standard error (delta method, autocorrelation-aware)
    log_z_reverse: jax.Array  # [] the same samples read downwards (high in expectation)
    stderr_reverse: jax.Array  # [] its standard error
    log_z_reference: jax.Array  # [] exact log Z of the reference (β = 0)
    log_ratios: jax.Array  # [n_temps − 1] log Z_{β_k} − log Z_{β_{k+1}}, forward estimates
    ess: jax.Array  # [] effective sample size of the linearised forward estimate
    betas: jax.Array  # [n_temps] the ladder used
    rejection: jax.Array  # [n_temps − 1] swap rejection rates during the estimate
    round_trip_rate: jax.Array  # [] round trips per swap phase during the estimate
    n_sweeps: jax.Array  # [] sweeps spent, the ladder's adaptation included


# --------------------------------------------------------------------------
# The reference.


def reference(params, data=None, *, smoothing: float = 1.0) -> Reference:
    """The reference path's β = 0 end: independent units at ``data``'s statistics, or uniform.

    With ``data`` it is the base-rate model (AIS's base model ``ais.base_model``):
    binary units at the smoothed frequencies, Gaussian units at the data's mean
    and variance, categorical units at the smoothed state frequencies. Without
    data, uniform units (η = 0); Gaussian units have no uniform law and get
    N(b, σ²), their conditional at h = 0. Hidden units are uniform either way.

    Returns:
      ``Reference(v, h)``, the natural parameters of the independent units.
    """
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    smoothing = _checks.real_number(smoothing, "smoothing (a pseudo-count)", low=0, low_open=True)
    if data is not None:
        data = _checks.visible_data(params, data, "data")
    return model.tempering_reference(params, data, smoothing)


def reference_log_partition(params, ref: Reference) -> jax.Array:
    """log Z of the reference (closed form): A_v(η_ref,v) + A_h(η_ref,h)."""
    return model.reference_log_partition(_checks.rbm_params(params), ref)


def sweeps_of(n_systems: int, n_temps: int, n_steps: int) -> int:
    """The cost of ``n_steps`` PT steps of ``n_systems`` systems of ``n_temps`` rungs, in sweeps."""
    return int(n_systems) * int(n_temps) * int(n_steps)


# --------------------------------------------------------------------------
# Running systems for a number of blocks without recompiling.


@functools.partial(jax.jit, static_argnames=("kernel", "block"))
def _advance(key, kernel, params, settings, states, n_blocks, block: int):
    """``n_blocks`` (traced) blocks of ``block`` PT steps on every system: one program per block size."""

    def body(i, s):
        return driver.run_many(rng.fold_in(key, i), kernel, params, settings, s, block, start="state")[0]

    return lax.fori_loop(0, n_blocks, body, states)


def _window(before: PTState, after: PTState):
    """Pair rejections (pooled over systems) and the mean round-trip rate between two states."""
    accepted = (after.accepted - before.accepted).sum(0)
    attempted = (after.attempted - before.attempted).sum(0)
    rejection = 1 - accepted / jnp.maximum(attempted, 1)
    trips = (after.round_trips - before.round_trips) / jnp.maximum(after.n_phases - before.n_phases, 1)
    return rejection, jnp.mean(trips)


def _starts(key, params, ref, n_systems: int, n_temps: int):
    """Every rung of every system starts at an exact draw of the reference."""
    v = model.sample_reference_v(key, params, ref, n_systems * n_temps)
    return v.reshape(n_systems, n_temps, *v.shape[1:])


def _validated_common(key, params, data, smoothing, n_systems):
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    n_systems = _checks.positive_int(n_systems, "n_systems")
    smoothing = _checks.real_number(smoothing, "smoothing (a pseudo-count)", low=0, low_open=True)
    if data is not None:
        data = _checks.visible_data(params, data, "data")
    return key, params, data, smoothing, n_systems


def adapt_ladder(key, params, n_temps: int, *, data=None, n_rounds: int = 10, n_systems: int = 8,
                 initial_steps: int = 16, betas=None, smoothing: float = 1.0) -> AdaptedLadder:
    """Tunes a reference-path ladder so that every adjacent pair rejects swaps equally often.

    Round r (r = 0 .. n_rounds − 1) runs ``initial_steps · 2^r`` non-reversible PT
    steps ('alternate' swaps) on ``n_systems`` systems with the current ladder,
    continuing from where the previous round stopped. It estimates each pair's
    rejection rate r_i, the cumulative barrier Λ(β) by monotone interpolation,
    and — except after the last round — re-spaces the rungs at equal steps of Λ.
    The result describes the last round's ladder: its rejections, Λ̂ = Σ r_i,
    and the measured round-trip rate beside the theory's 1 / (2 + 2 Σ r/(1 − r))
    and the refined limit 1 / (2 + 2 Λ̂).

    Args:
      key: PRNG key.
      params: a params type (any family).
      n_temps: rungs (>= 2), β = 1 and β = 0 included.
      data: optional [n_rows, n_visible] data: the reference is its base-rate model
        (else uniform units; see ``reference``).
      n_rounds: rounds of adaptation (>= 1); the last one measures only.
      n_systems: independent PT systems (vmapped); their swap counts are pooled.
      initial_steps: PT steps of round 0 (the rounds double it).
      betas: the starting ladder (default: evenly spaced from 1 to 0).
      smoothing: pseudo-count of the base-rate model.

    Returns:
      ``AdaptedLadder`` (fields ``betas``, ``rejection``, ``barrier``, ``round_trip_rate``, ...).

    References:
      Syed, Bouchard-Côté, Deligiannidis & Doucet (2021), Algorithm 4 and Theorem 3.
    """
    key, params, data, smoothing, n_systems = _validated_common(key, params, data, smoothing, n_systems)
    n_temps = _checks.positive_int(n_temps, "n_temps")
    n_rounds = _checks.positive_int(n_rounds, "n_rounds")
    initial_steps = _checks.positive_int(initial_steps, "initial_steps")
    if betas is not None:
        _checks.ladder(betas, allow_zero=True)
        if np.shape(betas)[0] != n_temps:
            raise ValueError(f"betas has {np.shape(betas)[0]} rungs but n_temps = {n_temps}")
        if float(np.asarray(betas)[-1]) != 0:
            raise ValueError("betas must end at 0 (the reference) for adapt_ladder")
    kernel, settings = gibbs.pt_settings(params, betas=betas, n_temps=n_temps, path="reference", data=data,
                                         smoothing=smoothing, swaps="alternate")
    key_start, key_init, key_run = jax.random.split(key, 3)
    starts = _starts(key_start, params, settings.reference, n_systems, n_temps)
    state = driver.init_many_jit(key_init, kernel, params, settings, starts)
    barriers, rates = [], []
    rejection = rate = None
    for r in range(n_rounds):
        before = state
        state = _advance(jax.random.fold_in(key_run, r), kernel, params, settings, state, 2**r, initial_steps)
        rejection, rate = _window(before, state)
        barriers.append(jnp.sum(rejection))
        rates.append(rate)
        if r < n_rounds - 1:
            settings = settings._replace(betas=respace(settings.betas, rejection))
    barrier = jnp.sum(rejection)
    steps = initial_steps * (2**n_rounds - 1)
    return AdaptedLadder(
        betas=settings.betas, rejection=rejection, barrier=barrier, round_trip_rate=rate,
        round_trip_rate_theory=round_trip_rate_theory(rejection), round_trip_rate_limit=round_trip_rate_limit(barrier),
        barrier_history=jnp.stack(barriers), round_trip_history=jnp.stack(rates), final=state,
        reference=settings.reference, n_sweeps=jnp.asarray(sweeps_of(n_systems, n_temps, steps)))


# --------------------------------------------------------------------------
# log Z from the ladder.


def _log_weights(params, settings, state: PTState):
    """Per pair k of one system: the forward log weight of rung k+1's sample for Z_k/Z_{k+1},
    and the reverse log weight of rung k's sample for Z_{k+1}/Z_k."""
    betas, ref = settings.betas, settings.reference
    free = jax.vmap(lambda b, v: model.path_free_energy(params, ref, b, v))
    lower = state.v[1:]  # the samples of rungs k + 1
    upper = state.v[:-1]  # the samples of rungs k
    forward = free(betas[1:], lower) - free(betas[:-1], lower)
    reverse = free(betas[:-1], upper) - free(betas[1:], upper)
    return forward, reverse


def _combine(log_w, sign):
    """log Σ_k ±log mean_t w_k and the delta-method standard error from the linearised series."""
    n = log_w.shape[0] * log_w.shape[1]
    log_means = jax.nn.logsumexp(log_w, axis=(0, 1)) - jnp.log(jnp.asarray(n, log_w.dtype))
    # log Ẑ ≈ const + Σ_k (r̂_k − r_k)/r_k, so its error is that of the mean of g_t = Σ_k w_k,t / r̂_k.
    g = jnp.sum(jnp.exp(log_w - log_means), axis=-1)  # [n_kept, n_systems]
    ess, _ = ess_core(g, "mean", (0, 1))
    var = jnp.var(g, ddof=1)
    stderr = jnp.sqrt(var / jnp.maximum(ess, 1))
    return sign * log_means, stderr, ess


@functools.partial(jax.jit, static_argnames=("kernel", "n_steps"))
def _stepping_stone(key, kernel, params, settings, states, n_steps: int):
    transform = functools.partial(_log_weights, settings=settings)
    final, (forward, reverse), _ = driver.run_many(
        key, kernel, params, settings, states, n_steps, start="state",
        transform=lambda p, s: transform(p, state=s))
    log_z_ref = model.reference_log_partition(params, settings.reference)
    log_ratios, stderr, ess = _combine(forward, 1.0)
    rev_ratios, stderr_rev, _ = _combine(reverse, -1.0)
    return final, log_z_ref, log_ratios, stderr, ess, rev_ratios, stderr_rev


def log_partition(key, params, *, n_temps: int | None = None, betas=None, data=None, n_steps: int = 2000,
                  n_systems: int = 8, burn_in: int | None = None, n_rounds: int = 8, initial_steps: int = 16,
                  smoothing: float = 1.0) -> SteppingStoneResult:
    """log Z of the model by the stepping-stone estimator over a reference-path PT ladder.

    Without ``betas`` the ladder is tuned first (``adapt_ladder`` with ``n_temps``
    rungs, default 16, and ``n_rounds`` rounds; its systems' final states start the
    estimate, so no burn-in is needed). With ``betas`` (decreasing from 1 to exactly
    0) the systems start at exact reference draws and run ``burn_in`` steps first
    (default ``n_steps // 10``). Then ``n_steps`` steps of non-reversible PT on
    ``n_systems`` systems supply, at every step, one weight per pair and system
    (see the module docstring).

    Args:
      key: PRNG key.
      params: a params type (any family).
      n_temps: rungs of the tuned ladder (default 16); not with ``betas``.
      betas: an explicit ladder, decreasing from 1 to 0.
      data: optional data whose base-rate model is the reference (else uniform units).
      n_steps: PT steps whose samples enter the estimate (>= 4).
      n_systems: independent PT systems (vmapped).
      burn_in: steps discarded first (explicit ladders only; default n_steps // 10).
      n_rounds, initial_steps: the adaptation's (see ``adapt_ladder``).
      smoothing: pseudo-count of the base-rate model.

    Returns:
      ``SteppingStoneResult(log_z, stderr, log_z_reverse, stderr_reverse, ...)``.
    """
    key, params, data, smoothing, n_systems = _validated_common(key, params, data, smoothing, n_systems)
    n_steps = _checks.positive_int(n_steps, "n_steps")
    if n_steps < 4:
        raise ValueError(f"n_steps must be at least 4 (the standard error splits each system's series), got {n_steps}")
    key_ladder, key_start, key_init, key_run = jax.random.split(key, 4)
    if betas is None:
        n_temps = 16 if n_temps is None else _checks.positive_int(n_temps, "n_temps")
        if burn_in is not None:
            raise ValueError("burn_in applies to an explicit ladder (betas); a tuned ladder's systems start "
                             "where the adaptation left them")
        adapted = adapt_ladder(key_ladder, params, n_temps, data=data, n_rounds=n_rounds, n_systems=n_systems,
                               initial_steps=initial_steps, smoothing=smoothing)
        kernel, settings = gibbs.pt_settings(params, betas=adapted.betas, path="reference", data=data,
                                             smoothing=smoothing, swaps="alternate")
        state, spent = adapted.final, int(adapted.n_sweeps)
    else:
        if n_temps is not None:
            raise ValueError("give n_temps (a ladder to tune) or betas (a ladder to use), not both")
        _checks.ladder(betas, allow_zero=True)
        if float(np.asarray(betas)[-1]) != 0:
            raise ValueError("betas must end at exactly 0: the estimate starts from the reference's exact log Z")
        burn_in = n_steps // 10 if burn_in is None else _checks.nonnegative_int(burn_in, "burn_in")
        kernel, settings = gibbs.pt_settings(params, betas=betas, path="reference", data=data, smoothing=smoothing,
                                             swaps="alternate")
        n_temps = settings.betas.shape[0]
        starts = _starts(key_start, params, settings.reference, n_systems, n_temps)
        state = driver.init_many_jit(key_init, kernel, params, settings, starts)
        if burn_in:
            state = _advance(key_init, kernel, params, settings, state, 1, burn_in)
        spent = sweeps_of(n_systems, n_temps, burn_in)
    final, log_z_ref, log_ratios, stderr, ess, rev_ratios, stderr_rev = _stepping_stone(
        key_run, kernel, params, settings, state, n_steps)
    rejection, rate = _window(state, final)
    return SteppingStoneResult(
        log_z=log_z_ref + jnp.sum(log_ratios), stderr=stderr,
        log_z_reverse=log_z_ref + jnp.sum(rev_ratios), stderr_reverse=stderr_rev,
        log_z_reference=log_z_ref, log_ratios=log_ratios, ess=ess, betas=settings.betas, rejection=rejection,
        round_trip_rate=rate, n_sweeps=jnp.asarray(spent + sweeps_of(n_systems, n_temps, n_steps)))
