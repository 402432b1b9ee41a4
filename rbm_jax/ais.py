"""Annealed importance sampling (AIS) for the partition function of an RBM.

Anneals from a tractable base model A (no couplings) to the RBM B through
p_k(v) ∝ f_k(v), with (hidden units of B summed out)::

    log f_β(v) = (1 − β) b_Aᵀv + β b_Bᵀv + Σ_j softplus(β (c + Wᵀv)_j)

so f_0 is the base (log Z_A = Σ_i softplus(b_A,i) + n_hidden log 2 in closed
form) and f_1(v) = exp(−F_B(v)). Each run draws v_0 ~ A exactly, then for
k = 1..K adds log f_k(v) − log f_{k−1}(v) to its log weight and moves v by one
block-Gibbs sweep that leaves p_k invariant. E[w] = Z_B / Z_A, so

    log Ẑ_B = log Z_A + log((1/n) Σ_r w_r),

the log of the MEAN of the weights (the mean of log-weights is biased low),
with a delta-method standard error (``montecarlo.log_mean_exp``). By Jensen,
E[log Ẑ_B] ≤ log Z_B: forward AIS tends to underestimate.

Every family. The path is written on the joint energy, log f_β(v, h) =
−β E(v, h) − (1 − β) E_A(v, h), so it is the same for Gaussian and
categorical visible units: the base model A is independent units at the
data's statistics (``base_model``: a diagonal Gaussian, or independent
softmaxes at the data's state frequencies), its log Z in closed form, and
every rung's conditionals are of the units' own type (a Gaussian's
precision interpolates between the base's and the model's).

Degenerate weights. That standard error is a function of n and the weights'
Kish effective sample size ESS = (Σw)²/Σw²: stderr² = (n/ESS − 1)/(n − 1)
≤ 1/ESS. So it never exceeds 1/√ESS ≤ 1 nat, however far off the estimate
is: a 6×4 model with W = ±50 and 100 βs gives 443.86 ± 0.46 against an
exact 450, at ESS 4.5 (``tests/test_ais.py``). When a few runs carry the
whole weight the SE only restates the ESS: the variance it needs is that of
heavy-tailed weights whose large values were not drawn, and the delta
method's linearisation of log needs the mean weight's relative error
(≈ 1/√ESS) to be small. ``MIN_ESS`` = 10 effective runs is the floor: there
that relative error is ≈ 0.3, and a variance from 10 effective draws is
known to about ±50% (√(2/(ESS − 1)) for normal draws; heavy tails do worse),
the least that makes an error bar worth quoting. Below it the result is
flagged (``degenerate``) and a ``DegenerateWeightsWarning`` is raised (when
the result is concrete; under your own ``jit``, read the flag). So fewer
than 10 runs are always flagged. ESS ≥ ``MIN_ESS`` is necessary, not
sufficient: runs that all miss the same mode have even weights and a wrong
answer, so compare forward with reverse AIS.

Reverse AIS runs the same chain backwards from samples of B; for the
estimate log Z_A − log mean(w_rev) Jensen works the other way, so with EXACT
samples of B (``exact.sample_exact``: any model with an enumerable smaller
layer) it overestimates in
expectation — together the two bracket log Z. Started from data instead of
model samples it is only a heuristic check (labelled ``heuristic=True``).

Contract: ``log_partition(key, params, *, n_runs=100, n_betas=None,
betas=None, data=None)`` returns ``AISResult`` whose first two fields are
log Ẑ and its standard error; it holds only arrays (its flags are bool
arrays), so it passes through ``jit``, ``vmap`` and ``tree_map``. Explicit
``betas`` win; else ``n_betas`` gives a schedule of that length shaped like
the default; the default is
Salakhutdinov & Murray's (0→0.5 in steps of 1e-3, 0.5→0.9 in 1e-4, 0.9→1 in
1e-5: 14,501 values). With ``data`` the base is their base-rate model
(visible biases the log-odds of the smoothed data means); without it, the
model's own visible biases. Runs are vmapped; memory does not grow with K.

Implementation: the annealing path is the library's reference path (the
base model is a reference of independent units), and every transition is one
sweep of the library's one kernel (``rbm_jax._src.sweep``) run by its one
driver: each run carries (v, h), and a sweep draws v at β_k, then h already
at β_{k+1}, so T_k = "h ~ P_k(h|v), v ~ P_k(v|h)" costs exactly one sweep.

References:
  R. Neal, Annealed importance sampling, Statistics and Computing 2001.
  R. Salakhutdinov & I. Murray, On the quantitative analysis of deep belief networks, ICML 2008.
  Y. Burda, R. Grosse & R. Salakhutdinov, Accurate and conservative estimates of MRF
  log-likelihood using reverse annealing, AISTATS 2015.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks, exact
from rbm_jax import sharding as _sharding
from rbm_jax._src import driver, model
from rbm_jax._src.sweep import Reference, SweepSettings, build_sweep
from rbm_jax._src.units import Bernoulli
from rbm_jax._src.mcmc_stats import log_mean_exp_core
from rbm_jax.types import GibbsState, RBMParams

__all__ = [
    "AISResult",
    "MIN_ESS",
    "DegenerateWeightsWarning",
    "default_betas",
    "schedule",
    "base_rate_biases",
    "base_model",
    "log_partition",
    "reverse_log_partition",
]


#: Fewest effective runs (Kish ESS of the weights) at which the delta-method standard error
#: is an error bar; below it the result is flagged ``degenerate`` (see the module docstring).
MIN_ESS = 10


class DegenerateWeightsWarning(RuntimeWarning):
    """AIS weights so uneven (Kish ESS below ``MIN_ESS``) that the standard error means nothing."""


class AISResult(NamedTuple):
    """An AIS estimate of log Z and what it was made from (arrays only: a pytree)."""

    log_z: jax.Array  # [] estimate of log Z of the RBM
    stderr: jax.Array  # [] delta-method standard error of log_z
    log_weights: jax.Array  # [n_runs] log importance weights
    log_z_base: jax.Array  # [] exact log Z of the base model
    ess: jax.Array  # [] Kish effective sample size of the weights
    reverse: jax.Array  # [] bool: reverse AIS (from the model back to the base)
    heuristic: jax.Array  # [] bool: reverse AIS started from data (not a bound)
    degenerate: jax.Array  # [] bool: ess < MIN_ESS, so stderr is not a meaningful error bar

    @property
    def direction(self) -> str:
        """``"forward"`` or ``"reverse"`` (of a concrete result: not under ``jit``)."""
        return "reverse" if bool(self.reverse) else "forward"


def default_betas() -> np.ndarray:
    """Salakhutdinov & Murray's schedule: 0→0.5 by 1e-3, 0.5→0.9 by 1e-4, 0.9→1 by 1e-5."""
    return np.concatenate([
        np.linspace(0.0, 0.5, 500, endpoint=False),
        np.linspace(0.5, 0.9, 4000, endpoint=False),
        np.linspace(0.9, 1.0, 10001),
    ])


def schedule(n_betas: int) -> np.ndarray:
    """A schedule of ``n_betas`` values from 0 to 1 shaped like ``default_betas``.

    The three segments [0, 0.5], [0.5, 0.9], [0.9, 1] get the default's shares
    of the points (500 : 4000 : 10000), so steps shrink as β → 1 where the
    distributions change fastest.
    """
    n_betas = _checks.positive_int(n_betas, "n_betas")
    if n_betas < 2:
        raise ValueError(f"n_betas must be at least 2 (from β = 0 to β = 1), got {n_betas}")
    if n_betas < 4:
        return np.linspace(0.0, 1.0, n_betas)
    steps = n_betas - 1
    shares = np.array([500, 4000, 10000]) / 14500
    counts = np.maximum(1, np.round(shares * steps).astype(int))
    counts[-1] = steps - counts[:-1].sum()
    return np.concatenate([
        np.linspace(0.0, 0.5, counts[0], endpoint=False),
        np.linspace(0.5, 0.9, counts[1], endpoint=False),
        np.linspace(0.9, 1.0, counts[2] + 1),
    ])


def base_rate_biases(data, *, smoothing: float = 1.0, dtype=jnp.float32) -> jax.Array:
    """Visible biases of the binary base-rate model: log-odds of the smoothed data means.

    p_i = (Σ_n v_ni + smoothing) / (N + 2 smoothing), so no unit gets ±inf.
    (Every family's base-rate model: ``base_model``.)

    Returns:
      [n_visible] biases.
    """
    data = jnp.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be a matrix [n_rows, n_visible], got shape {data.shape}")
    _checks.unit_values(data, "data")
    smoothing = _smoothing(smoothing)
    return Bernoulli.base_rate(data, smoothing, dtype)


def base_model(params, data=None, *, smoothing: float = 1.0) -> Reference:
    """The natural parameters of AIS's base model A: independent units, no couplings.

    With ``data`` it is the base-rate model, the data's statistics per unit:
    binary units at the smoothed frequencies (log-odds, as Salakhutdinov &
    Murray), Gaussian units at the data's mean and variance (a diagonal
    Gaussian), categorical units at the smoothed state frequencies
    (independent softmaxes). Without data, the visible units' own conditional
    at h = 0 (binary σ(b), Gaussian N(b, σ²), categorical softmax(b)). Hidden
    units are uniform (η = 0) either way. log Z_A is closed-form:
    ``AISResult.log_z_base``.

    Returns:
      ``Reference(v, h)``: the visible natural parameters (an array, or
      ``GaussianNatural(lin, prec)``) and the hidden ones [n_hidden].
    """
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    smoothing = _smoothing(smoothing)
    if data is not None:
        data = _checks.visible_data(params, data, "data")
    return model.reference_of(params, data, smoothing)


def _smoothing(smoothing) -> float:
    """``smoothing`` as a float, or raises unless it is a finite pseudo-count > 0."""
    return _checks.real_number(smoothing, "smoothing (a pseudo-count)", low=0, low_open=True)


# --------------------------------------------------------------------------
# The annealing kernel: one weight update and one sweep of the library's kernel.


class _AISSettings(NamedTuple):
    betas: jax.Array  # [K] the schedule, in the direction of travel
    reference: Reference  # natural parameters of the base model's independent units


class _AISState(NamedTuple):
    v: jax.Array  # [n_visible] the current visible configuration
    h: jax.Array  # [n_hidden] a draw from P_{β_k}(h | v), ready for transition T_k
    log_w: jax.Array  # [] accumulated log importance weight
    k: jax.Array  # [] int32, the index of the next distribution, 1 ≤ k ≤ K − 1


_PATH_SWEEP = build_sweep(reference=True)


@dataclasses.dataclass(frozen=True)
class _AISKernel:
    """Step k: log w += log f_k(v) − log f_{k−1}(v), then T_k (one sweep on the path at β_k).

    T_k is h ~ P_k(h | v), v' ~ P_k(v | h): ``state.h`` was already drawn at
    β_k by the previous sweep's hidden half-step, so this sweep draws v' at β_k
    and then h' at β_{k+1}, ready for the next step. Each T_k leaves p_k(v)
    invariant, as AIS needs.
    """

    def __call__(self, key, params, settings: _AISSettings, state: _AISState):
        betas, ref, k = settings.betas, settings.reference, state.k
        beta_prev, beta, beta_next = betas[k - 1], betas[k], betas[jnp.minimum(k + 1, betas.shape[0] - 1)]
        log_w = state.log_w + (model.path_free_energy(params, ref, beta_prev, state.v)
                               - model.path_free_energy(params, ref, beta, state.v))
        g, _ = _PATH_SWEEP(key, params, SweepSettings(beta, beta_next, reference=ref), GibbsState(state.v, state.h))
        return _AISState(g.v, g.h, log_w, k + 1), ()

    def init(self, key, params, settings: _AISSettings, v) -> _AISState:
        beta = settings.betas[1]
        g = _PATH_SWEEP.init(key, params, SweepSettings(beta, beta, reference=settings.reference), v)
        return _AISState(v, g.h, jnp.zeros((), params.dtype), jnp.ones((), jnp.int32))


_AIS = _AISKernel()


@functools.partial(jax.jit, static_argnames=("reverse", "mesh"))
def _anneal(key, params, ref, betas, v0, reverse, mesh=None):
    """Runs one annealing run per row of ``v0`` along ``betas``; returns the AISResult fields.

    With a mesh the runs are sharded (``driver.run_many``) and the log-mean-exp of the weights
    reduces across devices: the partitioner's sums run in another order than one device's, so
    the estimate agrees to rounding (1e-10 in float64), while each run's weight is bit-identical.
    """
    final, _, _ = driver.run_many(key, _AIS, params, _AISSettings(betas, ref), v0, betas.shape[0] - 1,
                                  mesh=mesh)
    log_z_base = model.reference_log_partition(params, ref)
    est = log_mean_exp_core(final.log_w)
    log_z = log_z_base - est.mean if reverse else log_z_base + est.mean
    return log_z, est.stderr, final.log_w, log_z_base, est.ess, jnp.asarray(reverse), est.ess < MIN_ESS


def _result(fields, heuristic: bool) -> AISResult:
    """Assembles the result and warns when its weights are degenerate (concrete results only)."""
    log_z, stderr, log_w, log_z_base, ess, reverse, degenerate = fields
    result = AISResult(log_z, stderr, log_w, log_z_base, ess, reverse, jnp.asarray(heuristic), degenerate)
    if _checks.is_concrete(degenerate) and bool(_sharding.to_host(degenerate)):
        ess, log_z, stderr = (float(x) for x in _sharding.to_host((ess, log_z, stderr)))
        warnings.warn(
            f"AIS weights are degenerate: their effective sample size (Kish ESS) is {ess:.1f} of "
            f"{log_w.shape[0]} runs, below ais.MIN_ESS = {MIN_ESS}, so log Z = {log_z:.6g} "
            f"± {stderr:.2g} has no meaningful error bar (the delta-method standard error cannot "
            f"exceed 1/sqrt(ESS) however far off the estimate is). Use more betas (n_betas or betas), "
            f"more runs (n_runs), or a base model closer to the target (data=... for the base-rate "
            f"model); result.degenerate is set.",
            DegenerateWeightsWarning, stacklevel=3)
    return result


# --------------------------------------------------------------------------
# Public API


def _setup(params, n_betas, betas, data, smoothing):
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    smoothing = _smoothing(smoothing)  # checked with or without data
    dtype = params.dtype
    if betas is not None:
        b = np.asarray(betas, np.float64)
        if b.ndim != 1 or b.size < 2:
            raise ValueError(f"betas must be a 1-D schedule of at least 2 values, got shape {b.shape}")
        if not (np.all(np.isfinite(b)) and b[0] == 0 and b[-1] == 1 and np.all(np.diff(b) >= 0)):
            raise ValueError("betas must be non-decreasing from exactly 0 to exactly 1")
    elif n_betas is not None:
        b = schedule(n_betas)
    else:
        b = default_betas()
    if data is not None:
        data = _checks.visible_data(params, data, "data")
    return params, jnp.asarray(b, dtype), model.reference_of(params, data, smoothing)


def log_partition(key, params: RBMParams, *, n_runs: int = 100, n_betas: int | None = None, betas=None,
                  data=None, smoothing: float = 1.0, mesh=None) -> AISResult:
    """Forward AIS estimate of log Z with its standard error.

    Args:
      key: PRNG key: ``(key_start, key_run) = split(key)``; the runs start at
        exact draws of the base model made with ``key_start``, and run ``r``
        anneals with ``jax.random.split(key_run, n_runs)[r]``.
      params: ``RBMParams`` of the model.
      n_runs: independent annealing runs (>= 2, for a standard error).
      n_betas: length of a default-shaped schedule (see ``schedule``).
      betas: an explicit schedule, non-decreasing from 0 to 1; wins over ``n_betas``.
      data: optional [n_rows, n_visible] data for the base-rate base model.
      smoothing: pseudo-count of the base-rate model's data means: finite and > 0.
      mesh: optional ``jax.sharding.Mesh``: the runs are sharded along its first
        axis (whose size must divide n_runs), the model replicated. Each run's
        log weight is bit-identical to ``mesh=None``; log Ẑ and its error sum
        across devices, so they agree to rounding (1e-10 in float64).

    Returns:
      ``AISResult(log_z, stderr, log_weights, log_z_base, ess, reverse=False, heuristic=False,
      degenerate)``; ``degenerate`` (ESS < ``MIN_ESS``) also raises a ``DegenerateWeightsWarning``.
      With a mesh ``log_weights`` comes back sharded along the runs.
    """
    key = _checks.key(key)
    n_runs = _checks.positive_int(n_runs, "n_runs")
    if n_runs < 2:
        raise ValueError(f"n_runs must be at least 2 for a standard error, got {n_runs}")
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(n_runs, mesh, "n_runs")
    params, betas, ref = _setup(params, n_betas, betas, data, smoothing)
    # Run r starts at an exact draw of the base model (independent units) and anneals up.
    key_start, key_run = jax.random.split(key)
    v0 = model.sample_reference_v(key_start, params, ref, n_runs)
    return _result(_anneal(key_run, params, ref, betas, v0, reverse=False, mesh=mesh), heuristic=False)


def reverse_log_partition(key, params: RBMParams, *, start="exact", n_runs: int = 100,
                          n_betas: int | None = None, betas=None, data=None,
                          smoothing: float = 1.0) -> AISResult:
    """Reverse AIS estimate of log Z: anneal from samples of the model back to the base.

    Args:
      key: PRNG key.
      params: ``RBMParams``.
      start: 'exact' — ``n_runs`` exact samples of P(v) (``exact.sample_exact``:
        models whose smaller layer can be enumerated); the estimate is then an upper bound on log Z in
        expectation. Or an array [n_runs', n_visible] of starting states (e.g.
        training data): then the result is only a heuristic check and is
        labelled ``heuristic=True``.
      n_runs: number of runs when ``start='exact'``.
      n_betas, betas, data, smoothing: as in ``log_partition``.

    Returns:
      ``AISResult(log_z, stderr, log_weights, log_z_base, ess, reverse=True, heuristic, degenerate)``,
      warning as ``log_partition`` does when the weights are degenerate.
    """
    key = _checks.key(key)
    params, betas_arr, ref = _setup(params, n_betas, betas, data, smoothing)
    key_start, key_run = jax.random.split(key)
    if isinstance(start, str):
        if start != "exact":
            raise ValueError(f"start must be 'exact' or an array of starting states, got {start!r}")
        n_runs = _checks.positive_int(n_runs, "n_runs")
        v0 = exact.sample_exact(key_start, params, n_runs)
        heuristic = False
    else:
        v0 = _checks.visible_data(params, start, "start")
        heuristic = True
    if v0.shape[0] < 2:
        raise ValueError(f"reverse AIS needs at least 2 runs for a standard error, got {v0.shape[0]}")
    # The same kernel, run along the reversed schedule: step k adds log f_{k−1}(v) − log f_k(v).
    return _result(_anneal(key_run, params, ref, betas_arr[::-1], v0, reverse=True), heuristic)
