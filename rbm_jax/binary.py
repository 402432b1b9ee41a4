"""Generic MCMC over binary vectors for any energy: the notes' general T(x'|x).

For a target P(x) ∝ exp(−E(x)) over x ∈ {0, 1}^n, two kernels in the library's
init/step shape, run by the same driver as the RBM sampler
(``rbm_jax.driver.run_chains``):

  * ``gibbs_kernel(energy_fn)``: a systematic-scan single-site Gibbs sweep,
    x_i ~ P(x_i | x_{−i}) = σ(E(x_i=0) − E(x_i=1)) for i = 0, ..., n−1.
  * ``metropolis_kernel(energy_fn)``: flip one uniformly chosen bit, accept
    with probability min(1, exp(E(x) − E(x'))).

``transition_matrix`` gives either kernel's exact T(x'|x) for tiny n, so
stationarity (and, for Metropolis, detailed balance) can be checked against
the exact target ``boltzmann_table``. Energies provided: the RBM's marginal
free energy (``rbm_free_energy``) and an Ising model (``ising_energy``).

Contract: ``energy_fn(params, x)`` maps ONE configuration [n] (0./1.) to a
scalar; ``params`` is any pytree. Kernels are ``init(params, x) -> state``
(deterministic) and ``step(key, params, state) -> state``. Kernel objects
compare equal for the same ``energy_fn``, so compiled drivers are reused;
pass a module-level function, not a fresh lambda. Enumeration order is
``itertools.product([0, 1], repeat=n)``, as in ``rbm_jax.exact``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from rbm_jax import _checks
from rbm_jax._src import model
from rbm_jax._src.enumeration import check_enumerable
from rbm_jax._src.units import bits
from rbm_jax.types import RBMParams

__all__ = [
    "BinaryState",
    "Kernel",
    "IsingParams",
    "gibbs_kernel",
    "metropolis_kernel",
    "transition_matrix",
    "boltzmann_table",
    "ising_energy",
    "rbm_free_energy",
    "MAX_TRANSITION_UNITS",
]

#: ``transition_matrix`` builds a dense 2**n × 2**n matrix.
MAX_TRANSITION_UNITS = 12


class BinaryState(NamedTuple):
    """State of a generic binary chain."""

    x: jax.Array  # [n] 0./1.
    energy: jax.Array  # [] E(x), cached so Metropolis needs one evaluation per step


class Kernel(NamedTuple):
    """An MCMC kernel as an ``init``/``step`` pair."""

    init: Callable  # init(params, x) -> BinaryState
    step: Callable  # step(key, params, state) -> BinaryState


class IsingParams(NamedTuple):
    """An Ising model on spins s = 2x − 1."""

    J: jax.Array  # [n, n] symmetric couplings (the diagonal is ignored)
    h: jax.Array  # [n] external fields


def ising_energy(params: IsingParams, x: jax.Array) -> jax.Array:
    """E(x) = −Σ_{i<j} J_ij s_i s_j − Σ_i h_i s_i with s = 2x − 1."""
    s = 2 * x - 1
    J = params.J - jnp.diag(jnp.diag(params.J))
    return -0.5 * s @ J @ s - params.h @ s


def rbm_free_energy(params: RBMParams, x: jax.Array) -> jax.Array:
    """The RBM's marginal energy F(v): P(v) ∝ exp(−F(v))."""
    return model.free_energy(params, x)


@dataclasses.dataclass(frozen=True)
class _Init:
    energy_fn: Callable

    def __call__(self, params, x):
        x = jnp.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"x must be one configuration [n], got shape {x.shape}")
        _checks.unit_values(x, "x", binary=True)  # when concrete: states are 0 or 1
        e = self.energy_fn(params, x)
        return BinaryState(x.astype(e.dtype), e)


@dataclasses.dataclass(frozen=True)
class _MetropolisStep:
    energy_fn: Callable

    def __call__(self, key, params, state: BinaryState) -> BinaryState:
        _checks.unit_values(state.x, "state.x", binary=True)  # when concrete (eager calls)
        key_site, key_accept = jax.random.split(key)
        n = state.x.shape[-1]
        i = jax.random.randint(key_site, (), 0, n)
        x_new = state.x.at[i].set(1 - state.x[i])
        e_new = self.energy_fn(params, x_new)
        u = jax.random.uniform(key_accept, (), state.energy.dtype)
        # log u < E(x) − E(x'): accept with min(1, e^{E − E'}); a NaN energy
        # compares False and is rejected.
        accept = jnp.log(u) < state.energy - e_new
        return BinaryState(jnp.where(accept, x_new, state.x), jnp.where(accept, e_new, state.energy))


@dataclasses.dataclass(frozen=True)
class _GibbsSweep:
    energy_fn: Callable

    def __call__(self, key, params, state: BinaryState) -> BinaryState:
        _checks.unit_values(state.x, "state.x", binary=True)  # when concrete (eager calls)
        n = state.x.shape[-1]

        def site(i, x):
            e0 = self.energy_fn(params, x.at[i].set(0))
            e1 = self.energy_fn(params, x.at[i].set(1))
            u = jax.random.uniform(jax.random.fold_in(key, i), (), e0.dtype)
            return x.at[i].set((u < jax.nn.sigmoid(e0 - e1)).astype(x.dtype))

        x = lax.fori_loop(0, n, site, state.x)
        return BinaryState(x, self.energy_fn(params, x))


def metropolis_kernel(energy_fn: Callable) -> Kernel:
    """Single-bit-flip Metropolis–Hastings for P(x) ∝ exp(−energy_fn(params, x)).

    Proposal: flip one of the n bits chosen uniformly (symmetric), so the
    acceptance probability is min(1, exp(E(x) − E(x'))). Reversible.

    References:
      Metropolis et al. 1953; Hastings 1970.
    """
    if not callable(energy_fn):
        raise TypeError(f"energy_fn must be callable as energy_fn(params, x), got {energy_fn!r}")
    return Kernel(_Init(energy_fn), _MetropolisStep(energy_fn))


def gibbs_kernel(energy_fn: Callable) -> Kernel:
    """Systematic-scan single-site Gibbs for P(x) ∝ exp(−energy_fn(params, x)).

    One step updates sites 0, ..., n−1 in turn, each from its exact
    conditional σ(E(x_i=0) − E(x_i=1)); costs 2n energy evaluations. Each site
    update is reversible; the sweep leaves P invariant (it is not reversible).
    """
    if not callable(energy_fn):
        raise TypeError(f"energy_fn must be callable as energy_fn(params, x), got {energy_fn!r}")
    return Kernel(_Init(energy_fn), _GibbsSweep(energy_fn))


def _energy_table(energy_fn, params, n: int, dtype) -> jax.Array:
    xs = bits(jnp.arange(2**n, dtype=jnp.int32), n, dtype)
    return jax.vmap(lambda x: energy_fn(params, x))(xs)


def boltzmann_table(energy_fn: Callable, params, n: int, dtype=jnp.float32) -> jax.Array:
    """Exact P(x) ∝ exp(−E(x)) over all 2**n states, in enumeration order: [2**n]."""
    n = _checks.positive_int(n, "n")
    check_enumerable(n, "n")
    neg_e = -_energy_table(energy_fn, params, n, _checks.float_dtype(dtype))
    return jnp.exp(neg_e - jax.nn.logsumexp(neg_e))


def transition_matrix(energy_fn: Callable, params, n: int, *, kind: str, dtype=jnp.float32) -> jax.Array:
    """The exact T[x, x'] = P(x' | x) of one step of ``kind`` ('metropolis' or 'gibbs').

    Args:
      energy_fn: ``energy_fn(params, x)``.
      params: its parameters.
      n: number of bits (at most ``MAX_TRANSITION_UNITS``).
      kind: 'metropolis' (one single-bit-flip MH step) or 'gibbs' (one
        systematic-scan sweep, the product T_0 T_1 ... T_{n−1} of site updates).

    Returns:
      [2**n, 2**n] row-stochastic matrix in enumeration order.
    """
    n = _checks.positive_int(n, "n")
    if n > MAX_TRANSITION_UNITS:
        raise ValueError(
            f"n = {n} is too large for a dense transition matrix (2**{n} × 2**{n}); "
            f"the cap is {MAX_TRANSITION_UNITS} bits")
    if kind not in ("metropolis", "gibbs"):
        raise ValueError(f"kind must be 'metropolis' or 'gibbs', got {kind!r}")
    dtype = _checks.float_dtype(dtype)
    e = _energy_table(energy_fn, params, n, dtype)  # [S]
    states = jnp.arange(2**n, dtype=jnp.int32)
    eye = jnp.eye(2**n, dtype=dtype)
    if kind == "metropolis":
        t = jnp.zeros((2**n, 2**n), dtype)
        for i in range(n):
            flipped = states ^ (1 << (n - 1 - i))
            p_move = jnp.minimum(1.0, jnp.exp(e - e[flipped])) / n
            t = t.at[states, flipped].add(p_move)
        return t + eye * (1 - t.sum(axis=1))[:, None]
    t = eye
    for i in range(n):
        bit = 1 << (n - 1 - i)
        off, on = states & ~bit, states | bit
        p_on = jax.nn.sigmoid(e[off] - e[on])  # P(x_i = 1 | rest), for every state
        t_i = jnp.zeros((2**n, 2**n), dtype)
        t_i = t_i.at[states, off].add(1 - p_on).at[states, on].add(p_on)
        t = t @ t_i
    return t
