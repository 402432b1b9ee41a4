"""Restricted Boltzmann machines of every family: energy, free energies, conditionals, samplers.

The model of the lecture notes::

    P(v, h) = exp(-E(v, h)) / Z,        E(v, h) = -bᵀv - cᵀh - vᵀWh,

with binary visible units ``v`` [n_visible] and hidden units ``h`` [n_hidden].
Summing one layer out gives the free energies and the factorised conditionals::

    F(v)   = -bᵀv - Σ_j softplus(c_j + (vᵀW)_j)          P(v) = exp(-F(v)) / Z
    F_h(h) = -cᵀh - Σ_i softplus(b_i + (Wh)_i)           P(h) = exp(-F_h(h)) / Z
    P(v|h) = Π_i σ((2v - 1) ⊙ (b + Wh))_i                 (the notes' derivation)
    P(h|v) = Π_j σ((2h - 1) ⊙ (c + Wᵀv))_j

Every function here also takes the two other families (``init_params(family=...)``):

  * ``GaussianRBMParams(W, b, c, log_sigma)``: real-valued v,
    E = Σ (v_i − b_i)²/(2σ_i²) − cᵀh − Σ (v_i/σ_i²) W_ij h_j, so
    P(v|h) = N(b + Wh, diag σ²) (``prob_v_given_h`` is its mean) and
    P(h_j = 1|v) = σ(c_j + Σ_i v_i W_ij/σ_i²) (Cho, Ilin & Raiko 2011).
  * ``CategoricalRBMParams(W [n_v, q, n_h], b [n_v, q], c)``: v integer-coded
    in {0, …, q−1} (int32), E = −Σ b[i, v_i] − cᵀh − Σ W[i, v_i, j] h_j, so
    P(v_i|h) = softmax(b_i + W_i h) (``prob_v_given_h`` is [..., n_v, q]).
    Its gauge freedom is documented at ``zero_sum_gauge``.

The math is written once, through the unit protocol (``rbm_jax._src.units``,
``rbm_jax._src.model``): a family is one unit class and one coupling.

Contract:
  * ``W`` is [n_visible, n_hidden], ``b`` [n_visible], ``c`` [n_hidden].
  * ``v`` and ``h`` may carry any leading batch axes; they broadcast against
    each other as numpy would. The configuration whose probability is
    computed always comes first after ``params``.
  * Outputs follow the params' dtype (float32 by default; float64 when the
    user enables x64 — this module never touches JAX's global config);
    categorical configurations and samples are int32.
  * Everything is computed in log space (softplus, log-sigmoid), so weights of
    any magnitude give finite results.
  * Arguments are validated before tracing, with the argument named in the
    error: shapes always; values when concrete (params finite; configurations
    by their unit type: binary in [0, 1], Gaussian finite, categorical integer
    states in {0, …, q−1}), in one fused device check per call. Under a
    caller's own ``jit`` only shapes can be checked (see ``rbm_jax._checks``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rbm_jax import _checks
from rbm_jax._src import model
from rbm_jax._src.units import units_of
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams

__all__ = [
    "RBMParams",
    "GaussianRBMParams",
    "CategoricalRBMParams",
    "FAMILIES",
    "init_params",
    "zero_sum_gauge",
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


#: The RBM families by the name ``init_params(family=...)`` takes, and their params types.
FAMILIES = {"bernoulli": RBMParams, "gaussian": GaussianRBMParams, "categorical": CategoricalRBMParams}


def init_params(
    key,
    n_visible: int,
    n_hidden: int,
    *,
    data=None,
    family: str = "bernoulli",
    n_states: int | None = None,
    dtype=jnp.float32,
    weight_scale: float = 0.01,
    clip: float = 1e-3,
):
    """Initial parameters of any family, following Hinton's practical guide (2010), section 8.

    Every family: ``W ~ N(0, weight_scale²)`` and hidden biases 0. The visible
    side is set from ``data`` so that, with W = 0, the model's visible units
    have the data's statistics (the base-rate model):

      * ``'bernoulli'`` (``RBMParams``): ``b = log(p / (1 − p))`` with p the
        fraction of rows in which each unit is on, clipped to ``[clip, 1 − clip]``
        so that an always-off (or on) unit gets a large finite bias.
      * ``'gaussian'`` (``GaussianRBMParams``): ``b`` the data's mean and
        ``log_sigma`` the log of its standard deviation, floored at ``clip``
        (a constant column would give σ = 0). Standardise real-valued data
        first (subtract the training mean, divide by its std, as
        ``data.continuous_digits`` does): the defaults assume unit scale.
      * ``'categorical'`` (``CategoricalRBMParams``, ``n_states`` = q required):
        ``b[i, a] = log p_ia`` with p the state frequencies clipped to
        ``[clip, 1]``; b and W are put in the zero-sum gauge (see
        ``zero_sum_gauge``).

    Without ``data`` the visible biases are 0 (and σ = 1).

    Args:
      key: a PRNG key (typed or legacy).
      n_visible, n_hidden: layer sizes (positive ints).
      data: optional [n_rows, n_visible] data of the family's units (checked when concrete):
        values in [0, 1], finite reals, or integer states in {0, …, q−1}.
      family: ``'bernoulli'``, ``'gaussian'`` or ``'categorical'``.
      n_states: q, the number of states of a categorical site (>= 2); only for ``'categorical'``.
      dtype: floating dtype of all parameters.
      weight_scale: standard deviation of the initial weights (>= 0).
      clip: frequencies are kept in [clip, 1 − clip] (σ >= clip for Gaussian units), in (0, 0.5).

    Returns:
      ``RBMParams``, ``GaussianRBMParams`` or ``CategoricalRBMParams``.

    References:
      G. Hinton, A Practical Guide to Training Restricted Boltzmann Machines, UTML TR 2010-003.
      K. Cho, A. Ilin & T. Raiko, Improved learning of Gaussian-Bernoulli RBMs, ICANN 2011.
    """
    key = _checks.key(key)
    n_visible = _checks.positive_int(n_visible, "n_visible")
    n_hidden = _checks.positive_int(n_hidden, "n_hidden")
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
    if family == "categorical":
        if n_states is None:
            raise ValueError("n_states (q, the states per categorical site) is required with family='categorical'")
        n_states = _checks.positive_int(n_states, "n_states")
        if n_states < 2:
            raise ValueError(f"n_states must be at least 2 (states per categorical site), got {n_states}")
    elif n_states is not None:
        raise ValueError(f"n_states applies to family='categorical' only, got n_states={n_states!r} "
                         f"with family={family!r}")
    dtype = _checks.float_dtype(dtype)
    weight_scale = _checks.real_number(weight_scale, "weight_scale", low=0)
    clip = _checks.real_number(clip, "clip", low=0, high=0.5, low_open=True, high_open=True)
    units = units_of(family, n_states)
    if data is not None:
        data = _checks.data_matrix(data, n_visible, "data", units.state_dtype(dtype), units=units)
    c = jnp.zeros((n_hidden,), dtype)
    if family == "bernoulli":
        W = weight_scale * jax.random.normal(key, (n_visible, n_hidden), dtype)
        b = jnp.zeros((n_visible,), dtype)
        if data is not None:
            p = jnp.clip(jnp.mean(data, axis=0), clip, 1 - clip)
            b = (jnp.log(p) - jnp.log1p(-p)).astype(dtype)
        return RBMParams(W.astype(dtype), b, c)
    if family == "gaussian":
        W = weight_scale * jax.random.normal(key, (n_visible, n_hidden), dtype)
        b, log_sigma = jnp.zeros((n_visible,), dtype), jnp.zeros((n_visible,), dtype)
        if data is not None:
            b = jnp.mean(data, axis=0).astype(dtype)
            log_sigma = jnp.log(jnp.maximum(jnp.std(data, axis=0), clip)).astype(dtype)
        return GaussianRBMParams(W.astype(dtype), b, c, log_sigma)
    W = weight_scale * jax.random.normal(key, (n_visible, n_states, n_hidden), dtype)
    b = jnp.zeros((n_visible, n_states), dtype)
    if data is not None:
        p = jnp.clip(jnp.mean(units.one_hot(data, dtype), axis=0), clip, 1)
        b = jnp.log(p).astype(dtype)
    return zero_sum_gauge(CategoricalRBMParams(W.astype(dtype), b, c))


def zero_sum_gauge(params):
    """The same model in the zero-sum gauge: Σ_a b[i, a] = 0 and Σ_a W[i, a, j] = 0 (categorical).

    For categorical units, b[i, ·] + g_i gives the same P(v, h) (the energy
    moves by a constant), and so does W[i, ·, j] + g_ij with c_j − Σ_i g_ij
    (the hidden bias absorbs the shift). This picks the representative
    with zero mean over states: W' = W − mean_a W, c' = c + Σ_i mean_a W[i, a, :],
    b' = b − mean_a b. Compare categorical parameters in this gauge. The other
    families have no such freedom; their params come back unchanged.

    Returns:
      params of the same type, with the same P(v, h).
    """
    params = _checks.rbm_params(params)
    if not isinstance(params, CategoricalRBMParams):
        return params
    return model.zero_sum_gauge(params)


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
        v = _checks.visible_configuration(params, v, "v")
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
