"""rbm_jax.rbm, checked step by step against the notes by brute-force enumeration.

The references here are written independently of the library, in numpy
float64, from the definitions: E(v, h) = -bᵀv - cᵀh - vᵀWh, P(v, h) = e^{-E}/Z,
and conditionals as ratios of enumerated joint probabilities.
"""

from __future__ import annotations

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SMALL_SHAPES, random_params
from rbm_jax import rbm
from rbm_jax.rbm import RBMParams

TOL = 1e-10  # float64 round-off on these small models; the issue asks for <= 1e-9


def enumerate_np(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)


def joint_table(params):
    """Brute-force P(v, h) as a [2**n_v, 2**n_h] table, straight from the definition."""
    W, b, c = (np.asarray(x, np.float64) for x in params)
    V, H = enumerate_np(W.shape[0]), enumerate_np(W.shape[1])
    neg_e = (V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T
    log_z = np.logaddexp.reduce(neg_e.ravel())
    return np.exp(neg_e - log_z), V, H, neg_e, log_z


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_energy_matches_definition(x64, shape):
    params = random_params(1, *shape)
    _, V, H, neg_e, _ = joint_table(params)
    e = rbm.energy(params, V[:, None, :], H[None, :, :])
    np.testing.assert_allclose(e, -neg_e, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_p_v_given_h_three_ways(x64, shape):
    """The notes' derivation: P(v|h) = P(v,h)/P(h) = Π σ((2v−1)⊙(b+Wh)) = Π p^v (1−p)^(1−v)."""
    params = random_params(2, *shape)
    joint, V, H, _, _ = joint_table(params)
    brute = joint / joint.sum(axis=0, keepdims=True)  # [v, h]: P(v, h) / P(h)

    notes_form = np.exp(rbm.log_prob_v_given_h(params, V[:, None, :], H[None, :, :]))
    p = np.asarray(rbm.prob_v_given_h(params, H))  # [h, n_v]: σ(b + Wh)
    sigmoid_form = np.prod(
        np.where(V[:, None, :] == 1, p[None, :, :], 1 - p[None, :, :]), axis=-1
    )
    np.testing.assert_allclose(notes_form, brute, rtol=0, atol=TOL)
    np.testing.assert_allclose(sigmoid_form, brute, rtol=0, atol=TOL)
    # A conditional distribution over v for every h.
    np.testing.assert_allclose(notes_form.sum(axis=0), 1.0, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_p_h_given_v_three_ways(x64, shape):
    params = random_params(3, *shape)
    joint, V, H, _, _ = joint_table(params)
    brute = joint / joint.sum(axis=1, keepdims=True)  # [v, h]: P(v, h) / P(v)

    twin_form = np.exp(rbm.log_prob_h_given_v(params, H[None, :, :], V[:, None, :]))
    p = np.asarray(rbm.prob_h_given_v(params, V))  # [v, n_h]
    sigmoid_form = np.prod(
        np.where(H[None, :, :] == 1, p[:, None, :], 1 - p[:, None, :]), axis=-1
    )
    np.testing.assert_allclose(twin_form, brute, rtol=0, atol=TOL)
    np.testing.assert_allclose(sigmoid_form, brute, rtol=0, atol=TOL)
    np.testing.assert_allclose(twin_form.sum(axis=1), 1.0, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_free_energies_sum_out_a_layer(x64, shape):
    params = random_params(4, *shape)
    _, V, H, neg_e, _ = joint_table(params)
    np.testing.assert_allclose(
        rbm.free_energy(params, V), -np.logaddexp.reduce(neg_e, axis=1), rtol=0, atol=TOL
    )
    np.testing.assert_allclose(
        rbm.hidden_free_energy(params, H), -np.logaddexp.reduce(neg_e, axis=0), rtol=0, atol=TOL
    )


def test_notes_single_unit_normalisation(x64):
    """The notes' step: P̃(v_i=1|h) / (P̃(v_i=0|h) + P̃(v_i=1|h)) = σ(b_i + (Wh)_i)."""
    params = random_params(5, 4, 3)
    h = jnp.array([1.0, 0.0, 1.0])
    a = params.b + params.W @ h
    unnormalised_on, unnormalised_off = jnp.exp(a), jnp.exp(0.0)
    np.testing.assert_allclose(
        rbm.prob_v_given_h(params, h), unnormalised_on / (unnormalised_off + unnormalised_on),
        rtol=TOL, atol=0,
    )


def test_batching_broadcasts_like_numpy(x64):
    params = random_params(6, 4, 3)
    v = jax.random.bernoulli(jax.random.key(0), 0.5, (5, 1, 4)).astype(jnp.float64)
    h = jax.random.bernoulli(jax.random.key(1), 0.5, (7, 3)).astype(jnp.float64)
    e = rbm.energy(params, v, h)
    assert e.shape == (5, 7)
    np.testing.assert_allclose(e[2, 4], rbm.energy(params, v[2, 0], h[4]), rtol=0, atol=TOL)
    assert rbm.log_prob_v_given_h(params, v, h).shape == (5, 7)
    assert rbm.log_prob_h_given_v(params, h, v).shape == (5, 7)
    assert rbm.free_energy(params, v).shape == (5, 1)
    assert rbm.prob_h_given_v(params, v).shape == (5, 1, 3)
    assert rbm.sample_v_given_h(jax.random.key(2), params, h).shape == (7, 4)


@settings(max_examples=6)  # each new shape compiles: keep the suite fast
@given(
    n_visible=st.integers(1, 6),
    n_hidden=st.integers(1, 6),
    batch=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_single_configuration_equals_batched(n_visible, n_hidden, batch, seed):
    """Batching is a pure map: each batch entry equals the unbatched call."""
    params = random_params(seed, n_visible, n_hidden)
    kv, kh = jax.random.split(jax.random.key(seed + 1))
    v = jax.random.bernoulli(kv, 0.5, (*batch, n_visible)).astype(params.W.dtype)
    h = jax.random.bernoulli(kh, 0.5, (*batch, n_hidden)).astype(params.W.dtype)
    flat_v, flat_h = v.reshape(-1, n_visible), h.reshape(-1, n_hidden)
    for fn in (rbm.energy, rbm.log_prob_v_given_h):
        batched = fn(params, v, h).reshape(-1)
        single = jnp.stack([fn(params, a, b) for a, b in zip(flat_v, flat_h)])
        np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        rbm.log_prob_h_given_v(params, h, v).reshape(-1),
        jnp.stack([rbm.log_prob_h_given_v(params, b, a) for a, b in zip(flat_v, flat_h)]),
        rtol=1e-5, atol=1e-5,
    )


def test_outputs_follow_params_dtype(x64):
    for dtype in (jnp.float32, jnp.float64):
        params = random_params(7, 3, 2, dtype=dtype)
        v = jnp.array([1, 0, 1])  # integer input is accepted and cast
        h = jnp.array([True, False])
        key = jax.random.key(0)
        outs = [
            rbm.energy(params, v, h),
            rbm.free_energy(params, v),
            rbm.hidden_free_energy(params, h),
            rbm.prob_h_given_v(params, v),
            rbm.prob_v_given_h(params, h),
            rbm.log_prob_v_given_h(params, v, h),
            rbm.log_prob_h_given_v(params, h, v),
            rbm.sample_h_given_v(key, params, v),
            rbm.sample_v_given_h(key, params, h),
        ]
        for out in outs:
            assert out.dtype == dtype


def test_float32_by_default_without_x64():
    params = rbm.init_params(jax.random.key(0), 5, 3)
    assert all(leaf.dtype == jnp.float32 for leaf in params)
    assert rbm.free_energy(params, jnp.ones(5)).dtype == jnp.float32


def test_library_never_changes_global_x64():
    before = jax.config.jax_enable_x64
    rbm.init_params(jax.random.key(0), 3, 2, dtype=jnp.float32)
    import rbm_jax  # noqa: F401  (importing must not flip it either)

    assert jax.config.jax_enable_x64 == before


def test_samples_are_binary_with_the_right_frequencies():
    params = random_params(8, 3, 4)
    v = jnp.array([1.0, 0.0, 1.0])
    n = 40_000
    h = rbm.sample_h_given_v(jax.random.key(0), params, jnp.broadcast_to(v, (n, 3)))
    assert set(np.unique(np.asarray(h)).tolist()) <= {0.0, 1.0}
    p = np.asarray(rbm.prob_h_given_v(params, v))
    # Per-unit frequency within 5 binomial standard errors (fixed seed).
    np.testing.assert_array_less(np.abs(h.mean(0) - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)

    hh = jnp.array([0.0, 1.0, 1.0, 0.0])
    vs = rbm.sample_v_given_h(jax.random.key(1), params, jnp.broadcast_to(hh, (n, 4)))
    q = np.asarray(rbm.prob_v_given_h(params, hh))
    np.testing.assert_array_less(np.abs(vs.mean(0) - q), 5 * np.sqrt(q * (1 - q) / n) + 1e-12)


def test_typed_and_legacy_keys_give_the_same_samples():
    params = random_params(9, 6, 5)
    v = jnp.ones((10, 6))
    typed = rbm.sample_h_given_v(jax.random.key(42), params, v)
    legacy = rbm.sample_h_given_v(jax.random.PRNGKey(42), params, v)
    np.testing.assert_array_equal(typed, legacy)
    # Different keys give different draws (the key is actually used).
    other = rbm.sample_h_given_v(jax.random.key(43), params, v)
    assert not np.array_equal(typed, other)


def test_functions_run_under_jit_vmap_and_grad():
    params = random_params(10, 4, 3)
    v = jnp.array([[1.0, 0, 1, 1], [0, 0, 1, 0]])
    chex.assert_trees_all_close(
        jax.jit(rbm.free_energy)(params, v), rbm.free_energy(params, v), rtol=1e-6
    )
    chex.assert_trees_all_close(
        jax.vmap(rbm.free_energy, in_axes=(None, 0))(params, v), rbm.free_energy(params, v),
        rtol=1e-6,
    )
    # ∂F/∂b = -v: a closed form.
    grad_b = jax.grad(lambda p: rbm.free_energy(p, v[0]))(params).b
    np.testing.assert_allclose(grad_b, -v[0], rtol=1e-6)


def test_large_weights_stay_finite_float32():
    """Weights of magnitude ~1e3 in float32: log-space everywhere, so no NaN or inf."""
    kw, kb, kc = jax.random.split(jax.random.key(0), 3)
    params = RBMParams(
        1e3 * jax.random.normal(kw, (8, 6)),
        1e3 * jax.random.normal(kb, (8,)),
        1e3 * jax.random.normal(kc, (6,)),
    )
    v = jax.random.bernoulli(jax.random.key(1), 0.5, (16, 8)).astype(jnp.float32)
    h = jax.random.bernoulli(jax.random.key(2), 0.5, (16, 6)).astype(jnp.float32)
    outs = {
        "energy": rbm.energy(params, v, h),
        "free_energy": rbm.free_energy(params, v),
        "hidden_free_energy": rbm.hidden_free_energy(params, h),
        "prob_h_given_v": rbm.prob_h_given_v(params, v),
        "prob_v_given_h": rbm.prob_v_given_h(params, h),
        "log_prob_v_given_h": rbm.log_prob_v_given_h(params, v, h),
        "log_prob_h_given_v": rbm.log_prob_h_given_v(params, h, v),
        "sample_h_given_v": rbm.sample_h_given_v(jax.random.key(3), params, v),
        "sample_v_given_h": rbm.sample_v_given_h(jax.random.key(4), params, h),
    }
    for name, out in outs.items():
        assert np.all(np.isfinite(out)), name
    # Saturated conditionals are certain, and their logs are ≤ 0.
    assert np.all(np.asarray(outs["log_prob_v_given_h"]) <= 0)
    # The free energy is the exact closed form, not an overflowed one:
    # F(v) = -bᵀv - Σ softplus(a) with softplus(a) = max(a, 0) to float32 precision here.
    a = params.c + v @ params.W
    np.testing.assert_allclose(
        outs["free_energy"], -(v @ params.b) - jnp.sum(jnp.maximum(a, 0), -1), rtol=1e-5
    )


# ---------------------------------------------------------------- init_params


def test_init_params_defaults_follow_hintons_guide():
    params = rbm.init_params(jax.random.key(0), 200, 100)
    assert params.W.shape == (200, 100) and params.b.shape == (200,) and params.c.shape == (100,)
    # 20,000 N(0, 0.01²) draws: the sample std is within 2% of 0.01 (≈ 5.6 standard errors).
    assert abs(float(jnp.std(params.W)) - 0.01) < 2e-4
    assert abs(float(jnp.mean(params.W))) < 5 * 0.01 / np.sqrt(20_000)
    np.testing.assert_array_equal(params.b, 0.0)
    np.testing.assert_array_equal(params.c, 0.0)


def test_init_params_visible_biases_from_data(x64):
    data = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 1], [1, 0, 0, 1]], np.float64)
    params = rbm.init_params(jax.random.key(0), 4, 3, data=data, dtype=jnp.float64, clip=1e-3)
    p = np.clip(data.mean(0), 1e-3, 1 - 1e-3)  # [1, 0, .5, .5] -> clipped away from 0 and 1
    np.testing.assert_allclose(params.b, np.log(p / (1 - p)), rtol=1e-12)
    assert np.all(np.isfinite(params.b))
    assert params.b[0] > 6 and params.b[1] < -6


def test_init_params_is_deterministic_in_the_key():
    a = rbm.init_params(jax.random.key(3), 5, 4)
    b = rbm.init_params(jax.random.PRNGKey(3), 5, 4)
    chex.assert_trees_all_equal(a, b)
    assert not np.array_equal(a.W, rbm.init_params(jax.random.key(4), 5, 4).W)


def test_params_are_a_pytree():
    params = rbm.init_params(jax.random.key(0), 3, 2)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    assert len(leaves) == 3
    assert isinstance(jax.tree_util.tree_unflatten(treedef, leaves), RBMParams)
    assert params.n_visible == 3 and params.n_hidden == 2


# ---------------------------------------------------------------- bad input


@pytest.fixture
def p43():
    return random_params(0, 4, 3)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p._replace(b=p.b[:3]), r"params\.b must be \[n_visible\] = \[4\]"),
        (lambda p: p._replace(c=jnp.zeros(5)), r"params\.c must be \[n_hidden\] = \[3\]"),
        (lambda p: p._replace(W=p.W[0]), r"params\.W must be \[n_visible, n_hidden\]"),
        (lambda p: p._replace(W=p.W.astype(jnp.int32)), r"params\.W must be a floating array"),
        (lambda p: (p.W, p.b), r"params must be RBMParams"),
    ],
)
def test_bad_params_are_named(p43, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rbm.free_energy(make(p43), jnp.zeros(4))


def test_bad_configurations_are_named(p43):
    with pytest.raises(ValueError, match=r"v must have shape \[\.\.\., n_visible\] = \[\.\.\., 4\], got shape \(5,\)"):
        rbm.free_energy(p43, jnp.zeros(5))
    with pytest.raises(ValueError, match=r"h must have shape \[\.\.\., n_hidden\] = \[\.\.\., 3\]"):
        rbm.energy(p43, jnp.zeros(4), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"v must have shape .* got a scalar"):
        rbm.prob_h_given_v(p43, 1.0)
    with pytest.raises(ValueError, match=r"batch axes of v \(2,\) and h \(3,\)"):
        rbm.energy(p43, jnp.zeros((2, 4)), jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"batch axes of h \(3,\) and v \(2,\)"):
        rbm.log_prob_h_given_v(p43, jnp.zeros((3, 3)), jnp.zeros((2, 4)))


def test_shape_errors_fire_under_a_callers_jit(p43):
    with pytest.raises(ValueError, match=r"v must have shape"):
        jax.jit(lambda v: rbm.free_energy(p43, v))(jnp.zeros((2, 5)))


def test_bad_keys_and_sizes_are_named(p43):
    with pytest.raises(TypeError, match=r"key must be a JAX PRNG key.*jax\.random\.key\(0\)"):
        rbm.sample_h_given_v(0, p43, jnp.zeros(4))
    with pytest.raises(ValueError, match=r"n_hidden must be a positive integer, got 0"):
        rbm.init_params(jax.random.key(0), 4, 0)
    with pytest.raises(TypeError, match=r"n_visible must be a positive integer"):
        rbm.init_params(jax.random.key(0), 4.5, 3)
    with pytest.raises(TypeError, match=r"dtype must be a floating dtype"):
        rbm.init_params(jax.random.key(0), 4, 3, dtype=jnp.int32)
    with pytest.raises(ValueError, match=r"clip must be a finite number in \(0, 0\.5\)"):
        rbm.init_params(jax.random.key(0), 4, 3, clip=0.0)
    with pytest.raises(ValueError, match=r"weight_scale must be a finite number"):
        rbm.init_params(jax.random.key(0), 4, 3, weight_scale=float("nan"))
    with pytest.raises(TypeError, match=r"weight_scale must be a finite number >= 0, got '0\.1'"):
        rbm.init_params(jax.random.key(0), 4, 3, weight_scale="0.1")


def test_dict_params_are_refused_by_name(p43):
    with pytest.raises(TypeError, match=r"params must be an RBM params type \(RBMParams\), got a dict "
                                        r"with keys \['W', 'b', 'c'\]; build one with RBMParams"):
        rbm.free_energy(p43._asdict(), jnp.zeros(4))


# Values are checked as well as shapes: NaN parameters, NaN or out-of-range
# configurations come back as errors naming the argument, not as plausible numbers.

@pytest.mark.parametrize("call", [
    lambda p, v, h: rbm.energy(p, v, h),
    lambda p, v, h: rbm.free_energy(p, v),
    lambda p, v, h: rbm.hidden_free_energy(p, h),
    lambda p, v, h: rbm.prob_h_given_v(p, v),
    lambda p, v, h: rbm.prob_v_given_h(p, h),
    lambda p, v, h: rbm.log_prob_v_given_h(p, v, h),
    lambda p, v, h: rbm.log_prob_h_given_v(p, h, v),
    lambda p, v, h: rbm.sample_h_given_v(jax.random.key(0), p, v),
    lambda p, v, h: rbm.sample_v_given_h(jax.random.key(0), p, h),
])
def test_nan_params_are_refused_by_every_function(p43, call):
    v, h = jnp.zeros(4), jnp.zeros(3)
    call(p43, v, h)  # the control: good input goes through
    for leaf in ("W", "b", "c"):
        bad = p43._replace(**{leaf: getattr(p43, leaf).at[(0,) * getattr(p43, leaf).ndim].set(jnp.nan)})
        with pytest.raises(ValueError, match=rf"params\.{leaf} contains 1 NaN or inf value"):
            call(bad, v, h)


@pytest.mark.parametrize("bad_value, match", [
    (5.0, r"must hold values in \[0, 1\]; 1 entries do not, first 5\.0 at index \(1, 2\)"),
    (-0.5, r"must hold values in \[0, 1\]; 1 entries do not, first -0\.5 at index \(1, 2\)"),
    (np.nan, r"contains 1 NaN/inf value\(s\), first at index \(1, 2\)"),
    (np.inf, r"contains 1 NaN/inf value\(s\), first at index \(1, 2\)"),
])
def test_configurations_outside_the_unit_range_are_refused(p43, bad_value, match):
    v = np.zeros((2, 4), np.float32)
    v[1, 2] = bad_value
    h = np.zeros((2, 3), np.float32)
    h[1, 2] = bad_value
    with pytest.raises(ValueError, match="v " + match):
        rbm.free_energy(p43, v)
    with pytest.raises(ValueError, match="v " + match):
        rbm.sample_h_given_v(jax.random.key(0), p43, jnp.asarray(v))
    with pytest.raises(ValueError, match="h " + match):
        rbm.prob_v_given_h(p43, h)
    with pytest.raises(ValueError, match="h " + match):
        rbm.energy(p43, np.zeros(4), h)


def test_grey_and_integer_and_boolean_configurations_are_legal(p43):
    grey = jnp.full((4,), 0.5)
    assert np.isfinite(rbm.free_energy(p43, grey))
    np.testing.assert_allclose(rbm.free_energy(p43, np.array([1, 0, 1, 1])),
                               rbm.free_energy(p43, np.array([True, False, True, True])))


def test_values_are_not_checked_under_a_callers_jit(p43):
    # Documented limit: under the caller's jit the values are tracers, only shapes are checked.
    out = jax.jit(lambda v: rbm.free_energy(p43, v))(jnp.full((4,), 5.0))
    assert np.isfinite(out)


def test_bad_data_for_init_params_is_named():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"data must be a matrix \[n_rows, n_visible\] = \[n_rows, 4\], got shape \(10, 3\)"):
        rbm.init_params(key, 4, 2, data=np.zeros((10, 3)))
    nan_data = np.zeros((10, 4))
    nan_data[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"data contains 1 NaN/inf value\(s\), first at index \(3, 2\)"):
        rbm.init_params(key, 4, 2, data=nan_data)
    with pytest.raises(ValueError, match=r"data must hold values in \[0, 1\]"):
        rbm.init_params(key, 4, 2, data=np.full((10, 4), 2.0))


def test_value_checks_are_one_fused_device_reduction(p43, monkeypatch):
    # All of one call's value checks (3 params leaves, v and h) run as ONE jitted
    # reduction with one transfer, not a host copy per array.
    from rbm_jax import _checks
    calls = []
    real = _checks._invalid_counter

    def counting(rules):
        count = real(rules)
        return lambda arrays: calls.append(len(arrays)) or count(arrays)

    monkeypatch.setattr(_checks, "_invalid_counter", counting)
    rbm.energy(p43, jnp.zeros((2, 4)), jnp.zeros((2, 3)))
    assert calls == [5]
