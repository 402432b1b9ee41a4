"""The backprop sub-package's parameter pytrees and the names its network accepts.

Imports nothing else from the package, so every backprop module (and its validation) can use
these without an import cycle.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

__all__ = ["ACTIVATIONS", "LOSSES", "SeedMLPParams", "Layer"]

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
LOSSES = ("squared_error", "softmax_cross_entropy")


class SeedMLPParams(NamedTuple):
    """Parameters of the notes' network (a pytree)."""

    W1: jax.Array  # [n_hidden, n_in]   h1 = W1 x + b1
    b1: jax.Array  # [n_hidden]
    W2: jax.Array  # [n_hidden, 1]      h2 = W2ᵀ a1 + b2 (a column used transposed)
    b2: jax.Array  # [1]


class Layer(NamedTuple):
    """One dense layer, z = x W + b (a pytree)."""

    W: jax.Array  # [n_in, n_out]
    b: jax.Array  # [n_out]
