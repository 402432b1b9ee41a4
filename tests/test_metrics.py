"""rbm_jax.metrics against enumeration and scikit-learn; rbm_jax.sklearn_interop round trips."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neural_network import BernoulliRBM

from conftest import random_params
from rbm_jax import exact, metrics, rbm, sklearn_interop
from rbm_jax.rbm import RBMParams

TOL = 1e-10


def test_pseudo_log_likelihood_by_enumeration(x64):
    params = random_params(400, 5, 3)
    p = np.asarray(exact.marginal_v_table(params))
    V = np.array(list(itertools.product([0, 1], repeat=5)), np.float64)
    index = {tuple(v): i for i, v in enumerate(V.astype(int))}
    expected = []
    for v in V:
        total = 0.0
        for i in range(5):
            other = v.copy()
            other[i] = 1 - other[i]
            total += np.log(p[index[tuple(v.astype(int))]] / (p[index[tuple(v.astype(int))]] + p[index[tuple(other.astype(int))]]))
        expected.append(total)
    np.testing.assert_allclose(metrics.pseudo_log_likelihood(params, V), expected, rtol=0, atol=TOL)


def test_stochastic_estimate_averages_to_the_exact_one(x64):
    """Averaging n_visible · log σ(F(ṽ) − F(v)) over every choice of flipped unit gives the exact PLL."""
    params = random_params(401, 6, 4)
    X = jax.random.uniform(jax.random.key(0), (7, 6), jnp.float64)  # grey values too
    per_unit = jnp.stack([metrics.stochastic_pseudo_log_likelihood(params, X, jnp.full((7,), i)) for i in range(6)])
    np.testing.assert_allclose(per_unit.mean(0), metrics.pseudo_log_likelihood(params, X), rtol=0, atol=TOL)


@pytest.mark.parametrize("grey", [False, True])
def test_matches_sklearn_score_samples(x64, grey):
    params = random_params(402, 64, 20, scale=0.3)
    rs = np.random.RandomState(0)
    X = rs.rand(40, 64) if grey else (rs.rand(40, 64) > 0.5).astype(np.float64)
    sk = sklearn_interop.to_sklearn(params, random_state=7)
    flips = np.random.RandomState(7).randint(0, 64, 40)  # what score_samples draws
    ours = metrics.stochastic_pseudo_log_likelihood(params, X, flips)
    np.testing.assert_allclose(ours, sk.score_samples(X), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(rbm.free_energy(params, X), sk._free_energy(X), rtol=1e-12, atol=1e-10)


def test_sklearn_round_trip(x64):
    params = random_params(403, 7, 3)
    sk = sklearn_interop.to_sklearn(params, learning_rate=0.06, batch_size=10)
    assert sk.components_.shape == (3, 7) and sk.n_components == 3
    back = sklearn_interop.from_sklearn(sk, dtype=jnp.float64)
    for a, b in zip(back, params):
        np.testing.assert_array_equal(a, b)
    # A model fitted by scikit-learn converts too, and our conditionals match its own.
    X = (np.random.RandomState(1).rand(30, 7) > 0.5).astype(np.float64)
    fitted = BernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(X)
    p = sklearn_interop.from_sklearn(fitted, dtype=jnp.float64)
    np.testing.assert_allclose(rbm.prob_h_given_v(p, X), fitted.transform(X), rtol=1e-12)
    np.testing.assert_allclose(rbm.free_energy(p, X), fitted._free_energy(X), rtol=1e-12)
    with pytest.raises(ValueError, match="fit the BernoulliRBM"):
        sklearn_interop.from_sklearn(BernoulliRBM())


def test_reconstruction_error_and_free_energy_gap(x64):
    params = random_params(404, 5, 3)
    X = jax.random.bernoulli(jax.random.key(1), 0.5, (9, 5)).astype(jnp.float64)
    rec = jax.nn.sigmoid(params.b + jax.nn.sigmoid(params.c + X @ params.W) @ params.W.T)
    np.testing.assert_allclose(metrics.reconstruction_error(params, X), np.mean(np.sum((X - rec) ** 2, 1)), atol=TOL)
    train_rows, held = X[:5], X[5:]
    gap = metrics.free_energy_gap(params, train_rows, held)
    # log Z cancels: the gap is the difference of the exact average log-likelihoods.
    np.testing.assert_allclose(gap, exact.log_likelihood(params, train_rows) - exact.log_likelihood(params, held),
                               atol=TOL)


def test_log_likelihood_exact_and_ais_paths(x64, monkeypatch):
    params = random_params(405, 8, 6, scale=0.5)
    X = jax.random.bernoulli(jax.random.key(2), 0.5, (30, 8)).astype(jnp.float64)
    est = metrics.log_likelihood(params, X)
    assert est.method == "exact" and float(est.stderr) == 0.0
    np.testing.assert_allclose(est.value, exact.log_likelihood(params, X), atol=TOL)
    monkeypatch.setattr(metrics, "MAX_EXACT_UNITS", 4)  # force the AIS path on a model we can check
    with pytest.raises(ValueError, match="needs a key"):
        metrics.log_likelihood(params, X)
    ais_est = metrics.log_likelihood(params, X, key=jax.random.key(3), n_betas=2000)
    assert ais_est.method == "ais"
    assert abs(float(ais_est.value - est.value)) < 3 * float(ais_est.stderr) + 1e-3


def test_large_weights_stay_finite():
    kw, kb, kc = jax.random.split(jax.random.key(1), 3)
    params = RBMParams(1e3 * jax.random.normal(kw, (6, 5)), 1e3 * jax.random.normal(kb, (6,)),
                       1e3 * jax.random.normal(kc, (5,)))
    X = jax.random.bernoulli(jax.random.key(2), 0.5, (8, 6)).astype(jnp.float32)
    for out in (metrics.pseudo_log_likelihood(params, X), metrics.reconstruction_error(params, X),
                metrics.stochastic_pseudo_log_likelihood(params, X, jnp.zeros(8, jnp.int32))):
        assert np.all(np.isfinite(out))


def test_bad_input_is_named():
    params = random_params(406, 4, 3)
    X = np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"flip_index must be \[n_rows\] = \[5\] integers"):
        metrics.stochastic_pseudo_log_likelihood(params, X, np.zeros(4, np.int32))
    with pytest.raises(ValueError, match=r"flip_index must lie in \[0, 4\), got values in \[0, 4\]"):
        metrics.stochastic_pseudo_log_likelihood(params, X, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"held_out must be a matrix"):
        metrics.free_energy_gap(params, X, np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"data must hold values in \[0, 1\]"):
        metrics.pseudo_log_likelihood(params, X - 1)


def test_nan_params_are_refused_by_the_metrics():
    params = random_params(3, 5, 3)
    X = np.zeros((4, 5), np.float32)
    bad = params._replace(c=params.c.at[1].set(jnp.nan))
    for call in (lambda p: metrics.reconstruction_error(p, X),
                 lambda p: metrics.pseudo_log_likelihood(p, X),
                 lambda p: metrics.free_energy_gap(p, X, X)):
        assert np.all(np.isfinite(call(params)))  # the control
        with pytest.raises(ValueError, match=r"params\.c contains 1 NaN or inf value"):
            call(bad)
    with pytest.raises(ValueError, match=r"held_out must hold values in \[0, 1\]"):
        metrics.free_energy_gap(params, X, X + 2)
