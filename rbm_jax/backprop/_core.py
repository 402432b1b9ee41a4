"""Math shared by the notes' network and the general MLP, under public names (internal module)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["relu_derivative"]


def relu_derivative(h: jax.Array, at_zero) -> jax.Array:
    """ReLU′(h): 1 for h > 0, 0 for h < 0, ``at_zero`` at exactly 0; in h's dtype."""
    one, zero = jnp.ones_like(h), jnp.zeros_like(h)
    return jnp.where(h > 0, one, jnp.where(h == 0, jnp.asarray(at_zero, h.dtype), zero))
