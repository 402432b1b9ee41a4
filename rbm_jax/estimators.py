"""Gradient estimators as values: where the model samples of each update come from.

The log-likelihood gradient is data statistics minus model statistics; an
estimator supplies the model side. Each is one frozen (hashable) object with

  * ``init_chains(key, params, data)``: its persistent chains (``None`` for CD);
  * ``negatives(key, params, batch, mean_h_data, chains) -> Negatives``: the
    model samples of one update, E[h | v] of each (Rao-Blackwellised
    statistics, as Hinton's guide recommends), the new chains, and any
    per-update metrics.

All three run the library's one kernel (``rbm_jax._src.sweep``) through its
one driver (``rbm_jax._src.driver``). ``train.fit(method=...)`` takes an
estimator value, or the shorthand names ``'cd'``, ``'pcd'``, ``'pt'``. A new
estimator is one definition: subclass ``Estimator`` (a frozen dataclass) and
pass an instance as ``method``; nothing in ``train`` changes.

References:
  G. Hinton, Training products of experts by minimizing contrastive divergence, 2002.
  T. Tieleman, Training RBMs using approximations to the likelihood gradient, ICML 2008.
  G. Desjardins et al., Tempered Markov chain Monte Carlo for training of RBMs, AISTATS 2010.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import _checks
from rbm_jax._src import driver, model, rng
from rbm_jax._src.sweep import PTSettings, SweepSettings, build_pt, build_sweep

__all__ = ["Negatives", "Estimator", "CD", "PCD", "PT", "cd", "pcd", "pt", "ESTIMATORS", "as_estimator",
           "default_ladder", "random_rows"]

_SWEEP = build_sweep()
_PT_KERNEL = build_pt()


class Negatives(NamedTuple):
    """The model side of one update."""

    v: jax.Array  # [n_samples, n_visible] model samples
    mean_h: jax.Array  # [n_samples, n_hidden] E[h | v] of each sample
    chains: Any  # the persistent chains after this update (None for CD)
    info: dict  # per-update metrics, e.g. {"swap_acceptance": [n_temps − 1]}


def random_rows(key, data: jax.Array, n: int) -> jax.Array:
    """``n`` rows of ``data`` drawn uniformly with replacement: where persistent chains start."""
    return data[jax.random.randint(key, (n,), 0, data.shape[0])]


def default_ladder() -> tuple:
    """The default PT ladder: 10 rungs from β = 1 to 0.1, evenly spaced in log β."""
    return tuple(float(b) for b in np.geomspace(1.0, 0.1, 10))  # = gibbs.geometric_ladder(10, 0.1)


@dataclasses.dataclass(frozen=True)
class Estimator:
    """Base of the estimators: ``k`` sweeps (or PT steps) per update."""

    k: int = 1

    #: Short name used in histories and plot labels ("cd", "pcd", "pt").
    name = "estimator"
    #: Whether it carries chains across updates (then ``init_chains`` makes them).
    persistent = False

    @property
    def label(self) -> str:
        """A plot label, e.g. ``CD-1``."""
        return f"{self.name.upper()}-{self.k}"

    def validate(self) -> "Estimator":
        """Raises on a nonsense setting, naming it; returns ``self``."""
        _checks.positive_int(self.k, "k")
        return self

    def resolve(self, batch_size: int) -> "Estimator":
        """Fills settings whose default depends on the minibatch size."""
        del batch_size
        return self

    def init_chains(self, key, params, data):
        return None

    def negatives(self, key, params, batch, mean_h_data, chains) -> Negatives:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class CD(Estimator):
    """CD-k: k Gibbs sweeps started at the minibatch (Hinton 2002)."""

    name = "cd"

    def negatives(self, key, params, batch, mean_h_data, chains) -> Negatives:
        key_init, key_run = rng.split(key)
        start = _SWEEP.init_from_mean(key_init, params, batch, mean_h_data)
        state, _, info = driver.run(key_run, _SWEEP, params, SweepSettings(), start, self.k)
        return Negatives(state.v, info.mean_h, chains, {})


@dataclasses.dataclass(frozen=True)
class PCD(Estimator):
    """PCD-k: k sweeps of persistent chains carried across updates (Tieleman 2008)."""

    n_chains: int | None = None  # default: one chain per minibatch row

    name = "pcd"
    persistent = True

    def validate(self):
        super().validate()
        if self.n_chains is not None:
            _checks.positive_int(self.n_chains, "n_chains")
        return self

    def resolve(self, batch_size):
        return self if self.n_chains is not None else dataclasses.replace(self, n_chains=batch_size)

    def init_chains(self, key, params, data):
        key_rows, key_h = jax.random.split(key)
        return _SWEEP.init(key_h, params, SweepSettings(), random_rows(key_rows, data, self.n_chains))

    def negatives(self, key, params, batch, mean_h_data, chains) -> Negatives:
        _, key_run = rng.split(key)  # the same key_run as CD's, so draws match across releases
        state, _, info = driver.run(key_run, _SWEEP, params, SweepSettings(), chains, self.k)
        return Negatives(state.v, info.mean_h, state, {})


@dataclasses.dataclass(frozen=True)
class PT(Estimator):
    """Persistent parallel-tempering systems, k PT steps per update; negatives from the β = 1 rung
    (Desjardins et al. 2010)."""

    betas: tuple | None = None  # ladder, betas[0] == 1; default: default_ladder()
    n_chains: int | None = None  # PT systems; default: one per minibatch row

    name = "pt"
    persistent = True

    @property
    def ladder(self) -> tuple:
        return default_ladder() if self.betas is None else tuple(self.betas)

    def validate(self):
        super().validate()
        if self.n_chains is not None:
            _checks.positive_int(self.n_chains, "n_chains")
        _checks.ladder(self.ladder)
        return self

    def resolve(self, batch_size):
        return self if self.n_chains is not None else dataclasses.replace(self, n_chains=batch_size)

    @property
    def label(self) -> str:
        return f"PT-{self.k} ({len(self.ladder)} rungs)"

    def _settings(self, params) -> PTSettings:
        return PTSettings(jnp.asarray(self.ladder, params.dtype))

    def init_chains(self, key, params, data):
        key_rows, key_h = jax.random.split(key)
        v = random_rows(key_rows, data, self.n_chains)
        n_temps = len(self.ladder)
        v = jnp.broadcast_to(v[:, None, :], (v.shape[0], n_temps, v.shape[1]))
        return driver.init_many(key_h, _PT_KERNEL, params, self._settings(params), v)

    def negatives(self, key, params, batch, mean_h_data, chains) -> Negatives:
        _, key_run = rng.split(key)
        new, _, _ = driver.run_many(key_run, _PT_KERNEL, params, self._settings(params), chains, self.k,
                                    start="state")
        d_acc = (new.accepted - chains.accepted).sum(0)
        d_att = (new.attempted - chains.attempted).sum(0)
        v_model = new.v[:, 0]
        return Negatives(v_model, model.prob_h_given_v(params, v_model), new,
                         {"swap_acceptance": d_acc / jnp.maximum(d_att, 1)})


def cd(k: int = 1) -> CD:
    """CD-k."""
    return CD(k).validate()


def pcd(k: int = 1, n_chains: int | None = None) -> PCD:
    """PCD-k with ``n_chains`` persistent chains (default: the minibatch size)."""
    return PCD(k, n_chains).validate()


def pt(k: int = 1, betas=None, n_chains: int | None = None) -> PT:
    """Persistent PT, k steps per update, ladder ``betas`` (default ``default_ladder()``)."""
    betas = None if betas is None else tuple(float(b) for b in np.asarray(betas).reshape(-1))
    return PT(k, betas, n_chains).validate()


#: The shorthand names ``fit(method=...)`` accepts, and the builder each stands for.
ESTIMATORS = {"cd": cd, "pcd": pcd, "pt": pt}


def as_estimator(method, *, k: int = 1, n_chains: int | None = None, betas=None) -> Estimator:
    """An estimator value from ``method``: an ``Estimator`` as it is, or a shorthand name built
    with the settings it takes (``k``; ``n_chains`` for pcd and pt; ``betas`` for pt)."""
    if isinstance(method, Estimator):
        return method.validate()
    if not isinstance(method, str) or method not in ESTIMATORS:
        raise ValueError(f"method must be one of {tuple(ESTIMATORS)}, got {method!r} "
                         f"(or pass an Estimator value, e.g. rbm_jax.estimators.pcd(k=5))")
    if method == "cd":
        return cd(k)
    if method == "pcd":
        return pcd(k, n_chains)
    return pt(k, betas, n_chains)
