"""The binary restricted Boltzmann machine: energy, free energies, conditionals, samplers.

The model of the lecture notes::

    P(v, h) = exp(-E(v, h)) / Z,        E(v, h) = -bᵀv - cᵀh - vᵀWh,

with binary visible units ``v`` [n_visible] and hidden units ``h`` [n_hidden].
Summing one layer out gives the free energies and the factorised conditionals::

    F(v)   = -bᵀv - Σ_j softplus(c_j + (vᵀW)_j)          P(v) = exp(-F(v)) / Z
    F_h(h) = -cᵀh - Σ_i softplus(b_i + (Wh)_i)           P(h) = exp(-F_h(h)) / Z
    P(v|h) = Π_i σ((2v - 1) ⊙ (b + Wh))_i                 (the notes' derivation)
    P(h|v) = Π_j σ((2h - 1) ⊙ (c + Wᵀv))_j

Contract:
  * ``W`` is [n_visible, n_hidden], ``b`` [n_visible], ``c`` [n_hidden].
  * ``v`` and ``h`` may carry any leading batch axes; they broadcast against
    each other as numpy would. The configuration whose probability is
    computed always comes first after ``params``.
  * Outputs follow the params' dtype (float32 by default; float64 when the
    user enables x64 — this module never touches JAX's global config).
  * Everything is computed in log space (softplus, log-sigmoid), so weights of
    any magnitude give finite results.
  * Arguments are validated before tracing, with the argument named in the
    error: shapes always; values when concrete (params finite; configurations
    finite and in [0, 1]), in one fused device check per call. Under a
    caller's own ``jit`` only shapes can be checked (see ``rbm_jax._checks``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rbm_jax import _checks
from rbm_jax._src import model
from rbm_jax.types import RBMParams

__all__ = [
    "RBMParams",
    "init_params",
    "energy",
    "free_energy",
    "hidden_free_energy",
    "prob_h_given_v",
    "prob_v_given_h",
    "log_prob_v_given_h",
    "log_prob_h_given_v",
    "sample_h_given_v",
    "sample_v_given_h",
]


# --------------------------------------------------------------------------
# Initialisation


def init_params(
    key,
    n_visible: int,
    n_hidden: int,
    *,
    data=None,
    dtype=jnp.float32,
    weight_scale: float = 0.01,
    clip: float = 1e-3,
) -> RBMParams:
    """Initial parameters following Hinton's practical guide (2010), section 8.

    ``W ~ N(0, weight_scale²)``; hidden biases 0; visible biases
    ``log(p_i / (1 - p_i))`` where ``p_i`` is the fraction of rows of ``data``
    in which unit ``i`` is on, clipped to ``[clip, 1 - clip]`` so that a unit
    that is always off (or on) gets a large finite bias instead of ∓inf.
    Without ``data`` the visible biases are 0.

    Args:
      key: a PRNG key (typed or legacy).
      n_visible, n_hidden: layer sizes (positive ints).
      data: optional [n_rows, n_visible] values in [0, 1] (checked when concrete).
      dtype: floating dtype of all parameters.
      weight_scale: standard deviation of the initial weights (>= 0).
      clip: how far unit frequencies are kept from 0 and 1, in (0, 0.5).

    Returns:
      ``RBMParams`` with ``W`` [n_visible, n_hidden], ``b`` [n_visible], ``c`` [n_hidden].

    References:
      G. Hinton, A Practical Guide to Training Restricted Boltzmann Machines, UTML TR 2010-003.
    """
    key = _checks.key(key)
    n_visible = _checks.positive_int(n_visible, "n_visible")
    n_hidden = _checks.positive_int(n_hidden, "n_hidden")
    dtype = _checks.float_dtype(dtype)
    weight_scale = _checks.real_number(weight_scale, "weight_scale", low=0)
    clip = _checks.real_number(clip, "clip", low=0, high=0.5, low_open=True, high_open=True)
    W = weight_scale * jax.random.normal(key, (n_visible, n_hidden), dtype)
    if data is None:
        b = jnp.zeros((n_visible,), dtype)
    else:
        data = _checks.data_matrix(data, n_visible, "data", dtype)
        p = jnp.clip(jnp.mean(data, axis=0), clip, 1 - clip)
        b = jnp.log(p) - jnp.log1p(-p)
    c = jnp.zeros((n_hidden,), dtype)
    return RBMParams(W.astype(dtype), b.astype(dtype), c)


# The math lives once in rbm_jax._src.model (through the unit protocol); here it
# is compiled once per function and validated at the boundary.

_energy_jit = jax.jit(model.energy)
_free_energy_jit = jax.jit(model.free_energy)
_hidden_free_energy_jit = jax.jit(model.hidden_free_energy)
_log_prob_v_given_h_jit = jax.jit(model.log_prob_v_given_h)
_log_prob_h_given_v_jit = jax.jit(model.log_prob_h_given_v)
_prob_h_given_v_jit = jax.jit(model.prob_h_given_v)
_prob_v_given_h_jit = jax.jit(model.prob_v_given_h)
_sample_h_given_v_jit = jax.jit(model.sample_h_given_v)
_sample_v_given_h_jit = jax.jit(model.sample_v_given_h)


# --------------------------------------------------------------------------
# Public, validated API.


def _validated(params, *, v=None, h=None, h_first: bool = False):
    """Params (type rule) and configurations (shape), then one fused value check of all of them.

    Values follow each layer's unit rule (binary units: finite, in [0, 1]; grey
    values are legitimate mean-field inputs) and params must be finite.
    """
    params = _checks.rbm_params(params)
    visible, hidden = [], []
    if v is not None:
        v = _checks.configuration(v, params.n_visible, "v", params.dtype, layer="n_visible")
        visible.append((v, "v"))
    if h is not None:
        h = _checks.configuration(h, params.n_hidden, "h", params.dtype, layer="n_hidden")
        hidden.append((h, "h"))
    if v is not None and h is not None:
        if h_first:  # name them in the caller's argument order
            _checks.broadcastable(h, v, "h", "v")
        else:
            _checks.broadcastable(v, h, "v", "h")
    _checks.model_values(params, visible=visible, hidden=hidden)
    return params, v, h


def energy(params: RBMParams, v, h) -> jax.Array:
    """E(v, h) = -bᵀv - cᵀh - vᵀWh.

    Args:
      params: ``RBMParams``.
      v: [..., n_visible] visible configurations.
      h: [..., n_hidden] hidden configurations; batch axes broadcast against ``v``'s.

    Returns:
      [broadcast batch] energies in the params' dtype.
    """
    params, v, h = _validated(params, v=v, h=h)
    return _energy_jit(params, v, h)


def free_energy(params: RBMParams, v) -> jax.Array:
    """F(v) = -log Σ_h exp(-E(v, h)) = -bᵀv - Σ_j softplus(c_j + (Wᵀv)_j).

    So ``P(v) = exp(-F(v)) / Z``. Stable for weights of any size (softplus).

    Args:
      params: ``RBMParams``.
      v: [..., n_visible] visible configurations (or probabilities in [0, 1]).

    Returns:
      [...] free energies in the params' dtype.
    """
    params, v, _ = _validated(params, v=v)
    return _free_energy_jit(params, v)


def hidden_free_energy(params: RBMParams, h) -> jax.Array:
    """F_h(h) = -log Σ_v exp(-E(v, h)) = -cᵀh - Σ_i softplus(b_i + (Wh)_i).

    So ``P(h) = exp(-F_h(h)) / Z``; the visible-side twin of ``free_energy``.

    Args:
      params: ``RBMParams``.
      h: [..., n_hidden] hidden configurations.

    Returns:
      [...] hidden-side free energies in the params' dtype.
    """
    params, _, h = _validated(params, h=h)
    return _hidden_free_energy_jit(params, h)


def prob_h_given_v(params: RBMParams, v) -> jax.Array:
    """P(h_j = 1 | v) = σ(c + Wᵀv)_j for every hidden unit.

    Args:
      params: ``RBMParams``.
      v: [..., n_visible].

    Returns:
      [..., n_hidden] probabilities.
    """
    params, v, _ = _validated(params, v=v)
    return _prob_h_given_v_jit(params, v)


def prob_v_given_h(params: RBMParams, h) -> jax.Array:
    """P(v_i = 1 | h) = σ(b + Wh)_i for every visible unit (the notes' result).

    Args:
      params: ``RBMParams``.
      h: [..., n_hidden].

    Returns:
      [..., n_visible] probabilities.
    """
    params, _, h = _validated(params, h=h)
    return _prob_v_given_h_jit(params, h)


def log_prob_v_given_h(params: RBMParams, v, h) -> jax.Array:
    """log P(v | h) = Σ_i log σ((2v - 1) ⊙ (b + Wh))_i, the notes' formula in log space.

    Args:
      params: ``RBMParams``.
      v: [..., n_visible] the configuration whose probability is computed.
      h: [..., n_hidden] the conditioning configuration; batch axes broadcast.

    Returns:
      [broadcast batch] log-probabilities.
    """
    params, v, h = _validated(params, v=v, h=h)
    return _log_prob_v_given_h_jit(params, v, h)


def log_prob_h_given_v(params: RBMParams, h, v) -> jax.Array:
    """log P(h | v) = Σ_j log σ((2h - 1) ⊙ (c + Wᵀv))_j.

    Args:
      params: ``RBMParams``.
      h: [..., n_hidden] the configuration whose probability is computed.
      v: [..., n_visible] the conditioning configuration; batch axes broadcast.

    Returns:
      [broadcast batch] log-probabilities.
    """
    params, v, h = _validated(params, v=v, h=h, h_first=True)
    return _log_prob_h_given_v_jit(params, h, v)


def sample_h_given_v(key, params: RBMParams, v) -> jax.Array:
    """Draws h ~ P(h | v), one independent draw per row of ``v``.

    Args:
      key: a PRNG key (typed or legacy).
      params: ``RBMParams``.
      v: [..., n_visible].

    Returns:
      [..., n_hidden] samples, 0./1. in the params' dtype.
    """
    key = _checks.key(key)
    params, v, _ = _validated(params, v=v)
    return _sample_h_given_v_jit(key, params, v)


def sample_v_given_h(key, params: RBMParams, h) -> jax.Array:
    """Draws v ~ P(v | h), one independent draw per row of ``h``.

    Args:
      key: a PRNG key (typed or legacy).
      params: ``RBMParams``.
      h: [..., n_hidden].

    Returns:
      [..., n_visible] samples, 0./1. in the params' dtype.
    """
    key = _checks.key(key)
    params, _, h = _validated(params, h=h)
    return _sample_v_given_h_jit(key, params, h)
