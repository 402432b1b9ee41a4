"""The unit protocol: what one layer's units know, given the natural parameters of their conditional.

Every RBM family here has conditionals in the exponential family: given the
other layer, the units of a layer are independent, with

    log P(x | η) = ⟨η, T(x)⟩ − A(η) + log μ(x),

where η (the *natural parameters*, a pytree of one unit type's own shape) is
the layer's bias plus the coupling input from the other layer. So a unit type
is a small stateless class of static methods over η:

  * ``mean(eta)``            E[T(x) | η]: P(x = 1) for Bernoulli units
  * ``sample(key, eta)``     x ~ P(x | η), in η's dtype (int32 for categorical units)
  * ``log_normaliser(eta)``  A(η), summed over the layer's units -> [...]
  * ``dot(x, eta)``          ⟨η, T(x)⟩, summed over the layer's units -> [...]
  * ``log_prob(x, eta)``     log P(x | η), summed over the layer's units -> [...]
  * ``temper(eta, beta)``    the natural parameters of the tempered conditional:
                             tempering the joint energy at β scales η by β
  * ``mix(eta, eta_ref, beta)``  the conditional on the path
                             −β E − (1 − β) E_ref: β η + (1 − β) η_ref
  * ``states(n, dtype)``     all configurations of n units, in ``itertools.product``
                             order (finite state spaces only)
  * ``invalid_value(x)``     the unit type's value rule: True where an entry of a
                             layer's input is not a legal value (``values`` says
                             what is legal, for error messages)
  * ``invalid_state(x)``     the stricter rule for enumeration: True where an entry
                             is not a state (``states_expected`` says what is)

Tempering and path-mixing are linear in η for every exponential family, which
is why samplers, estimators, AIS and tempering never need to know the unit type.

A params type names its layers' unit types by the keys of ``UNITS``
(``RBMParams.visible_units == "bernoulli"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["Bernoulli", "UNITS", "bernoulli", "bits"]


def bernoulli(key, p: jax.Array) -> jax.Array:
    """Draws x ~ Bernoulli(p) elementwise, as 0./1. in p's dtype.

    u < p with u ~ U[0, 1) in p's dtype: P(1) = p exactly, and the sample comes
    out in that dtype without a bool round trip.
    """
    u = jax.random.uniform(key, p.shape, p.dtype)
    return (u < p).astype(p.dtype)


def bits(index: jax.Array, n: int, dtype) -> jax.Array:
    """[...] integer indices -> [..., n] binary rows, unit 0 the most significant bit."""
    shifts = jnp.arange(n - 1, -1, -1, dtype=index.dtype)
    return ((index[..., None] >> shifts) & 1).astype(dtype)


class Bernoulli:
    """Binary units x ∈ {0, 1}; η is the logit: P(x = 1 | η) = σ(η), A(η) = Σ softplus(η)."""

    name = "bernoulli"
    #: What ``invalid_value`` accepts: grey values are legitimate mean-field
    #: inputs and training data, so the rule is the closed interval, not {0, 1}.
    values = "values in [0, 1]"
    #: What ``invalid_state`` accepts.
    states_expected = "binary values 0 or 1"

    @staticmethod
    def invalid_value(x: jax.Array) -> jax.Array:
        # Written as "not inside" so that NaN (every comparison False) is caught too.
        return ~((x >= 0) & (x <= 1))

    @staticmethod
    def invalid_state(x: jax.Array) -> jax.Array:
        return ~((x == 0) | (x == 1))

    @staticmethod
    def mean(eta: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(eta)

    @staticmethod
    def sample(key, eta: jax.Array) -> jax.Array:
        return bernoulli(key, jax.nn.sigmoid(eta))

    @staticmethod
    def sample_given_mean(key, mean: jax.Array) -> jax.Array:
        """x ~ P(x | η) from the conditional mean E[x | η] (for Bernoulli units it fixes the law)."""
        return bernoulli(key, mean)

    @staticmethod
    def sample_and_mean(key, eta: jax.Array) -> tuple[jax.Array, jax.Array]:
        """A draw and the conditional mean it was drawn from (the mean is reused by training)."""
        p = jax.nn.sigmoid(eta)
        return bernoulli(key, p), p

    @staticmethod
    def log_normaliser(eta: jax.Array) -> jax.Array:
        return jnp.sum(jax.nn.softplus(eta), axis=-1)

    @staticmethod
    def dot(x: jax.Array, eta: jax.Array) -> jax.Array:
        """⟨η, T(x)⟩ summed over the layer's units: log P(x | η) = dot − A(η) + log μ(x)."""
        return x @ eta

    @staticmethod
    def log_prob(x: jax.Array, eta: jax.Array) -> jax.Array:
        # log σ((2x − 1) η) is log σ(η) for x = 1 and log σ(−η) for x = 0: the notes' form.
        return jnp.sum(jax.nn.log_sigmoid((2 * x - 1) * eta), axis=-1)

    @staticmethod
    def temper(eta: jax.Array, beta) -> jax.Array:
        return beta * eta

    @staticmethod
    def mix(eta: jax.Array, eta_ref: jax.Array, beta) -> jax.Array:
        return beta * eta + (1 - beta) * eta_ref

    @staticmethod
    def states(n: int, dtype) -> jax.Array:
        return bits(jnp.arange(2**n, dtype=jnp.int32), n, dtype)

    @staticmethod
    def index_states(index: jax.Array, n: int, dtype) -> jax.Array:
        """Configurations number ``index`` (in ``states`` order) of n units: [..., n]."""
        return bits(index, n, dtype)


#: Unit types by the name a params type gives them.
UNITS = {Bernoulli.name: Bernoulli}
