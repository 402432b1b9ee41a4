"""Block-Gibbs sampling of an RBM: the kernel, tempering, clamping, parallel tempering.

The notes' transition operator T(v'|v) for an RBM is one block-Gibbs sweep
v → h → v: both conditionals factorise (P(h|v) = Π σ((2h−1) ⊙ (c + Wᵀv)),
P(v|h) = Π σ((2v−1) ⊙ (b + Wh))), so each layer is drawn in one vectorised step.

Contract:
  * ``GibbsState(v, h)`` is a joint sample: ``h`` is always a draw from
    P(h | v). ``init(key, params, v)`` draws that ``h``; ``step(key, params,
    state)`` draws v' ~ P(v | h) then h' ~ P(h | v'). The v-marginal of the
    chain therefore moves by exactly ``exact.gibbs_transition_matrix``.
  * Kernels are written for ONE chain (``v`` [n_visible]); they also accept
    leading batch axes, but the drivers ``vmap`` single chains, so that chain
    ``i`` of ``sample_chains`` equals chain ``i`` run alone with key
    ``jax.random.split(key, n_chains)[i]`` (exactly, in float64; in float32 a
    batched matmul may differ in the last bits and flip a rare Bernoulli draw,
    so there the guarantee is the same law). This holds for threefry (the
    default) and philox keys, not for ``rbg``/``unsafe_rbg`` keys, whose draws
    JAX batches from the first key (``rbm_jax._src.driver.BATCH_DRAWN_IMPLS``):
    with those, chains are valid and reproducible but not the chain run alone.
  * Tempering at inverse temperature β targets P_β(v, h) ∝ exp(−β E(v, h)):
    the same sweep with every activation multiplied by β.
  * Parallel tempering (``PTState``, ``pt_step``, ``sample_pt``) runs a ladder
    β_0 = 1 > β_1 > ... and swaps neighbouring rungs with the exact Metropolis
    ratio exp((β_i − β_{i+1})(E_i − E_{i+1})). Only rung 0 samples the model:
    compute diagnostics on it, never across rungs of different β.
  * Every sampler here is one kernel from ``rbm_jax._src.sweep`` (one sweep,
    built for plain, tempered, clamped or PT structure; β, ladders and masks
    are traced settings, so a new ladder or mask does not recompile) run by
    the one driver ``rbm_jax._src.driver`` under one ``lax.scan``: no host
    synchronisation inside, memory bounded by what ``transform`` keeps.

Every family runs on the same kernels: binary (``RBMParams``), Gaussian
(``GaussianRBMParams``: tempering at β keeps P(v|h)'s mean and divides its
variance by β) and categorical (``CategoricalRBMParams``: v is int32 states,
P(v_i|h) a softmax; clamping holds whole sites, e.g. sequence positions).
Binary samples are 0./1. in the params' dtype, Gaussian ones real in that
dtype, categorical ones int32. Keys may be typed or legacy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax import sharding as _sharding
from rbm_jax._src import driver, model
from rbm_jax._src.driver import Reducer, running_mean
from rbm_jax._src.sweep import PATHS, PTSettings, Reference, SweepSettings, build_pt, build_sweep
from rbm_jax.types import GibbsState, PTState, RBMParams

__all__ = [
    "GibbsState",
    "PTState",
    "init",
    "step",
    "tempered_step",
    "clamped_step",
    "sample_chain",
    "sample_chains",
    "geometric_ladder",
    "reference_ladder",
    "PATHS",
    "SWAPS",
    "pt_settings",
    "pt_init",
    "pt_step",
    "sample_pt",
    "swap_acceptance",
    "round_trip_rate",
    "keep_state",
    "keep_v",
    "keep_free_energy",
    "keep_energy",
    "pt_keep_target_v",
    "pt_keep_target_free_energy",
    "Reducer",
    "running_mean",
]

_PLAIN = build_sweep()
_TEMPERED = build_sweep(tempered=True)
_CLAMPED = build_sweep(clamped=True)


# --------------------------------------------------------------------------
# Validation at the boundary.


def _validated_state(params: RBMParams, state) -> GibbsState:
    try:
        v, h = state
    except (TypeError, ValueError):
        raise TypeError(f"state must be GibbsState(v, h), got {type(state).__name__}") from None
    dtype = params.dtype
    v = _checks.visible_configuration(params, v, "state.v")
    h = _checks.configuration(h, params.n_hidden, "state.h", dtype, layer="n_hidden")
    _checks.broadcastable(v, h, "state.v", "state.h")
    _checks.model_values(params, visible=[(v, "state.v")], hidden=[(h, "state.h")])
    return GibbsState(v, h)


def _validated_pt_state(params: RBMParams, state, n_temps: int) -> PTState:
    if not isinstance(state, PTState):
        raise TypeError(f"state must be a PTState (from pt_init), got {type(state).__name__}")
    v = _checks.visible_configuration(params, state.v, "state.v")
    h = _checks.configuration(state.h, params.n_hidden, "state.h", params.dtype, layer="n_hidden")
    if v.shape[:-1] != (n_temps,) or h.shape[:-1] != (n_temps,):
        raise ValueError(f"state must hold one system of n_temps = {n_temps} rungs: state.v [{n_temps}, "
                         f"n_visible], state.h [{n_temps}, n_hidden]; got {v.shape} and {h.shape}")
    _checks.model_values(params, visible=[(v, "state.v")], hidden=[(h, "state.h")])
    return state._replace(v=v, h=h)


def _validated_start(params: RBMParams, v, name: str) -> jax.Array:
    v = _checks.visible_configuration(params, v, name)
    _checks.model_values(params, visible=[(v, name)])
    return v


def _validated_beta(beta, name: str = "beta"):
    beta = jnp.asarray(beta)
    if _checks.is_concrete(beta):
        b = np.asarray(beta)
        if not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ValueError(f"{name} must be finite and > 0 (an inverse temperature), got {b}")
    return beta


def _validated_mask(mask, n_visible: int) -> jax.Array:
    mask = jnp.asarray(mask)
    if mask.shape != (n_visible,):
        raise ValueError(f"clamp mask must be [n_visible] = [{n_visible}] booleans, got shape {mask.shape}")
    if mask.dtype != jnp.bool_:
        if _checks.is_concrete(mask):
            _checks.unit_values(mask, "clamp mask", binary=True)
        mask = mask.astype(bool)
    return mask


# --------------------------------------------------------------------------
# Public kernels (validated; jit-able).


def init(key, params: RBMParams, v) -> GibbsState:
    """Starts a chain at ``v``, drawing ``h ~ P(h | v)``.

    Args:
      key: PRNG key (typed or legacy).
      params: ``RBMParams``.
      v: [..., n_visible] starting visible configuration(s).

    Returns:
      ``GibbsState(v, h)`` in the params' dtype.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    v = _validated_start(params, v, "v")
    return _PLAIN.init(key, params, SweepSettings(), v)


def step(key, params: RBMParams, state: GibbsState) -> GibbsState:
    """One block-Gibbs sweep: v' ~ P(v | h), then h' ~ P(h | v').

    Args:
      key: PRNG key for this step.
      params: ``RBMParams``.
      state: ``GibbsState`` with ``v`` [..., n_visible], ``h`` [..., n_hidden].

    Returns:
      The next ``GibbsState``.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    return _PLAIN(key, params, SweepSettings(), _validated_state(params, state))[0]


def tempered_step(key, params: RBMParams, state: GibbsState, beta) -> GibbsState:
    """One sweep at inverse temperature β, targeting P_β(v, h) ∝ exp(−β E(v, h)).

    Args:
      key: PRNG key for this step.
      params: ``RBMParams``.
      state: ``GibbsState``.
      beta: inverse temperature > 0 (scalar, or broadcastable to the batch as [..., 1]).

    Returns:
      The next ``GibbsState``.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    beta = _validated_beta(beta).astype(params.dtype)
    return _TEMPERED(key, params, SweepSettings(beta, beta), _validated_state(params, state))[0]


def clamped_step(key, params: RBMParams, state: GibbsState, mask) -> GibbsState:
    """One sweep with the visible units where ``mask`` is True held at ``state.v``.

    Samples the conditional P(v_free | v_clamped): inpainting and conditional
    generation. The clamped values are whatever the chain was started with.

    Args:
      key: PRNG key for this step.
      params: ``RBMParams``.
      state: ``GibbsState``; ``state.v`` carries the clamped values.
      mask: [n_visible] bool, True where a unit is clamped.

    Returns:
      The next ``GibbsState``.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    mask = _validated_mask(mask, params.n_visible)
    return _CLAMPED(key, params, SweepSettings(clamp=mask), _validated_state(params, state))[0]


# Transforms: what the drivers keep per kept step. They take (params, state);
# ``params`` is the model's own (β = 1) RBMParams.


def keep_state(params, state):
    """Keeps the whole state."""
    del params
    return state


def keep_v(params, state):
    """Keeps the visible configuration [n_visible]."""
    del params
    return state.v


def keep_free_energy(params, state):
    """Keeps F(v) of the visible configuration (a scalar per chain)."""
    return model.free_energy(params, state.v)


def keep_energy(params, state):
    """Keeps the joint energy E(v, h) (a scalar per chain)."""
    return model.energy(params, state.v, state.h)


def pt_keep_target_v(params, state: PTState):
    """Keeps v of the β = 1 rung of a PT system [n_visible]."""
    del params
    return state.v[0]


def pt_keep_target_free_energy(params, state: PTState):
    """Keeps F(v) of the β = 1 rung of a PT system (a scalar)."""
    return model.free_energy(params, state.v[0])


# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# Drivers for many chains.


def _validated_run(key, params, n_steps, burn_in, thin, transform, beta, clamp):
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    n_steps = _checks.nonnegative_int(n_steps, "n_steps")
    burn_in = _checks.nonnegative_int(burn_in, "burn_in")
    thin = _checks.positive_int(thin, "thin")
    if transform is not None and not callable(transform) and not isinstance(transform, driver.Reducer):
        raise TypeError("transform must be callable as transform(params, state), a reducer such as "
                        f"gibbs.running_mean(gibbs.keep_v), or None; got {transform!r}")
    if beta is not None:
        beta = _validated_beta(beta)
        if beta.ndim != 0:
            raise ValueError(f"beta must be a scalar inverse temperature, got shape {beta.shape}")
        beta = beta.astype(params.dtype)
    mask = None if clamp is None else _validated_mask(clamp, params.n_visible)
    kernel = build_sweep(tempered=beta is not None, clamped=mask is not None)
    settings = SweepSettings(beta, beta, mask)
    return key, params, kernel, settings, dict(n_steps=n_steps, burn_in=burn_in, thin=thin, transform=transform)


def sample_chain(
    key, params: RBMParams, v0, n_steps: int, *, burn_in: int = 0, thin: int = 1,
    transform=None, beta=None, clamp=None,
):
    """Runs ONE Gibbs chain from ``v0`` [n_visible]; see ``sample_chains``.

    ``sample_chains(key, params, v0s, ...)`` runs exactly this for each row,
    with key ``jax.random.split(key, n_chains)[i]``.

    Returns:
      ``(final GibbsState, trace [n_steps // thin, ...] or None)``.
    """
    key, params, kernel, settings, counts = _validated_run(
        key, params, n_steps, burn_in, thin, transform, beta, clamp)
    v0 = _validated_start(params, v0, "v0")
    if v0.ndim != 1:
        raise ValueError(f"v0 must be one configuration [n_visible] = [{v0.shape[-1]}], got shape {v0.shape}")
    final, trace, _ = driver.run_from_jit(key, kernel, params, settings, v0, **counts)
    return final, trace


def sample_chains(
    key, params: RBMParams, v0, n_steps: int, *, burn_in: int = 0, thin: int = 1,
    transform=None, beta=None, clamp=None, mesh=None,
):
    """Runs many independent block-Gibbs chains, vmapped, under one ``lax.scan``.

    Each chain starts at its row of ``v0`` (h drawn from P(h|v0)), runs
    ``burn_in`` sweeps, then ``n_steps`` sweeps keeping every ``thin``-th.

    Args:
      key: PRNG key; chain ``i`` uses ``jax.random.split(key, n_chains)[i]``.
      params: ``RBMParams``.
      v0: [n_chains, n_visible] starting configurations.
      n_steps: sweeps after burn-in; ``n_kept = n_steps // thin``.
      burn_in: sweeps discarded first.
      thin: keep every ``thin``-th state.
      transform: ``transform(params, state) -> pytree`` applied to each kept
        state of each chain (e.g. ``keep_v``, ``keep_free_energy``, or your own
        module-level function; a fresh lambda per call recompiles). ``None``
        keeps nothing, so memory does not grow with ``n_steps``. A reducer
        (``running_mean(keep_v)``, or your own ``Reducer``) keeps a running
        statistic of the kept states instead of their trace: memory independent
        of ``n_steps`` (measured: ``benchmarks/bench.py --only memory``).
      beta: optional inverse temperature > 0: sample P_β ∝ exp(−β E).
      clamp: optional [n_visible] bool mask; masked units stay at their ``v0``
        values (conditional sampling, inpainting).
      mesh: optional ``jax.sharding.Mesh`` (``rbm_jax.sharding.make_mesh()``):
        the chains are sharded along its first axis, whose size must divide
        n_chains; the model is replicated. The samples are bit-identical to
        ``mesh=None`` for the same key (each device runs the same per-chain
        keys and rows).

    Returns:
      ``(final GibbsState [n_chains, ...], trace)`` with the trace time-major
      ``[n_kept, n_chains, ...]``, or ``None`` without a ``transform``, or the
      reducer's result per chain ``[n_chains, ...]``. With a mesh every array
      comes back sharded along its chain axis (not gathered: ``np.asarray``
      gathers it on one host, ``rbm_jax.sharding.to_host`` across hosts).
    """
    key, params, kernel, settings, counts = _validated_run(
        key, params, n_steps, burn_in, thin, transform, beta, clamp)
    v0 = _validated_start(params, v0, "v0")
    if v0.ndim != 2:
        raise ValueError(
            f"v0 must be [n_chains, n_visible] = [n_chains, {v0.shape[-1]}], got shape {v0.shape}")
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(v0.shape[0], mesh, "n_chains (the rows of v0)")
    final, trace, _ = driver.run_many_jit(key, kernel, params, settings, v0, mesh=mesh, **counts)
    return final, trace


# --------------------------------------------------------------------------
# Parallel tempering (replica exchange).


def geometric_ladder(n_temps: int, beta_min: float = 0.1, dtype=jnp.float32) -> jax.Array:
    """Inverse temperatures 1 = β_0 > β_1 > ... > β_{n−1} = beta_min, evenly spaced in log β.

    Returns:
      [n_temps] inverse temperatures (just [1.] for one rung).
    """
    n_temps = _checks.positive_int(n_temps, "n_temps")
    if not (0 < beta_min < 1):
        raise ValueError(f"beta_min must lie in (0, 1), got {beta_min!r}")
    if n_temps == 1:
        return jnp.ones((1,), dtype)
    return jnp.asarray(np.geomspace(1.0, beta_min, n_temps), dtype)


def reference_ladder(n_temps: int, dtype=jnp.float32) -> jax.Array:
    """The reference path's default ladder: 1 = β_0 > ... > β_{n−1} = 0, evenly spaced in β.

    ``rbm_jax.tempering.adapt_ladder`` re-spaces it so that every pair rejects equally often.

    Returns:
      [n_temps] inverse temperatures (n_temps >= 2: both ends of the path).
    """
    n_temps = _checks.positive_int(n_temps, "n_temps")
    if n_temps < 2:
        raise ValueError(f"n_temps must be at least 2 on the reference path (β = 1 and β = 0), got {n_temps}")
    return jnp.asarray(np.linspace(1.0, 0.0, n_temps), dtype)


SWAPS = ("both", "alternate")


def pt_settings(params, *, betas=None, n_temps: int = 8, beta_min: float | None = None, path: str = "tempered",
                data=None, smoothing: float = 1.0, swaps: str | None = None):
    """Validates a PT configuration; returns ``(kernel, PTSettings)`` for the driver.

    Args:
      params: a validated params type.
      betas: the ladder, decreasing from 1 (to 0 or above on the reference path, > 0 on the
        tempered one); default ``geometric_ladder(n_temps, beta_min)`` (tempered) or
        ``reference_ladder(n_temps)`` (reference).
      path: ``'tempered'`` — π_β ∝ exp(−β E); ``'reference'`` — π_β ∝ exp(−β E − (1 − β) E_ref)
        with E_ref independent units (``data``'s base-rate model, or uniform units without data).
      data: [n_rows, n_visible] data for the reference (reference path only).
      smoothing: pseudo-count of the base-rate model's frequencies.
      swaps: ``'both'`` (even then odd pairs every step) or ``'alternate'`` (one phase per step,
        even and odd in turn: non-reversible PT's scheme); default 'both' on the tempered path,
        'alternate' on the reference path.
    """
    if not isinstance(path, str) or path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    reference = path == "reference"
    if swaps is None:
        swaps = "alternate" if reference else "both"
    if not isinstance(swaps, str) or swaps not in SWAPS:
        raise ValueError(f"swaps must be one of {SWAPS}, got {swaps!r}")
    dtype = params.dtype
    if reference:
        if beta_min is not None:
            raise ValueError("beta_min sets the tempered path's geometric ladder; the reference path's "
                             "ladder runs to β = 0 (give betas, or n_temps for an evenly spaced one)")
        if betas is None:
            betas = reference_ladder(n_temps, dtype)
        ref_data = None if data is None else _checks.visible_data(params, data, "data")
        smoothing = _checks.real_number(smoothing, "smoothing (a pseudo-count)", low=0, low_open=True)
        ref = model.tempering_reference(params, ref_data, smoothing)
    else:
        if data is not None:
            raise ValueError("data sets the reference path's β = 0 end (its base-rate model); "
                             "path='tempered' has no reference: pass path='reference' to use it")
        if betas is None:
            betas = geometric_ladder(n_temps, 0.1 if beta_min is None else beta_min, dtype)
        ref = None
    _checks.ladder(betas, allow_zero=reference)
    betas = jnp.asarray(betas).astype(dtype)
    return build_pt(reference=reference, alternate=swaps == "alternate"), PTSettings(betas, ref)


def pt_init(key, params: RBMParams, v, betas, *, reference=None, swaps: str = "both") -> PTState:
    """Starts one PT system: rung k at ``v`` ([n_visible], shared) or ``v[k]`` ([n_temps, n_visible]).

    ``reference``: a ``Reference`` (``rbm_jax.tempering.reference``) puts the rungs on the
    reference path (β = 0 allowed); ``None``, the tempered path.

    Returns:
      ``PTState`` with ``h`` drawn from π_{β_k}(h | v) on each rung, zeroed swap counters and
      no direction labels yet.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    kernel, settings = _pt_kernel(params, betas, reference, swaps)
    v = _validated_start(params, v, "v")
    v = jnp.broadcast_to(v, (settings.betas.shape[0], params.n_visible)) if v.ndim == 1 else v
    if v.shape[0] != settings.betas.shape[0] or v.ndim != 2:
        raise ValueError(f"v must be [n_visible] or [n_temps, n_visible] with n_temps = {settings.betas.shape[0]}, "
                         f"got {v.shape}")
    return kernel.init(key, params, settings, v)


def _pt_kernel(params, betas, reference, swaps):
    if not isinstance(swaps, str) or swaps not in SWAPS:
        raise ValueError(f"swaps must be one of {SWAPS}, got {swaps!r}")
    _checks.ladder(betas, allow_zero=reference is not None)
    betas = jnp.asarray(betas).astype(params.dtype)
    if reference is not None and not isinstance(reference, Reference):
        raise TypeError(f"reference must be a Reference (rbm_jax.tempering.reference), got {type(reference).__name__}")
    kernel = build_pt(reference=reference is not None, alternate=swaps == "alternate")
    return kernel, PTSettings(betas, reference)


def pt_step(key, params: RBMParams, state: PTState, betas, *, reference=None, swaps: str = "both") -> PTState:
    """One PT step: a Gibbs sweep on every rung at its β, then swap phases.

    Args:
      key: PRNG key for this step.
      params: ``RBMParams`` of the model (rung 0, β = 1).
      state: ``PTState`` of one system.
      betas: [n_temps] ladder with ``betas[0] == 1``, decreasing.
      reference: a ``Reference`` for the reference path, or ``None`` (tempered path).
      swaps: ``'both'`` — even pairs then odd pairs; ``'alternate'`` — one phase, even or odd
        by the number of phases done (``state.n_phases``).

    Returns:
      The next ``PTState``; ``accepted / attempted`` counts accumulate per pair, and
      ``round_trips`` / ``n_phases`` count round trips and swap phases.

    References:
      Swendsen & Wang 1986; Geyer 1991; for RBMs, Desjardins et al. 2010,
      "Tempered Markov Chain Monte Carlo for training of Restricted Boltzmann Machines";
      Syed, Bouchard-Côté, Deligiannidis & Doucet 2021, "Non-reversible parallel tempering:
      a scalable highly parallel MCMC scheme", JRSSB.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    kernel, settings = _pt_kernel(params, betas, reference, swaps)
    state = _validated_pt_state(params, state, settings.betas.shape[0])
    return kernel(key, params, settings, state)[0]


def sample_pt(
    key, params: RBMParams, v0, n_steps: int, *, betas=None, n_temps: int = 8,
    beta_min: float | None = None, path: str = "tempered", data=None, smoothing: float = 1.0,
    swaps: str | None = None, burn_in: int = 0, thin: int = 1, transform=pt_keep_target_v, mesh=None,
):
    """Runs many independent parallel-tempering systems, vmapped, under one ``lax.scan``.

    Two paths from the model (β = 1, rung 0) to a tractable end:

    * ``'tempered'`` (default): π_β(v, h) ∝ exp(−β E(v, h)), ladder
      ``geometric_ladder(n_temps, beta_min)`` (β_min = 0.1) by default;
    * ``'reference'``: π_β ∝ exp(−β E(v, h) − (1 − β) E_ref(v, h)), the same path
      as AIS's, with E_ref a model of independent units: ``data``'s base-rate
      model, or uniform units without data (Gaussian units: N(b, σ²)). β = 0 is
      legitimate there, and the β = 0 rung's sweep draws v and h independently
      of the rung's state, so it is refreshed by exact iid draws of the
      reference at every step. Default ladder ``reference_ladder(n_temps)``, evenly
      spaced from 1 to 0; ``rbm_jax.tempering.adapt_ladder`` tunes one.

    Each step sweeps every rung, then runs swap phases (``swaps``): 'both' offers
    the even pairs then the odd pairs a swap every step; 'alternate' runs one phase
    per step, even and odd in turn (the deterministic even-odd scheme of
    non-reversible PT, whose round-trip rate has the theory of Syed et al. 2021).
    The state follows every replica's direction, and counts round trips (reference
    end → target end → reference end) and swap phases: ``round_trip_rate(final)``.

    Args:
      key: PRNG key; system ``i`` uses ``jax.random.split(key, n_systems)[i]``.
      params: ``RBMParams`` of the model.
      v0: [n_systems, n_visible] (every rung starts there) or
        [n_systems, n_temps, n_visible] (one start per rung).
      n_steps, burn_in, thin: as in ``sample_chains``.
      betas: the ladder [n_temps], decreasing from ``betas[0] == 1``.
      n_temps, beta_min: the default ladder's size and (tempered path) lowest β.
      path: ``'tempered'`` or ``'reference'``.
      data: [n_rows, n_visible] data whose base-rate model is the reference (reference path).
      smoothing: pseudo-count of that base-rate model.
      swaps: ``'both'`` or ``'alternate'``; default 'both' (tempered), 'alternate' (reference).
      transform: ``transform(params, PTState)`` kept per kept step; the default
        keeps the β = 1 rung's v. Diagnostics belong on that rung only.
      mesh: optional ``jax.sharding.Mesh``: the systems (each a whole ladder)
        are sharded along its first axis, whose size must divide n_systems;
        bit-identical to ``mesh=None`` (see ``sample_chains``).

    Returns:
      ``(final PTState [n_systems, ...], trace [n_kept, n_systems, ...] or None)``,
      sharded along the system axis with a mesh.
      ``swap_acceptance(final)`` gives the per-pair acceptance rates,
      ``round_trip_rate(final)`` the round trips per swap phase.

    References:
      Syed, Bouchard-Côté, Deligiannidis & Doucet, Non-reversible parallel tempering, JRSSB 2021.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    kernel, settings = pt_settings(params, betas=betas, n_temps=n_temps, beta_min=beta_min, path=path, data=data,
                                   smoothing=smoothing, swaps=swaps)
    n_steps = _checks.nonnegative_int(n_steps, "n_steps")
    burn_in = _checks.nonnegative_int(burn_in, "burn_in")
    thin = _checks.positive_int(thin, "thin")
    v0 = _validated_start(params, v0, "v0")
    nt = settings.betas.shape[0]
    if v0.ndim == 2:
        v0 = jnp.broadcast_to(v0[:, None, :], (v0.shape[0], nt, v0.shape[1]))
    elif v0.ndim != 3 or v0.shape[1] != nt:
        raise ValueError(
            f"v0 must be [n_systems, n_visible] or [n_systems, n_temps={nt}, n_visible], got shape {v0.shape}")
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(v0.shape[0], mesh, "n_systems (the rows of v0)")
    final, trace, _ = driver.run_many_jit(key, kernel, params, settings, v0, n_steps=n_steps,
                                          burn_in=burn_in, thin=thin, transform=transform, mesh=mesh)
    return final, trace


def round_trip_rate(state: PTState) -> jax.Array:
    """Round trips per swap phase, all replicas of a system together, averaged over systems: [].

    A round trip is a replica's journey from the reference end (the last rung)
    to the target (rung 0) and back; the count is ``state.round_trips`` over
    ``state.n_phases`` swap phases (from the start of the run; difference two
    states for a window). With pair rejection rates r_i and well-mixed rungs,
    non-reversible PT ('alternate' swaps) has rate 1 / (2 + 2 Σ r_i / (1 − r_i))
    (Syed et al. 2021): ``rbm_jax.tempering.round_trip_rate_theory``.
    """
    return jnp.mean(state.round_trips / jnp.maximum(state.n_phases, 1))


def swap_acceptance(state: PTState) -> jax.Array:
    """Per-pair swap acceptance rates, accepted / attempted: [..., n_temps − 1]."""
    return state.accepted / jnp.maximum(state.attempted, 1)
