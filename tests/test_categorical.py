"""Categorical (Potts) RBMs (``CategoricalRBMParams``) against full enumeration written here in numpy.

The model: v ∈ {0, …, q−1}^n_v (int32), h ∈ {0, 1}^n_h,

    E(v, h) = −Σ_i b[i, v_i] − cᵀh − Σ_ij W[i, v_i, j] h_j,

so P(v_i = a | h) = softmax_a(b[i, ·] + W[i, ·, :] h) and P(h_j = 1 | v) = sigmoid(c_j + Σ_i W[i, v_i, j]).
Every exact reference below enumerates the JOINT (v, h) with itertools.product in float64,
independently of the library, which enumerates one layer and sums the other out.

Statistical checks use fixed seeds and compare a histogram of N independent draws with an
exact distribution p: TV < tv_bound(p, N) = 4 × ½ Σ sqrt(p(1−p)/N), four times the scale of the
TV of an N-sample histogram (the expected TV is about a fifth of the bound). Each check has a
negative control: the same check on a model with one parameter 10% off fails it (the models
are chosen so that the 10% error is visible: measured, the wrong model's histograms sit at
1.9–3.7 bounds, the right ones at 0.1–0.4).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rbm_jax import CategoricalRBMParams, RBMParams, ais, exact, gibbs, metrics, rbm, train

F64 = jnp.float64
TOL = 1e-10
Z_MAX = 5.0


def cat_params(seed, n_visible, n_states, n_hidden, scale=1.0) -> CategoricalRBMParams:
    """Float64 CategoricalRBMParams with N(0, scale²) entries (call under x64)."""
    rng = np.random.default_rng(seed)
    return CategoricalRBMParams(jnp.asarray(scale * rng.normal(size=(n_visible, n_states, n_hidden)), F64),
                                jnp.asarray(scale * rng.normal(size=(n_visible, n_states)), F64),
                                jnp.asarray(scale * rng.normal(size=n_hidden), F64))


def scaled(params, beta):
    """P_β ∝ exp(−β E): every parameter times β."""
    return jax.tree_util.tree_map(lambda x: beta * x, params)


def wrong_b(params):
    """The negative control: visible fields off by 10%."""
    return params._replace(b=1.1 * params.b)


def tv_bound(p, n: int) -> float:
    p = np.asarray(p, np.float64)
    return float(4 * 0.5 * np.sum(np.sqrt(p * (1 - p) / n)))


def histogram(samples, q):
    """Frequencies of integer rows [..., n] over all q**n configurations, in itertools order
    (computed here, not with exact.empirical_distribution)."""
    x = np.asarray(samples).reshape(-1, np.shape(samples)[-1])
    n = x.shape[1]
    idx = x @ (q ** np.arange(n - 1, -1, -1))
    return np.bincount(idx, minlength=q**n) / x.shape[0]


def tv(p, q):
    return float(0.5 * np.sum(np.abs(np.asarray(p) - np.asarray(q))))


# ------------------------------------------------------------------ numpy enumeration


def np_params(params):
    return tuple(np.asarray(x, np.float64) for x in params)


def visible_configs(n_visible, q):
    return np.array(list(itertools.product(range(q), repeat=n_visible)), dtype=np.int64)


def hidden_configs(n_hidden):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n_hidden)))


def np_energy(params, v, h):
    """E(v, h) for integer v [..., n_v] and h [..., n_h] (broadcast batch axes)."""
    W, b, c = np_params(params)
    v = np.asarray(v)
    sites = np.arange(W.shape[0])
    field = b[sites, v].sum(-1)  # Σ_i b[i, v_i]
    coupling = W[sites, v, :].sum(-2)  # Σ_i W[i, v_i, :]  -> [..., n_h]
    return -field - h @ c - np.sum(coupling * h, -1)


def logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def joint_table(params):
    """(P(v, h) [q**n_v, 2**n_h], V, H, log Z): the full joint, enumerated."""
    W = np.asarray(params.W)
    n_v, q, n_h = W.shape
    V, H = visible_configs(n_v, q), hidden_configs(n_h)
    neg_e = -np_energy(params, V[:, None, :], H[None, :, :])
    log_z = logsumexp(neg_e.ravel())
    return np.exp(neg_e - log_z), V, H, log_z


def one_hot(V, q):
    return np.eye(q)[V]  # [..., n_v, q]


def np_log_likelihood(params, data):
    joint, V, _, log_z = joint_table(params)
    p_v = joint.sum(1)
    q = np.asarray(params.W).shape[1]
    idx = np.asarray(data) @ (q ** np.arange(np.shape(data)[1] - 1, -1, -1))
    return float(np.mean(np.log(p_v[idx])))


# Small models for the exact references, in both enumeration branches:
# hidden smaller (2**n_h <= q**n_v: 4 <= 27, 8 <= 81) and visible smaller (9 < 64, 16 < 32).
EXACT_SHAPES = [(3, 3, 2), (4, 3, 3), (2, 3, 6), (2, 4, 5)]


# ------------------------------------------------------------------ 1. model math


def test_energy_free_energy_and_conditionals_match_the_formulas(x64):
    params = cat_params(1, 4, 3, 5)
    W, b, c = np_params(params)
    rng = np.random.default_rng(2)
    v = rng.integers(0, 3, size=(6, 4))
    h = rng.integers(0, 2, size=(6, 5)).astype(np.float64)
    np.testing.assert_allclose(rbm.energy(params, v, h), np_energy(params, v, h), rtol=0, atol=TOL)
    # F(v) = −log Σ_h exp(−E(v, h)), with the numpy energy and with the library's own.
    H = hidden_configs(5)
    np.testing.assert_allclose(rbm.free_energy(params, v), -logsumexp(-np_energy(params, v[:, None, :], H)),
                               rtol=0, atol=TOL)
    e_lib = np.asarray(rbm.energy(params, jnp.asarray(v)[:, None, :], jnp.asarray(H)[None]))
    np.testing.assert_allclose(rbm.free_energy(params, v), -logsumexp(-e_lib), rtol=0, atol=TOL)
    # F_h(h) = −log Σ_v exp(−E(v, h)) over all 81 v.
    V = visible_configs(4, 3)
    np.testing.assert_allclose(rbm.hidden_free_energy(params, h),
                               -logsumexp(-np_energy(params, V[None, :, :], h[:, None, :])), rtol=0, atol=TOL)
    # P(v_i = a | h) = softmax_a(b[i, a] + Σ_j W[i, a, j] h_j): [..., n_v, q].
    logits = b[None] + np.einsum("iaj,nj->nia", W, h)
    p_v = softmax(logits)
    got = np.asarray(rbm.prob_v_given_h(params, h))
    assert got.shape == (6, 4, 3)
    np.testing.assert_allclose(got, p_v, rtol=0, atol=TOL)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(rbm.log_prob_v_given_h(params, v, h),
                               np.log(np.take_along_axis(p_v, v[..., None], -1)[..., 0]).sum(-1), rtol=0, atol=TOL)
    # P(h_j = 1 | v) = sigmoid(c_j + Σ_i W[i, v_i, j]).
    p_h = np_sigmoid(c + W[np.arange(4), v, :].sum(-2))
    np.testing.assert_allclose(rbm.prob_h_given_v(params, v), p_h, rtol=0, atol=TOL)
    np.testing.assert_allclose(rbm.log_prob_h_given_v(params, h, v),
                               np.sum(h * np.log(p_h) + (1 - h) * np.log1p(-p_h), -1), rtol=0, atol=TOL)
    # States given as integer-valued floats are the same states.
    np.testing.assert_allclose(rbm.free_energy(params, v.astype(np.float64)), rbm.free_energy(params, v),
                               rtol=0, atol=0)
    # Negative control: each of these formulas, evaluated on the model with b 10% off (or W[0] 10% off
    # for the hidden side), is far outside TOL.
    wb, ww = wrong_b(params), params._replace(W=params.W.at[0].multiply(1.1))
    assert np.max(np.abs(rbm.energy(wb, v, h) - np_energy(params, v, h))) > 1e3 * TOL
    assert np.max(np.abs(rbm.free_energy(wb, v) - rbm.free_energy(params, v))) > 1e3 * TOL
    assert np.max(np.abs(np.asarray(rbm.prob_v_given_h(wb, h)) - p_v)) > 1e3 * TOL
    assert np.max(np.abs(np.asarray(rbm.prob_h_given_v(ww, v)) - p_h)) > 1e3 * TOL


def test_reconstruction_error_matches_the_formula(x64):
    """Σ over sites and states of (one-hot(v) − softmax(b + W P(h|v)))², mean over rows."""
    params = cat_params(1, 3, 3, 2)
    W, b, c = np_params(params)
    x = np.random.default_rng(0).integers(0, 3, (7, 3))
    ph = np_sigmoid(c + W[np.arange(3), x, :].sum(-2))
    pv = softmax(b[None] + np.einsum("iaj,nj->nia", W, ph))
    ref = np.mean(np.sum((one_hot(x, 3) - pv) ** 2, (-2, -1)))
    np.testing.assert_allclose(metrics.reconstruction_error(params, x), ref, rtol=0, atol=TOL)
    assert abs(float(metrics.reconstruction_error(wrong_b(params), x)) - ref) > 1e3 * TOL


def test_conditional_samples_are_int32_states_with_the_softmax_law(x64):
    params = cat_params(3, 3, 4, 2, scale=1.5)
    W, b, c = np_params(params)
    n = 100_000
    h = np.broadcast_to(np.array([1.0, 0.0]), (n, 2))
    v = np.asarray(rbm.sample_v_given_h(jax.random.key(0), params, h))
    assert v.shape == (n, 3) and v.dtype == np.int32
    assert v.min() >= 0 and v.max() <= 3
    p = softmax(b + W[:, :, 0])  # [n_v, q]: h = (1, 0)
    freq = one_hot(v, 4).mean(0)
    z = (freq - p) / np.sqrt(p * (1 - p) / n)
    assert np.max(np.abs(z)) < Z_MAX, z
    # Negative control: the softmax of the model with b 10% off is rejected.
    p_wrong = softmax(1.1 * b + W[:, :, 0])
    assert np.max(np.abs((freq - p_wrong) / np.sqrt(p_wrong * (1 - p_wrong) / n))) > Z_MAX
    # h | v.
    v0 = np.broadcast_to(np.array([2, 0, 3]), (n, 3))
    hs = np.asarray(rbm.sample_h_given_v(jax.random.key(1), params, v0))
    ph = np_sigmoid(c + W[np.arange(3), v0[0], :].sum(0))
    assert np.max(np.abs((hs.mean(0) - ph) / np.sqrt(ph * (1 - ph) / n))) < Z_MAX


# ------------------------------------------------------------------ 2. exact references


@pytest.mark.parametrize("n, q", [(3, 3), (2, 4), (4, 2), (1, 5)])
def test_enumeration_order_is_base_q_itertools_product(n, q):
    configs = np.asarray(exact.configurations(n, n_states=q))
    np.testing.assert_array_equal(configs, np.array(list(itertools.product(range(q), repeat=n))))
    if q > 2:
        assert configs.dtype == np.int32
    np.testing.assert_array_equal(exact.config_index(configs, n_states=q), np.arange(q**n))
    # Site 0 is the most significant digit.
    row = np.zeros(n, np.int32)
    row[0] = 1
    assert int(exact.config_index(row, n_states=q)) == q ** (n - 1)


@pytest.mark.parametrize("shape", EXACT_SHAPES)
def test_tables_equal_full_joint_enumeration(x64, shape):
    n_v, q, n_h = shape
    params = cat_params(10 + sum(shape), n_v, q, n_h)
    joint, V, H, log_z = joint_table(params)
    p_v = joint.sum(1)
    np.testing.assert_allclose(exact.marginal_v_table(params), p_v, rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_marginal_v_table(params), np.log(p_v), rtol=0, atol=TOL)
    # Negative control: with b 10% off the table is far outside TOL.
    assert np.max(np.abs(np.asarray(exact.marginal_v_table(wrong_b(params))) - p_v)) > 1e3 * TOL


@pytest.mark.parametrize("shape", EXACT_SHAPES)
def test_log_partition_likelihood_and_moments_equal_full_joint_enumeration(x64, shape):
    """In both branches: the hidden layer enumerated (3×3×2, 4×3×3) and the visible one (2×3×6, 2×4×5)."""
    n_v, q, n_h = shape
    params = cat_params(10 + sum(shape), n_v, q, n_h)
    joint, V, H, log_z = joint_table(params)
    p_v = joint.sum(1)
    np.testing.assert_allclose(exact.log_partition(params), log_z, rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_marginal_v(params, V), np.log(p_v), rtol=0, atol=TOL)
    rows = V[[0, 5, 5, 2, len(V) - 1]]
    np.testing.assert_allclose(exact.log_likelihood(params, rows), np.log(p_v[[0, 5, 5, 2, len(V) - 1]]).mean(),
                               rtol=0, atol=TOL)
    m = exact.model_moments(params)
    X = one_hot(V, q)  # [S_v, n_v, q]
    vh = np.einsum("sh,sia,hj->iaj", joint, X, H)
    assert m.v.shape == (n_v, q) and m.vh.shape == (n_v, q, n_h)
    np.testing.assert_allclose(m.v, np.einsum("s,sia->ia", p_v, X), rtol=0, atol=TOL)
    np.testing.assert_allclose(m.h, joint.sum(0) @ H, rtol=0, atol=TOL)
    np.testing.assert_allclose(m.vh, vh, rtol=0, atol=TOL)
    # Negative control: with b 10% off these are far outside TOL.
    wrong = wrong_b(params)
    assert abs(float(exact.log_partition(wrong)) - log_z) > 1e3 * TOL
    assert np.max(np.abs(np.asarray(exact.model_moments(wrong).vh) - vh)) > 1e3 * TOL


@pytest.mark.parametrize("shape", [(3, 3, 2), (2, 3, 6)])  # P(h) then P(v | h); the P(v) table
def test_sample_exact_matches_the_table(x64, shape):
    params = cat_params(20, *shape, scale=1.5)
    n = 50_000
    s = exact.sample_exact(jax.random.key(0), params, n)
    assert s.shape == (n, shape[0]) and s.dtype == jnp.int32
    assert int(s.min()) >= 0 and int(s.max()) < shape[1]
    p = joint_table(params)[0].sum(1)
    freq = histogram(s, shape[1])
    np.testing.assert_allclose(exact.empirical_distribution(s, n_states=shape[1]), freq, rtol=0, atol=1e-7)
    assert tv(freq, p) < tv_bound(p, n)
    # Negative control: the table of the model with b 10% off is outside the bound.
    p_wrong = joint_table(wrong_b(params))[0].sum(1)
    assert tv(freq, p_wrong) > tv_bound(p, n)


# ------------------------------------------------------------------ 3. gauge


def test_gauge_transformations_leave_the_table_unchanged(x64):
    params = cat_params(30, 3, 3, 4)
    p = np.asarray(exact.marginal_v_table(params))
    log_z = float(exact.log_partition(params))
    rng = np.random.default_rng(31)
    g = rng.normal(size=3)
    # b[i, ·] + g_i: the same P(v), and log Z moves by exactly Σ g_i (E moves by −Σ g_i).
    shifted_b = params._replace(b=params.b + g[:, None])
    np.testing.assert_allclose(exact.marginal_v_table(shifted_b), p, rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_partition(shifted_b), log_z + g.sum(), rtol=0, atol=TOL)
    # W[i, ·, j] + g_ij with c_j − Σ_i g_ij: E itself is unchanged.
    G = rng.normal(size=(3, 4))
    shifted_w = params._replace(W=params.W + G[:, None, :], c=params.c - G.sum(0))
    np.testing.assert_allclose(exact.marginal_v_table(shifted_w), p, rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_partition(shifted_w), log_z, rtol=0, atol=TOL)
    # zero_sum_gauge: same table, Σ_a b[i, a] = 0 and Σ_a W[i, a, j] = 0.
    z = rbm.zero_sum_gauge(shifted_w._replace(b=shifted_b.b))
    assert isinstance(z, CategoricalRBMParams)
    np.testing.assert_allclose(exact.marginal_v_table(z), p, rtol=0, atol=TOL)
    np.testing.assert_allclose(np.asarray(z.b).sum(1), 0.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(np.asarray(z.W).sum(1), 0.0, rtol=0, atol=TOL)
    # Every representative maps to one point: the gauge is a canonical form.
    for x in (params, shifted_b, shifted_w):
        for a, bb in zip(rbm.zero_sum_gauge(x), z):
            np.testing.assert_allclose(a, bb, rtol=0, atol=TOL)
    # Negative control: shifting W without compensating c changes the table.
    uncompensated = params._replace(W=params.W + G[:, None, :])
    assert tv(exact.marginal_v_table(uncompensated), p) > 0.01
    # ... and so does compensating with the wrong sign (c + Σ_i g_ij).
    wrong_sign = params._replace(W=params.W + G[:, None, :], c=params.c + G.sum(0))
    assert tv(exact.marginal_v_table(wrong_sign), p) > 0.01


def test_zero_sum_gauge_is_the_identity_for_other_families(x64):
    binary = RBMParams(jnp.ones((2, 3), F64), jnp.ones(2, F64), jnp.ones(3, F64))
    for a, bb in zip(rbm.zero_sum_gauge(binary), binary):
        np.testing.assert_array_equal(a, bb)


# ------------------------------------------------------------------ 4. Gibbs, PT, clamping


# 27 visible states, strong couplings: a 10% error in b moves the stationary law by ~3.6 bounds
# and the law after t steps from a fixed start by 2.5–3.6 bounds (N = 40,000); |λ₂| = 0.28.
STATS_MODEL = (4, 3, 3, 3, 2.0)  # seed, n_v, q, n_h, scale
N = 40_000


def stats_model():
    return cat_params(*STATS_MODEL)


def brute_transition(params):
    joint, _, _, _ = joint_table(params)
    return (joint / joint.sum(1, keepdims=True)) @ (joint / joint.sum(0, keepdims=True)).T


def test_transition_matrix_is_exact_and_p_is_stationary(x64):
    params = stats_model()
    T = np.asarray(exact.gibbs_transition_matrix(params))
    assert T.shape == (27, 27)
    np.testing.assert_allclose(T, brute_transition(params), rtol=0, atol=TOL)
    np.testing.assert_allclose(T.sum(1), 1.0, rtol=0, atol=TOL)
    p = np.asarray(exact.marginal_v_table(params))
    np.testing.assert_allclose(p @ T, p, rtol=0, atol=TOL)
    flow = p[:, None] * T
    np.testing.assert_allclose(flow, flow.T, rtol=0, atol=TOL)  # detailed balance
    # Negative control: the perturbed model's T is measurably different, and p is not its fixed point.
    T_wrong = np.asarray(exact.gibbs_transition_matrix(wrong_b(params)))
    assert np.max(np.abs(T_wrong - T)) > 1e-3 and np.max(np.abs(p @ T_wrong - p)) > 1e-3
    # The visible-smaller branch (9 visible states, 64 hidden) too.
    small = cat_params(5, 2, 3, 6)
    np.testing.assert_allclose(exact.gibbs_transition_matrix(small), brute_transition(small), rtol=0, atol=TOL)


def test_transition_matrix_cap(x64):
    too_big = cat_params(6, 8, 3, 2)  # 3**8 = 6561 > 4096 visible configurations
    with pytest.raises(ValueError, match="4096"):
        exact.gibbs_transition_matrix(too_big)
    with pytest.raises(ValueError, match="4096"):
        exact.marginal_v_table(too_big)
    # The cap is on the table, not on enumeration: log Z still works (via the 4 hidden states)...
    np.testing.assert_allclose(exact.log_partition(too_big), joint_table(too_big)[3], rtol=0, atol=1e-9)
    # ...and a table of exactly 4096 = 4**6 configurations is allowed.
    assert exact.marginal_v_table(cat_params(7, 6, 4, 2)).shape == (4096,)


@pytest.fixture(scope="module")
def fixed_start_run():
    """N chains from v = (0, 0, 0), 8 sweeps, for the model and for the model with b 10% off."""
    with jax.enable_x64(True):
        params = stats_model()
        v0 = jnp.zeros((N, 3), jnp.int32)
        _, trace = gibbs.sample_chains(jax.random.key(40), params, v0, 8, transform=gibbs.keep_v)
        _, trace_w = gibbs.sample_chains(jax.random.key(40), wrong_b(params), v0, 8, transform=gibbs.keep_v)
        return np.asarray(trace), np.asarray(trace_w), np.asarray(exact.gibbs_transition_matrix(params))


def after(T, t, start=0):
    p0 = np.zeros(T.shape[0])
    p0[start] = 1.0
    return p0 @ np.linalg.matrix_power(T, t)


def test_chains_from_a_fixed_start_follow_p0_T_t(fixed_start_run):
    trace, _, T = fixed_start_run
    assert trace.dtype == np.int32 and trace.min() >= 0 and trace.max() <= 2
    for t in (1, 2, 5, 8):
        ref = after(T, t)
        assert tv(histogram(trace[t - 1], 3), ref) < tv_bound(ref, N), t


def test_fixed_start_negative_controls(fixed_start_run):
    trace, trace_w, T = fixed_start_run
    # The perturbed model's chains are outside the bound at every t...
    for t in (1, 2, 5):
        ref = after(T, t)
        assert tv(histogram(trace_w[t - 1], 3), ref) > tv_bound(ref, N), t
    # ...and the right chains after 1 step are not p0·T² (the histogram resolves one step).
    ref2 = after(T, 2)
    assert tv(histogram(trace[0], 3), ref2) > tv_bound(ref2, N)


def test_chains_started_at_p_stay_there(x64):
    params = stats_model()
    p = np.asarray(exact.marginal_v_table(params))
    v0 = exact.sample_exact(jax.random.key(41), params, N)
    _, trace = gibbs.sample_chains(jax.random.key(42), params, v0, 8, transform=gibbs.keep_v)
    trace = np.asarray(trace)
    for t in (1, 8):
        assert tv(histogram(trace[t - 1], 3), p) < tv_bound(p, N), t
    _, trace_w = gibbs.sample_chains(jax.random.key(42), wrong_b(params), v0, 8, transform=gibbs.keep_v)
    assert tv(histogram(np.asarray(trace_w)[7], 3), p) > tv_bound(p, N)


PT_BETAS = (1.0, 0.6, 0.3)


def test_pt_rung_zero_stays_at_the_exact_table(x64):
    params = stats_model()
    p = np.asarray(exact.marginal_v_table(params))
    # Every rung starts at exact draws of its own tempered law P_β ∝ exp(−β E) = the model β·(W, b, c).
    v0 = jnp.stack([exact.sample_exact(jax.random.fold_in(jax.random.key(43), k), scaled(params, b), N)
                    for k, b in enumerate(PT_BETAS)], axis=1)
    betas = jnp.asarray(PT_BETAS, F64)
    final, trace = gibbs.sample_pt(jax.random.key(44), params, v0, 8, betas=betas)
    trace = np.asarray(trace)
    assert trace.shape == (8, N, 3) and trace.dtype == np.int32
    acc = np.asarray(gibbs.swap_acceptance(final)).mean(0)
    assert np.all(acc > 0.1), acc  # swaps happen, so the swap ratio is exercised
    for t in (1, 8):
        assert tv(histogram(trace[t - 1], 3), p) < tv_bound(p, N), t
    # The hotter rungs keep their tempered tables.
    for k, beta in enumerate(PT_BETAS[1:], start=1):
        p_beta = np.asarray(exact.marginal_v_table(scaled(params, beta)))
        assert tv(histogram(np.asarray(final.v)[:, k], 3), p_beta) < tv_bound(p_beta, N), beta
    # Negative control: PT on the model with b 10% off fails the rung-0 check.
    _, trace_w = gibbs.sample_pt(jax.random.key(44), wrong_b(params), v0, 8, betas=betas)
    assert tv(histogram(np.asarray(trace_w)[7], 3), p) > tv_bound(p, N)


def exact_conditional(params, mask, values):
    """P(v | v[mask] = values[mask]) over all q**n_v states, from the full joint."""
    joint, V, _, _ = joint_table(params)
    p = joint.sum(1)
    consistent = np.all(V[:, mask] == values[mask], axis=1)
    cond = np.where(consistent, p, 0.0)
    return cond / cond.sum(), V


def test_clamped_sampling_keeps_the_exact_conditional(x64):
    params = stats_model()
    mask = np.array([False, True, False])
    values = np.array([0, 2, 0])
    cond, V = exact_conditional(params, mask, values)
    p = np.asarray(exact.marginal_v_table(params))
    idx = np.random.default_rng(45).choice(len(V), N, p=cond)
    v0 = V[idx].astype(np.int32)
    _, trace = gibbs.sample_chains(jax.random.key(46), params, v0, 8, clamp=mask, transform=gibbs.keep_v)
    trace = np.asarray(trace)
    assert np.all(trace[:, :, mask] == values[mask])  # the clamped site never moves
    for t in (1, 8):
        assert tv(histogram(trace[t - 1], 3), cond) < tv_bound(cond, N), t
    # The clamp matters (the unconditional table is far off), and the model with b 10% off fails.
    assert tv(histogram(trace[7], 3), p) > 5 * tv_bound(cond, N)
    _, trace_w = gibbs.sample_chains(jax.random.key(46), wrong_b(params), v0, 8, clamp=mask,
                                     transform=gibbs.keep_v)
    assert tv(histogram(np.asarray(trace_w)[7], 3), cond) > tv_bound(cond, N)


def test_tempered_step_is_a_step_of_the_scaled_model(x64):
    params = stats_model()
    state = gibbs.init(jax.random.key(47), params, jnp.asarray(np.random.default_rng(0).integers(0, 3, (64, 3))))
    assert state.v.dtype == jnp.int32
    a = gibbs.tempered_step(jax.random.key(48), params, state, 0.4)
    b = gibbs.step(jax.random.key(48), scaled(params, 0.4), state)
    np.testing.assert_array_equal(a.v, b.v)
    np.testing.assert_array_equal(a.h, b.h)
    c = gibbs.step(jax.random.key(48), params, state)
    assert np.any(np.asarray(c.v) != np.asarray(a.v))  # β matters
    # A clamped step keeps the clamped sites.
    mask = jnp.array([True, False, True])
    d = gibbs.clamped_step(jax.random.key(49), params, state, mask)
    np.testing.assert_array_equal(np.asarray(d.v)[:, [0, 2]], np.asarray(state.v)[:, [0, 2]])


# ------------------------------------------------------------------ 5. AIS


@pytest.mark.parametrize("direction, use_data", [
    ("forward", True), ("forward", False),  # reverse AIS runs by default in tests/test_gaussian.py
    pytest.param("reverse", False, marks=pytest.mark.slow), pytest.param("reverse", True, marks=pytest.mark.slow)])
def test_ais_matches_the_exact_log_partition(x64, direction, use_data):
    params = cat_params(50, 6, 3, 4, scale=0.8)
    log_z = float(exact.log_partition(params))
    np.testing.assert_allclose(log_z, joint_table(params)[3], rtol=0, atol=1e-9)
    wrong_log_z = float(exact.log_partition(wrong_b(params)))
    data = exact.sample_exact(jax.random.key(51), params, 500) if use_data else None
    run = ais.log_partition if direction == "forward" else ais.reverse_log_partition
    r = run(jax.random.key(52), params, n_runs=200, n_betas=1000, data=data)
    est, se = float(r.log_z), float(r.stderr)
    assert np.isfinite(est) and 0 < se < 0.05 and not bool(r.degenerate), (est, se)
    tol = 4 * se + 0.02
    assert abs(est - log_z) < tol, (est, log_z, se)
    assert abs(est - wrong_log_z) > tol, (est, wrong_log_z, se)  # negative control


def test_ais_base_model_is_the_data_state_frequencies(x64):
    params = cat_params(50, 6, 3, 4, scale=0.8)
    data = np.asarray(exact.sample_exact(jax.random.key(53), params, 500))
    ref = ais.base_model(params, data, smoothing=1.0)
    counts = one_hot(data, 3).sum(0)
    logp = np.log(counts + 1.0)
    np.testing.assert_allclose(ref.v, logp - logp.mean(-1, keepdims=True), rtol=0, atol=1e-12)
    # So its softmax is the smoothed frequencies.
    np.testing.assert_allclose(softmax(np.asarray(ref.v)), (counts + 1) / (500 + 3), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ 6. training, gradients, PLL


# The teacher's sites are strongly coupled: its log-likelihood on its own data beats the
# independent-sites fit (the student's init) by 0.40 nats.
TEACHER = (61, 4, 3, 3, 2.0)


@pytest.fixture(scope="module")
def teacher_data():
    with jax.enable_x64(True):
        return np.asarray(exact.sample_exact(jax.random.key(60), cat_params(*TEACHER), 1000))


def student(data):
    return rbm.init_params(jax.random.key(61), 4, 3, data=data, family="categorical", n_states=3, dtype=F64,
                           weight_scale=0.1)


FIT_KW = dict(n_epochs=30, batch_size=20, learning_rate=0.01, metrics_every=30, exact_likelihood=True)


def assert_zero_sum(params):
    np.testing.assert_allclose(np.asarray(params.b).sum(-1), 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(params.W).sum(-2), 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["cd", pytest.param("pcd", marks=pytest.mark.slow),
                                    pytest.param("pt", marks=pytest.mark.slow)])
def test_fit_improves_the_exact_likelihood_and_keeps_the_gauge(x64, teacher_data, method):
    """The exact log-likelihood rises by 0.38–0.39 nats for every method (measured); asserted > 0.2."""
    X = teacher_data
    p0 = student(X)
    assert_zero_sum(p0)
    ll0 = float(exact.log_likelihood(p0, X))
    np.testing.assert_allclose(ll0, np_log_likelihood(p0, X), rtol=0, atol=1e-9)
    params, history = train.fit(jax.random.key(62), p0, X, method=method, **FIT_KW)
    assert isinstance(params, CategoricalRBMParams)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in params)
    assert_zero_sum(params)
    ll = float(exact.log_likelihood(params, X))
    assert ll > ll0 + 0.2, (ll0, ll)
    assert ll < float(exact.log_likelihood(cat_params(*TEACHER), X)) + 0.05
    np.testing.assert_allclose(history["log_likelihood"][-1], ll, rtol=0, atol=1e-9)
    pll_key = train.pseudo_likelihood_key(X.shape[0], 1000)
    np.testing.assert_allclose(history[pll_key][-1], np.mean(metrics.pseudo_log_likelihood(params, X)),
                               rtol=0, atol=1e-9)


def test_fit_monitors_the_exact_likelihood_of_a_visible_enumerated_model(x64):
    """With default settings (exact_likelihood='auto') fit evaluates the exact log-likelihood; for
    a model with fewer visible (3**2 = 9) than hidden (2**6 = 64) configurations log Z comes from
    the visible layer. The history's value must equal the full joint enumeration's."""
    params = cat_params(67, 2, 3, 6)
    X = np.asarray(exact.sample_exact(jax.random.key(67), params, 40))
    fitted, history = train.fit(jax.random.key(68), params, X, method="cd", n_epochs=2, batch_size=10,
                                learning_rate=0.01)
    assert "log_likelihood" in history
    np.testing.assert_allclose(history["log_likelihood"][-1], np_log_likelihood(fitted, X), rtol=0, atol=1e-9)


@pytest.mark.slow
def test_fit_many_model_i_equals_fit_alone(x64, teacher_data):
    X = teacher_data
    p0 = student(X)
    keys = jax.random.split(jax.random.key(63), 2)
    many, hist_many = train.fit_many(keys, p0, X, method="cd", **FIT_KW)
    assert isinstance(many, CategoricalRBMParams) and many.W.shape == (2, 4, 3, 3)
    for i in range(2):
        alone, hist = train.fit(keys[i], p0, X, method="cd", **FIT_KW)
        for a, bb in zip(jax.tree_util.tree_map(lambda x: x[i], many), alone):
            np.testing.assert_allclose(a, bb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(hist_many["log_likelihood"][i], hist["log_likelihood"], rtol=0, atol=1e-12)
    assert np.max(np.abs(np.asarray(many.W[0]) - np.asarray(many.W[1]))) > 1e-3  # not vacuous


@pytest.mark.parametrize("shape", [(4, 3, 3), (2, 3, 6)])  # hidden enumerated; visible enumerated
def test_exact_gradient_equals_autodiff_and_finite_differences(x64, shape):
    params = cat_params(64, *shape)
    X = np.asarray(exact.sample_exact(jax.random.key(64), cat_params(65, *shape, scale=1.5), 50))
    g = train.exact_gradient(params, X)
    g_auto = jax.grad(exact.log_likelihood)(params, jnp.asarray(X))
    assert isinstance(g, CategoricalRBMParams)
    for a, bb in zip(g, g_auto):
        np.testing.assert_allclose(a, bb, rtol=0, atol=TOL)
    # Central differences of the numpy joint-enumeration log-likelihood.
    shapes = [np.shape(x) for x in params]
    theta = np.concatenate([np.asarray(x).ravel() for x in params])

    def ll(t):
        parts, i = [], 0
        for shp in shapes:
            k = int(np.prod(shp))
            parts.append(t[i:i + k].reshape(shp))
            i += k
        return np_log_likelihood(CategoricalRBMParams(*parts), X)

    eps, fd_tol = 1e-6, 1e-7
    fd = np.array([(ll(theta + eps * e) - ll(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_allclose(np.concatenate([np.asarray(x).ravel() for x in g]), fd, rtol=0, atol=fd_tol)
    # b's gradient is the data frequencies minus the model's state probabilities.
    p_v = joint_table(params)[0].sum(1)
    model_v = np.einsum("s,sia->ia", p_v, one_hot(visible_configs(shape[0], shape[1]), shape[1]))
    np.testing.assert_allclose(g.b, one_hot(X, shape[1]).mean(0) - model_v, rtol=0, atol=TOL)
    # Negative control: a 10% error in any leaf is far outside the tolerance.
    for name, leaf in zip(CategoricalRBMParams._fields, g):
        assert np.max(np.abs(0.1 * np.asarray(leaf))) > 100 * fd_tol, name


def test_pseudo_log_likelihood_against_the_table(x64):
    params = cat_params(65, 3, 4, 3, scale=1.2)
    q = 4
    p = joint_table(params)[0].sum(1)
    rng = np.random.default_rng(66)
    X = rng.integers(0, q, size=(20, 3))
    powers = q ** np.arange(2, -1, -1)

    def brute(p_table):
        out = np.zeros(len(X))
        for r, v in enumerate(X):
            for i in range(3):
                alts = np.repeat(v[None], q, axis=0)
                alts[:, i] = np.arange(q)
                out[r] += np.log(p_table[v @ powers]) - np.log(p_table[alts @ powers].sum())
        return out

    ref = brute(p)
    got = np.asarray(metrics.pseudo_log_likelihood(params, X))
    assert got.shape == (20,)
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)
    # Negative control: the PLL of the model with b 10% off is far outside TOL.
    assert np.max(np.abs(np.asarray(metrics.pseudo_log_likelihood(wrong_b(params), X)) - ref)) > 1e3 * TOL


# ------------------------------------------------------------------ 7. bad input


@pytest.mark.parametrize("bad", [3, -1, 1.5, np.nan])
def test_bad_states_are_refused_by_name(x64, bad):
    params = cat_params(70, 3, 3, 2)
    X = np.zeros((10, 3))
    X[2, 1] = bad
    calls = {
        "data": [lambda: train.fit(jax.random.key(0), params, X, n_epochs=1, batch_size=5),
                 lambda: exact.log_likelihood(params, X),
                 lambda: metrics.pseudo_log_likelihood(params, X),
                 lambda: ais.log_partition(jax.random.key(0), params, data=X, n_betas=10)],
        "v": [lambda: rbm.free_energy(params, X), lambda: exact.log_marginal_v(params, X),
              lambda: rbm.energy(params, X, np.zeros((10, 2))), lambda: rbm.prob_h_given_v(params, X),
              lambda: gibbs.init(jax.random.key(0), params, X)],
        "v0": [lambda: gibbs.sample_chains(jax.random.key(0), params, X, 2),
               lambda: gibbs.sample_pt(jax.random.key(0), params, X, 2)],
        "held_out": [lambda: train.fit(jax.random.key(0), params, np.zeros((10, 3)), held_out=X, n_epochs=1,
                                       batch_size=5)],
    }
    for name, fns in calls.items():
        for fn in fns:
            with pytest.raises(ValueError, match=rf"^{name} (must hold integer states in \{{0, \.\.\., 2\}}"
                                                 rf"|contains 1 (non-integer|NaN/inf))"):
                fn()
    # Integer arrays are checked too.
    Xi = np.zeros((10, 3), np.int32)
    Xi[0, 0] = 3 if bad == 3 else -1
    with pytest.raises(ValueError, match=r"^data must hold integer states"):
        exact.log_likelihood(params, Xi)


def test_params_and_data_of_different_families_are_refused(x64):
    binary = RBMParams(jnp.zeros((3, 2), F64), jnp.zeros(3, F64), jnp.zeros(2, F64))
    # Categorical data (state 2) for a binary RBM.
    with pytest.raises(ValueError, match=r"^data must hold values in \[0, 1\]"):
        train.fit(jax.random.key(0), binary, np.full((10, 3), 2.0), n_epochs=1, batch_size=5)
    with pytest.raises(ValueError, match=r"^data must hold values in \[0, 1\]"):
        exact.log_likelihood(binary, np.full((10, 3), 2))
    # One-hot [n, n_v, q] data, for a binary or a categorical RBM.
    with pytest.raises(ValueError, match=r"^data must be a matrix \[n_rows, n_visible\]"):
        train.fit(jax.random.key(0), binary, np.zeros((10, 3, 3)), n_epochs=1, batch_size=5)
    with pytest.raises(ValueError, match=r"^data must be a matrix \[n_rows, n_visible\]"):
        exact.log_likelihood(cat_params(71, 3, 3, 2), np.zeros((10, 3, 3)))


def test_init_params_family_and_n_states(x64):
    with pytest.raises(ValueError, match="n_states"):
        rbm.init_params(jax.random.key(0), 3, 2, family="categorical")
    for family in ("bernoulli", "gaussian"):
        with pytest.raises(ValueError, match="n_states"):
            rbm.init_params(jax.random.key(0), 3, 2, family=family, n_states=3)
    with pytest.raises(ValueError, match="n_states"):
        rbm.init_params(jax.random.key(0), 3, 2, family="categorical", n_states=1)
    with pytest.raises(ValueError, match=r"^data must hold integer states"):
        rbm.init_params(jax.random.key(0), 3, 2, family="categorical", n_states=3, data=np.full((4, 3), 3))
    # With data, b is the log of the clipped state frequencies, in the zero-sum gauge.
    X = np.array([[0, 1, 2], [0, 1, 1], [0, 2, 1], [1, 1, 1]])
    p0 = rbm.init_params(jax.random.key(0), 3, 2, family="categorical", n_states=3, data=X, dtype=F64)
    assert isinstance(p0, CategoricalRBMParams) and p0.n_states == 3 and p0.W.shape == (3, 3, 2)
    freq = np.clip(one_hot(X, 3).mean(0), 1e-3, 1)
    np.testing.assert_allclose(p0.b, np.log(freq) - np.log(freq).mean(-1, keepdims=True), rtol=0, atol=1e-12)
    assert_zero_sum(p0)


def test_wrong_rank_w_is_named(x64):
    flat = CategoricalRBMParams(jnp.zeros((3, 2), F64), jnp.zeros((3, 3), F64), jnp.zeros(2, F64))
    with pytest.raises(ValueError, match=r"params\.W must be \[n_visible, n_states, n_hidden\]"):
        exact.log_partition(flat)
    with pytest.raises(ValueError, match=r"params\.W must be \[n_visible, n_states, n_hidden\]"):
        rbm.free_energy(flat, np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"params\.W must be \[n_visible, n_hidden\]"):
        exact.log_partition(RBMParams(jnp.zeros((3, 3, 2), F64), jnp.zeros(3, F64), jnp.zeros(2, F64)))
    with pytest.raises(ValueError, match=r"params\.b must be \[n_visible, n_states\]"):
        exact.log_partition(CategoricalRBMParams(jnp.zeros((3, 3, 2), F64), jnp.zeros(3, F64), jnp.zeros(2, F64)))
