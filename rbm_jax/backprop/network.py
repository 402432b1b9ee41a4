"""A general MLP (dense layers, named activations and losses) with a hand-written backward pass.

Contract:
  * Params are a tuple of ``Layer(W, b)`` with ``W`` [n_in, n_out] and ``b`` [n_out]; inputs are
    batched row-major, ``x`` [batch, n_in]; ``activations`` names one activation per layer from
    ``ACTIVATIONS``; ``loss`` is one of ``LOSSES``, each the MEAN over the batch:
      - ``"squared_error"``: per row ½‖y − t‖², ``t`` [batch, n_out];
      - ``"softmax_cross_entropy"``: per row −Σ_k t_k log softmax(z)_k, computed in log space
        (logsumexp) so huge logits stay finite; ``t`` integer labels [batch] or target
        probabilities [batch, n_out]; the last activation must be ``"identity"`` (the logits).
  * ``mlp_manual_grads`` is a hand-written backward pass (no autodiff) returning gradients with the
    structure of ``params``.
  * ReLU′(0) is ``relu_grad_at_zero`` (default 1.0, the notes' convention; 0.0 reproduces
    ``jax.grad``), as in ``rbm_jax.backprop.notes``.
  * dtypes follow the params; this module never changes JAX's global configuration.
  * Arguments are validated at the Python boundary (shapes, names, label ranges) by
    ``rbm_jax.backprop._checks``, with errors that name the argument; under a caller's ``jit``
    only static properties (shapes, names) are checked.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax.backprop import _checks as mlp_checks
from rbm_jax.backprop import _core
from rbm_jax.backprop.types import ACTIVATIONS, LOSSES, Layer

__all__ = [
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
]


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
        return _core.relu_derivative(z, relu_grad_at_zero)
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
    params = mlp_checks.mlp_params(params)
    activations = mlp_checks.activations(activations, len(params))
    return _mlp_intermediates_jit(params, mlp_checks.inputs(params, x), activations)


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
    layers = mlp_checks.mlp_params(params)
    activations = mlp_checks.activations(activations, len(layers))
    loss = mlp_checks.loss_name(loss, activations)
    x = mlp_checks.inputs(layers, x)
    return _mlp_loss_jit(layers, x, mlp_checks.targets(layers, x, t, loss), activations, loss)


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
    g0 = mlp_checks.relu_grad_at_zero(relu_grad_at_zero)
    layers = mlp_checks.mlp_params(params)
    activations = mlp_checks.activations(activations, len(layers))
    loss = mlp_checks.loss_name(loss, activations)
    x = mlp_checks.inputs(layers, x)
    t = mlp_checks.targets(layers, x, t, loss)
    grads = _mlp_manual_grads_jit(layers, x, t, g0, activations, loss)
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
    layers = mlp_checks.mlp_params(params)
    x = mlp_checks.inputs(layers, x)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class labels, got dtype {labels.dtype}")
    mlp_checks.targets(layers, x, labels, "softmax_cross_entropy", name="labels")  # shape and range
    y = mlp_forward(layers, x, activations)
    return jnp.mean((jnp.argmax(y, axis=-1) == labels).astype(layers[0].W.dtype))
