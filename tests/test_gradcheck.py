"""rbm_jax.gradcheck: correct gradients pass, wrong ones are caught and pinpointed to their leaves."""

from __future__ import annotations

import functools
import json

import jax.numpy as jnp
import numpy as np
import pytest

from rbm_jax import gradcheck, mlp
from rbm_jax.mlp import Layer, SeedMLPParams


def seed_without_sigmoid_derivative(params, x, t):
    """The classic slip: δ2 = −(t − y), forgetting factor (3), σ′(h2) = y(1 − y)."""
    fw = mlp.forward(params, x)
    delta2 = -(t - fw.y)
    delta1 = (params.W2 @ delta2) * (fw.h1 >= 0)
    return SeedMLPParams(jnp.outer(delta1, x), delta1, fw.a1[:, None] * delta2[None, :], delta2)


def small_mlp(dtype=jnp.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = (
        Layer(jnp.asarray(rng.normal(size=(3, 4)), dtype), jnp.asarray(rng.normal(size=4), dtype)),
        Layer(jnp.asarray(rng.normal(size=(4, 2)), dtype), jnp.asarray(rng.normal(size=2), dtype)),
    )
    x = jnp.asarray(rng.normal(size=(5, 3)), dtype)
    t = jnp.asarray(rng.integers(0, 2, size=5))
    kw = dict(activations=("tanh", "identity"), loss="softmax_cross_entropy")
    return (params, x, t, functools.partial(mlp.mlp_manual_grads, **kw),
            functools.partial(mlp.mlp_loss, **kw))


def test_correct_seed_gradient_passes_against_autodiff_and_finite_differences(x64):
    params, x, t = mlp.seed_example()
    report = gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t, fd=True)
    assert report.ok and report.failed == ()
    assert [(r.path, r.reference) for r in report.rows] == [
        (leaf, ref) for leaf in ("W1", "b1", "W2", "b2") for ref in ("jax.grad", "finite diff.")
    ]
    assert [r.shape for r in report.rows[::2]] == [(2, 2), (2,), (2, 1), (1,)]
    # No ties at the notes' point: autodiff agrees exactly, finite differences to ~1e-11.
    assert report.max_errors("jax.grad") == (0.0, 0.0)
    fd_abs, fd_rel = report.max_errors("finite diff.")
    assert 0 < fd_abs < 1e-9 and fd_rel < 1e-9


def test_missing_sigmoid_derivative_is_caught_on_every_leaf(x64):
    params, x, t = mlp.seed_example()
    report = gradcheck.compare_grads(seed_without_sigmoid_derivative, mlp.loss, params, x, t, fd=True)
    assert not report.ok
    # σ′(0) = 1/4 is missing everywhere, so every nonzero gradient is 4× too large: the
    # leaves that carry signal all fail, against both references.
    assert {(r.path, r.reference) for r in report.failed} == {
        (leaf, ref) for leaf in ("W1", "b1", "W2", "b2") for ref in ("jax.grad", "finite diff.")
    }
    w1 = next(r for r in report.rows if r.path == "W1" and r.reference == "jax.grad")
    # True ∂J/∂W1 = [[−1/8, −1/16], [0, 0]], wrong one 4×: worst at [0, 0], off by 3/8.
    assert w1.worst_index == (0, 0)
    assert w1.max_abs_error == pytest.approx(3 / 8, rel=1e-15)
    assert w1.max_rel_error == pytest.approx(3 / 4, rel=1e-15)  # |4g − g| / |4g|
    text = str(report)
    assert "FAIL" in text and "8 of 8 rows FAILED" in text


def test_a_single_wrong_entry_is_pinpointed(x64):
    params, x, t, manual_fn, loss_fn = small_mlp()

    def one_entry_off(p, x, t):
        g = manual_fn(p, x, t)
        return (g[0]._replace(W=g[0].W.at[1, 2].add(1e-6)), g[1])

    report = gradcheck.compare_grads(one_entry_off, loss_fn, params, x, t, fd=True)
    assert [(r.path, r.reference) for r in report.failed] == [("[0].W", "jax.grad"), ("[0].W", "finite diff.")]
    for row in report.failed:
        assert row.worst_index == (1, 2)
        assert row.max_abs_error == pytest.approx(1e-6, abs=1e-10)  # FD adds ~1e-11
    # The other leaves pass, at round-off against jax.grad.
    passing = [r for r in report.rows if r.path != "[0].W" and r.reference == "jax.grad"]
    assert len(passing) == 3 and all(r.passed and r.max_abs_error < 1e-15 for r in passing)
    # A loose enough tolerance accepts the same gradient: the knobs are the ones used.
    assert gradcheck.compare_grads(one_entry_off, loss_fn, params, x, t, atol=2e-6).ok


def test_correct_general_mlp_gradient_passes(x64):
    params, x, t, manual_fn, loss_fn = small_mlp(seed=1)
    report = gradcheck.compare_grads(manual_fn, loss_fn, params, x, t, fd=True)
    assert report.ok, str(report)
    assert [r.path for r in report.rows[::2]] == ["[0].W", "[0].b", "[1].W", "[1].b"]


def test_float32_uses_float32_tolerances():
    params, x, t, manual_fn, loss_fn = small_mlp(dtype=jnp.float32, seed=2)
    report = gradcheck.compare_grads(manual_fn, loss_fn, params, x, t, fd=True)
    assert report.ok, str(report)
    assert {(r.reference, r.rtol, r.atol) for r in report.rows} == {
        ("jax.grad", 1e-4, 1e-6), ("finite diff.", 1e-2, 1e-3)
    }
    # Missing σ′ is far outside even float32's tolerances.
    seed_params, seed_x, seed_t = mlp.seed_example(dtype=jnp.float32)
    bad = gradcheck.compare_grads(seed_without_sigmoid_derivative, mlp.loss, seed_params, seed_x, seed_t)
    assert not bad.ok


def test_finite_differences_have_the_predicted_truncation_error(x64):
    """Central differences are exact for quadratics and off by h² for θ³ (h the actual step)."""
    theta = {"a": jnp.array([0.3, -2.0, 5.0]), "b": jnp.array(1.5)}

    def cubic(p):
        return jnp.sum(p["a"] ** 3) + p["b"] ** 2

    eps = 1e-3
    fd = gradcheck.finite_difference_grad(cubic, theta, eps=eps)
    h = eps * np.maximum(1.0, np.abs(np.asarray(theta["a"])))
    np.testing.assert_allclose(fd["a"], 3 * np.asarray(theta["a"]) ** 2 + h**2, rtol=1e-9)
    np.testing.assert_allclose(fd["b"], 3.0, rtol=1e-9)


def test_nan_in_the_manual_gradient_fails(x64):
    params, x, t = mlp.seed_example()

    def nan_grads(p, x, t):
        g = mlp.manual_grads(p, x, t)
        return g._replace(b2=g.b2 * jnp.nan)

    report = gradcheck.compare_grads(nan_grads, mlp.loss, params, x, t)
    assert [r.path for r in report.failed] == ["b2"]
    assert np.isnan(report.failed[0].max_abs_error)


def test_structure_and_shape_mismatches_are_reported(x64):
    params, x, t = mlp.seed_example()
    with pytest.raises(ValueError, match="manual_fn must return gradients with the structure of params"):
        gradcheck.compare_grads(lambda p, x, t: tuple(mlp.manual_grads(p, x, t)), mlp.loss, params, x, t)
    with pytest.raises(ValueError, match=r"gradient for W2 has shape \(2,\)"):
        gradcheck.compare_grads(
            lambda p, x, t: mlp.manual_grads(p, x, t)._replace(W2=jnp.zeros(2)), mlp.loss, params, x, t
        )
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        gradcheck.compare_grads(mlp.manual_grads, None, params, x, t)
    with pytest.raises(ValueError, match="rtol must be a finite number"):
        gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t, rtol=-1)


def test_report_serialises_and_prints_a_table(x64):
    params, x, t = mlp.seed_example()
    report = gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t)
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["ok"] is True and len(summary["rows"]) == 4
    assert summary["rows"][0]["path"] == "W1" and summary["rows"][0]["shape"] == [2, 2]
    lines = str(report).splitlines()
    assert lines[0].split()[:3] == ["leaf", "shape", "vs"]
    assert lines[2].split()[:3] == ["W1", "2x2", "jax.grad"]
    assert lines[-1] == "all passed"
