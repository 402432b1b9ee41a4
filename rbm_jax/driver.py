"""The one ``lax.scan`` driver that runs every Markov-chain kernel of the library.

A kernel is a pure function ``kernel(key, params, state) -> state`` (BlackJAX
style: key first, one return type). The driver runs ``burn_in`` steps, then
``n_steps`` steps of which every ``thin``-th is kept, and applies
``transform(params, state)`` to each kept state. Only what ``transform``
returns is stored, so memory does not grow with the number of steps unless
the caller asks for a trace.

Randomness: the key of step ``t`` (counting burn-in steps from 0) is
``jax.random.fold_in(key, t)``. So the state after ``t`` steps does not depend
on ``burn_in``/``thin`` bookkeeping: a ``thin=2`` trace is every second entry
of the ``thin=1`` trace, and a run of ``a + b`` steps passes through the run of
``a`` steps.

One chain is written; many are ``vmap``-ped (``run_chains``): chain ``i`` gets
``jax.random.split(key, n_chains)[i]`` and equals that chain run alone.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from rbm_jax import _checks

__all__ = ["run_chain", "run_chains", "chain_keys"]

Kernel = Callable[[Any, Any, Any], Any]
Transform = Callable[[Any, Any], Any]


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
        step; ``None`` keeps nothing.

    Returns:
      ``(final_state, trace)``: the trace stacks ``transform``'s output on a
      leading axis ``[n_steps // thin, ...]``, or is ``None`` without a transform.
    """

    def advance(t, s):
        return kernel(jax.random.fold_in(key, t), params, s)

    state = lax.fori_loop(0, burn_in, advance, state)
    n_kept = n_steps // thin

    def kept_block(s, i):
        start = burn_in + i * thin
        s = lax.fori_loop(start, start + thin, advance, s)
        return s, (None if transform is None else transform(params, s))

    state, trace = lax.scan(kept_block, state, jnp.arange(n_kept))
    tail_start = burn_in + n_kept * thin
    state = lax.fori_loop(tail_start, burn_in + n_steps, advance, state)
    return state, trace


def chain_keys(key, n_chains: int):
    """The per-chain keys ``run_chains`` uses: ``jax.random.split(key, n_chains)``."""
    return jax.random.split(key, n_chains)


@functools.partial(jax.jit, static_argnames=("kernel", "n_steps", "burn_in", "thin", "transform"))
def _run_chains(key, kernel, params, states, n_steps, burn_in, thin, transform):
    n_chains = jax.tree_util.tree_leaves(states)[0].shape[0]
    one = functools.partial(
        run_chain, kernel=kernel, n_steps=n_steps, burn_in=burn_in, thin=thin, transform=transform
    )
    final, trace = jax.vmap(lambda k, s: one(k, params=params, state=s))(
        chain_keys(key, n_chains), states
    )
    # vmap puts chains first; the contract is time-major [n_kept, n_chains, ...].
    trace = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), trace)
    return final, trace


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
):
    """Runs many independent chains of one kernel, vmapped, in one compiled program.

    Args:
      key: PRNG key; chain ``i`` uses ``jax.random.split(key, n_chains)[i]``.
      kernel: ``kernel(key, params, state) -> state`` for ONE chain.
      params: pytree shared by all chains.
      states: pytree of initial states with a leading chain axis ``[n_chains, ...]``.
      n_steps, burn_in, thin, transform: as in ``run_chain``.

    Returns:
      ``(final_states [n_chains, ...], trace [n_steps // thin, n_chains, ...] or None)``.

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
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable as transform(params, state) or None, got {transform!r}")
    leaves = jax.tree_util.tree_leaves(states)
    if not leaves or any(jnp.ndim(x) == 0 for x in leaves):
        raise ValueError("states must carry a leading chain axis [n_chains, ...] on every leaf")
    n_chains = {x.shape[0] for x in leaves}
    if len(n_chains) != 1:
        raise ValueError(f"every leaf of states must have the same number of chains, got {sorted(n_chains)}")
    return _run_chains(key, kernel, params, states, n_steps, burn_in, thin, transform)
