"""Gaussian-Bernoulli RBMs (``GaussianRBMParams``) against references written here in numpy.

The model: E(v, h) = Σ_i (v_i − b_i)²/(2σ_i²) − cᵀh − Σ_ij (v_i/σ_i²) W_ij h_j, so
P(v | h) = N(b + Wh, diag σ²), P(h_j = 1 | v) = sigmoid(c_j + Σ_i v_i W_ij/σ_i²), and

    ∫ exp(−E(v, h)) dv = exp(cᵀh + Σ_i ((b + Wh)_i² − b_i²)/(2σ_i²)) Π_i sqrt(2π σ_i²),

so P(v) is a mixture of 2**n_hidden Gaussians N(b + Wh, diag σ²) with weights P(h) ∝ that
integral. Every reference below is written from these formulas in numpy (float64), and the
2-D quadrature of exp(−F(v)) on a uniform grid checks the closed form itself: for smooth,
rapidly decaying integrands the uniform-grid sum converges exponentially fast, so on a
grid of σ/30 spacing, ±10σ beyond every component, it is exact to round-off.

Statistical checks use fixed seeds and tolerances from the sample size: every mean,
covariance entry and variance is a z-score with |z| < Z_MAX = 5 (its standard error
estimated from the same N independent draws), and a Kolmogorov–Smirnov statistic on a
1-D projection must satisfy sqrt(N)·D < KS_C = 2.2 (Kolmogorov's limit law:
P(sqrt(N) D > 2.2) ≈ 2 exp(−2·2.2²) ≈ 1.2e-4). Each check has a negative control: a
model with one parameter off by 10% (or a deliberately wrong sampler) fails it.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rbm_jax import GaussianRBMParams, ais, exact, gibbs, metrics, rbm, train
from rbm_jax.types import GibbsState

F64 = jnp.float64
Z_MAX = 5.0
KS_C = 2.2
TOL = 1e-10  # float64 agreement of closed forms computed two ways

# The main 2-visible model: a balanced mixture of 8 components, several of them far apart
# (weights 0.16, 0.16, 0.26, 0.05, 0.07, 0.29, 0.01, 0.01), unequal σ not near 1 (so σ and σ²
# differ), strong enough couplings that P(h | v) depends on v.
W2 = [[1.2, -0.8, 0.5], [0.3, 1.0, -1.1]]
B2 = [0.2, -0.4]
C2 = [-3.5, 0.0, -1.25]
SIGMA2 = [0.6, 1.3]

# A 3-visible model for clamping and training: three components of weight 0.31, 0.34, 0.35
# (means (0, −0.6, 0), (−1, 0.6, 1), (1.5, 0.6, −0.8)), units 0 and 2 correlated −0.8, σ 0.35–0.7.
W3 = [[1.5, -1.0], [1.2, 1.2], [-0.8, 1.0]]
B3 = [0.0, -0.6, 0.0]
C3 = [-7.0, -6.0]
SIGMA3 = [0.5, 0.7, 0.35]


def gaussian_params(W, b, c, sigma) -> GaussianRBMParams:
    """Float64 GaussianRBMParams (call under x64)."""
    return GaussianRBMParams(jnp.asarray(W, F64), jnp.asarray(b, F64), jnp.asarray(c, F64),
                             jnp.log(jnp.asarray(sigma, F64)))


def model2():
    return gaussian_params(W2, B2, C2, SIGMA2)


def model3():
    return gaussian_params(W3, B3, C3, SIGMA3)


def random_gaussian(seed, n_visible, n_hidden, scale=0.7):
    rng = np.random.default_rng(seed)
    return gaussian_params(scale * rng.normal(size=(n_visible, n_hidden)), rng.normal(size=n_visible),
                           scale * rng.normal(size=n_hidden), np.exp(0.3 * rng.normal(size=n_visible)))


def perturbed_sigma(params, unit=0, factor=1.1):
    """The negative control: σ of one unit off by 10%."""
    return params._replace(log_sigma=params.log_sigma.at[unit].add(np.log(factor)))


def tempered(params, beta):
    """P_β ∝ exp(−β E) is the Gaussian RBM (W, b, βc, σ/sqrt(β)): β scales the quadratic and
    coupling terms alike, and (v/σ'²) W h with σ'² = σ²/β is β (v/σ²) W h."""
    return params._replace(c=beta * params.c, log_sigma=params.log_sigma - 0.5 * np.log(beta))


# ------------------------------------------------------------------ numpy references


def np_params(params):
    W, b, c, log_sigma = (np.asarray(x, np.float64) for x in params)
    return W, b, c, np.exp(log_sigma)


def logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def hidden_configs(n_hidden):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n_hidden)))


def np_energy(params, v, h):
    W, b, c, s = np_params(params)
    s2 = s**2
    return np.sum((v - b) ** 2 / (2 * s2), -1) - h @ c - np.sum(((v / s2) @ W) * h, -1)


def np_free_energy(params, v):
    """−log Σ_h exp(−E(v, h)) by enumerating h: v [..., n_v] -> [...]."""
    v = np.asarray(v, np.float64)
    H = hidden_configs(np.shape(params.c)[-1])
    return -logsumexp(-np_energy(params, v[..., None, :], H), axis=-1)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_log_normal(x, mean, sigma):
    """Σ_i log N(x_i; mean_i, sigma_i²), written out."""
    return np.sum(-0.5 * ((x - mean) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi), -1)


def np_log_hidden_weight(params, H):
    """log ∫ exp(−E(v, h)) dv for each row of H (the Gaussian integral, completed square)."""
    W, b, c, s = np_params(params)
    m = b + H @ W.T
    return H @ c + np.sum((m**2 - b**2) / (2 * s**2), -1) + np.sum(0.5 * np.log(2 * np.pi * s**2))


def np_log_z(params):
    return logsumexp(np_log_hidden_weight(params, hidden_configs(np.shape(params.c)[-1])))


def np_mixture(params):
    """(weights P(h) [2**n_h], means b + Wh [2**n_h, n_v], σ [n_v]), in itertools order."""
    W, b, _, s = np_params(params)
    H = hidden_configs(W.shape[1])
    lw = np_log_hidden_weight(params, H)
    return np.exp(lw - logsumexp(lw)), b + H @ W.T, s


def mixture_moments(weights, means, sigma):
    mu = weights @ means
    d = means - mu
    return mu, np.diag(sigma**2) + (weights[:, None] * d).T @ d


def mixture_cdf(x, weights, means, sigma, u):
    """CDF of uᵀv at x: Σ_h P(h) Φ((x − uᵀm_h)/sqrt(uᵀ diag σ² u)), Φ from math.erf."""
    s = math.sqrt(float(np.sum(u**2 * sigma**2)))
    z = (np.asarray(x)[:, None] - (means @ u)[None, :]) / (s * math.sqrt(2))
    phi = 0.5 * (1 + np.vectorize(math.erf)(z))
    return phi @ weights


def ks_statistic(x, cdf):
    """sup_x |F_N(x) − F(x)| of the sample x against the CDF ``cdf`` (vectorised callable)."""
    x = np.sort(np.asarray(x, np.float64))
    n = x.shape[0]
    F = cdf(x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - F), np.max(F - (i - 1) / n)))


def quadrature(params, n_grid=801, width=10.0):
    """2-D grid (uniform, ±``width`` σ beyond every mixture component) and log P(v)·dA on it.

    exp(−F) is computed by enumerating h in numpy; log Z is the log of its grid sum.
    Returns (points [n², 2], log of each point's probability mass, log Z).
    """
    _, means, s = np_mixture(params)
    axes = [np.linspace(means[:, i].min() - width * s[i], means[:, i].max() + width * s[i], n_grid)
            for i in range(2)]
    dA = (axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0])
    X, Y = np.meshgrid(*axes, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    neg_f = -np_free_energy(params, pts)
    log_z = logsumexp(neg_f) + np.log(dA)
    return pts, neg_f + np.log(dA) - log_z, log_z


def moment_z(x, mean, cov):
    """Largest |z| of the sample mean of x [N, d] against ``mean`` and of the sample covariance
    (centred at the TRUE mean, so each product's expectation is exactly cov) against ``cov``."""
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    z_mean = (x.mean(0) - mean) / (x.std(0, ddof=1) / np.sqrt(n))
    d = x - mean
    prods = d[:, :, None] * d[:, None, :]
    z_cov = (prods.mean(0) - cov) / (prods.std(0, ddof=1) / np.sqrt(n))
    return float(np.max(np.abs(z_mean))), float(np.max(np.abs(z_cov)))


def passes(x, weights, means, sigma, u):
    """(max |z| of mean and covariance, sqrt(N)·KS of uᵀx) against the mixture."""
    x = np.asarray(x, np.float64)
    mu, cov = mixture_moments(weights, means, sigma)
    zm, zc = moment_z(x, mu, cov)
    ks = np.sqrt(x.shape[0]) * ks_statistic(x @ u, lambda t: mixture_cdf(t, weights, means, sigma, u))
    return max(zm, zc), ks


U2 = np.array([0.8, 0.6])  # the KS projection: both units, so both σ's matter


# ------------------------------------------------------------------ 1. model math


def test_energy_free_energy_and_conditionals_match_the_formulas(x64):
    params = random_gaussian(1, 3, 4)
    rng = np.random.default_rng(2)
    v = rng.normal(size=(6, 3)) * 1.5
    h = rng.integers(0, 2, size=(6, 4)).astype(np.float64)
    W, b, c, s = np_params(params)
    np.testing.assert_allclose(rbm.energy(params, v, h), np_energy(params, v, h), rtol=0, atol=TOL)
    # F(v) = −log Σ_h exp(−E): enumerated in numpy, and with the library's own energy.
    np.testing.assert_allclose(rbm.free_energy(params, v), np_free_energy(params, v), rtol=0, atol=TOL)
    H = hidden_configs(4)
    e_lib = np.asarray(rbm.energy(params, jnp.asarray(v)[:, None, :], jnp.asarray(H)[None]))
    np.testing.assert_allclose(rbm.free_energy(params, v), -logsumexp(-e_lib), rtol=0, atol=TOL)
    # F_h(h) = −log ∫ exp(−E(v, h)) dv.
    np.testing.assert_allclose(rbm.hidden_free_energy(params, h), -np_log_hidden_weight(params, h),
                               rtol=0, atol=TOL)
    # P(v | h) = N(b + Wh, diag σ²): its mean and log-density, written by hand.
    mean = b + h @ W.T
    np.testing.assert_allclose(rbm.prob_v_given_h(params, h), mean, rtol=0, atol=TOL)
    np.testing.assert_allclose(rbm.log_prob_v_given_h(params, v, h), np_log_normal(v, mean, s),
                               rtol=0, atol=TOL)
    # P(h_j = 1 | v) = sigmoid(c + (v/σ²) W).
    p_h = np_sigmoid(c + (v / s**2) @ W)
    np.testing.assert_allclose(rbm.prob_h_given_v(params, v), p_h, rtol=0, atol=TOL)
    np.testing.assert_allclose(rbm.log_prob_h_given_v(params, h, v),
                               np.sum(h * np.log(p_h) + (1 - h) * np.log1p(-p_h), -1), rtol=0, atol=TOL)
    # The pieces fit together: P(v | h) = exp(−E(v, h)) / ∫ exp(−E(v', h)) dv'.
    np.testing.assert_allclose(rbm.log_prob_v_given_h(params, v, h),
                               -np_energy(params, v, h) - np_log_hidden_weight(params, h), rtol=0, atol=TOL)


def test_metrics_match_the_formulas(x64):
    """reconstruction_error = mean Σ_i (v − (b + W P(h|v)))², free_energy_gap = mean F(held) − mean F(train),
    metrics.log_likelihood exact (closed-form mixture)."""
    params = random_gaussian(1, 3, 4)
    W, b, c, s = np_params(params)
    v = np.random.default_rng(3).normal(size=(8, 3))
    recon = b + np_sigmoid(c + (v / s**2) @ W) @ W.T
    ref = np.mean(np.sum((v - recon) ** 2, -1))
    np.testing.assert_allclose(metrics.reconstruction_error(params, v), ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(metrics.free_energy_gap(params, v, v[:3]),
                               np.mean(np_free_energy(params, v[:3])) - np.mean(np_free_energy(params, v)),
                               rtol=0, atol=TOL)
    est = metrics.log_likelihood(params, v)
    assert est.method == "exact" and float(est.stderr) == 0
    np.testing.assert_allclose(est.value, np.mean(-np_free_energy(params, v)) - np_log_z(params), rtol=0, atol=TOL)
    # Negative control: σ 10% off moves the reconstruction error far beyond TOL.
    assert abs(float(metrics.reconstruction_error(perturbed_sigma(params), v)) - ref) > 1e3 * TOL


def test_model_math_negative_controls(x64):
    """The references above see a 10% error: each formula with σ off by 10% is far outside TOL."""
    params = random_gaussian(1, 3, 4)
    wrong = perturbed_sigma(params)
    rng = np.random.default_rng(2)
    v = rng.normal(size=(6, 3)) * 1.5
    h = rng.integers(0, 2, size=(6, 4)).astype(np.float64)
    W, b, c, s = np_params(params)
    assert np.max(np.abs(rbm.energy(wrong, v, h) - np_energy(params, v, h))) > 1e3 * TOL
    assert np.max(np.abs(rbm.free_energy(wrong, v) - np_free_energy(params, v))) > 1e3 * TOL
    assert np.max(np.abs(rbm.log_prob_v_given_h(wrong, v, h) - np_log_normal(v, b + h @ W.T, s))) > 1e3 * TOL
    assert np.max(np.abs(rbm.prob_h_given_v(wrong, v) - np_sigmoid(c + (v / s**2) @ W))) > 1e3 * TOL
    # σ used where σ² belongs (a classic slip) is just as visible.
    assert np.max(np.abs(np.asarray(rbm.prob_h_given_v(params, v)) - np_sigmoid(c + (v / s) @ W))) > 1e-2


def test_conditional_samplers_draw_their_laws(x64):
    """v ~ N(b + Wh, σ²) and h ~ Bernoulli(P(h|v)) by CLT z-scores; a sampler with σ² as its
    standard deviation (and the model with σ off by 10%) is rejected."""
    params = model2()
    W, b, c, s = np_params(params)
    n = 100_000
    h = np.broadcast_to(np.array([1.0, 0.0, 1.0]), (n, 3))
    v = np.asarray(rbm.sample_v_given_h(jax.random.key(0), params, h))
    assert v.shape == (n, 2) and v.dtype == np.float64
    mean = b + h[0] @ W.T
    zm, zc = moment_z(v, mean, np.diag(s**2))
    assert zm < Z_MAX and zc < Z_MAX, (zm, zc)
    # The same draw with standard deviation σ² instead of σ, and the 10%-σ model, are far off.
    wrong_sampler = mean + (v - mean) * s  # noise scaled by σ², not σ
    assert max(moment_z(wrong_sampler, mean, np.diag(s**2))) > 4 * Z_MAX
    v_wrong = np.asarray(rbm.sample_v_given_h(jax.random.key(0), perturbed_sigma(params), h))
    assert max(moment_z(v_wrong, mean, np.diag(s**2))) > Z_MAX
    # h | v: one fixed v, n draws.
    v0 = np.broadcast_to(np.array([0.5, -1.0]), (n, 2))
    hs = np.asarray(rbm.sample_h_given_v(jax.random.key(1), params, v0))
    assert set(np.unique(hs).tolist()) <= {0.0, 1.0}
    p = np_sigmoid(c + (v0[0] / s**2) @ W)
    z = (hs.mean(0) - p) / np.sqrt(p * (1 - p) / n)
    assert np.max(np.abs(z)) < Z_MAX, z


# ------------------------------------------------------------------ 2. exact references


@pytest.fixture(scope="module")
def quad2():
    with jax.enable_x64(True):
        return quadrature(model2())


def test_log_partition_and_log_marginal_against_quadrature(x64, quad2):
    params = model2()
    pts, log_mass, log_z_quad = quad2
    log_z = float(exact.log_partition(params))
    # Three ways: the library, the closed-form sum over h, and 2-D quadrature of exp(−F(v)).
    np.testing.assert_allclose(log_z, np_log_z(params), rtol=0, atol=TOL)
    np.testing.assert_allclose(log_z, log_z_quad, rtol=0, atol=1e-9)
    # The quadrature's masses sum to 1 (and so the density integrates to 1).
    np.testing.assert_allclose(np.exp(logsumexp(log_mass)), 1.0, atol=1e-12)
    rng = np.random.default_rng(3)
    v = rng.normal(size=(7, 2)) * 2
    np.testing.assert_allclose(exact.log_marginal_v(params, v), -np_free_energy(params, v) - log_z_quad,
                               rtol=0, atol=1e-9)
    # The mixture density Σ_h P(h) N(v; m_h, σ²) is the same function.
    w, means, s = np_mixture(params)
    mix = logsumexp(np.log(w)[None, :] + np.stack([np_log_normal(v, m, s) for m in means], axis=1))
    np.testing.assert_allclose(exact.log_marginal_v(params, v), mix, rtol=0, atol=1e-9)
    rows = v[[0, 2, 2, 5]]
    np.testing.assert_allclose(exact.log_likelihood(params, rows), np.mean(mix[[0, 2, 2, 5]]), rtol=0, atol=1e-9)
    # Negative control: 10% off in σ_0, or in c_1, moves log Z far beyond the tolerance.
    for wrong in (perturbed_sigma(params), params._replace(c=params.c.at[2].multiply(1.1))):
        assert abs(float(exact.log_partition(wrong)) - log_z_quad) > 1e-3


def test_moments_and_mixture_against_quadrature_and_closed_form(x64, quad2):
    params = model2()
    pts, log_mass, _ = quad2
    mass = np.exp(log_mass)
    W, b, c, s = np_params(params)
    # Quadrature moments of P(v), and of h through E[h | v].
    mu_q = mass @ pts
    d = pts - mu_q
    cov_q = (mass[:, None] * d).T @ d
    p_h = np_sigmoid(c + (pts / s**2) @ W)
    h_q, vh_q = mass @ p_h, (mass[:, None] * pts).T @ p_h
    # Closed-form mixture.
    w, means, sigma = np_mixture(params)
    mu_c, cov_c = mixture_moments(w, means, sigma)
    np.testing.assert_allclose(mu_q, mu_c, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cov_q, cov_c, rtol=0, atol=1e-9)
    # The library: visible_mixture's fields, its covariance, and model_moments.
    mix = exact.visible_mixture(params)
    np.testing.assert_allclose(np.exp(mix.log_weights), w, rtol=0, atol=TOL)
    np.testing.assert_allclose(mix.means, means, rtol=0, atol=TOL)
    np.testing.assert_allclose(mix.sigma, sigma, rtol=0, atol=TOL)
    mu_lib, cov_lib = mixture_moments(np.exp(np.asarray(mix.log_weights)), np.asarray(mix.means),
                                      np.asarray(mix.sigma))
    np.testing.assert_allclose(cov_lib, cov_q, rtol=0, atol=1e-9)
    m = exact.model_moments(params)
    np.testing.assert_allclose(m.v, mu_q, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m.h, h_q, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m.vh, vh_q, rtol=0, atol=1e-9)
    # Negative control: the model with σ_0 10% off disagrees with the quadrature's covariance,
    # and with W[0, 0] 10% off with its mean and ⟨v hᵀ⟩.
    mw = exact.visible_mixture(perturbed_sigma(params))
    _, cov_w = mixture_moments(np.exp(np.asarray(mw.log_weights)), np.asarray(mw.means), np.asarray(mw.sigma))
    assert np.max(np.abs(cov_w - cov_q)) > 1e-3
    m_w = exact.model_moments(params._replace(W=params.W.at[0, 0].multiply(1.1)))
    assert np.max(np.abs(np.asarray(m_w.v) - mu_q)) > 1e-3 and np.max(np.abs(np.asarray(m_w.vh) - vh_q)) > 1e-3


def test_sample_exact_has_the_mixture_moments_and_law(x64):
    params = model2()
    w, means, s = np_mixture(params)
    n = 100_000
    x = exact.sample_exact(jax.random.key(4), params, n)
    assert x.shape == (n, 2) and x.dtype == jnp.float64
    z, ks = passes(x, w, means, s, U2)
    assert z < Z_MAX and ks < KS_C, (z, ks)
    # Negative control: the mixture of the model with σ_0 10% off rejects the same draws.
    w2, means2, s2 = np_mixture(perturbed_sigma(params))
    z_w, ks_w = passes(x, w2, means2, s2, U2)
    assert z_w > Z_MAX and ks_w > KS_C, (z_w, ks_w)


def np_log_likelihood(theta, shapes, data):
    """Mean log P(v) of ``data`` for flat float64 parameters (numpy closed form)."""
    parts, i = [], 0
    for shp in shapes:
        k = int(np.prod(shp))
        parts.append(theta[i:i + k].reshape(shp))
        i += k
    p = GaussianRBMParams(*parts)
    return float(np.mean(-np_free_energy(p, data)) - np_log_z(p))


def test_exact_gradient_equals_autodiff_and_finite_differences(x64):
    params = random_gaussian(5, 3, 3)
    data = np.asarray(exact.sample_exact(jax.random.key(5), random_gaussian(6, 3, 2, scale=1.2), 40))
    g_train = train.exact_gradient(params, data)
    g_auto = jax.grad(exact.log_likelihood)(params, jnp.asarray(data))
    assert isinstance(g_train, GaussianRBMParams)
    for a, bb in zip(g_train, g_auto):
        np.testing.assert_allclose(a, bb, rtol=0, atol=TOL)
    # Central differences of the numpy log-likelihood (an independent implementation).
    shapes = [np.shape(x) for x in params]
    theta = np.concatenate([np.asarray(x).ravel() for x in params])
    eps = 1e-6
    fd = np.array([(np_log_likelihood(theta + eps * e, shapes, data)
                    - np_log_likelihood(theta - eps * e, shapes, data)) / (2 * eps) for e in np.eye(theta.size)])
    g_flat = np.concatenate([np.asarray(x).ravel() for x in g_train])
    fd_tol = 1e-7
    np.testing.assert_allclose(g_flat, fd, rtol=0, atol=fd_tol)
    # Data statistics (train.data_statistics, what every estimator's positive phase uses) minus the
    # model's, the latter in closed form over the mixture: given h, v ~ N(m_h, σ²) with m_h = b + Wh,
    # so E[(v/σ²) hᵀ | h] = (m_h/σ²) hᵀ, E[(v − b)/σ² | h] = (m_h − b)/σ², and for log σ
    # E[((v − b)² − 2 v (Wh))/σ² | h] = (σ² + (m_h − b)² − 2 m_h (m_h − b))/σ².
    W, b, c, s = np_params(params)
    w, means, _ = np_mixture(params)
    H = hidden_configs(3)
    d = means - b  # Wh
    model_stats = GaussianRBMParams(
        np.einsum("k,ki,kj->ij", w, means / s**2, H), w @ (d / s**2), w @ H,
        w @ ((s**2 + d**2 - 2 * means * d) / s**2))
    pos = train.data_statistics(params, data)
    np.testing.assert_allclose(pos.c, np_sigmoid(c + (data / s**2) @ W).mean(0), rtol=0, atol=TOL)
    for name, g, p_, m_ in zip(GaussianRBMParams._fields, g_train, pos, model_stats):
        np.testing.assert_allclose(g, np.asarray(p_) - m_, rtol=0, atol=1e-9, err_msg=name)
    # Negative control: a 10% error in any one leaf of the gradient is far outside the tolerance.
    for name, leaf in zip(GaussianRBMParams._fields, g_train):
        err = np.max(np.abs(0.1 * np.asarray(leaf)))
        assert err > 100 * fd_tol, (name, err)


# ------------------------------------------------------------------ 3. samplers: stationarity


N_CHAINS = 50_000


@pytest.fixture(scope="module")
def gibbs_run():
    """Chains from exact samples of model 2, with the model and with σ_0 10% off, 5 sweeps each."""
    with jax.enable_x64(True):
        params = model2()
        v0 = exact.sample_exact(jax.random.key(10), params, N_CHAINS)
        _, trace = gibbs.sample_chains(jax.random.key(11), params, v0, 5, transform=gibbs.keep_v)
        _, trace_wrong = gibbs.sample_chains(jax.random.key(11), perturbed_sigma(params), v0, 5,
                                             transform=gibbs.keep_v)
        # A deliberately wrong sampler, by hand: h ~ P(h | v), then v = b + Wh + σ²·noise.
        W, b, _, s = np_params(params)
        v = np.asarray(v0)
        for t in range(5):
            kh, kv = jax.random.split(jax.random.key(100 + t))
            hh = np.asarray(rbm.sample_h_given_v(kh, params, v))
            v = b + hh @ W.T + s**2 * np.asarray(jax.random.normal(kv, v.shape, F64))
        return np.asarray(trace), np.asarray(trace_wrong), v


def test_gibbs_chains_keep_the_mixture(gibbs_run):
    trace = gibbs_run[0]
    assert trace.shape == (5, N_CHAINS, 2)
    with jax.enable_x64(True):
        w, means, s = np_mixture(model2())
    for t in (1, 5):
        z, ks = passes(trace[t - 1], w, means, s, U2)
        assert z < Z_MAX and ks < KS_C, (t, z, ks)


def test_gibbs_negative_controls_fail(gibbs_run):
    """The library's sampler on the model with σ_0 10% off, and a hand-made sampler that draws
    with standard deviation σ² instead of σ, both fail the moment and the KS checks."""
    _, trace_wrong, v_wrong_sampler = gibbs_run
    with jax.enable_x64(True):
        w, means, s = np_mixture(model2())
    z, ks = passes(trace_wrong[4], w, means, s, U2)
    assert z > Z_MAX and ks > KS_C, (z, ks)
    z, ks = passes(v_wrong_sampler, w, means, s, U2)
    assert z > Z_MAX and ks > KS_C, (z, ks)


PT_BETAS = (1.0, 0.6, 0.3)


def pt_rung0(params_run, params_start, key):
    """PT systems started at exact draws of each rung's tempered law (of ``params_start``)."""
    v0 = jnp.stack([exact.sample_exact(jax.random.fold_in(jax.random.key(20), k), tempered(params_start, b),
                                       N_CHAINS)[: N_CHAINS // 2] for k, b in enumerate(PT_BETAS)], axis=1)
    final, trace = gibbs.sample_pt(key, params_run, v0, 5, betas=jnp.asarray(PT_BETAS, F64))
    return final, np.asarray(trace)


def test_pt_rung_zero_keeps_the_mixture(x64):
    params = model2()
    final, trace = pt_rung0(params, params, jax.random.key(21))
    assert trace.shape == (5, N_CHAINS // 2, 2)
    acc = np.asarray(gibbs.swap_acceptance(final)).mean(0)
    assert np.all(acc > 0.05), acc  # swaps do happen, so the ratio is exercised
    w, means, s = np_mixture(params)
    for t in (1, 5):
        z, ks = passes(trace[t - 1], w, means, s, U2)
        assert z < Z_MAX and ks < KS_C, (t, z, ks)
    # The hotter rungs keep their own tempered mixtures, N(b + Wh, σ²/β) with P_β(h).
    final_v = np.asarray(final.v)
    for k, beta in enumerate(PT_BETAS[1:], start=1):
        wk, mk, sk = np_mixture(tempered(params, beta))
        np.testing.assert_allclose(sk, s / np.sqrt(beta))
        z, ks = passes(final_v[:, k], wk, mk, sk, U2)
        assert z < Z_MAX and ks < KS_C, (beta, z, ks)
    # Negative control: PT on the model with σ_0 10% off fails the rung-0 check.
    _, trace_w = pt_rung0(perturbed_sigma(params), params, jax.random.key(21))
    z, ks = passes(trace_w[4], w, means, s, U2)
    assert z > Z_MAX and ks > KS_C, (z, ks)


def conditional_mixture(params, mask, values):
    """P(v_free | v_clamped = values[mask]): weights ∝ P(h) N(values_C; m_h,C, σ_C²) (Bayes over h),
    components N(m_h,free, σ_free²)."""
    w, means, s = np_mixture(params)
    lw = np.log(w) + np_log_normal(values[mask][None, :], means[:, mask], s[mask])
    post = np.exp(lw - logsumexp(lw))
    return post, means[:, ~mask], s[~mask]


def test_clamped_sampling_keeps_the_exact_conditional(x64):
    params = model3()
    mask = np.array([False, True, False])
    values = np.array([0.0, -1.0, 0.0])
    post, means_f, s_f = conditional_mixture(params, mask, values)
    mu, _ = mixture_moments(post, means_f, s_f)
    w, means, s = np_mixture(params)
    mu_marg, _ = mixture_moments(w, means, s)
    # Clamping changes the law: the posterior over components moves from (0.31, 0.34, 0.35)
    # to (0.84, 0.08, 0.08).
    assert np.max(np.abs(mu - mu_marg[~mask])) > 0.1 and np.max(post) > 0.8
    n = N_CHAINS // 2
    # Exact draws of the conditional: h from the posterior, then the free units ~ N(m_h, σ²).
    rng = np.random.default_rng(30)
    h_idx = rng.choice(post.size, n, p=post)
    v0 = np.tile(values, (n, 1))
    v0[:, ~mask] = means_f[h_idx] + s_f * rng.normal(size=(n, 2))
    u = np.array([0.6, -0.8])
    _, trace = gibbs.sample_chains(jax.random.key(31), params, v0, 30, clamp=mask, transform=gibbs.keep_v)
    trace = np.asarray(trace)
    assert np.all(trace[:, :, mask] == values[mask])  # clamped units never move
    for t in (1, 5, 30):
        z, ks = passes(trace[t - 1][:, ~mask], post, means_f, s_f, u)
        assert z < Z_MAX and ks < KS_C, (t, z, ks)
    # Negative control: the model with σ of a free unit 10% off fails the check.
    _, trace_w = gibbs.sample_chains(jax.random.key(31), perturbed_sigma(params, unit=2), v0, 30, clamp=mask,
                                     transform=gibbs.keep_v)
    z, ks = passes(np.asarray(trace_w)[4][:, ~mask], post, means_f, s_f, u)
    assert z > Z_MAX, (z, ks)


def test_tempered_step_draws_the_tempered_conditional(x64):
    """One tempered sweep from a fixed h draws v ~ N(b + Wh, σ²/β), then h ~ sigmoid(β(c + (v/σ²)W))."""
    params = model2()
    W, b, c, s = np_params(params)
    n, beta = 100_000, 0.4
    h = np.broadcast_to(np.array([0.0, 1.0, 1.0]), (n, 3))
    state = GibbsState(jnp.zeros((n, 2), F64), jnp.asarray(h))
    new = gibbs.tempered_step(jax.random.key(40), params, state, beta)
    v = np.asarray(new.v)
    mean = b + h[0] @ W.T
    var = s**2 / beta
    z_mean = (v.mean(0) - mean) / np.sqrt(var / n)
    # The sample variance of n normal draws has standard error var·sqrt(2/(n − 1)).
    z_var = (v.var(0, ddof=1) - var) / (var * np.sqrt(2 / (n - 1)))
    assert np.max(np.abs(z_mean)) < Z_MAX and np.max(np.abs(z_var)) < Z_MAX, (z_mean, z_var)
    # Negative controls: the untempered variance σ², and σ²·β, are far outside.
    for wrong in (s**2, s**2 * beta, s**2 / (beta * 1.1)):
        z_wrong = (v.var(0, ddof=1) - wrong) / (wrong * np.sqrt(2 / (n - 1)))
        assert np.max(np.abs(z_wrong)) > Z_MAX, wrong
    # The new h is a draw of P_β(h | v'): its mean against the Rao-Blackwellised mean over v'.
    p = np_sigmoid(beta * (c + (v / s**2) @ W))
    hs = np.asarray(new.h)
    z_h = (hs - p).mean(0) / np.sqrt(np.mean(p * (1 - p), axis=0) / n)
    assert np.max(np.abs(z_h)) < Z_MAX, z_h
    p_untempered = np_sigmoid(c + (v / s**2) @ W)
    z_wrong = (hs - p_untempered).mean(0) / np.sqrt(np.mean(p_untempered * (1 - p_untempered), axis=0) / n)
    assert np.max(np.abs(z_wrong)) > Z_MAX


# ------------------------------------------------------------------ 4. AIS


AIS_SLACK = 0.02  # absolute slack for the (small, Jensen) bias of a 1,000-step schedule


@pytest.mark.parametrize("direction, use_data", [
    ("forward", True), ("forward", False), ("reverse", False),
    pytest.param("reverse", True, marks=pytest.mark.slow)])
def test_ais_estimates_match_the_exact_log_partition(x64, direction, use_data):
    params = model2()
    log_z = float(exact.log_partition(params))
    wrong_log_z = float(exact.log_partition(perturbed_sigma(params)))
    # (N_CHAINS draws, as elsewhere in this file, so that sample_exact compiles once.)
    data = exact.sample_exact(jax.random.key(50), params, N_CHAINS)[:500] if use_data else None
    run = ais.log_partition if direction == "forward" else ais.reverse_log_partition
    r = run(jax.random.key(51), params, n_runs=200, n_betas=1000, data=data)
    est, se = float(r.log_z), float(r.stderr)
    assert np.isfinite(est) and 0 < se < 0.05 and not bool(r.degenerate), (est, se)
    assert bool(r.reverse) == (direction == "reverse") and not bool(r.heuristic)
    tol = 4 * se + AIS_SLACK
    assert abs(est - log_z) < tol, (est, log_z, se)
    # Negative control: the log Z of the model with σ_0 10% off is outside the same tolerance.
    assert abs(est - wrong_log_z) > tol, (est, wrong_log_z, se)


def test_ais_base_model_is_the_data_diagonal_gaussian(x64):
    """The data base is N(mean, var) per unit, and log Z_A is its closed form (plus n_h log 2)."""
    params = model2()
    data = np.asarray(exact.sample_exact(jax.random.key(55), params, N_CHAINS)[:500])
    ref = ais.base_model(params, data)
    mu, var = data.mean(0), data.var(0)
    np.testing.assert_allclose(np.asarray(ref.v.lin) / np.asarray(ref.v.prec), mu, rtol=1e-12)
    np.testing.assert_allclose(1 / np.asarray(ref.v.prec), var, rtol=1e-5)  # a 1e-6·mean-var floor
    r = ais.log_partition(jax.random.key(56), params, n_runs=200, n_betas=1000, data=data)
    v_prec = np.asarray(ref.v.prec)
    expected = np.sum(0.5 * mu**2 * v_prec - 0.5 * np.log(v_prec / (2 * np.pi))) + 3 * np.log(2)
    np.testing.assert_allclose(r.log_z_base, expected, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ 5. training


@pytest.fixture(scope="module")
def teacher_data():
    with jax.enable_x64(True):
        return np.asarray(exact.sample_exact(jax.random.key(60), model3(), 600))


def student(data, n_hidden=3):
    return rbm.init_params(jax.random.key(61), 3, n_hidden, data=data, family="gaussian", dtype=F64,
                           weight_scale=0.1)


# σ_floor = 0.6 binds: the teacher's σ_2 is 0.35, so learning pushes the student's σ_2 onto the floor.
FLOOR = 0.6
FIT_KW = dict(n_epochs=30, batch_size=20, learning_rate=0.003, metrics_every=30, exact_likelihood=True,
              sigma_floor=FLOOR)


@pytest.mark.parametrize("method", ["cd", pytest.param("pcd", marks=pytest.mark.slow),
                                    pytest.param("pt", marks=pytest.mark.slow)])
def test_fit_improves_the_exact_likelihood(x64, teacher_data, method):
    """Data from the 3-component teacher; the student starts at the data's diagonal Gaussian
    (W ≈ 0, b the data mean, σ its std) and must learn the correlations: the exact average
    log-likelihood rises from −4.08 by 0.45–0.5 nats (measured), asserted > 0.15."""
    X = teacher_data
    p0 = student(X)
    ll0 = float(exact.log_likelihood(p0, X))
    params, history = train.fit(jax.random.key(62), p0, X, method=method, **FIT_KW)
    assert isinstance(params, GaussianRBMParams)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in params)
    ll = float(exact.log_likelihood(params, X))
    assert ll > ll0 + 0.15, (ll0, ll)
    assert ll < float(exact.log_likelihood(model3(), X)) + 0.05  # and does not beat the truth by much
    np.testing.assert_allclose(history["log_likelihood"][-1], ll, rtol=0, atol=1e-9)
    assert not any("pseudo" in key for key in history), sorted(history)
    assert np.isfinite(history["recon_error"][-1]) and np.isfinite(history["grad_norm"]).all()
    # σ learns (after the one-epoch warm-up, at a tenth of the rate) and is floored: σ_2 is pushed
    # onto the floor (within 1%; measured: exactly on it for cd and pt), never below it.
    ls = np.asarray(params.log_sigma)
    assert np.max(np.abs(ls - np.asarray(p0.log_sigma))) > 1e-2
    assert np.all(ls >= np.log(FLOOR) - 1e-15), np.exp(ls)
    assert np.min(ls) < np.log(FLOOR * 1.01), np.exp(ls)


def test_fit_many_model_i_equals_fit_alone(x64, teacher_data):
    X = teacher_data
    p0 = student(X)
    keys = jax.random.split(jax.random.key(63), 2)
    many, hist_many = train.fit_many(keys, p0, X, method="cd", **FIT_KW)
    assert isinstance(many, GaussianRBMParams) and many.log_sigma.shape == (2, 3)
    for i in range(2):
        alone, hist = train.fit(keys[i], p0, X, method="cd", **FIT_KW)
        for a, bb in zip(jax.tree_util.tree_map(lambda x: x[i], many), alone):
            np.testing.assert_allclose(a, bb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(hist_many["log_likelihood"][i], hist["log_likelihood"], rtol=0, atol=1e-12)
    # The two models differ (the keys matter), so the equality above is not vacuous.
    assert np.max(np.abs(np.asarray(many.W[0]) - np.asarray(many.W[1]))) > 1e-3
    assert not any("pseudo" in key for key in hist_many)


def test_zero_log_sigma_rate_holds_sigma_fixed(x64, teacher_data):
    """log_sigma_rate = 0 holds σ exactly, even with no warm-up, while the rest learns
    (test_fit_improves_the_exact_likelihood shows σ moving at the default rate)."""
    X = teacher_data
    p0 = student(X)
    assert np.all(np.exp(np.asarray(p0.log_sigma)) > FLOOR)  # so the floor does not move σ either
    frozen, _ = train.fit(jax.random.key(64), p0, X, method="cd", log_sigma_rate=0.0, sigma_warmup_epochs=0,
                          **FIT_KW)
    np.testing.assert_array_equal(frozen.log_sigma, p0.log_sigma)
    assert np.max(np.abs(np.asarray(frozen.W) - np.asarray(p0.W))) > 1e-2


# ------------------------------------------------------------------ 6. bad input


def test_nan_and_inf_in_gaussian_data_are_refused_by_name(x64):
    params = model2()
    bad = np.zeros((10, 2))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^data contains 1 NaN/inf"):
        train.fit(jax.random.key(0), params, bad, n_epochs=1, batch_size=5)
    with pytest.raises(ValueError, match=r"^data contains 1 NaN/inf"):
        exact.log_likelihood(params, bad)
    with pytest.raises(ValueError, match=r"^v0 contains 1 NaN/inf"):
        gibbs.sample_chains(jax.random.key(0), params, bad, 2)
    with pytest.raises(ValueError, match=r"^v contains"):
        exact.log_marginal_v(params, bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"^data contains 1 NaN/inf"):
        exact.log_likelihood(params, bad)
    with pytest.raises(ValueError, match=r"^v0 contains 1 NaN/inf"):
        gibbs.sample_chains(jax.random.key(0), params, bad, 2)
    with pytest.raises(ValueError, match=r"log_sigma"):
        exact.log_partition(params._replace(log_sigma=params.log_sigma.at[0].set(np.nan)))
    # Real values far outside [0, 1] are legal Gaussian data (not the binary rule).
    assert np.isfinite(float(exact.log_likelihood(params, np.full((3, 2), 7.5))))


def test_functions_without_a_gaussian_meaning_raise_type_error(x64):
    params = model2()
    X = np.zeros((4, 2))
    with pytest.raises(TypeError, match="pseudo_log_likelihood"):
        metrics.pseudo_log_likelihood(params, X)
    with pytest.raises(TypeError, match="continuous"):
        exact.marginal_v_table(params)
    with pytest.raises(TypeError, match="continuous"):
        exact.log_marginal_v_table(params)
    with pytest.raises(TypeError, match="gibbs_transition_matrix"):
        exact.gibbs_transition_matrix(params)


def test_wrong_shaped_log_sigma_is_named(x64):
    params = model2()
    wrong = params._replace(log_sigma=jnp.zeros(3, F64))
    v, h = np.zeros((1, 2)), np.zeros((1, 3))
    for call in (lambda: rbm.energy(wrong, v, h), lambda: rbm.free_energy(wrong, v),
                 lambda: exact.log_partition(wrong), lambda: exact.sample_exact(jax.random.key(0), wrong, 3),
                 lambda: gibbs.sample_chains(jax.random.key(0), wrong, v, 1),
                 lambda: train.fit(jax.random.key(0), wrong, np.zeros((10, 2)), n_epochs=1, batch_size=5)):
        with pytest.raises(ValueError, match=r"params\.log_sigma must be \[n_visible\] = \[2\]"):
            call()
    with pytest.raises(ValueError, match=r"log_sigma"):
        rbm.energy(params._replace(log_sigma=jnp.zeros((2, 1), F64)), v, h)
