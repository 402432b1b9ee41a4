"""The notes' two-layer network, its hand-derived gradient and the six chain-rule factors.

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
  * ``SeedMLPParams(W1, b1, W2, b2)`` with ``W1`` [n_hidden, n_in], ``b1`` [n_hidden], ``W2``
    [n_hidden, 1] (a column, used as W2ᵀ), ``b2`` [1]; ``x`` [n_in]; ``t`` a scalar (or [1]);
    ``y`` [1]. ``seed_example()`` gives the notes' numbers (n_in = n_hidden = 2).
    ``manual_grads`` returns ``SeedMLPParams`` of gradients, computed by hand (no autodiff).
  * The six factors are public functions of the forward values, each returning the Jacobian of its
    own stage laid out ``[outputs..., inputs...]`` in the shapes above, so each equals
    ``jax.jacobian`` of that stage; ``chain_rule_dJ_dW1`` contracts them.
  * ReLU′(0): the notes take ReLU′(h) = 1 for h ≥ 0, while ``jax.nn.relu`` differentiates to 0
    at 0. ``relu_grad_at_zero`` picks the value (default 1.0, the notes'; 0.0 reproduces
    ``jax.grad``; any value in [0, 1] is a valid subgradient). The two differ only where a
    pre-activation is exactly 0.
  * dtypes follow the params; this module never changes JAX's global configuration.
  * Arguments are validated at the Python boundary (``rbm_jax.backprop._checks``) with errors
    that name the argument.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax.backprop import _checks as mlp_checks
from rbm_jax.backprop import _core
from rbm_jax.backprop.types import SeedMLPParams

__all__ = [
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
]


def _default_float() -> np.dtype:
    """float32, or float64 when the user has enabled x64."""
    return np.dtype(jnp.asarray(0.0).dtype)


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
    delta1 = (params.W2 @ delta2) * _core.relu_derivative(h1, relu_grad_at_zero)
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
    params = mlp_checks.seed_params(params)
    return _forward_jit(params, mlp_checks.seed_x(params, x))


def loss(params: SeedMLPParams, x, t) -> jax.Array:
    """J = ½ (t − y)², the notes' loss.

    Args:
      params: ``SeedMLPParams``.
      x: [n_in] input.
      t: scalar target (shape [] or [1]).

    Returns:
      [] the loss, in the params' dtype.
    """
    params = mlp_checks.seed_params(params)
    return _loss_jit(params, mlp_checks.seed_x(params, x), mlp_checks.seed_t(params, t))


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
    g0 = mlp_checks.relu_grad_at_zero(relu_grad_at_zero)
    params = mlp_checks.seed_params(params)
    return _manual_grads_jit(params, mlp_checks.seed_x(params, x), mlp_checks.seed_t(params, t), g0)


# --------------------------------------------------------------------------
# The six numbered factors of the notes, each a function of forward values.


def dJ_dy(y, t) -> jax.Array:
    """Factor (1): ∂J/∂y = −(t − y) for J = ½ (t − y)².

    Args:
      y: [1] the network's output.
      t: scalar target (shape [] or [1]).

    Returns:
      [1, 1] the Jacobian of J (as a 1-vector) with respect to y.
    """
    y = mlp_checks.vector(y, "y", 1)
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
    a2 = mlp_checks.vector(a2, "a2", 1)
    return jnp.ones((1, 1), a2.dtype)


def da2_dh2(h2) -> jax.Array:
    """Factor (3): ∂a2/∂h2 = σ(h2)(1 − σ(h2)).

    Args:
      h2: [1] the output pre-activation.

    Returns:
      [1, 1] the Jacobian of σ at h2.
    """
    h2 = mlp_checks.vector(h2, "h2", 1)
    s = jax.nn.sigmoid(h2)
    return (s * (1 - s)).reshape(1, 1)


def dh2_da1(W2) -> jax.Array:
    """Factor (4): ∂h2/∂a1 = W2ᵀ, for h2 = W2ᵀ a1 + b2.

    Args:
      W2: [n_hidden, 1] the output weights (a column).

    Returns:
      [1, n_hidden] the Jacobian, W2ᵀ.
    """
    W2 = mlp_checks.floating_array(W2, "W2")
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
    g0 = mlp_checks.relu_grad_at_zero(relu_grad_at_zero)
    h1 = mlp_checks.vector(h1, "h1")
    return jnp.diag(_core.relu_derivative(h1, g0))


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
    x = mlp_checks.vector(x, "x")
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
    params = mlp_checks.seed_params(params)
    x = mlp_checks.seed_x(params, x)
    return ChainFactors(
        dJ_dy(fw.y, mlp_checks.seed_t(params, t)),
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
