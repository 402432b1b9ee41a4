"""rbm_jax.data, checked against independent constructions, closed forms and sampling error.

References here are written from the definitions, not from the module: valid
bars-and-stripes images are found by filtering all 2**(n*n) images, mixture
probabilities by an explicit product over bits, entropies by summing over an
``itertools.product`` enumeration, and the digits recipe by scipy's
convolution and scikit-learn's ``minmax_scale``. Statistical checks use
fixed seeds and 5-sigma binomial tolerances derived from the sample size.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np
import pytest

from rbm_jax import data

Z = 5.0  # tolerance in standard deviations for the sampling checks (fixed seeds)


def all_states(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)


def is_bar_or_stripe(img):
    """Stripe: every image row constant; bar: every image column constant."""
    rows_const = np.all(img == img[:, :1], axis=1).all()
    cols_const = np.all(img == img[:1, :], axis=0).all()
    return bool(rows_const or cols_const)


def binary_entropy(p):
    return -(p * math.log(p) + (1 - p) * math.log1p(-p))


# --------------------------------------------------------------------------
# Bars and stripes


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_bars_and_stripes_counts(n):
    assert data.bars_and_stripes(n).shape == (2 ** (n + 1) - 2, n * n)
    assert data.bars_and_stripes(n, double_constant=True).shape == (2 ** (n + 1), n * n)


def test_bars_and_stripes_n4_has_30_distinct_rows():
    x = data.bars_and_stripes(4)
    assert x.shape == (30, 16) and x.dtype == np.float32
    assert len(np.unique(x, axis=0)) == 30


@pytest.mark.parametrize("n", [2, 3, 4])
def test_bars_and_stripes_is_exactly_the_valid_set(n):
    """Filtering all 2**(n*n) binary images by validity gives the same set, no duplicates."""
    x = data.bars_and_stripes(n)
    valid = {tuple(s) for s in all_states(n * n) if is_bar_or_stripe(s.reshape(n, n))}
    rows = [tuple(r) for r in x.astype(np.float64)]
    assert len(rows) == len(set(rows))  # no duplicates
    assert set(rows) == valid
    assert len(valid) == 2 ** (n + 1) - 2


@pytest.mark.parametrize("n", [2, 3, 4])
def test_bars_and_stripes_doubled_repeats_only_the_constants(n):
    x = data.bars_and_stripes(n, double_constant=True)
    uniq, counts = np.unique(x, axis=0, return_counts=True)
    twice = uniq[counts == 2]
    assert set(map(tuple, uniq)) == set(map(tuple, data.bars_and_stripes(n)))
    assert sorted(counts.tolist()) == [1] * (2 ** (n + 1) - 4) + [2, 2]
    assert sorted(twice.sum(axis=1).tolist()) == [0, n * n]  # all off, all on
    assert all(is_bar_or_stripe(r.reshape(n, n)) for r in x)


def test_bars_and_stripes_documented_order():
    n = 4
    x = data.bars_and_stripes(n).reshape(-1, n, n)
    xd = data.bars_and_stripes(n, double_constant=True).reshape(-1, n, n)
    # Stripes first, subsets of rows in product order (row 0 most significant).
    for k in range(2**n):
        on_rows = [(k >> (n - 1 - r)) & 1 for r in range(n)]
        np.testing.assert_array_equal(x[k], np.repeat(np.array(on_rows)[:, None], n, axis=1))
        np.testing.assert_array_equal(xd[k], x[k])
    # Then bars (columns), without the constants in the distinct version.
    for k in range(1, 2**n - 1):
        on_cols = [(k >> (n - 1 - c)) & 1 for c in range(n)]
        expected = np.repeat(np.array(on_cols)[None, :], n, axis=0)
        np.testing.assert_array_equal(x[2**n + k - 1], expected)
        np.testing.assert_array_equal(xd[2**n + k], expected)
    # Concretely: row 1 lights the last image row, row 16 the last column.
    np.testing.assert_array_equal(np.flatnonzero(x[1].ravel()), [12, 13, 14, 15])
    np.testing.assert_array_equal(np.flatnonzero(x[16].ravel()), [3, 7, 11, 15])


def test_bars_and_stripes_dtype():
    assert data.bars_and_stripes(3, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="dtype"):
        data.bars_and_stripes(3, dtype=np.int32)


def test_bars_and_stripes_optimum_is_minus_ln_30():
    optimum = data.bars_and_stripes_optimal_log_likelihood(4)
    assert optimum == pytest.approx(-math.log(30), abs=1e-15)
    assert optimum == pytest.approx(-3.4012, abs=1e-4)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("double", [False, True])
def test_bars_and_stripes_optimum_is_minus_empirical_entropy(n, double):
    x = data.bars_and_stripes(n, double_constant=double)
    got = data.bars_and_stripes_optimal_log_likelihood(n, double_constant=double)
    assert got == pytest.approx(-data.empirical_entropy(x), abs=1e-12)


@pytest.mark.parametrize("bad, err", [(1, ValueError), (0, ValueError), (-3, ValueError),
                                      (17, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bars_and_stripes_rejects_bad_n(bad, err):
    with pytest.raises(err, match="n must"):
        data.bars_and_stripes(bad)
    with pytest.raises(err, match="n must"):
        data.bars_and_stripes_optimal_log_likelihood(bad)


# --------------------------------------------------------------------------
# Empirical entropy


def test_empirical_entropy_by_hand():
    a, b, c = [0, 1], [1, 1], [0, 0]
    assert data.empirical_entropy([a, a, b]) == pytest.approx(
        -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)), abs=1e-15
    )
    assert data.empirical_entropy([a, b, c, [1, 0]]) == pytest.approx(math.log(4), abs=1e-15)
    assert data.empirical_entropy([c, c, c]) == 0.0
    # Order of the rows does not matter; grey values are rows like any other.
    assert data.empirical_entropy([b, a, a]) == data.empirical_entropy([a, a, b])
    assert data.empirical_entropy([[0.5, 0.2], [0.5, 0.2], [0.1, 0.0]]) == pytest.approx(
        data.empirical_entropy([a, a, b]), abs=1e-15
    )


@pytest.mark.parametrize("bad", [[0, 1, 1], np.zeros((0, 3)), [[0.0, np.nan]], [["a", "b"]]])
def test_empirical_entropy_rejects_bad_data(bad):
    with pytest.raises((ValueError, TypeError), match="data"):
        data.empirical_entropy(bad)


# --------------------------------------------------------------------------
# Noisy-prototype mixtures


def brute_mixture_prob(v, protos, p, w):
    """P(v) = Σ_k w_k Π_i (p if v_i != m_ki else 1 - p), written out bit by bit."""
    total = 0.0
    for wk, m in zip(w, protos):
        prod = 1.0
        for vi, mi in zip(v, m):
            prod *= p if vi != mi else 1 - p
        total += wk * prod
    return total


@pytest.mark.parametrize("p", [0.0, 0.03, 0.3, 0.5, 1.0])
def test_noisy_mixture_log_prob_matches_bitwise_product(p):
    rng = np.random.default_rng(1)
    protos = rng.integers(0, 2, size=(3, 5))
    w = np.array([0.5, 0.3, 0.2])
    states = all_states(5)
    with np.errstate(divide="ignore"):
        expected = np.log([brute_mixture_prob(s, protos, p, w) for s in states])
    got = data.noisy_mixture_log_prob(states, protos, p, weights=w * 7)  # weights normalised
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_noisy_mixture_entropy_matches_enumeration(p):
    rng = np.random.default_rng(2)
    protos = rng.integers(0, 2, size=(4, 6))
    w = np.array([0.1, 0.2, 0.3, 0.4])
    probs = np.array([brute_mixture_prob(s, protos, p, w) for s in all_states(6)])
    nz = probs > 0
    expected = -np.sum(probs[nz] * np.log(probs[nz]))
    assert data.noisy_mixture_entropy(protos, p, weights=w) == pytest.approx(expected, abs=1e-12)


def test_noisy_mixture_validation():
    protos = np.eye(3)
    with pytest.raises(ValueError, match="prototypes"):
        data.noisy_mixture_entropy([[0, 0.5, 1]], 0.1)
    with pytest.raises(ValueError, match="prototypes"):
        data.noisy_mixture_entropy(np.zeros((1, 21)), 0.1)
    with pytest.raises(ValueError, match="v must"):
        data.noisy_mixture_log_prob(np.zeros((2, 4)), protos, 0.1)
    with pytest.raises(ValueError, match="weights"):
        data.noisy_mixture_log_prob(np.zeros((2, 3)), protos, 0.1, weights=[1, 2])
    with pytest.raises(ValueError, match="weights"):
        data.noisy_mixture_log_prob(np.zeros((2, 3)), protos, 0.1, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="flip_prob"):
        data.noisy_mixture_entropy(protos, 1.5)


# --------------------------------------------------------------------------
# Four modes


def test_four_modes_prototypes():
    protos = data.four_modes_prototypes().reshape(4, 4, 4)
    left = np.array([[1, 1, 0, 0]] * 4)
    np.testing.assert_array_equal(protos[0], np.zeros((4, 4)))
    np.testing.assert_array_equal(protos[1], np.ones((4, 4)))
    np.testing.assert_array_equal(protos[2], 1 - left)  # right half on
    np.testing.assert_array_equal(protos[3], left)  # left half on
    flat = protos.reshape(4, 16)
    dist = np.abs(flat[:, None, :] - flat[None, :, :]).sum(-1)
    assert dist[~np.eye(4, dtype=bool)].min() == 8
    assert {tuple(r) for r in 1 - flat} == {tuple(r) for r in flat}  # closed under complement


def test_four_modes_is_deterministic_from_seed():
    a = data.four_modes(500, flip_prob=0.1, seed=3)
    b = data.four_modes(500, flip_prob=0.1, seed=3)
    c = data.four_modes(500, flip_prob=0.1, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (500, 16) and a.dtype == np.float32
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert data.four_modes(5, dtype=np.float64).dtype == np.float64


def test_four_modes_mode_frequencies_are_a_quarter():
    n = 20_000
    _, modes = data.four_modes(n, seed=5, return_modes=True)
    counts = np.bincount(modes, minlength=4)
    assert counts.sum() == n and modes.dtype == np.int64
    sd = math.sqrt(n * 0.25 * 0.75)
    assert np.all(np.abs(counts - n / 4) < Z * sd), counts


@pytest.mark.parametrize("n, p", [(10_000, 0.001), (5_000, 0.05), (2_000, 0.4)])
def test_four_modes_flip_rate(n, p):
    x, modes = data.four_modes(n, flip_prob=p, seed=6, return_modes=True)
    flips = x != data.four_modes_prototypes()[modes]  # [n, 16]
    total_sd = math.sqrt(16 * n * p * (1 - p))
    assert abs(flips.sum() - 16 * n * p) < Z * total_sd
    pixel_sd = math.sqrt(n * p * (1 - p))  # each pixel flips at the same rate
    assert np.all(np.abs(flips.sum(axis=0) - n * p) < Z * pixel_sd)


def test_four_modes_extreme_flip_probs():
    x0, m0 = data.four_modes(200, flip_prob=0.0, seed=7, return_modes=True)
    x1, m1 = data.four_modes(200, flip_prob=1.0, seed=7, return_modes=True)
    protos = data.four_modes_prototypes()
    np.testing.assert_array_equal(x0, protos[m0])
    np.testing.assert_array_equal(x1, 1 - protos[m1])


def test_four_modes_entropy_closed_forms():
    assert data.four_modes_entropy(0.0) == pytest.approx(math.log(4), abs=1e-13)
    assert data.four_modes_entropy(1.0) == pytest.approx(math.log(4), abs=1e-13)
    assert data.four_modes_entropy(0.5) == pytest.approx(16 * math.log(2), abs=1e-10)
    for p in (0.05, 0.2):  # the prototype set is closed under complement
        h, h_complement = data.four_modes_entropy(p), data.four_modes_entropy(1 - p)
        assert h == pytest.approx(h_complement, abs=1e-10)


@pytest.mark.parametrize("p", [0.001, 0.05, 0.2, 0.35])
def test_four_modes_entropy_bound(p):
    """H <= H(mode) + H(x | mode) = ln 4 + 16 H_b(p); nearly equal while modes barely overlap."""
    upper = math.log(4) + 16 * binary_entropy(p)
    h = data.four_modes_entropy(p)
    assert h <= upper + 1e-12
    if p == 0.001:
        assert upper - h < 1e-8
    else:
        assert upper - h > 1e-6  # overlap is real, so a sum of per-mode entropies is not exact


def test_four_modes_entropy_against_monte_carlo():
    p, n = 0.1, 20_000
    x = data.four_modes(n, flip_prob=p, seed=8)
    log_p = data.noisy_mixture_log_prob(x, data.four_modes_prototypes(), p)
    estimate, se = -log_p.mean(), log_p.std(ddof=1) / math.sqrt(n)
    assert abs(estimate - data.four_modes_entropy(p)) < Z * se


def test_four_modes_distribution_is_normalised():
    log_p = data.noisy_mixture_log_prob(all_states(16), data.four_modes_prototypes(), 0.2)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs, err, name",
    [
        (dict(flip_prob=-0.1), ValueError, "flip_prob"),
        (dict(flip_prob=1.1), ValueError, "flip_prob"),
        (dict(flip_prob=float("nan")), ValueError, "flip_prob"),
        (dict(flip_prob=True), TypeError, "flip_prob"),
        (dict(flip_prob="0.1"), TypeError, "flip_prob"),
        (dict(n_rows=0), ValueError, "n_rows"),
        (dict(n_rows=2.0), TypeError, "n_rows"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(dtype=np.int8), TypeError, "dtype"),
    ],
)
def test_four_modes_validation(kwargs, err, name):
    with pytest.raises(err, match=name):
        data.four_modes(**kwargs)
    if "flip_prob" in kwargs:
        with pytest.raises(err, match=name):
            data.four_modes_entropy(kwargs["flip_prob"])


# --------------------------------------------------------------------------
# Shifting bars


@pytest.mark.parametrize("n, length", [(2, 1), (5, 2), (8, 3), (10, 9)])
def test_shifting_bars_cyclic(n, length):
    x = data.shifting_bars(n, length)
    assert x.shape == (n, n)
    assert len(np.unique(x, axis=0)) == n
    for s, row in enumerate(x):
        expected = np.zeros(n)
        expected[[(s + j) % n for j in range(length)]] = 1
        np.testing.assert_array_equal(row, expected)
        # one contiguous run around the circle: exactly one 0 -> 1 step, cyclically
        assert row.sum() == length and np.sum((np.roll(row, 1) == 0) & (row == 1)) == 1


@pytest.mark.parametrize("n, length", [(2, 1), (5, 2), (8, 3), (10, 9)])
def test_shifting_bars_non_cyclic(n, length):
    x = data.shifting_bars(n, length, cyclic=False)
    assert x.shape == (n - length + 1, n)
    for s, row in enumerate(x):
        np.testing.assert_array_equal(np.flatnonzero(row), np.arange(s, s + length))


def test_shifting_bars_repeats_and_noise():
    clean = data.shifting_bars(12, 3)
    rep = data.shifting_bars(12, 3, n_repeats=4)
    np.testing.assert_array_equal(rep, np.tile(clean, (4, 1)))
    # Without noise the seed is unused.
    seed_1, seed_2 = data.shifting_bars(12, 3, seed=1), data.shifting_bars(12, 3, seed=2)
    np.testing.assert_array_equal(seed_1, seed_2)

    n_rep, p = 500, 0.05
    noisy = data.shifting_bars(12, 3, n_repeats=n_rep, flip_prob=p, seed=9)
    same = data.shifting_bars(12, 3, n_repeats=n_rep, flip_prob=p, seed=9)
    other = data.shifting_bars(12, 3, n_repeats=n_rep, flip_prob=p, seed=10)
    np.testing.assert_array_equal(noisy, same)
    assert not np.array_equal(noisy, other)
    flips = (noisy != np.tile(clean, (n_rep, 1))).sum()
    m = noisy.size
    assert abs(flips - m * p) < Z * math.sqrt(m * p * (1 - p))
    all_flipped = data.shifting_bars(6, 2, n_repeats=3, flip_prob=1.0)
    np.testing.assert_array_equal(all_flipped, 1 - data.shifting_bars(6, 2, n_repeats=3))


def test_shifting_bars_entropy_reference():
    """The clean set as prototypes: ln(n_positions) without noise, n ln 2 at flip_prob 0.5."""
    protos = data.shifting_bars(10, 4, cyclic=False)
    assert data.noisy_mixture_entropy(protos, 0.0) == pytest.approx(math.log(7), abs=1e-13)
    assert data.noisy_mixture_entropy(protos, 0.5) == pytest.approx(10 * math.log(2), abs=1e-10)


@pytest.mark.parametrize(
    "args, kwargs, err, name",
    [
        ((1, 1), {}, ValueError, "n_visible"),
        ((6, 6), {}, ValueError, "bar_length"),
        ((6, 0), {}, ValueError, "bar_length"),
        ((6, 2), dict(n_repeats=0), ValueError, "n_repeats"),
        ((6, 2), dict(flip_prob=2.0), ValueError, "flip_prob"),
        ((6, 2), dict(seed=-2), ValueError, "seed"),
    ],
)
def test_shifting_bars_validation(args, kwargs, err, name):
    with pytest.raises(err, match=name):
        data.shifting_bars(*args, **kwargs)


# --------------------------------------------------------------------------
# Nudging and digits


def test_nudge_moves_a_hand_made_image():
    img = np.zeros((8, 8))
    img[3, 5] = 1.0  # interior pixel
    img[0, 0] = 0.5  # corner pixel: lost when moved up or left
    out = data.nudge(img.reshape(1, 64)).reshape(5, 8, 8)
    expected = {  # block: pixels that are on, with values
        0: {(3, 5): 1.0, (0, 0): 0.5},  # original
        1: {(2, 5): 1.0},  # up
        2: {(3, 4): 1.0},  # left
        3: {(3, 6): 1.0, (0, 1): 0.5},  # right
        4: {(4, 5): 1.0, (1, 0): 0.5},  # down
    }
    for block, pixels in expected.items():
        want = np.zeros((8, 8))
        for (r, c), val in pixels.items():
            want[r, c] = val
        np.testing.assert_array_equal(out[block], want)


def test_nudge_non_square_images_and_row_blocks():
    img = np.arange(1, 16, dtype=np.float32).reshape(3, 5)
    two = np.stack([img, 10 * img]).reshape(2, 15)
    out = data.nudge(two, image_shape=(3, 5)).reshape(10, 3, 5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[2], np.vstack([img[1:], np.zeros((1, 5))]))  # up, image 0
    np.testing.assert_array_equal(out[5], np.hstack([10 * img[:, 1:], np.zeros((3, 1))]))  # left, 1
    np.testing.assert_array_equal(out[6], np.hstack([np.zeros((3, 1)), img[:, :-1]]))  # right, 0
    np.testing.assert_array_equal(out[9], np.vstack([np.zeros((1, 5)), 10 * img[:-1]]))  # down, 1
    with pytest.raises(ValueError, match="data must"):
        data.nudge(two, image_shape=(4, 4))
    with pytest.raises(ValueError, match="image_shape"):
        data.nudge(two, image_shape=(3, 5, 1))


def example_recipe(nudge):
    """scikit-learn's RBM digits example, rebuilt from its description with scipy and sklearn."""
    from scipy.ndimage import convolve
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import minmax_scale

    X, y = load_digits(return_X_y=True)
    X = np.asarray(X, np.float32)
    if nudge:
        kernels = []
        for r, c in [(0, 1), (1, 0), (1, 2), (2, 1)]:
            k = np.zeros((3, 3))
            k[r, c] = 1
            kernels.append(k)
        shifted = [
            np.stack([convolve(row.reshape(8, 8), k, mode="constant").ravel() for row in X])
            for k in kernels
        ]
        X = np.concatenate([X] + shifted)
        y = np.concatenate([y] * 5)
    return minmax_scale(X, feature_range=(0, 1)), y


@pytest.mark.parametrize("nudge", [False, True])
def test_digits_reproduce_the_sklearn_example(nudge):
    X, y = data.digits(nudge=nudge)
    X_ref, y_ref = example_recipe(nudge)
    n = 8985 if nudge else 1797
    assert X.shape == (n, 64) and y.shape == (n,) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, X_ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y, y_ref)
    assert X.min() == 0.0 and X.max() == 1.0
    span = X.max(axis=0) - X.min(axis=0)
    # Per-pixel min-max: every pixel spans [0, 1] except constant ones, which are 0. Three
    # pixels never hold ink in the raw digits; nudging moves ink into all of them.
    assert set(np.unique(span)) <= {0.0, 1.0}
    assert np.sum(span == 0) == (0 if nudge else 3)
    assert np.all(X[:, span == 0] == 0)


def test_digits_divide16_and_binarize():
    from sklearn.datasets import load_digits

    raw, _ = load_digits(return_X_y=True)
    grey, _ = data.digits(scaling="divide16", dtype=np.float64)
    np.testing.assert_array_equal(grey, raw / 16)
    minmax, _ = data.digits()
    assert not np.allclose(minmax, raw / 16)  # per-pixel scaling differs from X / 16

    for t in (0.0, 0.5, 0.9):
        b, _ = data.digits(binarize=True, threshold=t)
        assert set(np.unique(b)) == {0.0, 1.0}
        np.testing.assert_array_equal(b, (minmax > t).astype(np.float32))
    bn, yn = data.digits(binarize=True, nudge=True)
    assert bn.shape == (8985, 64) and set(np.unique(bn)) == {0.0, 1.0} and yn.shape == (8985,)


@pytest.mark.parametrize(
    "kwargs, err, name",
    [
        (dict(threshold=1.0), ValueError, "threshold"),
        (dict(threshold=-0.5), ValueError, "threshold"),
        (dict(scaling="max"), ValueError, "scaling"),
        (dict(dtype=np.int64), TypeError, "dtype"),
    ],
)
def test_digits_validation(kwargs, err, name):
    with pytest.raises(err, match=name):
        data.digits(**kwargs)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install -e '\.\[dev\]'"):
        data.digits()


# --------------------------------------------------------------------------
# Train/test split


def test_split_is_a_deterministic_partition():
    n = 103
    x = np.arange(n)[:, None] * np.ones((1, 3))
    labels = np.arange(n) * 10
    tr, te, ytr, yte = data.train_test_split(x, labels, test_fraction=0.2, seed=4)
    assert te.shape == (math.ceil(0.2 * n), 3) and tr.shape == (n - te.shape[0], 3)
    ids_tr, ids_te = tr[:, 0].astype(int), te[:, 0].astype(int)
    assert set(ids_tr).isdisjoint(ids_te)
    assert sorted(np.concatenate([ids_tr, ids_te]).tolist()) == list(range(n))
    np.testing.assert_array_equal(ytr, ids_tr * 10)  # labels follow their rows
    np.testing.assert_array_equal(yte, ids_te * 10)

    again = data.train_test_split(x, labels, test_fraction=0.2, seed=4)
    for a, b in zip(again, (tr, te, ytr, yte)):
        np.testing.assert_array_equal(a, b)
    other_tr, other_te = data.train_test_split(x, test_fraction=0.2, seed=5)
    assert set(other_te[:, 0].astype(int)) != set(ids_te)
    assert set(ids_te) != set(range(te.shape[0]))  # actually shuffled


def test_split_sizes():
    x = np.zeros((10, 2))
    # 0.7 * 10 is 7.000000000000001 in floating point; the test part still has 7 rows.
    assert data.train_test_split(x, test_fraction=0.7)[1].shape[0] == 7
    assert data.train_test_split(x, test_fraction=0.01)[1].shape[0] == 1
    assert data.train_test_split(np.zeros((2, 1)), test_fraction=0.5)[0].shape[0] == 1


@pytest.mark.parametrize(
    "args, kwargs, err, name",
    [
        ((np.zeros((10, 2)),), dict(test_fraction=0.0), ValueError, "test_fraction"),
        ((np.zeros((10, 2)),), dict(test_fraction=1.0), ValueError, "test_fraction"),
        ((np.zeros((10, 2)),), dict(test_fraction=float("nan")), ValueError, "test_fraction"),
        ((np.zeros((10, 2)),), dict(test_fraction=True), TypeError, "test_fraction"),
        ((np.zeros((10, 2)),), dict(test_fraction=0.95), ValueError, "test_fraction"),
        ((np.zeros((10, 2)), np.zeros(9)), {}, ValueError, "labels"),
        ((np.zeros((1, 2)),), {}, ValueError, "data"),
        ((np.zeros((10, 2)),), dict(seed=-1), ValueError, "seed"),
    ],
)
def test_split_validation(args, kwargs, err, name):
    with pytest.raises(err, match=name):
        data.train_test_split(*args, **kwargs)
