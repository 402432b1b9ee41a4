"""Non-reversible PT on the reference path, the adaptive ladder and log Z from it (rbm_jax.tempering).

Exact references:
  * the reference path's laws π_β(v, h) ∝ exp(−β E − (1 − β) E_ref), enumerated over (v, h):
    every rung's unit means and every pair's swap acceptance, as tests/test_pt_exact.py does
    for the tempered path (z-scores over independent systems; a negative control that swaps
    with E instead of E − E_ref fails);
  * the round-trip count, replayed in Python from the swap decisions;
  * Syed et al.'s round-trip rate 1 / (2 + 2 Σ r/(1 − r)) where its assumption holds exactly
    (W = 0: every sweep is an exact draw of its rung);
  * exact log Z by enumeration, for every family, against the stepping-stone estimate, and the
    coverage of its ±2 standard errors over seeds.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_params
from rbm_jax import estimators, exact, gibbs, rbm, tempering, train
from rbm_jax._src import driver as core_driver
from rbm_jax._src import model
from rbm_jax._src.ladder import respace, round_trip_rate_limit, round_trip_rate_theory
from rbm_jax._src.sweep import PTSettings, SweepSettings, build_pt, sweep
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams

Z_MAX = 5.0


def bimodal(n_visible=16, a=3.0, dtype=jnp.float64):
    """Two symmetric modes, all-zeros and all-ones: one hidden unit, W = 2a, b = −a, c = −a n.

    F(0) = −softplus(−a n) and F(1) = a n − softplus(a n) are equal, so each mode holds
    half the mass; between them lies a barrier of about a n / 2 nats, which block Gibbs
    does not cross in any feasible time at a = 3, n = 16.
    """
    return RBMParams(jnp.full((n_visible, 1), 2 * a, dtype), jnp.full((n_visible,), -a, dtype),
                     jnp.full((1,), -a * n_visible, dtype))


# --------------------------------------------------------------------------
# The reference path is exact: every rung at its law, every swap at its acceptance.

MODEL = (204, 5, 4, 3.0)
BETAS = (1.0, 0.6, 0.3, 0.0)
N_SYSTEMS = 2_000
N_STEPS = 100


def keep_units(params, state):
    del params
    return jnp.concatenate([state.v, state.h], axis=-1)


def path_laws(params, ref, betas):
    """The enumerated joint configurations, π_β for each β, and D = E − E_ref."""
    W, b, c = (np.asarray(a, np.float64) for a in params)
    nv, nh = W.shape
    x = np.array(list(itertools.product([0.0, 1.0], repeat=nv + nh)))
    v, h = x[:, :nv], x[:, nv:]
    energy = -v @ b - h @ c - np.sum((v @ W) * h, axis=1)
    energy_ref = -v @ np.asarray(ref.v, np.float64) - h @ np.asarray(ref.h, np.float64)
    laws = []
    for beta in betas:
        log_p = -beta * energy - (1 - beta) * energy_ref
        p = np.exp(log_p - log_p.max())
        laws.append(p / p.sum())
    return x, np.array(laws), energy - energy_ref


def run_reference_pt(params, data, seed=0):
    ref = tempering.reference(params, data)
    x, laws, d = path_laws(params, ref, BETAS)
    rng = np.random.default_rng(seed)
    nv = params.n_visible
    starts = np.stack([x[rng.choice(len(x), N_SYSTEMS, p=p), :nv] for p in laws], axis=1)
    final, means = gibbs.sample_pt(jax.random.key(seed), params, jnp.asarray(starts), N_STEPS,
                                   betas=jnp.asarray(BETAS), path="reference", data=data,
                                   transform=gibbs.running_mean(keep_units))
    z_means = []
    for k, p in enumerate(laws):
        exact_mean = p @ x
        per_system = np.asarray(means)[:, k]
        se = per_system.std(axis=0, ddof=1) / np.sqrt(N_SYSTEMS)
        z_means.append((per_system.mean(0) - exact_mean) / np.maximum(se, 1e-12))
    z_acc = []
    for i in range(len(BETAS) - 1):
        ratio = np.exp(np.minimum((BETAS[i] - BETAS[i + 1]) * (d[:, None] - d[None, :]), 0))
        expected = laws[i] @ ratio @ laws[i + 1]
        rate = np.asarray(final.accepted[:, i] / final.attempted[:, i])
        z_acc.append((rate.mean() - expected) / (rate.std(ddof=1) / np.sqrt(N_SYSTEMS)))
    return np.abs(np.concatenate(z_means)), np.abs(np.array(z_acc))


@pytest.fixture(scope="module")
def path_model():
    with jax.enable_x64(True):  # float64 arrays; the setting itself is the tests' (x64 fixture)
        seed, nv, nh, scale = MODEL
        params = random_params(seed, nv, nh, scale=scale)
        data = jax.random.bernoulli(jax.random.key(5), 0.3, (40, nv)).astype(jnp.float64)
    return params, data


def test_reference_path_pt_keeps_every_rung_at_its_exact_law(x64, path_model):
    z_means, z_acc = run_reference_pt(*path_model)
    assert z_means.max() < Z_MAX, z_means.max()
    assert z_acc.max() < Z_MAX, z_acc


def test_reference_path_pt_with_the_tempered_swap_ratio_fails(x64, path_model, monkeypatch):
    """Negative control: swapping with E instead of E − E_ref leaves the wrong laws."""
    monkeypatch.setattr(model, "reference_energy", lambda params, ref, v, h: jnp.zeros(v.shape[:-1], v.dtype))
    core_driver.run_many_jit.clear_cache()
    try:
        z_means, z_acc = run_reference_pt(*path_model)
    finally:
        core_driver.run_many_jit.clear_cache()
    assert max(z_means.max(), z_acc.max()) > 2 * Z_MAX


def test_the_beta_zero_rung_is_an_exact_draw_of_the_reference(x64, path_model):
    """At β = 0 the sweep ignores the rung's state (two states, one key: the same draw), and its
    draws have the reference's law (unit means σ(η_ref) within 5 standard errors)."""
    params, data = path_model
    ref = tempering.reference(params, data)
    betas = jnp.asarray([1.0, 0.0])
    settings = SweepSettings(betas[:, None], betas[:, None], reference=ref)

    def swept(key, fill):
        state = gibbs.GibbsState(jnp.full((2, 5), fill), jnp.full((2, params.n_hidden), fill))
        return sweep(key, params, settings, state, tempered=True, reference=True)[0]

    a, b = swept(jax.random.key(3), 0.0), swept(jax.random.key(3), 1.0)
    np.testing.assert_array_equal(a.v[1], b.v[1])
    np.testing.assert_array_equal(a.h[1], b.h[1])
    assert not np.array_equal(a.v[0], b.v[0])  # the β = 1 rung does depend on its state
    n = 4_000
    draws = jax.vmap(lambda k: swept(k, 1.0).v[1])(jax.random.split(jax.random.key(4), n))
    p = jax.nn.sigmoid(ref.v)
    z = (np.asarray(draws).mean(0) - np.asarray(p)) / np.sqrt(np.asarray(p * (1 - p)) / n)
    assert np.abs(z).max() < Z_MAX


def test_round_trips_replayed_from_the_swap_decisions():
    """The state's round-trip count and direction labels equal a Python replay of the swaps."""
    params = random_params(11, 6, 3, scale=0.5)
    ref = tempering.reference(params)
    step = jax.jit(gibbs.pt_step, static_argnames="swaps")
    for swaps in ("alternate", "both"):
        betas = gibbs.reference_ladder(5)
        state = gibbs.pt_init(jax.random.key(0), params, jnp.zeros(6), betas, reference=ref, swaps=swaps)
        replica = list(range(5))  # replica on each rung
        direction = {r: 0 for r in range(5)}
        trips = 0
        for t in range(150):
            new = step(jax.random.key(t + 1), params, state, betas, reference=ref, swaps=swaps)
            accepted = np.asarray(new.accepted - state.accepted)
            attempted = np.asarray(new.attempted - state.attempted)
            phases = [0, 1] if swaps == "both" else [int(state.n_phases) % 2]
            for parity in phases:
                for i in range(4):
                    if i % 2 == parity:
                        assert attempted[i] == 1
                        if accepted[i]:
                            replica[i], replica[i + 1] = replica[i + 1], replica[i]
                if direction[replica[0]] == 1:
                    direction[replica[0]] = -1
                if direction[replica[4]] == -1:
                    trips += 1
                direction[replica[4]] = 1
            state = new
            assert int(state.round_trips) == trips
            np.testing.assert_array_equal(np.asarray(state.direction), [direction[r] for r in replica])
        assert trips > 5  # the replay saw real traffic
        assert int(state.n_phases) == 150 * len(phases)


def test_round_trip_rate_matches_the_theory_where_its_assumption_holds():
    """W = 0: every sweep draws each rung exactly (efficient local exploration), so non-reversible PT's
    rate is 1 / (2 + 2 Σ r/(1 − r)) (Syed et al. 2021, Theorem 3). Per-system rates give the error."""
    nv = 20
    params = RBMParams(jnp.zeros((nv, 5)), jnp.full((nv,), 2.0), jnp.zeros((5,)))
    betas = gibbs.reference_ladder(8)
    v0 = jnp.zeros((64, nv))
    warm, _ = gibbs.sample_pt(jax.random.key(0), params, v0, 300, betas=betas, path="reference", transform=None)
    final, _, _ = core_driver.run_many_jit(jax.random.key(1), build_pt(reference=True, alternate=True), params,
                                        PTSettings(betas, tempering.reference(params)), warm, n_steps=4000,
                                        start="state")
    per_system = np.asarray((final.round_trips - warm.round_trips) / (final.n_phases - warm.n_phases))
    rejection = 1 - np.asarray((final.accepted - warm.accepted).sum(0) / (final.attempted - warm.attempted).sum(0))
    theory = float(round_trip_rate_theory(rejection))
    z = (per_system.mean() - theory) / (per_system.std(ddof=1) / np.sqrt(len(per_system)))
    assert abs(z) < Z_MAX, (per_system.mean(), theory)
    # Not vacuous: the barrier is real (pairs reject 20-35%), and a 10% error in the formula is seen.
    assert 0.15 < rejection.min() and rejection.max() < 0.45
    z_wrong = (per_system.mean() - 1.1 * theory) / (per_system.std(ddof=1) / np.sqrt(len(per_system)))
    assert abs(z_wrong) > Z_MAX


# --------------------------------------------------------------------------
# Re-spacing.


def test_respace_by_hand():
    """Ladder [1, .5, 0] with rejections [.3, .1]: Λ(0, .5, 1) = (0, .1, .4); Λ = .2 at β = .5 + .5/3."""
    new = np.asarray(respace(jnp.asarray([1.0, 0.5, 0.0]), jnp.asarray([0.3, 0.1])))
    np.testing.assert_allclose(new, [1.0, 0.5 + 0.5 / 3, 0.0], rtol=1e-6)


def test_respace_keeps_an_equal_rejection_ladder_and_its_ends():
    betas = jnp.asarray([1.0, 0.7, 0.45, 0.2, 0.05])
    np.testing.assert_allclose(respace(betas, jnp.full(4, 0.2)), betas, rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        new = np.asarray(respace(betas, jnp.asarray(rng.uniform(0, 0.9, 4))))
        assert new[0] == 1.0 and new[-1] == np.asarray(betas)[-1] and np.all(np.diff(new) < 0)


def test_round_trip_rate_formulas():
    np.testing.assert_allclose(round_trip_rate_theory(jnp.asarray([0.5, 0.5])), 1 / (2 + 2 * 2), rtol=1e-6)
    np.testing.assert_allclose(round_trip_rate_theory(jnp.zeros(7)), 0.5, rtol=1e-6)
    np.testing.assert_allclose(round_trip_rate_limit(3.0), 1 / 8, rtol=1e-6)


# --------------------------------------------------------------------------
# The adaptive ladder, on a model plain Gibbs cannot mix.


@pytest.fixture(scope="module")
def adapted():
    with jax.enable_x64(True):
        params = bimodal()
        return params, tempering.adapt_ladder(jax.random.key(1), params, 10, n_rounds=7)


def test_adapted_ladder_equalises_the_rejections(x64, adapted):
    params, ad = adapted
    betas = np.asarray(ad.betas)
    assert betas[0] == 1 and betas[-1] == 0 and np.all(np.diff(betas) < 0)
    r = np.asarray(ad.rejection)
    # The last round: 8 systems × 1024 steps, each pair offered a swap every other step
    # (4096 attempts, correlated): ±0.05 is several binomial standard errors (≈ 0.007).
    assert r.max() - r.min() < 0.05, r
    np.testing.assert_allclose(float(ad.barrier), r.sum(), rtol=1e-12)
    assert float(ad.round_trip_rate) == pytest.approx(float(ad.round_trip_rate_theory), rel=0.1)
    assert float(ad.round_trip_rate) < float(ad.round_trip_rate_limit)
    assert ad.barrier_history.shape == (7,) and ad.round_trip_history.shape == (7,)


@pytest.mark.slow  # the experiment records it; test_gibbs has the fast Gibbs-vs-PT check
def test_plain_gibbs_cannot_mix_the_bimodal_model_and_reference_pt_can(x64, adapted):
    params, ad = adapted
    n = params.n_visible
    mass = exact.marginal_v_table(params)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    upper = float(np.asarray(mass)[np.asarray(states).sum(1) > n / 2].sum())
    assert upper == pytest.approx(0.5, abs=1e-3)
    start = jnp.ones((32, n))  # every chain starts in the upper mode
    _, gibbs_v = gibbs.sample_chains(jax.random.key(2), params, start, 2000, transform=gibbs.keep_v)
    assert float((np.asarray(gibbs_v).sum(-1) > n / 2).mean()) == 1.0  # stuck
    _, pt_v = gibbs.sample_pt(jax.random.key(3), params, start, 2000, betas=ad.betas, path="reference")
    per_system = (np.asarray(pt_v).sum(-1) > n / 2).mean(0)
    se = per_system.std(ddof=1) / np.sqrt(len(per_system))
    assert abs(per_system.mean() - upper) < Z_MAX * se and se < 0.05


@pytest.mark.slow  # two 64-system runs (the experiment records the ratio)
def test_adapted_ladder_beats_an_evenly_spaced_one_in_round_trips(x64):
    """At equal n_temps, on an asymmetric barrier (one mode much heavier): the adapted ladder makes more
    round trips per swap phase than the evenly spaced one (measured 14–18% more on these models)."""
    params = bimodal(12, 3.0)
    params = params._replace(c=jnp.zeros((1,)))  # the upper mode holds nearly all the mass
    ad = tempering.adapt_ladder(jax.random.key(1), params, 10, n_rounds=7)
    rates = {}
    for name, betas in (("even", gibbs.reference_ladder(10, jnp.float64)), ("adapted", ad.betas)):
        final, _ = gibbs.sample_pt(jax.random.key(2), params, jnp.ones((64, 12)), 3000, betas=betas,
                                   path="reference", transform=None)
        rates[name] = np.asarray(final.round_trips / final.n_phases)
    diff = rates["adapted"].mean() - rates["even"].mean()
    se = np.sqrt(rates["adapted"].var(ddof=1) / 64 + rates["even"].var(ddof=1) / 64)
    assert diff > 3 * se and diff > 0.05 * rates["even"].mean(), (rates["adapted"].mean(), rates["even"].mean())


# --------------------------------------------------------------------------
# log Z from the ladder.


def family_models():
    binary = random_params(31, 8, 4, scale=1.0)
    kw, kb = jax.random.split(jax.random.key(32))
    gaussian = GaussianRBMParams(0.5 * jax.random.normal(kw, (5, 4), jnp.float64),
                                 jax.random.normal(kb, (5,), jnp.float64), jnp.zeros(4, jnp.float64),
                                 jnp.zeros(5, jnp.float64))
    k1, k2 = jax.random.split(jax.random.key(33))
    categorical = CategoricalRBMParams(jax.random.normal(k1, (4, 3, 4), jnp.float64),
                                       jax.random.normal(k2, (4, 3), jnp.float64), jnp.zeros(4, jnp.float64))
    return {"binary": binary, "gaussian": gaussian, "categorical": categorical}


@pytest.mark.parametrize("family", ["binary", pytest.param("gaussian", marks=pytest.mark.slow),
                                    pytest.param("categorical", marks=pytest.mark.slow)])
def test_stepping_stone_matches_exact_log_z(x64, family):
    params = family_models()[family]
    truth = float(exact.log_partition(params))
    r = tempering.log_partition(jax.random.key(7), params, n_temps=8, n_steps=2000, n_rounds=6)
    assert abs(float(r.log_z) - truth) < 4 * float(r.stderr) + 1e-9, (float(r.log_z), float(r.stderr), truth)
    assert 0 < float(r.stderr) < 0.05  # a real error bar, small enough to mean something
    assert abs(float(r.log_z_reverse) - truth) < 4 * float(r.stderr_reverse) + 1e-9
    # Breaking one ratio by 10% (a scaled weight) moves the estimate by log 1.1 ≈ 0.095: far outside.
    assert abs(float(r.log_z) + np.log(1.1) - truth) > 4 * float(r.stderr)
    assert r.betas[0] == 1 and r.betas[-1] == 0


@pytest.mark.slow  # 24 estimates; the 200-seed version is below
def test_stepping_stone_coverage_over_seeds(x64):
    """±2 stderr covers exact log Z in ≈ 95% of 24 seeds (≥ 17: P < 0.002 for a correct error bar),
    and ±1 stderr not in nearly all (≤ 22: would mean an inflated error bar)."""
    params = bimodal(12, 2.0)
    truth = float(exact.log_partition(params))
    betas = tempering.adapt_ladder(jax.random.key(0), params, 8, n_rounds=6).betas
    z = []
    for seed in range(24):
        r = tempering.log_partition(jax.random.key(100 + seed), params, betas=betas, n_steps=500, n_systems=4)
        z.append((float(r.log_z) - truth) / float(r.stderr))
    z = np.abs(np.array(z))
    assert (z < 2).sum() >= 17, z
    assert (z < 1).sum() <= 22, z


def test_stepping_stone_on_a_bimodal_model(x64):
    params = bimodal()
    truth = float(exact.log_partition(params))
    r = tempering.log_partition(jax.random.key(3), params, n_temps=10, n_rounds=6, n_steps=2000)
    assert abs(float(r.log_z) - truth) < 4 * float(r.stderr) + 1e-9 and float(r.stderr) < 0.05
    assert int(r.n_sweeps) == 8 * 10 * (16 * (2**6 - 1) + 2000)


# --------------------------------------------------------------------------
# Training with an adaptive ladder.


def test_training_retunes_a_traced_ladder_per_model():
    from rbm_jax import data as rdata

    X = rdata.bars_and_stripes(3)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    est = estimators.pt(betas="adaptive", path="reference", n_temps=6, adapt_every=2)
    keys = jax.random.split(jax.random.key(1), 3)
    params, hist = train.fit_many(keys, p0, X, method=est, n_epochs=8, batch_size=2, learning_rate=0.05,
                                  metrics_every=None)
    betas = np.asarray(hist["betas"])  # [models, epochs, rungs]: the ladder each epoch trained with
    assert betas.shape == (3, 8, 6)
    np.testing.assert_allclose(betas[:, 0], np.linspace(1, 0, 6)[None].repeat(3, 0), rtol=1e-6)
    assert np.all(betas[:, :, 0] == 1) and np.all(betas[:, :, -1] == 0) and np.all(np.diff(betas, axis=-1) < 0)
    assert not np.allclose(betas[:, -1], betas[:, 0])  # re-tuned
    assert not np.allclose(betas[0, -1], betas[1, -1])  # each model its own
    # Per update: trips / phases of that update (one phase per system), averaged per epoch.
    assert np.all((hist["round_trip_rate"] >= 0) & (hist["round_trip_rate"] <= 1))
    assert np.nanmean(hist["round_trip_rate"]) > 0
    # Re-tuned every adapt_every epochs (X: 14 rows, batch 2: 7 updates per epoch), not in between.
    changes = np.flatnonzero(np.any(np.abs(np.diff(betas[0], axis=0)) > 0, axis=-1)) + 1
    assert set(changes) <= {2, 4, 6}, changes


@pytest.mark.slow  # covered in the fast suite by the fit_many test
def test_fit_accepts_the_reference_path_and_an_adaptive_ladder():
    from rbm_jax import data as rdata

    X = rdata.bars_and_stripes(3)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    p, hist, state = train.fit(jax.random.key(1), p0, X, method="pt", path="reference", betas="adaptive",
                               n_epochs=3, batch_size=2, metrics_every=None, return_state=True)
    assert isinstance(state.chains, estimators.PTChains)
    assert state.chains.systems.v.shape == (2, 10, 9) and state.chains.ladder.betas.shape == (10,)
    # The reference is the data's base-rate model.
    np.testing.assert_allclose(state.chains.ladder.reference.v, model.reference_of(p0, X).v, rtol=1e-6)
    del p, hist


# --------------------------------------------------------------------------
# Bad input.


def test_bad_settings_are_refused_by_name():
    params = random_params(1, 4, 3)
    v0 = jnp.zeros((2, 4))
    with pytest.raises(ValueError, match="path must be one of"):
        gibbs.sample_pt(jax.random.key(0), params, v0, 2, path="annealed")
    with pytest.raises(ValueError, match="path='tempered' has no reference"):
        gibbs.sample_pt(jax.random.key(0), params, v0, 2, data=v0)
    with pytest.raises(ValueError, match="beta_min"):
        gibbs.sample_pt(jax.random.key(0), params, v0, 2, path="reference", beta_min=0.1)
    with pytest.raises(ValueError, match=r"betas must hold finite inverse temperatures in \(0, 1\]"):
        gibbs.sample_pt(jax.random.key(0), params, v0, 2, betas=[1.0, 0.0])
    with pytest.raises(ValueError, match="swaps must be one of"):
        gibbs.sample_pt(jax.random.key(0), params, v0, 2, swaps="random")
    with pytest.raises(ValueError, match="end at exactly 0"):
        tempering.log_partition(jax.random.key(0), params, betas=[1.0, 0.5])
    with pytest.raises(ValueError, match="not both"):
        tempering.log_partition(jax.random.key(0), params, betas=[1.0, 0.0], n_temps=4)
    with pytest.raises(ValueError, match="n_temps must be at least 2"):
        tempering.adapt_ladder(jax.random.key(0), params, 1)
    with pytest.raises(ValueError, match="n_steps must be at least 4"):
        tempering.log_partition(jax.random.key(0), params, betas=[1.0, 0.0], n_steps=2)
    with pytest.raises(ValueError, match="data"):
        tempering.reference(params, jnp.full((3, 4), 2.0))
    with pytest.raises(ValueError, match="path .* applies to method='pt' only"):
        train.fit(jax.random.key(0), params, v0, method="pcd", path="reference", n_epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="betas must be a ladder, 'adaptive' or None"):
        estimators.pt(betas="auto")


def test_the_estimator_retunes_from_the_pooled_swap_counts_and_restarts_them():
    """After ``every`` updates the ladder is respace(ladder, 1 − accepted/attempted) of the counts since
    the last re-tuning, pooled over systems; the counts restart and the rejection is kept."""
    from rbm_jax import data as rdata

    params = random_params(3, 9, 6, scale=2.0)
    X = jnp.asarray(rdata.bars_and_stripes(3), params.dtype)
    est = estimators.pt(1, "adaptive", path="reference", n_temps=5, adapt_every=1).resolve(2)
    chains = est.init_chains(jax.random.key(0), params, X)
    assert int(chains.ladder.every) == 7  # 14 rows, batch 2: 7 updates per epoch
    negatives = jax.jit(est.negatives)
    for t in range(7):
        before = chains
        chains = negatives(jax.random.key(t), params, X[:2], None, chains).chains
    # The 7th update re-tuned: recompute it from the counts the systems held just before the reset.
    last, _, _ = core_driver.run_many(jax.random.split(jax.random.key(6))[1], est._kernel, params,
                                      PTSettings(before.ladder.betas, before.ladder.reference),
                                      before.systems, 1, start="state")
    rejection = 1 - last.accepted.sum(0) / last.attempted.sum(0)
    assert 0.05 < float(rejection.max())  # real rejections, so the ladder moves
    np.testing.assert_allclose(chains.ladder.betas, respace(before.ladder.betas, rejection), rtol=1e-6)
    np.testing.assert_allclose(chains.ladder.rejection, rejection, rtol=1e-6)
    assert not np.allclose(chains.ladder.betas, before.ladder.betas)
    assert int(chains.systems.attempted.sum()) == 0 and int(chains.ladder.since) == 0


@pytest.mark.slow  # three compiled training programs
def test_an_adaptive_run_resumes_bit_identically_through_a_checkpoint(tmp_path):
    from rbm_jax import checkpoint
    from rbm_jax import data as rdata

    X = rdata.bars_and_stripes(3)
    p0 = random_params(4, 9, 6, scale=1.5)
    cfg = train.TrainConfig(method=train.pt(1, "adaptive", path="reference", n_temps=5, adapt_every=1),
                            batch_size=2, metrics_every=None)
    state, _ = train.run_epochs(train.init_state(jax.random.key(1), p0, X, cfg), X, 3, cfg)
    checkpoint.save(tmp_path / "c.npz", state)
    restored = checkpoint.restore(tmp_path / "c.npz", like=train.init_state(jax.random.key(2), p0, X, cfg))
    a, _ = train.run_epochs(state, X, 2, cfg)
    b, _ = train.run_epochs(restored, X, 2, cfg)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.chains.ladder.betas, np.linspace(1, 0, 5))  # the ladder did move


@pytest.mark.slow  # 200 seeds on two families (about a minute)
@pytest.mark.parametrize("family", ["binary", "categorical"])
def test_stepping_stone_coverage_over_200_seeds(x64, family):
    """Coverage of ±2 stderr over 200 seeds within the binomial band of 0.95 (≥ 0.90: P ≈ 0.002)."""
    params = family_models()[family]
    truth = float(exact.log_partition(params))
    betas = tempering.adapt_ladder(jax.random.key(0), params, 8, n_rounds=6).betas
    z = np.array([(float(r.log_z) - truth) / float(r.stderr) for r in (
        tempering.log_partition(jax.random.key(1000 + s), params, betas=betas, n_steps=500, n_systems=4)
        for s in range(200))])
    assert np.mean(np.abs(z) < 2) >= 0.90, np.mean(np.abs(z) < 2)
    assert np.mean(np.abs(z) < 1) <= 0.80, np.mean(np.abs(z) < 1)
