"""Data sets for RBM experiments: bars and stripes, four modes, shifting bars, digits, splits.

Every generator returns a NumPy array ``[n_rows, n_visible]`` of 0./1. (or
grey) values in a floating ``dtype`` (``np.float32`` by default); images are
flattened row-major, so pixel ``(r, c)`` of an ``H × W`` image is unit
``r * W + c``.

Contract:
  * Randomness comes from an integer ``seed`` (>= 0) fed to
    ``np.random.default_rng(seed)``: the same seed gives the same array on
    every platform for a given NumPy version. Data are made once on the host,
    so there are no JAX keys here; pass the arrays to the JAX code as they are.
  * Exact references come with the data: :func:`empirical_entropy` (the best
    average log-likelihood any model can reach on a data set is minus it),
    :func:`bars_and_stripes_optimal_log_likelihood`, and the generating
    distribution of the noisy data sets (:func:`noisy_mixture_log_prob`,
    :func:`noisy_mixture_entropy`, :func:`four_modes_entropy`), computed by
    enumerating all ``2**n_visible`` states. Entropies are in nats.
  * Enumeration order is ``itertools.product([0, 1], repeat=n)`` (row ``k``
    is ``k`` in binary, unit 0 most significant), as everywhere in rbm_jax.
  * Bad arguments raise before any work, naming the argument.
  * :func:`digits` needs scikit-learn (a ``[dev]`` extra), imported lazily.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np

from rbm_jax import _checks

__all__ = [
    "bars_and_stripes",
    "bars_and_stripes_optimal_log_likelihood",
    "empirical_entropy",
    "four_modes",
    "four_modes_prototypes",
    "four_modes_entropy",
    "noisy_mixture_log_prob",
    "noisy_mixture_entropy",
    "shifting_bars",
    "nudge",
    "digits",
    "train_test_split",
]

# Enumerating 2**n states (noisy_mixture_*) is capped here: 2**20 ≈ 1e6 states.
MAX_ENUMERATED_UNITS = 20
# bars_and_stripes(n) has 2**(n+1) rows of n*n units; n = 16 is already 33M entries.
MAX_BARS_AND_STRIPES_SIDE = 16


# --------------------------------------------------------------------------
# Validation helpers (data-specific; the generic ones live in _checks).


def _probability(value: Any, name: str) -> float:
    """Returns ``value`` as a float in [0, 1], or raises naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a probability in [0, 1], got {value!r}")
    p = float(value)
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return p


def _binary_matrix(x: Any, name: str) -> np.ndarray:
    """Checks a matrix ``[n_rows, n_units]`` of 0/1 values; returns it as float64."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a matrix [n_rows, n_units], got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    _checks.unit_values(arr, name, binary=True)
    return arr.astype(np.float64)


# --------------------------------------------------------------------------
# Bars and stripes


def _bars_and_stripes_count(n: int, double_constant: bool) -> int:
    return 2 ** (n + 1) if double_constant else 2 ** (n + 1) - 2


def _side(n: Any) -> int:
    n = _checks.positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be at least 2 (images are n × n), got {n}")
    if n > MAX_BARS_AND_STRIPES_SIDE:
        raise ValueError(
            f"n must be at most {MAX_BARS_AND_STRIPES_SIDE} "
            f"(the data set has 2**(n+1) rows of n*n units), got {n}"
        )
    return n


def bars_and_stripes(n: int = 4, *, double_constant: bool = False, dtype=np.float32) -> np.ndarray:
    """All n × n bars-and-stripes images, flattened row-major.

    A *stripe* image switches on a subset of the rows (horizontal lines), a
    *bar* image a subset of the columns (vertical lines). The all-off and
    all-on images belong to both families, so there are ``2**(n+1) - 2``
    distinct images (30 for n = 4). With ``double_constant=True`` the two
    constant images appear twice, giving the ``2**(n+1)``-row convention
    (each family enumerated in full).

    Order: first the ``2**n`` stripe images, the subset of rows ``s`` running
    over ``itertools.product([0, 1], repeat=n)`` (``s[r] = 1``: row ``r`` on;
    so image 0 is all off and image ``2**n - 1`` all on); then the bar
    images, the subset of columns running over the same order — without its
    first (all off) and last (all on) element unless ``double_constant``.

    Args:
      n: side of the square images, 2 <= n <= 16.
      double_constant: keep the constant images twice (``2**(n+1)`` rows).
      dtype: floating dtype of the result.

    Returns:
      [2**(n+1) - 2, n*n] (or [2**(n+1), n*n]) array of 0./1. in ``dtype``;
      image ``(r, c)`` pixel is column ``r * n + c``.
    """
    n = _side(n)
    dtype = _checks.float_dtype(dtype)
    subsets = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)  # [2**n, n]
    stripes = np.repeat(subsets[:, :, None], n, axis=2)  # image[r, c] = s[r]
    bars = np.repeat(subsets[:, None, :], n, axis=1)  # image[r, c] = s[c]
    if not double_constant:
        bars = bars[1:-1]
    images = np.concatenate([stripes, bars], axis=0)
    return images.reshape(images.shape[0], n * n).astype(dtype)


def bars_and_stripes_optimal_log_likelihood(n: int = 4, *, double_constant: bool = False) -> float:
    """The best average log-likelihood any model can reach on :func:`bars_and_stripes`.

    It is minus the entropy of the data's empirical distribution (see
    :func:`empirical_entropy`), reached by the model that puts each distinct
    image's empirical frequency on it. For the distinct set that is the
    uniform distribution over ``N = 2**(n+1) - 2`` images::

        optimum = -ln N                        (-ln 30 ≈ -3.4012 for n = 4)

    With ``double_constant`` (``N = 2**(n+1)`` rows, the two constant images
    twice) the empirical distribution gives the constant images ``2/N`` each::

        optimum = -ln N + (4/N) ln 2           (≈ -3.3791 for n = 4)

    Args:
      n: side of the images, 2 <= n <= 16.
      double_constant: the ``2**(n+1)``-row convention.

    Returns:
      The optimum average log-likelihood in nats (a negative float).
    """
    n = _side(n)
    count = _bars_and_stripes_count(n, double_constant)
    if double_constant:
        return -math.log(count) + 4.0 / count * math.log(2.0)
    return -math.log(count)


def empirical_entropy(data: Any) -> float:
    """Entropy of the empirical distribution of the rows of ``data``.

    ``H = -Σ_x p̂(x) ln p̂(x)`` over the distinct rows ``x``, with ``p̂(x)`` the
    fraction of rows equal to ``x``. No model can reach an average
    log-likelihood above ``-H`` on ``data`` (Gibbs' inequality); the
    empirical distribution itself reaches it.

    Args:
      data: [n_rows, n_units] numeric array (at least one row), finite values.

    Returns:
      H in nats (a float >= 0).
    """
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"data must be a matrix [n_rows, n_units], got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"data must have at least one row, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"data must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise ValueError("data contains NaN or inf")
    _, counts = np.unique(arr, axis=0, return_counts=True)
    p = counts / arr.shape[0]
    return float(-np.sum(p * np.log(p)))


# --------------------------------------------------------------------------
# Mixtures of product-Bernoulli ("noisy prototype") distributions


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(x) along ``axis``; rows that are all -inf give -inf (no warnings)."""
    m = np.max(x, axis=axis, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):  # log(0) = -inf for impossible states
        out = np.log(np.sum(np.exp(x - m_safe), axis=axis, keepdims=True)) + m_safe
    return np.squeeze(out, axis=axis)


def _mixture_weights(weights: Any, n_components: int) -> np.ndarray:
    if weights is None:
        return np.full(n_components, 1.0 / n_components)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_components,):
        raise ValueError(
            f"weights must have shape [n_prototypes] = [{n_components}], got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {w}")
    return w / w.sum()


def _mixture_log_prob(v: np.ndarray, prototypes: np.ndarray, p: float, log_w: np.ndarray):
    """log Σ_k w_k p^{d_k} (1-p)^{n-d_k}, with d_k the Hamming distance to prototype k."""
    n = v.shape[1]
    # Hamming distances [n_rows, K]: Σ v + Σ m - 2 v·m (exact in float64 for 0/1 values).
    d = v.sum(axis=1, keepdims=True) + prototypes.sum(axis=1)[None, :] - 2.0 * (v @ prototypes.T)
    log_comp = np.zeros_like(d)
    # 0 · ln 0 = 0: only the terms with a positive count touch ln p or ln(1-p).
    flipped, kept = d > 0, (n - d) > 0
    log_comp[flipped] += d[flipped] * (math.log(p) if p > 0 else -np.inf)
    log_comp[kept] += (n - d[kept]) * (math.log1p(-p) if p < 1 else -np.inf)
    return _logsumexp(log_comp + log_w[None, :], axis=1)


def noisy_mixture_log_prob(v, prototypes, flip_prob: float, *, weights=None) -> np.ndarray:
    """log P(v) under "pick a prototype, then flip each bit independently".

    The generating distribution of :func:`four_modes` and of the noisy
    :func:`shifting_bars`: a mixture of product-Bernoulli distributions::

        P(v) = Σ_k w_k  p^{d_k(v)} (1 - p)^{n - d_k(v)},

    with ``d_k(v)`` the Hamming distance between ``v`` and prototype ``k``,
    ``p = flip_prob`` and ``n = n_units``. Computed in float64 in log space.

    Args:
      v: [n_rows, n_units] 0/1 configurations.
      prototypes: [n_prototypes, n_units] 0/1 prototype images.
      flip_prob: probability in [0, 1] that each bit is flipped.
      weights: optional [n_prototypes] non-negative mixture weights
        (normalised to sum 1); uniform when omitted.

    Returns:
      [n_rows] float64 log-probabilities (``-inf`` for impossible rows).
    """
    protos = _binary_matrix(prototypes, "prototypes")
    v = _binary_matrix(v, "v")
    if v.shape[1] != protos.shape[1]:
        raise ValueError(
            f"v must have shape [n_rows, n_units] = [n_rows, {protos.shape[1]}] "
            f"to match prototypes {protos.shape}, got shape {v.shape}"
        )
    p = _probability(flip_prob, "flip_prob")
    w = _mixture_weights(weights, protos.shape[0])
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    return _mixture_log_prob(v, protos, p, log_w)


def noisy_mixture_entropy(prototypes, flip_prob: float, *, weights=None) -> float:
    """Exact entropy of :func:`noisy_mixture_log_prob`'s distribution, by enumeration.

    ``H = -Σ_v P(v) ln P(v)`` over all ``2**n_units`` states (``n_units <=
    20``), in float64. The best expected log-likelihood of any model on data
    drawn from this distribution is ``-H``.

    Args:
      prototypes: [n_prototypes, n_units] 0/1 prototype images.
      flip_prob: probability in [0, 1] that each bit is flipped.
      weights: optional [n_prototypes] non-negative mixture weights
        (normalised to sum 1); uniform when omitted.

    Returns:
      H in nats.
    """
    protos = _binary_matrix(prototypes, "prototypes")
    n = protos.shape[1]
    if n > MAX_ENUMERATED_UNITS:
        raise ValueError(
            f"prototypes must have at most {MAX_ENUMERATED_UNITS} units to enumerate "
            f"2**n_units states, got {n}"
        )
    p = _probability(flip_prob, "flip_prob")
    w = _mixture_weights(weights, protos.shape[0])
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    shifts = np.arange(n - 1, -1, -1)
    entropy = 0.0
    chunk = 1 << 16
    for start in range(0, 1 << n, chunk):  # bounded memory: [chunk, n] states at a time
        k = np.arange(start, min(start + chunk, 1 << n))
        states = ((k[:, None] >> shifts[None, :]) & 1).astype(np.float64)  # unit 0 = MSB
        lp = _mixture_log_prob(states, protos, p, log_w)
        possible = np.isfinite(lp)
        entropy -= float(np.sum(np.exp(lp[possible]) * lp[possible]))
    return entropy


def _noisy_copies(rng: np.random.Generator, clean: np.ndarray, p: float) -> np.ndarray:
    """Flips each entry of the 0/1 int8 array ``clean`` independently with probability p."""
    flips = rng.random(clean.shape) < p  # U[0, 1) < p: P(flip) = p; p = 1 flips all
    return np.bitwise_xor(clean, flips.astype(np.int8))


# --------------------------------------------------------------------------
# Four modes (Desjardins et al., 2010)


def four_modes_prototypes(dtype=np.float32) -> np.ndarray:
    """The four 4 × 4 prototypes of the four-modes data set, flattened row-major.

    In the order of the first author's generator (see :func:`four_modes`):

      0. all off (black);
      1. all on (white);
      2. left half off, right half on (columns 2 and 3 on);
      3. left half on, right half off (columns 0 and 1 on).

    The set is closed under complement (0 ↔ 1, 2 ↔ 3), and any two
    prototypes differ in at least 8 of the 16 pixels.

    Args:
      dtype: floating dtype of the result.

    Returns:
      [4, 16] array of 0./1. in ``dtype`` (a fresh copy).
    """
    dtype = _checks.float_dtype(dtype)
    protos = np.zeros((4, 4, 4), dtype=np.int8)
    protos[1] = 1
    protos[2, :, 2:] = 1
    protos[3, :, :2] = 1
    return protos.reshape(4, 16).astype(dtype)


def four_modes(
    n_rows: int = 10_000,
    *,
    flip_prob: float = 0.001,
    seed: int = 0,
    return_modes: bool = False,
    dtype=np.float32,
):
    """The 4 × 4 four-modes data set of Desjardins et al. (2010).

    Each row picks one of :func:`four_modes_prototypes` with probability 1/4
    (independently per row) and flips each of its 16 pixels independently
    with probability ``flip_prob``. The rows are thus i.i.d. draws from the
    mixture whose exact log-probabilities and entropy are
    :func:`noisy_mixture_log_prob` and :func:`four_modes_entropy` — the best
    expected log-likelihood of any model is ``-four_modes_entropy(flip_prob)``.

    The prototypes follow the first author's own generator
    (github.com/gdesjardins/deep_tempering, ``data/test_modes.py``): all black,
    all white, and two images split into left and right halves (a 4 × 4
    array with columns ``:2`` set, reshaped row-major). That generator puts
    exactly ``n_rows / 4`` rows in each mode, stacked mode after mode; here
    the modes are drawn i.i.d. and the rows come in draw order, so a batch
    of consecutive rows is already a mixture.

    Args:
      n_rows: number of rows (positive int).
      flip_prob: probability in [0, 1] that each pixel is flipped.
      seed: non-negative int for ``np.random.default_rng``.
      return_modes: also return the index of each row's prototype.
      dtype: floating dtype of the data.

    Returns:
      [n_rows, 16] array of 0./1. in ``dtype``; with ``return_modes``, the
      pair ``(data, modes)`` where ``modes`` is [n_rows] int64 in {0, 1, 2, 3}.

    References:
      G. Desjardins, A. Courville, Y. Bengio, P. Vincent, O. Delalleau, Tempered
      Markov Chain Monte Carlo for training of Restricted Boltzmann Machines,
      AISTATS 2010.
    """
    n_rows = _checks.positive_int(n_rows, "n_rows")
    p = _probability(flip_prob, "flip_prob")
    seed = _checks.nonnegative_int(seed, "seed")
    dtype = _checks.float_dtype(dtype)
    protos = four_modes_prototypes(np.float32).astype(np.int8)
    rng = np.random.default_rng(seed)
    modes = rng.integers(0, 4, size=n_rows)
    data = _noisy_copies(rng, protos[modes], p).astype(dtype)
    if return_modes:
        return data, modes.astype(np.int64)
    return data


def four_modes_entropy(flip_prob: float = 0.001) -> float:
    """Exact entropy (nats) of the distribution that generates :func:`four_modes`.

    Enumerates the 2**16 states (:func:`noisy_mixture_entropy`). It is ln 4
    at ``flip_prob`` 0 or 1, 16 ln 2 at 0.5, symmetric under ``p ↔ 1 - p``, and
    never above ``ln 4 + 16 H_b(p)`` (``H_b`` the binary entropy), which it
    approaches up to terms of order ``p**4`` for small ``p``: modes are 8 flips
    apart, so only states 4 flips from two modes are ambiguous.

    Args:
      flip_prob: probability in [0, 1] that each pixel is flipped.

    Returns:
      H in nats; the optimum expected log-likelihood is ``-H``.
    """
    p = _probability(flip_prob, "flip_prob")
    return noisy_mixture_entropy(four_modes_prototypes(np.float64), p)


# --------------------------------------------------------------------------
# Shifting bars


def shifting_bars(
    n_visible: int = 12,
    bar_length: int = 3,
    *,
    cyclic: bool = True,
    n_repeats: int = 1,
    flip_prob: float = 0.0,
    seed: int = 0,
    dtype=np.float32,
) -> np.ndarray:
    """1-D vectors holding one contiguous bar of ones, at every position.

    Position ``s`` switches on units ``s, s+1, ..., s+bar_length-1``; with
    ``cyclic`` the bar wraps around (indices mod ``n_visible``) and there are
    ``n_visible`` positions, otherwise it stays inside and there are
    ``n_visible - bar_length + 1``. The clean set is repeated ``n_repeats``
    times; then each unit is flipped independently with probability
    ``flip_prob``. Row ``i`` has its bar at position ``i % n_positions``.

    With noise the rows are draws from :func:`noisy_mixture_log_prob` with the
    clean set (``flip_prob=0``, ``n_repeats=1``) as prototypes and uniform
    weights, except that each position appears exactly ``n_repeats`` times.

    Args:
      n_visible: length of the vectors, >= 2.
      bar_length: length of the bar, 1 <= bar_length < n_visible.
      cyclic: wrap the bar around the end.
      n_repeats: number of copies of the clean set (positive int).
      flip_prob: probability in [0, 1] that each unit is flipped.
      seed: non-negative int for ``np.random.default_rng`` (used only when
        ``flip_prob > 0``).
      dtype: floating dtype of the result.

    Returns:
      [n_repeats * n_positions, n_visible] array of 0./1. in ``dtype``.
    """
    n_visible = _checks.positive_int(n_visible, "n_visible")
    if n_visible < 2:
        raise ValueError(f"n_visible must be at least 2, got {n_visible}")
    bar_length = _checks.positive_int(bar_length, "bar_length")
    if bar_length >= n_visible:
        raise ValueError(
            f"bar_length must be smaller than n_visible = {n_visible}, got {bar_length}"
        )
    n_repeats = _checks.positive_int(n_repeats, "n_repeats")
    p = _probability(flip_prob, "flip_prob")
    seed = _checks.nonnegative_int(seed, "seed")
    dtype = _checks.float_dtype(dtype)
    n_positions = n_visible if cyclic else n_visible - bar_length + 1
    starts = np.arange(n_positions)[:, None]
    offset = (np.arange(n_visible)[None, :] - starts) % n_visible  # unit i's place in the bar
    clean = (offset < bar_length).astype(np.int8)  # [n_positions, n_visible]
    rows = np.tile(clean, (n_repeats, 1))
    if p > 0:
        rows = _noisy_copies(np.random.default_rng(seed), rows, p)
    return rows.astype(dtype)


# --------------------------------------------------------------------------
# scikit-learn digits


def _shift_images(images: np.ndarray, d_row: int, d_col: int) -> np.ndarray:
    """Moves [n, H, W] images by (d_row, d_col) pixels, filling with zeros."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    dst_r = slice(max(d_row, 0), h + min(d_row, 0))
    src_r = slice(max(-d_row, 0), h + min(-d_row, 0))
    dst_c = slice(max(d_col, 0), w + min(d_col, 0))
    src_c = slice(max(-d_col, 0), w + min(-d_col, 0))
    out[:, dst_r, dst_c] = images[:, src_r, src_c]
    return out


# (d_row, d_col) in the order of the scikit-learn example's kernels:
# up, left, right, down.
_NUDGES = ((-1, 0), (0, -1), (0, 1), (1, 0))


def nudge(data, *, image_shape=(8, 8)) -> np.ndarray:
    """The data set plus copies of every image moved by one pixel, 5× the rows.

    Blocks, each ``[n_rows, n_pixels]``, in this order: the original images,
    then every image moved one pixel up, left, right and down; pixels moved
    in from outside are 0 and pixels moved out are dropped. This is the
    augmentation of scikit-learn's "Restricted Boltzmann Machine features
    for digit classification" example, which convolves each image with a
    3 × 3 kernel holding a single 1 (``mode='constant'``, zero fill), in the
    same order; here the shift is done by slicing.

    Args:
      data: [n_rows, H*W] images flattened row-major.
      image_shape: ``(H, W)``.

    Returns:
      [5 * n_rows, H*W] array of ``data``'s dtype.
    """
    arr = np.asarray(data)
    try:
        h, w = (_checks.positive_int(s, "image_shape") for s in image_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"image_shape must be a pair of positive ints (H, W), got {image_shape!r}"
        ) from None
    if arr.ndim != 2 or arr.shape[1] != h * w:
        raise ValueError(
            f"data must have shape [n_rows, H*W] = [n_rows, {h * w}] for image_shape "
            f"{(h, w)}, got shape {arr.shape}"
        )
    return _nudge(arr, h, w)


def _nudge(data: np.ndarray, h: int, w: int) -> np.ndarray:
    images = data.reshape(-1, h, w)
    blocks = [images] + [_shift_images(images, dr, dc) for dr, dc in _NUDGES]
    return np.concatenate(blocks, axis=0).reshape(-1, h * w)


def digits(
    *,
    binarize: bool = False,
    nudge: bool = False,
    threshold: float = 0.5,
    scaling: str = "minmax",
    dtype=np.float32,
):
    """scikit-learn's 8 × 8 digits (1797 images, bundled: no download) scaled to [0, 1].

    By default this reproduces the data of scikit-learn's example
    "Restricted Boltzmann Machine features for digit classification": the
    raw pixels (integers 0..16) as float32, optionally :func:`nudge`-d (5×
    the rows, labels repeated), then min-max scaled *per pixel* over the
    whole returned set, ``(x - min_j) / (max_j - min_j)``, a pixel that is
    constant becoming 0 (as ``sklearn.preprocessing.minmax_scale`` does).
    Note that per-pixel scaling is not ``X / 16``: a pixel whose largest
    value is 8 is stretched to reach 1. Matches the example up to float32
    rounding.

    Args:
      binarize: return 0./1. pixels, 1 where the scaled value is > ``threshold``.
      nudge: add the four one-pixel shifts (:func:`nudge`), before scaling.
      threshold: binarisation threshold in [0, 1).
      scaling: ``"minmax"`` (per pixel, as in the example) or ``"divide16"``
        (``X / 16``: the same grey scale for every pixel).
      dtype: floating dtype of the images.

    Returns:
      ``(X, y)``: X [n_rows, 64] in ``dtype`` with values in [0, 1], y
      [n_rows] int64 digit labels; n_rows is 1797, or 8985 with ``nudge``.
    """
    if scaling not in ("minmax", "divide16"):
        raise ValueError(f"scaling must be 'minmax' or 'divide16', got {scaling!r}")
    t = _probability(threshold, "threshold")
    if t >= 1.0:
        raise ValueError(f"threshold must lie in [0, 1) (pixels are 1 where > threshold), got {t}")
    dtype = _checks.float_dtype(dtype)
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "rbm_jax.data.digits needs scikit-learn, a development extra: "
            "pip install -e '.[dev]'"
        ) from e
    X, y = load_digits(return_X_y=True)
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.int64)
    if nudge:
        X = _nudge(X, 8, 8)  # the public nudge() is shadowed by the argument
        y = np.tile(y, 5)
    if scaling == "minmax":
        lo, hi = X.min(axis=0), X.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        X = (X - lo) / span
    else:
        X = X / 16.0
    if binarize:
        X = (X > t).astype(np.float64)
    return X.astype(dtype), y


# --------------------------------------------------------------------------
# Splits


def train_test_split(data, labels=None, *, test_fraction: float = 0.2, seed: int = 0):
    """Deterministic random split of the rows into a training and a test part.

    A permutation ``np.random.default_rng(seed).permutation(n_rows)`` is drawn;
    its first ``n_test = ceil(test_fraction * n_rows)`` rows form the test
    part, the rest the training part (both in permuted order). ``labels`` (if
    given) are split by the same permutation.

    Args:
      data: array with leading axis [n_rows, ...], n_rows >= 2.
      labels: optional array with leading axis [n_rows, ...].
      test_fraction: in (0, 1); each part must get at least one row.
      seed: non-negative int.

    Returns:
      ``(train, test)``, or ``(train, test, labels_train, labels_test)`` when
      ``labels`` is given; NumPy arrays of the inputs' dtypes.
    """
    arr = np.asarray(data)
    if arr.ndim == 0:
        raise ValueError("data must have a leading axis of rows, got a scalar")
    n_rows = arr.shape[0]
    if n_rows < 2:
        raise ValueError(f"data must have at least 2 rows to split, got shape {arr.shape}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    f = float(test_fraction)
    if not (0.0 < f < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    seed = _checks.nonnegative_int(seed, "seed")
    n_test = math.ceil(round(f * n_rows, 9))  # round: 0.7 * 10 is 7.000000000000001
    if n_test >= n_rows:
        raise ValueError(
            f"test_fraction={f} of n_rows={n_rows} leaves no training rows; "
            f"data needs more rows or test_fraction a smaller value"
        )
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim == 0 or lab.shape[0] != n_rows:
            raise ValueError(
                f"labels must have a leading axis of n_rows = {n_rows} to match data, "
                f"got shape {lab.shape}"
            )
    perm = np.random.default_rng(seed).permutation(n_rows)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    if labels is None:
        return arr[train_idx], arr[test_idx]
    return arr[train_idx], arr[test_idx], lab[train_idx], lab[test_idx]


# --------------------------------------------------------------------------
# Continuous (dequantised, standardised) digits, for Gaussian visible units


def continuous_digits(seed: int = 0, test_fraction: float = 0.2, *, return_scaling: bool = False,
                      dtype=np.float32):
    """scikit-learn's 8 × 8 digits as real-valued, standardised data for Gaussian RBMs.

    Steps (all on the host, deterministic for a given ``seed`` and NumPy version):

      1. the 1,797 raw images, integers 0..16 per pixel;
      2. dequantisation: ``x + u`` with ``u ~ U[0, 1)`` drawn independently per
         pixel from ``np.random.default_rng([seed, 1])`` (a stream of its own,
         not the split's), so each pixel's value is a continuous number in
         [0, 17) whose integer part is the raw value;
      3. the split: :func:`train_test_split` with ``test_fraction`` and ``seed``
         (the first ``ceil(test_fraction · 1797)`` rows of a permutation are
         the test part: 360 test and 1,437 training images for 0.2);
      4. pixels whose *integer* value is constant across the training rows
         are dropped (after dequantisation nothing is exactly constant; such a
         pixel would be pure U[0, 1) noise). The mask is judged on the
         training rows only; with ``seed=0`` 3 of the 64 pixels go, 61 stay;
      5. standardisation with the training rows' mean and standard deviation
         (``ddof=0``) of each kept pixel, applied to both parts.

    A density on these values is a density on the standardised scale: add
    ``-Σ log std`` (over the kept pixels) to a log-density to express it per
    unit of the raw (dequantised) pixel scale.

    Args:
      seed: non-negative int, for the noise (``default_rng([seed, 1])``) and the
        split (``train_test_split(..., seed=seed)``).
      test_fraction: in (0, 1).
      return_scaling: also return the kept pixels' training mean and std
        (float64), to map standardised values back: ``x * std + mean``.
      dtype: floating dtype of the returned data.

    Returns:
      ``(train [n_train, n_kept], test [n_test, n_kept], keep [64] bool)``, or
      with ``return_scaling`` ``(train, test, keep, mean [n_kept], std [n_kept])``.
      Image pixel ``(r, c)`` is mask entry ``r * 8 + c``; the data's columns are
      the kept pixels in that order.
    """
    seed = _checks.nonnegative_int(seed, "seed")
    dtype = _checks.float_dtype(dtype)
    if not isinstance(return_scaling, (bool, np.bool_)):
        raise TypeError(f"return_scaling must be a bool, got {return_scaling!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if not (0.0 < float(test_fraction) < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError(
            "rbm_jax.data.continuous_digits needs scikit-learn, a development extra: "
            "pip install -e '.[dev]'"
        ) from e
    raw, _ = load_digits(return_X_y=True)
    raw = np.asarray(raw, np.float64)
    noisy = raw + np.random.default_rng([seed, 1]).random(raw.shape)
    idx = np.arange(raw.shape[0])
    train_idx, test_idx = train_test_split(idx, test_fraction=test_fraction, seed=seed)
    if train_idx.shape[0] < 2:
        raise ValueError(f"test_fraction={test_fraction} leaves fewer than 2 training images")
    keep = raw[train_idx].max(axis=0) > raw[train_idx].min(axis=0)
    mean = noisy[train_idx][:, keep].mean(axis=0)
    std = noisy[train_idx][:, keep].std(axis=0)
    train = ((noisy[train_idx][:, keep] - mean) / std).astype(dtype)
    test = ((noisy[test_idx][:, keep] - mean) / std).astype(dtype)
    if return_scaling:
        return train, test, keep, mean, std
    return train, test, keep


__all__.append("continuous_digits")
