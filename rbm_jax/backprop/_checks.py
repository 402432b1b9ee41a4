"""Boundary validation for the backprop sub-package, under public names (internal module).

Each checker takes the caller's argument and the argument's name, returns it converted (arrays,
dtypes, tuples of ``Layer``) and raises ``TypeError`` or ``ValueError`` naming the argument. Under
a caller's ``jit`` only static properties (shapes, names) are checked.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks as package_checks
from rbm_jax.backprop.types import ACTIVATIONS, LOSSES, Layer, SeedMLPParams

__all__ = [
    "relu_grad_at_zero",
    "floating_array",
    "finite",
    "seed_params",
    "seed_x",
    "seed_t",
    "vector",
    "mlp_params",
    "activations",
    "loss_name",
    "inputs",
    "targets",
]


def relu_grad_at_zero(value: Any) -> float:
    """ReLU′(0) as a float: a real number in [0, 1] (a subgradient of ReLU at 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"relu_grad_at_zero must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        # Any value in [0, 1] is a subgradient of ReLU at 0; others are not derivatives at all.
        raise ValueError(
            f"relu_grad_at_zero must lie in [0, 1] (a subgradient of ReLU at 0), got {value}"
        )
    return value


def floating_array(x: Any, name: str) -> jax.Array:
    """``x`` as an array of a floating dtype (no conversion from ints)."""
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating array, got dtype {arr.dtype}")
    return arr


def finite(x: jax.Array, name: str) -> None:
    """Raises if a concrete ``x`` holds NaN or inf (traced values pass unchecked)."""
    if package_checks.is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} contains NaN or inf")


# --------------------------------------------------------------------------
# The notes' network


def seed_params(params: Any, name: str = "params") -> SeedMLPParams:
    """``SeedMLPParams`` (W1 [n_hidden, n_in], b1, W2 [n_hidden, 1], b2 [1]), one dtype."""
    try:
        W1, b1, W2, b2 = params
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be SeedMLPParams(W1, b1, W2, b2), got {type(params).__name__}"
        ) from None
    W1, b1, W2, b2 = (
        floating_array(a, f"{name}.{n}") for a, n in zip((W1, b1, W2, b2), SeedMLPParams._fields)
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


def seed_x(params: SeedMLPParams, x: Any, name: str = "x") -> jax.Array:
    """The notes' input [n_in], in the params' dtype."""
    x = jnp.asarray(x)
    n_in = params.W1.shape[1]
    if x.shape != (n_in,):
        raise ValueError(
            f"{name} must be [n_in] = [{n_in}] to match params.W1, got shape {x.shape}"
        )
    return x.astype(params.W1.dtype)


def seed_t(params: SeedMLPParams, t: Any, name: str = "t") -> jax.Array:
    """The notes' target (shape [] or [1]) as a scalar [] in the params' dtype."""
    t = jnp.asarray(t)
    if t.shape not in ((), (1,)):
        raise ValueError(f"{name} must be a scalar (or [1]), got shape {t.shape}")
    return t.reshape(()).astype(params.W1.dtype)


def vector(x: Any, name: str, length: int | None = None) -> jax.Array:
    """A floating vector [n], or [length] when ``length`` is given."""
    arr = floating_array(x, name)
    if arr.ndim != 1 or (length is not None and arr.shape != (length,)):
        want = "[n]" if length is None else f"[{length}]"
        raise ValueError(f"{name} must be a vector {want}, got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------
# The general MLP


def mlp_params(params: Any, name: str = "params") -> tuple[Layer, ...]:
    """A tuple of ``Layer(W [n_in, n_out], b [n_out])`` whose widths chain, one dtype."""
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
        W = floating_array(W, f"{name}[{i}].W")
        b = floating_array(b, f"{name}[{i}].b")
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


def activations(activations: Any, n_layers: int, name: str = "activations") -> tuple[str, ...]:
    """A tuple of one name per layer, each from ``ACTIVATIONS``."""
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


def loss_name(loss: Any, activations: tuple[str, ...]) -> str:
    """A name from ``LOSSES``; cross-entropy needs an ``"identity"`` last layer (logits)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if loss == "softmax_cross_entropy" and activations[-1] != "identity":
        raise ValueError(
            f"activations[-1] must be 'identity' with loss='softmax_cross_entropy' (the last "
            f"layer gives the logits; the softmax is part of the loss), got {activations[-1]!r}"
        )
    return loss


def inputs(params: tuple[Layer, ...], x: Any, name: str = "x") -> jax.Array:
    """Finite numeric inputs [batch >= 1, n_in], in the params' dtype."""
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
    finite(x, name)
    return x


def targets(params: tuple[Layer, ...], x: jax.Array, t: Any, loss: str,
            name: str = "t") -> jax.Array:
    """Finite targets [batch, n_out] in the params' dtype (CE integer labels [batch] one-hot)."""
    t = jnp.asarray(t)
    batch, n_out = x.shape[0], params[-1].W.shape[1]
    dtype = params[0].W.dtype
    if loss == "softmax_cross_entropy" and jnp.issubdtype(t.dtype, jnp.integer):
        if t.shape != (batch,):
            raise ValueError(
                f"{name} as integer class labels must be [batch] = [{batch}], got shape {t.shape}"
            )
        if package_checks.is_concrete(t):
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
    finite(t, name)
    return t
