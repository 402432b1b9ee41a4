"""rbm_jax.mlp: the notes' backprop by hand, a general MLP's manual backward pass, and training.

References: the notes' numbers (exact dyadic rationals, so float32 reproduces them exactly),
``jax.jacobian`` of each chain-rule stage, ``jax.grad``, and finite differences through
``jax.test_util.check_grads`` on a function whose reverse-mode rule is the hand-written one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from rbm_jax import data, mlp
from rbm_jax.mlp import Layer, SeedMLPParams

ROUND_OFF = 1e-12  # float64 manual-vs-autodiff on these O(1) problems (observed ~1e-16)
CE = "softmax_cross_entropy"
SE = "squared_error"


def tree_max_abs_diff(a, b) -> float:
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def assert_trees_close(actual, desired, *, rtol=0.0, atol=0.0):
    assert jax.tree.structure(actual) == jax.tree.structure(desired)
    for x, y in zip(jax.tree.leaves(actual), jax.tree.leaves(desired)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# ==========================================================================
# The notes' network

NOTES = {
    "h1": [1.0, -0.5],
    "a1": [1.0, 0.0],
    "h2": [0.0],
    "y": [0.5],
    "J": 0.125,
    "dJ_dW1": [[-1 / 8, -1 / 16], [0.0, 0.0]],
}


def test_seed_example_is_the_notes_network():
    params, x, t = mlp.seed_example()
    assert isinstance(params, SeedMLPParams) and params._fields == ("W1", "b1", "W2", "b2")
    assert [p.shape for p in params] == [(2, 2), (2,), (2, 1), (1,)]
    assert x.shape == (2,) and t.shape == ()
    np.testing.assert_array_equal(params.W1, [[0.75, 0.5], [-1.0, 1.0]])
    np.testing.assert_array_equal(params.b1, [0.0, 0.0])
    np.testing.assert_array_equal(params.W2, [[1.0], [1.0]])
    np.testing.assert_array_equal(params.b2, [-1.0])
    np.testing.assert_array_equal(x, [1.0, 0.5])
    assert float(t) == 1.0
    # The default float: float32 without x64.
    assert all(a.dtype == jnp.float32 for a in (*params, x, t))


def test_seed_example_dtype_follows_x64_and_the_dtype_argument(x64):
    params, x, t = mlp.seed_example()
    assert all(a.dtype == jnp.float64 for a in (*params, x, t))
    params, x, t = mlp.seed_example(dtype=jnp.float32)
    assert all(a.dtype == jnp.float32 for a in (*params, x, t))
    assert mlp.loss(params, x, t).dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in mlp.manual_grads(params, x, t))
    with pytest.raises(TypeError, match="dtype"):
        mlp.seed_example(dtype=jnp.int32)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_forward_and_gradient_reproduce_the_notes_exactly(x64, dtype):
    """Every number in the worked example is a dyadic rational, so both dtypes are exact."""
    params, x, t = mlp.seed_example(dtype=dtype)
    fw = mlp.forward(params, x)
    for name in ("h1", "a1", "h2", "y"):
        np.testing.assert_array_equal(getattr(fw, name), NOTES[name], err_msg=name)
    assert float(mlp.loss(params, x, t)) == NOTES["J"]

    grads = mlp.manual_grads(params, x, t)
    assert isinstance(grads, SeedMLPParams)
    np.testing.assert_array_equal(grads.W1, NOTES["dJ_dW1"])
    # δ2 = ∂J/∂h2 = −(t − y) σ′(0) = −½ · ¼ = −1/8; δ1 = W2 δ2 ⊙ ReLU′(h1) = [−1/8, 0].
    np.testing.assert_array_equal(grads.b2, [-1 / 8])
    np.testing.assert_array_equal(grads.W2, [[-1 / 8], [0.0]])  # a1 δ2ᵀ
    np.testing.assert_array_equal(grads.b1, [-1 / 8, 0.0])
    # No pre-activation is 0 here, so jax.grad agrees exactly.
    assert_trees_close(grads, jax.grad(mlp.loss)(params, x, t), atol=0)


def test_the_six_factors_have_the_notes_values_and_shapes():
    params, x, t = mlp.seed_example()
    f = mlp.chain_factors(params, x, t)
    np.testing.assert_array_equal(f.dJ_dy, [[-0.5]])  # (1) −(t − y) = −(1 − ½)
    np.testing.assert_array_equal(f.dy_da2, [[1.0]])  # (2)
    np.testing.assert_array_equal(f.da2_dh2, [[0.25]])  # (3) σ(0)(1 − σ(0))
    np.testing.assert_array_equal(f.dh2_da1, [[1.0, 1.0]])  # (4) W2ᵀ, 1×2
    np.testing.assert_array_equal(f.da1_dh1, [[1.0, 0.0], [0.0, 0.0]])  # (5) h1 = [1, −0.5]
    # (6): ∂h1_1/∂W1 = [[x1, x2], [0, 0]], ∂h1_2/∂W1 = [[0, 0], [x1, x2]], the notes' drawing.
    np.testing.assert_array_equal(f.dh1_dW1, [[[1.0, 0.5], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.5]]])
    # The notes' partial products: (1)…(4) = −1/8 [1 1], then (1)…(5) = [−1/8 0].
    row = f.dJ_dy @ f.dy_da2 @ f.da2_dh2 @ f.dh2_da1
    np.testing.assert_array_equal(row, [[-1 / 8, -1 / 8]])
    np.testing.assert_array_equal(row @ f.da1_dh1, [[-1 / 8, 0.0]])
    np.testing.assert_array_equal(mlp.chain_rule_dJ_dW1(f), NOTES["dJ_dW1"])


def random_seed_problem(seed: int, n_in: int = 2, n_hidden: int = 2):
    """The notes' architecture with N(0, 1) numbers (numpy-drawn, in the default float)."""
    rng = np.random.default_rng(seed)
    dtype = jnp.asarray(0.0).dtype
    params = SeedMLPParams(*(jnp.asarray(rng.normal(size=s), dtype)
                             for s in ((n_hidden, n_in), (n_hidden,), (n_hidden, 1), (1,))))
    return params, jnp.asarray(rng.normal(size=n_in), dtype), jnp.asarray(rng.normal(), dtype)


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_each_factor_is_the_jacobian_of_its_stage(x64, seed):
    if seed is None:
        params, x, t = mlp.seed_example()
    else:
        params, x, t = random_seed_problem(seed, n_in=3, n_hidden=4)
    fw = mlp.forward(params, x)
    f = mlp.chain_factors(params, x, t)
    a2 = fw.y
    stages = {
        "dJ_dy": (lambda y: 0.5 * (t - y) ** 2, fw.y),  # J kept as a 1-vector: a 1×1 Jacobian
        "dy_da2": (lambda a: a, a2),  # y = a2
        "da2_dh2": (jax.nn.sigmoid, fw.h2),
        "dh2_da1": (lambda a1: params.W2.T @ a1 + params.b2, fw.a1),
        "da1_dh1": (jax.nn.relu, fw.h1),  # no tie at these points (checked below)
        "dh1_dW1": (lambda W1: W1 @ x + params.b1, params.W1),
    }
    assert float(jnp.min(jnp.abs(fw.h1))) > 1e-3
    for name, (stage, at) in stages.items():
        factor = getattr(f, name)
        reference = jax.jacobian(stage)(at)
        assert factor.shape == reference.shape, name
        np.testing.assert_allclose(factor, reference, rtol=1e-14, atol=0, err_msg=name)
    # Contracting the six gives ∂J/∂W1, as manual_grads and jax.grad compute it.
    contracted = mlp.chain_rule_dJ_dW1(f)
    np.testing.assert_allclose(contracted, mlp.manual_grads(params, x, t).W1, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(contracted, jax.grad(mlp.loss)(params, x, t).W1, rtol=1e-14, atol=1e-15)


def test_relu_convention_at_an_exact_tie(x64):
    """h1_2 = −0.5·1 + 1·0.5 = 0 exactly: the notes' ReLU′(0) = 1 and JAX's 0 differ by a known amount."""
    params, x, t = mlp.seed_example()
    params = params._replace(W1=jnp.array([[0.75, 0.5], [-0.5, 1.0]]))
    fw = mlp.forward(params, x)
    np.testing.assert_array_equal(fw.h1, [1.0, 0.0])  # the tie
    autodiff = jax.grad(mlp.loss)(params, x, t)
    notes = mlp.manual_grads(params, x, t)  # relu_grad_at_zero=1.0
    jaxlike = mlp.manual_grads(params, x, t, relu_grad_at_zero=0.0)

    # Predicted difference: only the tied unit i = 1 changes, by ReLU′ (1 vs 0) times its signal.
    # h2 = a1_0 + a1_1 − 1 = 0, so δ2 = −(t − σ(0)) σ′(0) = −(1 − ½)·¼ = −1/8 and the tied unit's
    # signal is δ2 · W2[1, 0] = −1/8 · 1. Then ∂J/∂b1[1] moves by −1/8 and ∂J/∂W1[1, :] by −1/8 · x.
    signal = -(1.0 - 0.5) * 0.25 * 1.0
    predicted = SeedMLPParams(
        W1=np.array([[0.0, 0.0], [signal * 1.0, signal * 0.5]]),
        b1=np.array([0.0, signal]),
        W2=np.zeros((2, 1)),  # a1 is 0 at the tie under either convention
        b2=np.zeros(1),
    )
    difference = jax.tree.map(lambda a, b: a - b, notes, autodiff)
    assert_trees_close(difference, predicted, atol=0)
    assert float(predicted.W1[1, 1]) == -1 / 16  # nonzero: the conventions really differ here
    assert_trees_close(jaxlike, autodiff, atol=0)

    # The factor (5) carries the convention; with 0 it is jax.jacobian of jax.nn.relu at the tie.
    np.testing.assert_array_equal(mlp.da1_dh1(fw.h1), np.eye(2))
    np.testing.assert_array_equal(
        mlp.da1_dh1(fw.h1, relu_grad_at_zero=0.0), jax.jacobian(jax.nn.relu)(fw.h1)
    )
    # Any subgradient in between interpolates linearly.
    half = mlp.manual_grads(params, x, t, relu_grad_at_zero=0.5)
    assert_trees_close(half, jax.tree.map(lambda a, b: 0.5 * (a + b), notes, jaxlike), atol=1e-17)


@settings(max_examples=6)
@given(
    seed=st.integers(0, 2**16),
    n_in=st.integers(1, 3),
    n_hidden=st.integers(1, 3),
    convention=st.sampled_from([0.0, 1.0]),
)
@example(seed=0, n_in=1, n_hidden=1, convention=1.0)
def test_away_from_ties_both_conventions_agree_with_autodiff(seed, n_in, n_hidden, convention):
    with jax.enable_x64(True):  # a context, not the fixture: hypothesis reruns the body
        params, x, t = random_seed_problem(seed, n_in, n_hidden)
        assume(float(jnp.min(jnp.abs(mlp.forward(params, x).h1))) > 1e-6)
        manual = mlp.manual_grads(params, x, t, relu_grad_at_zero=convention)
        assert_trees_close(manual, jax.grad(mlp.loss)(params, x, t), rtol=1e-13, atol=ROUND_OFF)


def test_notes_network_is_a_special_case_of_the_general_mlp(x64):
    """Same numbers through the general code: W1 [hidden, in] becomes Layer W [in, hidden]."""
    for params, x, t in (mlp.seed_example(), random_seed_problem(3, 3, 4)):
        general = (Layer(params.W1.T, params.b1), Layer(params.W2, params.b2))
        kw = dict(activations=("relu", "sigmoid"), loss=SE)
        np.testing.assert_allclose(
            mlp.mlp_loss(general, x[None, :], t.reshape(1, 1), **kw), mlp.loss(params, x, t), rtol=1e-15
        )
        g = mlp.mlp_manual_grads(general, x[None, :], t.reshape(1, 1), **kw)
        seed_g = mlp.manual_grads(params, x, t)
        np.testing.assert_allclose(g[0].W, seed_g.W1.T, rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(g[0].b, seed_g.b1, rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(g[1].W, seed_g.W2, rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(g[1].b, seed_g.b2, rtol=1e-14, atol=1e-16)


def test_seed_functions_validate_their_arguments():
    params, x, t = mlp.seed_example()
    with pytest.raises(ValueError, match=r"x must be \[n_in\] = \[2\]"):
        mlp.loss(params, jnp.ones(3), t)
    with pytest.raises(ValueError, match="t must be a scalar"):
        mlp.loss(params, x, jnp.ones(2))
    with pytest.raises(ValueError, match=r"params.W2 must be \[n_hidden, 1\]"):
        mlp.manual_grads(params._replace(W2=jnp.ones((2, 2))), x, t)
    with pytest.raises(ValueError, match=r"params.b1 must be \[n_hidden\]"):
        mlp.forward(params._replace(b1=jnp.ones(3)), x)
    with pytest.raises(TypeError, match="params must be SeedMLPParams"):
        mlp.loss((params.W1, params.b1), x, t)
    with pytest.raises(ValueError, match=r"relu_grad_at_zero must lie in \[0, 1\]"):
        mlp.manual_grads(params, x, t, relu_grad_at_zero=2.0)
    with pytest.raises(TypeError, match="relu_grad_at_zero"):
        mlp.da1_dh1(jnp.ones(2), relu_grad_at_zero="one")
    with pytest.raises(ValueError, match=r"W2 must be \[n_hidden, 1\]"):
        mlp.dh2_da1(jnp.ones((1, 2)))
    with pytest.raises(ValueError, match=r"y must be a vector \[1\]"):
        mlp.dJ_dy(jnp.ones(2), 1.0)


# ==========================================================================
# The general MLP


def manual_vjp_loss(loss_fn, grad_fn):
    """A function of params whose reverse-mode derivative is ``grad_fn``: check_grads then tests it."""

    @jax.custom_vjp
    def f(params):
        return loss_fn(params)

    def fwd(params):
        return loss_fn(params), params

    def bwd(params, g):
        return (jax.tree.map(lambda d: g * d, grad_fn(params)),)

    f.defvjp(fwd, bwd)
    return f


@st.composite
def mlp_problems(draw):
    # Few distinct widths and batch sizes: JAX compiles per shape, and shared shapes keep this fast.
    depth = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 3), min_size=depth + 1, max_size=depth + 1))
    loss = draw(st.sampled_from(mlp.LOSSES))
    acts = draw(st.lists(st.sampled_from(mlp.ACTIVATIONS), min_size=depth, max_size=depth))
    if loss == CE:
        acts[-1] = "identity"
    batch = draw(st.sampled_from([1, 3]))
    seed = draw(st.integers(0, 2**16))
    labels = draw(st.booleans())
    return dict(sizes=tuple(sizes), activations=tuple(acts), loss=loss, batch=batch, seed=seed,
                labels=labels)


def build_problem(sizes, activations, loss, batch, seed, labels, dtype=jnp.float64):
    """A random problem drawn with numpy (no per-shape JAX compilation just to make data)."""
    del activations  # the data do not depend on them
    rng = np.random.default_rng(seed)
    params = tuple(
        Layer(jnp.asarray(rng.normal(size=(n_in, n_out)) / np.sqrt(n_in), dtype),
              jnp.asarray(0.5 * rng.normal(size=n_out), dtype))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    )
    x = jnp.asarray(rng.normal(size=(batch, sizes[0])), dtype)
    if loss == SE:
        t = jnp.asarray(rng.normal(size=(batch, sizes[-1])), dtype)
    elif labels:
        t = jnp.asarray(rng.integers(0, sizes[-1], size=batch))
    else:
        logits = rng.normal(size=(batch, sizes[-1]))
        t = jnp.asarray(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), dtype)
    return params, x, t


def min_relu_margin(params, x, activations) -> float:
    fw = mlp.mlp_intermediates(params, x, activations)
    margins = [float(jnp.min(jnp.abs(z))) for z, a in zip(fw.pre, activations) if a == "relu"]
    return min(margins, default=np.inf)


@settings(max_examples=8)
@given(problem=mlp_problems())
# Batch size 1 and width 1 always run (their ReLU margins are 0.53 and 0.55, above the 1e-3 cut).
@example(problem=dict(sizes=(1, 1), activations=("relu",), loss=SE, batch=1, seed=1, labels=False))
@example(problem=dict(sizes=(3, 1, 1, 2), activations=("tanh", "relu", "identity"), loss=CE, batch=1,
                      seed=0, labels=True))
def test_manual_grads_match_autodiff_and_finite_differences(problem):
    with jax.enable_x64(True):  # a context, not the fixture: hypothesis reruns the body
        _check_against_autodiff_and_finite_differences(problem)


def _check_against_autodiff_and_finite_differences(problem):
    params, x, t = build_problem(**problem)
    acts, loss = problem["activations"], problem["loss"]
    # Finite differences across the ReLU kink are meaningless: keep draws away from it.
    assume(min_relu_margin(params, x, acts) > 1e-3)
    kw = dict(activations=acts, loss=loss)
    manual = mlp.mlp_manual_grads(params, x, t, **kw)
    autodiff = jax.grad(mlp.mlp_loss)(params, x, t, **kw)
    assert_trees_close(manual, autodiff, rtol=1e-12, atol=ROUND_OFF)

    # check_grads compares the reverse-mode rule (here: the hand-written backward pass) with
    # central differences along random directions. eps = 1e-6 moves a pre-activation by far less
    # than the 1e-3 kink margin.
    f = manual_vjp_loss(
        lambda p: mlp.mlp_loss(p, x, t, **kw), lambda p: mlp.mlp_manual_grads(p, x, t, **kw)
    )
    check_grads(f, (params,), order=1, modes=("rev",), eps=1e-6, atol=1e-7, rtol=1e-7)


def test_check_grads_catches_a_wrong_backward_pass(x64):
    """The check above can fail: drop σ′ from the sigmoid layer and check_grads objects."""
    params, x, t = build_problem((3, 4, 2), ("sigmoid", "identity"), SE, 3, 0, False)
    kw = dict(activations=("sigmoid", "identity"), loss=SE)

    def wrong(p):  # backprop through the sigmoid as if it were the identity
        g = mlp.mlp_manual_grads(p, x, t, activations=("identity", "identity"), loss=SE)
        return g

    f = manual_vjp_loss(lambda p: mlp.mlp_loss(p, x, t, **kw), wrong)
    with pytest.raises(AssertionError):
        check_grads(f, (params,), order=1, modes=("rev",), eps=1e-6, atol=1e-7, rtol=1e-7)


def test_loss_definitions_against_numpy(x64):
    params, x, _ = build_problem((3, 5, 4), ("tanh", "identity"), SE, 6, 7, False)
    acts = ("tanh", "identity")
    W0, b0, W1, b1 = (np.asarray(a) for layer in params for a in layer)
    y = np.tanh(np.asarray(x) @ W0 + b0) @ W1 + b1
    np.testing.assert_allclose(mlp.mlp_forward(params, x, acts), y, rtol=1e-14)
    t = np.arange(24.0).reshape(6, 4) / 10
    np.testing.assert_allclose(
        mlp.mlp_loss(params, x, t, activations=acts, loss=SE),
        np.mean(0.5 * np.sum((y - t) ** 2, axis=1)), rtol=1e-14,
    )
    labels = np.array([0, 3, 1, 2, 2, 0])
    log_softmax = y - np.log(np.sum(np.exp(y), axis=1, keepdims=True))
    np.testing.assert_allclose(
        mlp.mlp_loss(params, x, labels, activations=acts, loss=CE),
        -np.mean(log_softmax[np.arange(6), labels]), rtol=1e-14,
    )


def test_labels_and_one_hot_targets_agree(x64):
    params, x, labels = build_problem((4, 3, 5), ("relu", "identity"), CE, 5, 3, True)
    kw = dict(activations=("relu", "identity"), loss=CE)
    one_hot = jax.nn.one_hot(labels, 5, dtype=jnp.float64)
    assert float(mlp.mlp_loss(params, x, labels, **kw)) == float(mlp.mlp_loss(params, x, one_hot, **kw))
    assert_trees_close(mlp.mlp_manual_grads(params, x, labels, **kw),
                       mlp.mlp_manual_grads(params, x, one_hot, **kw), atol=0)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_cross_entropy_is_stable_for_huge_logits(x64, dtype):
    """Logits ±1e4 overflow exp in any dtype; in log space the loss is exactly the margin."""
    params = (Layer(jnp.array([[1e4, -1e4, 0.0]], dtype), jnp.zeros(3, dtype)),)
    x = jnp.array([[1.0], [1.0]], dtype)
    labels = jnp.array([1, 0])  # row 0 is wrong by 2e4 nats, row 1 right by a margin of 1e4
    kw = dict(activations=("identity",), loss=CE)
    value = mlp.mlp_loss(params, x, labels, **kw)
    assert value.dtype == dtype
    # Row 0: logsumexp(1e4, −1e4, 0) − (−1e4) = 2e4; row 1: ≈ 0 (e^{−1e4} underflows). Mean 1e4.
    np.testing.assert_allclose(value, 1e4, rtol=1e-7)
    manual = mlp.mlp_manual_grads(params, x, labels, **kw)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(manual))
    # softmax ≈ e_0 on both rows: ∂L/∂z = (e_0 − e_1)/2 on row 0 and 0 on row 1; x = 1.
    np.testing.assert_allclose(manual[0].b, [0.5, -0.5, 0.0], atol=1e-7)
    assert_trees_close(manual, jax.grad(mlp.mlp_loss)(params, x, labels, **kw), atol=1e-7)


def test_relu_tie_in_the_general_mlp(x64):
    """A zero input row with zero first-layer biases puts every first-layer unit exactly at 0."""
    params, x, _ = build_problem((3, 4, 2), ("relu", "identity"), CE, 3, 5, True)
    params = (params[0]._replace(b=jnp.zeros(4)), params[1])
    x = x.at[1].set(0.0)
    t = jnp.array([0, 1, 1])
    kw = dict(activations=("relu", "identity"), loss=CE)
    pre0 = mlp.mlp_intermediates(params, x, kw["activations"]).pre[0]
    assert bool(jnp.all(pre0[1] == 0)) and float(jnp.min(jnp.abs(pre0[::2]))) > 1e-3  # only row 1 ties
    autodiff = jax.grad(mlp.mlp_loss)(params, x, t, **kw)
    notes = mlp.mlp_manual_grads(params, x, t, **kw)
    jaxlike = mlp.mlp_manual_grads(params, x, t, relu_grad_at_zero=0.0, **kw)
    assert_trees_close(jaxlike, autodiff, rtol=1e-13, atol=ROUND_OFF)
    # The tie sits in layer 0: layer 1's gradients cannot see the convention; layer 0's bias does.
    assert_trees_close(notes[1], autodiff[1], rtol=1e-13, atol=ROUND_OFF)
    # With x row 1 = 0, ∂L/∂W0 gets nothing from that row; only b0 moves, by row 1's signal:
    # (1/B) (∂ℓ/∂z1 of row 1) W1ᵀ with ∂ℓ/∂z1 = softmax(z1) − e_t, z1 = b1 (a0 = ReLU(0) = 0).
    z1 = params[1].b  # nonzero: build_problem draws biases
    signal = (jax.nn.softmax(z1) - jax.nn.one_hot(1, 2, dtype=jnp.float64)) @ params[1].W.T / 3
    assert float(jnp.max(jnp.abs(signal))) > 1e-2  # the conventions really differ here
    np.testing.assert_allclose(notes[0].b - autodiff[0].b, signal, rtol=1e-12, atol=ROUND_OFF)
    np.testing.assert_allclose(notes[0].W, autodiff[0].W, rtol=1e-13, atol=ROUND_OFF)


def test_gradient_structure_follows_params():
    params, x, t = build_problem((2, 3, 1), ("tanh", "identity"), SE, 2, 0, False, dtype=jnp.float32)
    kw = dict(activations=("tanh", "identity"), loss=SE)
    as_list = [tuple(layer) for layer in params]
    g = mlp.mlp_manual_grads(as_list, x, t, **kw)
    assert jax.tree.structure(g) == jax.tree.structure(jax.grad(mlp.mlp_loss)(as_list, x, t, **kw))
    g = mlp.mlp_manual_grads(params, x, t, **kw)
    assert isinstance(g, tuple) and all(isinstance(layer, Layer) for layer in g)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(g))


def test_init_mlp_shapes_dtypes_and_scale():
    params = mlp.init_mlp(jax.random.key(0), [5, 7, 3])
    assert [(l.W.shape, l.b.shape) for l in params] == [((5, 7), (7,)), ((7, 3), (3,))]
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    assert all(float(jnp.max(jnp.abs(l.b))) == 0 for l in params)
    big = mlp.init_mlp(jax.random.key(1), [200, 100], weight_scale=2.0, bias_scale=0.5)
    # 20000 draws: the sample std is within 3% of its value with overwhelming probability.
    np.testing.assert_allclose(float(jnp.std(big[0].W)), 2.0 / np.sqrt(200), rtol=0.03)
    np.testing.assert_allclose(float(jnp.std(big[0].b)), 0.5, rtol=0.3)  # only 100 draws
    with pytest.raises(ValueError, match="sizes must list at least"):
        mlp.init_mlp(jax.random.key(0), [3])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive integer"):
        mlp.init_mlp(jax.random.key(0), [3, 0])


def test_accuracy_matches_argmax():
    params, x, labels = build_problem((4, 6, 3), ("relu", "identity"), CE, 40, 9, True, dtype=jnp.float32)
    acts = ("relu", "identity")
    y = np.asarray(mlp.mlp_forward(params, x, acts))
    expected = np.mean(np.argmax(y, axis=1) == np.asarray(labels))
    assert 0 < expected < 1
    np.testing.assert_allclose(mlp.accuracy(params, x, labels, activations=acts), expected, rtol=1e-6)


def test_general_mlp_validates_its_arguments():
    params, x, t = build_problem((3, 4, 2), ("relu", "identity"), SE, 2, 0, False, dtype=jnp.float32)
    kw = dict(activations=("relu", "identity"), loss=SE)
    with pytest.raises(ValueError, match=r"activations\[0\] must be one of"):
        mlp.mlp_loss(params, x, t, activations=("rellu", "identity"), loss=SE)
    with pytest.raises(ValueError, match="activations must name one activation per layer"):
        mlp.mlp_forward(params, x, ("relu",))
    with pytest.raises(TypeError, match="activations must be a sequence"):
        mlp.mlp_forward(params, x, "relu")
    with pytest.raises(ValueError, match="loss must be one of"):
        mlp.mlp_manual_grads(params, x, t, activations=kw["activations"], loss="hinge")
    with pytest.raises(ValueError, match=r"activations\[-1\] must be 'identity'"):
        mlp.mlp_loss(params, x, jnp.array([0, 1]), activations=("relu", "sigmoid"), loss=CE)
    with pytest.raises(ValueError, match=r"x must be \[batch, n_in\] = \[batch, 3\]"):
        mlp.mlp_loss(params, x[:, :2], t, **kw)
    with pytest.raises(ValueError, match=r"x must be \[batch, n_in\]"):
        mlp.mlp_loss(params, x[0], t, **kw)
    with pytest.raises(ValueError, match=r"t must be \[batch, n_out\] = \[2, 2\]"):
        mlp.mlp_loss(params, x, t[:, :1], **kw)
    with pytest.raises(ValueError, match=r"t labels must lie in \[0, 2\)"):
        mlp.mlp_loss(params, x, jnp.array([0, 2]), activations=kw["activations"], loss=CE)
    with pytest.raises(ValueError, match=r"t as integer class labels must be \[batch\] = \[2\]"):
        mlp.mlp_loss(params, x, jnp.array([0, 1, 1]), activations=kw["activations"], loss=CE)
    bad = (params[0], Layer(jnp.ones((5, 2)), jnp.ones(2)))
    with pytest.raises(ValueError, match=r"params\[1\].W must have n_in = 4 rows"):
        mlp.mlp_loss(bad, x, t, **kw)
    with pytest.raises(ValueError, match=r"params\[0\].b must be \[n_out\] = \[4\]"):
        mlp.mlp_loss((Layer(params[0].W, jnp.ones(3)), params[1]), x, t, **kw)
    with pytest.raises(TypeError, match="params must be a tuple of Layer"):
        mlp.mlp_loss(params[0], x, t, **kw)
    with pytest.raises(ValueError, match="x contains NaN"):
        mlp.mlp_loss(params, x.at[0, 0].set(jnp.nan), t, **kw)


# ==========================================================================
# Training with manual and automatic gradients


def digits_split(seed: int, test_fraction: float = 0.25):
    """sklearn's 8×8 digits as pixel / 16 in [0, 1], split deterministically by ``seed``."""
    x, y = data.digits(scaling="divide16", dtype=np.float64)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=test_fraction, seed=seed)
    return x_tr, y_tr, x_te, y_te


DIGITS_ACTS = ("relu", "identity")
digits_loss = functools.partial(mlp.mlp_loss, activations=DIGITS_ACTS, loss=CE)
digits_manual = functools.partial(mlp.mlp_manual_grads, activations=DIGITS_ACTS, loss=CE)
digits_autodiff = jax.grad(digits_loss)


def train_digits(dtype, n_steps, *, hidden=32, batch_size=None, seed=0):
    x_tr, y_tr, x_te, y_te = digits_split(seed)
    params0 = mlp.init_mlp(jax.random.key(seed), [64, hidden, 10], dtype=dtype)
    optimizer = optax.adam(1e-2)
    out = {}
    for name, grad_fn in (("manual", digits_manual), ("autodiff", digits_autodiff)):
        params, metrics = mlp.train(
            jax.random.key(seed + 1), params0, jnp.asarray(x_tr, dtype), jnp.asarray(y_tr),
            loss_fn=digits_loss, grad_fn=grad_fn, optimizer=optimizer, n_steps=n_steps,
            batch_size=batch_size,
        )
        acc = float(mlp.accuracy(params, jnp.asarray(x_te, dtype), y_te, activations=DIGITS_ACTS))
        out[name] = (np.asarray(metrics.loss), acc)
    return out


def relative_gap(a, b):
    return np.abs(a - b) / np.abs(b)


def test_digits_manual_and_autodiff_training_agree_in_float64(x64):
    """Same seed, data, optimizer; only the gradient differs. Observed gap ~1e-15 over 200 steps."""
    out = train_digits(jnp.float64, 200)
    (manual_curve, manual_acc), (auto_curve, auto_acc) = out["manual"], out["autodiff"]
    assert manual_curve.shape == (200,)
    gap = relative_gap(manual_curve, auto_curve)
    assert gap[:50].max() < 1e-10, gap[:50].max()  # round-off over the first steps
    assert gap.max() < 1e-8, gap.max()  # and no drift over the run
    assert manual_curve[-1] < 0.1 * manual_curve[0]  # it learned
    assert manual_acc > 0.9 and auto_acc > 0.9, (manual_acc, auto_acc)
    assert abs(manual_acc - auto_acc) <= 1 / 450  # at most one of 450 test digits flips


def test_digits_training_agrees_in_float32():
    """float32 round-off differs between the two gradients; adam keeps the curves close."""
    out = train_digits(jnp.float32, 100)
    gap = relative_gap(out["manual"][0], out["autodiff"][0])
    assert gap[:20].max() < 1e-5, gap[:20].max()
    assert gap.max() < 1e-4, gap.max()  # observed ~3e-7 at 100 steps
    assert out["manual"][1] > 0.85


def test_train_equals_a_python_loop_of_optax_updates(x64):
    params, x, t = build_problem((3, 4, 2), ("tanh", "identity"), SE, 6, 11, False)
    kw = dict(activations=("tanh", "identity"), loss=SE)
    loss_fn = functools.partial(mlp.mlp_loss, **kw)
    grad_fn = functools.partial(mlp.mlp_manual_grads, **kw)
    optimizer = optax.sgd(0.1, momentum=0.9)
    trained, metrics = mlp.train(None, params, x, t, loss_fn=loss_fn, grad_fn=grad_fn,
                                 optimizer=optimizer, n_steps=5)
    p, state, losses = params, optimizer.init(params), []
    for _ in range(5):
        losses.append(float(loss_fn(p, x, t)))
        updates, state = optimizer.update(jax.grad(loss_fn)(p, x, t), state, p)
        p = optax.apply_updates(p, updates)
    np.testing.assert_allclose(metrics.loss, losses, rtol=1e-13)
    assert_trees_close(trained, p, rtol=1e-12, atol=ROUND_OFF)
    assert metrics.grad_norm.shape == (5,) and bool(jnp.all(metrics.grad_norm > 0))


def test_minibatches_are_drawn_from_the_key_and_shared_by_both_gradients(x64):
    params, x, t = build_problem((3, 4, 3), ("relu", "identity"), CE, 30, 12, True)
    kw = dict(activations=("relu", "identity"), loss=CE)
    loss_fn = functools.partial(mlp.mlp_loss, **kw)
    grad_fn = functools.partial(mlp.mlp_manual_grads, **kw)
    run = functools.partial(mlp.train, params=params, x=x, t=t, loss_fn=loss_fn,
                            optimizer=optax.adam(1e-2), n_steps=20, batch_size=8)
    _, a = run(jax.random.key(0), grad_fn=grad_fn)
    _, b = run(jax.random.key(0), grad_fn=jax.grad(loss_fn))
    _, c = run(jax.random.key(1), grad_fn=grad_fn)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
    assert not np.allclose(a.loss, c.loss)  # another key, other batches
    with pytest.raises(ValueError, match="batch_size must be at most the 30 rows"):
        run(jax.random.key(0), grad_fn=grad_fn, batch_size=31)
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        run(None, grad_fn=grad_fn)


def test_train_is_one_scan_compiled_once(x64):
    """The step loop is a lax.scan (grad_fn traced once for many steps) and reruns reuse it."""
    params, x, t = build_problem((3, 4, 3), ("relu", "identity"), CE, 10, 13, True)
    kw = dict(activations=("relu", "identity"), loss=CE)
    loss_fn = functools.partial(mlp.mlp_loss, **kw)
    traces = []

    def counting_grad_fn(p, x, t):
        traces.append(1)  # runs only while tracing
        return mlp.mlp_manual_grads(p, x, t, **kw)

    optimizer = optax.sgd(0.1)
    for seed in (0, 1):
        _, metrics = mlp.train(jax.random.key(seed), params, x, t, loss_fn=loss_fn,
                               grad_fn=counting_grad_fn, optimizer=optimizer, n_steps=7,
                               batch_size=4)
        assert metrics.loss.shape == (7,)
    assert len(traces) == 1


@pytest.mark.slow
def test_digits_minibatch_training_long_run(x64):
    """1500 adam steps on minibatches of 64: both gradients reach the same, high test accuracy."""
    out = train_digits(jnp.float64, 1500, hidden=64, batch_size=64, seed=3)
    gap = relative_gap(out["manual"][0], out["autodiff"][0])
    assert gap[:100].max() < 1e-10 and gap.max() < 1e-6, (gap[:100].max(), gap.max())
    assert out["manual"][1] > 0.95 and abs(out["manual"][1] - out["autodiff"][1]) <= 2 / 450
