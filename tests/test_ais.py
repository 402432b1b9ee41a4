"""rbm_jax.ais on trained RBMs whose exact log Z is known by enumeration."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import chex
import numpy as np
import optax
import pytest

from conftest import random_params
from rbm_jax import ais, data, exact, rbm, train
from rbm_jax.rbm import RBMParams


@functools.lru_cache(maxsize=None)
def trained(name):
    """Trained float64 models (cached per session): bars-and-stripes 4×4 (PT) and 3×3 (CD-1)."""
    with jax.enable_x64(True):
        if name == "bas4_pt":
            X = data.bars_and_stripes(4, dtype=np.float64)
            p0 = rbm.init_params(jax.random.key(0), 16, 16, data=X, dtype=jnp.float64, weight_scale=0.5)
            params, _ = train.fit(jax.random.key(1), p0, X, method="pt", n_epochs=600, batch_size=10,
                                  optimizer=optax.sgd(0.2), betas=[1.0, 0.5, 0.25], metrics_every=600)
        else:
            X = data.bars_and_stripes(3, dtype=np.float64)
            p0 = rbm.init_params(jax.random.key(2), 9, 12, data=X, dtype=jnp.float64, weight_scale=0.5)
            params, _ = train.fit(jax.random.key(3), p0, X, method="cd", n_epochs=400, batch_size=7,
                                  optimizer=optax.sgd(0.2), metrics_every=400)
    return params, X


def test_default_schedule_is_salakhutdinov_murrays():
    b = ais.default_betas()
    assert b.shape == (14_501,) and b[0] == 0 and b[-1] == 1
    d = np.diff(b)
    np.testing.assert_allclose(d[b[:-1] < 0.5 - 1e-12], 1e-3, rtol=1e-9)
    np.testing.assert_allclose(d[(b[:-1] >= 0.5 - 1e-12) & (b[:-1] < 0.9 - 1e-12)], 1e-4, rtol=1e-6)
    np.testing.assert_allclose(d[b[:-1] >= 0.9 - 1e-12], 1e-5, rtol=1e-5)


@pytest.mark.parametrize("n", [2, 3, 10, 1000])
def test_schedule_of_given_length(n):
    b = ais.schedule(n)
    assert b.shape == (n,) and b[0] == 0 and b[-1] == 1 and np.all(np.diff(b) > 0)


def test_base_log_z_is_exact(x64):
    params = random_params(500, 7, 5)
    X = jax.random.bernoulli(jax.random.key(0), 0.3, (50, 7)).astype(jnp.float64)
    b_a = ais.base_rate_biases(X, dtype=jnp.float64)
    base = RBMParams(jnp.zeros_like(params.W), b_a, jnp.zeros_like(params.c))
    with pytest.warns(ais.DegenerateWeightsWarning):  # 2 runs: never an error bar
        log_z_base = ais.log_partition(jax.random.key(1), params, n_runs=2, n_betas=2, data=X).log_z_base
    np.testing.assert_allclose(log_z_base, exact.log_partition(base), atol=1e-12)
    p = (X.sum(0) + 1) / (50 + 2)
    np.testing.assert_allclose(b_a, np.log(p / (1 - p)), atol=1e-12)


@pytest.mark.parametrize("name", ["bas4_pt", "bas3_cd"])
@pytest.mark.parametrize("use_data", [True, False])
def test_forward_ais_on_trained_models(x64, name, use_data):
    params, X = trained(name)
    log_z = float(exact.log_partition(params))
    est = ais.log_partition(jax.random.key(4), params, data=X if use_data else None)
    err = abs(float(est.log_z) - log_z)
    assert err < 3 * float(est.stderr) and err < 0.1, (float(est.log_z), log_z, float(est.stderr))
    assert est.log_weights.shape == (100,) and est.direction == "forward" and not est.heuristic
    assert not est.degenerate and ais.MIN_ESS <= float(est.ess) <= 100
    # The log-likelihood through AIS matches the exact one just as well.
    ll_ais = -float(jnp.mean(rbm.free_energy(params, X))) - float(est.log_z)
    assert abs(ll_ais - float(exact.log_likelihood(params, X))) < 0.1


@pytest.mark.filterwarnings("ignore::rbm_jax.ais.DegenerateWeightsWarning")  # short schedule on purpose
def test_forward_and_reverse_ais_bracket_log_z(x64):
    """With a deliberately short schedule the Jensen gaps are large: E[forward] < log Z < E[reverse]."""
    params, X = trained("bas4_pt")
    log_z = float(exact.log_partition(params))
    fwd = np.array([float(ais.log_partition(jax.random.key(s), params, n_runs=50, n_betas=10, data=X).log_z)
                    for s in range(10)])
    rev = np.array([float(ais.reverse_log_partition(jax.random.key(s), params, n_runs=50, n_betas=10,
                                                    data=X).log_z) for s in range(10)])
    se_f, se_r = fwd.std(ddof=1) / np.sqrt(10), rev.std(ddof=1) / np.sqrt(10)
    assert fwd.mean() + 2 * se_f < log_z < rev.mean() - 2 * se_r, (fwd.mean() - log_z, rev.mean() - log_z)


def test_reverse_ais_from_data_is_labelled_heuristic(x64):
    params, X = trained("bas3_cd")
    est = ais.reverse_log_partition(jax.random.key(5), params, start=X, n_betas=2000, data=X)
    assert est.heuristic and est.direction == "reverse" and est.log_weights.shape == (X.shape[0],)
    assert abs(float(est.log_z) - float(exact.log_partition(params))) < 1.0  # a check, not a bound
    exact_start = ais.reverse_log_partition(jax.random.key(5), params, n_runs=30, n_betas=2000, data=X)
    assert not exact_start.heuristic


@pytest.mark.filterwarnings("ignore::rbm_jax.ais.DegenerateWeightsWarning")  # 10 runs
def test_explicit_betas_win_over_n_betas(x64):
    params = random_params(501, 6, 4, scale=0.5)
    a = ais.log_partition(jax.random.key(0), params, betas=np.linspace(0, 1, 50), n_betas=9999, n_runs=10)
    b = ais.log_partition(jax.random.key(0), params, betas=np.linspace(0, 1, 50), n_runs=10)
    np.testing.assert_array_equal(a.log_weights, b.log_weights)


def test_large_weights_give_no_nan():
    kw, kb, kc = jax.random.split(jax.random.key(1), 3)
    params = RBMParams(30 * jax.random.normal(kw, (8, 6)), 30 * jax.random.normal(kb, (8,)),
                       30 * jax.random.normal(kc, (6,)))
    with pytest.warns(ais.DegenerateWeightsWarning):
        est = ais.log_partition(jax.random.key(0), params, n_betas=200, n_runs=10)
    assert np.isfinite(est.log_z) and np.all(np.isfinite(est.log_weights)) and est.degenerate


def test_bad_input_is_named():
    params = random_params(502, 4, 3)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"betas must be non-decreasing from exactly 0 to exactly 1"):
        ais.log_partition(key, params, betas=[0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"n_runs must be at least 2"):
        ais.log_partition(key, params, n_runs=1)
    with pytest.raises(ValueError, match=r"n_betas must be at least 2"):
        ais.log_partition(key, params, n_betas=1)
    with pytest.raises(ValueError, match=r"data must be a matrix \[n_rows, n_visible\] = \[n_rows, 4\]"):
        ais.log_partition(key, params, data=np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"start must be 'exact' or an array"):
        ais.reverse_log_partition(key, params, start="data")


def _signed_model(scale):
    """A 6×4 model with couplings ±scale and zero biases (exact log Z by enumeration)."""
    signs = jnp.sign(jax.random.normal(jax.random.key(0), (6, 4)))
    return RBMParams(scale * signs, jnp.zeros(6), jnp.zeros(4))


def test_degenerate_weights_are_flagged_and_warned():
    """W = ±50 with 100 βs: a few runs carry all the weight and the estimate is off by ~14
    standard errors, which can never exceed 1/sqrt(ESS). The result says so, and warns."""
    params = _signed_model(50.0)
    with pytest.warns(ais.DegenerateWeightsWarning,
                      match=r"Kish ESS\) is \d\.\d of 50 runs, below ais\.MIN_ESS = 10.*more betas.*more runs"):
        est = ais.log_partition(jax.random.key(1), params, n_betas=100, n_runs=50)
    assert est.degenerate and float(est.ess) < ais.MIN_ESS
    assert float(est.stderr) <= 1 / np.sqrt(float(est.ess))
    assert abs(float(est.log_z) - float(exact.log_partition(params))) > 5 * float(est.stderr)
    # Negative control, same shapes: weak couplings give even weights, no flag and no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ais.DegenerateWeightsWarning)
        easy = ais.log_partition(jax.random.key(1), _signed_model(0.1), n_betas=100, n_runs=50)
    assert not easy.degenerate and float(easy.ess) > 40
    assert abs(float(easy.log_z) - float(exact.log_partition(_signed_model(0.1)))) < 4 * float(easy.stderr)


def test_the_result_passes_through_jit_and_tree_map():
    params = _signed_model(0.1)
    key = jax.random.key(2)
    eager = ais.log_partition(key, params, n_betas=100, n_runs=50)
    jitted = jax.jit(lambda k: ais.log_partition(k, params, n_betas=100, n_runs=50))(key)
    assert type(jitted) is ais.AISResult and jitted.direction == "forward"
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5)
    assert jax.tree_util.tree_map(jnp.shape, eager) == ais.AISResult((), (), (50,), (), (), (), (), ())
    assert not eager.reverse and not eager.heuristic and not eager.degenerate


@pytest.mark.parametrize("smoothing", [np.inf, np.nan, -1.0, 0.0, "1"])
def test_smoothing_must_be_a_finite_positive_pseudo_count(smoothing):
    params = random_params(503, 4, 3)
    X = np.zeros((5, 4), np.float32)
    error = TypeError if isinstance(smoothing, str) else ValueError
    for data in (X, None):  # refused even where it would not be used
        with pytest.raises(error, match=r"smoothing \(a pseudo-count\) must be a finite number > 0"):
            ais.log_partition(jax.random.key(0), params, n_runs=10, n_betas=10, data=data, smoothing=smoothing)
    with pytest.raises(error, match=r"smoothing \(a pseudo-count\) must be a finite number > 0"):
        ais.base_rate_biases(X, smoothing=smoothing)
