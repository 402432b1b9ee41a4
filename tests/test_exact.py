"""rbm_jax.exact against full joint enumeration written independently in numpy."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import SMALL_SHAPES, random_params
from rbm_jax import exact, rbm
from rbm_jax._src import enumeration
from rbm_jax.rbm import RBMParams
from test_rbm import TOL, joint_table


def test_enumeration_order_is_itertools_product():
    np.testing.assert_array_equal(
        exact.configurations(4), np.array(list(itertools.product([0, 1], repeat=4)))
    )
    np.testing.assert_array_equal(exact.config_index(exact.configurations(5)), np.arange(32))


@pytest.mark.parametrize("shape", SMALL_SHAPES + [(1, 1), (7, 9)])
def test_log_partition_via_smaller_layer_equals_full_joint(x64, shape):
    params = random_params(11, *shape)
    _, _, _, _, log_z = joint_table(params)
    np.testing.assert_allclose(exact.log_partition(params), log_z, rtol=0, atol=TOL)


def test_log_partition_chunked_equals_one_shot(x64, monkeypatch):
    """The running logsumexp over chunks equals a single logsumexp over all configurations."""
    params = random_params(12, 13, 10, scale=0.7)
    full = exact.log_partition(params)
    monkeypatch.setattr(enumeration, "CHUNK_ELEMENTS", 64)  # forces 2**3-row chunks: 128 of them
    enumeration.log_partition.clear_cache()
    try:
        chunked = exact.log_partition(params)
    finally:
        enumeration.log_partition.clear_cache()
    h = exact.configurations(10, jnp.float64)
    one_shot = jax.nn.logsumexp(-rbm.hidden_free_energy(params, h))
    np.testing.assert_allclose(chunked, one_shot, rtol=0, atol=1e-10)
    np.testing.assert_allclose(full, one_shot, rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_marginals_likelihood_and_table(x64, shape):
    params = random_params(13, *shape)
    joint, V, _, _, _ = joint_table(params)
    p_v = joint.sum(axis=1)
    np.testing.assert_allclose(exact.marginal_v_table(params), p_v, rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_marginal_v_table(params), np.log(p_v), rtol=0, atol=TOL)
    np.testing.assert_allclose(exact.log_marginal_v(params, V), np.log(p_v), rtol=0, atol=TOL)
    rows = V[[0, 3, 3, 1]]
    np.testing.assert_allclose(
        exact.log_likelihood(params, rows), np.log(p_v[[0, 3, 3, 1]]).mean(), rtol=0, atol=TOL
    )


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_model_moments(x64, shape):
    params = random_params(14, *shape)
    joint, V, H, _, _ = joint_table(params)
    m = exact.model_moments(params)
    np.testing.assert_allclose(m.v, joint.sum(1) @ V, rtol=0, atol=TOL)
    np.testing.assert_allclose(m.h, joint.sum(0) @ H, rtol=0, atol=TOL)
    np.testing.assert_allclose(m.vh, V.T @ joint @ H, rtol=0, atol=TOL)


def brute_transition(params):
    """T[i, j] = Σ_h P(h|v_i) P(v_j|h) from enumerated joint ratios."""
    joint, _, _, _, _ = joint_table(params)
    p_h_given_v = joint / joint.sum(axis=1, keepdims=True)  # [v, h]
    p_v_given_h = joint / joint.sum(axis=0, keepdims=True)  # [v, h]
    return p_h_given_v @ p_v_given_h.T


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_transition_matrix_properties(x64, shape):
    params = random_params(15, *shape)
    T = np.asarray(exact.gibbs_transition_matrix(params))
    np.testing.assert_allclose(T, brute_transition(params), rtol=0, atol=TOL)
    p = np.asarray(exact.marginal_v_table(params))
    np.testing.assert_allclose(T.sum(axis=1), 1.0, rtol=0, atol=TOL)  # rows are distributions
    np.testing.assert_allclose(p @ T, p, rtol=0, atol=TOL)  # P(v) is stationary
    flow = p[:, None] * T  # detailed balance: P(v)T(v,v') = P(v')T(v',v)
    np.testing.assert_allclose(flow, flow.T, rtol=0, atol=TOL)


def second_eigenvalue_modulus(T, p):
    """|λ₂| of a reversible T via eigh on the similar symmetric D^½ T D^-½."""
    d = np.sqrt(p)
    S = d[:, None] * T / d[None, :]
    S = 0.5 * (S + S.T)
    lam = np.linalg.eigvalsh(S)
    lam = lam[np.argsort(-np.abs(lam))]
    return lam, abs(lam[1])


@pytest.mark.parametrize("shape, scale", [((3, 5), 1.0), ((5, 3), 1.0), ((10, 4), 0.8)])
def test_transition_matrix_spectral_gap(x64, shape, scale):
    params = random_params(16, *shape, scale=scale)
    T = np.asarray(exact.gibbs_transition_matrix(params))
    p = np.asarray(exact.marginal_v_table(params))
    lam, lam2 = second_eigenvalue_modulus(T, p)
    np.testing.assert_allclose(abs(lam[0]), 1.0, rtol=0, atol=1e-9)
    assert lam2 < 1 - 1e-6
    # The gap is real: the chain forgets its start at rate |λ₂|^t.
    start = np.zeros_like(p)
    start[0] = 1.0
    t = 50
    dist = start @ np.linalg.matrix_power(T, t)
    assert 0.5 * np.abs(dist - p).sum() <= np.sqrt(1 / p[0]) * lam2**t + 1e-12


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (6, 2)])  # via P(h) then P(v|h), or the P(v) table
def test_sample_exact_matches_the_table(x64, shape):
    params = random_params(17, *shape)
    n = 50_000
    s = exact.sample_exact(jax.random.key(0), params, n)
    assert s.shape == (n, shape[0]) and s.dtype == jnp.float64
    assert set(np.unique(np.asarray(s)).tolist()) <= {0.0, 1.0}
    p = np.asarray(exact.marginal_v_table(params))
    q = np.asarray(exact.empirical_distribution(s))
    # TV below 4 × ½ Σ sqrt(p(1-p)/n): four times its standard scale (fixed seed).
    bound = 4 * 0.5 * np.sum(np.sqrt(p * (1 - p) / n))
    assert float(exact.total_variation(p, q)) < bound
    # And a deliberately different target is far outside the same bound.
    wrong = np.asarray(exact.marginal_v_table(params._replace(b=params.b + 0.3)))
    assert float(exact.total_variation(wrong, q)) > bound


def test_sample_exact_reproducible_and_key_types(x64):
    params = random_params(18, 5, 2)
    a = exact.sample_exact(jax.random.key(7), params, 100)
    b = exact.sample_exact(jax.random.PRNGKey(7), params, 100)
    np.testing.assert_array_equal(a, b)


def test_total_variation_and_empirical_distribution():
    np.testing.assert_allclose(exact.total_variation([0.5, 0.5, 0], [0, 0.5, 0.5]), 0.5)
    np.testing.assert_allclose(exact.total_variation([1, 0], [1, 0]), 0.0)
    q = exact.empirical_distribution(np.array([[0, 1], [0, 1], [1, 1], [0, 0]]))
    np.testing.assert_allclose(q, [0.25, 0.5, 0.0, 0.25])
    with pytest.raises(ValueError, match="p and q must be probability vectors"):
        exact.total_variation([0.5, 0.5], [1.0, 0, 0])
    with pytest.raises(ValueError, match=r"x must hold binary values 0 or 1"):
        exact.empirical_distribution(np.array([[0, 0.5]]))


@pytest.mark.parametrize("p, match", [
    ([2.0, 1.0, 0.0], r"p must hold probability vectors .*; 3 entries do not, first 2\.0 at index \(0,\)"),
    ([0.5, 0.6, -0.1], r"p must hold probability vectors .*first -0\.1 at index \(2,\)"),
    ([0.5, 0.5, np.nan], r"p contains 1 NaN/inf value"),
    ([[0.5, 0.5, 0.0], [0.3, 0.3, 0.3]], r"p must hold probability vectors .*first 0\.3 at index \(1, 0\)"),
])
def test_total_variation_refuses_non_distributions(p, match):
    q = np.array([0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match=match):
        exact.total_variation(p, q)
    with pytest.raises(ValueError, match=match.replace("p ", "q ", 1)):
        exact.total_variation(q, p)


def test_total_variation_accepts_float32_tables_of_many_states():
    # Round-off of a normalised float32 table over 2**16 states stays inside the tolerance.
    w = np.random.default_rng(0).exponential(size=2**16).astype(np.float32)
    p = w / w.sum()
    np.testing.assert_allclose(exact.total_variation(p, p), 0.0)


def test_empirical_distribution_of_no_rows_is_refused():
    with pytest.raises(ValueError, match=r"samples must be binary rows \[\.\.\., n\] with at least one row"):
        exact.empirical_distribution(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"samples must be binary rows"):
        exact.empirical_distribution(np.zeros((4, 0)))


def test_large_weights_stay_finite_float32():
    kw, kb, kc = jax.random.split(jax.random.key(1), 3)
    params = RBMParams(
        1e3 * jax.random.normal(kw, (6, 5)),
        1e3 * jax.random.normal(kb, (6,)),
        1e3 * jax.random.normal(kc, (5,)),
    )
    data = jax.random.bernoulli(jax.random.key(2), 0.5, (8, 6)).astype(jnp.float32)
    outs = {
        "log_partition": exact.log_partition(params),
        "log_marginal_v": exact.log_marginal_v(params, exact.configurations(6)),
        "marginal_v_table": exact.marginal_v_table(params),
        "gibbs_transition_matrix": exact.gibbs_transition_matrix(params),
        "sample_exact": exact.sample_exact(jax.random.key(3), params, 100),
        "model_moments": jnp.concatenate([m.ravel() for m in exact.model_moments(params)]),
    }
    for name, out in outs.items():
        assert np.all(np.isfinite(out)), name
    # log_likelihood may be -inf-free but very negative; it must stay finite too.
    assert np.isfinite(exact.log_likelihood(params, data))
    np.testing.assert_allclose(outs["marginal_v_table"].sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(outs["gibbs_transition_matrix"].sum(1), 1.0, rtol=1e-4)


def test_outputs_follow_params_dtype(x64):
    for dtype in (jnp.float32, jnp.float64):
        params = random_params(19, 3, 4, dtype=dtype)
        assert exact.log_partition(params).dtype == dtype
        assert exact.marginal_v_table(params).dtype == dtype
        assert exact.gibbs_transition_matrix(params).dtype == dtype
        assert exact.sample_exact(jax.random.key(0), params, 3).dtype == dtype
        assert exact.model_moments(params).vh.dtype == dtype


def test_log_partition_runs_under_jit_and_grad(x64):
    """∇_b log Z = ⟨v⟩ and ∇_c log Z = ⟨h⟩: autodiff through the chunked sum."""
    params = random_params(20, 5, 4)
    g = jax.grad(enumeration.log_partition)(params)
    m = exact.model_moments(params)
    np.testing.assert_allclose(g.b, m.v, rtol=0, atol=TOL)
    np.testing.assert_allclose(g.c, m.h, rtol=0, atol=TOL)
    np.testing.assert_allclose(g.W, m.vh, rtol=0, atol=TOL)
    np.testing.assert_allclose(jax.jit(exact.log_partition)(params), exact.log_partition(params))


# ---------------------------------------------------------------- bad input


def test_bad_data_is_named():
    params = random_params(21, 4, 3)
    with pytest.raises(ValueError, match=r"data must be a matrix \[n_rows, n_visible\] = \[n_rows, 4\], got shape \(2, 5\)"):
        exact.log_likelihood(params, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"data must be a matrix .* got shape \(4,\)"):
        exact.log_likelihood(params, np.zeros(4))
    bad = np.zeros((3, 4))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"data contains 1 NaN/inf value\(s\), first at index \(1, 1\)"):
        exact.log_likelihood(params, bad)
    with pytest.raises(ValueError, match=r"data must hold values in \[0, 1\].*-1\.0.*\(0, 2\)"):
        exact.log_likelihood(params, np.array([[0, 0, -1.0, 0]]))
    with pytest.raises(ValueError, match=r"v must hold values in \[0, 1\]"):
        exact.log_marginal_v(params, np.array([0, 3.0, 0, 0]))


def test_under_a_callers_jit_only_shapes_are_checked():
    params = random_params(22, 4, 3)
    out_of_range = jnp.full((2, 4), 2.0)
    # Documented: values cannot be inspected under a caller's jit, so no error...
    assert np.isfinite(jax.jit(lambda d: exact.log_likelihood(params, d))(out_of_range))
    # ...but the shape still is.
    with pytest.raises(ValueError, match=r"data must be a matrix"):
        jax.jit(lambda d: exact.log_likelihood(params, d))(jnp.zeros((2, 3)))


def test_nan_params_are_named():
    params = random_params(23, 4, 3)
    with pytest.raises(ValueError, match=r"params\.W contains 1 NaN or inf value"):
        exact.log_partition(params._replace(W=params.W.at[0, 0].set(jnp.nan)))


def test_too_large_to_enumerate_says_so_with_the_size():
    big = RBMParams(jnp.zeros((30, 25)), jnp.zeros(30), jnp.zeros(25))
    with pytest.raises(ValueError, match=r"min\(n_visible, n_hidden\) = min\(30, 25\) = 25 is too large to enumerate: 2\*\*25 = 3\.36e\+07 configurations"):
        exact.log_partition(big)
    with pytest.raises(ValueError, match=r"n_visible = 30 is too large to enumerate"):
        exact.marginal_v_table(big)
    with pytest.raises(ValueError, match=r"min\(n_visible, n_hidden\) = min\(30, 25\) = 25 is too large"):
        exact.sample_exact(jax.random.key(0), big, 10)
    medium = RBMParams(jnp.zeros((13, 4)), jnp.zeros(13), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"capped at 12 visible and 16 hidden units.*n_visible=13, n_hidden=4"):
        exact.gibbs_transition_matrix(medium)
    costly = RBMParams(jnp.zeros((12, 14)), jnp.zeros(12), jnp.zeros(14))
    with pytest.raises(ValueError, match=r"2\*\*38 multiply-adds"):
        exact.gibbs_transition_matrix(costly)


def test_sample_exact_bad_n_is_named():
    params = random_params(24, 3, 2)
    with pytest.raises(ValueError, match=r"n must be a positive integer, got -1"):
        exact.sample_exact(jax.random.key(0), params, -1)
