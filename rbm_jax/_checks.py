"""Input validation at the Python boundary, before anything is traced.

Every public function of the library runs its arguments through these helpers
first, so that a wrong shape, a non-binary data set or a NaN is reported with
the argument's name and what was expected, instead of surfacing as a broadcast
error deep inside XLA or as a plausible-looking number.

Shapes and dtypes are always checked: they are static, even under a caller's
``jit``. Values (NaN, inf, a unit type's legal range) are checked when the
array is concrete. All of one call's value checks run fused on the device
(``values``): one jitted reduction over every array, one transfer of a few
counts back to the host; the arrays themselves are copied to the host only to
write the error message once something is wrong.

What cannot be checked: inside a caller's own ``jit``/``vmap``/``scan`` the
arguments are tracers, so only shapes and dtypes are checked there; NaN or
out-of-range values then pass through as they would in any jitted code. Check
your inputs once outside the transformation (calling any public function on
them eagerly does it), or wrap your function with ``jax.experimental.checkify``.
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax._src import model
from rbm_jax._src.units import UNITS
from rbm_jax.sharding import to_host
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams


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


def real_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Returns ``value`` as a finite float in the given range, or raises naming ``name``.

    ``low``/``high`` bound the range (closed unless ``low_open``/``high_open``).
    Strings, bools, arrays with more than one element and NaN/inf are refused.
    """
    if low is not None and high is not None:
        rng = f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        rng = f" {'>' if low_open else '>='} {low}"
    elif high is not None:
        rng = f" {'<' if high_open else '<='} {high}"
    else:
        rng = ""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.size(value) != 1:
        raise TypeError(f"{name} must be a finite number{rng}, got {value!r}")
    try:
        x = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a finite number{rng}, got {value!r}") from None
    ok = np.isfinite(x)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x < high if high_open else x <= high
    if not ok:
        raise ValueError(f"{name} must be a finite number{rng}, got {value!r}")
    return x


def ladder(betas: Any, name: str = "betas", *, allow_zero: bool = False) -> np.ndarray | None:
    """Checks an inverse-temperature ladder 1 = β_0 > β_1 > ... > β_last > 0; returns its host values.

    One rung is a legal ladder (plain Gibbs). The last rung may be 0 only when
    ``allow_zero`` (a reference path ends at its reference distribution).
    Returns ``None`` when ``betas`` is a tracer: only its shape can be checked.
    """
    shape = np.shape(betas)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"{name} must be a 1-D ladder [n_temps], got shape {shape}")
    if not is_concrete(betas):
        return None
    b = np.asarray(betas)
    if not np.issubdtype(b.dtype, np.floating):
        b = b.astype(np.float64)
    shown = "[" + ", ".join(f"{x:.6g}" for x in b) + "]"
    lowest = "0" if allow_zero else "0 (exclusive)"
    if not np.all(np.isfinite(b)) or np.any(b > 1) or np.any(b < 0) or (not allow_zero and np.any(b == 0)):
        raise ValueError(f"{name} must hold finite inverse temperatures in "
                         f"{'[0, 1]' if allow_zero else '(0, 1]'}, got {shown}")
    if b[0] != 1:
        raise ValueError(f"{name}[0] must be 1 (rung 0 samples the model itself), got {b[0]:.6g}")
    up = np.flatnonzero(b[1:] >= b[:-1])
    if up.size:
        i = int(up[0]) + 1
        raise ValueError(f"{name} must decrease strictly from 1 down to {lowest}; got {name}[{i}] = "
                         f"{b[i]:.6g} >= {name}[{i - 1}] = {b[i - 1]:.6g} in {shown}")
    return b


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
    """Accepts a typed key (``jax.random.key``, any implementation) or a legacy raw key.

    A legacy raw key (``jax.random.PRNGKey``) is a uint32 vector that JAX reads
    with its default implementation (``jax_default_prng_impl``), so its width must
    be that implementation's: 2 for the default threefry2x32. Keys of other
    implementations are passed typed: ``jax.random.key(seed, impl=...)``.
    """
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
        impl = jax.config.jax_default_prng_impl
        width = raw_key_width(impl)
        if shape != (width,):
            raise ValueError(
                f"{name} is a raw uint32 key of width {shape[0]}, but raw (legacy jax.random.PRNGKey) keys "
                f"are read with the default implementation {impl}, whose keys have width {width}; "
                f"pass a typed key instead, e.g. jax.random.key(seed, impl=...)"
            )
        return k
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
        if isinstance(params, dict):
            # Name the params type whose fields the keys are (binary first: W, b, c is also categorical's).
            keys = sorted(map(str, params))
            match = [t for t in PARAMS_RULES if sorted(t._fields) == keys]
            suggest = match[0].__name__ if match else ", ".join(t.__name__ for t in PARAMS_RULES)
            also = "".join(f" (or {t.__name__}(**{name}))" for t in match[1:])
            raise TypeError(
                f"{name} must be an RBM params type ({suggest}), got a dict with keys {keys}; "
                f"build one with {match[0].__name__ if match else 'one of them'}(**{name}){also}")
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


def _float_leaves(params, name: str):
    leaves = [jnp.asarray(x) for x in params]
    for leaf, leaf_name in zip(leaves, params._fields):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(f"{name}.{leaf_name} must be a floating array, got dtype {leaf.dtype}")
    if len({leaf.dtype for leaf in leaves}) != 1:
        raise TypeError(f"{name} leaves must share one dtype, got "
                        + ", ".join(f"{f} {x.dtype}" for f, x in zip(params._fields, leaves)))
    return leaves


def _gaussian_rule(params: GaussianRBMParams, name: str) -> GaussianRBMParams:
    """``W`` [n_visible, n_hidden], ``b`` and ``log_sigma`` [n_visible], ``c`` [n_hidden], one dtype."""
    W, b, c, log_sigma = _float_leaves(params, name)
    if W.ndim != 2:
        raise ValueError(f"{name}.W must be [n_visible, n_hidden], got shape {W.shape}")
    n_visible, n_hidden = W.shape
    for leaf, leaf_name, want, what in ((b, "b", (n_visible,), "n_visible"), (c, "c", (n_hidden,), "n_hidden"),
                                        (log_sigma, "log_sigma", (n_visible,), "n_visible")):
        if leaf.shape != want:
            raise ValueError(f"{name}.{leaf_name} must be [{what}] = [{want[0]}] to match W {W.shape}, "
                             f"got shape {leaf.shape}")
    return GaussianRBMParams(W, b, c, log_sigma)


def _categorical_rule(params: CategoricalRBMParams, name: str) -> CategoricalRBMParams:
    """``W`` [n_visible, q, n_hidden], ``b`` [n_visible, q], ``c`` [n_hidden], one dtype, q >= 2."""
    W, b, c = _float_leaves(params, name)
    if W.ndim != 3:
        raise ValueError(f"{name}.W must be [n_visible, n_states, n_hidden] (categorical units), "
                         f"got shape {W.shape}")
    n_visible, q, n_hidden = W.shape
    if q < 2:
        raise ValueError(f"{name}.W must have n_states >= 2 states per site (axis 1), got shape {W.shape}")
    if b.shape != (n_visible, q):
        raise ValueError(f"{name}.b must be [n_visible, n_states] = [{n_visible}, {q}] to match W {W.shape}, "
                         f"got shape {b.shape}")
    if c.shape != (n_hidden,):
        raise ValueError(f"{name}.c must be [n_hidden] = [{n_hidden}] to match W {W.shape}, got shape {c.shape}")
    return CategoricalRBMParams(W, b, c)


#: The validation rule of each params type: ``rule(params, name) -> params``.
PARAMS_RULES = {RBMParams: _binary_rule, GaussianRBMParams: _gaussian_rule,
                CategoricalRBMParams: _categorical_rule}


# --------------------------------------------------------------------------
# Value rules, checked fused on the device


class Rule(NamedTuple):
    """A value rule: ``invalid(x)`` is True where an entry of ``x`` breaks it.

    ``expected`` says what is legal, for the error message; ``problem``, when
    set, names what the rule catches instead ("NaN or inf").
    """

    invalid: Callable[[Any], Any]
    expected: str
    problem: str | None = None


# Written with comparisons only, so that one rule serves jax and numpy arrays,
# and so that NaN (every comparison False) is caught.
def _not_finite(x):
    return ~((x > -np.inf) & (x < np.inf))


def _nan_or_plus_inf(x):
    return ~(x < np.inf)


FINITE = Rule(_not_finite, "finite values", "NaN or inf")
NO_NAN_OR_PLUS_INF = Rule(_nan_or_plus_inf, "values < +inf (-inf allowed)", "NaN or +inf")


def _not_a_distribution(p):
    # An entry is flagged when it is negative or not finite, or when its vector
    # (the last axis) does not sum to 1 within sqrt(eps) of the dtype: far above
    # the round-off of normalising or summing a table, far below any real
    # normalisation mistake.
    tol = float(np.sqrt(np.finfo(p.dtype).eps))
    off = abs(p.sum(axis=-1, keepdims=True) - 1) > tol
    return ~((p >= 0) & (p < np.inf)) | off


DISTRIBUTION = Rule(_not_a_distribution,
                    "probability vectors over the last axis: finite, >= 0, summing to 1 "
                    "(within sqrt(eps) of the dtype)")


def _units(units):
    return UNITS[units] if isinstance(units, str) else units


def value_rule(units) -> Rule:
    """The value rule of a unit type (its ``UNITS`` name, or a bound unit type such as
    ``model.visible_units(params)``): what a layer's input may hold."""
    u = _units(units)
    return Rule(u.invalid_value, u.values)


def state_rule(units) -> Rule:
    """The state rule of a unit type: entries must be states (enumeration, histograms)."""
    u = _units(units)
    return Rule(u.invalid_state, u.states_expected)


def _not_integer(x):
    return ~(x % 1 == 0)


INTEGER = Rule(_not_integer, "integer states", "non-integer (or NaN/inf)")


@functools.lru_cache(maxsize=None)
def _invalid_counter(rules: tuple) -> Callable:
    """One jitted reduction per tuple of rules: arrays -> [len(rules)] int32 counts of bad entries.

    A closure per rules tuple (rather than the rules as a static argument)
    keeps the call on jit's fast C++ dispatch path: about half the overhead.
    """
    @jax.jit
    def count(arrays):
        return jnp.stack([jnp.sum(rule.invalid(x), dtype=jnp.int32) for rule, x in zip(rules, arrays)])
    return count


def values(*checks: tuple[Any, str, Rule]) -> None:
    """Checks ``(array, name, rule)`` triples; raises naming the first array that breaks its rule.

    Concrete device arrays are checked together, in one jitted reduction whose
    only transfer is one count per array; host (numpy) arrays are checked on
    the host, where they already are. Tracers (a caller's ``jit``), ``None``,
    empty and boolean arrays are skipped: a tracer has no values yet, and
    booleans are legal for every rule here.
    """
    todo = [(x, name, rule) for x, name, rule in checks
            if x is not None and is_concrete(x) and np.size(x) and _dtype(x) != np.bool_]
    on_device = [i for i, (x, _, _) in enumerate(todo) if isinstance(x, jax.Array)]
    counts = [None] * len(todo)
    if on_device:
        found = _invalid_counter(tuple(todo[i][2] for i in on_device))(
            tuple(todo[i][0] for i in on_device))
        if not is_concrete(found):
            return  # called under a caller's trace: even concrete inputs give traced counts
        for i, n in zip(on_device, to_host(found)):
            counts[i] = int(n)
    for (x, name, rule), n in zip(todo, counts):
        if n is None:  # a host array: checked where it is
            n = int(np.sum(rule.invalid(np.asarray(x))))
        if n:  # the whole array to this host (a gather when it is spread over processes)
            raise ValueError(_message(to_host(x), name, rule, n))


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def _show(value) -> str:
    # The shortest repr that round-trips in the array's own dtype: 0.1, not 0.10000000149.
    if np.issubdtype(np.asarray(value).dtype, np.floating) and np.isfinite(value):
        return np.format_float_positional(value, trim="0")
    return str(value)


def _message(host: np.ndarray, name: str, rule: Rule, count: int) -> str:
    bad = np.asarray(rule.invalid(host)).reshape(host.shape)
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    if rule.problem is not None:
        return (f"{name} contains {count} {rule.problem} value(s), first {_show(host[where])} "
                f"at index {where}")
    nonfinite = _not_finite(host) if np.issubdtype(host.dtype, np.floating) else np.zeros(host.shape, bool)
    if nonfinite.any():
        first = tuple(int(i) for i in np.argwhere(nonfinite)[0])
        return (f"{name} contains {int(nonfinite.sum())} NaN/inf value(s), first at index {first}; "
                f"it must hold {rule.expected}")
    return (f"{name} must hold {rule.expected}; {count} entries do not, "
            f"first {_show(host[where])} at index {where}")


def param_values(params, name: str = "params") -> list[tuple[Any, str, Rule]]:
    """The value checks of a params pytree: every leaf finite."""
    return [(leaf, f"{name}.{field}", FINITE) for field, leaf in zip(params._fields, params)]


def finite_params(params, name: str = "params") -> None:
    """Raises if a concrete parameter array holds NaN or inf (one fused device check)."""
    values(*param_values(params, name))


def model_values(params, *, visible=(), hidden=(), name: str = "params") -> None:
    """One fused check of params (finite) and of each layer's configurations (its unit type's rule).

    Args:
      params: validated params (``rbm_params``).
      visible, hidden: ``(array, name)`` pairs of configurations of each layer.
    """
    v_rule = value_rule(model.visible_units(params))
    h_rule = value_rule(model.hidden_units(params))
    values(*param_values(params, name),
           *((x, n, v_rule) for x, n in visible),
           *((x, n, h_rule) for x, n in hidden))


def configuration(x: Any, width: int, name: str, dtype: Any, *, layer: str) -> jax.Array:
    """Converts a batch of layer configurations ``[..., width]`` to ``dtype``.

    An integer ``dtype`` (categorical states) refuses floating input that is
    not integer-valued before the cast, which would otherwise truncate it.
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{name} must have shape [..., {layer}] = [..., {width}], got a scalar")
    if x.shape[-1] != width:
        raise ValueError(
            f"{name} must have shape [..., {layer}] = [..., {width}], got shape {x.shape}"
        )
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    _refuse_lossy_cast(x, name, dtype)
    return x.astype(dtype)


def _refuse_lossy_cast(x, name: str, dtype) -> None:
    if jnp.issubdtype(dtype, jnp.integer) and jnp.issubdtype(x.dtype, jnp.inexact):
        values((x, name, INTEGER))


def visible_data(params, x: Any, name: str, *, check_values: bool = True) -> jax.Array:
    """A data set ``[n_rows, n_visible]`` for ``params``' visible units, in their state dtype
    (the params' float dtype; int32 for categorical units), checked by their value rule."""
    return data_matrix(x, params.n_visible, name, model.state_dtype(params),
                       units=model.visible_units(params), check_values=check_values)


def visible_configuration(params, x: Any, name: str) -> jax.Array:
    """Visible configurations ``[..., n_visible]`` for ``params``, in their state dtype (shape only)."""
    return configuration(x, params.n_visible, name, model.state_dtype(params), layer="n_visible")


def broadcastable(a: jax.Array, b: jax.Array, name_a: str, name_b: str) -> None:
    """Raises if the leading (batch) axes of ``a`` and ``b`` do not broadcast."""
    try:
        np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    except ValueError:
        raise ValueError(
            f"the batch axes of {name_a} {a.shape[:-1]} and {name_b} {b.shape[:-1]} "
            f"(all but the last) do not broadcast against each other"
        ) from None


def data_matrix(x: Any, width: int, name: str, dtype: Any, *, binary: bool = False,
                units="bernoulli", check_values: bool = True) -> jax.Array:
    """Checks a data set of rows ``[n_rows, width]`` of one unit type's values.

    Shape is always checked. When ``x`` is concrete, its values must also obey
    the unit type's value rule (Bernoulli: finite, in [0, 1]), or its state
    rule when ``binary`` (exactly 0 or 1). ``check_values=False`` leaves the
    values to the caller's own fused check (``model_values``).
    """
    arr = jnp.asarray(x)
    if arr.ndim != 2 or arr.shape[-1] != width:
        raise ValueError(
            f"{name} must be a matrix [n_rows, n_visible] = [n_rows, {width}], got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    if check_values:
        unit_values(arr, name, binary=binary, units=units)
    else:
        _refuse_lossy_cast(arr, name, dtype)
    return arr.astype(dtype)


def unit_values(x: Any, name: str, *, binary: bool = False, units="bernoulli") -> None:
    """When concrete: raises if ``x`` breaks the unit type's value rule (its state rule when ``binary``)."""
    values((x, name, state_rule(units) if binary else value_rule(units)))


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
    values((x, name, NO_NAN_OR_PLUS_INF if allow_neg_inf else FINITE))


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


# --------------------------------------------------------------------------
# PRNG keys (``key`` above)


_RAW_KEY_WIDTHS: dict[str, int] = {}


def raw_key_width(impl: str) -> int:
    """Width of a raw uint32 key of the PRNG implementation named ``impl`` (e.g. 2 for threefry2x32)."""
    if impl not in _RAW_KEY_WIDTHS:  # shapes only: nothing runs on a device
        data = jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0, impl=impl)))
        _RAW_KEY_WIDTHS[impl] = data.shape[-1]
    return _RAW_KEY_WIDTHS[impl]
