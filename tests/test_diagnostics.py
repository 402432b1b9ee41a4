"""rbm_jax.diagnostics against ArviZ 0.23 (float64), AR(1) and two-state chains of known τ,
shifted and stuck chains, binary RBM Gibbs traces (ties), degenerate input and validation."""

from __future__ import annotations

import logging
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from conftest import random_params
from rbm_jax import diagnostics, rbm
from rbm_jax._src import mcmc_stats

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its refactor on import
    import arviz as az
    from arviz.stats import diagnostics as az_diag

logging.getLogger("arviz").setLevel(logging.ERROR)

ARVIZ_RTOL = 1e-6
ESS_METHODS = ("bulk", "mean", "tail")
RHAT_METHODS = ("rank", "split", "z_scale", "folded")


# --------------------------------------------------------------------------
# Chains with known properties


def ar1(key, phi, n_draws, n_chains, mu=0.0, dtype=None):
    """Stationary AR(1) x_t = mu + φ (x_{t-1} - mu) + sqrt(1-φ²) ε_t: [n_draws, n_chains].

    Unit marginal variance; τ = (1 + φ) / (1 - φ).
    """
    dtype = dtype or jnp.zeros(()).dtype
    k0, k1 = jax.random.split(key)
    x0 = jax.random.normal(k0, (n_chains,), dtype)
    eps = jax.random.normal(k1, (n_draws - 1, n_chains), dtype) * jnp.sqrt(1 - phi**2)

    def step(x, e):
        x = phi * x + e
        return x, x

    _, xs = lax.scan(step, x0, eps)
    return mu + jnp.concatenate([x0[None], xs])


def two_state(key, a, b, n_draws, n_chains, dtype=None):
    """Stationary 0/1 Markov chain, P(0→1) = a, P(1→0) = b; [n_draws, n_chains].

    Its autocorrelation is λ^t with λ = 1 - a - b, so τ = (1 + λ) / (1 - λ).
    """
    dtype = dtype or jnp.zeros(()).dtype
    k0, k1 = jax.random.split(key)
    x0 = jax.random.uniform(k0, (n_chains,)) < a / (a + b)
    u = jax.random.uniform(k1, (n_draws - 1, n_chains))

    def step(x, u_t):
        x = jnp.where(x, u_t >= b, u_t < a)
        return x, x

    _, xs = lax.scan(step, x0, u)
    return jnp.concatenate([x0[None], xs]).astype(dtype)


def rbm_gibbs_trace(key, params, n_steps, n_chains):
    """Visible states of block-Gibbs chains v → h → v: [n_steps, n_chains, n_visible], 0./1."""
    k0, k_steps = jax.random.split(key)
    v0 = jax.random.bernoulli(k0, 0.5, (n_chains, params.W.shape[0])).astype(params.W.dtype)

    def step(v, k):
        kh, kv = jax.random.split(k)
        h = rbm.sample_h_given_v(kh, params, v)
        v = rbm.sample_v_given_h(kv, params, h)
        return v, v

    _, trace = lax.scan(step, v0, jax.random.split(k_steps, n_steps))
    return trace


def np_two_state(rng, a, b, n_draws, n_chains):
    """Numpy twin of ``two_state`` (host data: no device compilation in tests)."""
    x = np.empty((n_draws, n_chains))
    x[0] = rng.random(n_chains) < a / (a + b)
    for t in range(1, n_draws):
        u = rng.random(n_chains)
        x[t] = np.where(x[t - 1] == 1, u >= b, u < a)
    return x


def np_ar1(rng, phi, n_draws, n_chains):
    x = np.empty((n_draws, n_chains))
    x[0] = rng.normal(size=n_chains)
    for t in range(1, n_draws):
        x[t] = phi * x[t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=n_chains)
    return x


N_DRAWS, N_CHAINS = 401, 4  # odd: the middle draw is dropped when splitting


def _cases():
    """Named float64 test traces, each [N_DRAWS, N_CHAINS] (numpy)."""
    rng = np.random.default_rng(20240601)
    shape = (N_DRAWS, N_CHAINS)
    with jax.enable_x64(True):
        params = random_params(5, 4, 3, scale=1.5, dtype=jnp.float64)
        gibbs = np.asarray(jax.jit(rbm_gibbs_trace, static_argnums=(2, 3))(
            jax.random.key(3), params, N_DRAWS, N_CHAINS
        ))  # [N_DRAWS, N_CHAINS, 4 visible units]
    cases = {
        "iid_normal": rng.normal(size=shape),
        "ar1_0.9": np_ar1(rng, 0.9, *shape),
        "ar1_antithetic": np_ar1(rng, -0.7, *shape),
        "shifted_means": rng.normal(size=shape) + np.array([0.0, 0.0, 0.0, 1.0]),
        "scaled_chain": rng.normal(size=shape) * np.array([1.0, 1.0, 1.0, 3.0]),
        "heavy_tailed": rng.standard_cauchy(size=shape),
        "bernoulli_0.3": (rng.random(shape) < 0.3).astype(float),
        "two_state_sticky": np_two_state(rng, 0.05, 0.1, *shape),
        "rounded_ties": np.round(np_ar1(rng, 0.5, *shape) * 2) / 2,
    }
    for unit in range(gibbs.shape[-1]):
        cases[f"rbm_gibbs_unit{unit}"] = gibbs[..., unit]
    return cases


CASES = _cases()
NAMES = sorted(CASES)
STACKED = np.stack([CASES[k] for k in NAMES], axis=-1)  # [N_DRAWS, N_CHAINS, n_cases]


@pytest.fixture(scope="module")
def ours():
    """Every statistic of every case, computed at once in float64 (event axis = case)."""
    with jax.enable_x64(True):
        out = {f"ess_{m}": np.asarray(diagnostics.ess(STACKED, method=m)) for m in ESS_METHODS}
        for m in RHAT_METHODS:
            out[f"rhat_{m}"] = np.asarray(diagnostics.rhat(STACKED, method=m))
        out["autocorr"] = np.asarray(diagnostics.autocorrelation(STACKED))
    assert all(v.dtype == np.float64 for v in out.values())
    return out


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b) / np.abs(b))


def _differences(ours, i, ary):
    """Relative differences to ArviZ for case i ([chain, draw] array ``ary``)."""
    diff = {}
    for m in ESS_METHODS:
        diff[f"ess_{m}"] = _rel(ours[f"ess_{m}"][i], az.ess(ary, method=m))
    for m in RHAT_METHODS:
        diff[f"rhat_{m}"] = _rel(ours[f"rhat_{m}"][i], az.rhat(ary, method=m))
    ref = az.autocorr(ary).T  # [draw, chain]
    mine = ours["autocorr"][..., i]
    assert np.max(np.abs(mine - ref)) < 1e-12
    mask = np.abs(ref) > 1e-3  # relative error of near-zero lags is meaningless
    diff["autocorr"] = _rel(mine[mask], ref[mask])
    return diff


# --------------------------------------------------------------------------
# Agreement with ArviZ (float64)


@pytest.mark.parametrize("name", NAMES)
def test_ess_rhat_autocorr_match_arviz(ours, name):
    diff = _differences(ours, NAMES.index(name), CASES[name].T)
    assert max(diff.values()) < ARVIZ_RTOL, diff


def test_max_relative_difference_to_arviz(ours):
    """The worst case per statistic over every test trace (reported in the issue)."""
    worst = {}
    for i, name in enumerate(NAMES):
        for k, v in _differences(ours, i, CASES[name].T).items():
            stat = k.split("_")[0]
            worst[stat] = max(worst.get(stat, 0.0), v)
    print("max relative difference to ArviZ:", worst)
    assert set(worst) == {"ess", "rhat", "autocorr"}
    assert all(v < ARVIZ_RTOL for v in worst.values()), worst


@pytest.mark.parametrize("shape", [(5, 2), (21, 3)])
def test_matches_arviz_on_short_random_chains(x64, shape):
    """150 random short traces per shape (AR(1) with random φ, a third discretised: ties).

    Short chains (2 and 10 draws per split chain) hit every branch of Geyer's
    truncation: stopping at the first pair, later, and running out of lags.
    """
    rng = np.random.default_rng(sum(shape))
    n_cases = 150
    cols = []
    for j in range(n_cases):
        x = np_ar1(rng, rng.uniform(-0.9, 0.97), *shape)
        levels = j % 3  # 0: continuous; 1, 2: 2 or 3 distinct values (ties)
        if levels:
            x = np.digitize(x, np.linspace(-0.8, 0.8, levels)).astype(float)
        if np.ptp(x) == 0:
            x[0, 0] += 1.0  # constant traces are tested separately (ArviZ divides by 0)
        cols.append(x)
    stacked = np.stack(cols, axis=-1)
    ess_bulk = np.asarray(diagnostics.ess(stacked))
    ess_mean = np.asarray(diagnostics.ess(stacked, method="mean"))
    rhat = np.asarray(diagnostics.rhat(stacked))
    n_compared = 0
    for j, x in enumerate(cols):
        ary = x.T
        assert _rel(ess_bulk[j], az.ess(ary)) < ARVIZ_RTOL, (j, ess_bulk[j], az.ess(ary))
        assert _rel(ess_mean[j], az.ess(ary, method="mean")) < ARVIZ_RTOL, j
        with np.errstate(all="ignore"):
            ref = float(az.rhat(ary))
        if np.isfinite(ref):  # ArviZ: 0/0 when every split chain is constant
            assert _rel(rhat[j], ref) < ARVIZ_RTOL, (j, rhat[j], ref)
            n_compared += 1
    assert n_compared > n_cases // 2


def test_single_chain(x64, ours):
    """One chain is split in two. ArviZ's rhat returns NaN below 2 chains, so R-hat is
    checked against the documented formula built from ArviZ's own helpers."""
    single = STACKED[:, 0]  # [N_DRAWS, n_cases]: the first chain of every case
    r = np.asarray(diagnostics.rhat(single, chain_axis=None))
    e = np.asarray(diagnostics.ess(single, chain_axis=None))
    for i in range(single.shape[1]):
        ary = single[None, :, i]
        with np.errstate(all="ignore"):
            assert np.isnan(az.rhat(ary))
        split = az_diag._split_chains(ary)  # [2, N_DRAWS // 2]
        bulk = az_diag._rhat(az_diag._z_scale(split))
        tail = az_diag._rhat(az_diag._z_scale(np.abs(split - np.median(split))))
        assert _rel(r[i], np.fmax(bulk, tail)) < ARVIZ_RTOL, NAMES[i]
        assert _rel(e[i], az.ess(ary)) < ARVIZ_RTOL, NAMES[i]


# --------------------------------------------------------------------------
# Statistical checks against known τ


def _sokal_sd(tau, n_total):
    """Asymptotic sd of a windowed τ̂ (Madras & Sokal 1988): τ sqrt(2(2W+1)/N), W <= 5τ."""
    return tau * np.sqrt(2 * (2 * 5 * tau + 1) / n_total)


AR_REPS, AR_DRAWS, AR_CHAINS = 32, 4000, 4


@jax.jit
def _ar1_taus(keys, phi):
    """[reps] τ̂ (raw and rank-normalised draws) and ESS; φ traced: one compilation."""

    def one(key):
        x = ar1(key, phi, AR_DRAWS, AR_CHAINS)
        return (
            diagnostics.integrated_autocorr_time(x, method="mean"),
            diagnostics.integrated_autocorr_time(x, method="bulk"),
            diagnostics.ess(x, method="mean"),
        )

    return jax.vmap(one)(keys)


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_ar1_integrated_autocorr_time(phi):
    """τ̂ of AR(1) chains averages to (1+φ)/(1-φ) within 4 sd (Sokal) / sqrt(32 replicates).

    For φ = 0.9 the tolerance is 11% of τ = 19: a wrong truncation or a missing factor 2
    fails it. The per-replicate spread must also stay below Sokal's asymptotic sd.
    """
    tau = (1 + phi) / (1 - phi)
    keys = jax.random.split(jax.random.key(11), AR_REPS)
    tau_mean, tau_bulk, ess = (np.asarray(a) for a in _ar1_taus(keys, phi))
    sd = _sokal_sd(tau, AR_DRAWS * AR_CHAINS)
    for taus in (tau_mean, tau_bulk):  # rank-normalising Gaussian draws keeps τ
        assert taus.std() < sd, (taus.std(), sd)
        assert abs(taus.mean() - tau) < 4 * sd / np.sqrt(AR_REPS), (taus.mean(), tau)
    np.testing.assert_allclose(ess * tau_mean, AR_DRAWS * AR_CHAINS, rtol=1e-5)  # ESS = N / τ̂


@jax.jit
def _two_state_taus(keys, a, b):
    def one(key):
        x = two_state(key, a, b, AR_DRAWS, AR_CHAINS)
        return (
            diagnostics.integrated_autocorr_time(x, method="mean"),
            diagnostics.integrated_autocorr_time(x, method="bulk"),
        )

    return jax.vmap(one)(keys)


@pytest.mark.parametrize("a, b", [(0.3, 0.2), (0.05, 0.1)])
def test_binary_two_state_chain_tau(a, b):
    """0/1 traces of known τ = (1+λ)/(1-λ), λ = 1-a-b: mean τ̂ of 32 runs within 4 sd."""
    lam = 1 - a - b
    tau = (1 + lam) / (1 - lam)
    n_reps = 32
    keys = jax.random.split(jax.random.key(12), n_reps)
    tau_mean, tau_bulk = (np.asarray(t) for t in _two_state_taus(keys, a, b))
    sd = _sokal_sd(tau, AR_DRAWS * AR_CHAINS)
    np.testing.assert_allclose(tau_bulk, tau_mean, rtol=1e-4)  # ties: bulk == mean for 0/1
    assert abs(tau_mean.mean() - tau) < 4 * sd / np.sqrt(n_reps), (tau_mean.mean(), tau)


S = (N_DRAWS, N_CHAINS)  # the float32 shape shared by the tests below (one compilation each)


def test_shifted_and_scaled_chains_have_large_rhat():
    x = np.random.default_rng(1).normal(size=S).astype(np.float32)
    assert diagnostics.rhat(x) < 1.01  # iid: B/(nW) ~ χ²_7 / (7n)
    assert diagnostics.rhat(x) > 1 - 4 / N_DRAWS
    shifted = x + np.float32([0, 0, 0, 2])
    for method in RHAT_METHODS[:3]:
        assert diagnostics.rhat(shifted, method=method) > 1.1, method
    # A scale difference is invisible to the bulk but caught by the folded (tail) R-hat.
    scaled = x * np.float32([1, 1, 1, 4])
    assert diagnostics.rhat(scaled, method="z_scale") < 1.05
    assert diagnostics.rhat(scaled, method="folded") > 1.1
    assert diagnostics.rhat(scaled) == diagnostics.rhat(scaled, method="folded")
    # A trend within chains is caught by splitting them.
    trend = x + np.linspace(0, 2, N_DRAWS, dtype=np.float32)[:, None]
    assert diagnostics.rhat(trend) > 1.1
    assert diagnostics.rhat(trend, method="split") > 1.1


def test_binary_chains_stuck_in_different_states_have_large_rhat():
    rng = np.random.default_rng(2)
    mostly_off = np_two_state(rng, 0.02, 0.3, N_DRAWS, 2)  # P(1) ≈ 6%
    mostly_on = np_two_state(rng, 0.3, 0.02, N_DRAWS, 2)  # P(1) ≈ 94%
    stuck = np.concatenate([mostly_off, mostly_on], axis=1).astype(np.float32)
    assert diagnostics.rhat(stuck) > 1.1
    assert diagnostics.rhat(np_two_state(rng, 0.4, 0.4, *S).astype(np.float32)) < 1.02


def test_binary_traces_ties_rank_normalisation(x64, ours):
    """0/1 traces: average ranks make z an affine map of x, so bulk == mean for ESS and R-hat.

    Ordinal (tie-breaking) ranks would spread the 0s and 1s over distinct z values and
    break these identities.
    """
    prefixes = ("rbm_gibbs", "bernoulli", "two_state")
    binary = [i for i, k in enumerate(NAMES) if k.startswith(prefixes)]
    assert len(binary) == 6 and np.isin(STACKED[..., binary], (0.0, 1.0)).all()
    np.testing.assert_allclose(ours["ess_bulk"][binary], ours["ess_mean"][binary], rtol=1e-12)
    np.testing.assert_allclose(ours["rhat_z_scale"][binary], ours["rhat_split"][binary], rtol=1e-12)
    continuous = NAMES.index("ar1_0.9")  # and not for continuous draws
    assert abs(ours["ess_bulk"][continuous] / ours["ess_mean"][continuous] - 1) > 1e-6


def test_float32_close_to_float64(ours):
    x32 = jnp.asarray(STACKED, jnp.float32)
    for method in ("bulk", "tail"):
        e32 = diagnostics.ess(x32, method=method)
        assert e32.dtype == jnp.float32
        np.testing.assert_allclose(e32, ours[f"ess_{method}"], rtol=2e-4)
    r32 = diagnostics.rhat(x32)
    assert r32.dtype == jnp.float32
    # |x - median| of float32 draws near the median has few significant bits, so
    # near-ties of the folded draws can rank differently than in float64 (~1e-4).
    np.testing.assert_allclose(r32, ours["rhat_rank"], rtol=2e-4)
    np.testing.assert_allclose(diagnostics.rhat(x32, method="split"), ours["rhat_split"], rtol=1e-5)


# --------------------------------------------------------------------------
# Degenerate input


@pytest.mark.parametrize("value", [0.0, 1.0, 0.1, -3.7e5])
def test_constant_chains_are_defined(value):
    x = np.full(S, value, np.float32)
    n_used = 2 * N_CHAINS * (N_DRAWS // 2)
    for method in ESS_METHODS:
        assert diagnostics.ess(x, method=method) == n_used  # as ArviZ (all draws identical)
        assert diagnostics.integrated_autocorr_time(x, method=method) == 1
        assert float(az.ess(np.asarray(x).T, method=method)) == n_used
    for method in RHAT_METHODS:
        assert diagnostics.rhat(x, method=method) == 1.0  # ArviZ: NaN (0/0)
    rho = np.asarray(diagnostics.autocorrelation(x))
    np.testing.assert_array_equal(rho[0], 1.0)  # ArviZ: NaN
    np.testing.assert_array_equal(rho[1:], 0.0)
    np.testing.assert_array_equal(diagnostics.autocovariance(x), 0.0)


def test_constant_chains_at_different_values():
    x = np.repeat(np.float32([[0, 0, 1, 1]]), N_DRAWS, axis=0)
    for method in ("rank", "split", "z_scale"):
        assert diagnostics.rhat(x, method=method) == jnp.inf, method  # frozen apart
    # |x - median| = 0.5 everywhere: the folded part alone has nothing to compare
    assert diagnostics.rhat(x, method="folded") == 1.0
    assert np.isfinite(diagnostics.ess(x))
    # One frozen chain among mixing ones: everything finite, and R-hat flags it.
    x = np.random.default_rng(0).normal(size=S).astype(np.float32)
    x[:, 3] = 2.0
    r = diagnostics.rhat(x)
    assert np.isfinite(r) and r > 1.1
    assert np.isfinite(diagnostics.ess(x))


def test_constant_entry_among_varying_ones(x64, ours):
    x = STACKED.copy()
    x[..., 5] = 0.5  # one event entry constant: the others are unaffected
    e, r = np.asarray(diagnostics.ess(x)), np.asarray(diagnostics.rhat(x))
    assert e[5] == 2 * N_CHAINS * (N_DRAWS // 2) and r[5] == 1.0
    others = np.arange(x.shape[-1]) != 5
    np.testing.assert_array_equal(e[others], ours["ess_bulk"][others])
    np.testing.assert_array_equal(r[others], ours["rhat_rank"][others])


# --------------------------------------------------------------------------
# Layout, dtypes, transformations


def test_axes_layout(x64, ours):
    # the same data laid out [chain, case, draw]
    y = np.transpose(STACKED, (1, 2, 0))
    np.testing.assert_allclose(
        diagnostics.rhat(y, draw_axis=-1, chain_axis=0), ours["rhat_rank"], rtol=1e-14
    )
    np.testing.assert_allclose(
        diagnostics.autocorrelation(y, axis=2), np.transpose(ours["autocorr"], (1, 2, 0)),
        rtol=0, atol=1e-14,
    )
    # event axes keep their order: [draw, chain, a, b] -> [a, b]
    z = STACKED[..., :12].reshape(N_DRAWS, N_CHAINS, 3, 4)
    np.testing.assert_array_equal(
        diagnostics.ess(z, method="mean"), ours["ess_mean"][:12].reshape(3, 4)
    )


def test_autocovariance_matches_direct_sum(x64):
    x = STACKED
    n = x.shape[0]
    acov = np.asarray(diagnostics.autocovariance(x))
    xc = x - x.mean(0)
    direct = np.stack([(xc[: n - t] * xc[t:]).sum(0) / n for t in range(n)])
    scale = np.abs(direct[0]).max()
    np.testing.assert_allclose(acov, direct, rtol=0, atol=1e-12 * scale)


def test_dtypes_follow_input():
    x32 = np.random.default_rng(0).normal(size=S).astype(np.float32)
    d = diagnostics
    for f in (d.ess, d.rhat, d.integrated_autocorr_time, d.autocorrelation):
        assert f(x32).dtype == jnp.float32
        assert f(x32 > 0).dtype == jnp.float32  # bool promoted to the default float
        assert f(np.asarray(x32 > 0, np.int8)).dtype == jnp.float32
        assert f(x32.astype(np.float16)).dtype == jnp.float32  # half: computed in float32
    with jax.enable_x64(True):
        binary = (STACKED > 0).astype(np.int8)
        np.testing.assert_array_equal(
            diagnostics.ess(binary), diagnostics.ess(binary.astype(np.float64))
        )
        for f in (diagnostics.ess, diagnostics.rhat, diagnostics.autocorrelation):
            assert f(STACKED).dtype == jnp.float64
            assert f(binary).dtype == jnp.float64


def test_jit_vmap_and_compile_once():
    runs = np.random.default_rng(3).normal(size=(3,) + S).astype(np.float32)  # 3 runs
    eager = np.stack([diagnostics.ess(r) for r in runs])
    np.testing.assert_allclose(jax.jit(jax.vmap(diagnostics.ess))(runs), eager, rtol=1e-5)
    np.testing.assert_allclose(
        jax.jit(lambda y: diagnostics.rhat(y, method="split"))(runs[0]),
        diagnostics.rhat(runs[0], method="split"),
        rtol=1e-6,
    )
    before = mcmc_stats.ess_core._cache_size()
    for r in runs:
        diagnostics.ess(r * 2.0 + 1.0)
    assert mcmc_stats.ess_core._cache_size() == before  # same shape: no recompilation


# --------------------------------------------------------------------------
# Validation


def test_errors_name_the_argument():
    good = np.zeros((10, 2)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match=r"x has 3 draw\(s\) along draw_axis.*at least 4"):
        diagnostics.rhat(good[:3])
    with pytest.raises(ValueError, match="at least 4"):
        diagnostics.ess(good[:3])
    with pytest.raises(ValueError, match=r"x contains 1 NaN or inf value\(s\).*index \(2, 1\)"):
        diagnostics.ess(np.where(np.arange(20).reshape(10, 2) == 5, np.nan, good))
    with pytest.raises(ValueError, match="x contains 1 NaN or inf"):
        diagnostics.autocorrelation(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(ValueError, match=r"x must be \[n_draws, n_chains, \*event\].*=None"):
        diagnostics.ess(np.arange(10.0))
    with pytest.raises(ValueError, match="draw_axis and chain_axis must differ"):
        diagnostics.ess(good, draw_axis=1, chain_axis=-1)
    with pytest.raises(ValueError, match="chain_axis=2 is out of range"):
        diagnostics.rhat(good, chain_axis=2)
    with pytest.raises(ValueError, match="method must be one of"):
        diagnostics.ess(good, method="median")
    with pytest.raises(ValueError, match="method must be one of"):
        diagnostics.rhat(good, method="bulk")
    with pytest.raises(TypeError, match="x must be real-valued"):
        diagnostics.ess(good.astype(np.complex64))
    with pytest.raises(TypeError, match="draw_axis must be an integer"):
        diagnostics.ess(good, draw_axis=0.0)
    with pytest.raises(ValueError, match="x has no chains"):
        diagnostics.ess(np.zeros((10, 0)))


@pytest.mark.slow
@pytest.mark.parametrize("phi", [0.3, 0.95])
def test_ar1_tau_many_replicates(phi):
    """256 replicates: the mean τ̂ within 4 Sokal sd / 16 (φ = 0.95: τ = 39, tolerance 5.5%)."""
    tau = (1 + phi) / (1 - phi)
    keys = jax.random.split(jax.random.key(13), 256)
    tau_mean, tau_bulk, _ = (np.asarray(a) for a in _ar1_taus(keys, phi))
    sd = _sokal_sd(tau, AR_DRAWS * AR_CHAINS)
    print(
        f"φ={phi}: τ={tau:.2f}, mean τ̂ {tau_mean.mean():.3f} "
        f"(bulk {tau_bulk.mean():.3f}), sd {tau_mean.std():.3f}"
    )
    for taus in (tau_mean, tau_bulk):
        assert taus.std() < sd
        assert abs(taus.mean() - tau) < 4 * sd / np.sqrt(len(keys))
