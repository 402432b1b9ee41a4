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
from rbm_jax._src.ladder import respace
from rbm_jax._src.sweep import PATHS, PTSettings, SweepSettings, build_pt, build_sweep
from rbm_jax.types import PTState

__all__ = ["Negatives", "Estimator", "CD", "PCD", "PT", "LadderState", "PTChains", "cd", "pcd", "pt", "ESTIMATORS",
           "as_estimator", "default_ladder", "random_rows"]

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

    def place_chains(self, chains, mesh):
        """Inside ``jit``: the chains' layout on ``mesh`` — every leaf along its first axis (the
        chains), as the minibatch rows. An estimator whose chains carry shared values overrides it."""
        return driver.along_chains(chains, mesh)

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


class LadderState(NamedTuple):
    """The PT ladder as training carries it (traced: re-tuned without recompiling, per model)."""

    betas: jax.Array  # [n_temps] decreasing from 1
    reference: Any  # Reference of the reference path's β = 0 end (the data's base-rate model), or None
    every: jax.Array  # [] int32 updates between re-tunings (0: the ladder stays as it is)
    since: jax.Array  # [] int32 updates since the last re-tuning
    rejection: jax.Array  # [n_temps − 1] pair rejection rates measured at the last re-tuning (0 before)


class PTChains(NamedTuple):
    """Persistent PT systems with their ladder (the reference path, or an adaptive ladder)."""

    systems: PTState  # [n_chains, ...] one PT system per persistent chain
    ladder: LadderState  # shared by the systems


@dataclasses.dataclass(frozen=True)
class PT(Estimator):
    """Persistent parallel-tempering systems, k PT steps per update; negatives from the β = 1 rung
    (Desjardins et al. 2010).

    ``path='tempered'`` (default) tempers the joint energy, π_β ∝ exp(−β E), on a fixed
    ladder (its chains are a ``PTState``). ``path='reference'`` runs the rungs on the
    path from the data's base-rate model (β = 0) to the model, with non-reversible swaps
    (one phase per step, even and odd pairs in turn). ``betas='adaptive'`` re-spaces the
    ladder every ``adapt_every`` epochs so that its pairs reject equally often, from the
    swap counts since the last re-tuning (``rbm_jax.tempering`` explains the rule).
    With either, the chains are ``PTChains(systems, ladder)`` and the ladder is a traced
    value in the training state: a new ladder does not recompile, and under ``fit_many``
    every model has its own.
    """

    betas: tuple | str | None = None  # ladder, betas[0] == 1; 'adaptive'; default: see ``ladder``
    n_chains: int | None = None  # PT systems; default: one per minibatch row
    path: str = "tempered"  # 'tempered' or 'reference'
    n_temps: int | None = None  # rungs of a default or adaptive ladder (default 10)
    adapt_every: int = 10  # epochs between re-tunings of an adaptive ladder
    batch_size: int | None = None  # the minibatch size, filled by resolve: epochs -> updates

    name = "pt"
    persistent = True

    @property
    def adaptive(self) -> bool:
        return isinstance(self.betas, str) and self.betas == "adaptive"

    @property
    def ladder(self) -> tuple:
        """The starting ladder: ``betas``, or ``default_ladder()`` on the tempered path and ``n_temps``
        rungs evenly spaced from 1 to 0 on the reference path (also where an adaptive one starts)."""
        if self.betas is not None and not self.adaptive:
            return tuple(self.betas)
        n = 10 if self.n_temps is None else self.n_temps
        if self.path == "reference":
            return tuple(float(b) for b in np.linspace(1.0, 0.0, n))
        return default_ladder() if self.n_temps is None else tuple(float(b) for b in np.geomspace(1.0, 0.1, n))

    @property
    def carries_ladder(self) -> bool:
        """Whether the chains carry their ladder (``PTChains``) rather than being a bare ``PTState``."""
        return self.path == "reference" or self.adaptive

    def validate(self):
        super().validate()
        if self.n_chains is not None:
            _checks.positive_int(self.n_chains, "n_chains")
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {self.path!r}")
        if isinstance(self.betas, str) and not self.adaptive:
            raise ValueError(f"betas must be a ladder, 'adaptive' or None, got {self.betas!r}")
        if self.n_temps is not None:
            _checks.positive_int(self.n_temps, "n_temps")
            if self.betas is not None and not self.adaptive:
                raise ValueError("give n_temps (for a default or adaptive ladder) or betas, not both")
        if self.adaptive:
            _checks.positive_int(self.adapt_every, "adapt_every (epochs between re-tunings)")
            if len(self.ladder) < 3:
                raise ValueError("an adaptive ladder needs n_temps >= 3 (its ends stay at 1 and the lowest β)")
        _checks.ladder(self.ladder, allow_zero=self.path == "reference")
        return self

    def resolve(self, batch_size):
        chains = batch_size if self.n_chains is None else self.n_chains
        return dataclasses.replace(self, n_chains=chains, batch_size=batch_size)

    @property
    def label(self) -> str:
        what = (", adaptive" if self.adaptive else "") + (", reference path" if self.path == "reference" else "")
        return f"PT-{self.k} ({len(self.ladder)} rungs{what})"

    @property
    def _kernel(self):
        return build_pt(reference=self.path == "reference", alternate=self.path == "reference")

    def init_chains(self, key, params, data):
        key_rows, key_h = jax.random.split(key)
        v = random_rows(key_rows, data, self.n_chains)
        n_temps = len(self.ladder)
        v = jnp.broadcast_to(v[:, None, :], (v.shape[0], n_temps, v.shape[1]))
        betas = jnp.asarray(self.ladder, params.dtype)
        if not self.carries_ladder:
            return driver.init_many(key_h, self._kernel, params, PTSettings(betas), v)
        ref = model.reference_of(params, data) if self.path == "reference" else None
        every = self.adapt_every * max(data.shape[0] // self.batch_size, 1) if self.adaptive else 0
        ladder = LadderState(betas, ref, jnp.asarray(every, jnp.int32), jnp.zeros((), jnp.int32),
                             jnp.zeros((n_temps - 1,), params.dtype))
        systems = driver.init_many(key_h, self._kernel, params, PTSettings(betas, ref), v)
        return PTChains(systems, ladder)

    def place_chains(self, chains, mesh):
        if not self.carries_ladder:
            return driver.along_chains(chains, mesh)
        return PTChains(driver.along_chains(chains.systems, mesh), driver.replicated(chains.ladder, mesh))

    def negatives(self, key, params, batch, mean_h_data, chains) -> Negatives:
        _, key_run = rng.split(key)
        if self.carries_ladder:
            systems, ladder = chains
            settings = PTSettings(ladder.betas, ladder.reference)
        else:
            systems, ladder = chains, None
            settings = PTSettings(jnp.asarray(self.ladder, params.dtype))
        new, _, _ = driver.run_many(key_run, self._kernel, params, settings, systems, self.k, start="state")
        d_acc = (new.accepted - systems.accepted).sum(0)
        d_att = (new.attempted - systems.attempted).sum(0)
        v_model = new.v[:, 0]
        info = {"swap_acceptance": d_acc / jnp.maximum(d_att, 1)}
        if ladder is not None:
            # One phase per step alternates the pairs, so an update may offer a pair no swap: report
            # the acceptance pooled since the last re-tuning (what the next re-tuning will use), and
            # for a pair not offered one since, the acceptance measured at the last re-tuning.
            acc, att = new.accepted.sum(0), new.attempted.sum(0)
            info = {"swap_acceptance": jnp.where(att > 0, acc / jnp.maximum(att, 1), 1 - ladder.rejection)}
            trips = (new.round_trips - systems.round_trips) / jnp.maximum(new.n_phases - systems.n_phases, 1)
            info = {**info, "round_trip_rate": jnp.mean(trips), "betas": ladder.betas}
            new, ladder = self._retuned(new, ladder)
            new = PTChains(new, ladder)
        return Negatives(v_model, model.prob_h_given_v(params, v_model), new, info)

    def _retuned(self, systems: PTState, ladder: LadderState):
        """After ``every`` updates: the ladder re-spaced from the swap counts since the last
        re-tuning (pooled over systems), and the counts restarted."""
        since = ladder.since + 1
        due = (ladder.every > 0) & (since >= ladder.every)
        rejection = 1 - systems.accepted.sum(0) / jnp.maximum(systems.attempted.sum(0), 1)
        betas = jnp.where(due, respace(ladder.betas, rejection), ladder.betas)
        keep = jnp.where(due, 0, 1).astype(systems.accepted.dtype)
        systems = systems._replace(accepted=systems.accepted * keep, attempted=systems.attempted * keep)
        return systems, ladder._replace(betas=betas, since=jnp.where(due, 0, since),
                                        rejection=jnp.where(due, rejection.astype(ladder.rejection.dtype),
                                                            ladder.rejection))


def cd(k: int = 1) -> CD:
    """CD-k."""
    return CD(k).validate()


def pcd(k: int = 1, n_chains: int | None = None) -> PCD:
    """PCD-k with ``n_chains`` persistent chains (default: the minibatch size)."""
    return PCD(k, n_chains).validate()


def pt(k: int = 1, betas=None, n_chains: int | None = None, *, path: str = "tempered", n_temps: int | None = None,
       adapt_every: int = 10) -> PT:
    """Persistent PT, k steps per update, ladder ``betas`` (default ``default_ladder()``; on
    ``path='reference'``, n_temps rungs from 1 to 0), or ``betas='adaptive'`` (see ``PT``)."""
    return PT(k, _ladder_setting(betas), n_chains, path, n_temps, adapt_every).validate()


def _ladder_setting(betas):
    if betas is None or isinstance(betas, str):
        return betas
    return tuple(float(b) for b in np.asarray(betas).reshape(-1))


#: The shorthand names ``fit(method=...)`` accepts, and the builder each stands for.
ESTIMATORS = {"cd": cd, "pcd": pcd, "pt": pt}


def as_estimator(method, *, k: int = 1, n_chains: int | None = None, betas=None, path: str = "tempered") -> Estimator:
    """An estimator value from ``method``: an ``Estimator`` as it is, or a shorthand name built
    with the settings it takes (``k``; ``n_chains`` for pcd and pt; ``betas`` and ``path`` for pt)."""
    if isinstance(method, Estimator):
        return method.validate()
    if not isinstance(method, str) or method not in ESTIMATORS:
        raise ValueError(f"method must be one of {tuple(ESTIMATORS)}, got {method!r} "
                         f"(or pass an Estimator value, e.g. rbm_jax.estimators.pcd(k=5))")
    if method == "cd":
        return cd(k)
    if method == "pcd":
        return pcd(k, n_chains)
    return pt(k, betas, n_chains, path=path)
