"""rbm_jax.train: the gradient estimators against exact gradients, the optimiser plumbing,
vmapped training of many models, and resumable runs."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import random_params
from rbm_jax import checkpoint, data, exact, metrics, rbm, train
from rbm_jax.gibbs import GibbsState

TOL = 1e-10


def bas3(dtype=np.float64):
    return data.bars_and_stripes(3, dtype=dtype)  # 14 rows of 9 pixels


# ---------------------------------------------------------------- gradients


def test_ascent_direction_is_minus_grad_of_free_energy_difference(x64):
    params = random_params(300, 6, 4)
    v_data = jax.random.bernoulli(jax.random.key(0), 0.5, (13, 6)).astype(jnp.float64)
    v_model = jax.random.bernoulli(jax.random.key(1), 0.3, (9, 6)).astype(jnp.float64)

    def surrogate(p):
        return jnp.mean(rbm.free_energy(p, v_data)) - jnp.mean(rbm.free_energy(p, jax.lax.stop_gradient(v_model)))

    expected = jax.tree.map(jnp.negative, jax.grad(surrogate)(params))
    chex.assert_trees_all_close(train.ascent_direction(params, v_data, v_model), expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("shape", [(5, 3), (3, 6)])
def test_exact_gradient_equals_autodiff_of_exact_likelihood(x64, shape):
    params = random_params(301, *shape)
    X = jax.random.bernoulli(jax.random.key(2), 0.5, (20, shape[0])).astype(jnp.float64)
    autodiff = jax.grad(lambda p: exact.log_likelihood(p, X))(params)
    chex.assert_trees_all_close(train.exact_gradient(params, X), autodiff, atol=TOL, rtol=0)


def test_persistent_estimators_from_exact_samples_are_unbiased(x64):
    """PCD and PT with chains at equilibrium: the estimate equals the exact gradient within MC error."""
    params = random_params(302, 6, 4)
    X = bas3()[:, :6]
    g_exact = train.exact_gradient(params, X)
    n = 40_000
    v0 = exact.sample_exact(jax.random.key(3), params, n)
    chains = GibbsState(v0, rbm.sample_h_given_v(jax.random.key(4), params, v0))
    g_pcd, _ = train.gradient_estimate(jax.random.key(5), params, X, chains, method="pcd", k=1)
    # Each model statistic is a mean of n terms bounded in [0, 1]: 5 / (2 sqrt(n)) bounds 5 s.e.
    tol = 5 * 0.5 / np.sqrt(n)
    for name in ("W", "b", "c"):
        np.testing.assert_array_less(np.abs(getattr(g_pcd, name) - getattr(g_exact, name)), tol)
    # The same check can fail: a model whose visible biases are off by 0.3 gives a different gradient.
    wrong = params._replace(b=params.b + 0.3)
    g_wrong, _ = train.gradient_estimate(jax.random.key(5), wrong, X,
                                         GibbsState(v0, chains.h), method="pcd", k=3)
    assert np.max(np.abs(train.exact_gradient(wrong, X).b - g_wrong.b)) < tol  # its own gradient...
    assert np.max(np.abs(g_exact.b - g_wrong.b)) > 5 * tol  # ...is not params' gradient


def test_cd_bias_vanishes_with_k(x64):
    """CD-k starts at the data: biased for small k, unbiased as k grows (the chain reaches P(v))."""
    params = random_params(303, 6, 4, scale=1.5)
    X = np.repeat(bas3()[:, :6], 2000, axis=0)  # 28,000 rows: averages over many chains
    g_exact = train.exact_gradient(params, X)
    err = {}
    for k in (1, 100):
        g, _ = train.gradient_estimate(jax.random.key(6), params, X, method="cd", k=k)
        err[k] = float(jnp.max(jnp.abs(g.W - g_exact.W)))
    tol = 5 * 0.5 / np.sqrt(X.shape[0])
    assert err[100] < tol < err[1]


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("method", train.METHODS)
def test_fit_increases_the_exact_likelihood(method):
    X = bas3(np.float32)
    # Larger initial weights than the default 0.01: bars-and-stripes is symmetric (every
    # pixel marginal is 1/2), so tiny weights start at a saddle where learning is slow.
    p0 = rbm.init_params(jax.random.key(0), 9, 9, data=X, weight_scale=0.5)
    ll0 = float(exact.log_likelihood(p0, X))  # -6.95; the optimum is -ln 14 = -2.64
    params, hist = train.fit(jax.random.key(1), p0, X, method=method, n_epochs=300, batch_size=7,
                             optimizer=optax.sgd(0.2), metrics_every=50,
                             betas=[1.0, 0.6, 0.3] if method == "pt" else None)
    ll = float(exact.log_likelihood(params, X))
    assert ll > ll0 + 2.0, (ll0, ll)  # measured: +2.6 (CD-1), +2.4 (PCD-1), +2.7 (PT)
    np.testing.assert_allclose(hist["log_likelihood"][-1], ll, rtol=1e-5)
    assert hist["epoch"].tolist() == list(range(1, 301))
    # Evaluated every 50 epochs, NaN in between.
    assert np.isnan(hist["log_likelihood"][:49]).all() and np.isfinite(hist["log_likelihood"][49::50]).all()
    if method == "pt":
        assert hist["swap_acceptance"].shape == (300, 2)
        assert np.all((hist["swap_acceptance"] > 0) & (hist["swap_acceptance"] <= 1))


def test_optimizer_wins_over_learning_rate():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    a, _ = train.fit(jax.random.key(1), p0, X, n_epochs=3, batch_size=7, optimizer=optax.sgd(0.1), learning_rate=5.0)
    b, _ = train.fit(jax.random.key(1), p0, X, n_epochs=3, batch_size=7, optimizer=optax.sgd(0.1))
    c, _ = train.fit(jax.random.key(1), p0, X, n_epochs=3, batch_size=7, learning_rate=0.1)
    chex.assert_trees_all_equal(a, b)
    assert not np.allclose(a.W, c.W)  # the default (momentum) optimizer is something else


def test_one_step_by_hand_with_sgd_and_weight_decay(x64):
    """W ← W + lr (ascent_W − λ W); b, c ← + lr ascent (no decay on biases)."""
    X = bas3()
    params = random_params(304, 9, 4)
    cfg = train.TrainConfig(method="cd", k=2, batch_size=14, optimizer=optax.sgd(0.3))
    hp = train.HyperParams(jnp.asarray(0.05))  # the rate is the optimizer's own (0.3)
    state = train.TrainState(params, cfg.optimizer.init(params), None, jax.random.key(0), jnp.zeros((), jnp.int32))
    step = train.make_train_step(cfg, hp, steps_per_epoch=1)
    new, metrics = step(jax.random.key(9), state, X)
    g, _ = train.gradient_estimate(jax.random.key(9), params, X, method="cd", k=2)
    np.testing.assert_allclose(new.params.W, params.W + 0.3 * (g.W - 0.05 * params.W), atol=TOL)
    np.testing.assert_allclose(new.params.b, params.b + 0.3 * g.b, atol=TOL)
    np.testing.assert_allclose(new.params.c, params.c + 0.3 * g.c, atol=TOL)
    assert int(new.step) == 1
    np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(g), rtol=1e-12)


def test_hinton_momentum_schedule():
    opt = train.hinton_sgd(0.1, initial_momentum=0.5, final_momentum=0.9, switch_step=3)
    p = {"w": jnp.zeros(2)}
    s = opt.init(p)
    seen = []
    for _ in range(5):
        _, s = opt.update({"w": jnp.ones(2)}, s, p)
        seen.append(float(s.hyperparams["momentum"]))
    np.testing.assert_allclose(seen, [0.5, 0.5, 0.5, 0.9, 0.9], rtol=1e-6)


def test_pcd_keeps_one_chain_per_minibatch_row():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    # fit builds its TrainConfig with n_chains=None, which means batch_size chains.
    state = train.init_state(jax.random.key(1), p0, X, train.TrainConfig(method="pcd", batch_size=7))
    assert state.chains.v.shape == (7, 9) and state.chains.h.shape == (7, 5)
    # Persistent chains start at rows of the data.
    assert all(any(np.array_equal(row, x) for x in X) for row in np.asarray(state.chains.v))
    state = train.init_state(jax.random.key(1), p0, X, train.TrainConfig(
        method="pt", batch_size=7, n_chains=3, betas=(1.0, 0.5)))
    assert state.chains.v.shape == (3, 2, 9) and state.chains.accepted.shape == (3, 1)


def test_fit_many_model_i_equals_model_i_alone(x64):
    X = bas3()
    keys = jax.random.split(jax.random.key(7), 3)
    lrs = np.array([0.01, 0.05, 0.1])
    p0 = jax.vmap(lambda k: rbm.init_params(k, 9, 6, data=X, dtype=jnp.float64))(keys)
    params, hist = train.fit_many(keys, p0, X, method="pcd", k=2, n_epochs=4, batch_size=7,
                                  learning_rate=lrs, weight_decay=1e-3, metrics_every=2)
    assert params.W.shape == (3, 9, 6) and hist["log_likelihood"].shape == (3, 4)
    for i in range(3):
        p_i = jax.tree.map(lambda x: x[i], p0)
        alone, h_alone = train.fit(keys[i], p_i, X, method="pcd", k=2, n_epochs=4, batch_size=7,
                                   learning_rate=lrs[i], weight_decay=1e-3, metrics_every=2)
        chex.assert_trees_all_close(jax.tree.map(lambda x: x[i], params), alone, atol=1e-12, rtol=0)
        assert set(hist) == set(h_alone)
        for name in h_alone:  # every metric, the pseudo-likelihood's subset included
            np.testing.assert_allclose(hist[name][i], h_alone[name], atol=1e-12)
    assert not np.allclose(params.W[0], params.W[2])  # the learning rates mattered


def test_resumed_run_is_bit_identical(tmp_path):
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    cfg = train.TrainConfig(method="pt", k=1, batch_size=7, betas=(1.0, 0.5, 0.25))
    state0 = train.init_state(jax.random.key(1), p0, X, cfg, learning_rate=0.05)
    full, hist_full = train.run_epochs(state0, X, 6, cfg, learning_rate=0.05)

    half, hist_a = train.run_epochs(state0, X, 3, cfg, learning_rate=0.05)
    path = checkpoint.save(tmp_path / "ckpt", half, config={"method": "pt"})
    restored = checkpoint.restore(path, like=state0, config={"method": "pt"})
    resumed, hist_b = train.resume(restored, X, 3, cfg, learning_rate=0.05)
    chex.assert_trees_all_equal(resumed, full)  # params, optax state, PT chains, key, step
    np.testing.assert_array_equal(np.concatenate([hist_a["grad_norm"], hist_b["grad_norm"]]),
                                  hist_full["grad_norm"])


def test_callback_sees_progress_and_chunks_do_not_change_results():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    seen = []
    a, ha = train.fit(jax.random.key(1), p0, X, method="pcd", n_epochs=5, batch_size=7,
                      callback=lambda done, state, hist: seen.append((done, int(state.step), len(hist["epoch"]))),
                      chunk_epochs=2)
    b, hb = train.fit(jax.random.key(1), p0, X, method="pcd", n_epochs=5, batch_size=7)
    assert seen == [(2, 4, 2), (4, 8, 4), (5, 10, 5)]
    chex.assert_trees_all_equal(a, b)
    np.testing.assert_array_equal(ha["pseudo_log_likelihood"], hb["pseudo_log_likelihood"])


def test_held_out_metrics():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    params, hist = train.fit(jax.random.key(1), p0, X[:10], n_epochs=2, batch_size=5, held_out=X[10:])
    gap = float(jnp.mean(rbm.free_energy(params, X[10:])) - jnp.mean(rbm.free_energy(params, X[:10])))
    np.testing.assert_allclose(hist["free_energy_gap"][-1], gap, rtol=1e-5)
    np.testing.assert_allclose(hist["held_out_log_likelihood"][-1], exact.log_likelihood(params, X[10:]), rtol=1e-5)


def test_no_host_callbacks_inside_training():
    X = jnp.asarray(bas3(np.float32))
    p0 = rbm.init_params(jax.random.key(0), 9, 6, data=X)
    cfg = train.TrainConfig(method="pcd", batch_size=7, exact_likelihood=True)
    state = train.init_state(jax.random.key(1), p0, X, cfg)
    hp = train.HyperParams(jnp.asarray(0.0))
    text = str(jax.make_jaxpr(lambda s: train.epochs(s, X, None, hp, cfg, 3))(state))
    assert "scan" in text and "callback" not in text


# ---------------------------------------------------------------- bad input


def test_bad_arguments_are_named():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 6)
    key = jax.random.key(1)
    with pytest.raises(ValueError, match=r"method must be one of \('cd', 'pcd', 'pt'\), got 'gibbs'"):
        train.fit(key, p0, X, method="gibbs", n_epochs=1, batch_size=7)
    with pytest.raises(ValueError, match=r"batch_size \(20\) must not exceed the number of rows of data \(14\)"):
        train.fit(key, p0, X, n_epochs=1, batch_size=20)
    with pytest.raises(ValueError, match=r"learning_rate must be finite and > 0"):
        train.fit(key, p0, X, n_epochs=1, batch_size=7, learning_rate=-0.1)
    with pytest.raises(ValueError, match=r"weight_decay must be finite and >= 0"):
        train.fit(key, p0, X, n_epochs=1, batch_size=7, weight_decay=float("nan"))
    with pytest.raises(ValueError, match=r"betas\[0\] must be 1 \(rung 0 samples the model itself\)"):
        train.fit(key, p0, X, method="pt", n_epochs=1, batch_size=7, betas=[0.5, 0.2])
    with pytest.raises(ValueError, match=r"data must be a matrix \[n_rows, n_visible\] = \[n_rows, 9\]"):
        train.fit(key, p0, X[:, :8], n_epochs=1, batch_size=7)
    with pytest.raises(ValueError, match=r"data must hold values in \[0, 1\]"):
        train.fit(key, p0, X * 2, n_epochs=1, batch_size=7)
    with pytest.raises(ValueError, match=r"k must be a positive integer, got 0"):
        train.fit(key, p0, X, n_epochs=1, batch_size=7, k=0)
    with pytest.raises(TypeError, match=r"optimizer must be an optax GradientTransformation"):
        train.fit(key, p0, X, n_epochs=1, batch_size=7, optimizer="adam")
    with pytest.raises(ValueError, match=r"needs persistent chains"):
        train.gradient_estimate(key, p0, X, method="pcd")
    with pytest.raises(ValueError, match=r"params\.W contains 1 NaN"):
        train.fit(key, p0._replace(W=p0.W.at[0, 0].set(jnp.nan)), X, n_epochs=1, batch_size=7)


# ---------------------------------------------------------------- the learning rate lives once


def test_run_epochs_and_resume_honour_a_new_learning_rate():
    """The default optimizer's rate is stored once (in the optimizer state); a new rate is honoured.

    (Before it was stored twice, and run_epochs/resume silently kept the old one.)
    """
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    cfg = train.TrainConfig(method="pcd", batch_size=7)
    state0 = train.init_state(jax.random.key(1), p0, X, cfg, learning_rate=0.01)
    np.testing.assert_allclose(train.learning_rate_of(state0), 0.01)
    kept, _ = train.run_epochs(state0, X, 3, cfg)
    same, _ = train.run_epochs(state0, X, 3, cfg, learning_rate=0.01)
    fast, _ = train.run_epochs(state0, X, 3, cfg, learning_rate=5.0)
    fresh_fast, _ = train.run_epochs(train.init_state(jax.random.key(1), p0, X, cfg, learning_rate=5.0), X, 3, cfg)
    chex.assert_trees_all_equal(same, kept)
    chex.assert_trees_all_equal(fast, fresh_fast)  # same as having started at 5.0
    assert not np.allclose(fast.params.W, kept.params.W)
    np.testing.assert_allclose(train.learning_rate_of(fast), 5.0)
    resumed, _ = train.resume(state0, X, 3, cfg, learning_rate=5.0)
    chex.assert_trees_all_equal(resumed, fast)
    kept_resumed, _ = train.resume(fast, X, 2, cfg)  # no rate given: the stored 5.0 stays
    chex.assert_trees_all_equal(kept_resumed, train.run_epochs(fast, X, 2, cfg, learning_rate=5.0)[0])


def test_a_learning_rate_for_your_own_optimizer_is_refused():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    cfg = train.TrainConfig(method="cd", batch_size=7, optimizer=optax.sgd(0.1))
    with pytest.raises(ValueError, match="learning_rate= applies to the default optimizer only"):
        train.init_state(jax.random.key(1), p0, X, cfg, learning_rate=0.5)
    state = train.init_state(jax.random.key(1), p0, X, cfg)
    assert train.learning_rate_of(state) is None
    with pytest.raises(ValueError, match="learning_rate= applies to the default optimizer only"):
        train.run_epochs(state, X, 1, cfg, learning_rate=0.5)
    with pytest.raises(ValueError, match="learning_rate= applies to the default optimizer only"):
        train.resume(state, X, 1, cfg, learning_rate=0.5)
    with pytest.raises(ValueError, match="learning_rate must be finite and > 0"):
        train.run_epochs(train.init_state(jax.random.key(1), p0, X, train.TrainConfig(batch_size=7)), X, 1,
                         train.TrainConfig(batch_size=7), learning_rate=-1.0)


def test_fit_validates_params_once(monkeypatch):
    """Validation happens once at the boundary of each public call."""
    from rbm_jax import _checks

    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    calls = []
    real = _checks.rbm_params
    monkeypatch.setattr(_checks, "rbm_params", lambda *a, **k: calls.append(1) or real(*a, **k))
    train.fit(jax.random.key(1), p0, X, n_epochs=1, batch_size=7)
    assert len(calls) == 1


# ---------------------------------------------------------------- honest monitoring


def test_the_monitor_sees_every_row_and_a_random_pseudo_likelihood_subset():
    """Four modes sorted by mode: the first 1000 rows are one mode, so a monitor on them misleads."""
    X, modes = data.four_modes(3000, seed=0, return_modes=True)
    X = X[np.argsort(modes, kind="stable")]
    p0 = rbm.init_params(jax.random.key(0), 16, 10, data=X, weight_scale=0.1)
    fit = dict(method="cd", n_epochs=2, batch_size=100, learning_rate=0.05)
    params, hist = train.fit(jax.random.key(1), p0, X, **fit)
    # The exact log-likelihood is over all rows (it was over data[:1000]).
    np.testing.assert_allclose(hist["log_likelihood"][-1], exact.log_likelihood(params, X), rtol=1e-5)
    # The pseudo-likelihood is over a random subset of 1000 rows, and its key says so.
    key = train.pseudo_likelihood_key(3000, 1000)
    assert key == "pseudo_log_likelihood_subset1000" and key in hist and "pseudo_log_likelihood" not in hist
    per_row = np.asarray(metrics.pseudo_log_likelihood(params, X), np.float64)
    bound = 5 * per_row.std() / np.sqrt(1000)  # 5 standard errors of a 1000-row mean
    assert abs(hist[key][-1] - per_row.mean()) < bound
    assert abs(per_row[:1000].mean() - per_row.mean()) > bound  # negative control: the first rows would not do
    # All rows: the plain key, and exactly the mean over every row.
    _, hist_all = train.fit(jax.random.key(1), p0, X, pseudo_likelihood_rows=None, **fit)
    assert train.pseudo_likelihood_key(3000, None) == train.pseudo_likelihood_key(3000, 5000) == "pseudo_log_likelihood"
    np.testing.assert_allclose(hist_all["pseudo_log_likelihood"][-1], per_row.mean(), rtol=1e-5)


def test_metrics_every_auto_and_none():
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 9, data=X)
    every = train.auto_metrics_every(train.TrainConfig(method="cd", batch_size=7, exact_likelihood=True), 14, 0, 9, 9)
    # log Z of 2^9 states costs more than an epoch of two 7-row updates: not every epoch.
    assert every > 1
    _, hist = train.fit(jax.random.key(1), p0, X, n_epochs=3 * every + 1, batch_size=7)
    evaluated = (np.flatnonzero(~np.isnan(hist["log_likelihood"])) + 1).tolist()
    assert evaluated == [every, 2 * every, 3 * every, 3 * every + 1]  # and always the last epoch
    # The larger the model's log Z against its epoch, the rarer: bars-and-stripes 4×4 (the README's runs).
    bas4 = train.auto_metrics_every(train.TrainConfig(method="cd", batch_size=10, exact_likelihood=True), 30, 0, 16, 16)
    assert bas4 > 10 * every
    _, hist = train.fit(jax.random.key(1), p0, X, n_epochs=2, batch_size=7, metrics_every=None)
    assert set(hist) == {"epoch", "grad_norm"}


def test_new_rates_keys_and_run_lengths_do_not_recompile():
    """The run's last epoch (always evaluated) and the rate are traced: one program per chunk size."""
    X = bas3(np.float32)
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    kw = dict(method="pcd", batch_size=7, metrics_every=2, callback=lambda *a: None, chunk_epochs=2)
    train.fit(jax.random.key(1), p0, X, n_epochs=4, learning_rate=0.1, **kw)
    compiled = train._run_epochs_jit._cache_size()
    _, hist = train.fit(jax.random.key(2), p0, X, n_epochs=6, learning_rate=0.3, **kw)
    assert train._run_epochs_jit._cache_size() == compiled
    assert (np.flatnonzero(~np.isnan(hist["log_likelihood"])) + 1).tolist() == [2, 4, 6]


# ---------------------------------------------------------------- the divergence guard


def nan_after(n_updates: int, learning_rate: float = 0.05):
    """SGD whose update ``n_updates`` (counting from 0) and later are NaN: a divergence on cue."""
    base = optax.sgd(learning_rate)

    def init(params):
        return base.init(params), jnp.zeros((), jnp.int32)

    def update(grads, state, params=None):
        inner, count = state
        updates, inner = base.update(grads, inner, params)
        updates = jax.tree.map(lambda u: jnp.where(count >= n_updates, jnp.nan, u), updates)
        return updates, (inner, count + 1)

    return optax.GradientTransformation(init, update)


@pytest.mark.parametrize("chunk_epochs", [1, 2])
def test_non_finite_parameters_stop_training_before_the_callback_sees_them(tmp_path, chunk_epochs):
    X = bas3(np.float32)  # 14 rows, batch 7: two updates per epoch; update 7 is in epoch 4
    p0 = rbm.init_params(jax.random.key(0), 9, 5, data=X)
    opt = nan_after(7)
    kw = dict(method="pcd", batch_size=7, optimizer=opt)
    good, _ = train.fit(jax.random.key(1), p0, X, n_epochs=3, **kw)  # the last good state: epoch 3
    seen = []

    def save(done, state, hist):
        assert all(np.isfinite(np.asarray(x)).all() for x in state.params)
        seen.append(done)
        checkpoint.save(tmp_path / "ckpt", state, overwrite=True)

    with pytest.raises(train.DivergenceError, match=r"epoch 4: the parameters hold NaN or inf.*smaller learning rate"
                       ) as err:
        train.fit(jax.random.key(1), p0, X, n_epochs=10, callback=save, chunk_epochs=chunk_epochs, **kw)
    assert err.value.epoch == 4 and err.value.history["epoch"].tolist() == [1, 2, 3, 4]
    assert seen == ([1, 2, 3] if chunk_epochs == 1 else [2])  # never the diverged state
    chex.assert_trees_all_equal(err.value.params, good)  # stopped inside the chunk, at epoch 3's state
    saved = checkpoint.restore(tmp_path / "ckpt", like=err.value.state)
    assert all(np.isfinite(np.asarray(x)).all() for x in saved.params)
    # resume (the experiments' path) guards the same way.
    cfg = train.TrainConfig(exact_likelihood=True, **kw)
    with pytest.raises(train.DivergenceError, match="epoch 4"):
        train.resume(train.init_state(jax.random.key(1), p0, X, cfg), X, 10, cfg, callback=save,
                     chunk_epochs=chunk_epochs)
    if chunk_epochs == 1:
        # 'warn' warns, and still stops at non-finite parameters: the last finite ones are returned.
        with pytest.warns(train.DivergenceWarning, match="epoch 4: the parameters hold NaN or inf"):
            params, hist = train.fit(jax.random.key(1), p0, X, n_epochs=10, divergence="warn", **kw)
        chex.assert_trees_all_equal(params, good)
        assert hist["epoch"].tolist() == [1, 2, 3, 4]
        # 'off': today's behaviour, straight into NaN.
        params, _ = train.fit(jax.random.key(1), p0, X, n_epochs=10, divergence="off", **kw)
        assert np.isnan(params.W).all()


@pytest.mark.parametrize("lr", [10.0, pytest.param(1e6, marks=pytest.mark.slow)])
def test_a_collapsing_likelihood_stops_training(lr):
    """Learning rates 10 and 1e6 on bars-and-stripes 4×4 (the reviewer's runs) stop with an error."""
    X = data.bars_and_stripes(4)
    p0 = rbm.init_params(jax.random.key(0), 16, 16, data=X)
    floor = train.collapse_floor(16)
    np.testing.assert_allclose(floor, -2 * 16 * np.log(2))
    with pytest.raises(train.DivergenceError, match=r"log_likelihood fell to .* below the floor -22\.18") as err:
        train.fit(jax.random.key(1), p0, X, n_epochs=40, batch_size=10, learning_rate=lr, metrics_every=5)
    e = err.value
    ll = e.history["log_likelihood"]
    assert e.epoch % 5 == 0 and ll[e.epoch - 1] < floor  # the first evaluation below the floor...
    assert np.all(ll[4:e.epoch - 1:5] >= floor)  # ...and none before it
    # The error carries the state before that epoch.
    before, _ = train.fit(jax.random.key(1), p0, X, n_epochs=e.epoch - 1, batch_size=10, learning_rate=lr,
                          metrics_every=5, divergence="off")
    chex.assert_trees_all_equal(e.params, before)
    if lr != 10.0:
        return  # the divergence modes are checked once, at the reviewer's first rate
    # 'warn' warns once and trains on (the parameters are finite); 'off' is silent.
    with pytest.warns(train.DivergenceWarning, match=r"diverged at epoch \d+: the monitored log_likelihood"):
        params, hist = train.fit(jax.random.key(1), p0, X, n_epochs=40, batch_size=10, learning_rate=10.0,
                                 metrics_every=5, divergence="warn")
    assert hist["epoch"].tolist() == list(range(1, 41))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train.fit(jax.random.key(1), p0, X, n_epochs=40, batch_size=10, learning_rate=10.0, metrics_every=5,
                  divergence="off")


def test_fit_many_guards_each_model():
    X = data.bars_and_stripes(4)
    p0 = rbm.init_params(jax.random.key(0), 16, 16, data=X)
    keys = jax.random.split(jax.random.key(1), 2)
    kw = dict(n_epochs=20, batch_size=10, learning_rate=np.array([0.01, 10.0]), metrics_every=5)
    with pytest.raises(train.DivergenceError, match=r"1 of 2 models: model 1 at epoch") as err:
        train.fit_many(keys, p0, X, **kw)
    assert err.value.models == [1]
    with pytest.warns(train.DivergenceWarning, match="model 1 at epoch"):
        params, hist = train.fit_many(keys, p0, X, divergence="warn", **kw)
    alone, h_alone = train.fit(keys[0], p0, X, n_epochs=20, batch_size=10, learning_rate=0.01, metrics_every=5)
    np.testing.assert_allclose(params.W[0], alone.W, rtol=1e-5, atol=1e-6)  # the healthy model trained on
    np.testing.assert_allclose(hist["log_likelihood"][0], h_alone["log_likelihood"], rtol=1e-5)


# ---------------------------------------------------------------- more bad input, named


def _bas3_setup():
    X = bas3(np.float32)
    return X, rbm.init_params(jax.random.key(0), 9, 5, data=X), jax.random.key(1), dict(n_epochs=1, batch_size=7)


def test_fit_many_settings_of_the_wrong_length_are_named():
    X, p0, key, kw = _bas3_setup()
    with pytest.raises(ValueError, match=r"learning_rate must be a scalar or an array \[n_models\] = \[3\].*\(2,\)"):
        train.fit_many(jax.random.split(key, 3), p0, X, learning_rate=[0.1, 0.2], **kw)
    with pytest.raises(ValueError, match=r"weight_decay must be a scalar or an array \[n_models\] = \[3\]"):
        train.fit_many(jax.random.split(key, 3), p0, X, weight_decay=[0.1, 0.2], **kw)


def test_a_non_callable_callback_is_refused_before_any_training(monkeypatch):
    X, p0, key, kw = _bas3_setup()
    compiled = []
    real = train._run_epochs_jit
    monkeypatch.setattr(train, "_run_epochs_jit", lambda *a, **k: compiled.append(1) or real(*a, **k))
    with pytest.raises(TypeError, match=r"callback must be callable"):
        train.fit(key, p0, X, callback="print", **kw)
    cfg = train.TrainConfig(batch_size=7)
    with pytest.raises(TypeError, match=r"callback must be callable"):
        train.resume(train.init_state(key, p0, X, cfg), X, 1, cfg, callback=3)
    assert compiled == []  # nothing trained


def test_chunk_epochs_zero_is_refused():
    X, p0, key, kw = _bas3_setup()
    with pytest.raises(ValueError, match=r"chunk_epochs must be a positive integer, got 0"):
        train.fit(key, p0, X, callback=lambda *a: None, chunk_epochs=0, **kw)


def test_exact_likelihood_must_be_a_bool():
    X, p0, key, kw = _bas3_setup()
    cfg = train.TrainConfig(batch_size=7)
    with pytest.raises(TypeError, match=r"exact_likelihood must be a bool \(True or False\), got 'yes'"):
        train.run_epochs(train.init_state(key, p0, X, cfg), X, 1, train.TrainConfig(batch_size=7, exact_likelihood="yes"))
    with pytest.raises(TypeError, match=r"exact_likelihood must be True, False or 'auto', got 1"):
        train.fit(key, p0, X, exact_likelihood=1, **kw)


def test_betas_and_n_chains_are_refused_where_the_method_does_not_use_them():
    X, p0, key, kw = _bas3_setup()
    for method in ("cd", "pcd"):
        with pytest.raises(ValueError, match=rf"betas .* method='pt' only, got betas=\(1.0, 0.5\) with method='{method}'"):
            train.fit(key, p0, X, method=method, betas=[1.0, 0.5], **kw)
    with pytest.raises(ValueError, match=r"n_chains .* got n_chains=5 with method='cd'"):
        train.fit(key, p0, X, method="cd", n_chains=5, **kw)
    with pytest.raises(ValueError, match=r"betas is not used with an estimator value"):
        train.fit(key, p0, X, method=train.pt(1, (1.0, 0.5)), betas=[1.0, 0.3], **kw)


def test_monitoring_and_guard_settings_are_named():
    X, p0, key, kw = _bas3_setup()
    with pytest.raises(ValueError, match=r"divergence must be one of \('raise', 'warn', 'off'\), got 'stop'"):
        train.fit(key, p0, X, divergence="stop", **kw)
    with pytest.raises(ValueError, match=r"pseudo_likelihood_rows must be a positive integer, got 0"):
        train.fit(key, p0, X, pseudo_likelihood_rows=0, **kw)
    with pytest.raises(TypeError, match=r"metrics_every must be a positive integer"):
        train.fit(key, p0, X, metrics_every="often", **kw)
