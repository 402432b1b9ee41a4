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
                             order (finite state spaces only: ``n_states`` per
                             unit; ``None`` for continuous units, which are never
                             enumerated)
  * ``expand(x)``            T(x)'s mean-shaped part: x itself, or one-hot rows
                             for categorical units ([..., n, q]), so that
                             ``mean(eta)`` and ``expand(x)`` compare entry by entry
  * ``dot_table(xs, eta)``   ⟨η_r, T(x_s)⟩ for every pair: [R, S] (enumeration)
  * ``squared_error(x, mean)`` Σ over the layer's units of |expand(x) − mean|²
  * ``base_rate(data, smoothing)``  η of independent units at the data's statistics
  * ``state_dtype(dtype)``   the dtype of a configuration: the params' float dtype,
                             or int32 for categorical units
  * ``invalid_value(x)``     the unit type's value rule: True where an entry of a
                             layer's input is not a legal value (``values`` says
                             what is legal, for error messages)
  * ``invalid_state(x)``     the stricter rule for enumeration: True where an entry
                             is not a state (``states_expected`` says what is)

Tempering and path-mixing are linear in η for every exponential family, which
is why samplers, estimators, AIS and tempering never need to know the unit type.
β is a scalar or shaped like the batch with one trailing axis ([..., 1], as a
ladder of PT rungs); each unit type broadcasts it over its own event axes.

A params type names its layers' unit types by the keys of ``UNITS``
(``RBMParams.visible_units == "bernoulli"``). A unit type with a setting of
its own (categorical units: q states) is bound to it by ``units_of(name, n_states)``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rbm_jax._src import rng

__all__ = ["Bernoulli", "Gaussian", "GaussianNatural", "Categorical", "UNITS", "units_of", "bernoulli", "softplus", "bits",
           "digits"]


def bernoulli(key, p: jax.Array) -> jax.Array:
    """Draws x ~ Bernoulli(p) elementwise, as 0./1. in p's dtype.

    u < p with u ~ U[0, 1) in p's dtype, which is ``jax.random.bernoulli(key, p)``
    drawn by ``rng`` (the same bits, fused): u has 23 random bits in float32
    (52 in float64), so P(1) is p rounded up to a multiple of 2⁻²³ (2⁻⁵²): a p
    below that resolution still gives 1 with probability 2⁻²³ ≈ 1.2e-7, and
    p = 0 never does. The sample comes out in p's dtype without a bool round trip.
    """
    return rng.bernoulli(key, p).astype(p.dtype)


@jax.custom_jvp
def softplus(x: jax.Array) -> jax.Array:
    """log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): stable for any x; its derivative is σ(x), exactly.

    The same values as ``jax.nn.softplus`` (to the last bit or two), about 2.5× faster
    on CPU: that one is ``logaddexp(x, 0)``, whose extra infinity handling does not
    fuse as tightly. Free energies, the pseudo-likelihood, AIS and enumeration all
    reduce to sums of it (issue 11: the monitor's pseudo-likelihood went from 15 to 6 ms).
    """
    return jnp.maximum(x, 0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    # Written out: the kinks of max and |x| at 0 would otherwise give the derivative 0 there, not ½.
    (x,), (dx,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * dx


def bits(index: jax.Array, n: int, dtype) -> jax.Array:
    """[...] integer indices -> [..., n] binary rows, unit 0 the most significant bit."""
    shifts = jnp.arange(n - 1, -1, -1, dtype=index.dtype)
    return ((index[..., None] >> shifts) & 1).astype(dtype)


def digits(index: jax.Array, n: int, base: int, dtype=jnp.int32) -> jax.Array:
    """[...] integer indices -> [..., n] base-``base`` digits, unit 0 the most significant."""
    powers = jnp.asarray([base ** (n - 1 - i) for i in range(n)], index.dtype)
    return ((index[..., None] // powers) % base).astype(dtype)


class Bernoulli:
    """Binary units x ∈ {0, 1}; η is the logit: P(x = 1 | η) = σ(η), A(η) = Σ softplus(η)."""

    name = "bernoulli"
    #: States per unit (enumerable layers); ``None`` for continuous units.
    n_states = 2
    #: Whether log P(x_i | x_−i) sums over states (a pseudo-likelihood exists).
    discrete = True
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
        return jnp.sum(softplus(eta), axis=-1)

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

    @staticmethod
    def state_dtype(dtype):
        return dtype

    @staticmethod
    def expand(x: jax.Array) -> jax.Array:
        return x

    @staticmethod
    def dot_table(xs: jax.Array, eta: jax.Array) -> jax.Array:
        return eta @ xs.T

    @staticmethod
    def squared_error(x: jax.Array, mean: jax.Array) -> jax.Array:
        return jnp.sum((x - mean) ** 2, axis=-1)

    @staticmethod
    def base_rate(data: jax.Array, smoothing, dtype) -> jax.Array:
        """Log-odds of the smoothed unit means: p = (Σ x + s) / (N + 2 s)."""
        acc = jnp.float64 if dtype == jnp.float64 else None
        p = (jnp.sum(data, axis=0, dtype=acc) + smoothing) / (data.shape[0] + 2 * smoothing)
        return (jnp.log(p) - jnp.log1p(-p)).astype(dtype)


# --------------------------------------------------------------------------
# Gaussian units


class GaussianNatural(NamedTuple):
    """Natural parameters of independent Gaussian units: N(μ, 1/τ) has η = (τ μ, τ)."""

    lin: jax.Array  # [..., n] precision-weighted mean τ μ
    prec: jax.Array  # [..., n] precision τ = 1/σ² (> 0)


def _scale(eta, beta):
    return jax.tree_util.tree_map(lambda e: beta * e, eta)


class Gaussian:
    """Real-valued units x ∈ ℝ with T(x) = (x, −x²/2): η = (τμ, τ), A(η) = Σ (τμ)²/(2τ) − ½ log(τ/2π).

    Tempering at β multiplies both parts by β: the mean stays, the variance
    becomes σ²/β. Measured against Lebesgue measure (log μ(x) = 0), so log Z
    of a Gaussian RBM is a log-density normaliser.
    """

    name = "gaussian"
    n_states = None
    discrete = False
    values = "finite real values"
    states_expected = "finite real values"

    @staticmethod
    def invalid_value(x):
        return ~((x > -jnp.inf) & (x < jnp.inf))

    invalid_state = invalid_value

    @staticmethod
    def mean(eta: GaussianNatural) -> jax.Array:
        return eta.lin / eta.prec

    @staticmethod
    def sample(key, eta: GaussianNatural) -> jax.Array:
        mean = eta.lin / eta.prec
        return mean + rng.normal(key, mean.shape, mean.dtype) * jax.lax.rsqrt(eta.prec)

    @staticmethod
    def sample_given_mean(key, mean):
        raise TypeError("a Gaussian unit's law is not fixed by its mean alone")

    @staticmethod
    def sample_and_mean(key, eta: GaussianNatural):
        mean = eta.lin / eta.prec
        return mean + rng.normal(key, mean.shape, mean.dtype) * jax.lax.rsqrt(eta.prec), mean

    @staticmethod
    def log_normaliser(eta: GaussianNatural) -> jax.Array:
        return jnp.sum(0.5 * eta.lin ** 2 / eta.prec - 0.5 * jnp.log(eta.prec / (2 * jnp.pi)), axis=-1)

    @staticmethod
    def dot(x: jax.Array, eta: GaussianNatural) -> jax.Array:
        return jnp.sum(eta.lin * x - 0.5 * eta.prec * x ** 2, axis=-1)

    @staticmethod
    def log_prob(x: jax.Array, eta: GaussianNatural) -> jax.Array:
        mean = eta.lin / eta.prec
        return jnp.sum(-0.5 * eta.prec * (x - mean) ** 2 + 0.5 * jnp.log(eta.prec / (2 * jnp.pi)), axis=-1)

    @staticmethod
    def temper(eta: GaussianNatural, beta) -> GaussianNatural:
        return _scale(eta, beta)

    @staticmethod
    def mix(eta: GaussianNatural, eta_ref: GaussianNatural, beta) -> GaussianNatural:
        return jax.tree_util.tree_map(lambda e, r: beta * e + (1 - beta) * r, eta, eta_ref)

    @staticmethod
    def states(n: int, dtype):
        raise TypeError("Gaussian units are continuous: their configurations cannot be enumerated "
                        "(exact references enumerate the hidden layer instead)")

    index_states = states

    # Real-valued like Bernoulli's: the state is its own statistic, in the params' dtype.
    state_dtype = staticmethod(Bernoulli.state_dtype)
    expand = staticmethod(Bernoulli.expand)
    squared_error = staticmethod(Bernoulli.squared_error)

    @staticmethod
    def base_rate(data: jax.Array, smoothing, dtype) -> GaussianNatural:
        """N(mean, var) of each unit over the rows; the variance gets ``smoothing`` × 1e-6 × the
        mean variance as a floor, so a constant unit keeps a finite precision."""
        acc = jnp.float64 if dtype == jnp.float64 else jnp.float32
        x = data.astype(acc)
        mu = jnp.mean(x, axis=0)
        var = jnp.mean((x - mu) ** 2, axis=0)
        var = var + smoothing * 1e-6 * (jnp.mean(var) + 1e-30)
        return GaussianNatural((mu / var).astype(dtype), (1 / var).astype(dtype))


# --------------------------------------------------------------------------
# Categorical (Potts) units


@dataclasses.dataclass(frozen=True)
class Categorical:
    """Units with q states x ∈ {0, …, q−1}, T(x) = one-hot; η is [..., n, q] logits.

    P(x_i = a | η) = softmax(η_i)_a, A(η) = Σ_i logsumexp_a η_ia. Integer-coded:
    samples and configurations are int32. Bound to q by ``units_of``.
    """

    n_states: int

    name = "categorical"
    discrete = True

    @property
    def values(self) -> str:
        return f"integer states in {{0, ..., {self.n_states - 1}}} (q = {self.n_states})"

    states_expected = values

    def invalid_value(self, x):
        # Integer-valued floats are accepted; NaN fails every comparison, so it is caught.
        # Comparisons and % only, so that one rule serves jax and numpy arrays.
        return ~((x >= 0) & (x < self.n_states) & (x % 1 == 0))

    invalid_state = invalid_value

    def one_hot(self, x, dtype=jnp.float32):
        return jax.nn.one_hot(x, self.n_states, dtype=dtype)

    def mean(self, eta):
        return jax.nn.softmax(eta, axis=-1)

    def sample(self, key, eta):
        return self.sample_given_mean(key, self.mean(eta))

    def sample_given_mean(self, key, mean):
        """Inverse-CDF draws: x = #{a < q − 1 : u ≥ P(x ≤ a)}, one uniform u per unit.

        One 23-bit uniform per unit (52 in float64), against q per unit and two
        logarithms each for Gumbel-max (``jax.random.categorical``): 7.5 ms against
        34 ms for 10,000 × 64 sites of 4 states (issue 11). Each state's probability is resolved to the
        cumulative sum's rounding, about 1e-7 in float32 (Gumbel-max in JAX's
        default mode is biased below about 1e-7 too).
        """
        cdf = jnp.cumsum(mean, axis=-1)[..., :-1]
        u = rng.uniform(key, mean.shape[:-1], mean.dtype)
        return jnp.sum(u[..., None] >= cdf, axis=-1, dtype=jnp.int32)

    def sample_and_mean(self, key, eta):
        mean = self.mean(eta)
        return self.sample_given_mean(key, mean), mean

    def log_normaliser(self, eta):
        return jnp.sum(jax.nn.logsumexp(eta, axis=-1), axis=-1)

    def dot(self, x, eta):
        return jnp.sum(self.one_hot(x, eta.dtype) * eta, axis=(-2, -1))

    def log_prob(self, x, eta):
        return jnp.sum(self.one_hot(x, eta.dtype) * jax.nn.log_softmax(eta, axis=-1), axis=(-2, -1))

    @staticmethod
    def _beta(beta):
        beta = jnp.asarray(beta)
        return beta[..., None] if beta.ndim else beta

    def temper(self, eta, beta):
        return self._beta(beta) * eta

    def mix(self, eta, eta_ref, beta):
        beta = self._beta(beta)
        return beta * eta + (1 - beta) * eta_ref

    def states(self, n: int, dtype=jnp.int32):
        return digits(jnp.arange(self.n_states ** n, dtype=jnp.int32), n, self.n_states)

    def index_states(self, index, n: int, dtype=jnp.int32):
        return digits(index, n, self.n_states)

    @staticmethod
    def state_dtype(dtype):
        return jnp.int32

    def expand(self, x, dtype=jnp.float32):
        return self.one_hot(x, dtype)

    def dot_table(self, xs, eta):
        flat = self.one_hot(xs, eta.dtype).reshape(xs.shape[0], -1)
        return eta.reshape(eta.shape[0], -1) @ flat.T

    def squared_error(self, x, mean):
        return jnp.sum((self.one_hot(x, mean.dtype) - mean) ** 2, axis=(-2, -1))

    def base_rate(self, data, smoothing, dtype):
        """Log of the smoothed state frequencies per site, centred over states (zero-sum gauge)."""
        counts = jnp.sum(self.one_hot(data, jnp.float64 if dtype == jnp.float64 else jnp.float32), axis=0)
        logp = jnp.log(counts + smoothing)
        return (logp - jnp.mean(logp, axis=-1, keepdims=True)).astype(dtype)


#: Unit types by the name a params type gives them (categorical units are bound to q by ``units_of``).
UNITS = {Bernoulli.name: Bernoulli, Gaussian.name: Gaussian, Categorical.name: Categorical}


@functools.lru_cache(maxsize=None)
def units_of(name: str, n_states: int | None = None):
    """The unit type ``name``, bound to its number of states where it has a setting (categorical).

    Cached, so that one (name, q) is one object: its bound methods (value rules)
    then compare equal across calls, and the jitted checks keyed on them compile once.
    """
    u = UNITS[name]
    return u(n_states) if u is Categorical else u
