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
  * ``TrainState(params, opt_state, chains, key, step, offsets)``; update ``t`` uses
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
  * Evaluation metrics are computed every ``metrics_every`` epochs and at the
    run's last epoch, inside the compiled loop (NaN on other epochs), without
    host sync. The cheap ones (exact log-likelihood once log Z is known,
    free-energy gap, reconstruction error) use every row; the pseudo-likelihood
    uses a fixed random subset of ``pseudo_likelihood_rows`` rows, and its
    history key says so (see ``fit`` and ``pseudo_likelihood_key``).
  * A divergence guard (``divergence='raise'`` by default) stops training at
    the first epoch whose parameters are not finite or whose monitored
    likelihood collapses, and never hands diverged parameters to a callback
    (see ``fit``).
  * ``fit_many`` trains many models (seeds, learning rates, weight decays) as
    one vmapped program; model i equals model i trained alone by ``fit``.
  * Centered gradients (``centering='data' | 'model' | 'average'``, binary RBMs;
    Melchior, Fischer & Wiskott, JMLR 2016): the gradient and the optimizer live
    in centered coordinates (W, b_c, c_c) with offsets μ, λ that track their
    targets at ``centering_rate``; ``state.params`` stays the plain model, so
    everything downstream (monitoring, sampling, the returned params) is unchanged.

References:
  G. Hinton, Training products of experts by minimizing contrastive divergence, 2002.
  T. Tieleman, Training RBMs using approximations to the likelihood gradient, ICML 2008.
  G. Desjardins et al., Tempered Markov chain Monte Carlo for training of RBMs, AISTATS 2010.
  G. Hinton, A practical guide to training RBMs, UTML TR 2010-003.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from rbm_jax import _checks, exact
from rbm_jax import sharding as _sharding
from rbm_jax._src import driver, enumeration, fit_metrics, model, rng
from rbm_jax.estimators import CD, PCD, PT, ESTIMATORS, Estimator, as_estimator, cd, pcd, pt
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, Offsets, RBMParams, TrainState

__all__ = [
    "METHODS",
    "TrainState",
    "TrainConfig",
    "HyperParams",
    "DivergenceInfo",
    "DivergenceError",
    "DivergenceWarning",
    "DIVERGENCE_MODES",
    "collapse_floor",
    "pseudo_likelihood_key",
    "auto_metrics_every",
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
    "CENTERINGS",
    "Offsets",
    "initial_offsets",
    "centered_params",
    "fold_offsets",
    "shift_offsets",
    "centered_ascent_direction",
]

#: What ``centering=`` may be (besides None): where the offsets' targets come from.
CENTERINGS = ("data", "model", "average")

#: The shorthand names of ``method``.
METHODS = tuple(ESTIMATORS)

#: What the divergence guard may do (``divergence=``): see ``fit``.
DIVERGENCE_MODES = ("raise", "warn", "off")

# Reasons the guard records (DivergenceInfo.reason).
_NONFINITE_PARAMS, _NONFINITE_METRIC, _COLLAPSED = 1, 2, 3
_REASONS = {
    _NONFINITE_PARAMS: "the parameters hold NaN or inf",
    _NONFINITE_METRIC: "the monitored {metric} is not finite",
    _COLLAPSED: "the monitored {metric} fell to {value:.4g}, below the floor {floor:.4g} (= -2·n_visible·ln q, "
                "q = {q} states per unit: worse than the uniform distribution by over ln q nats per visible unit)",
}
# fold_in tag of the pseudo-likelihood subset's key (drawn from TrainState.key, i.e. from fit's key).
_SUBSET_TAG = 0x504C4C  # "PLL"


class HyperParams(NamedTuple):
    """Numeric hyperparameters passed with each call (traced, so ``fit_many`` can vmap over them).

    The learning rate is not here: it lives once, in the optimizer state.
    """

    weight_decay: jax.Array  # [] L2 cost on W only


class DivergenceInfo(NamedTuple):
    """What the divergence guard saw in one compiled call (leading [n_models] axis in ``fit_many``)."""

    epoch: jax.Array  # [] int32: the first epoch that diverged (counted from the run's start); 0: none
    reason: jax.Array  # [] int32: 0 none, 1 non-finite parameters, 2 non-finite metric, 3 collapsed metric
    value: jax.Array  # [] the monitored metric at that epoch (NaN when it was not evaluated)
    stopped: jax.Array  # [] bool: training stopped there; the state is the one before that epoch


class DivergenceError(ValueError):
    """Training diverged (``divergence='raise'``); raised before any callback sees the diverged state.

    Attributes:
      epoch: the first epoch that diverged (counted from the run's start, as
        ``history['epoch']``); for ``fit_many`` the earliest over models.
      reason: what the guard saw, in words (``fit_many``: per diverged model).
      models: ``fit_many`` only: the indices of the diverged models (else None).
      state: the last good ``TrainState`` (before ``epoch``); ``fit_many``: None.
      params: the last good parameters (``fit_many``: every model's, the diverged
        ones as they were before their epoch).
      history: the history up to and including ``epoch`` (``fit_many``: all
        epochs, NaN after each diverged model stopped).
    """

    def __init__(self, message, *, epoch, reason, state=None, params=None, history=None, models=None):
        super().__init__(message)
        self.epoch, self.reason, self.models = epoch, reason, models
        self.state, self.params, self.history = state, params, history


class DivergenceWarning(RuntimeWarning):
    """Training diverged and ``divergence='warn'``: see ``fit``."""


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
    betas: tuple | str | None = None  # PT ladder (betas[0] == 1) or 'adaptive'; default: see estimators.PT
    path: str = "tempered"  # PT's path: 'tempered' or 'reference' (see estimators.PT)
    optimizer: Any = None  # an optax GradientTransformation; None: hinton_sgd
    initial_momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch_epoch: int = 5
    metrics_every: int | str | None = "auto"  # epochs between evaluations; "auto"; None: never (see fit)
    exact_likelihood: bool = False  # evaluate the exact log-likelihood (small models), over all rows
    pseudo_likelihood_rows: int | None = 1000  # random training rows for the pseudo-likelihood; None: all
    divergence: str = "raise"  # the divergence guard: "raise", "warn" or "off" (see fit)
    # Gaussian visible units only (GaussianRBMParams): see fit.
    log_sigma_rate: float = 0.1  # log σ's updates are scaled by this (0 holds σ fixed)
    sigma_warmup_epochs: int = 1  # epochs with σ held fixed before it learns
    sigma_floor: float = 0.05  # σ is kept >= this (in the data's units)
    # Centered gradients (binary RBMs; Melchior, Fischer & Wiskott 2016): see fit.
    centering: str | None = None  # None, "data", "model" or "average"
    centering_rate: float = 0.1  # the offsets move this fraction towards their targets per update

    @property
    def estimator(self) -> Estimator:
        """The estimator value, with batch-dependent defaults filled in."""
        return as_estimator(self.method, k=self.k, n_chains=self.n_chains, betas=self.betas,
                            path=self.path).resolve(self.batch_size)


# --------------------------------------------------------------------------
# Gradient estimators


def data_statistics(params: RBMParams, v) -> RBMParams:
    """⟨v σ(c + Wᵀv)ᵀ⟩, ⟨v⟩, ⟨σ(c + Wᵀv)⟩ over the rows of ``v`` [n_rows, n_visible]."""
    params = _checks.rbm_params(params)
    v = _checks.visible_data(params, v, "v")
    return model.statistics(params, v, model.prob_h_given_v(params, v))


def _ascent(params, v_data, mean_h_data, v_model, mean_h_model):
    pos, neg = model.statistics(params, v_data, mean_h_data), model.statistics(params, v_model, mean_h_model)
    return jax.tree_util.tree_map(jnp.subtract, pos, neg)


# --------------------------------------------------------------------------
# Centering: offsets μ (visible) and λ (hidden) subtracted from the units in the energy.


def initial_offsets(params: RBMParams, data) -> Offsets:
    """μ = the data's mean visible vector, λ = 0.5: where centered training starts."""
    params = _checks.rbm_params(params)
    _refuse_centering_of(params)
    data = _checks.visible_data(params, data, "data")
    return _initial_offsets(params, data)


def _initial_offsets(params, data) -> Offsets:
    return Offsets(jnp.mean(data, axis=0).astype(params.dtype), jnp.full((params.n_hidden,), 0.5, params.dtype))


def centered_params(params: RBMParams, offsets: Offsets) -> RBMParams:
    """The centered coordinates (W, b_c, c_c) of plain ``params``: b_c = b + Wλ, c_c = c + Wᵀμ."""
    return RBMParams(params.W, params.b + params.W @ offsets.lam, params.c + offsets.mu @ params.W)


def fold_offsets(centered: RBMParams, offsets: Offsets) -> RBMParams:
    """The plain params of centered coordinates: W, b = b_c − Wλ, c = c_c − Wᵀμ (the same model,
    whose energy differs by the constant μᵀWλ − μᵀb_c − λᵀc_c)."""
    return RBMParams(centered.W, centered.b - centered.W @ offsets.lam, centered.c - offsets.mu @ centered.W)


def shift_offsets(centered: RBMParams, offsets: Offsets, new: Offsets) -> RBMParams:
    """Centered coordinates after the offsets move to ``new``, the model unchanged:
    b_c += W(λ′ − λ), c_c += Wᵀ(μ′ − μ)."""
    return RBMParams(centered.W, centered.b + centered.W @ (new.lam - offsets.lam),
                     centered.c + (new.mu - offsets.mu) @ centered.W)


def _centered_rows(shared, rows):
    """The centered ascent and the offsets' targets, as means over rows (``driver.mean_over_rows``).

    ∇W = ⟨(v−μ)(h−λ)ᵀ⟩_data − ⟨(v−μ)(h−λ)ᵀ⟩_model, ∇b_c = ⟨v⟩_data − ⟨v⟩_model (written
    ⟨v−μ⟩ − ⟨v−μ⟩, the same), ∇c_c = ⟨h⟩_data − ⟨h⟩_model, h replaced by P(h|v).
    """
    params, offsets = shared
    v_data, mean_h_data, v_model, mean_h_model = rows
    mu, lam = offsets
    ascent = _ascent(params, v_data - mu, mean_h_data - lam, v_model - mu, mean_h_model - lam)
    means = tuple(jnp.mean(x, axis=0) for x in rows)
    return ascent, means


def centered_ascent_direction(params: RBMParams, offsets: Offsets, v_data, v_model) -> RBMParams:
    """The ascent direction in centered coordinates (W, b_c, c_c), for samples ``v_model``.

    Equals −∇ over (W, b_c, c_c) of [mean F(v_data) − mean F(stop_gradient(v_model))] with F
    the free energy of ``fold_offsets((W, b_c, c_c), offsets)``; with μ = λ = 0 it is
    ``ascent_direction``.
    """
    params = _checks.rbm_params(params)
    _refuse_centering_of(params)
    v_data = _checks.visible_data(params, v_data, "v_data")
    v_model = _checks.visible_data(params, v_model, "v_model")
    offsets = Offsets(*(jnp.asarray(x, params.dtype) for x in offsets))
    rows = (v_data, model.prob_h_given_v(params, v_data), v_model, model.prob_h_given_v(params, v_model))
    return _centered_rows((params, offsets), rows)[0]


def _refuse_centering_of(params) -> None:
    if not isinstance(params, RBMParams):
        raise ValueError(
            f"centering applies to binary RBMs (RBMParams), got {type(params).__name__}: its offsets "
            f"are the mean of binary units; Gaussian visible units are centered by standardising the data, "
            f"and categorical ones are not implemented")


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
    v_data = _checks.visible_data(params, v_data, "v_data")
    v_model = _checks.visible_data(params, v_model, "v_model")
    return _ascent(params, v_data, model.prob_h_given_v(params, v_data),
                   v_model, model.prob_h_given_v(params, v_model))


def exact_gradient(params: RBMParams, data, offsets: Offsets | None = None) -> RBMParams:
    """The exact gradient of the average log-likelihood: data statistics − exact model moments.

    Enumerates one layer (``exact.model_moments``), so it is exact for models
    ``rbm_jax.exact`` can enumerate; equals ``jax.grad`` of
    ``exact.log_likelihood``. Binary and categorical models: the statistics
    are linear in T(v) and h, so the model side is ``exact.model_moments``.
    Gaussian models: log σ's statistic involves v², so the gradient is taken
    by autodiff of the exact log-likelihood (the Gaussian integral in closed
    form).

    With ``offsets`` (binary models), the gradient in centered coordinates (W, b_c, c_c):
    by the chain rule through b = b_c − Wλ, c = c_c − Wᵀμ, ∇W_c = ∇W − ∇b λᵀ − μ ∇cᵀ (which is
    ⟨(v−μ)(h−λ)ᵀ⟩_data − ⟨(v−μ)(h−λ)ᵀ⟩_model), ∇b_c = ∇b, ∇c_c = ∇c.

    Returns:
      params-shaped gradient (the ascent direction).
    """
    params = _checks.rbm_params(params)
    if offsets is not None:
        _refuse_centering_of(params)
    data = _checks.visible_data(params, data, "data")
    exact.log_partition(params)  # validates finiteness and the enumeration size
    if isinstance(params, GaussianRBMParams):
        return jax.grad(_exact_log_likelihood)(params, data)
    pos = model.statistics(params, data, model.prob_h_given_v(params, data))
    m = exact.model_moments(params)
    grad = type(params)(pos.W - m.vh, pos.b - m.v, pos.c - m.h)
    if offsets is None:
        return grad
    mu, lam = (jnp.asarray(x, params.dtype) for x in offsets)
    return RBMParams(grad.W - jnp.outer(grad.b, lam) - jnp.outer(mu, grad.c), grad.b, grad.c)


@jax.jit
def _exact_log_likelihood(params, data):
    return -jnp.mean(model.free_energy(params, data)) - enumeration.log_partition(params)


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
    batch = _checks.visible_data(params, batch, "batch")
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


def _batch_ascent(params, rows):
    return _ascent(params, *rows)


def _train_step(key, state: TrainState, batch, hp: HyperParams, cfg: TrainConfig, steps_per_epoch: int,
                mesh=None):
    # Data parallel with a mesh: the minibatch rows and the persistent chains are sharded along
    # its first axis, the parameters replicated. Every draw is the one-device draw (the
    # partitioner splits each counter-based random draw by rows); the statistics are averaged
    # across devices by one psum (driver.mean_over_rows).
    params = driver.replicated(state.params, mesh)
    est = cfg.estimator
    batch, chains = driver.along_chains(batch, mesh), est.place_chains(state.chains, mesh)
    mean_h_data = model.prob_h_given_v(params, batch)
    neg = est.negatives(key, params, batch, mean_h_data, chains)
    neg = neg._replace(chains=est.place_chains(neg.chains, mesh))
    rows = (batch, mean_h_data, neg.v, neg.mean_h)
    offsets = state.offsets
    if cfg.centering is None:
        ascent = driver.mean_over_rows(_batch_ascent, mesh, params, rows)
        coords = params
    else:  # the gradient, the optimizer and its statistics live in centered coordinates
        ascent, means = driver.mean_over_rows(_centered_rows, mesh, (params, offsets), rows)
        coords = centered_params(params, offsets)
    # optax minimises: feed it the NLL gradient, plus the L2 cost on W only.
    grads = jax.tree_util.tree_map(jnp.negative, ascent)
    grads = grads._replace(W=grads.W + hp.weight_decay * params.W)
    # The rate given here is only the constructor's: the update reads the one in opt_state.
    opt = _optimizer(cfg, learning_rate_of(state), steps_per_epoch)
    updates, opt_state = opt.update(grads, state.opt_state, coords)
    if isinstance(params, GaussianRBMParams):
        # σ learns more slowly than the rest (its own rate, any optimizer: the update is
        # scaled, not the gradient), is held for a warm-up, and is floored: a Gaussian
        # unit whose σ shrinks towards a data point makes 1/σ² and the gradient explode.
        warm = state.step < cfg.sigma_warmup_epochs * steps_per_epoch
        updates = updates._replace(log_sigma=jnp.where(warm, 0, cfg.log_sigma_rate) * updates.log_sigma)
    params = optax.apply_updates(params, updates)
    if cfg.centering is not None:
        # The state keeps the plain params: (W, b_c, c_c) + u folded with the same offsets is
        # W + u_W, b + u_b − u_W λ, c + u_c − u_Wᵀ μ. Moving the offsets and shifting b_c, c_c
        # to match (shift_offsets) leaves the plain params as they are, so only μ, λ change.
        params = params._replace(b=params.b - updates.W @ offsets.lam, c=params.c - offsets.mu @ updates.W)
        v_data, h_data, v_model, h_model = means
        target_v, target_h = {"data": (v_data, h_data), "model": (v_model, h_model),
                              "average": ((v_data + v_model) / 2, (h_data + h_model) / 2)}[cfg.centering]
        nu = jnp.asarray(cfg.centering_rate, params.dtype)
        offsets = Offsets((1 - nu) * offsets.mu + nu * target_v, (1 - nu) * offsets.lam + nu * target_h)
    if isinstance(params, GaussianRBMParams):
        params = params._replace(log_sigma=jnp.maximum(params.log_sigma, np.log(cfg.sigma_floor)))
    elif isinstance(params, CategoricalRBMParams):
        # The zero-sum gauge after every update. It is linear and leaves P(v, h) unchanged, so
        # the next gradient and the whole model trajectory are those of the unprojected run
        # (without weight decay); it keeps the parameters identifiable and comparable.
        params = model.zero_sum_gauge(params)
    metrics = {"grad_norm": optax.tree.norm(ascent), **neg.info}
    return TrainState(params, opt_state, neg.chains, state.key, state.step + 1, offsets), metrics


def make_train_step(cfg: TrainConfig, hp: HyperParams, steps_per_epoch: int, *, mesh=None) -> Callable:
    """A jitted ``train_step(key, state, batch) -> (state, metrics)`` for these settings
    (data-parallel over ``mesh``'s first axis when one is given, as in ``fit``)."""
    cfg = _validated_config(cfg)
    mesh = _sharding.validated_mesh(mesh)
    step = functools.partial(_train_step, hp=hp, cfg=cfg, steps_per_epoch=steps_per_epoch, mesh=mesh)
    return jax.jit(step)


# --------------------------------------------------------------------------
# Epochs


def pseudo_likelihood_key(n_rows: int, pseudo_likelihood_rows: int | None = 1000) -> str:
    """The history key of the pseudo-likelihood for ``n_rows`` training rows.

    ``'pseudo_log_likelihood'`` when every row is used (``pseudo_likelihood_rows``
    None or at least ``n_rows``), else ``'pseudo_log_likelihood_subset{m}'``:
    the mean over a fixed random subset of m rows.
    """
    m = _subset_rows(n_rows, pseudo_likelihood_rows)
    return "pseudo_log_likelihood" if m == n_rows else f"pseudo_log_likelihood_subset{m}"


def _subset_rows(n_rows: int, rows: int | None) -> int:
    return n_rows if rows is None else min(rows, n_rows)


def collapse_floor(n_visible: int, n_states: int | None = 2) -> float:
    """The guard's floor on the monitored (pseudo-)log-likelihood: −2·n_visible·ln q nats per row.

    The uniform distribution over q states per unit (q = 2 for binary units)
    scores −n_visible·ln q in both (every conditional is 1/q); below the floor
    a model is worse than knowing nothing by more than ln q nats per visible
    unit. Gaussian units (``n_states=None``) have no uniform reference (a
    log-density has no natural floor): −inf, so the guard watches finiteness only.
    """
    if n_states is None:
        return -float("inf")
    return -2.0 * n_visible * float(np.log(n_states))


def _floor(params) -> float:
    return collapse_floor(params.n_visible, model.visible_units(params).n_states)


def _monitored(cfg: TrainConfig, n_rows: int, params=None) -> str:
    """The history key the guard watches: the exact log-likelihood, else the pseudo-likelihood
    (else, for Gaussian units, the reconstruction error: finiteness only)."""
    if cfg.exact_likelihood:
        return "log_likelihood"
    if params is not None and not fit_metrics.has_pseudo_likelihood(params):
        return "recon_error"
    return pseudo_likelihood_key(n_rows, cfg.pseudo_likelihood_rows)


def _evaluate(params, data, subset, held_out, cfg: TrainConfig):
    """The evaluation metrics: all rows, except the pseudo-likelihood (``subset``)."""
    f_data = jnp.mean(model.free_energy(params, data))
    out = {"recon_error": fit_metrics.reconstruction_error(params, data)}
    if fit_metrics.has_pseudo_likelihood(params):  # none in closed form for Gaussian units
        out[pseudo_likelihood_key(data.shape[0], cfg.pseudo_likelihood_rows)] = jnp.mean(
            fit_metrics.pseudo_log_likelihood(params, subset))
    if held_out is not None:
        out["free_energy_gap"] = jnp.mean(model.free_energy(params, held_out)) - f_data
    if cfg.exact_likelihood:
        log_z = enumeration.log_partition(params)
        out["log_likelihood"] = -f_data - log_z
        if held_out is not None:
            out["held_out_log_likelihood"] = -jnp.mean(model.free_energy(params, held_out)) - log_z
    return out


def _nan_like(shape: jax.ShapeDtypeStruct) -> jax.Array:
    fill = jnp.nan if jnp.issubdtype(shape.dtype, jnp.inexact) else 0
    return jnp.full(shape.shape, fill, shape.dtype)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _epochs(state: TrainState, data, held_out, hp: HyperParams, cfg: TrainConfig, n_epochs: int,
            final_epoch=None, mesh=None):
    """``epochs`` with the guard's ``DivergenceInfo`` as a third output; ``final_epoch`` (traced):
    the run's last epoch, always evaluated (default: this call's last).

    Two nested while loops: the inner one trains up to the next epoch due for evaluation (no
    monitoring code per epoch, only the guard's finiteness check), the outer one evaluates
    there. After a stop nothing more runs; the later records stay NaN.
    """
    n_rows, n_visible = data.shape
    if cfg.metrics_every == "auto":
        cfg = dataclasses.replace(cfg, metrics_every=auto_metrics_every(
            cfg, n_rows, 0 if held_out is None else held_out.shape[0], enumeration.visible_width(state.params),
            state.params.n_hidden))
    steps_per_epoch = n_rows // cfg.batch_size
    key_steps, key_shuffle = jax.random.split(state.key)
    evaluate = cfg.metrics_every is not None
    guard = cfg.divergence != "off"
    first_epoch = state.step // steps_per_epoch  # epochs done before this call
    if final_epoch is None:
        final_epoch = first_epoch + n_epochs

    def train_epoch(state, epoch):
        perm = jax.random.permutation(jax.random.fold_in(key_shuffle, epoch), n_rows)
        batches = data[perm[: steps_per_epoch * cfg.batch_size]].reshape(
            steps_per_epoch, cfg.batch_size, *data.shape[1:])
        batches = driver.along_chains(batches, mesh, axis=1)  # each device gathers its rows

        def body(s, batch):
            return _train_step(rng.fold_in(key_steps, s.step), s, batch, hp, cfg, steps_per_epoch, mesh)

        state, step_metrics = lax.scan(body, state, batches)
        return state, {name: jnp.mean(x, axis=0) for name, x in step_metrics.items()}

    def write(history, i, record):
        return dict(history, **{name: history[name].at[i].set(x) for name, x in record.items()})

    def flag(info, epoch, reason, stop, value):
        """Records the first alarm of this call, or the stop (which, under 'warn', may follow a collapse)."""
        first = ((info.epoch == 0) & (reason > 0)) | stop
        return DivergenceInfo(epoch=jnp.where(first, epoch, info.epoch),
                              reason=jnp.where(first, reason, info.reason),
                              value=jnp.where(first, value, info.value),
                              stopped=info.stopped | stop)

    def train_until(carry, end):
        """Epochs i < end; the carry is (i, state, state before epoch i − 1, info, history)."""

        def body(c):
            i, state, _, info, history = c
            new, record = train_epoch(state, first_epoch + i)
            if guard:
                bad = ~_all_finite(new.params)  # non-finite parameters always stop
                info = flag(info, first_epoch + i + 1, jnp.where(bad, _NONFINITE_PARAMS, 0), bad, info.value)
            return i + 1, new, state, info, write(history, i, record)

        return lax.while_loop(lambda c: (c[0] < end) & ~c[3].stopped, body, carry)

    shapes = jax.eval_shape(train_epoch, state, first_epoch)[1]
    if evaluate:
        m = _subset_rows(n_rows, cfg.pseudo_likelihood_rows)
        if m < n_rows:  # a fixed random subset (the same for every epoch and chunk of this run)
            rows = jax.random.choice(jax.random.fold_in(state.key, _SUBSET_TAG), n_rows, (m,), replace=False)
            subset = data[rows]
        else:
            subset = data
        eval_fn = lambda p: _evaluate(p, data, subset, held_out, cfg)  # noqa: E731
        eval_shape = jax.eval_shape(eval_fn, state.params)
        shapes = {**shapes, **eval_shape}
        watched = _monitored(cfg, n_rows, state.params)
        floor = _floor(state.params)
    history = jax.tree_util.tree_map(lambda s: _nan_like(jax.ShapeDtypeStruct((n_epochs, *s.shape), s.dtype)),
                                     shapes)
    history["epoch"] = first_epoch + 1 + jnp.arange(n_epochs, dtype=first_epoch.dtype)
    info = DivergenceInfo(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                          jnp.asarray(jnp.nan, state.params.dtype), jnp.asarray(False))
    carry = (jnp.zeros((), jnp.int32), state, state, info, history)

    if not evaluate:
        carry = train_until(carry, n_epochs)
    else:
        every = cfg.metrics_every

        def block(c):
            """Train up to the next due epoch (a multiple of metrics_every, or the last), evaluate it."""
            done = first_epoch + c[0]  # epochs done so far, counted from the run's start
            due = jnp.maximum(jnp.minimum((done // every + 1) * every, final_epoch), done + 1)
            end = jnp.minimum(due - first_epoch, n_epochs)
            i, state, before, info, history = train_until(c, end)
            ready = (i == end) & (first_epoch + i == due) & ~info.stopped
            evals = lax.cond(ready, eval_fn, lambda p: jax.tree_util.tree_map(_nan_like, eval_shape),
                             state.params)
            history = write(history, i - 1, evals)  # NaN unless ready; epoch i − 1's slot is written once
            if guard:
                value = evals[watched]
                reason = jnp.where(jnp.isfinite(value), jnp.where(value < floor, _COLLAPSED, 0), _NONFINITE_METRIC)
                reason = jnp.where(ready, reason, 0).astype(jnp.int32)
                info = flag(info, first_epoch + i, reason, (reason > 0) & (cfg.divergence == "raise"),
                            value.astype(info.value.dtype))
            return i, state, before, info, history

        carry = lax.while_loop(lambda c: (c[0] < n_epochs) & ~c[3].stopped, block, carry)
    _, state, before, info, history = carry
    if guard:  # a stopped run returns the state before the epoch that diverged
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(info.stopped, a, b), before, state)
    return state, history, info


def epochs(state: TrainState, data, held_out, hp: HyperParams, cfg: TrainConfig, n_epochs: int):
    """``n_epochs`` epochs as one compiled loop (traceable; the drivers below compile it).

    Monitoring as in ``fit``. The divergence guard runs inside (``cfg.divergence``):
    after a stop the state is the one before the diverged epoch and the later
    records are NaN; the drivers report it (``DivergenceError``/``DivergenceWarning``).

    Returns:
      ``(state, history)`` with history arrays [n_epochs, ...].
    """
    state, history, _ = _epochs(state, data, held_out, hp, cfg, n_epochs)
    return state, history


_run_epochs_jit = jax.jit(_epochs, static_argnames=("cfg", "n_epochs", "mesh"))


def _init_state(key, params, data, learning_rate, cfg: TrainConfig, mesh=None) -> TrainState:
    key_chains, key_train = jax.random.split(key)
    steps_per_epoch = data.shape[0] // cfg.batch_size
    opt = _optimizer(cfg, learning_rate, steps_per_epoch)
    chains = cfg.estimator.init_chains(key_chains, params, data)
    offsets = None if cfg.centering is None else _initial_offsets(params, data)
    coords = params if offsets is None else centered_params(params, offsets)
    state = TrainState(params, opt.init(coords), chains, key_train, jnp.zeros((), jnp.int32), offsets)
    return _placed(state, cfg, mesh)


def _placed(state: TrainState, cfg: TrainConfig, mesh) -> TrainState:
    """Inside ``jit``: the training state's layout on ``mesh`` — persistent chains sharded with
    the minibatch rows, everything else replicated. ``mesh=None``: ``state`` unchanged."""
    rest = driver.replicated(state._replace(chains=None), mesh)
    return rest._replace(chains=cfg.estimator.place_chains(state.chains, mesh))


_init_state_jit = jax.jit(_init_state, static_argnames=("cfg", "mesh"))


# --------------------------------------------------------------------------
# Validation: once, at the boundary of each public call.


def _bool_setting(value, name: str, *, auto: bool = False):
    if isinstance(value, (bool, np.bool_)) or (auto and isinstance(value, str) and value == "auto"):
        return value if isinstance(value, str) else bool(value)
    allowed = "True, False or 'auto'" if auto else "a bool (True or False)"
    raise TypeError(f"{name} must be {allowed}, got {value!r} of type {type(value).__name__}")


def _refuse_unused_settings(cfg: TrainConfig) -> None:
    """``betas`` / ``n_chains`` given where the method does not use them: an error, not silence."""
    method = cfg.method
    if cfg.path != "tempered" and (isinstance(method, Estimator) or method != "pt"):
        raise ValueError(f"path (the parallel-tempering path) applies to method='pt' only, got path={cfg.path!r} "
                         f"with method={method!r}" + (" (an estimator value carries its own path)"
                                                      if isinstance(method, Estimator) else ""))
    if isinstance(method, Estimator):
        for name in ("betas", "n_chains"):
            if getattr(cfg, name) is not None:
                raise ValueError(f"{name} is not used with an estimator value as method ({method!r} carries "
                                 f"its own settings); build the estimator with it instead")
        return
    if cfg.betas is not None and method != "pt":
        raise ValueError(f"betas (the parallel-tempering ladder) applies to method='pt' only, "
                         f"got betas={cfg.betas!r} with method={method!r}")
    if cfg.n_chains is not None and method == "cd":
        raise ValueError(f"n_chains (persistent chains) applies to method='pcd' or 'pt' only, "
                         f"got n_chains={cfg.n_chains!r} with method='cd'")


def _validated_config(cfg: TrainConfig) -> TrainConfig:
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    _checks.positive_int(cfg.batch_size, "batch_size")
    cfg.estimator.validate()  # raises on a bad method, k, n_chains or ladder, naming it
    _refuse_unused_settings(cfg)
    if cfg.metrics_every is not None and cfg.metrics_every != "auto":
        _checks.positive_int(cfg.metrics_every, "metrics_every")
    if cfg.pseudo_likelihood_rows is not None:
        _checks.positive_int(cfg.pseudo_likelihood_rows, "pseudo_likelihood_rows")
    _bool_setting(cfg.exact_likelihood, "exact_likelihood")
    if not isinstance(cfg.divergence, str) or cfg.divergence not in DIVERGENCE_MODES:
        raise ValueError(f"divergence must be one of {DIVERGENCE_MODES}, got {cfg.divergence!r}")
    _checks.nonnegative_int(cfg.momentum_switch_epoch, "momentum_switch_epoch")
    for name in ("initial_momentum", "final_momentum"):
        m = getattr(cfg, name)
        if not (0 <= m < 1):
            raise ValueError(f"{name} must lie in [0, 1), got {m!r}")
    if cfg.optimizer is not None and not isinstance(cfg.optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax GradientTransformation, got {type(cfg.optimizer).__name__}")
    if cfg.centering is not None and (not isinstance(cfg.centering, str) or cfg.centering not in CENTERINGS):
        raise ValueError(f"centering must be None or one of {CENTERINGS}, got {cfg.centering!r}")
    _checks.real_number(cfg.centering_rate, "centering_rate", low=0, high=1)
    return cfg


def _validated_sigma_settings(cfg: TrainConfig) -> None:
    _checks.real_number(cfg.log_sigma_rate, "log_sigma_rate", low=0)
    _checks.nonnegative_int(cfg.sigma_warmup_epochs, "sigma_warmup_epochs")
    _checks.real_number(cfg.sigma_floor, "sigma_floor", low=0, low_open=True)


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


def _per_model(value, name: str, n_models: int) -> np.ndarray:
    """A scalar or [n_models] setting of ``fit_many``, as [n_models] float64."""
    x = np.asarray(value, np.float64)
    if x.shape not in ((), (n_models,)):
        raise ValueError(f"{name} must be a scalar or an array [n_models] = [{n_models}] (one per key), "
                         f"got shape {x.shape}")
    return np.broadcast_to(x, (n_models,))


def _validated_params(params):
    params = _checks.rbm_params(params)
    _checks.finite_params(params)
    return params


def _validated_callback(callback, chunk_epochs) -> int:
    """Refuses a non-callable callback and a chunk size that is not a positive int; returns the chunk."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(epochs_done, state, history), "
                        f"got {callback!r} of type {type(callback).__name__}")
    return 1 if chunk_epochs is None else _checks.positive_int(chunk_epochs, "chunk_epochs")


#: ``metrics_every='auto'`` keeps the modelled cost of the evaluations within this fraction of
#: training. The aim is at most 10%: the model is right to within about a factor of 1.5 on the
#: README's configurations, and timings on a shared machine vary by several percent.
AUTO_MONITOR_BUDGET = 0.03

# The cost model of ``auto_metrics_every``, in multiply-adds of a matrix product, calibrated on
# this machine's CPU (XLA, float32; 2026-12-02; benchmarks/bench_monitor.py): one compiled
# update costs a fixed overhead (small kernels, loop iterations); a drawn unit (random number
# and conditional), an evaluated unit (softplus, sigmoid, or a rank-one step) and an enumerated
# state's unit (softplus and log-sum-exp in log Z) cost these many multiply-adds.
_UPDATE_OVERHEAD = 1_000_000
_DRAWN_UNIT = 400
_EVALUATED_UNIT = 80
_ENUMERATED_UNIT = 160


def auto_metrics_every(cfg: TrainConfig, n_rows: int, n_held_out: int, n_visible: int, n_hidden: int) -> int:
    """The interval of ``metrics_every='auto'``: evaluation modelled at ≤ ``AUTO_MONITOR_BUDGET`` of training.

    The cost model counts multiply-adds (one row through W: n_visible·n_hidden)
    and elementwise work, per update and per evaluation:

      * an update: a fixed overhead, the minibatch's hidden probabilities and
        statistics (3 row passes), and the estimator's negatives — per chain
        (and PT rung) k sweeps of 2 passes with every unit drawn, then their
        hidden probabilities and statistics (2 passes);
      * an evaluation: free energies and reconstructions of every training
        row (3 passes) and free energies of the held-out rows, the
        pseudo-likelihood's subset (n_visible softplus rows per row), and
        log Z by enumeration (2^min(n_visible, n_hidden) row passes).

    Measured against it: see ``fit`` (``benchmarks/bench_monitor.py``).
    """
    cfg = _validated_config(cfg)
    est = cfg.estimator
    nv_nh, units = n_visible * n_hidden, n_visible + n_hidden
    n_neg = getattr(est, "n_chains", None) or cfg.batch_size
    sweeps = getattr(est, "k", 1) * (len(est.ladder) if isinstance(est, PT) else 1)
    per_update = (_UPDATE_OVERHEAD
                  + (3 * cfg.batch_size + n_neg * (2 * sweeps + 2)) * nv_nh
                  + n_neg * sweeps * units * _DRAWN_UNIT
                  + (cfg.batch_size + n_neg) * n_hidden * _EVALUATED_UNIT)
    epoch = (n_rows // cfg.batch_size) * per_update
    m = _subset_rows(n_rows, cfg.pseudo_likelihood_rows)
    evaluation = ((3 * n_rows + n_held_out) * (nv_nh + units * _EVALUATED_UNIT)
                  + m * nv_nh * _EVALUATED_UNIT)
    if cfg.exact_likelihood:
        small, large = sorted((n_visible, n_hidden))
        evaluation += 2 ** small * large * (small + _ENUMERATED_UNIT)
    return max(1, int(np.ceil(evaluation / (AUTO_MONITOR_BUDGET * epoch))))


def _prepare(params, data, held_out, cfg, n_epochs):
    """Validates what every training call shares (``params`` already validated); resolves
    ``metrics_every='auto'`` for this data."""
    dtype = params.dtype
    data = _checks.visible_data(params, data, "data")
    if held_out is not None:
        held_out = _checks.visible_data(params, held_out, "held_out")
    cfg = _validated_config(cfg)
    if cfg.batch_size > data.shape[0]:
        raise ValueError(f"batch_size ({cfg.batch_size}) must not exceed the number of rows of data ({data.shape[0]})")
    n_epochs = _checks.nonnegative_int(n_epochs, "n_epochs")
    what, n, base = enumeration.enumerated_size(params)
    if cfg.exact_likelihood and base**n > enumeration.MAX_CONFIGS:
        raise ValueError(
            f"exact_likelihood enumerates {what} = {n} units ({base}**{n} configurations), more than the cap "
            f"2**{enumeration.MAX_ENUMERATED_UNITS}")
    _validated_sigma_settings(cfg)
    if cfg.centering is not None:
        _refuse_centering_of(params)
    if cfg.metrics_every == "auto":
        # Categorical units count as n_visible·q inputs (one-hot rows) in the cost model.
        every = auto_metrics_every(cfg, data.shape[0], 0 if held_out is None else held_out.shape[0],
                                    enumeration.visible_width(params), params.n_hidden)
        cfg = dataclasses.replace(cfg, metrics_every=every)
    cfg = dataclasses.replace(cfg, exact_likelihood=bool(cfg.exact_likelihood))
    return data, held_out, cfg, n_epochs


def _fit_config(params, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                exact_likelihood, pseudo_likelihood_rows, divergence, log_sigma_rate=0.1,
                sigma_warmup_epochs=1, sigma_floor=0.05, centering=None, centering_rate=0.1,
                path="tempered") -> TrainConfig:
    """The static TrainConfig of ``fit``/``fit_many``'s keyword arguments (``params`` validated)."""
    exact_likelihood = _bool_setting(exact_likelihood, "exact_likelihood", auto=True)
    if exact_likelihood == "auto":
        # Cheap enough to evaluate every few epochs.
        _, n, base = enumeration.enumerated_size(params)
        exact_likelihood = base**n <= 2**16
    return TrainConfig(
        method=method, k=k, batch_size=batch_size, n_chains=n_chains,
        betas=betas if betas is None or isinstance(betas, str) else tuple(
            float(b) for b in np.asarray(betas).reshape(-1)),
        path=path,
        optimizer=optimizer, metrics_every=metrics_every, exact_likelihood=exact_likelihood,
        pseudo_likelihood_rows=pseudo_likelihood_rows, divergence=divergence,
        log_sigma_rate=float(_checks.real_number(log_sigma_rate, "log_sigma_rate", low=0)),
        sigma_warmup_epochs=sigma_warmup_epochs,
        sigma_floor=float(_checks.real_number(sigma_floor, "sigma_floor", low=0, low_open=True)),
        centering=centering,
        centering_rate=float(_checks.real_number(centering_rate, "centering_rate", low=0, high=1)),
    )


# --------------------------------------------------------------------------
# The divergence guard's report (host side, after each compiled call)


def _divergence_reason(reason: int, value: float, cfg: TrainConfig, n_rows: int, params) -> str:
    return _REASONS[reason].format(metric=_monitored(cfg, n_rows, params), value=value, floor=_floor(params),
                                   q=model.visible_units(params).n_states)


def _divergence_advice(cfg: TrainConfig) -> str:
    stopped = ("Training stopped there" if cfg.divergence == "raise"
               else "Training goes on (non-finite parameters stop it)")
    return (f". {stopped}; try a smaller learning rate (e.g. a tenth). divergence='warn' only warns, "
            f"'off' checks nothing.")


# --------------------------------------------------------------------------
# Public drivers


def _data_parallel_mesh(mesh, cfg: TrainConfig):
    """``mesh`` validated for data-parallel training: its first axis must divide the minibatch
    and the persistent chains, which it shards."""
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(cfg.batch_size, mesh, "batch_size")
    n_chains = getattr(cfg.estimator, "n_chains", None)
    if n_chains is not None:
        _sharding.check_divisible(n_chains, mesh, "n_chains (persistent chains)")
    return mesh


def init_state(key, params: RBMParams, data, cfg: TrainConfig, *, learning_rate=None, mesh=None) -> TrainState:
    """The initial ``TrainState``: optimizer state, persistent chains (PCD/PT), key, step 0.

    Args:
      learning_rate: the default optimizer's rate (default 0.01), stored in the
        optimizer state; refused when ``cfg`` has its own optimizer.
      mesh: optional ``jax.sharding.Mesh``: the state is laid out for
        data-parallel training on it (persistent chains sharded along its first
        axis, the rest replicated), as ``fit(mesh=...)`` does.
    """
    key = _checks.key(key)
    params = _validated_params(params)
    data, _, cfg, _ = _prepare(params, data, None, cfg, 0)
    mesh = _data_parallel_mesh(mesh, cfg)
    _refuse_rate_for_own_optimizer(learning_rate, cfg)
    rate = _validated_rate(0.01 if learning_rate is None else learning_rate)
    return _init_state_jit(key, params, data, jnp.asarray(rate, params.dtype), _init_config(cfg), mesh)


def _init_config(cfg: TrainConfig) -> TrainConfig:
    """The settings the initial state depends on (monitoring and the guard do not: one compile)."""
    return dataclasses.replace(cfg, metrics_every=None, exact_likelihood=False, pseudo_likelihood_rows=None,
                               divergence="off")


def run_epochs(state: TrainState, data, n_epochs: int, cfg: TrainConfig, *, learning_rate=None,
               weight_decay=0.0, held_out=None, mesh=None):
    """Continues training ``state`` for ``n_epochs`` epochs in one compiled scan.

    Args:
      learning_rate: ``None`` keeps the rate stored in ``state``; a number sets
        the default optimizer's rate from here on (refused with your own optimizer).
      mesh: optional ``jax.sharding.Mesh`` for data-parallel training (see
        ``fit``); a state from one device is laid out on it, and the returned
        state stays there.

    Returns:
      ``(state, history)``: history maps metric names to numpy arrays [n_epochs, ...]
      (shorter when the divergence guard stopped training: see ``fit``).

    Raises:
      DivergenceError: ``cfg.divergence == 'raise'`` and training diverged.
    """
    params = _validated_params(state.params)
    data, held_out, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    mesh = _data_parallel_mesh(mesh, cfg)
    hp = _validated_decay(weight_decay, params.dtype)
    state = _with_learning_rate(state, learning_rate, cfg)
    return _fit_loop(state, data, held_out, hp, cfg, n_epochs, None, 1, mesh)


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
    path: str = "tempered",
    held_out=None,
    metrics_every="auto",
    exact_likelihood="auto",
    pseudo_likelihood_rows: int | None = 1000,
    divergence: str = "raise",
    log_sigma_rate: float = 0.1,
    sigma_warmup_epochs: int = 1,
    sigma_floor: float = 0.05,
    callback: Callable | None = None,
    chunk_epochs: int | None = None,
    return_state: bool = False,
    centering: str | None = None,
    centering_rate: float = 0.1,
    mesh=None,
):
    """Trains an RBM on ``data`` and returns ``(params, history)``.

    Monitoring. Every ``metrics_every`` epochs and at the run's last epoch (NaN
    in between) the history records, inside the compiled loop:

      * ``recon_error``: mean squared mean-field reconstruction error, over all
        rows (two matrix products a row, as cheap as a free energy);
      * ``log_likelihood`` (with ``exact_likelihood``): the exact average
        log-likelihood −mean F(v) − log Z over **all** training rows (log Z by
        enumeration once, then one matrix product per row);
      * ``free_energy_gap`` (with ``held_out``): mean F(held_out) − mean F(data),
        over all rows of both, and ``held_out_log_likelihood`` (with ``exact_likelihood``);
      * the pseudo-likelihood Σ_i log P(v_i | v_−i), mean over rows. It costs
        n_visible free energies per row, so it uses a fixed random subset of
        ``pseudo_likelihood_rows`` training rows, drawn without replacement
        once per run from the fit key (the same rows at every epoch, in every
        chunk and after ``resume``). Its key is ``'pseudo_log_likelihood'``
        when every row is used (None, or at least as many as the data has)
        and ``'pseudo_log_likelihood_subset{m}'`` for a subset of m rows:
        ``pseudo_likelihood_key(n_rows, pseudo_likelihood_rows)`` gives it.

    ``metrics_every='auto'`` (the default) picks the interval from a cost model
    of one evaluation against one epoch (``auto_metrics_every``), so that
    monitoring costs at most about 10% of the training time, plus the one
    evaluation at the last epoch (which dominates a run shorter than the
    interval). Measured (2026-12-02, 2 shared CPU cores, float32, best of 9
    alternating runs; ``benchmarks/bench_monitor.py``, against
    ``metrics_every=None``):

      * bars-and-stripes 4×4 (30 rows, 16 × 16, CD-1, batch 10, exact
        log-likelihood): one evaluation costs 40 epochs; 'auto' = every 1,759
        epochs, 2.7% of the training time (timed directly: −1.7%, i.e. within
        the noise; every 60 epochs: +66%);
      * four modes (10,000 rows, 16 × 10, PT with 10 rungs, batch 100, exact
        log-likelihood): 'auto' = every 3 epochs; even every epoch is within
        the timing noise (−1%);
      * nudged digits (7,188 rows, 64 × 100, PCD-1, batch 10, 1,797 held-out
        rows, 1,000-row pseudo-likelihood subset): one evaluation costs 0.39
        epochs; 'auto' = every 20 epochs, 2.0% (timed: +3.3%; every epoch: +39%).

    ``metrics_every=None`` evaluates nothing (the guard then watches the
    parameters only).

    Divergence guard. With ``divergence='raise'`` (the default) training stops
    at the first epoch at which

      * the parameters hold NaN or inf, or
      * an evaluated monitor is not finite or falls below
        ``collapse_floor(n_visible)`` = −2·n_visible·ln 2. The monitor is the
        exact ``log_likelihood`` when evaluated, else the pseudo-likelihood.
        The uniform distribution scores −n_visible·ln 2 on both, so below the
        floor the model is worse than knowing nothing by more than a bit per
        visible unit. (Bars-and-stripes 4×4 at learning rate 10 falls from
        −11.09 to below −30 within ten epochs, and at 1e6 to about −5e6; the
        README's runs, including PCD-1's oscillation down to −8.2 and CD-1's fall
        on four modes, stay above their floor, −22.18 for 16 units.)

    and raises ``DivergenceError`` (naming the epoch, carrying the last good
    state and the history up to that epoch), before ``callback`` sees the
    diverged state: a checkpoint written by the callback is never overwritten
    by it. ``'warn'`` issues one ``DivergenceWarning`` per run and trains on,
    except that non-finite parameters still stop training (the last finite
    parameters are returned, the history ends at that epoch). ``'off'``
    checks nothing.

    Args:
      key: PRNG key (initial chains, shuffling, every update's sampling, the
        pseudo-likelihood's subset).
      params: initial ``RBMParams``, ``GaussianRBMParams`` or ``CategoricalRBMParams``
        (e.g. ``rbm.init_params(key, n_v, n_h, data=data, family=...)``).
      data: [n_rows, n_visible] training data of the params' family: values in
        [0, 1] (binary), finite reals (Gaussian), integer states (categorical).
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
      n_chains: persistent chains (PCD) or PT systems; default ``batch_size``
        (refused with 'cd').
      betas: PT ladder with betas[0] == 1; default ``gibbs.geometric_ladder(10, 0.1)``
        (method 'pt' only: refused with 'cd' and 'pcd'). ``'adaptive'``: 10 rungs
        re-spaced every 10 epochs so that every pair rejects swaps equally often
        (``estimators.pt(betas='adaptive', n_temps=..., adapt_every=...)`` sets both).
        The ladder is then a traced value in the state (``state.chains.ladder``):
        re-tuning does not recompile, and under ``fit_many`` each model has its own.
      path: PT's path (method 'pt' only): 'tempered' (π_β ∝ exp(−β E)) or 'reference'
        (from the data's base-rate model at β = 0 to the model, with non-reversible
        swaps; its default ladder is 10 rungs evenly spaced from 1 to 0). The history
        then holds ``round_trip_rate`` and the ladder (``betas``) per epoch.
      held_out: optional [n_rows', n_visible] data for the free-energy gap and held-out likelihood.
      metrics_every: evaluate every this many epochs (and at the last); 'auto'
        (see above); None: never.
      exact_likelihood: evaluate the exact log-likelihood: True, False, or
        'auto' (when the smaller layer has at most 16 units).
      pseudo_likelihood_rows: size of the pseudo-likelihood's random subset
        (positive int), or None for all rows.
      divergence: 'raise', 'warn' or 'off' (see above).
      log_sigma_rate, sigma_warmup_epochs, sigma_floor: Gaussian visible units
        only (``GaussianRBMParams``), whose training is known to be unstable
        when σ is learned (1/σ² multiplies W's gradient, and a σ that shrinks
        onto data points blows it up). So log σ's updates are scaled by
        ``log_sigma_rate`` (default 0.1: a tenth of the rate; 0 holds σ fixed),
        σ is held fixed for the first ``sigma_warmup_epochs`` epochs (default 1)
        while W finds its scale, and σ >= ``sigma_floor`` (default 0.05, in the
        data's units: standardise the data) after every update. The defaults
        train the digits reproduction stably (``experiments/gaussian_digits.py``).
        Gaussian models have no pseudo-likelihood: the history holds the exact
        likelihood (when the hidden layer is enumerable), the reconstruction
        error and the free-energy gap. Categorical models are kept in the
        zero-sum gauge (``rbm.zero_sum_gauge``) after every update, which leaves
        the model trajectory unchanged.
      callback: ``callback(epochs_done, state, history_so_far)`` after each chunk
        (progress bars, checkpoints); it is the only place the host waits.
      chunk_epochs: epochs per compiled call when ``callback`` is given (a
        positive int; None: 1).
      return_state: also return the final ``TrainState``.
      centering: centered gradients for binary RBMs (Melchior, Fischer & Wiskott,
        "How to center deep Boltzmann machines", JMLR 2016): None (plain), or
        where the offsets' targets come from — 'data' (the minibatch's mean v and
        mean P(h|v)), 'model' (the negative samples' means) or 'average' (the
        mean of the two). Offsets start at μ = the data's mean v, λ = 0.5, and
        move ``centering_rate`` of the way to their targets after every update.
        The gradient and the optimizer (its momentum, Adam's statistics) work in
        the centered coordinates (W, b_c, c_c); the state keeps the plain params
        and the offsets (``TrainState.offsets``), so resuming is bit-identical,
        and the returned params are ordinary ``RBMParams``. Gaussian and
        categorical models are refused (see ``centered_ascent_direction``).
      centering_rate: in [0, 1] (0 holds the offsets at their start).
      mesh: optional ``jax.sharding.Mesh`` (``rbm_jax.sharding.make_mesh()``):
        data-parallel training. Each minibatch's rows and the persistent chains
        are sharded along the mesh's first axis (whose size must divide
        ``batch_size`` and ``n_chains``), the parameters and the data set are
        replicated, and each update's sufficient statistics are averaged across
        devices by one all-reduce. Every random draw is the one-device draw, so
        the run equals ``mesh=None`` up to the summation order of that
        all-reduce (1e-10 in float64; float32 runs drift apart slowly, as runs
        on two machines do). The returned parameters are replicated, the
        state's chains sharded.

    Returns:
      ``(params, history)`` — or ``(params, history, state)`` — where history
      maps names ('epoch', 'grad_norm', 'recon_error', the pseudo-likelihood's
      key, 'log_likelihood', 'free_energy_gap', 'swap_acceptance', ...) to numpy
      arrays with a leading epoch axis.

    Raises:
      DivergenceError: ``divergence='raise'`` and training diverged.
    """
    key = _checks.key(key)
    params = _validated_params(params)
    chunk = _validated_callback(callback, chunk_epochs)
    cfg = _fit_config(params, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                      exact_likelihood, pseudo_likelihood_rows, divergence, log_sigma_rate,
                      sigma_warmup_epochs, sigma_floor, centering, centering_rate, path)
    data, held_out, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    mesh = _data_parallel_mesh(mesh, cfg)
    hp = _validated_decay(weight_decay, params.dtype)
    rate = jnp.asarray(_validated_rate(learning_rate), params.dtype)
    state = _init_state_jit(key, params, data, rate, _init_config(cfg), mesh)
    state, history = _fit_loop(state, data, held_out, hp, cfg, n_epochs, callback, chunk, mesh)
    return (state.params, history, state) if return_state else (state.params, history)


def _concat(parts):
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _fit_loop(state, data, held_out, hp, cfg, n_epochs, callback, chunk, mesh=None):
    """Runs the compiled epochs (in chunks when there is a callback); the guard's host side.

    What comes to the host (the history, the guard's flags, the step) comes by
    ``sharding.to_host``: whole on every process, also when no process holds all of it.
    """
    parts, done, warned = [], 0, False
    step = int(_sharding.to_host(state.step))
    final_epoch = jnp.asarray(step // (data.shape[0] // cfg.batch_size) + n_epochs, jnp.int32)
    while True:
        n = n_epochs - done if callback is None else min(chunk, n_epochs - done)
        new, part, info = _run_epochs_jit(state, data, held_out, hp, cfg, n, final_epoch, mesh)
        part, info = _sharding.to_host((part, info))
        if cfg.divergence != "off" and int(info.epoch):
            epoch, stopped = int(info.epoch), bool(info.stopped)
            if stopped:
                part = {name: x[part["epoch"] <= epoch] for name, x in part.items()}
            parts.append(part)
            reason = _divergence_reason(int(info.reason), float(info.value), cfg, data.shape[0], state.params)
            message = f"training diverged at epoch {epoch}: {reason}{_divergence_advice(cfg)}"
            if cfg.divergence == "raise":
                raise DivergenceError(message, epoch=epoch, reason=reason, state=new, params=new.params,
                                      history=_concat(parts))
            if not warned or stopped:  # one warning per run, and one for a stop
                warnings.warn(message, DivergenceWarning, stacklevel=3)
                warned = True
            if stopped:
                return new, _concat(parts)
        else:
            parts.append(part)
        state, done = new, done + n
        if callback is not None and n:
            callback(done, state, _concat(parts))
        if done >= n_epochs:
            return state, _concat(parts)


def resume(state: TrainState, data, n_epochs: int, cfg: TrainConfig, *, learning_rate=None,
           weight_decay=0.0, held_out=None, callback=None, chunk_epochs=None, mesh=None):
    """Continues a saved run for ``n_epochs`` more epochs (see ``rbm_jax.checkpoint``).

    Bit-identical to an uninterrupted run with the same settings: every
    update's randomness derives from ``state.key`` and ``state.step``, and the
    learning rate is the one stored in ``state`` (``learning_rate=`` sets a new
    one for the default optimizer, as in ``run_epochs``). Monitoring and the
    divergence guard follow ``cfg`` as in ``fit`` (the pseudo-likelihood's
    subset derives from ``state.key``, so it is the run's own). ``mesh``: as in
    ``fit``; a state saved from a mesh and restored onto one device (or the
    reverse) resumes the same run, equal to rounding (see ``fit``).

    Raises:
      DivergenceError: ``cfg.divergence == 'raise'`` and training diverged; the
        callback never sees the diverged state.
    """
    params = _validated_params(state.params)
    chunk = _validated_callback(callback, chunk_epochs)
    data, held_out, cfg, n_epochs = _prepare(params, data, held_out, cfg, n_epochs)
    mesh = _data_parallel_mesh(mesh, cfg)
    hp = _validated_decay(weight_decay, params.dtype)
    state = _with_learning_rate(state, learning_rate, cfg)
    return _fit_loop(state, data, held_out, hp, cfg, n_epochs, callback, chunk, mesh)


@functools.partial(jax.jit, static_argnames=("cfg", "n_epochs", "mesh"))
def _fit_many(keys, params, data, held_out, rates, hp, cfg, n_epochs, mesh=None):
    def one(key, p, rate, h):
        state = _init_state(key, p, data, rate, _init_config(cfg))
        return _epochs(state, data, held_out, h, cfg, n_epochs)

    # With a mesh the models are what is sharded (each device trains whole models; no collective).
    keys, params, rates, hp = driver.along_chains((keys, params, rates, hp), mesh)
    data, held_out = driver.replicated((data, held_out), mesh)
    return driver.along_chains(jax.vmap(one)(keys, params, rates, hp), mesh)


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
    path: str = "tempered",
    held_out=None,
    metrics_every="auto",
    exact_likelihood="auto",
    pseudo_likelihood_rows: int | None = 1000,
    divergence: str = "raise",
    log_sigma_rate: float = 0.1,
    sigma_warmup_epochs: int = 1,
    sigma_floor: float = 0.05,
    centering: str | None = None,
    centering_rate: float = 0.1,
    mesh=None,
):
    """Trains many RBMs at once — seeds and/or hyperparameters — as one vmapped program.

    Model ``i`` uses ``keys[i]``, ``params`` row ``i`` (or the shared
    ``params``), and ``learning_rate[i]`` / ``weight_decay[i]`` (or the shared
    scalar); it equals ``fit(keys[i], params_i, data, learning_rate=lr_i, ...)``.

    The divergence guard acts per model (see ``fit``): a diverged model stops
    (its parameters stay the last good ones, its history is NaN afterwards)
    while the others train on; then ``'raise'`` raises ``DivergenceError``
    naming the models and epochs (``.params``/``.history`` hold every model's
    results) and ``'warn'`` warns and returns them.

    Args:
      keys: [n_models] PRNG keys (e.g. ``jax.random.split(key, n_models)``).
      params: ``RBMParams`` shared by all models, or with a leading [n_models] axis.
      learning_rate, weight_decay: scalars or [n_models] arrays.
      mesh: optional ``jax.sharding.Mesh``: the models are sharded along its
        first axis (whose size must divide n_models); each device trains whole
        models, with no collective, so model i equals ``mesh=None``'s (1e-10 in
        float64; the tests find them bit-identical on a CPU mesh).
      Others: as in ``fit`` (static, shared by all models).

    Returns:
      ``(params [n_models, ...], history)`` with history arrays [n_models, n_epochs, ...]:
      the params sharded along the models with a mesh, the history on the host.
    """
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    if keys.ndim < 1 or (jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) and keys.ndim != 1):
        raise ValueError(f"keys must be a 1-D array of keys [n_models], got shape {keys.shape}")
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        if keys.ndim != 2 or keys.dtype != jnp.uint32:
            raise ValueError(f"keys must be typed keys [n_models] or legacy keys [n_models, 2], got {keys.shape} {keys.dtype}")
    n_models = keys.shape[0]
    mesh = _sharding.validated_mesh(mesh)
    _sharding.check_divisible(n_models, mesh, "n_models (the number of keys)")
    if not hasattr(params, "_fields"):  # a plain (W, b, c) triple
        params = RBMParams(*params)
    # Batched params carry a leading [n_models] axis on every leaf. Every family's
    # hidden biases c are [n_hidden] for one model, so their rank tells.
    batched = jnp.ndim(params.c) == 2
    single = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[0], params) if batched else params
    single = _validated_params(single)
    cfg = _fit_config(single, method, k, batch_size, n_chains, betas, optimizer, metrics_every,
                      exact_likelihood, pseudo_likelihood_rows, divergence, log_sigma_rate,
                      sigma_warmup_epochs, sigma_floor, centering, centering_rate, path)
    data, held_out, cfg, n_epochs = _prepare(single, data, held_out, cfg, n_epochs)
    dtype = single.dtype
    if batched:
        params = type(single)(*(jnp.asarray(x, dtype) for x in params))
        _checks.finite_params(params)
        if any(x.shape[0] != n_models for x in params):
            raise ValueError(f"params has a leading axis that differs from n_models = {n_models}")
    else:
        params = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n_models, *x.shape)), single)
    rates = jnp.asarray(_validated_rate(_per_model(learning_rate, "learning_rate", n_models)), dtype)
    hp = _validated_decay(_per_model(weight_decay, "weight_decay", n_models), dtype)
    states, history, info = _fit_many(keys, params, data, held_out, rates, hp, cfg, n_epochs, mesh)
    history, info = _sharding.to_host((history, info))
    if cfg.divergence != "off":
        epochs_, reasons, values = info[:3]
        bad = np.flatnonzero(epochs_)
        if bad.size:
            reason = "; ".join(
                f"model {i} at epoch {int(epochs_[i])}: " + _divergence_reason(
                    int(reasons[i]), float(values[i]), cfg, data.shape[0], single) for i in bad)
            message = f"training diverged in {bad.size} of {n_models} models: {reason}{_divergence_advice(cfg)}"
            if cfg.divergence == "raise":
                raise DivergenceError(message, epoch=int(epochs_[bad].min()), reason=reason,
                                      params=states.params, history=history, models=bad.tolist())
            warnings.warn(message, DivergenceWarning, stacklevel=2)
    return states.params, history
