"""Training with any gradient function (hand-written or ``jax.grad``) as one jitted scan.

Contract:
  * ``train(key, params, x, t, *, loss_fn, grad_fn, optimizer, n_steps, batch_size)`` is one
    jitted ``lax.scan`` over optax updates with any gradient function; minibatches come from
    ``fold_in(key, step)``, so two gradient functions see the same batches.
  * The model is any pytree: the notes' ``SeedMLPParams``, a tuple of ``Layer``, or anything
    that ``loss_fn`` and ``grad_fn`` accept.
  * Arguments are validated at the Python boundary; this module never changes JAX's global
    configuration.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rbm_jax import _checks

__all__ = [
    "TrainState",
    "TrainMetrics",
    "init_train_state",
    "train_step",
    "train",
]


class TrainState(NamedTuple):
    """What the training scan carries."""

    params: Any  # the model's pytree
    opt_state: Any  # optax state
    step: jax.Array  # [] int32, number of updates done


class TrainMetrics(NamedTuple):
    """What each step reports (stacked over steps by ``train``)."""

    loss: jax.Array  # [] loss_fn on the step's batch, before the update
    grad_norm: jax.Array  # [] global L2 norm of grad_fn's gradient


def init_train_state(params, optimizer: optax.GradientTransformation) -> TrainState:
    """The state before the first step.

    Args:
      params: the model's pytree.
      optimizer: an optax ``GradientTransformation``.

    Returns:
      ``TrainState(params, optimizer.init(params), step=0)``.
    """
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def train_step(
    state: TrainState, batch: tuple, *, loss_fn: Callable, grad_fn: Callable,
    optimizer: optax.GradientTransformation,
) -> tuple[TrainState, TrainMetrics]:
    """One optimiser update with the gradient from ``grad_fn``.

    Args:
      state: ``TrainState``.
      batch: ``(x, t)``, passed to ``loss_fn(params, x, t)`` and ``grad_fn(params, x, t)``.
      loss_fn: returns the [] loss that is reported (not differentiated).
      grad_fn: returns gradients with the structure of params (hand-written or ``jax.grad``).
      optimizer: an optax ``GradientTransformation``.

    Returns:
      ``(new state, TrainMetrics)``.
    """
    x, t = batch
    grads = grad_fn(state.params, x, t)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    metrics = TrainMetrics(loss_fn(state.params, x, t), grad_norm)
    return TrainState(params, opt_state, state.step + 1), metrics


def _train(key, params, x, t, *, loss_fn, grad_fn, optimizer, n_steps, batch_size):
    step = functools.partial(train_step, loss_fn=loss_fn, grad_fn=grad_fn, optimizer=optimizer)

    def body(state, _):
        if batch_size is None:
            batch = (x, t)
        else:
            # Per-step minibatch, drawn without replacement from fold_in(key, step).
            idx = jax.random.choice(
                jax.random.fold_in(key, state.step), x.shape[0], (batch_size,), replace=False
            )
            batch = (x[idx], t[idx])
        return step(state, batch)

    state, metrics = jax.lax.scan(body, init_train_state(params, optimizer), None, length=n_steps)
    return state.params, metrics


_train_jit = jax.jit(
    _train, static_argnames=("loss_fn", "grad_fn", "optimizer", "n_steps", "batch_size")
)


def train(
    key,
    params,
    x,
    t,
    *,
    loss_fn: Callable,
    grad_fn: Callable,
    optimizer: optax.GradientTransformation,
    n_steps: int,
    batch_size: int | None = None,
) -> tuple[Any, TrainMetrics]:
    """Trains with any gradient function, as one jitted ``lax.scan`` over steps.

    The same ``key``, ``params``, data and ``optimizer`` with two different ``grad_fn`` (say
    ``mlp_manual_grads`` and ``jax.grad(mlp_loss)``) see identical batches, so their loss curves
    differ only by the gradients' round-off.

    Args:
      key: a PRNG key for the minibatches; may be None when ``batch_size`` is None (full batch).
      params: the model's pytree.
      x: [n, ...] training inputs.
      t: [n, ...] training targets (labels or arrays), one per row of ``x``.
      loss_fn: ``loss_fn(params, x, t) -> []``, reported each step.
      grad_fn: ``grad_fn(params, x, t) -> grads`` with the structure of ``params``.
        Static under jit: pass the same function object to reuse the compiled loop.
      optimizer: an optax ``GradientTransformation``.
      n_steps: number of updates (positive int).
      batch_size: rows per step, drawn without replacement each step; None for the full batch.

    Returns:
      ``(final params, TrainMetrics)`` with each metric stacked to [n_steps].
    """
    n_steps = _checks.positive_int(n_steps, "n_steps")
    x, t = jnp.asarray(x), jnp.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ValueError(
            f"x and t must have one row per example (same leading axis), got shapes "
            f"{x.shape} and {t.shape}"
        )
    if batch_size is None:
        key = jax.random.key(0) if key is None else _checks.key(key)  # unused: full batch
    else:
        key = _checks.key(key)
        batch_size = _checks.positive_int(batch_size, "batch_size")
        if batch_size > x.shape[0]:
            raise ValueError(
                f"batch_size must be at most the {x.shape[0]} rows of x, got {batch_size}"
            )
    for name, fn in (("loss_fn", loss_fn), ("grad_fn", grad_fn)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {fn!r}")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be an optax GradientTransformation, got {type(optimizer).__name__}"
        )
    return _train_jit(
        key, params, x, t, loss_fn=loss_fn, grad_fn=grad_fn, optimizer=optimizer,
        n_steps=n_steps, batch_size=batch_size,
    )
