"""Check a hand-written gradient against ``jax.grad`` and central finite differences, leaf by leaf.

``compare_grads(manual_fn, loss_fn, params, *args)`` evaluates ``manual_fn(params, *args)`` and
``jax.grad(loss_fn)(params, *args)`` (and, with ``fd=True``, central finite differences of
``loss_fn``) and returns a ``GradReport``: one ``LeafCheck`` row per parameter leaf and reference,
naming the leaf by its pytree path (``W1``, ``[0].W``), with the largest absolute and relative
errors, the index of the entry furthest outside tolerance, and pass/fail. ``str(report)`` is a
readable table; ``report.ok`` is True when every row passed.

Contract:
  * An entry passes when |manual − reference| <= atol + rtol·|reference| (numpy's ``allclose``
    rule); NaN or inf in either fails. The relative error reported is the largest
    |manual − reference| / max(|manual|, |reference|) over the entries where that max exceeds atol
    (smaller entries are judged by atol alone), so it lies in [0, 2].
  * Default tolerances follow the params' dtype (the least precise leaf): against ``jax.grad``
    rtol 1e-9, atol 1e-12 in float64 and rtol 1e-4, atol 1e-6 in float32; against finite
    differences rtol 1e-6, atol 1e-8 in float64 and rtol 1e-2, atol 1e-3 in float32.
  * Finite differences perturb one parameter entry at a time by ±eps·max(1, |θ_i|) (eps default
    ∛(machine ε), the step that balances truncation and round-off), so they cost two loss
    evaluations per entry: use them on small models. Near a kink (ReLU at 0) they are meaningless.
  * Keyword arguments of the functions are not forwarded; bind them with ``functools.partial``.
  * Host-side tool: it returns Python floats and never runs inside ``jit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "LeafCheck",
    "GradReport",
    "compare_grads",
    "finite_difference_grad",
    "default_tolerances",
]

_FD_CHUNK = 256  # finite-difference evaluations vmapped at once (bounds memory)


class LeafCheck(NamedTuple):
    """One leaf compared against one reference."""

    path: str  # pytree path of the leaf, e.g. "W1" or "[0].W"
    shape: tuple  # the leaf's shape
    reference: str  # "jax.grad" or "finite diff."
    max_abs_error: float  # max |manual − reference|
    max_rel_error: float  # max |manual − reference| / max(|manual|, |reference|), entries > atol
    worst_index: tuple  # index of the entry furthest outside tolerance (the largest error ratio)
    passed: bool  # every entry within atol + rtol·|reference|, none NaN
    rtol: float
    atol: float


@dataclasses.dataclass(frozen=True)
class GradReport:
    """The result of ``compare_grads``: one row per (leaf, reference)."""

    rows: tuple  # of LeafCheck

    @property
    def ok(self) -> bool:
        """True when every leaf passed against every reference."""
        return all(r.passed for r in self.rows)

    @property
    def failed(self) -> tuple:
        """The rows that failed."""
        return tuple(r for r in self.rows if not r.passed)

    def max_errors(self, reference: str = "jax.grad") -> tuple[float, float]:
        """(max abs error, max rel error) over all leaves against ``reference``."""
        rows = [r for r in self.rows if r.reference == reference]
        if not rows:
            names = sorted({r.reference for r in self.rows})
            raise ValueError(f"reference must be one of {names}, got {reference!r}")
        return max(r.max_abs_error for r in rows), max(r.max_rel_error for r in rows)

    def to_dict(self) -> dict:
        """A JSON-friendly summary."""
        return {
            "ok": self.ok,
            "rows": [
                {**r._asdict(), "shape": list(r.shape), "worst_index": list(r.worst_index)}
                for r in self.rows
            ],
        }

    def __str__(self) -> str:
        header = ("leaf", "shape", "vs", "max abs err", "max rel err", "worst at", "rtol", "atol",
                  "ok")
        cells = [header] + [
            (
                r.path,
                "x".join(map(str, r.shape)) or "scalar",
                r.reference,
                f"{r.max_abs_error:.3e}",
                f"{r.max_rel_error:.3e}",
                str(list(r.worst_index)),
                f"{r.rtol:.0e}",
                f"{r.atol:.0e}",
                "yes" if r.passed else "FAIL",
            )
            for r in self.rows
        ]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        # Names left-aligned, numbers right-aligned.
        lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(row, widths)))
                 for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "all passed" if self.ok else f"{len(self.failed)} of {len(self.rows)} rows FAILED"
        return "\n".join(lines + [verdict])


def default_tolerances(dtype) -> dict:
    """The default tolerances for params of ``dtype`` (see the module docstring)."""
    if np.finfo(dtype).bits >= 64:
        return {"rtol": 1e-9, "atol": 1e-12, "fd_rtol": 1e-6, "fd_atol": 1e-8}
    return {"rtol": 1e-4, "atol": 1e-6, "fd_rtol": 1e-2, "fd_atol": 1e-3}


def _path_name(path) -> str:
    return jax.tree_util.keystr(path).lstrip(".") or "<root>"


def finite_difference_grad(loss_fn: Callable, params, *args, eps: float | None = None) -> Any:
    """Central finite differences of ``loss_fn(params, *args)`` for every entry of ``params``.

    ∂L/∂θ_i ≈ (L(θ + h_i e_i) − L(θ − h_i e_i)) / (2 h_i), h_i = eps·max(1, |θ_i|).

    Args:
      loss_fn: ``loss_fn(params, *args) -> []``.
      params: a pytree of floating arrays.
      *args: passed through to ``loss_fn``.
      eps: relative step; default ∛(machine ε) of the params' dtype.

    Returns:
      A pytree shaped like ``params``.
    """
    flat, unravel = ravel_pytree(params)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"params must hold floating arrays, got dtype {flat.dtype}")
    if eps is None:
        eps = float(np.finfo(flat.dtype).eps) ** (1 / 3)
    if not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    steps = eps * jnp.maximum(1.0, jnp.abs(flat))
    # Round the step so that θ ± h is exact in floating point: then the denominator is the true 2h.
    steps = (flat + steps) - flat

    def shifted(i, sign):
        return loss_fn(unravel(flat.at[i].add(sign * steps[i])), *args)

    batched = jax.jit(jax.vmap(lambda i: shifted(i, 1.0) - shifted(i, -1.0)))
    n = flat.shape[0]
    diffs = jnp.concatenate(
        [batched(jnp.arange(s, min(s + _FD_CHUNK, n))) for s in range(0, n, _FD_CHUNK)]
    )
    return unravel(diffs / (2 * steps))


def _compare_leaf(path, manual, reference, ref_name, rtol, atol) -> LeafCheck:
    m = np.asarray(manual, np.float64)
    r = np.asarray(reference, np.float64)
    shape = tuple(m.shape)
    abs_err = np.abs(m - r)
    scale = np.maximum(np.abs(m), np.abs(r))
    with np.errstate(invalid="ignore", divide="ignore"):
        # Entries no larger than atol are judged by atol alone: an exact 0 (a dead ReLU unit)
        # beside finite-difference noise of 1e-12 is not a 100% relative error.
        rel_err = np.where(scale > atol, abs_err / np.where(scale > 0, scale, 1.0), 0.0)
        ratio = np.where(abs_err == 0, 0.0, abs_err / (atol + rtol * np.abs(r)))
    bad = ~(np.isfinite(m) & np.isfinite(r))
    ratio = np.where(bad, np.inf, ratio)
    if m.size == 0:
        return LeafCheck(path, shape, ref_name, 0.0, 0.0, (), True, rtol, atol)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), shape))
    passed = bool(not bad.any() and np.all(abs_err <= atol + rtol * np.abs(r)))
    max_abs = float(np.nan if bad.any() else abs_err.max())
    max_rel = float(np.nan if bad.any() else rel_err.max())
    return LeafCheck(path, shape, ref_name, max_abs, max_rel, worst, passed, float(rtol),
                     float(atol))


def compare_grads(
    manual_fn: Callable,
    loss_fn: Callable,
    params,
    *args,
    fd: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
    fd_eps: float | None = None,
    fd_rtol: float | None = None,
    fd_atol: float | None = None,
) -> GradReport:
    """Compares ``manual_fn(params, *args)`` with ``jax.grad(loss_fn)`` (and finite differences).

    Args:
      manual_fn: ``manual_fn(params, *args) -> grads``, a pytree with the structure of ``params``.
      loss_fn: ``loss_fn(params, *args) -> []`` whose gradient ``manual_fn`` claims to compute.
      params: a pytree of floating arrays (the point of comparison).
      *args: further positional arguments of both functions (inputs, targets).
      fd: also compare against central finite differences of ``loss_fn``.
      rtol, atol: tolerances against ``jax.grad`` (default: by dtype, see ``default_tolerances``).
      fd_eps: relative finite-difference step (default ∛(machine ε)).
      fd_rtol, fd_atol: tolerances against finite differences (default: by dtype).

    Returns:
      ``GradReport`` with one ``LeafCheck`` per leaf against ``jax.grad`` and, with ``fd``, one
      more per leaf against finite differences.

    Raises:
      TypeError: if a function is not callable or params hold no floating leaves.
      ValueError: if ``manual_fn``'s result does not have the structure and shapes of ``params``.
    """
    for name, fn in (("manual_fn", manual_fn), ("loss_fn", loss_fn)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {fn!r}")
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not leaves_with_path:
        raise ValueError("params must hold at least one array leaf")
    leaves = [jnp.asarray(leaf) for _, leaf in leaves_with_path]
    for (path, _), leaf in zip(leaves_with_path, leaves):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"params leaf {_path_name(path)} must be floating, got dtype {leaf.dtype}"
            )
    params = jax.tree.unflatten(treedef, leaves)
    dtype = min((np.dtype(leaf.dtype) for leaf in leaves), key=lambda d: np.finfo(d).bits)
    tol = default_tolerances(dtype)
    rtol = tol["rtol"] if rtol is None else float(rtol)
    atol = tol["atol"] if atol is None else float(atol)
    fd_rtol = tol["fd_rtol"] if fd_rtol is None else float(fd_rtol)
    fd_atol = tol["fd_atol"] if fd_atol is None else float(fd_atol)
    for name, value in (("rtol", rtol), ("atol", atol), ("fd_rtol", fd_rtol), ("fd_atol", fd_atol)):
        if not (value >= 0 and np.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    manual = manual_fn(params, *args)
    manual_leaves, manual_def = jax.tree.flatten(manual)
    if manual_def != treedef:
        raise ValueError(
            f"manual_fn must return gradients with the structure of params;\n"
            f"  params: {treedef}\n  manual: {manual_def}"
        )
    for (path, _), leaf, g in zip(leaves_with_path, leaves, manual_leaves):
        if np.shape(g) != leaf.shape:
            raise ValueError(
                f"manual_fn's gradient for {_path_name(path)} has shape {np.shape(g)}, "
                f"the parameter has shape {leaf.shape}"
            )

    references = [("jax.grad", jax.grad(loss_fn)(params, *args), rtol, atol)]
    if fd:
        references.append(
            ("finite diff.", finite_difference_grad(loss_fn, params, *args, eps=fd_eps),
             fd_rtol, fd_atol)
        )
    rows = []
    for i, ((path, _), g) in enumerate(zip(leaves_with_path, manual_leaves)):
        for ref_name, ref, r_tol, a_tol in references:
            rows.append(_compare_leaf(_path_name(path), g, jax.tree.leaves(ref)[i], ref_name,
                                      r_tol, a_tol))
    return GradReport(tuple(rows))
