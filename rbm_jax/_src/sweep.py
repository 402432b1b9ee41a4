"""The one block-Gibbs sweep, and the kernels built from it: plain, tempered, clamped, path, PT.

A kernel is ``kernel(key, params, settings, state) -> (state, info)``
(BlackJAX's shape, key first). Builders close over static *structure* only —
tempered or not, clamped or not, on a reference path or not, PT or plain — and
*settings* (β, a ladder, a clamp mask, reference fields) are a traced pytree
argument, so a new ladder or mask reuses the compiled program.

One sweep is v' ~ P(v | h), then h' ~ P(h | v'), so a ``GibbsState``'s h is
always a draw from P(h | v). Every layer is drawn through its unit type
(``units.py``) from natural parameters η, which tempering scales and a
reference path mixes; so the sweep is written once for every family.

Paths. Tempering at β targets P_β(v, h) ∝ exp(−β E(v, h)): η → β η. The
reference path targets ∝ exp(−β E(v, h) − (1 − β) E_ref(v, h)) with E_ref a
model of independent units whose natural parameters are ``settings.reference``
(the AIS base model): η → β η + (1 − β) η_ref, and β = 0 is legitimate there.
The two half-steps carry their own β (``beta_v``, ``beta_h``); they are equal
except in AIS, whose hidden half-step already draws h for the next rung's
distribution (so every AIS transition is one sweep, nothing wasted).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rbm_jax._src import model, rng
from rbm_jax._src.model import Reference
from rbm_jax.types import GibbsState, PTState

__all__ = [
    "PATHS",
    "Reference",
    "SweepSettings",
    "SweepInfo",
    "PTSettings",
    "PTInfo",
    "SweepKernel",
    "PTKernel",
    "build_sweep",
    "build_pt",
    "sweep",
    "swap_pass",
]


#: The paths PT's rungs can lie on: tempering the joint energy, or the path from a reference.
PATHS = ("tempered", "reference")


class SweepSettings(NamedTuple):
    """Traced settings of a sweep; ``None`` where the kernel's structure does not use them."""

    beta_v: Any = None  # [] or broadcastable to the batch ([..., 1]): β of the visible half-step
    beta_h: Any = None  # the same for the hidden half-step
    clamp: Any = None  # [n_visible] bool, True where a visible unit is held at its value
    reference: Any = None  # Reference fields of the path's β = 0 end


class SweepInfo(NamedTuple):
    """What a sweep reports beside the new state."""

    mean_h: jax.Array  # [..., n_hidden] E[h | v'] at the hidden half-step (P(h=1|v') for binary units)


class PTSettings(NamedTuple):
    """Traced settings of a parallel-tempering step."""

    betas: jax.Array  # [n_temps] ladder, betas[0] == 1 (the model)
    reference: Any = None  # Reference fields, on the reference path


class PTInfo(NamedTuple):
    """What a PT step reports: this step's swap decisions and completed round trips."""

    accepted: jax.Array  # [n_temps - 1] bool, pair (i, i+1) swapped in this step
    round_trips: jax.Array  # [] int32, round trips completed in this step


def _path(units, eta, beta, eta_ref, tempered: bool, reference: bool):
    if reference:
        return units.mix(eta, eta_ref, beta)
    if tempered:
        return units.temper(eta, beta)
    return eta


def sweep(key, params, settings: SweepSettings, state: GibbsState, *, tempered=False, clamped=False,
          reference=False):
    """v' ~ P(v | h) (clamped units kept), then h' ~ P(h | v'): the library's one sweep."""
    key_v, key_h = rng.split(key)
    units_v, units_h = model.visible_units(params), model.hidden_units(params)
    ref = settings.reference
    eta_v = _path(units_v, model.visible_natural(params, state.h), settings.beta_v,
                  None if ref is None else ref.v, tempered, reference)
    v = units_v.sample(key_v, eta_v)
    if clamped:
        # P(v|h) factorises over units, so drawing all and restoring the clamped
        # ones is an exact draw of the free units given h.
        v = jnp.where(settings.clamp, state.v, v)
    eta_h = _path(units_h, model.hidden_natural(params, v), settings.beta_h,
                  None if ref is None else ref.h, tempered, reference)
    h, mean_h = units_h.sample_and_mean(key_h, eta_h)
    return GibbsState(v, h), SweepInfo(mean_h)


def init_hidden(key, params, settings: SweepSettings, v, *, tempered=False, reference=False) -> GibbsState:
    """A joint state at ``v``: h drawn from the hidden half-step's conditional."""
    units_h = model.hidden_units(params)
    ref = settings.reference
    eta_h = _path(units_h, model.hidden_natural(params, v), settings.beta_h,
                  None if ref is None else ref.h, tempered, reference)
    return GibbsState(v, units_h.sample(key, eta_h))


@dataclasses.dataclass(frozen=True)
class SweepKernel:
    """A block-Gibbs kernel of fixed structure (hashable: equal structures share compiled code)."""

    tempered: bool = False
    clamped: bool = False
    reference: bool = False

    def __call__(self, key, params, settings: SweepSettings, state: GibbsState):
        return sweep(key, params, settings, state, tempered=self.tempered, clamped=self.clamped,
                     reference=self.reference)

    def init(self, key, params, settings: SweepSettings, v) -> GibbsState:
        return init_hidden(key, params, settings, v, tempered=self.tempered, reference=self.reference)

    def init_from_mean(self, key, params, v, mean_h) -> GibbsState:
        """A joint state at ``v`` from an already computed E[h | v] (training's data phase)."""
        return GibbsState(v, model.hidden_units(params).sample_given_mean(key, mean_h))


def build_sweep(*, tempered: bool = False, clamped: bool = False, reference: bool = False) -> SweepKernel:
    """The block-Gibbs kernel ``kernel(key, params, SweepSettings, GibbsState) -> (GibbsState, SweepInfo)``."""
    return SweepKernel(bool(tempered or reference), bool(clamped), bool(reference))


# --------------------------------------------------------------------------
# Parallel tempering.


#: A replica's direction label (``PTState.direction``): heading to the target (rung 0) after a
#: visit to the reference end (the last rung), heading back after a visit to the target, or neither yet.
UP, DOWN, UNKNOWN = 1, -1, 0


def _mark_ends(direction: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Updates the direction labels of the replicas now at the two ends; counts completed round trips.

    A round trip is a replica's journey reference end → target end → reference end
    (Syed et al. 2021), so it completes when a replica heading down (it has seen
    the target since its last visit to the reference) reaches the reference rung.
    """
    if direction.shape[0] < 2:  # one rung: no ladder to travel
        return direction, jnp.zeros((), jnp.int32)
    top = direction[0]
    direction = direction.at[0].set(jnp.where(top == UP, DOWN, top))
    completed = (direction[-1] == DOWN).astype(jnp.int32)
    return direction.at[-1].set(UP), completed


def swap_pass(key, params, state: PTState, betas: jax.Array, parity, reference=None) -> tuple[PTState, jax.Array]:
    """One swap phase: Metropolis swaps of neighbouring pairs (i, i+1) with i ≡ parity (mod 2).

    Such pairs are disjoint, so their swaps are independent moves, each
    leaving Π_k π_k invariant. Swapping joint states (v, h) keeps every rung a
    joint sample. On the tempered path π_β ∝ exp(−β E), so the log ratio is
    (β_i − β_{i+1})(E_i − E_{i+1}); on the reference path π_β ∝ exp(−E_ref − β (E − E_ref)),
    so it is the same with E − E_ref (``reference`` given) in place of E.
    ``parity`` may be traced (alternating phases).

    Returns:
      ``(state, accept [n_temps − 1] bool)``; the direction labels move with the
      samples, and the state counts the phase and any round trip it completes.
    """
    n_pairs = betas.shape[0] - 1
    e = model.energy(params, state.v, state.h)  # [n_temps], at β = 1
    if reference is not None:
        e = e - model.reference_energy(params, reference, state.v, state.h)
    log_ratio = (betas[:-1] - betas[1:]) * (e[:-1] - e[1:])
    u = rng.uniform(key, (n_pairs,), e.dtype)
    active = (jnp.arange(n_pairs) % 2) == parity
    # A NaN ratio compares False: rejected, never accepted.
    accept = active & (jnp.log(u) < log_ratio)
    no = jnp.zeros((1,), bool)
    take_next = jnp.concatenate([accept, no])  # rung i receives rung i+1's sample
    take_prev = jnp.concatenate([no, accept])  # rung i+1 receives rung i's

    def permute(x):
        cond_shape = (-1,) + (1,) * (x.ndim - 1)
        up, down = jnp.roll(x, -1, axis=0), jnp.roll(x, 1, axis=0)
        return jnp.where(take_next.reshape(cond_shape), up,
                         jnp.where(take_prev.reshape(cond_shape), down, x))

    direction, completed = _mark_ends(permute(state.direction))
    new = PTState(
        permute(state.v), permute(state.h),
        state.accepted + accept.astype(jnp.int32),
        state.attempted + active.astype(jnp.int32),
        direction, state.round_trips + completed, state.n_phases + 1,
    )
    return new, accept


@dataclasses.dataclass(frozen=True)
class PTKernel:
    """One PT step: a sweep on every rung at its β, then swap phases.

    Structure (static): ``reference`` — the rungs lie on the reference path
    (``settings.reference``), else on the tempered path; ``alternate`` — one
    swap phase per step, even pairs on even phases and odd pairs on odd ones
    (the deterministic even-odd scheme of non-reversible PT, Syed et al. 2021),
    else two phases per step (even pairs, then odd pairs: every pair is
    offered a swap every step).
    """

    reference: bool = False
    alternate: bool = False

    def __call__(self, key, params, settings: PTSettings, state: PTState):
        key_gibbs, key_even, key_odd = rng.split(key, 3)
        # Every rung sweeps at its own β: one matmul for the ladder, natural parameters scaled per rung.
        beta = settings.betas[:, None]
        ref = settings.reference if self.reference else None
        g, _ = sweep(key_gibbs, params, SweepSettings(beta, beta, reference=ref), GibbsState(state.v, state.h),
                     tempered=True, reference=self.reference)
        trips_before = state.round_trips
        state = state._replace(v=g.v, h=g.h)
        if self.alternate:
            state, accept = swap_pass(key_even, params, state, settings.betas, state.n_phases % 2, ref)
        else:
            state, even = swap_pass(key_even, params, state, settings.betas, 0, ref)
            state, odd = swap_pass(key_odd, params, state, settings.betas, 1, ref)
            accept = even | odd
        return state, PTInfo(accept, state.round_trips - trips_before)

    def init(self, key, params, settings: PTSettings, v) -> PTState:
        """Rung k starts at ``v[k]`` ([n_temps, n_visible]); h from π_{β_k}(h | v[k])."""
        beta = settings.betas[:, None]
        ref = settings.reference if self.reference else None
        g = init_hidden(key, params, SweepSettings(beta, beta, reference=ref), v, tempered=True,
                        reference=self.reference)
        n_temps = settings.betas.shape[0]
        zeros = jnp.zeros((n_temps - 1,), jnp.int32)
        none = jnp.zeros((), jnp.int32)
        return PTState(g.v, g.h, zeros, zeros, jnp.full((n_temps,), UNKNOWN, jnp.int32), none, none)


def build_pt(*, reference: bool = False, alternate: bool = False) -> PTKernel:
    """The PT kernel ``kernel(key, params, PTSettings, PTState) -> (PTState, PTInfo)``."""
    return PTKernel(bool(reference), bool(alternate))
