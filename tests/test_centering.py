"""Centered gradients (Melchior, Fischer & Wiskott 2016): exact references and training semantics."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import random_params
from rbm_jax import checkpoint, data, exact, rbm, train
from rbm_jax.types import Offsets, RBMParams


def _offsets(n_visible, n_hidden, dtype=jnp.float64):
    return Offsets(jnp.linspace(0.2, 0.7, n_visible, dtype=dtype), jnp.linspace(0.3, 0.6, n_hidden, dtype=dtype))


def _bas2():
    return data.bars_and_stripes(2, double_constant=True)


def test_exact_centered_gradient_is_autodiff_of_the_reparameterised_likelihood(x64):
    p = random_params(3, 5, 4, dtype=jnp.float64)
    X = (jax.random.uniform(jax.random.key(1), (30, 5)) < 0.4).astype(jnp.float64)
    o = _offsets(5, 4)
    g = train.exact_gradient(p, X, o)
    auto = jax.grad(lambda t: exact.log_likelihood(train.fold_offsets(t, o), X))(train.centered_params(p, o))
    chex.assert_trees_all_close(g, auto, atol=1e-12, rtol=0)
    plain = train.exact_gradient(p, X)
    assert float(jnp.abs(g.W - plain.W).max()) > 1e-2  # centering changes W's gradient: not vacuous
    # The formula with exact moments: ⟨(v−μ)(h−λ)ᵀ⟩_data − E_model[(v−μ)(h−λ)ᵀ].
    m = exact.model_moments(p)
    h = rbm.prob_h_given_v(p, X)
    data_side = (X - o.mu).T @ (h - o.lam) / X.shape[0]
    model_side = m.vh - jnp.outer(o.mu, m.h) - jnp.outer(m.v, o.lam) + jnp.outer(o.mu, o.lam)
    np.testing.assert_allclose(g.W, data_side - model_side, atol=1e-12)


def test_the_training_steps_ascent_is_the_gradient_of_the_contrastive_objective(x64):
    """The step's formula (``centered_ascent_direction``) against jax.grad, for any model samples."""
    p = random_params(4, 6, 3, dtype=jnp.float64)
    o = _offsets(6, 3)
    vd = (jax.random.uniform(jax.random.key(2), (20, 6)) < 0.4).astype(jnp.float64)
    vm = (jax.random.uniform(jax.random.key(3), (15, 6)) < 0.6).astype(jnp.float64)

    def objective(t):
        q = train.fold_offsets(t, o)
        return -(jnp.mean(rbm.free_energy(q, vd)) - jnp.mean(rbm.free_energy(q, jax.lax.stop_gradient(vm))))

    chex.assert_trees_all_close(train.centered_ascent_direction(p, o, vd, vm),
                                jax.grad(objective)(train.centered_params(p, o)), atol=1e-12, rtol=0)
    zero = Offsets(jnp.zeros(6), jnp.zeros(3))
    chex.assert_trees_all_equal(train.centered_ascent_direction(p, zero, vd, vm), train.ascent_direction(p, vd, vm))


def test_folding_and_moving_the_offsets_leave_the_model_unchanged(x64):
    p = random_params(5, 6, 4, dtype=jnp.float64, scale=2.0)
    o = _offsets(6, 4)
    table = exact.log_marginal_v_table(p)
    centered = train.centered_params(p, o)
    np.testing.assert_allclose(exact.log_marginal_v_table(train.fold_offsets(centered, o)), table, atol=1e-12)
    new = Offsets(o.mu[::-1] * 0.5, o.lam + 0.2)
    moved = train.shift_offsets(centered, o, new)
    np.testing.assert_allclose(exact.log_marginal_v_table(train.fold_offsets(moved, new)), table, atol=1e-12)
    # Moving the offsets without the bias shift changes the model: the check can fail.
    assert float(jnp.abs(exact.log_marginal_v_table(train.fold_offsets(centered, new)) - table).max()) > 1e-3


def test_an_update_that_only_moves_the_offsets_keeps_the_model():
    """With a zero optimizer step, a centered update moves μ, λ to their targets (rate 1) and
    leaves the params (the plain model the state keeps) exactly as they were."""
    X = _bas2()
    p0 = rbm.init_params(jax.random.key(0), 4, 4, data=X)
    cfg = train.TrainConfig(method="cd", batch_size=8, optimizer=optax.set_to_zero(), centering="data",
                            centering_rate=1.0, metrics_every=None)
    s0 = train.init_state(jax.random.key(1), p0, X, cfg)
    np.testing.assert_allclose(s0.offsets.mu, X.mean(0))
    np.testing.assert_array_equal(s0.offsets.lam, np.full(4, 0.5, np.float32))
    s1, _ = train.run_epochs(s0, X, 1, cfg)
    chex.assert_trees_all_equal(s1.params, s0.params)
    np.testing.assert_allclose(s1.offsets.mu, X.mean(0), rtol=1e-6)  # the (full) batch's mean v
    np.testing.assert_allclose(s1.offsets.lam, rbm.prob_h_given_v(p0, X).mean(0), rtol=1e-6)


@pytest.mark.parametrize("method", [pytest.param("cd", marks=pytest.mark.slow), "pcd",
                                    pytest.param("pt", marks=pytest.mark.slow)])
def test_centering_with_offsets_fixed_at_zero_is_plain_training_bit_for_bit(method):
    X = _bas2()
    p0 = rbm.init_params(jax.random.key(0), 4, 4, data=X)
    extra = {"betas": (1.0, 0.5)} if method == "pt" else {}
    plain = train.TrainConfig(method=method, batch_size=4, metrics_every=None, **extra)
    centered = train.TrainConfig(method=method, batch_size=4, metrics_every=None, centering="model",
                                 centering_rate=0.0, **extra)
    s0 = train.init_state(jax.random.key(1), p0, X, plain, learning_rate=0.1)
    z = train.init_state(jax.random.key(1), p0, X, centered, learning_rate=0.1)
    z = z._replace(offsets=Offsets(jnp.zeros(4), jnp.zeros(4)))
    a, ha = train.run_epochs(s0, X, 20, plain)
    b, hb = train.run_epochs(z, X, 20, centered)
    chex.assert_trees_all_equal(a.params, b.params)
    chex.assert_trees_all_equal(a.chains, b.chains)
    np.testing.assert_array_equal(ha["grad_norm"], hb["grad_norm"])
    assert float(jnp.abs(a.params.W - p0.W).max()) > 0.05  # training moved the parameters


def test_centered_training_resumes_bit_identically_and_returns_plain_params(tmp_path):
    X = _bas2()
    p0 = rbm.init_params(jax.random.key(0), 4, 4, data=X)
    cfg = train.TrainConfig(method="pcd", batch_size=4, centering="average", metrics_every=None)
    s0 = train.init_state(jax.random.key(1), p0, X, cfg, learning_rate=0.1)
    full, _ = train.run_epochs(s0, X, 6, cfg)
    half, _ = train.run_epochs(s0, X, 3, cfg)
    path = checkpoint.save(tmp_path / "ckpt", half)
    resumed, _ = train.resume(checkpoint.restore(path, like=s0), X, 3, cfg)
    chex.assert_trees_all_equal(resumed, full)  # params, optimizer, chains, offsets
    assert not np.allclose(full.offsets.mu, s0.offsets.mu)  # the offsets moved
    params, _ = train.fit(jax.random.key(2), p0, X, method="cd", n_epochs=2, batch_size=8, centering="data")
    assert isinstance(params, RBMParams)


@pytest.mark.slow  # 2 x 3,000 epochs of fit_many; the full reproduction is experiments/centering.py
def test_centered_cd_beats_plain_cd_on_bars_and_stripes():
    """PyDeep's trainer test, shortened (3 seeds, 3,000 epochs of full-batch CD-1 at 0.1, 'data'
    offsets at rate 1): centering ends nearer the optimum for every seed. The full reproduction:
    experiments/centering.py (README)."""
    X = _bas2()
    keys = jnp.stack([jax.random.key(s) for s in range(3)])
    bound = 4 * np.sqrt(6 / 8)
    W = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 1), (4, 4), jnp.float32, -bound, bound))(keys)
    mean = X.mean(0)
    params = RBMParams(W, jnp.broadcast_to(jnp.log(mean / (1 - mean)), (3, 4)), jnp.zeros((3, 4)))
    kw = dict(method="cd", n_epochs=3000, batch_size=8, optimizer=optax.sgd(0.1), metrics_every=3000)
    _, plain = train.fit_many(keys, params, X, **kw)
    _, centered = train.fit_many(keys, params, X, centering="data", centering_rate=1.0, **kw)
    optimum = data.bars_and_stripes_optimal_log_likelihood(2, double_constant=True)
    gap_plain = optimum - plain["log_likelihood"][:, -1]
    gap_centered = optimum - centered["log_likelihood"][:, -1]
    assert np.all(gap_centered < gap_plain), (gap_centered, gap_plain)


def test_bad_centering_settings_are_refused():
    X = _bas2()
    p0 = rbm.init_params(jax.random.key(0), 4, 4, data=X)
    with pytest.raises(ValueError, match="centering must be None or one of"):
        train.fit(jax.random.key(0), p0, X, n_epochs=1, batch_size=4, centering="mean")
    with pytest.raises(ValueError, match="centering_rate"):
        train.fit(jax.random.key(0), p0, X, n_epochs=1, batch_size=4, centering="data", centering_rate=1.5)
    g = rbm.init_params(jax.random.key(0), 4, 3, family="gaussian")
    with pytest.raises(ValueError, match="centering applies to binary RBMs"):
        train.fit(jax.random.key(0), g, np.zeros((8, 4), np.float32), n_epochs=1, batch_size=4, centering="data")


@dataclasses.dataclass(frozen=True)
class _FixedNegatives(train.Estimator):
    """An estimator whose model samples are given (hashable rows): a deterministic update."""

    rows: tuple = ()
    name = "fixed"

    def negatives(self, key, params, batch, mean_h_data, chains):
        from rbm_jax.estimators import Negatives

        v = jnp.asarray(self.rows, params.dtype)
        return Negatives(v, rbm.prob_h_given_v(params, v), chains, {})


@pytest.mark.parametrize("centering", ["data", "model", "average"])
def test_one_centered_update_equals_the_update_written_in_centered_coordinates(x64, centering):
    """Reference: θ_c ← θ_c + lr·∇_c (SGD), μ, λ ← (1−ν)(μ, λ) + ν·targets, biases shifted
    (shift_offsets), folded back: the state's plain params and offsets after one update."""
    X = _bas2().astype(np.float64)
    vm = ((0, 1, 1, 0), (1, 1, 0, 0), (1, 0, 1, 1))
    p0 = RBMParams(*(jnp.asarray(x, jnp.float64) for x in rbm.init_params(jax.random.key(0), 4, 3, data=X)))
    lr, nu = 0.3, 0.4
    cfg = train.TrainConfig(method=_FixedNegatives(rows=vm), batch_size=8, optimizer=optax.sgd(lr),
                            centering=centering, centering_rate=nu, metrics_every=None)
    s0 = train.init_state(jax.random.key(1), p0, X, cfg)
    s1, _ = train.run_epochs(s0, X, 1, cfg)  # 8 rows, batch 8: one update

    o = s0.offsets
    vm_arr = jnp.asarray(vm, jnp.float64)
    grad = train.centered_ascent_direction(p0, o, X, vm_arr)
    theta = jax.tree_util.tree_map(lambda t, g: t + lr * g, train.centered_params(p0, o), grad)
    data_v, data_h = X.mean(0), rbm.prob_h_given_v(p0, X).mean(0)
    model_v, model_h = vm_arr.mean(0), rbm.prob_h_given_v(p0, vm_arr).mean(0)
    tv, th = {"data": (data_v, data_h), "model": (model_v, model_h),
              "average": ((data_v + model_v) / 2, (data_h + model_h) / 2)}[centering]
    new = Offsets((1 - nu) * o.mu + nu * tv, (1 - nu) * o.lam + nu * th)
    expected = train.fold_offsets(train.shift_offsets(theta, o, new), new)
    chex.assert_trees_all_close(s1.params, expected, atol=1e-12, rtol=0)
    chex.assert_trees_all_close(s1.offsets, new, atol=1e-12, rtol=0)
    assert float(jnp.abs(s1.params.c - p0.c).max()) > 1e-4  # the update did something
