"""rbm_jax.montecarlo: unbiasedness on problems with known answers (enumerated RBMs, Gaussians,
AR(1) chains), nominal coverage of the standard errors over 400 seeds, zero-variance limits,
a negative control showing the coverage check can fail, and argument validation."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_params
from rbm_jax import exact, montecarlo, rbm
from test_diagnostics import CASES, NAMES, STACKED, ar1, rbm_gibbs_trace

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

N = 500  # draws per estimate in most tests (one compilation per estimator)
N_SEEDS = 400
# |coverage - 0.95| <= 4 binomial sd over N_SEEDS seeds (false alarm ~1e-4 if nominal).
COVERAGE_BAND = 4 * np.sqrt(0.95 * 0.05 / N_SEEDS)  # ≈ 0.044


def coverage(est: montecarlo.Estimate, truth) -> float:
    """Fraction of seeds whose 95% interval mean ± 1.96 stderr contains the truth."""
    mean, se = np.asarray(est.mean, np.float64), np.asarray(est.stderr, np.float64)
    return float(np.mean(np.abs(mean - truth) < 1.96 * se))


def nominal(c: float) -> bool:
    return abs(c - 0.95) <= COVERAGE_BAND


def within_4se(est: montecarlo.Estimate, truth) -> bool:
    return bool(np.all(np.abs(np.asarray(est.mean) - truth) < 4 * np.asarray(est.stderr)))


# --------------------------------------------------------------------------
# A small RBM: the target distribution, enumerated exactly


N_VISIBLE = 4
N_STATES = 2**N_VISIBLE


@functools.lru_cache
def rbm_problem(dtype=jnp.float32):
    """(params, all configurations, log p table, f table, exact E_p[f])."""
    params = random_params(21, N_VISIBLE, 3, scale=1.2, dtype=dtype)
    configs = exact.configurations(N_VISIBLE, dtype)
    log_p = exact.log_marginal_v_table(params)
    f = 1.0 + configs[:, 0] + 2 * configs[:, 1] * configs[:, 2] - 0.5 * configs[:, 3]  # > 0
    truth = jnp.sum(jnp.exp(log_p) * f)
    return params, configs, log_p, f, truth


def draw(seed, log_p_table, n):
    """n indices drawn from the pmf exp(log_p_table), on the host."""
    p = np.exp(np.asarray(log_p_table, np.float64))
    return np.random.default_rng(seed).choice(p.size, size=n, p=p / p.sum())


def test_plain_monte_carlo_gaussian():
    x = np.random.default_rng(0).normal(size=N).astype(np.float32)
    est = montecarlo.monte_carlo_mean(x**2)  # E[x²] = 1, sd(x²) = sqrt(2)
    assert within_4se(est, 1.0)
    np.testing.assert_allclose(est.stderr, np.std(x**2, ddof=1) / np.sqrt(N), rtol=1e-5)
    # s/σ of x² has relative sd sqrt((κ - 1)/(4n)), kurtosis κ = 15 for x² with x ~ N(0, 1)
    assert abs(est.stderr / np.sqrt(2 / N) - 1) < 4 * np.sqrt(14 / (4 * N))
    assert est.ess == N


def test_importance_sampling_uniform_proposal_restores_the_notes_missing_factor():
    """x ~ uniform on X = {0,1}^4: IS = (|X|/n) Σ p(x) f(x).

    The notes' (1/n) Σ p f, as written, is |X| times too small."""
    _, _, log_p_table, f_table, truth = rbm_problem()
    idx = np.random.default_rng(1).integers(0, N_STATES, N)
    log_q = np.full(N, -np.log(N_STATES), np.float32)
    est = montecarlo.importance_sampling(f_table[idx], log_p_table[idx], log_q)
    assert within_4se(est, truth)
    p_f = jnp.exp(log_p_table[idx]) * f_table[idx]
    np.testing.assert_allclose(est.mean, N_STATES * jnp.mean(p_f), rtol=1e-5)
    notes = jnp.mean(p_f)  # the formula as written: misses the factor |X| = 1/q
    assert abs(notes - truth) > 10 * est.stderr


def test_importance_sampling_q_equal_p_has_unit_weights():
    _, _, log_p_table, f_table, truth = rbm_problem()
    n = N
    idx = draw(2, log_p_table, n)
    log_p = log_p_table[idx]
    est = montecarlo.importance_sampling(f_table[idx], log_p, log_p)
    plain = montecarlo.monte_carlo_mean(f_table[idx])
    assert est.ess == n  # Kish ESS of n weights all exactly 1
    np.testing.assert_allclose(est.mean, plain.mean, rtol=1e-6)
    np.testing.assert_allclose(est.stderr, plain.stderr, rtol=1e-5)
    assert within_4se(est, truth)
    # the weights themselves: zero variance
    ones = montecarlo.importance_sampling(np.ones(n, np.float32), log_p, log_p)
    assert ones.mean == 1.0 and ones.stderr == 0.0


def test_importance_sampling_optimal_proposal_has_zero_variance(x64):
    """q* ∝ p·f (f > 0): every w·f equals E_p[f], so the estimate is exact with stderr 0."""
    _, _, log_p_table, f_table, truth = rbm_problem(jnp.float64)
    log_q_table = log_p_table + jnp.log(f_table) - jnp.log(truth)
    np.testing.assert_allclose(jax.nn.logsumexp(log_q_table), 0.0, atol=1e-14)
    idx = draw(3, log_q_table, N)
    est = montecarlo.importance_sampling(f_table[idx], log_p_table[idx], log_q_table[idx])
    np.testing.assert_allclose(est.mean, truth, rtol=1e-13)
    assert est.stderr < 1e-13 * truth


def test_self_normalized_is_with_unnormalized_rbm():
    """log p̃ = -F(v) (Z unknown), q uniform: SNIS within 4 se of the enumerated E_p[f]."""
    params, configs, _, f_table, truth = rbm_problem()
    n = N
    idx = np.random.default_rng(4).integers(0, N_STATES, n)
    v = configs[idx]
    log_p_tilde = -rbm.free_energy(params, v)
    log_q = np.zeros(n, np.float32)  # unnormalised too: the constant cancels
    est = montecarlo.self_normalized_importance_sampling(f_table[idx], log_p_tilde, log_q)
    assert within_4se(est, truth)
    w = np.exp(np.asarray(log_p_tilde, np.float64))
    np.testing.assert_allclose(est.ess, w.sum() ** 2 / (w**2).sum(), rtol=1e-4)
    assert 1 <= est.ess <= n


def test_log_mean_exp_estimates_log_partition():
    """Z = Σ_v exp(-F(v)) = |X| E_uniform[exp(-F(v))]: log Z within 4 se of the exact value."""
    params, configs, _, _, _ = rbm_problem()
    n = N
    idx = np.random.default_rng(5).integers(0, N_STATES, n)
    log_w = -rbm.free_energy(params, configs[idx]) + np.log(N_STATES)  # log p̃(v) - log q(v)
    est = montecarlo.log_mean_exp(log_w)
    assert within_4se(est, exact.log_partition(params))
    w = np.exp(np.asarray(log_w, np.float64))
    np.testing.assert_allclose(est.stderr, w.std(ddof=1) / np.sqrt(n) / w.mean(), rtol=1e-4)


def test_mcmc_mean_of_rbm_gibbs_chain_matches_exact_marginals():
    params = random_params(5, 4, 3, scale=1.5)
    trace = jax.jit(rbm_gibbs_trace, static_argnums=(2, 3))(jax.random.key(6), params, 2100, 4)
    est = montecarlo.mcmc_mean(trace[100:])  # [n_draws, n_chains, n_visible], 0/1 values
    exact_mean = exact.model_moments(params).v
    assert est.mean.shape == (4,)
    assert within_4se(est, exact_mean)
    assert np.all(est.ess < 4 * 2000)  # correlated: fewer effective draws than draws


def test_mcmc_mean_matches_arviz_mcse(x64):
    est = montecarlo.mcmc_mean(STACKED)
    for i, name in enumerate(NAMES):
        ary = CASES[name].T
        mcse = az.mcse(ary, method="mean")
        np.testing.assert_allclose(est.stderr[i], mcse, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(est.ess[i], az.ess(ary, method="mean"), rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(est.mean[i], ary.mean(), rtol=1e-12, err_msg=name)
    assert est.stderr.dtype == jnp.float64


# --------------------------------------------------------------------------
# Coverage over many seeds


def _gaussian_is(key, n):
    """p = N(0, 1), q = N(0.5, 1.5²), f(x) = x²: E_p[f] = 1. Returns (f, log p, log q)."""
    x = 0.5 + 1.5 * jax.random.normal(key, (n,))
    log_p = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    log_q = -0.5 * ((x - 0.5) / 1.5) ** 2 - 0.5 * np.log(2 * np.pi) - np.log(1.5)
    return x**2, log_p, log_q


def _gaussian_is_host(seed, n):
    """``_gaussian_is`` on the host (numpy, float32)."""
    x = (0.5 + 1.5 * np.random.default_rng(seed).normal(size=n)).astype(np.float32)
    log_p = -0.5 * x**2 - np.float32(0.5 * np.log(2 * np.pi))
    log_q = -0.5 * ((x - 0.5) / 1.5) ** 2 - np.float32(0.5 * np.log(2 * np.pi) + np.log(1.5))
    return x**2, log_p, log_q


@jax.jit
def _is_coverage_runs(keys):
    def one(key):
        f, log_p, log_q = _gaussian_is(key, N)
        return (
            montecarlo.importance_sampling(f, log_p, log_q),
            montecarlo.self_normalized_importance_sampling(f, log_p + 3.0, log_q),
            montecarlo.log_mean_exp(log_p - log_q),  # log E_q[p/q] = log 1 = 0
            montecarlo.monte_carlo_mean(jax.random.normal(key, (N,)) ** 2),
        )

    return jax.vmap(one)(keys)


def test_importance_sampling_standard_errors_have_nominal_coverage():
    keys = jax.random.split(jax.random.key(7), N_SEEDS)
    is_est, snis_est, lme_est, mc_est = _is_coverage_runs(keys)
    cov = {
        "is": coverage(is_est, 1.0),
        "snis": coverage(snis_est, 1.0),
        "log_mean_exp": coverage(lme_est, 0.0),
        "plain": coverage(mc_est, 1.0),
    }
    print("coverage of mean ± 1.96 stderr over", N_SEEDS, "seeds:", cov)
    assert all(nominal(c) for c in cov.values()), cov
    # the estimators are unbiased on average (within 4 sd of the mean over seeds)
    for est, truth in ((is_est, 1.0), (mc_est, 1.0)):
        m = np.asarray(est.mean)
        assert abs(m.mean() - truth) < 4 * m.std() / np.sqrt(N_SEEDS)


PHI, MU, MC_DRAWS, MC_CHAINS = 0.9, 3.0, 2000, 4  # τ = 19


@jax.jit
def _ar1_coverage_runs(keys):
    def one(key):
        trace = ar1(key, PHI, MC_DRAWS, MC_CHAINS, mu=MU)
        naive = montecarlo.monte_carlo_mean(trace.reshape(-1))  # ignores autocorrelation
        return montecarlo.mcmc_mean(trace), naive

    return jax.vmap(one)(keys)


def test_mcmc_stderr_has_nominal_coverage_and_naive_stderr_does_not():
    """AR(1), φ = 0.9: sd·sqrt(τ̂/N) covers ~95%; the iid formula sd/sqrt(N) covers
    P(|Z| < 1.96/sqrt(19)) ≈ 35% — the negative control that shows the check can fail."""
    keys = jax.random.split(jax.random.key(8), N_SEEDS)
    mcmc, naive = _ar1_coverage_runs(keys)
    c_mcmc, c_naive = coverage(mcmc, MU), coverage(naive, MU)
    print(f"AR(1) coverage: mcmc_mean {c_mcmc:.3f}, naive iid stderr {c_naive:.3f}")
    assert nominal(c_mcmc), c_mcmc
    assert not nominal(c_naive), c_naive
    assert c_naive < 0.6
    tau_hat = MC_DRAWS * MC_CHAINS / np.asarray(mcmc.ess)
    assert abs(np.median(tau_hat) / ((1 + PHI) / (1 - PHI)) - 1) < 0.15
    ratio = np.asarray(mcmc.stderr / naive.stderr)  # ≈ sqrt(τ)
    assert abs(np.median(ratio) / np.sqrt((1 + PHI) / (1 - PHI)) - 1) < 0.1


def test_mcmc_mean_single_seed_unbiased():
    trace = ar1(jax.random.key(9), PHI, MC_DRAWS, MC_CHAINS, mu=MU)
    est = montecarlo.mcmc_mean(trace)
    assert within_4se(est, MU)
    single = montecarlo.mcmc_mean(trace[:, 0], chain_axis=None)
    assert within_4se(single, MU)


# --------------------------------------------------------------------------
# Batching, stability, degenerate weights, dtypes


def test_batched_importance_sampling_equals_a_loop():
    n, batch = N, 3
    f, log_p, log_q = _gaussian_is_host(10, n * batch)
    f = np.stack([f, np.cos(log_q)], -1).reshape(n, batch, 2)
    log_p, log_q = log_p.reshape(n, batch), log_q.reshape(n, batch)
    for fn in (montecarlo.importance_sampling, montecarlo.self_normalized_importance_sampling):
        est = fn(f, log_p, log_q)
        assert est.mean.shape == est.stderr.shape == est.ess.shape == (batch, 2)
        for b in range(batch):
            one = fn(f[:, b], log_p[:, b], log_q[:, b])
            for got, want in zip(est, one):
                np.testing.assert_allclose(got[b], want, rtol=1e-5)


def test_log_space_is_stable_for_huge_and_tiny_weights():
    base = np.random.default_rng(11).normal(size=N).astype(np.float32)
    zeros = np.zeros(N, np.float32)
    for offset in (-1e4, 0.0, 1e4):  # exp(±1e4) over/underflows any float
        log_w = base + np.float32(offset)  # rounded to ~1e-3 near 1e4: compare on log_w itself
        lw = np.asarray(log_w, np.float64)
        w = np.exp(lw - lw.max())
        lme = montecarlo.log_mean_exp(log_w)
        np.testing.assert_allclose(lme.mean, lw.max() + np.log(w.mean()), rtol=1e-6)
        np.testing.assert_allclose(lme.stderr, w.std(ddof=1) / np.sqrt(N) / w.mean(), rtol=1e-4)
        np.testing.assert_allclose(lme.ess, w.sum() ** 2 / (w**2).sum(), rtol=1e-4)
        np.testing.assert_allclose(montecarlo.kish_ess(log_w), lme.ess, rtol=1e-6)
        snis = montecarlo.self_normalized_importance_sampling(base**2, log_w, zeros)
        f = np.asarray(base, np.float64) ** 2
        np.testing.assert_allclose(snis.mean, (w * f).sum() / w.sum(), rtol=1e-4)
    est = montecarlo.importance_sampling(np.ones(N, np.float32), base - np.float32(1e4), zeros)
    assert est.mean == 0.0 and est.stderr == 0.0  # true value exp(-1e4) underflows to 0


def test_zero_weights():
    log_w = np.float32([0.0, -np.inf, np.log(3.0), -np.inf])
    np.testing.assert_allclose(montecarlo.kish_ess(log_w), 16 / 10, rtol=1e-6)  # (1+3)²/(1+9)
    lme = montecarlo.log_mean_exp(log_w)
    np.testing.assert_allclose(lme.mean, np.log(4 / 4), atol=1e-7)
    none = np.full(4, -np.inf, np.float32)
    four, zeros = np.arange(4, dtype=np.float32), np.zeros(4, np.float32)
    lme = montecarlo.log_mean_exp(none)
    assert lme.mean == -jnp.inf and lme.stderr == jnp.inf and lme.ess == 0
    assert montecarlo.kish_ess(none) == 0
    est = montecarlo.importance_sampling(four, none, zeros)
    assert est.mean == 0 and est.stderr == 0 and est.ess == 0
    # SNIS is undefined: an error when concrete, NaN (not a silent number) under jit
    with pytest.raises(ValueError, match="all importance weights are zero"):
        montecarlo.self_normalized_importance_sampling(four, none, zeros)
    snis = jax.jit(montecarlo.self_normalized_importance_sampling)(four, none, zeros)
    assert np.isnan(snis.mean) and np.isnan(snis.stderr) and snis.ess == 0


def test_constant_trace_and_kish_limits():
    est = montecarlo.mcmc_mean(np.full((50, 3), 0.7, np.float32))
    assert est.mean == pytest.approx(0.7) and est.stderr == 0 and est.ess == 150
    assert montecarlo.kish_ess(np.zeros(7, np.float32)) == 7
    assert montecarlo.kish_ess(np.float32([0.0, -50.0, -50.0])) == pytest.approx(1, rel=1e-6)
    np.testing.assert_array_equal(montecarlo.kish_ess(np.zeros((2, 5), np.float32), axis=1), [5, 5])


def test_dtypes_follow_input():
    x = np.random.default_rng(12).normal(size=N).astype(np.float32)
    for est in (
        montecarlo.monte_carlo_mean(x),
        montecarlo.importance_sampling(x, x, x),
        montecarlo.self_normalized_importance_sampling(x, x, x),
        montecarlo.log_mean_exp(x),
        montecarlo.mcmc_mean(x.reshape(-1, 4)),
        montecarlo.monte_carlo_mean(x > 0),  # bool promoted to the default float
    ):
        assert all(a.dtype == jnp.float32 for a in est)
    with jax.enable_x64(True):
        x64 = jnp.asarray(x, jnp.float64)
        for est in (
            montecarlo.importance_sampling(x64, x64, x64),
            montecarlo.log_mean_exp(x64),
            montecarlo.mcmc_mean(np.arange(N).reshape(-1, 4) % 3),  # int -> float64
        ):
            assert all(a.dtype == jnp.float64 for a in est)


def test_jit_matches_eager():
    f, log_p, log_q = _gaussian_is_host(13, N)
    for fn in (montecarlo.importance_sampling, montecarlo.self_normalized_importance_sampling):
        for got, want in zip(jax.jit(fn)(f, log_p, log_q), fn(f, log_p, log_q)):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    log_w = log_p - log_q
    for got, want in zip(jax.jit(montecarlo.log_mean_exp)(log_w), montecarlo.log_mean_exp(log_w)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


# --------------------------------------------------------------------------
# Validation


def test_errors_name_the_argument():
    x = np.arange(10, dtype=np.float32)

    def at(i, value):
        y = x.copy()
        y[i] = value
        return y

    same_shape = r"log_p and log_q must have the same shape.*log_p \(10,\) and log_q \(9,\)"
    with pytest.raises(ValueError, match=same_shape):
        montecarlo.importance_sampling(x, x, x[:9])
    with pytest.raises(ValueError, match="log_p_unnormalized and log_q must have the same shape"):
        montecarlo.self_normalized_importance_sampling(x, x, x[:9])
    with pytest.raises(ValueError, match=r"matching the leading axes of values \(10,\)"):
        montecarlo.importance_sampling(x, x[:9], x[:9])
    with pytest.raises(ValueError, match=r"values contains 1 NaN or inf value\(s\).*index \(3,\)"):
        montecarlo.importance_sampling(at(3, np.nan), x, x)
    with pytest.raises(ValueError, match=r"log_p contains 1 NaN or \+inf"):
        montecarlo.importance_sampling(x, at(2, np.inf), x)
    with pytest.raises(ValueError, match="log_p contains 1 NaN"):
        montecarlo.importance_sampling(x, at(2, np.nan), x)
    with pytest.raises(ValueError, match="log_q contains 1 NaN or inf"):
        montecarlo.importance_sampling(x, x, at(0, -np.inf))
    with pytest.raises(ValueError, match="values must have at least 2 draws"):
        montecarlo.monte_carlo_mean(x[:1])
    with pytest.raises(ValueError, match="values must be .* got a scalar"):
        montecarlo.monte_carlo_mean(1.0)
    with pytest.raises(ValueError, match=r"trace has 3 draw\(s\) along draw_axis"):
        montecarlo.mcmc_mean(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="trace contains 1 NaN"):
        montecarlo.mcmc_mean(np.where(np.arange(20).reshape(10, 2) == 9, np.nan, 0.0))
    with pytest.raises(ValueError, match=r"trace must be \[n_draws, n_chains, \*event\]"):
        montecarlo.mcmc_mean(x)
    with pytest.raises(ValueError, match="log_w contains 1 NaN or \\+inf"):
        montecarlo.log_mean_exp(at(5, np.inf))
    with pytest.raises(ValueError, match="log_w must have at least 2 draws along axis 1"):
        montecarlo.log_mean_exp(np.zeros((5, 1)), axis=1)
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        montecarlo.kish_ess(np.zeros((5, 1)), axis=2)
    with pytest.raises(TypeError, match="values must be real-valued"):
        montecarlo.monte_carlo_mean(np.zeros(4, np.complex64))


# --------------------------------------------------------------------------
# Heavier runs: `pytest -m slow`


@pytest.mark.slow
def test_coverage_over_2000_seeds():
    """The same coverage checks with 5x the seeds: a band of ±0.02 around 0.95."""
    n_seeds = 2000
    band = 4 * np.sqrt(0.95 * 0.05 / n_seeds)
    keys = jax.random.split(jax.random.key(17), n_seeds)
    is_est, snis_est, lme_est, mc_est = _is_coverage_runs(keys)
    mcmc, naive = _ar1_coverage_runs(jax.random.split(jax.random.key(18), n_seeds))
    cov = {
        "is": coverage(is_est, 1.0),
        "snis": coverage(snis_est, 1.0),
        "log_mean_exp": coverage(lme_est, 0.0),
        "plain": coverage(mc_est, 1.0),
        "mcmc_ar1": coverage(mcmc, MU),
    }
    print(f"coverage over {n_seeds} seeds:", cov, "naive:", coverage(naive, MU))
    assert all(abs(c - 0.95) <= band for c in cov.values()), cov
    assert coverage(naive, MU) < 0.5


@pytest.mark.slow
def test_mcmc_coverage_on_rbm_gibbs_chains():
    """mcmc_mean of 0/1 Gibbs traces covers the exact marginals P(v_i = 1) at ~95% (400 seeds)."""
    params = random_params(5, 4, 3, scale=1.5)
    truth = np.asarray(exact.model_moments(params).v)

    @jax.jit
    def runs(keys):
        def one(key):
            trace = rbm_gibbs_trace(key, params, 1100, 4)[100:]
            return montecarlo.mcmc_mean(trace)

        return jax.vmap(one)(keys)

    est = runs(jax.random.split(jax.random.key(19), N_SEEDS))
    per_unit = [coverage(montecarlo.Estimate(*(a[:, i] for a in est)), truth[i]) for i in range(4)]
    print("RBM Gibbs coverage per visible unit:", per_unit)
    assert all(nominal(c) for c in per_unit), per_unit


def test_kish_ess_of_no_weights_is_refused_by_name():
    for empty, axis in ((np.zeros(0), 0), (np.zeros((3, 0)), 1), (np.zeros((0, 2)), 0)):
        with pytest.raises(ValueError, match=rf"log_w has no weights along axis {axis}"):
            montecarlo.kish_ess(empty, axis=axis)
    assert montecarlo.kish_ess(np.zeros((0, 2)), axis=1).shape == (0,)  # no entries, each with 2 weights
