"""The one scan driver: every sampler, AIS run and training negative phase runs under it.

It alone owns key handling and vmapping:

  * step ``t`` of a chain (burn-in steps counted from 0) uses ``fold_in(key, t)``,
    so the state after ``t`` steps does not depend on burn-in/thin bookkeeping;
  * chain ``i`` of ``run_many`` uses ``jax.random.split(key, n_chains)[i]`` and
    equals that chain run alone by ``run_from``/``run``, for keys of every
    implementation whose draws ``vmap`` leaves unchanged (threefry, the
    default, and philox). Not for ``BATCH_DRAWN_IMPLS`` (rbg, unsafe_rbg): JAX
    batches XLA's RngBitGenerator by drawing the whole batch's bits from the
    batch's first key, so with those keys chain ``i`` is a valid chain of the
    same law, reproducible for a given key and number of chains, but not the
    chain run alone (exactness there would need a loop over chains, not vmap);
  * a chain started from a position (``run_from``) splits its key once more:
    the first half draws the initial state (``kernel.init``), the second runs;
  * with a ``mesh`` (``run_many``/``init_many``), the chains — keys, starts,
    states, traces — are laid out along the mesh's first axis and the model is
    replicated; the per-chain keys are the same, so every device runs the very
    rows it would run on one device and the draws are bit-identical (the
    tests check it). Sharding lives here, in ``along_chains``/``replicated``:
    the samplers only pass the mesh through.

A kernel is ``kernel(key, params, settings, state) -> (state, info)``; a
``transform(params, state)`` picks what is kept per kept step, so memory does
not grow with the number of steps unless a trace is asked for. A kernel whose
settings change along the run (AIS's schedule) keeps its step index in its state.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jax.sharding import NamedSharding, PartitionSpec

from rbm_jax._src import rng

__all__ = ["run", "run_from", "run_many", "run_many_jit", "run_from_jit", "init_many", "init_many_jit",
           "chain_keys", "Reducer", "running_mean", "along_chains", "replicated", "mean_over_rows"]

STATIC = ("kernel", "n_steps", "burn_in", "thin", "transform")

#: PRNG implementations whose draws under ``vmap`` come from the batch's first key (JAX's
#: batching rule for RngBitGenerator): with them chain ``i`` of ``run_many`` is not the
#: chain run alone (see the module docstring). The tests check this list against JAX.
BATCH_DRAWN_IMPLS = ("rbg", "unsafe_rbg")


class Reducer(NamedTuple):
    """A running statistic of the kept states, carried through the scan instead of a trace.

    Passed where a ``transform`` goes: the run then keeps ``init(params, state)``
    and folds every kept state in with ``update(acc, params, state, n)`` (n: the
    kept states so far, this one included), and returns ``finish(acc)`` where the
    trace would be. Memory is the accumulator's, whatever the number of steps.
    """

    init: Callable
    update: Callable
    finish: Callable


def _mean_update(transform, acc, params, state, n):
    # Welford's update, mean_n = mean_{n-1} + (x_n - mean_{n-1}) / n: no growing sum to lose
    # float32 digits over 1e5 steps.
    x = transform(params, state)
    return jax.tree_util.tree_map(lambda m, v: m + (v.astype(m.dtype) - m) / n.astype(m.dtype), acc, x)


def _mean_init(transform, params, state):
    shapes = jax.eval_shape(lambda: transform(params, state))
    # Integer statistics (categorical states) average into JAX's default float type.
    return jax.tree_util.tree_map(
        lambda s: jnp.zeros(s.shape, s.dtype if jnp.issubdtype(s.dtype, jnp.inexact) else jnp.result_type(float)),
        shapes)


def running_mean(transform) -> Reducer:
    """The mean of ``transform(params, state)`` over the kept states (per chain), in O(1) memory.

    ``running_mean(keep_v)`` is each chain's mean visible configuration;
    ``running_mean(keep_free_energy)`` its mean free energy.
    """
    return Reducer(functools.partial(_mean_init, transform), functools.partial(_mean_update, transform),
                   _identity)


def _identity(x):
    return x


def along_chains(tree, mesh, axis: int = 0):
    """Inside ``jit``: lays every leaf of ``tree`` out along ``mesh``'s first axis on its dimension ``axis``.

    The one place the library says how independent things (chains, PT systems,
    AIS runs, minibatch rows, models) are sharded. ``mesh=None``: ``tree`` unchanged.
    """
    if mesh is None:
        return tree
    spec = PartitionSpec(*([None] * axis), mesh.axis_names[0])
    sharding = NamedSharding(mesh, spec)
    return jax.tree_util.tree_map(
        lambda x: jax.lax.with_sharding_constraint(x, sharding) if jnp.ndim(x) > axis else x, tree)


def replicated(tree, mesh):
    """Inside ``jit``: every leaf of ``tree`` whole on every device of ``mesh`` (the model's
    parameters and settings). ``mesh=None``: ``tree`` unchanged."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, sharding), tree)


def mean_over_rows(fn, mesh, shared, rows):
    """``fn(shared, rows)``, a mean over the leading rows of every leaf of ``rows``, row-sharded.

    Without a mesh it is the call itself. With one, each device applies ``fn``
    to its own rows and a single ``psum`` (one all-reduce carrying every leaf
    of the result) averages the devices' means: equal shards, so this is the
    mean over all rows, summed in another order than on one device (agreement
    to rounding, not bit-identity). Data-parallel training reduces its
    sufficient statistics with it: one collective per update.
    """
    if mesh is None:
        return fn(shared, rows)
    axis = mesh.axis_names[0]
    n_shards = mesh.shape[axis]

    def local(shared, rows):
        total = jax.lax.psum(fn(shared, rows), axis)
        return jax.tree_util.tree_map(lambda x: x / n_shards, total)

    row_spec = jax.tree_util.tree_map(lambda _: PartitionSpec(axis), rows)
    shared_spec = jax.tree_util.tree_map(lambda _: PartitionSpec(), shared)
    return jax.shard_map(local, mesh=mesh, in_specs=(shared_spec, row_spec), out_specs=PartitionSpec())(
        shared, rows)


def chain_keys(key, n_chains: int):
    """The per-chain keys ``run_many`` uses: ``jax.random.split(key, n_chains)``."""
    return jax.random.split(key, n_chains)


def _zeros_like_info(kernel, key, params, settings, state):
    shape = jax.eval_shape(lambda: kernel(key, params, settings, state)[1])
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)


def run(key, kernel, params, settings, state, n_steps: int, *, burn_in: int = 0, thin: int = 1,
        transform=None):
    """Runs ONE chain: ``burn_in`` steps, then ``n_steps`` steps keeping every ``thin``-th.

    Returns:
      ``(final_state, trace, last_info)``: the trace stacks ``transform(params,
      state)`` over the kept steps ``[n_steps // thin, ...]`` (``None`` without a
      transform); ``last_info`` is the info of the last step (zeros after none).
    """

    def advance(t, carry):
        s, _ = carry
        return kernel(rng.fold_in(key, t), params, settings, s)

    info = _zeros_like_info(kernel, key, params, settings, state)
    carry = lax.fori_loop(0, burn_in, advance, (state, info))
    n_kept = n_steps // thin

    def kept_block(c, i):
        start = burn_in + i * thin
        c = lax.fori_loop(start, start + thin, advance, c)
        keep = transform is None or isinstance(transform, Reducer)
        return c, (None if keep else transform(params, c[0]))

    if isinstance(transform, Reducer):
        def reduced_block(c, i):
            c, acc = c
            c, _ = kept_block(c, i)
            return (c, transform.update(acc, params, c[0], i + 1)), None

        (carry, acc), _ = lax.scan(reduced_block, (carry, transform.init(params, state)), jnp.arange(n_kept))
        trace = transform.finish(acc)
    else:
        carry, trace = lax.scan(kept_block, carry, jnp.arange(n_kept))
    tail_start = burn_in + n_kept * thin
    state, info = lax.fori_loop(tail_start, burn_in + n_steps, advance, carry)
    return state, trace, info


def run_from(key, kernel, params, settings, x0, n_steps: int, *, burn_in: int = 0, thin: int = 1,
             transform=None):
    """Starts one chain at position ``x0`` (``kernel.init``) and runs it; see ``run``."""
    key_init, key_run = rng.split(key)
    state = kernel.init(key_init, params, settings, x0)
    return run(key_run, kernel, params, settings, state, n_steps, burn_in=burn_in, thin=thin,
               transform=transform)


def run_many(key, kernel, params, settings, starts, n_steps: int, *, burn_in: int = 0, thin: int = 1,
             transform=None, start: str = "position", mesh=None):
    """Runs independent chains, one per leading row of ``starts``, vmapped.

    Args:
      start: ``"position"`` — rows are positions, started by ``kernel.init``
        (``run_from``); ``"state"`` — rows are kernel states, run as they are.
      mesh: ``None``, or a ``jax.sharding.Mesh`` whose first axis shards the
        chains (its size must divide the number of chains: the callers check).

    Returns:
      ``(final [n_chains, ...], trace [n_kept, n_chains, ...] or None, last_info [n_chains, ...])``,
      the trace time-major; with a mesh, each sharded along the chain axis.
    """
    n_chains = jax.tree_util.tree_leaves(starts)[0].shape[0]
    one = run_from if start == "position" else run
    kwargs = dict(burn_in=burn_in, thin=thin, transform=transform)
    keys, starts = along_chains((chain_keys(key, n_chains), starts), mesh)
    params, settings = replicated((params, settings), mesh)
    final, trace, info = jax.vmap(
        lambda k, s: one(k, kernel, params, settings, s, n_steps, **kwargs)
    )(keys, starts)
    # vmap puts chains first; the contract is time-major [n_kept, n_chains, ...]. A reducer's
    # result has no time axis: it stays [n_chains, ...].
    reduced = isinstance(transform, Reducer)
    if not reduced:
        trace = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), trace)
    final, info = along_chains((final, info), mesh)
    return final, along_chains(trace, mesh, axis=0 if reduced else 1), info


def init_many(key, kernel, params, settings, positions, mesh=None):
    """Initial states for many chains: chain ``i`` is ``kernel.init(split(key, n)[i], ..., positions[i])``
    (sharded along the chains with a ``mesh``, as in ``run_many``)."""
    n_chains = jax.tree_util.tree_leaves(positions)[0].shape[0]
    keys, positions = along_chains((chain_keys(key, n_chains), positions), mesh)
    params, settings = replicated((params, settings), mesh)
    states = jax.vmap(lambda k, x: kernel.init(k, params, settings, x))(keys, positions)
    return along_chains(states, mesh)


#: Compiled entry points, shared by every public sampler so equal structures share compiled code.
run_many_jit = jax.jit(run_many, static_argnames=STATIC + ("start", "mesh"))
run_from_jit = jax.jit(run_from, static_argnames=STATIC)
init_many_jit = jax.jit(init_many, static_argnames=("kernel", "mesh"))
