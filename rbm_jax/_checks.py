"""Input validation at the Python boundary, before anything is traced.

Every public function of the library runs its arguments through these helpers
first, so that a wrong shape, a non-binary data set or a NaN is reported with
the argument's name and what was expected, instead of surfacing as a broadcast
error deep inside XLA or as a silent NaN.

Shapes are always checked (they are static, even under a caller's ``jit``);
values (NaN, range, binariness) only when the array is concrete, i.e. not a
tracer inside a caller's ``jit``/``vmap``/``scan``.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax.types import RBMParams


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a tracer under a transformation)."""
    return not isinstance(x, jax.core.Tracer)


def positive_int(value: Any, name: str) -> int:
    """Returns ``value`` as an int, or raises if it is not a positive integer."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive integer, got the bool {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a positive integer, got {value!r} of type {type(value).__name__}"
        ) from None
    if n <= 0:
        raise ValueError(f"{name} must be a positive integer, got {n}")
    return n


def nonnegative_int(value: Any, name: str) -> int:
    """Returns ``value`` as an int, or raises if it is not an integer >= 0."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a non-negative integer, got the bool {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a non-negative integer, got {value!r} of type {type(value).__name__}"
        ) from None
    if n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n}")
    return n


def float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """Returns ``dtype`` as a numpy dtype, or raises if it is not floating."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be a floating dtype, got {dtype!r}") from None
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"{name} must be a floating dtype such as jnp.float32, got {dt}")
    return dt


def key(k: Any, name: str = "key") -> Any:
    """Accepts a typed key (``jax.random.key``) or a legacy ``PRNGKey``."""
    if k is None:
        raise TypeError(f"{name} must be a JAX PRNG key (jax.random.key(seed)), got None")
    if isinstance(k, (int, np.integer)):
        raise TypeError(
            f"{name} must be a JAX PRNG key, got the integer {k!r}; "
            f"use jax.random.key({k!r})"
        )
    dt = getattr(k, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jax.dtypes.prng_key):
        if k.shape != ():
            raise ValueError(f"{name} must be a single key, got a key array of shape {k.shape}")
        return k
    shape = getattr(k, "shape", None)
    if dt is not None and dt == jnp.uint32 and shape is not None and len(shape) == 1:
        return k  # legacy raw key (threefry: [2]; other impls have other widths)
    raise TypeError(
        f"{name} must be a JAX PRNG key (jax.random.key or jax.random.PRNGKey), "
        f"got {type(k).__name__} with dtype {dt} and shape {shape}"
    )


def rbm_params(params: Any, name: str = "params"):
    """Checks RBM parameters by their params type's rule; returns them with array leaves.

    A plain triple ``(W, b, c)`` is taken as binary ``RBMParams``. Each params
    type has one rule in ``PARAMS_RULES`` (shapes, dtypes), so a new family adds
    one entry there.
    """
    if type(params) not in PARAMS_RULES:
        if isinstance(params, tuple) and hasattr(params, "_fields"):
            raise TypeError(f"{name} must be an RBM params type ({', '.join(t.__name__ for t in PARAMS_RULES)}), "
                            f"got {type(params).__name__}")
        try:
            W, b, c = params
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be RBMParams(W, b, c), got {type(params).__name__}"
            ) from None
        params = RBMParams(W, b, c)
    return PARAMS_RULES[type(params)](params, name)


def _binary_rule(params: RBMParams, name: str) -> RBMParams:
    """``W`` [n_visible, n_hidden], ``b`` [n_visible], ``c`` [n_hidden], one floating dtype."""
    W, b, c = (jnp.asarray(x) for x in params)
    for leaf, leaf_name in ((W, "W"), (b, "b"), (c, "c")):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"{name}.{leaf_name} must be a floating array, got dtype {leaf.dtype}"
            )
    if W.ndim != 2:
        raise ValueError(f"{name}.W must be [n_visible, n_hidden], got shape {W.shape}")
    n_visible, n_hidden = W.shape
    if b.shape != (n_visible,):
        raise ValueError(
            f"{name}.b must be [n_visible] = [{n_visible}] to match W {W.shape}, got shape {b.shape}"
        )
    if c.shape != (n_hidden,):
        raise ValueError(
            f"{name}.c must be [n_hidden] = [{n_hidden}] to match W {W.shape}, got shape {c.shape}"
        )
    if not (W.dtype == b.dtype == c.dtype):
        raise TypeError(
            f"{name} leaves must share one dtype, got W {W.dtype}, b {b.dtype}, c {c.dtype}"
        )
    return RBMParams(W, b, c)


#: The validation rule of each params type: ``rule(params, name) -> params``.
PARAMS_RULES = {RBMParams: _binary_rule}


def finite_params(params, name: str = "params") -> None:
    """Raises if a concrete parameter array holds NaN or inf."""
    for leaf_name, leaf in zip(params._fields, params):
        if is_concrete(leaf) and not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(f"{name}.{leaf_name} contains NaN or inf")


def configuration(x: Any, width: int, name: str, dtype: Any, *, layer: str) -> jax.Array:
    """Converts a batch of layer configurations ``[..., width]`` to ``dtype``."""
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape [..., {layer}] = [..., {width}], got a scalar")
    if x.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape [..., {layer}] = [..., {width}], got shape {x.shape}"
        )
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    return x.astype(dtype)


def broadcastable(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> None:
    """Raises if the leading (batch) axes of ``a`` and ``b`` do not broadcast."""
    try:
        np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ValueError(
            f"the batch axes of {name_a} {a.shape[:-1]} and {name_b} {b.shape[:-1]} "
            f"(all but the last) do not broadcast against each other"
        ) from None


def data_matrix(x: Any, width: int, name: str, dtype: Any, *, binary: bool = False) -> jax.Array:
    """Checks a data set of rows ``[n_rows, width]`` with values in [0, 1].

    Shape is always checked. When ``x`` is concrete, its values must also be
    finite and in [0, 1] (or exactly 0/1 when ``binary``).
    """
    arr = jnp.asarray(x)
    if arr.ndim != 2 or arr.shape[-1] != width:
        raise ValueError(
            f"{name} must be a matrix [n_rows, n_visible] = [n_rows, {width}], got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    unit_values(arr, name, binary=binary)
    return arr.astype(dtype)


def unit_values(x: jax.Array, name: str, *, binary: bool = False) -> None:
    """When concrete: raises on NaN/inf, values outside [0, 1], or non-binary values."""
    if not is_concrete(x):
        return
    host = np.asarray(x)
    if host.dtype == np.bool_:
        return
    if np.issubdtype(host.dtype, np.floating):
        bad = ~np.isfinite(host)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN/inf value(s), first at index {where}"
            )
    if binary:
        bad = (host != 0) & (host != 1)
        what = "binary values 0 or 1"
    else:
        bad = (host < 0) | (host > 1)
        what = "values in [0, 1]"
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must hold {what}; {int(bad.sum())} entries do not, "
            f"first {host[where]!r} at index {where}"
        )


# --------------------------------------------------------------------------
# Numeric arrays and traces (rbm_jax.diagnostics, rbm_jax.montecarlo)

#: Fewest draws per chain accepted by the split-chain statistics (ESS, τ, R-hat):
#: each half-chain then has at least 2 draws, enough for a sample variance.
MIN_DRAWS = 4


def float_array(x: Any, name: str) -> jax.Array:
    """``x`` as a floating array: bool/int become the default float, floats keep theirs.

    Host (numpy) input is converted on the host, so no device op is dispatched here.
    """
    if not isinstance(x, jax.Array):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from None
    dtype = x.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        if not (dtype == np.bool_ or jnp.issubdtype(dtype, jnp.integer)):
            raise TypeError(f"{name} must be real-valued (float, int or bool), got dtype {dtype}")
        x = x.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    elif np.dtype(dtype).itemsize < 4:
        x = x.astype(np.float32)  # half precision: computed in float32 (XLA's FFT needs it)
    return jnp.asarray(x)


def check_finite(x: jax.Array, name: str, *, allow_neg_inf: bool = False) -> None:
    """When concrete: raises on NaN or inf (``-inf`` allowed when asked), naming ``x``."""
    if not is_concrete(x):
        return
    host = np.asarray(x)
    bad = np.isnan(host) | (host == np.inf)
    if not allow_neg_inf:
        bad |= host == -np.inf
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN or +inf" if allow_neg_inf else "NaN or inf"
        raise ValueError(
            f"{name} contains {int(bad.sum())} {what} value(s), first {float(host[where])} "
            f"at index {where}"
        )


def axis_index(value: Any, ndim: int, name: str) -> int:
    """``value`` as an axis in ``[0, ndim)`` (negative counts from the end), or raises."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer axis, got the bool {value!r}")
    try:
        axis = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer axis, got {value!r}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} axes")
    return axis % ndim


def draws_chains(
    x: Any, draw_axis: Any, chain_axis: Any, *, name: str = "x", min_draws: int = MIN_DRAWS
) -> tuple[jax.Array, tuple[int, int | None]]:
    """Checks ``x``; returns it with its normalised ``(draw_axis, chain_axis)``.

    The jitted cores move the axes to the canonical ``[n_draws, n_chains, *event]``
    themselves (``rbm_jax._src.mcmc_stats.canonical``), so nothing is dispatched
    eagerly here.
    """
    arr = float_array(x, name)
    if chain_axis is None:
        if arr.ndim < 1:
            raise ValueError(f"{name} must be [n_draws, *event] (chain_axis=None), got a scalar")
        d = axis_index(draw_axis, arr.ndim, "draw_axis")
        c = None
        n_draws, n_chains = arr.shape[d], 1
    else:
        if arr.ndim < 2:
            raise ValueError(
                f"{name} must be [n_draws, n_chains, *event] (time-major, as a Gibbs trace), "
                f"got shape {arr.shape}; pass chain_axis=None for a single chain"
            )
        d = axis_index(draw_axis, arr.ndim, "draw_axis")
        c = axis_index(chain_axis, arr.ndim, "chain_axis")
        if d == c:
            raise ValueError(f"draw_axis and chain_axis must differ, both are axis {d}")
        n_draws, n_chains = arr.shape[d], arr.shape[c]
    if n_chains < 1:
        raise ValueError(f"{name} has no chains (chain axis of length 0), shape {arr.shape}")
    if n_draws < min_draws:
        raise ValueError(
            f"{name} has {n_draws} draw(s) along draw_axis (axis {d} of shape {arr.shape}); "
            f"split-chain diagnostics need at least {min_draws} draws "
            f"(each half-chain needs >= 2)"
        )
    check_finite(arr, name)
    return arr, (d, c)
