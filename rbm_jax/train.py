"""Training RBMs by stochastic approximation of the likelihood gradient: CD-k, PCD-k, PT.

The gradient of the average log-likelihood is data statistics minus model
statistics::

    ∂⟨log P(v)⟩/∂W = ⟨v σ(c + Wᵀv)ᵀ⟩_data − ⟨v hᵀ⟩_model   (likewise b: ⟨v⟩, c: ⟨h⟩)

equivalently −∇[mean F(data) − mean F(model samples)] with the samples held
fixed. The estimators differ only in where the model samples come from, and
are values (``rbm_jax.estimators``, re-exported here):

  * ``cd(k)``  or ``'cd'``  — CD-k: k Gibbs sweeps started at the minibatch (Hinton 2002);
  * ``pcd(k, n_chains)`` or ``'pcd'`` — PCD-k: k sweeps of persistent chains
    carried across updates (Tieleman 2008); one chain per minibatch row by default;
  * ``pt(k, betas)`` or ``'pt'`` — persistent parallel-tempering systems, k PT
    steps per update, negatives from the β = 1 rung (Desjardins et al. 2010).

A new estimator is a new ``estimators.Estimator`` value passed as ``method``.

Model statistics use hidden probabilities σ(c + Wᵀv) of the negative
samples (Rao-Blackwellised), as Hinton's guide recommends.

Contract:
  * ``TrainState(params, opt_state, chains, key, step)``; update ``t`` uses
    ``jax.random.fold_in(step_key, t)``, so a run resumed from a saved state
    is bit-identical to an uninterrupted one.
  * Any optax optimizer (``optimizer=`` wins over ``learning_rate``); the
    default is SGD with Hinton's momentum schedule (0.5, then 0.9 from epoch
    5). L2 weight decay applies to W only. optax minimises, so the update is
    fed the negative of the ascent direction.
  * The default optimizer's learning rate is stored once, in the training
    state's optimizer state. ``run_epochs``/``resume`` keep it, or set a new
    one with ``learning_rate=``; with your own optimizer they refuse
    ``learning_rate=`` (your optimizer carries its rate).
  * One epoch is one ``lax.scan`` over a fresh permutation of the rows, in
    minibatches of ``batch_size`` (the last ``n_rows % batch_size`` rows of
    each permutation are left out of that epoch).
  * Evaluation metrics are computed every ``metrics_every`` epochs inside the
    compiled loop (``lax.cond``; NaN on other epochs), without host sync.
  * ``fit_many`` trains many models (seeds, learning rates, weight decays) as
    one vmapped program; model i equals model i trained alone by ``fit``.

References:
  G. Hinton, Training products of experts by minimizing contrastive divergence, 2002.
  T. Tieleman, Training RBMs using approximations to the likelihood gradient, ICML 2008.
  G. Desjardins et al., Tempered Markov chain Monte Carlo for training of RBMs, AISTATS 2010.
  G. Hinton, A practical guide to training RBMs, UTML TR 2010-003.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from rbm_jax import _checks, exact
from rbm_jax._src import enumeration, fit_metrics, model
from rbm_jax.estimators import CD, PCD, PT, ESTIMATORS, Estimator, as_estimator, cd, pcd, pt
from rbm_jax.types import RBMParams, TrainState

__all__ = [
    "METHODS",
    "TrainState",
    "TrainConfig",
    "HyperParams",
    "Estimator",
    "CD",
    "PCD",
    "PT",
    "cd",
    "pcd",
    "pt",
    "data_statistics",
    "ascent_direction",
    "exact_gradient",
    "gradient_estimate",
    "hinton_sgd",
    "init_chains",
    "init_state",
    "learning_rate_of",
    "make_train_step",
    "epochs",
    "run_epochs",
    "resume",
    "fit",
    "fit_many",
]

#: The shorthand names of ``method``.
METHODS = tuple(ESTIMATORS)


class HyperParams(NamedTuple):
    """Numeric hyperparameters passed with each call (traced, so ``fit_many`` can vmap over them).

    The learning rate is not here: it lives once, in the optimizer state.
    """

    weight_decay: jax.Array  # [] L2 cost on W only


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static training settings (hashable: part of the compiled program's identity).

    ``method`` is a shorthand name ('cd', 'pcd', 'pt', built with ``k``,
    ``n_chains`` and ``betas``) or an ``Estimator`` value, which carries its own
    settings (then ``k``, ``n_chains`` and ``betas`` here are not used).
    """

    method: Any = "cd"
    k: int = 1
    batch_size: int = 10
    n_chains: int | None = None  # persistent chains / PT systems; default batch_size
    betas: tuple | None = None  # PT ladder (betas[0] == 1); default geometric(10, 0.1)
    optimizer: Any = None  # an optax GradientTransformation; None: hinton_sgd
    initial_momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch_epoch: int = 5
    metrics_every: int = 1
    exact_likelihood: bool = False  # evaluate the exact log-likelihood (small models)
    monitor_rows: int = 1000  # rows of training data used for evaluation metrics

    @property
    def estimator(self) -> Estimator:
        """The estimator value, with batch-dependent defaults filled in."""
        return as_estimator(self.method, k=self.k, n_chains=self.n_chains, betas=self.betas).resolve(self.batch_size)


# --------------------------------------------------------------------------
# Gradient estimators


def data_statistics(params: RBMParams, v) -> RBMParams:
    """⟨v σ(c + Wᵀv)ᵀ⟩, ⟨v⟩, ⟨σ(c + Wᵀv)⟩ over the rows of ``v`` [n_rows, n_visible]."""
    params = _checks.rbm_params(params)
    v = _checks.data_matrix(v, params.n_visible, "v", params.dtype)
    return model.statistics(params, v, model.prob_h_given_v(params, v))


def _ascent(params, v_data, mean_h_data, v_model, mean_h_model):
    pos, neg = model.statistics(params, v_data, mean_h_data), model.statistics(params, v_model, mean_h_model)
    return jax.tree_util.tree_map(jnp.subtract, pos, neg)


def ascent_direction(params: RBMParams, v_data, v_model) -> RBMParams:
    """Data statistics minus model statistics: the log-likelihood ascent direction.

    Equals −∇_θ [mean F(v_data) − mean F(stop_gradient(v_model))].

    Args:
      params: ``RBMParams``.
      v_data: [n_rows, n_visible] data.
      v_model: [n_samples, n_visible] model samples.

    Returns:
      ``RBMParams``-shaped ascent direction.
    """
    params = _checks.rbm_params(params)
    v_data = _checks.data_matrix(v_data, params.n_visible, "v_data", params.dtype)
    v_model = _checks.data_matrix(v_model, params.n_visible, "v_model", params.dtype)
    return _ascent(params, v_data, model.prob_h_given_v(params, v_data),
                   v_model, model.prob_h_given_v(params, v_model))


def exact_gradient(params: RBMParams, data) -> RBMParams:
    """The exact gradient of the average log-likelihood: data statistics − exact model moments.

    Enumerates the smaller layer (``exact.model_moments``), so it is exact for
    models ``rbm_jax.exact`` can enumerate; equals ``jax.grad`` of
    ``exact.log_likelihood``.
    """
    params = _checks.rbm_params(params)
    data = _checks.data_matrix(data, params.n_visible, "data", params.dtype)
    pos = model.statistics(params, data, model.prob_h_given_v(params, data))
    m = exact.model_moments(params)
    return RBMParams(pos.W - m.vh, pos.b - m.v, pos.c - m.h)


def gradient_estimate(key, params: RBMParams, batch, chains=None, *, method="cd", k: int = 1,
                      betas=None):
    """One stochastic estimate of the log-likelihood ascent direction.

    Args:
      key: PRNG key.
      params: ``RBMParams``.
      batch: [batch, n_visible] data.
      chains: persistent chains for 'pcd' (``GibbsState`` [n_chains, ...]) or
        'pt' (``PTState`` [n_systems, ...]); see ``init_chains``; ignored by 'cd'.
      method: 'cd', 'pcd', 'pt', or an ``Estimator`` value.
      k: Gibbs sweeps (or PT steps) per estimate (for a shorthand ``method``).
      betas: PT ladder (tuple or array, betas[0] == 1).

    Returns:
      ``(ascent RBMParams, new chains)``.
    """
    key = _checks.key(key)
    params = _checks.rbm_params(params)
    batch = _checks.data_matrix(batch, params.n_visible, "batch", params.dtype)
    est = as_estimator(method, k=k, betas=betas).resolve(batch.shape[0])
    if est.persistent and chains is None:
        raise ValueError(f"method {est.name!r} needs persistent chains: pass chains=init_chains(...)")
    return _gradient_estimate(key, params, batch, chains, est)


@functools.partial(jax.jit, static_argnames="est")
def _gradient_estimate(key, params, batch, chains, est):
    mean_h_data = model.prob_h_given_v(params, batch)
    neg = est.negatives(key, params, batch, mean_h_data, chains)
    return _ascent(params, batch, mean_h_data, neg.v, neg.mean_h), neg.chains


def init_chains(key, params: RBMParams, data, cfg: TrainConfig):
    """The estimator's persistent chains, started at random rows of ``data`` (None for CD)."""
    return cfg.estimator.init_chains(key, params, data)


# --------------------------------------------------------------------------
# Optimiser and the training step


def hinton_sgd(learning_rate, *, initial_momentum=0.5, final_momentum=0.9, switch_step=0):
    """SGD with momentum ``initial_momentum`` for ``switch_step`` updates, then ``final_momentum``.

    Hinton's guide (§9): momentum 0.5 while learning makes large initial
    progress, 0.9 afterwards (we switch after 5 epochs by default). The
    learning rate is a numeric hyperparameter of the optimizer state
    (``optax.inject_hyperparams``): that state is where it lives.
    """

    def momentum(count):
        return jnp.where(count < switch_step, initial_momentum, final_momentum)

    return optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate, momentum=momentum)


def _optimizer(cfg: TrainConfig, learning_rate, steps_per_epoch: int):
    if cfg.optimizer is not None:
        return cfg.optimizer
    return hinton_sgd(learning_rate, initial_momentum=cfg.initial_momentum,
                      final_momentum=cfg.final_momentum,
                      switch_step=cfg.momentum_switch_epoch * steps_per_epoch)


def learning_rate_of(state: TrainState):
    """The default optimizer's learning rate stored in ``state`` (``None`` for your own optimizer)."""
    hyper = getattr(state.opt_state, "hyperparams", None)
    return None if hyper is None else hyper.get("learning_rate")


def _refuse_rate_for_own_optimizer(learning_rate, cfg: TrainConfig) -> None:
    if learning_rate is not None and cfg.optimizer is not None:
        raise ValueError(
            "learning_rate= applies to the default optimizer only; this TrainConfig has its own "
            "optimizer, which carries its own rate (build a new optax optimizer to change it)")


def _with_learning_rate(state: TrainState, learning_rate, cfg: TrainConfig) -> TrainState:
    """``state`` with the default optimizer's rate set to ``learning_rate`` (None keeps it)."""
    _refuse_rate_for_own_optimizer(learning_rate, cfg)
    if learning_rate is None:
        return state
    stored = learning_rate_of(state)
    if stored is None:
        raise ValueError("state.opt_state holds no learning rate: was it made with a different TrainConfig?")
    rate = _validated_rate(learning_rate)
    hyper = dict(state.opt_state.hyperparams, learning_rate=jnp.broadcast_to(
        jnp.asarray(rate, jnp.asarray(stored).dtype), jnp.shape(stored)))
    return state._replace(opt_state=state.opt_state._replace(hyperparams=hyper))


def _train_step(key, state: TrainState, batch, hp: HyperParams, cfg: TrainConfig, steps_per_epoch: int):
    params = state.params
    mean_h_data = model.prob_h_given_v(params, batch)
    neg = cfg.estimator.negatives(key, params, batch, mean_h_data, state.chains)
    ascent = _ascent(params, batch, mean_h_data, neg.v, neg.mean_h)
    # optax minimises: feed it the NLL gradient, plus the L2 cost on W only.
    grads = jax.tree_util.tree_map(jnp.negative, ascent)
    grads = grads._replace(W=grads.W + hp.weight_decay * params.W)
    # The rate given here is only the constructor's: the update reads the one in opt_state.
    opt = _optimizer(cfg, learning_rate_of(state), steps_per_epoch)
    updates, opt_state = opt.update(grads, state.opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = {"grad_norm": optax.tree.norm(ascent), **neg.info}
    return TrainState(params, opt_state, neg.chains, state.key, state.step + 1), metrics


def make_train_step(cfg: TrainConfig, hp: HyperParams, steps_per_epoch: int) -> Callable:
    """A jitted ``train_step(key, state, batch) -> (state, metrics)`` for these settings."""
    cfg = _validated_config(cfg)
    step = functools.partial(_train_step, hp=hp, cfg=cfg, steps_per_epoch=steps_per_epoch)
    return jax.jit(step)


# --------------------------------------------------------------------------
# Epochs


def _evaluate(params, monitor, held_out, cfg: TrainConfig):
    out = {
        "recon_error": fit_metrics.reconstruction_error(params, monitor),
        "pseudo_log_likelihood": jnp.mean(fit_metrics.pseudo_log_likelihood(params, monitor)),
    }
    if held_out is not None:
        out["free_energy_gap"] = (jnp.mean(model.free_energy(params, held_out))
                                  - jnp.mean(model.free_energy(params, monitor)))
    if cfg.exact_likelihood:
        log_z = enumeration.log_partition(params)
        out["log_likelihood"] = -jnp.mean(model.free_energy(params, monitor)) - log_z
        if held_out is not None:
            out["held_out_log_likelihood"] = -jnp.mean(model.free_energy(params, held_out)) - log_z
    return out


def epochs(state: TrainState, data, monitor, held_out, hp: HyperParams, cfg: TrainConfig, n_epochs: int):
    """``n_epochs`` epochs as one ``lax.scan`` (traceable; the drivers below compile it).

    Returns:
      ``(state, history)`` with history arrays [n_epochs, ...].
    """
    n_rows, n_visible = data.shape
    steps_per_epoch = n_rows // cfg.batch_size
    key_steps, key_shuffle = jax.random.split(state.key)

    def one_epoch(state, _):
        epoch = state.step // steps_per_epoch
        perm = jax.random.permutation(jax.random.fold_in(key_shuffle, epoch), n_rows)
        batches = data[perm[: steps_per_epoch * cfg.batch_size]].reshape(
            steps_per_epoch, cfg.batch_size, n_visible)

        def body(s, batch):
            return _train_step(jax.random.fold_in(key_steps, s.step), s, batch, hp, cfg, steps_per_epoch)

        state, step_metrics = lax.scan(body, state, batches)
        record = {name: jnp.mean(x, axis=0) for name, x in step_metrics.items()}
        due = (epoch + 1) % cfg.metrics_every == 0
        shape = jax.eval_shape(lambda p: _evaluate(p, monitor, held_out, cfg), state.params)
        evals = lax.cond(
            due,
            lambda p: _evaluate(p, monitor, held_out, cfg),
            lambda p: jax.tree_util.tree_map(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), shape),
            state.params,
        )
        record.update(evals)
        record["epoch"] = epoch + 1
        return state, record

    return lax.scan(one_epoch, state, None, length=n_epochs)


_run_epochs_jit = jax.jit(epochs, static_argnames=("cfg", "n_epochs"))


def _init_state(key, params, data, learning_rate, cfg: TrainConfig) -> TrainState:
    key_chains, key_train = jax.random.split(key)
    steps_per_epoch = data.shape[0] // cfg.batch_size
    opt = _optimizer(cfg, learning_rate, steps_per_epoch)
    chains = cfg.estimator.init_chains(key_chains, params, data)
    return TrainState(params, opt.init(params), chains, key_train, jnp.zeros((), jnp.int32))


_init_state_jit = jax.jit(_init_state, static_argnames=("cfg",))


# --------------------------------------------------------------------------
# Validation: once, at the boundary of each public call.


def _validated_config(cfg: TrainConfig) -> TrainConfig:
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    _checks.positive_int(cfg.batch_size, "batch_size")
    cfg.estimator.validate()  # raises on a bad method, k, n_chains or ladder, naming it
    _checks.positive_int(cfg.metrics_every, "metrics_every")
    _checks.positive_int(cfg.monitor_rows, "monitor_rows")
    _checks.nonnegative_int(cfg.momentum_switch_epoch, "momentum_switch_epoch")
    for name in ("initial_momentum", "final_momentum"):
        m = getattr(cfg, name)
        if not (0 <= m < 1):
            raise ValueError(f"{name} must lie in [0, 1), got {m!r}")
    if cfg.optimizer is not None and not isinstance(cfg.optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax GradientTransformation, got {type(cfg.optimizer).__name__}")
    return cfg


def _validated_rate(learning_rate):
    lr = np.asarray(learning_rate, np.float64)
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
    return lr


def _validated_decay(weight_decay, dtype) -> HyperParams:
    wd = np.asarray(weight_decay, np.float64)
    if not np.all(np.isfinite(wd)) or np.any(wd < 0):
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay!r}")
    return HyperParams(jnp.asarray(wd, dtype))


def _validated_params(params):
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    return params


def _prepare(params, data, held_out, cfg, n_epochs):
    """Validates what every training call shares; ``params`` must already be validated."""
    dtype = params.dtype
    data = _checks.data_matrix(data, params.n_visible, "data", dtype)
    if held_out is not None:
        held_out = _checks.data_matrix(held_out, params.n_visible, "held_out", dtype)
    cfg = _validated_config(cfg)
    if cfg.batch_size > data.shape[0]:
        raise ValueError(f"batch_size ({cfg.batch_size}) must not exceed the number of rows of data ({data.shape[0]})")
    n_epochs = _checks.nonnegative_int(n_epochs, "n_epochs")
    smaller = min(params.n_visible, params.n_hidden)
    if cfg.exact_likelihood and smaller > enumeration.MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"exact_likelihood needs min(n_visible, n_hidden) <= {enumeration.MAX_ENUMERATED_UNITS}, got {smaller}")
    monitor = data[: cfg.monitor_rows]
    return data, held_out, monitor, cfg, n_epochs


def _fit_config(params, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                exact_likelihood) -> TrainConfig:
    """The static TrainConfig of ``fit``/``fit_many``'s keyword arguments (``params`` validated)."""
    if isinstance(exact_likelihood, str):
        if exact_likelihood != "auto":
            raise ValueError(f"exact_likelihood must be True, False or 'auto', got {exact_likelihood!r}")
        # Cheap enough to evaluate every few epochs.
        exact_likelihood = min(params.n_visible, params.n_hidden) <= 16
    return TrainConfig(
        method=method, k=k, batch_size=batch_size, n_chains=n_chains,
        betas=None if betas is None else tuple(float(b) for b in np.asarray(betas)),
        optimizer=optimizer, metrics_every=metrics_every, exact_likelihood=bool(exact_likelihood),
    )


# --------------------------------------------------------------------------
# Public drivers


def init_state(key, params: RBMParams, data, cfg: TrainConfig, *, learning_rate=None) -> TrainState:
    """The initial ``TrainState``: optimizer state, persistent chains (PCD/PT), key, step 0.

    Args:
      learning_rate: the default optimizer's rate (default 0.01), stored in the
        optimizer state; refused when ``cfg`` has its own optimizer.
    """
    key = _checks.key(key)
    params = _validated_params(params)
    data, _, _, cfg, _ = _prepare(params, data, None, cfg, 0)
    _refuse_rate_for_own_optimizer(learning_rate, cfg)
    rate = _validated_rate(0.01 if learning_rate is None else learning_rate)
    return _init_state_jit(key, params, data, jnp.asarray(rate, params.dtype), cfg)


def run_epochs(state: TrainState, data, n_epochs: int, cfg: TrainConfig, *, learning_rate=None,
               weight_decay=0.0, held_out=None):
    """Continues training ``state`` for ``n_epochs`` epochs in one compiled scan.

    Args:
      learning_rate: ``None`` keeps the rate stored in ``state``; a number sets
        the default optimizer's rate from here on (refused with your own optimizer).

    Returns:
      ``(state, history)``: history maps metric names to arrays [n_epochs, ...].
    """
    params = _validated_params(state.params)
    data, held_out, monitor, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    hp = _validated_decay(weight_decay, params.dtype)
    state = _with_learning_rate(state, learning_rate, cfg)
    return _run_epochs_jit(state, data, monitor, held_out, hp, cfg, n_epochs)


def fit(
    key,
    params: RBMParams,
    data,
    *,
    method="cd",
    k: int = 1,
    n_epochs: int,
    batch_size: int,
    learning_rate: float = 0.01,
    optimizer=None,
    weight_decay: float = 0.0,
    n_chains: int | None = None,
    betas=None,
    held_out=None,
    metrics_every: int = 1,
    exact_likelihood="auto",
    callback: Callable | None = None,
    chunk_epochs: int | None = None,
    return_state: bool = False,
):
    """Trains an RBM on ``data`` and returns ``(params, history)``.

    Args:
      key: PRNG key (initial chains, shuffling, every update's sampling).
      params: initial ``RBMParams`` (e.g. ``rbm.init_params(key, n_v, n_h, data=data)``).
      data: [n_rows, n_visible] training data in [0, 1].
      method: 'cd', 'pcd', 'pt', or an estimator value (``train.cd(k)``,
        ``train.pcd(k, n_chains)``, ``train.pt(k, betas)``, or your own
        ``estimators.Estimator``), which carries its own settings.
      k: Gibbs sweeps (PT steps) per update, for a shorthand ``method``.
      n_epochs: passes over the data.
      batch_size: rows per minibatch.
      learning_rate: for the default optimizer (ignored when ``optimizer`` is given).
      optimizer: any optax GradientTransformation; wins over ``learning_rate``. It
        is part of the compiled program's identity: reuse the same object across
        calls to reuse the compiled code (a fresh ``optax.sgd(...)`` recompiles).
      weight_decay: L2 cost on W (added to the NLL gradient as ``weight_decay * W``).
      n_chains: persistent chains (PCD) or PT systems; default ``batch_size``.
      betas: PT ladder with betas[0] == 1; default ``gibbs.geometric_ladder(10, 0.1)``.
      held_out: optional [n_rows', n_visible] data for the free-energy gap and held-out likelihood.
      metrics_every: evaluate every this many epochs (NaN in between).
      exact_likelihood: evaluate the exact log-likelihood: True, False, or
        'auto' (when the smaller layer has at most 16 units).
      callback: ``callback(epochs_done, state, history_so_far)`` after each chunk
        (progress bars, checkpoints); it is the only place the host waits.
      chunk_epochs: epochs per compiled call when ``callback`` is given (default 1).
      return_state: also return the final ``TrainState``.

    Returns:
      ``(params, history)`` — or ``(params, history, state)`` — where history
      maps names ('epoch', 'grad_norm', 'recon_error', 'pseudo_log_likelihood',
      'log_likelihood', 'free_energy_gap', 'swap_acceptance', ...) to numpy
      arrays with a leading epoch axis.
    """
    key = _checks.key(key)
    params = _validated_params(params)
    cfg = _fit_config(params, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                      exact_likelihood)
    data, held_out, monitor, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    hp = _validated_decay(weight_decay, params.dtype)
    rate = jnp.asarray(_validated_rate(learning_rate), params.dtype)
    state = _init_state_jit(key, params, data, rate, cfg)
    state, history = _fit_loop(state, data, monitor, held_out, hp, cfg, n_epochs, callback, chunk_epochs)
    return (state.params, history, state) if return_state else (state.params, history)


def _fit_loop(state, data, monitor, held_out, hp, cfg, n_epochs, callback, chunk_epochs):
    if callback is None:
        state, history = _run_epochs_jit(state, data, monitor, held_out, hp, cfg, n_epochs)
        return state, jax.tree_util.tree_map(np.asarray, history)
    chunk = _checks.positive_int(chunk_epochs or 1, "chunk_epochs")
    parts = []
    done = 0
    while done < n_epochs:
        n = min(chunk, n_epochs - done)
        state, part = _run_epochs_jit(state, data, monitor, held_out, hp, cfg, n)
        parts.append(part)
        done += n
        so_far = {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in part}
        callback(done, state, so_far)
    if not parts:
        state, history = _run_epochs_jit(state, data, monitor, held_out, hp, cfg, 0)
        return state, jax.tree_util.tree_map(np.asarray, history)
    return state, {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in parts[0]}


def resume(state: TrainState, data, n_epochs: int, cfg: TrainConfig, *, learning_rate=None,
           weight_decay=0.0, held_out=None, callback=None, chunk_epochs=None):
    """Continues a saved run for ``n_epochs`` more epochs (see ``rbm_jax.checkpoint``).

    Bit-identical to an uninterrupted run with the same settings: every
    update's randomness derives from ``state.key`` and ``state.step``, and the
    learning rate is the one stored in ``state`` (``learning_rate=`` sets a new
    one for the default optimizer, as in ``run_epochs``).
    """
    params = _validated_params(state.params)
    data, held_out, monitor, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    hp = _validated_decay(weight_decay, params.dtype)
    state = _with_learning_rate(state, learning_rate, cfg)
    return _fit_loop(state, data, monitor, held_out, hp, cfg, n_epochs, callback, chunk_epochs)


@functools.partial(jax.jit, static_argnames=("cfg", "n_epochs"))
def _fit_many(keys, params, data, monitor, held_out, rates, hp, cfg, n_epochs):
    def one(key, p, rate, h):
        state = _init_state(key, p, data, rate, cfg)
        return epochs(state, data, monitor, held_out, h, cfg, n_epochs)

    return jax.vmap(one)(keys, params, rates, hp)


def fit_many(
    keys,
    params: RBMParams,
    data,
    *,
    method="cd",
    k: int = 1,
    n_epochs: int,
    batch_size: int,
    learning_rate=0.01,
    weight_decay=0.0,
    optimizer=None,
    n_chains: int | None = None,
    betas=None,
    held_out=None,
    metrics_every: int = 1,
    exact_likelihood="auto",
):
    """Trains many RBMs at once — seeds and/or hyperparameters — as one vmapped program.

    Model ``i`` uses ``keys[i]``, ``params`` row ``i`` (or the shared
    ``params``), and ``learning_rate[i]`` / ``weight_decay[i]`` (or the shared
    scalar); it equals ``fit(keys[i], params_i, data, learning_rate=lr_i, ...)``.

    Args:
      keys: [n_models] PRNG keys (e.g. ``jax.random.split(key, n_models)``).
      params: ``RBMParams`` shared by all models, or with a leading [n_models] axis.
      learning_rate, weight_decay: scalars or [n_models] arrays.
      Others: as in ``fit`` (static, shared by all models).

    Returns:
      ``(params [n_models, ...], history)`` with history arrays [n_models, n_epochs, ...].
    """
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if keys.ndim < 1 or (jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim != 1):
        raise ValueError(f"keys must be a 1-D array of keys [n_models], got shape {keys.shape}")
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim != 2 or keys.dtype != jnp.uint32:
            raise ValueError(f"keys must be typed keys [n_models] or legacy keys [n_models, 2], got {keys.shape} {keys.dtype}")
    n_models = keys.shape[0]
    if not hasattr(params, "_fields"):  # a plain (W, b, c) triple
        params = RBMParams(*params)
    # Batched params carry a leading [n_models] axis on every leaf. Every family's
    # hidden biases c are [n_hidden] for one model, so their rank tells.
    batched = jnp.ndim(params.c) == 2
    single = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[0], params) if batched else params
    single = _validated_params(single)
    cfg = _fit_config(single, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                      exact_likelihood)
    data, held_out, monitor, cfg, n_epochs = _prepare(single, data, held_out, cfg, n_epochs)
    dtype = single.dtype
    if batched:
        params = type(single)(*(jnp.asarray(x, dtype) for x in params))
        _checks.finite_params(params)
        if any(x.shape[0] != n_models for x in params):
            raise ValueError(f"params has a leading axis that differs from n_models = {n_models}")
    else:
        params = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n_models, *x.shape)), single)
    rates = jnp.asarray(np.broadcast_to(_validated_rate(learning_rate), (n_models,)), dtype)
    hp = _validated_decay(np.broadcast_to(np.asarray(weight_decay, np.float64), (n_models,)), dtype)
    states, history = _fit_many(keys, params, data, monitor, held_out, rates, hp, cfg, n_epochs)
    return states.params, jax.tree_util.tree_map(np.asarray, history)
