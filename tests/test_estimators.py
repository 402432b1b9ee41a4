"""rbm_jax.estimators: estimators are values, and a new one plugs into training with no change to train.py.

The toy estimator here exists only in this test: its negatives are EXACT samples of the model
(enumeration), so its gradient estimate is unbiased for any number of samples. It is one
definition, and ``train.fit``, ``train.gradient_estimate`` and ``train.fit_many`` take it as ``method``.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from conftest import random_params
from rbm_jax import data, estimators, exact, rbm, train
from rbm_jax._src import enumeration, model


@dataclasses.dataclass(frozen=True)
class ExactNegatives(estimators.Estimator):
    """Negatives drawn exactly from the model by enumeration (small models only)."""

    n_samples: int = 500
    name = "exact"

    def negatives(self, key, params, batch, mean_h_data, chains):
        v = enumeration.sample_exact(key, params, self.n_samples)
        return estimators.Negatives(v, model.prob_h_given_v(params, v), chains, {})


def test_a_new_estimator_plugs_in_without_touching_train(x64):
    """Its estimate is unbiased: the mean over replicates equals the exact gradient within 5 s.e."""
    params = random_params(900, 6, 4)
    X = data.bars_and_stripes(3, dtype=np.float64)[:, :6]
    est = ExactNegatives(n_samples=4000)
    g_exact = train.exact_gradient(params, X)
    g, chains = train.gradient_estimate(jax.random.key(0), params, X, method=est)
    assert chains is None
    # Each model statistic is a mean of n terms in [0, 1]: 5 × 0.5 / sqrt(n) bounds 5 standard errors.
    tol = 5 * 0.5 / np.sqrt(est.n_samples)
    for name in ("W", "b", "c"):
        np.testing.assert_array_less(np.abs(getattr(g, name) - getattr(g_exact, name)), tol)
    # Negative control: the same bound sees a model whose biases are off by 0.3.
    off = params._replace(b=params.b + 0.3)
    g_off, _ = train.gradient_estimate(jax.random.key(0), off, X, method=est)
    assert np.max(np.abs(g_off.b - g_exact.b)) > tol


def test_training_with_the_toy_estimator_climbs_the_likelihood():
    X = data.bars_and_stripes(3)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    est = ExactNegatives(n_samples=200)
    keys = jax.random.split(jax.random.key(1), 2)
    params, hist = train.fit(keys[0], p0, X, method=est, n_epochs=100, batch_size=7, learning_rate=0.5,
                             metrics_every=1)
    ll = hist["log_likelihood"]
    assert ll.shape == (100,) and np.all(np.isfinite(ll))
    assert ll[-1] > exact.log_likelihood(p0, X) + 0.5
    # And as a value in fit_many: model i equals model i trained alone.
    many, _ = train.fit_many(keys, p0, X, method=est, n_epochs=100, batch_size=7, learning_rate=0.5)
    np.testing.assert_allclose(many.W[0], params.W, rtol=1e-5, atol=1e-6)


def test_shorthands_are_the_estimator_values():
    """'cd' / 'pcd' / 'pt' are shorthands for cd(k) / pcd(k, n) / pt(k, betas): same value, same numbers."""
    for name, value in (("cd", train.cd(2)), ("pcd", train.pcd(2, n_chains=7)), ("pt", train.pt(2, (1.0, 0.5)))):
        cfg = train.TrainConfig(method=name, k=2, batch_size=7, betas=(1.0, 0.5) if name == "pt" else None)
        resolved = value.resolve(7)  # n_chains defaults to the batch size
        assert cfg.estimator == resolved and train.TrainConfig(method=value, batch_size=7).estimator == resolved
    X = data.bars_and_stripes(3)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    a, _ = train.fit(jax.random.key(1), p0, X, method="pt", k=2, betas=(1.0, 0.5), n_epochs=2, batch_size=7)
    b, _ = train.fit(jax.random.key(1), p0, X, method=train.pt(2, (1.0, 0.5)), n_epochs=2, batch_size=7)
    np.testing.assert_array_equal(a.W, b.W)
    assert train.cd(3).label == "CD-3" and train.pt(1, (1.0, 0.5, 0.2)).label == "PT-1 (3 rungs)"


def test_bad_estimator_settings_are_named():
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        train.cd(0)
    with pytest.raises(ValueError, match="n_chains must be a positive integer, got -3"):
        train.pcd(1, n_chains=-3)
    with pytest.raises(ValueError, match=r"betas\[0\] must be 1 \(rung 0 samples the model itself\), got 0\.5"):
        train.pt(1, (0.5, 0.2))
    with pytest.raises(ValueError, match=r"method must be one of \('cd', 'pcd', 'pt'\), got 'gibbs'"):
        estimators.as_estimator("gibbs")
    X = data.bars_and_stripes(3)
    with pytest.raises(ValueError, match="needs persistent chains"):
        train.gradient_estimate(jax.random.key(0), rbm.init_params(jax.random.key(0), 9, 5), X, method=train.pcd(1))

