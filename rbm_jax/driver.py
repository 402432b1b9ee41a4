"""The public face of the one ``lax.scan`` driver, for kernels of your own.

The library's samplers run their info-returning kernels
``kernel(key, params, settings, state) -> (state, info)`` through
``rbm_jax._src.driver``; this module runs a plain kernel
``kernel(key, params, state) -> state`` (BlackJAX style: key first, one return
type) through the very same driver. It runs ``burn_in`` steps, then
``n_steps`` steps of which every ``thin``-th is kept, and applies
``transform(params, state)`` to each kept state. Only what ``transform``
returns is stored, so memory does not grow with the number of steps unless
the caller asks for a trace; a reducer in its place (``running_mean(f)``, or
your own ``Reducer(init, update, finish)``) keeps a running statistic of the
kept states instead, in memory independent of the number of steps.

Randomness: the key of step ``t`` (counting burn-in steps from 0) is
``jax.random.fold_in(key, t)``. So the state after ``t`` steps does not depend
on ``burn_in``/``thin`` bookkeeping: a ``thin=2`` trace is every second entry
of the ``thin=1`` trace, and a run of ``a + b`` steps passes through the run of
``a`` steps.

One chain is written; many are ``vmap``-ped (``run_chains``): chain ``i`` gets
``jax.random.split(key, n_chains)[i]`` and equals that chain run alone, for
threefry (the default) and philox keys. With ``rbg`` or ``unsafe_rbg`` keys
JAX's ``vmap`` draws every chain's random bits from the first chain's key, so
the chains are valid and reproducible but not equal to the chain run alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rbm_jax import _checks
from rbm_jax import sharding as _sharding
from rbm_jax._src import driver as core
from rbm_jax._src.driver import Reducer, chain_keys, running_mean

__all__ = ["run_chain", "run_chains", "chain_keys", "Reducer", "running_mean"]

Kernel = Callable[[Any, Any, Any], Any]
Transform = Callable[[Any, Any], Any]


@dataclasses.dataclass(frozen=True)
class _Plain:
    """Adapts ``kernel(key, params, state) -> state`` to the driver's kernel shape.

    Frozen dataclass: equal for equal kernels, so compiled programs are reused across calls.
    """

    kernel: Callable

    def __call__(self, key, params, settings, state):
        del settings
        return self.kernel(key, params, state), ()


def run_chain(
    key,
    kernel: Kernel,
    params,
    state,
    n_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    transform: Transform | None = None,
):
    """Runs one chain: ``burn_in`` steps, then ``n_steps`` steps keeping every ``thin``-th.

    Pure and traceable (call it under ``jit``/``vmap``); ``kernel``, ``transform``
    and the three counts are static Python values.

    Args:
      key: the chain's PRNG key; step ``t`` uses ``fold_in(key, t)``.
      kernel: ``kernel(key, params, state) -> state``.
      params: any pytree passed unchanged to ``kernel`` and ``transform``.
      state: the initial state (a pytree).
      n_steps: sweeps after burn-in; ``n_steps // thin`` states are kept.
      burn_in: sweeps run first and discarded.
      thin: keep every ``thin``-th state.
      transform: ``transform(params, state) -> pytree`` of what to keep per kept
        step; a ``Reducer`` (e.g. ``running_mean(f)``) to keep a running
        statistic instead; ``None`` keeps nothing.

    Returns:
      ``(final_state, trace)``: the trace stacks ``transform``'s output on a
      leading axis ``[n_steps // thin, ...]``, or is the reducer's result, or
      ``None`` without a transform.
    """
    state, trace, _ = core.run(key, _Plain(kernel), params, None, state, n_steps, burn_in=burn_in,
                               thin=thin, transform=transform)
    return state, trace


def run_chains(
    key,
    kernel: Kernel,
    params,
    states,
    n_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    transform: Transform | None = None,
    mesh=None,
):
    """Runs many independent chains of one kernel, vmapped, in one compiled program.

    Args:
      key: PRNG key; chain ``i`` uses ``jax.random.split(key, n_chains)[i]`` (and equals
        that chain run alone, except with rbg/unsafe_rbg keys: see the module docstring).
      kernel: ``kernel(key, params, state) -> state`` for ONE chain.
      params: pytree shared by all chains.
      states: pytree of initial states with a leading chain axis ``[n_chains, ...]``.
      n_steps, burn_in, thin, transform: as in ``run_chain``.
      mesh: optional ``jax.sharding.Mesh``: the chains are sharded along its first
        axis (which must divide n_chains), ``params`` replicated; bit-identical to
        ``mesh=None``, and the results come back sharded.

    Returns:
      ``(final_states [n_chains, ...], trace [n_steps // thin, n_chains, ...] or None)``;
      with a reducer, its result per chain ``[n_chains, ...]`` in place of the trace.

    Compiles once per (kernel, transform, counts, shapes): pass module-level
    functions (not fresh lambdas) as ``kernel``/``transform`` to reuse the
    compiled program across calls.
    """
    key = _checks.key(key)
    n_steps = _checks.nonnegative_int(n_steps, "n_steps")
    burn_in = _checks.nonnegative_int(burn_in, "burn_in")
    thin = _checks.positive_int(thin, "thin")
    if not callable(kernel):
        raise TypeError(f"kernel must be callable as kernel(key, params, state), got {kernel!r}")
    if transform is not None and not callable(transform) and not isinstance(transform, Reducer):
        raise TypeError("transform must be callable as transform(params, state), a Reducer such as "
                        f"running_mean(f), or None; got {transform!r}")
    leaves = jax.tree_util.tree_leaves(states)
    if not leaves or any(jnp.ndim(x) == 0 for x in leaves):
        raise ValueError("states must carry a leading chain axis [n_chains, ...] on every leaf")
    n_chains = {x.shape[0] for x in leaves}
    if len(n_chains) != 1:
        raise ValueError(f"every leaf of states must have the same number of chains, got {sorted(n_chains)}")
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(leaves[0].shape[0], mesh, "n_chains (the leading axis of states)")
    final, trace, _ = core.run_many_jit(key, _Plain(kernel), params, None, states, n_steps, burn_in=burn_in,
                                        thin=thin, transform=transform, start="state", mesh=mesh)
    return final, trace
