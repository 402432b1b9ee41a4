"""Backprop by hand: the notes' two-layer network, a general MLP, and training with either gradient.

The notes' network (lecture notes, "Deep Learning Part 2", worked example)::

    h1 = W1 x + b1        a1 = ReLU(h1)
    h2 = W2ᵀ a1 + b2      y  = a2 = σ(h2)
    J  = ½ (t − y)²

with W1 = [[0.75, 0.5], [−1, 1]], b1 = [0, 0], W2 = [[1], [1]], b2 = [−1], x = [1, 0.5], t = 1.
The chain rule for ∂J/∂W1 is written as six numbered factors::

    ∂J/∂W1 = ∂J/∂y · ∂y/∂a2 · ∂a2/∂h2 · ∂h2/∂a1 · ∂a1/∂h1 · ∂h1/∂W1
               (1)      (2)      (3)       (4)       (5)       (6)
              1×1      1×1      1×1       1×2       2×2     2×(2×2)

and the notes find h1 = [1, −0.5], a1 = [1, 0], h2 = 0, y = ½ and
∂J/∂W1 = [[−1/8, −1/16], [0, 0]].

Contract:
  * Notes' network: ``SeedMLPParams(W1, b1, W2, b2)`` with ``W1`` [n_hidden, n_in],
    ``b1`` [n_hidden], ``W2`` [n_hidden, 1] (a column, used as W2ᵀ), ``b2`` [1]; ``x`` [n_in];
    ``t`` a scalar (or [1]); ``y`` [1]. ``seed_example()`` gives the notes' numbers
    (n_in = n_hidden = 2).
    ``manual_grads`` returns ``SeedMLPParams`` of gradients, computed by hand (no autodiff).
  * The six factors are public functions of the forward values, each returning the Jacobian of its
    own stage laid out ``[outputs..., inputs...]`` in the shapes above, so each equals
    ``jax.jacobian`` of that stage; ``chain_rule_dJ_dW1`` contracts them.
  * ReLU′(0): the notes take ReLU′(h) = 1 for h ≥ 0, while ``jax.nn.relu`` differentiates to 0
    at 0. ``relu_grad_at_zero`` picks the value (default 1.0, the notes'; 0.0 reproduces
    ``jax.grad``; any value in [0, 1] is a valid subgradient). The two differ only where a
    pre-activation is exactly 0.
  * General MLP: params are a tuple of ``Layer(W, b)`` with ``W`` [n_in, n_out] and ``b`` [n_out];
    inputs are batched row-major, ``x`` [batch, n_in]; ``activations`` names one activation per
    layer from ``ACTIVATIONS``; ``loss`` is one of ``LOSSES``, each the MEAN over the batch:
      - ``"squared_error"``: per row ½‖y − t‖², ``t`` [batch, n_out];
      - ``"softmax_cross_entropy"``: per row −Σ_k t_k log softmax(z)_k, computed in log space
        (logsumexp) so huge logits stay finite; ``t`` integer labels [batch] or target
        probabilities [batch, n_out]; the last activation must be ``"identity"`` (the logits).
    ``mlp_manual_grads`` is a hand-written backward pass (no autodiff) returning gradients with the
    structure of ``params``.
  * Training: ``train(key, params, x, t, *, loss_fn, grad_fn, optimizer, n_steps, batch_size)`` is
    one jitted ``lax.scan`` over optax updates with any gradient function (hand-written or
    ``jax.grad``); minibatches come from ``fold_in(key, step)``, so two gradient functions see the
    same batches.
  * dtypes follow the params; this module never changes JAX's global configuration.
  * Arguments are validated at the Python boundary (shapes, names, label ranges) with errors that
    name the argument; under a caller's ``jit`` only static properties (shapes, names) are checked.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rbm_jax import _checks

__all__ = [
    # the notes' network
    "SeedMLPParams",
    "SeedForward",
    "ChainFactors",
    "seed_example",
    "forward",
    "loss",
    "manual_grads",
    "dJ_dy",
    "dy_da2",
    "da2_dh2",
    "dh2_da1",
    "da1_dh1",
    "dh1_dW1",
    "chain_factors",
    "chain_rule_dJ_dW1",
    # the general MLP
    "ACTIVATIONS",
    "LOSSES",
    "Layer",
    "MLPForward",
    "init_mlp",
    "mlp_forward",
    "mlp_intermediates",
    "mlp_loss",
    "mlp_manual_grads",
    "accuracy",
    # training
    "TrainState",
    "TrainMetrics",
    "init_train_state",
    "train_step",
    "train",
]


def _default_float() -> np.dtype:
    """float32, or float64 when the user has enabled x64."""
    return np.dtype(jnp.asarray(0.0).dtype)


def _relu_grad_at_zero(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"relu_grad_at_zero must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        # Any value in [0, 1] is a subgradient of ReLU at 0; others are not derivatives at all.
        raise ValueError(
            f"relu_grad_at_zero must lie in [0, 1] (a subgradient of ReLU at 0), got {value}"
        )
    return value


def _relu_derivative(h: jax.Array, at_zero) -> jax.Array:
    """ReLU′(h): 1 for h > 0, 0 for h < 0, ``at_zero`` at exactly 0; in h's dtype."""
    one, zero = jnp.ones_like(h), jnp.zeros_like(h)
    return jnp.where(h > 0, one, jnp.where(h == 0, jnp.asarray(at_zero, h.dtype), zero))


def _floating_array(x: Any, name: str) -> jax.Array:
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating array, got dtype {arr.dtype}")
    return arr


def _finite(x: jax.Array, name: str) -> None:
    if _checks.is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} contains NaN or inf")


# ==========================================================================
# The notes' network


class SeedMLPParams(NamedTuple):
    """Parameters of the notes' network (a pytree)."""

    W1: jax.Array  # [n_hidden, n_in]   h1 = W1 x + b1
    b1: jax.Array  # [n_hidden]
    W2: jax.Array  # [n_hidden, 1]      h2 = W2ᵀ a1 + b2 (a column used transposed)
    b2: jax.Array  # [1]


class SeedForward(NamedTuple):
    """The forward pass of the notes' network, every intermediate kept."""

    h1: jax.Array  # [n_hidden] pre-activation of the hidden layer
    a1: jax.Array  # [n_hidden] ReLU(h1)
    h2: jax.Array  # [1] pre-activation of the output
    y: jax.Array  # [1] σ(h2), also called a2


class ChainFactors(NamedTuple):
    """The notes' six chain-rule factors, each the Jacobian of one stage [outputs..., inputs...]."""

    dJ_dy: jax.Array  # (1) [1, 1]
    dy_da2: jax.Array  # (2) [1, 1]
    da2_dh2: jax.Array  # (3) [1, 1]
    dh2_da1: jax.Array  # (4) [1, n_hidden]
    da1_dh1: jax.Array  # (5) [n_hidden, n_hidden]
    dh1_dW1: jax.Array  # (6) [n_hidden, n_hidden, n_in]


def seed_example(*, dtype=None) -> tuple[SeedMLPParams, jax.Array, jax.Array]:
    """The notes' network, input and target.

    Args:
      dtype: floating dtype of everything; default the default float (float32, or float64 with
        x64 enabled).

    Returns:
      ``(params, x, t)``: ``SeedMLPParams`` with W1 = [[0.75, 0.5], [−1, 1]] [2, 2],
      b1 = [0, 0] [2], W2 = [[1], [1]] [2, 1], b2 = [−1] [1]; x = [1, 0.5] [2]; t = 1.0 a scalar.
    """
    dtype = _default_float() if dtype is None else _checks.float_dtype(dtype)
    params = SeedMLPParams(
        W1=jnp.array([[0.75, 0.5], [-1.0, 1.0]], dtype),
        b1=jnp.array([0.0, 0.0], dtype),
        W2=jnp.array([[1.0], [1.0]], dtype),
        b2=jnp.array([-1.0], dtype),
    )
    return params, jnp.array([1.0, 0.5], dtype), jnp.asarray(1.0, dtype)


def _seed_params(params: Any, name: str = "params") -> SeedMLPParams:
    try:
        W1, b1, W2, b2 = params
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be SeedMLPParams(W1, b1, W2, b2), got {type(params).__name__}"
        ) from None
    W1, b1, W2, b2 = (
        _floating_array(a, f"{name}.{n}") for a, n in zip((W1, b1, W2, b2), SeedMLPParams._fields)
    )
    if W1.ndim != 2:
        raise ValueError(f"{name}.W1 must be [n_hidden, n_in], got shape {W1.shape}")
    n_hidden = W1.shape[0]
    if b1.shape != (n_hidden,):
        raise ValueError(f"{name}.b1 must be [n_hidden] = [{n_hidden}], got shape {b1.shape}")
    if W2.shape != (n_hidden, 1):
        raise ValueError(f"{name}.W2 must be [n_hidden, 1] = [{n_hidden}, 1], got shape {W2.shape}")
    if b2.shape != (1,):
        raise ValueError(f"{name}.b2 must be [1], got shape {b2.shape}")
    if not (W1.dtype == b1.dtype == W2.dtype == b2.dtype):
        raise TypeError(
            f"{name} leaves must share one dtype, got W1 {W1.dtype}, b1 {b1.dtype}, "
            f"W2 {W2.dtype}, b2 {b2.dtype}"
        )
    return SeedMLPParams(W1, b1, W2, b2)


def _seed_x(params: SeedMLPParams, x: Any, name: str = "x") -> jax.Array:
    x = jnp.asarray(x)
    n_in = params.W1.shape[1]
    if x.shape != (n_in,):
        raise ValueError(
            f"{name} must be [n_in] = [{n_in}] to match params.W1, got shape {x.shape}"
        )
    return x.astype(params.W1.dtype)


def _seed_t(params: SeedMLPParams, t: Any, name: str = "t") -> jax.Array:
    t = jnp.asarray(t)
    if t.shape not in ((), (1,)):
        raise ValueError(f"{name} must be a scalar (or [1]), got shape {t.shape}")
    return t.reshape(()).astype(params.W1.dtype)


def _forward(params: SeedMLPParams, x: jax.Array) -> SeedForward:
    h1 = params.W1 @ x + params.b1
    a1 = jax.nn.relu(h1)
    h2 = params.W2.T @ a1 + params.b2
    return SeedForward(h1, a1, h2, jax.nn.sigmoid(h2))


def _loss(params: SeedMLPParams, x: jax.Array, t: jax.Array) -> jax.Array:
    y = _forward(params, x).y
    return 0.5 * (t - y[0]) ** 2


def _manual_grads(params: SeedMLPParams, x, t, relu_grad_at_zero) -> SeedMLPParams:
    h1, a1, _, y = _forward(params, x)
    # δ2 = ∂J/∂h2 = (1)(2)(3) = −(t − y) · 1 · σ(h2)(1 − σ(h2)), σ(h2) = y.  [1]
    delta2 = -(t - y) * y * (1 - y)
    # h2 = W2ᵀ a1 + b2: ∂J/∂W2[i, 0] = a1[i] δ2, ∂J/∂b2 = δ2.
    grad_W2 = a1[:, None] * delta2[None, :]
    # δ1 = ∂J/∂h1 = δ2 (4)(5) = (W2 δ2) ⊙ ReLU′(h1).  [n_hidden]
    delta1 = (params.W2 @ delta2) * _relu_derivative(h1, relu_grad_at_zero)
    # h1 = W1 x + b1: contracting (6) gives ∂J/∂W1[i, k] = δ1[i] x[k], ∂J/∂b1 = δ1.
    grad_W1 = delta1[:, None] * x[None, :]
    return SeedMLPParams(grad_W1, delta1, grad_W2, delta2)


_forward_jit = jax.jit(_forward)
_loss_jit = jax.jit(_loss)
_manual_grads_jit = jax.jit(_manual_grads)


def forward(params: SeedMLPParams, x) -> SeedForward:
    """The notes' forward pass, keeping every intermediate.

    Args:
      params: ``SeedMLPParams`` (W1 [n_hidden, n_in], b1 [n_hidden], W2 [n_hidden, 1], b2 [1]).
      x: [n_in] input.

    Returns:
      ``SeedForward(h1 [n_hidden], a1 [n_hidden], h2 [1], y [1])``.
    """
    params = _seed_params(params)
    return _forward_jit(params, _seed_x(params, x))


def loss(params: SeedMLPParams, x, t) -> jax.Array:
    """J = ½ (t − y)², the notes' loss.

    Args:
      params: ``SeedMLPParams``.
      x: [n_in] input.
      t: scalar target (shape [] or [1]).

    Returns:
      [] the loss, in the params' dtype.
    """
    params = _seed_params(params)
    return _loss_jit(params, _seed_x(params, x), _seed_t(params, t))


def manual_grads(params: SeedMLPParams, x, t, *, relu_grad_at_zero: float = 1.0) -> SeedMLPParams:
    """∂J/∂params by the hand-derived chain rule (no autodiff).

    With δ2 = −(t − y) σ(h2)(1 − σ(h2)) [1] and δ1 = (W2 δ2) ⊙ ReLU′(h1) [n_hidden]:
    ∂J/∂W1 = δ1 xᵀ, ∂J/∂b1 = δ1, ∂J/∂W2 = a1 δ2ᵀ, ∂J/∂b2 = δ2.

    Args:
      params: ``SeedMLPParams``.
      x: [n_in] input.
      t: scalar target.
      relu_grad_at_zero: ReLU′(0); 1.0 is the notes' convention (ReLU′(h) = 1 for h ≥ 0),
        0.0 is ``jax.nn.relu``'s, so that the result equals ``jax.grad(loss)`` even at a tie.

    Returns:
      ``SeedMLPParams`` of gradients, each shaped like its parameter.
    """
    g0 = _relu_grad_at_zero(relu_grad_at_zero)
    params = _seed_params(params)
    return _manual_grads_jit(params, _seed_x(params, x), _seed_t(params, t), g0)


# --------------------------------------------------------------------------
# The six numbered factors of the notes, each a function of forward values.


def _vector(x: Any, name: str, length: int | None = None) -> jax.Array:
    arr = _floating_array(x, name)
    if arr.ndim != 1 or (length is not None and arr.shape != (length,)):
        want = "[n]" if length is None else f"[{length}]"
        raise ValueError(f"{name} must be a vector {want}, got shape {arr.shape}")
    return arr


def dJ_dy(y, t) -> jax.Array:
    """Factor (1): ∂J/∂y = −(t − y) for J = ½ (t − y)².

    Args:
      y: [1] the network's output.
      t: scalar target (shape [] or [1]).

    Returns:
      [1, 1] the Jacobian of J (as a 1-vector) with respect to y.
    """
    y = _vector(y, "y", 1)
    t = jnp.asarray(t, y.dtype)
    if t.shape not in ((), (1,)):
        raise ValueError(f"t must be a scalar (or [1]), got shape {t.shape}")
    return (-(t.reshape(()) - y)).reshape(1, 1)


def dy_da2(a2) -> jax.Array:
    """Factor (2): ∂y/∂a2 = 1, since the output is y = a2.

    Args:
      a2: [1] the output layer's activation.

    Returns:
      [1, 1] the identity, in a2's dtype.
    """
    a2 = _vector(a2, "a2", 1)
    return jnp.ones((1, 1), a2.dtype)


def da2_dh2(h2) -> jax.Array:
    """Factor (3): ∂a2/∂h2 = σ(h2)(1 − σ(h2)).

    Args:
      h2: [1] the output pre-activation.

    Returns:
      [1, 1] the Jacobian of σ at h2.
    """
    h2 = _vector(h2, "h2", 1)
    s = jax.nn.sigmoid(h2)
    return (s * (1 - s)).reshape(1, 1)


def dh2_da1(W2) -> jax.Array:
    """Factor (4): ∂h2/∂a1 = W2ᵀ, for h2 = W2ᵀ a1 + b2.

    Args:
      W2: [n_hidden, 1] the output weights (a column).

    Returns:
      [1, n_hidden] the Jacobian, W2ᵀ.
    """
    W2 = _floating_array(W2, "W2")
    if W2.ndim != 2 or W2.shape[1] != 1:
        raise ValueError(f"W2 must be [n_hidden, 1], got shape {W2.shape}")
    return W2.T


def da1_dh1(h1, *, relu_grad_at_zero: float = 1.0) -> jax.Array:
    """Factor (5): ∂a1/∂h1 = diag(ReLU′(h1)), ReLU′(h) = 1 for h > 0, 0 for h < 0.

    Args:
      h1: [n_hidden] the hidden pre-activation.
      relu_grad_at_zero: the value used where h1 is exactly 0 (1.0: the notes, 0.0: JAX).

    Returns:
      [n_hidden, n_hidden] the diagonal Jacobian of the elementwise ReLU.
    """
    g0 = _relu_grad_at_zero(relu_grad_at_zero)
    h1 = _vector(h1, "h1")
    return jnp.diag(_relu_derivative(h1, g0))


def dh1_dW1(x, n_hidden: int) -> jax.Array:
    """Factor (6): ∂h1/∂W1 for h1 = W1 x + b1, the 2 × (2 × 2) tensor the notes draw.

    Entry ``[i, j, k]`` is ∂h1_i/∂W1_jk = δ_ij x_k: slice ``i`` is a matrix whose row ``i``
    is xᵀ and whose other rows are 0.

    Args:
      x: [n_in] the input.
      n_hidden: number of hidden units (rows of W1).

    Returns:
      [n_hidden, n_hidden, n_in] the Jacobian.
    """
    x = _vector(x, "x")
    n_hidden = _checks.positive_int(n_hidden, "n_hidden")
    return jnp.eye(n_hidden, dtype=x.dtype)[:, :, None] * x[None, None, :]


def chain_factors(params: SeedMLPParams, x, t, *, relu_grad_at_zero: float = 1.0) -> ChainFactors:
    """Runs the forward pass and evaluates the notes' factors (1)–(6) at it.

    Args:
      params: ``SeedMLPParams``.
      x: [n_in] input.
      t: scalar target.
      relu_grad_at_zero: ReLU′(0) used by factor (5).

    Returns:
      ``ChainFactors``, shapes [1, 1], [1, 1], [1, 1], [1, n_hidden], [n_hidden, n_hidden],
      [n_hidden, n_hidden, n_in].
    """
    fw = forward(params, x)
    params = _seed_params(params)
    x = _seed_x(params, x)
    return ChainFactors(
        dJ_dy(fw.y, _seed_t(params, t)),
        dy_da2(fw.y),
        da2_dh2(fw.h2),
        dh2_da1(params.W2),
        da1_dh1(fw.h1, relu_grad_at_zero=relu_grad_at_zero),
        dh1_dW1(x, params.W1.shape[0]),
    )


def chain_rule_dJ_dW1(factors: ChainFactors) -> jax.Array:
    """Contracts the six factors into ∂J/∂W1, as the notes do.

    (1)(2)(3)(4)(5) is a [1, n_hidden] row (−1/8 [1 0] in the notes); contracting its hidden
    axis with the first axis of (6) [n_hidden, n_hidden, n_in] gives [n_hidden, n_in].

    Args:
      factors: ``ChainFactors``.

    Returns:
      [n_hidden, n_in] ∂J/∂W1.
    """
    f1, f2, f3, f4, f5, f6 = factors
    row = f1 @ f2 @ f3 @ f4 @ f5  # [1, n_hidden]
    return jnp.tensordot(row, f6, axes=([1], [0]))[0]


# ==========================================================================
# The general MLP

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
LOSSES = ("squared_error", "softmax_cross_entropy")


class Layer(NamedTuple):
    """One dense layer, z = x W + b (a pytree)."""

    W: jax.Array  # [n_in, n_out]
    b: jax.Array  # [n_out]


class MLPForward(NamedTuple):
    """Every layer's pre-activation and activation for a batch."""

    pre: tuple  # per layer l: [batch, n_out_l] z_l = a_{l-1} W_l + b_l
    post: tuple  # per layer l: [batch, n_out_l] a_l = act_l(z_l); post[-1] is the output


def init_mlp(
    key,
    sizes: Sequence[int],
    *,
    dtype=jnp.float32,
    weight_scale: float = 1.0,
    bias_scale: float = 0.0,
) -> tuple[Layer, ...]:
    """Random MLP parameters: ``W_l ~ N(0, weight_scale² / n_in)``, ``b_l ~ N(0, bias_scale²)``.

    With ``weight_scale=1`` this is LeCun's initialisation.

    Args:
      key: a PRNG key (typed or legacy).
      sizes: layer widths ``[n_in, n_hidden_1, ..., n_out]`` (at least two positive ints).
      dtype: floating dtype of all parameters.
      weight_scale: multiplies the LeCun standard deviation 1/√n_in (>= 0).
      bias_scale: standard deviation of the biases (>= 0; 0 gives zero biases).

    Returns:
      A tuple of ``len(sizes) - 1`` ``Layer``s, layer l with ``W`` [sizes[l], sizes[l+1]] and
      ``b`` [sizes[l+1]].
    """
    key = _checks.key(key)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least an input and an output width, got {list(sizes)}"
        )
    sizes = [_checks.positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    dtype = _checks.float_dtype(dtype)
    for value, name in ((weight_scale, "weight_scale"), (bias_scale, "bias_scale")):
        if not (isinstance(value, numbers.Real) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return _init_mlp(key, float(weight_scale), float(bias_scale), sizes=tuple(sizes), dtype=dtype)


def _init_mlp(key, weight_scale, bias_scale, *, sizes, dtype) -> tuple[Layer, ...]:
    # One normal draw for all parameters, sliced per layer, its length rounded up to a power of
    # two: compiling the sampler dominates the cost of a small init, and this way it is compiled
    # once per size class rather than once per array and architecture.
    total = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    z = _padded_normal(key, max(64, 1 << (total - 1).bit_length()), dtype)
    layers, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = z[start:start + n_in * n_out].reshape(n_in, n_out)
        b = z[start + n_in * n_out:start + n_in * n_out + n_out]
        start += n_in * n_out + n_out
        layers.append(Layer((weight_scale / np.sqrt(n_in) * W).astype(dtype),
                            (bias_scale * b).astype(dtype)))
    return tuple(layers)


_padded_normal = jax.jit(lambda key, n, dtype: jax.random.normal(key, (n,), dtype),
                         static_argnames=("n", "dtype"))


# --------------------------------------------------------------------------
# Boundary validation


def _mlp_params(params: Any, name: str = "params") -> tuple[Layer, ...]:
    if isinstance(params, Layer) or not isinstance(params, (tuple, list)):
        raise TypeError(
            f"{name} must be a tuple of Layer(W, b), one per layer, got {type(params).__name__}"
        )
    if len(params) == 0:
        raise ValueError(
            f"{name} must hold at least one Layer, got an empty {type(params).__name__}"
        )
    layers = []
    for i, layer in enumerate(params):
        try:
            W, b = layer
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}[{i}] must be Layer(W, b), got {type(layer).__name__}"
            ) from None
        W = _floating_array(W, f"{name}[{i}].W")
        b = _floating_array(b, f"{name}[{i}].b")
        if W.ndim != 2:
            raise ValueError(f"{name}[{i}].W must be [n_in, n_out], got shape {W.shape}")
        if b.shape != (W.shape[1],):
            raise ValueError(
                f"{name}[{i}].b must be [n_out] = [{W.shape[1]}] to match {name}[{i}].W "
                f"{W.shape}, got shape {b.shape}"
            )
        if i > 0 and W.shape[0] != layers[-1].W.shape[1]:
            raise ValueError(
                f"{name}[{i}].W must have n_in = {layers[-1].W.shape[1]} rows (the width of "
                f"{name}[{i - 1}]), got shape {W.shape}"
            )
        layers.append(Layer(W, b))
    dtypes = {leaf.dtype for layer in layers for leaf in layer}
    if len(dtypes) != 1:
        raise TypeError(f"{name} leaves must share one dtype, got {sorted(map(str, dtypes))}")
    return tuple(layers)


def _activations(activations: Any, n_layers: int, name: str = "activations") -> tuple[str, ...]:
    if isinstance(activations, str) or not isinstance(activations, Sequence):
        raise TypeError(
            f"{name} must be a sequence of {n_layers} names (one per layer) from {ACTIVATIONS}, "
            f"got {activations!r}"
        )
    if len(activations) != n_layers:
        raise ValueError(
            f"{name} must name one activation per layer ({n_layers}), got {len(activations)}: "
            f"{list(activations)!r}"
        )
    for i, act in enumerate(activations):
        if act not in ACTIVATIONS:
            raise ValueError(f"{name}[{i}] must be one of {ACTIVATIONS}, got {act!r}")
    return tuple(activations)


def _loss_name(loss: Any, activations: tuple[str, ...]) -> str:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "softmax_cross_entropy" and activations[-1] != "identity":
        raise ValueError(
            f"activations[-1] must be 'identity' with loss='softmax_cross_entropy' (the last "
            f"layer gives the logits; the softmax is part of the loss), got {activations[-1]!r}"
        )
    return loss


def _inputs(params: tuple[Layer, ...], x: Any, name: str = "x") -> jax.Array:
    x = jnp.asarray(x)
    n_in = params[0].W.shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(
            f"{name} must be [batch, n_in] = [batch, {n_in}] (rows are examples), "
            f"got shape {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one row, got shape {x.shape}")
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(params[0].W.dtype)
    _finite(x, name)
    return x


def _targets(params: tuple[Layer, ...], x: jax.Array, t: Any, loss: str,
             name: str = "t") -> jax.Array:
    t = jnp.asarray(t)
    batch, n_out = x.shape[0], params[-1].W.shape[1]
    dtype = params[0].W.dtype
    if loss == "softmax_cross_entropy" and jnp.issubdtype(t.dtype, jnp.integer):
        if t.shape != (batch,):
            raise ValueError(
                f"{name} as integer class labels must be [batch] = [{batch}], got shape {t.shape}"
            )
        if _checks.is_concrete(t):
            host = np.asarray(t)
            bad = (host < 0) | (host >= n_out)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"{name} labels must lie in [0, {n_out}) (n_out classes); "
                    f"{name}[{i}] = {host[i]}"
                )
        return jax.nn.one_hot(t, n_out, dtype=dtype)
    if t.shape != (batch, n_out):
        extra = " or integer labels [batch]" if loss == "softmax_cross_entropy" else ""
        raise ValueError(
            f"{name} must be [batch, n_out] = [{batch}, {n_out}]{extra} for loss={loss!r}, "
            f"got shape {t.shape}"
        )
    if not (jnp.issubdtype(t.dtype, jnp.number) or t.dtype == jnp.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {t.dtype}")
    t = t.astype(dtype)
    _finite(t, name)
    return t


def _restructure(grads: tuple[Layer, ...], like: Any) -> Any:
    """Gives ``grads`` the caller's container types (list, plain pairs), as ``jax.grad`` would."""
    treedef = jax.tree.structure(like)
    leaves = jax.tree.leaves(grads)
    if treedef.num_leaves == len(leaves):
        return jax.tree.unflatten(treedef, leaves)
    return grads


# --------------------------------------------------------------------------
# Unchecked cores


def _activate(name: str, z: jax.Array) -> jax.Array:
    if name == "relu":
        return jax.nn.relu(z)
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "tanh":
        return jnp.tanh(z)
    return z


def _activation_derivative(name: str, z: jax.Array, a: jax.Array, relu_grad_at_zero) -> jax.Array:
    """act′(z), written from the forward values: σ′ = a(1 − a), tanh′ = 1 − a²."""
    if name == "relu":
        return _relu_derivative(z, relu_grad_at_zero)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    return jnp.ones_like(z)


def _mlp_intermediates(params, x, activations) -> MLPForward:
    pre, post = [], []
    a = x
    for layer, act in zip(params, activations):
        z = a @ layer.W + layer.b
        a = _activate(act, z)
        pre.append(z)
        post.append(a)
    return MLPForward(tuple(pre), tuple(post))


def _per_row_loss(loss: str, y: jax.Array, t: jax.Array) -> jax.Array:
    if loss == "squared_error":
        return 0.5 * jnp.sum((y - t) ** 2, axis=-1)
    # −Σ_k t_k log softmax(y)_k = (Σ_k t_k) logsumexp(y) − Σ_k t_k y_k: no exp of a raw logit.
    lse = jax.nn.logsumexp(y, axis=-1)
    return jnp.sum(t, axis=-1) * lse - jnp.sum(t * y, axis=-1)


def _mlp_loss(params, x, t, activations, loss) -> jax.Array:
    y = _mlp_intermediates(params, x, activations).post[-1]
    return jnp.mean(_per_row_loss(loss, y, t))


def _mlp_manual_grads(params, x, t, relu_grad_at_zero, activations, loss) -> tuple[Layer, ...]:
    pre, post = _mlp_intermediates(params, x, activations)
    batch = x.shape[0]
    y = post[-1]
    # g = ∂L/∂a_L for the batch mean L = (1/B) Σ_rows ℓ.
    if loss == "squared_error":
        g = (y - t) / batch
    else:
        # ∂ℓ/∂z = (Σ_k t_k) softmax(z) − t; softmax via log space, so huge logits stay finite.
        lse = jax.nn.logsumexp(y, axis=-1, keepdims=True)
        g = (jnp.sum(t, axis=-1, keepdims=True) * jnp.exp(y - lse) - t) / batch
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        a_prev = x if l == 0 else post[l - 1]
        delta = g * _activation_derivative(activations[l], pre[l], post[l], relu_grad_at_zero)
        grads[l] = Layer(a_prev.T @ delta, jnp.sum(delta, axis=0))  # z = a_prev W + b
        g = delta @ params[l].W.T  # ∂L/∂a_{l-1}
    return tuple(grads)


_mlp_intermediates_jit = jax.jit(_mlp_intermediates, static_argnames=("activations",))
_mlp_loss_jit = jax.jit(_mlp_loss, static_argnames=("activations", "loss"))
_mlp_manual_grads_jit = jax.jit(_mlp_manual_grads, static_argnames=("activations", "loss"))


# --------------------------------------------------------------------------
# Public, validated API


def mlp_intermediates(params, x, activations: Sequence[str]) -> MLPForward:
    """The forward pass with every layer's pre-activation and activation.

    Args:
      params: tuple of ``Layer(W [n_in, n_out], b [n_out])``.
      x: [batch, n_in] inputs, one example per row.
      activations: one name per layer from ``ACTIVATIONS``.

    Returns:
      ``MLPForward(pre, post)``: tuples of [batch, n_out_l] arrays, one per layer.
    """
    params = _mlp_params(params)
    activations = _activations(activations, len(params))
    return _mlp_intermediates_jit(params, _inputs(params, x), activations)


def mlp_forward(params, x, activations: Sequence[str]) -> jax.Array:
    """The network's output a_L, with a_0 = x and a_l = act_l(a_{l-1} W_l + b_l).

    Args:
      params: tuple of ``Layer(W [n_in, n_out], b [n_out])``.
      x: [batch, n_in] inputs.
      activations: one name per layer from ``ACTIVATIONS``.

    Returns:
      [batch, n_out] outputs (the logits when the last activation is ``"identity"``).
    """
    return mlp_intermediates(params, x, activations).post[-1]


def mlp_loss(params, x, t, *, activations: Sequence[str], loss: str) -> jax.Array:
    """The batch-mean loss (1/B) Σ_rows ℓ(y_row, t_row).

    ``"squared_error"``: ℓ = ½‖y − t‖²; ``"softmax_cross_entropy"``:
    ℓ = −Σ_k t_k log softmax(y)_k, computed as (Σ_k t_k) logsumexp(y) − t·y so that logits of
    any size give a finite loss.

    Args:
      params: tuple of ``Layer``.
      x: [batch, n_in] inputs.
      t: targets: [batch, n_out] (squared error, or target probabilities for cross-entropy),
        or integer class labels [batch] (cross-entropy).
      activations: one name per layer from ``ACTIVATIONS``.
      loss: one of ``LOSSES``.

    Returns:
      [] the mean loss, in the params' dtype.
    """
    layers = _mlp_params(params)
    activations = _activations(activations, len(layers))
    loss = _loss_name(loss, activations)
    x = _inputs(layers, x)
    return _mlp_loss_jit(layers, x, _targets(layers, x, t, loss), activations, loss)


def mlp_manual_grads(
    params, x, t, *, activations: Sequence[str], loss: str, relu_grad_at_zero: float = 1.0
) -> Any:
    """∂(mlp_loss)/∂params by a hand-written backward pass (no autodiff).

    Starting from g = ∂L/∂a_L ((y − t)/B for squared error, ((Σt) softmax(y) − t)/B for
    cross-entropy), each layer from the last computes δ_l = g ⊙ act_l′(z_l) [batch, n_out_l],
    ∂L/∂W_l = a_{l−1}ᵀ δ_l, ∂L/∂b_l = Σ_rows δ_l, and passes g = δ_l W_lᵀ down.

    Args:
      params: tuple of ``Layer``.
      x: [batch, n_in] inputs.
      t: targets, as for ``mlp_loss``.
      activations: one name per layer from ``ACTIVATIONS``.
      loss: one of ``LOSSES``.
      relu_grad_at_zero: ReLU′(0); 1.0 the notes' convention, 0.0 ``jax.nn.relu``'s.

    Returns:
      Gradients with the structure of ``params`` (a tuple of ``Layer`` for a tuple of ``Layer``).
    """
    g0 = _relu_grad_at_zero(relu_grad_at_zero)
    layers = _mlp_params(params)
    activations = _activations(activations, len(layers))
    loss = _loss_name(loss, activations)
    x = _inputs(layers, x)
    grads = _mlp_manual_grads_jit(layers, x, _targets(layers, x, t, loss), g0, activations, loss)
    return _restructure(grads, params)


def accuracy(params, x, labels, *, activations: Sequence[str]) -> jax.Array:
    """Fraction of rows whose largest output is at the label.

    Args:
      params: tuple of ``Layer``.
      x: [batch, n_in] inputs.
      labels: [batch] integer class labels in [0, n_out).
      activations: one name per layer from ``ACTIVATIONS``.

    Returns:
      [] accuracy in [0, 1], in the params' dtype.
    """
    layers = _mlp_params(params)
    x = _inputs(layers, x)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class labels, got dtype {labels.dtype}")
    _targets(layers, x, labels, "softmax_cross_entropy", name="labels")  # shape and range
    y = mlp_forward(layers, x, activations)
    return jnp.mean((jnp.argmax(y, axis=-1) == labels).astype(layers[0].W.dtype))


# ==========================================================================
# Training with any gradient function


class TrainState(NamedTuple):
    """What the training scan carries."""

    params: Any  # the model's pytree
    opt_state: Any  # optax state
    step: jax.Array  # [] int32, number of updates done


class TrainMetrics(NamedTuple):
    """What each step reports (stacked over steps by ``train``)."""

    loss: jax.Array  # [] loss_fn on the step's batch, before the update
    grad_norm: jax.Array  # [] global L2 norm of grad_fn's gradient


def init_train_state(params, optimizer: optax.GradientTransformation) -> TrainState:
    """The state before the first step.

    Args:
      params: the model's pytree.
      optimizer: an optax ``GradientTransformation``.

    Returns:
      ``TrainState(params, optimizer.init(params), step=0)``.
    """
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def train_step(
    state: TrainState, batch: tuple, *, loss_fn: Callable, grad_fn: Callable,
    optimizer: optax.GradientTransformation,
) -> tuple[TrainState, TrainMetrics]:
    """One optimiser update with the gradient from ``grad_fn``.

    Args:
      state: ``TrainState``.
      batch: ``(x, t)``, passed to ``loss_fn(params, x, t)`` and ``grad_fn(params, x, t)``.
      loss_fn: returns the [] loss that is reported (not differentiated).
      grad_fn: returns gradients with the structure of params (hand-written or ``jax.grad``).
      optimizer: an optax ``GradientTransformation``.

    Returns:
      ``(new state, TrainMetrics)``.
    """
    x, t = batch
    grads = grad_fn(state.params, x, t)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    metrics = TrainMetrics(loss_fn(state.params, x, t), grad_norm)
    return TrainState(params, opt_state, state.step + 1), metrics


def _train(key, params, x, t, *, loss_fn, grad_fn, optimizer, n_steps, batch_size):
    step = functools.partial(train_step, loss_fn=loss_fn, grad_fn=grad_fn, optimizer=optimizer)

    def body(state, _):
        if batch_size is None:
            batch = (x, t)
        else:
            # Per-step minibatch, drawn without replacement from fold_in(key, step).
            idx = jax.random.choice(
                jax.random.fold_in(key, state.step), x.shape[0], (batch_size,), replace=False
            )
            batch = (x[idx], t[idx])
        return step(state, batch)

    state, metrics = jax.lax.scan(body, init_train_state(params, optimizer), None, length=n_steps)
    return state.params, metrics


_train_jit = jax.jit(
    _train, static_argnames=("loss_fn", "grad_fn", "optimizer", "n_steps", "batch_size")
)


def train(
    key,
    params,
    x,
    t,
    *,
    loss_fn: Callable,
    grad_fn: Callable,
    optimizer: optax.GradientTransformation,
    n_steps: int,
    batch_size: int | None = None,
) -> tuple[Any, TrainMetrics]:
    """Trains with any gradient function, as one jitted ``lax.scan`` over steps.

    The same ``key``, ``params``, data and ``optimizer`` with two different ``grad_fn`` (say
    ``mlp_manual_grads`` and ``jax.grad(mlp_loss)``) see identical batches, so their loss curves
    differ only by the gradients' round-off.

    Args:
      key: a PRNG key for the minibatches; may be None when ``batch_size`` is None (full batch).
      params: the model's pytree.
      x: [n, ...] training inputs.
      t: [n, ...] training targets (labels or arrays), one per row of ``x``.
      loss_fn: ``loss_fn(params, x, t) -> []``, reported each step.
      grad_fn: ``grad_fn(params, x, t) -> grads`` with the structure of ``params``.
        Static under jit: pass the same function object to reuse the compiled loop.
      optimizer: an optax ``GradientTransformation``.
      n_steps: number of updates (positive int).
      batch_size: rows per step, drawn without replacement each step; None for the full batch.

    Returns:
      ``(final params, TrainMetrics)`` with each metric stacked to [n_steps].
    """
    n_steps = _checks.positive_int(n_steps, "n_steps")
    x, t = jnp.asarray(x), jnp.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ValueError(
            f"x and t must have one row per example (same leading axis), got shapes "
            f"{x.shape} and {t.shape}"
        )
    if batch_size is None:
        key = jax.random.key(0) if key is None else _checks.key(key)  # unused: full batch
    else:
        key = _checks.key(key)
        batch_size = _checks.positive_int(batch_size, "batch_size")
        if batch_size > x.shape[0]:
            raise ValueError(
                f"batch_size must be at most the {x.shape[0]} rows of x, got {batch_size}"
            )
    for name, fn in (("loss_fn", loss_fn), ("grad_fn", grad_fn)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {fn!r}")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be an optax GradientTransformation, got {type(optimizer).__name__}"
        )
    return _train_jit(
        key, params, x, t, loss_fn=loss_fn, grad_fn=grad_fn, optimizer=optimizer,
        n_steps=n_steps, batch_size=batch_size,
    )
