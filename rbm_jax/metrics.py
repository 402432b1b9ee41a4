"""How well an RBM fits data: reconstruction, free-energy gap, pseudo- and true likelihood.

Reconstruction error is cheap but is known to keep falling while the
likelihood falls too; the likelihood is what matters, measured exactly where
enumeration allows (``rbm_jax.exact``) and by annealed importance sampling
(``rbm_jax.ais``) where it does not.

Contract:
  * ``params`` first, then the data ``[n_rows, n_visible]``; per-row functions
    return ``[n_rows]``, set-level functions a scalar. Every family: binary
    values in [0, 1] (grey values are treated as probabilities, as
    scikit-learn does), Gaussian finite reals, categorical integer states.
  * ``pseudo_log_likelihood`` is exact (all bits, or all q states of every
    site); Gaussian units have none in closed form (each conditional is an
    integral), so for them it raises: monitor the exact likelihood, the
    reconstruction error and the free-energy gap.
    ``stochastic_pseudo_log_likelihood`` is scikit-learn's
    ``BernoulliRBM.score_samples`` estimate (binary only: one flipped bit
    per row, scaled by n_visible) and matches it given the same flips.
  * Jit-able cores; validation at the Python boundary.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rbm_jax import _checks, exact
from rbm_jax._src import enumeration
from rbm_jax._src import fit_metrics as core
from rbm_jax._src import model
from rbm_jax.types import RBMParams

__all__ = [
    "LikelihoodEstimate",
    "reconstruction_error",
    "free_energy_gap",
    "pseudo_log_likelihood",
    "stochastic_pseudo_log_likelihood",
    "sample_flip_index",
    "log_likelihood",
    "MAX_EXACT_UNITS",
]

#: ``log_likelihood`` is exact when the smaller layer has at most this many units.
MAX_EXACT_UNITS = 20


class LikelihoodEstimate(NamedTuple):
    """An average log-likelihood, with its standard error (0 when exact)."""

    value: jax.Array  # [] mean log P(v) over rows, nats
    stderr: jax.Array  # [] standard error from log Z (AIS) and, optionally, the rows
    method: str  # "exact" or "ais"


# --------------------------------------------------------------------------
# Public API


def _params_and_data(params, data, name="data", *more):
    """Params and data sets (``more``: further ``(array, name)`` pairs), values checked in one fused call."""
    params = _checks.rbm_params(params)
    sets = [(_checks.visible_data(params, x, n, check_values=False), n) for x, n in ((data, name), *more)]
    _checks.model_values(params, visible=sets)
    return (params, *(x for x, _ in sets))


def reconstruction_error(params: RBMParams, data) -> jax.Array:
    """Mean squared reconstruction error Σ_i (v_i − σ(b + W σ(c + Wᵀv))_i)², averaged over rows.

    Mean-field (probabilities, no sampling), so it is deterministic. For
    Gaussian units the reconstruction is the mean b + W P(h|v); for
    categorical units the error is between one-hot rows and the softmax.

    Args:
      params: ``RBMParams``.
      data: [n_rows, n_visible] values in [0, 1].

    Returns:
      Scalar error per row (summed over units).
    """
    return core.reconstruction_error(*_params_and_data(params, data))


def free_energy_gap(params: RBMParams, train, held_out) -> jax.Array:
    """mean F(held_out) − mean F(train): the standard overfitting monitor (Hinton's guide, §6).

    Since log P(v) = −F(v) − log Z, the gap is the difference of average
    log-likelihoods (train − held-out) with log Z cancelling; a gap that keeps
    growing means the model is overfitting.

    Returns:
      Scalar gap in nats.
    """
    params, train, held_out = _params_and_data(params, train, "train", (held_out, "held_out"))
    return jnp.mean(model.free_energy(params, held_out)) - jnp.mean(model.free_energy(params, train))


def pseudo_log_likelihood(params: RBMParams, data) -> jax.Array:
    """Exact pseudo-log-likelihood per row: Σ_i log P(v_i | v_−i) = Σ_i log σ(F(v^i) − F(v)).

    ``v^i`` is ``v`` with unit i flipped (1 − v_i, also for grey values).

    Returns:
      [n_rows] values (≤ 0 for binary rows).

    For categorical units, P(v_i | v_−i) = exp(−F(v)) / Σ_a exp(−F(v with v_i = a)).

    Raises:
      TypeError: Gaussian visible units (no closed form).

    References:
      J. Besag, Statistical analysis of non-lattice data, 1975.
    """
    params, data = _params_and_data(params, data)
    _refuse_continuous(params, "pseudo_log_likelihood")
    return core.pseudo_log_likelihood(params, data)


def _refuse_continuous(params, what: str) -> None:
    if not core.has_pseudo_likelihood(params):
        raise TypeError(f"{what} needs discrete visible units; {type(params).__name__} has Gaussian visible "
                        f"units, whose conditionals P(v_i | v_-i) are integrals with no closed form. Monitor "
                        f"exact.log_likelihood (enumerable hidden layer), reconstruction_error and "
                        f"free_energy_gap instead")


def sample_flip_index(key, n_rows: int, n_visible: int) -> jax.Array:
    """One uniformly random unit per row: [n_rows] int32 indices in [0, n_visible)."""
    key = _checks.key(key)
    n_rows = _checks.positive_int(n_rows, "n_rows")
    n_visible = _checks.positive_int(n_visible, "n_visible")
    return jax.random.randint(key, (n_rows,), 0, n_visible)


def stochastic_pseudo_log_likelihood(params: RBMParams, data, flip_index) -> jax.Array:
    """scikit-learn's pseudo-likelihood estimate: n_visible · log σ(F(ṽ) − F(v)) per row.

    ``ṽ`` is ``v`` with the single unit ``flip_index[r]`` flipped in row ``r``.
    An unbiased (over the flip) estimate of ``pseudo_log_likelihood``; equals
    ``sklearn.neural_network.BernoulliRBM.score_samples`` given the same
    parameters (``rbm_jax.sklearn_interop``) and the same flipped units.

    Args:
      params: ``RBMParams``.
      data: [n_rows, n_visible] values in [0, 1].
      flip_index: [n_rows] integer unit indices (see ``sample_flip_index``).

    Returns:
      [n_rows] values.
    """
    params, data = _params_and_data(params, data)
    if not isinstance(params, RBMParams):
        raise TypeError(f"stochastic_pseudo_log_likelihood is scikit-learn's estimate for binary units "
                        f"(RBMParams); for {type(params).__name__} use pseudo_log_likelihood")
    flip_index = jnp.asarray(flip_index)
    if flip_index.shape != (data.shape[0],) or not jnp.issubdtype(flip_index.dtype, jnp.integer):
        raise ValueError(
            f"flip_index must be [n_rows] = [{data.shape[0]}] integers, got {flip_index.shape} {flip_index.dtype}")
    if _checks.is_concrete(flip_index):
        lo, hi = int(jnp.min(flip_index)), int(jnp.max(flip_index))
        if lo < 0 or hi >= data.shape[1]:
            raise ValueError(f"flip_index must lie in [0, {data.shape[1]}), got values in [{lo}, {hi}]")
    return core.stochastic_pseudo_log_likelihood(params, data, flip_index)


def log_likelihood(params: RBMParams, data, *, key=None, **ais_kwargs) -> LikelihoodEstimate:
    """Average log-likelihood of ``data``: exact by enumeration, else by AIS.

    Exact (``rbm_jax.exact``) when the enumerated layer has at most
    2**``MAX_EXACT_UNITS`` configurations (the hidden layer of a Gaussian
    model; the smaller of 2**n_hidden and q**n_visible otherwise); otherwise ``rbm_jax.ais.log_partition`` (which
    needs ``key``; extra keyword arguments go to it, and ``data`` is used as its
    base-rate data) and log P(v) = −F(v) − log Ẑ, whose standard error is that
    of log Ẑ.

    Returns:
      ``LikelihoodEstimate(value, stderr, method)``.
    """
    params, data = _params_and_data(params, data)
    what, n, base = enumeration.enumerated_size(params)
    if base**n <= 2**MAX_EXACT_UNITS:
        return LikelihoodEstimate(exact.log_likelihood(params, data), jnp.zeros((), params.dtype), "exact")
    if key is None:
        raise ValueError(
            f"log_likelihood needs a key: the enumerated layer ({what} = {n}) has {base}**{n} configurations, "
            f"more than 2**{MAX_EXACT_UNITS}, so log Z is estimated by AIS")
    from rbm_jax import ais

    est = ais.log_partition(key, params, data=ais_kwargs.pop("base_data", data), **ais_kwargs)
    value = -jnp.mean(model.free_energy(params, data)) - est.log_z
    return LikelihoodEstimate(value, est.stderr, "ais")
