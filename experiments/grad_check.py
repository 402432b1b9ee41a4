"""Backprop by hand, verified: the notes' worked example, a sweep of random MLPs, and digits.

Prints, in float64:
  1. The notes' network (h1 = W1 x + b1, a1 = ReLU(h1), h2 = W2ᵀ a1 + b2, y = σ(h2),
     J = ½(t − y)²): every forward value and each chain-rule factor (1)–(6) beside the notes'
     numbers, their partial products, and ∂J/∂W1 = [[−1/8, −1/16], [0, 0]]; then the gradient
     check of all four parameters against jax.grad and central finite differences.
  2. A sweep of random MLPs (depth 1–4, widths 1–8, relu/sigmoid/tanh/identity, squared error
     and softmax cross-entropy, batch sizes 1 and 5), each through rbm_jax.gradcheck against
     jax.grad and finite differences, with inputs redrawn until no ReLU pre-activation is within
     1e-3 of its kink. A full report per architecture, a summary row per model.
  3. sklearn digits (scaled to [0, 1], a fixed split from the seed): the same MLP trained with
     the hand-written gradient and with jax.grad (same adam, same seed): loss-curve agreement
     and test accuracy, in float64 and float32.

Command:
    python experiments/grad_check.py [--seed 0] [--out DIR] [--quick] [--overwrite]
Expected: every error against the notes exactly 0; every gradient-check row "yes" (manual vs
jax.grad ~1e-16 absolute, vs finite differences ~1e-9); digits loss curves equal to ~1e-15
relative in float64 (~1e-4 in float32) and test accuracy about 0.97. Exit status 0, or 1 if any
check fails. Writes summary.json into the run folder (default runs/grad_check/<time>/).

The gradient functions under test are the module attributes SEED_GRADS and MLP_GRADS; the tests
replace one with a broken gradient to check that the script then fails.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
from rbm_jax import data, gradcheck, mlp

SEED_GRADS = mlp.manual_grads
MLP_GRADS = mlp.mlp_manual_grads

# (sizes, activations, loss): every activation at several depths, both losses, width 1.
ARCHITECTURES = (
    ((3, 1), ("identity",), "squared_error"),
    ((4, 3, 2), ("relu", "identity"), "squared_error"),
    ((2, 1, 1), ("sigmoid", "sigmoid"), "squared_error"),
    ((4, 5, 3), ("tanh", "identity"), "softmax_cross_entropy"),
    ((1, 1, 2), ("relu", "identity"), "softmax_cross_entropy"),
    ((5, 4, 4, 3), ("relu", "tanh", "identity"), "softmax_cross_entropy"),
    ((3, 6, 2, 5, 2), ("sigmoid", "relu", "tanh", "identity"), "softmax_cross_entropy"),
    ((6, 8, 8, 8, 4), ("relu", "relu", "relu", "sigmoid"), "squared_error"),
)
QUICK_ARCHITECTURES = (ARCHITECTURES[1], ARCHITECTURES[6])  # every activation, both losses


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    architectures: tuple = ARCHITECTURES
    models_per_architecture: int = 2  # random draws per (architecture, batch size)
    batch_sizes: tuple = (1, 5)
    kink_margin: float = 1e-3  # |ReLU pre-activation| below this is redrawn
    digits_steps: int = 300  # 0 skips the digits section
    digits_hidden: int = 32
    digits_learning_rate: float = 1e-2
    digits_float32: bool = True  # also train in float32 (reported, loosely checked)
    digits_first_steps: int = 50  # float64 curves must agree to round-off over these
    digits_first_rtol: float = 1e-10
    digits_all_rtol: float = 1e-8  # float64, whole run
    digits_float32_rtol: float = 1e-3  # float32, whole run
    digits_min_accuracy: float = 0.9

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, architectures=QUICK_ARCHITECTURES, models_per_architecture=1,
                                   batch_sizes=(1, 4), digits_steps=30, digits_float32=False,
                                   digits_first_steps=30, digits_min_accuracy=0.5)


def fmt(a) -> str:
    """Compact nested-list form, e.g. [[-0.125, -0.0625], [0, 0]] (−0 printed as 0)."""
    a = np.asarray(a, np.float64) + 0.0
    if a.ndim == 0:
        return f"{float(a):.10g}"
    return "[" + ", ".join(fmt(b) for b in a) + "]"


# --------------------------------------------------------------------------
# 1. The notes' example


def notes_example() -> dict:
    params, x, t = mlp.seed_example()
    fw = mlp.forward(params, x)
    factors = mlp.chain_factors(params, x, t)
    grads = SEED_GRADS(params, x, t)
    autodiff = jax.grad(mlp.loss)(params, x, t)
    x1, x2 = (float(v) for v in x)
    # (label, formula or source, the library's value, the notes' text, the notes' value)
    rows = [
        ("h1", "W1 x + b1", fw.h1, "[1, -0.5]", [1, -0.5]),
        ("a1", "ReLU(h1)", fw.a1, "[1, 0]", [1, 0]),
        ("h2", "W2ᵀ a1 + b2", fw.h2, "[1 1][1 0]ᵀ - 1 = 0", [0]),
        ("y", "σ(h2)", fw.y, "1/2", [0.5]),
        ("J", "½(t − y)²", mlp.loss(params, x, t), "1/8", 0.125),
        ("(1) dJ/dy", "−(t − y)", factors.dJ_dy, "-(t - y) = -1/2", [[-0.5]]),
        ("(2) dy/da2", "1", factors.dy_da2, "1", [[1]]),
        ("(3) da2/dh2", "σ(h2)(1 − σ(h2))", factors.da2_dh2, "1/4", [[0.25]]),
        ("(4) dh2/da1", "W2ᵀ  [1×2]", factors.dh2_da1, "W2ᵀ = [1 1]", [[1, 1]]),
        ("(5) da1/dh1", "diag(ReLU′(h1))  [2×2]", factors.da1_dh1, "[[1, 0], [0, 0]]",
         [[1, 0], [0, 0]]),
        ("(6) dh1/dW1", "δ_ij x_k  [2×(2×2)]", factors.dh1_dW1,
         "[[[x1, x2], [0, 0]], [[0, 0], [x1, x2]]]", [[[x1, x2], [0, 0]], [[0, 0], [x1, x2]]]),
        ("(1)(2)(3)(4)", "", factors.dJ_dy @ factors.dy_da2 @ factors.da2_dh2 @ factors.dh2_da1,
         "-1/8 [1 1]", [[-0.125, -0.125]]),
        ("(1)…(5)", "", factors.dJ_dy @ factors.dy_da2 @ factors.da2_dh2 @ factors.dh2_da1
         @ factors.da1_dh1, "[-1/8, 0]", [[-0.125, 0]]),
        ("dJ/dW1", "(1)…(6) contracted", mlp.chain_rule_dJ_dW1(factors),
         "[[-1/8, -1/16], [0, 0]]", [[-0.125, -0.0625], [0, 0]]),
        ("dJ/dW1", "manual_grads", grads.W1, "[[-1/8 x1, -1/8 x2], [0, 0]]",
         [[-0.125 * x1, -0.125 * x2], [0, 0]]),
    ]
    # The notes stop at ∂J/∂W1; the other three gradients are checked against jax.grad.
    for name in ("b1", "W2", "b2"):
        rows.append((f"dJ/d{name}", "manual_grads", getattr(grads, name), "(jax.grad)",
                     getattr(autodiff, name)))
    table_rows, errors = [], {}
    for label, formula, value, notes_text, notes_value in rows:
        diff = np.asarray(value, np.float64) - np.asarray(notes_value, np.float64)
        err = float(np.max(np.abs(diff)))
        key = label if label not in errors else f"{label} ({formula})"
        errors[key] = err
        table_rows.append((label, formula, fmt(value), notes_text, f"{err:.1e}"))
    print("1. The notes' network at W1 = [[0.75, 0.5], [-1, 1]], b1 = [0, 0], W2 = [[1], [1]], "
          "b2 = [-1], x = [1, 0.5], t = 1 (float64)")
    print(textwrap.indent(common.table(
        table_rows, ["quantity", "formula", "this library", "the notes", "|error|"]), "   "))
    report = gradcheck.compare_grads(SEED_GRADS, mlp.loss, params, x, t, fd=True)
    print("\n   All four gradients against jax.grad and central finite differences:")
    print(textwrap.indent(str(report), "   "))
    worst = max(errors.values())
    return {
        "forward": {k: np.asarray(getattr(fw, k)).tolist() for k in fw._fields},
        "factors": {k: np.asarray(v).tolist() for k, v in zip(factors._fields, factors)},
        "grads": {k: np.asarray(v).tolist() for k, v in zip(grads._fields, grads)},
        "errors_vs_notes": errors,
        "max_error_vs_notes": worst,
        "gradcheck": report.to_dict(),
        "ok": bool(worst == 0.0 and report.ok),
    }


# --------------------------------------------------------------------------
# 2. Random MLPs


def draw_model(key, rng, sizes, activations, loss, batch, margin, max_tries: int = 50):
    """Random params (from ``key``), inputs and targets (from the numpy ``rng``), with every ReLU
    pre-activation at least ``margin`` from 0: inputs are redrawn until that holds."""
    params = mlp.init_mlp(key, list(sizes), dtype=jnp.float64, bias_scale=0.5)
    for _ in range(max_tries):
        x = rng.normal(size=(batch, sizes[0]))
        fw = mlp.mlp_intermediates(params, x, activations)
        margins = [float(jnp.min(jnp.abs(z))) for z, a in zip(fw.pre, activations) if a == "relu"]
        if min(margins, default=np.inf) >= margin:
            break
    else:
        raise RuntimeError(f"no input {max_tries} draws away from the ReLU kink for {sizes}")
    if loss == "squared_error":
        t = rng.normal(size=(batch, sizes[-1]))
    else:
        t = rng.integers(0, sizes[-1], size=batch)
    return params, jnp.asarray(x), jnp.asarray(t)


def sweep(cfg: Config) -> dict:
    key = jax.random.fold_in(jax.random.key(cfg.seed), 1)
    print("\n2. Random MLPs through gradcheck: manual backward pass vs jax.grad and central "
          "finite differences (float64)")
    rows, models = [], []
    for a, (sizes, activations, loss) in enumerate(cfg.architectures):
        kw = dict(activations=activations, loss=loss)
        manual_fn = functools.partial(MLP_GRADS, **kw)
        loss_fn = functools.partial(mlp.mlp_loss, **kw)
        for b, batch in enumerate(cfg.batch_sizes):
            for rep in range(cfg.models_per_architecture):
                # Each model's numbers depend only on (seed, architecture, batch size, draw).
                model_key = jax.random.fold_in(
                    jax.random.fold_in(jax.random.fold_in(key, a), b), rep)
                rng = np.random.default_rng([cfg.seed, a, b, rep])
                params, x, t = draw_model(model_key, rng, sizes, activations, loss, batch,
                                          cfg.kink_margin)
                report = gradcheck.compare_grads(manual_fn, loss_fn, params, x, t, fd=True)
                name = (f"sizes {list(sizes)}, {'→'.join(activations)}, {loss}, batch {batch}, "
                        f"draw {rep}")
                if (b == 0 and rep == 0) or not report.ok:
                    print(f"\n   {name}")
                    print(textwrap.indent(str(report), "   "))
                grad_abs, grad_rel = report.max_errors("jax.grad")
                fd_abs, fd_rel = report.max_errors("finite diff.")
                models.append({
                    "sizes": list(sizes), "activations": list(activations), "loss": loss,
                    "batch": batch, "draw": rep, "ok": report.ok,
                    "max_abs_error_vs_jax_grad": grad_abs, "max_rel_error_vs_jax_grad": grad_rel,
                    "max_abs_error_vs_fd": fd_abs, "max_rel_error_vs_fd": fd_rel,
                    "failed_rows": [f"{r.path} vs {r.reference}" for r in report.failed],
                })
                rows.append(("→".join(map(str, sizes)), "→".join(activations),
                             "SE" if loss == "squared_error" else "CE", batch, rep,
                             grad_abs, grad_rel, fd_abs, fd_rel, "yes" if report.ok else "FAIL"))
    print("\n   Every model (SE: squared error, CE: softmax cross-entropy):")
    print(textwrap.indent(common.table(rows, [
        "sizes", "activations", "loss", "batch", "draw", "abs vs grad", "rel vs grad",
        "abs vs FD", "rel vs FD", "ok"]), "   "))
    summary = {
        "models": models,
        "n_models": len(models),
        "n_failed": sum(not m["ok"] for m in models),
        "max_abs_error_vs_jax_grad": max(m["max_abs_error_vs_jax_grad"] for m in models),
        "max_rel_error_vs_jax_grad": max(m["max_rel_error_vs_jax_grad"] for m in models),
        "max_abs_error_vs_fd": max(m["max_abs_error_vs_fd"] for m in models),
        "max_rel_error_vs_fd": max(m["max_rel_error_vs_fd"] for m in models),
    }
    summary["ok"] = summary["n_failed"] == 0
    print(f"\n   {summary['n_models']} models, {summary['n_failed']} failed; largest errors: "
          f"vs jax.grad {summary['max_abs_error_vs_jax_grad']:.1e} abs / "
          f"{summary['max_rel_error_vs_jax_grad']:.1e} rel, vs finite differences "
          f"{summary['max_abs_error_vs_fd']:.1e} abs / {summary['max_rel_error_vs_fd']:.1e} rel")
    return summary


# --------------------------------------------------------------------------
# 3. Digits


def digits_split(seed: int, test_fraction: float = 0.25):
    """sklearn's 8×8 digits as pixel / 16 in [0, 1], split deterministically by ``seed``."""
    x, y = data.digits(scaling="divide16", dtype=np.float64)
    x_tr, x_te, y_tr, y_te = data.train_test_split(x, y, test_fraction=test_fraction, seed=seed)
    return x_tr, y_tr, x_te, y_te


def digits_run(cfg: Config, dtype) -> dict:
    x_tr, y_tr, x_te, y_te = digits_split(cfg.seed)
    kw = dict(activations=("relu", "identity"), loss="softmax_cross_entropy")
    loss_fn = functools.partial(mlp.mlp_loss, **kw)
    params0 = mlp.init_mlp(jax.random.key(cfg.seed), [64, cfg.digits_hidden, 10], dtype=dtype)
    optimizer = optax.adam(cfg.digits_learning_rate)
    result = {}
    grad_fns = {"manual": functools.partial(MLP_GRADS, **kw), "autodiff": jax.grad(loss_fn)}
    for name, grad_fn in grad_fns.items():
        params, metrics = mlp.train(None, params0, jnp.asarray(x_tr, dtype), jnp.asarray(y_tr),
                                    loss_fn=loss_fn, grad_fn=grad_fn, optimizer=optimizer,
                                    n_steps=cfg.digits_steps)
        result[name] = {
            "curve": np.asarray(metrics.loss, np.float64),
            "accuracy": float(mlp.accuracy(params, jnp.asarray(x_te, dtype), y_te,
                                           activations=kw["activations"])),
        }
    manual, autodiff = result["manual"]["curve"], result["autodiff"]["curve"]
    gap = np.abs(manual - autodiff) / np.abs(autodiff)
    first = min(cfg.digits_first_steps, cfg.digits_steps)
    return {
        "n_train": len(y_tr), "n_test": len(y_te),
        "accuracy_manual": result["manual"]["accuracy"],
        "accuracy_autodiff": result["autodiff"]["accuracy"],
        "initial_loss": float(result["manual"]["curve"][0]),
        "final_loss_manual": float(result["manual"]["curve"][-1]),
        "final_loss_autodiff": float(result["autodiff"]["curve"][-1]),
        "max_rel_gap_first_steps": float(gap[:first].max()),
        "first_steps": first,
        "max_rel_gap_all_steps": float(gap.max()),
        "rel_gap_every_50": {str(s): float(gap[:s].max())
                             for s in range(50, cfg.digits_steps + 1, 50)},
        "loss_curve_manual": result["manual"]["curve"].tolist(),
    }


def digits(cfg: Config) -> dict:
    print(f"\n3. Digits, 64→{cfg.digits_hidden}→10 relu MLP, softmax cross-entropy, full-batch "
          f"adam({cfg.digits_learning_rate}), {cfg.digits_steps} steps: manual gradient vs "
          f"jax.grad")
    out = {"float64": digits_run(cfg, jnp.float64)}
    f64 = out["float64"]
    f64["ok"] = bool(f64["max_rel_gap_first_steps"] < cfg.digits_first_rtol
                     and f64["max_rel_gap_all_steps"] < cfg.digits_all_rtol
                     and min(f64["accuracy_manual"], f64["accuracy_autodiff"])
                     > cfg.digits_min_accuracy)
    if cfg.digits_float32:
        f32 = out["float32"] = digits_run(cfg, jnp.float32)
        f32["ok"] = bool(f32["max_rel_gap_all_steps"] < cfg.digits_float32_rtol
                         and f32["accuracy_manual"] > cfg.digits_min_accuracy)
    rows = [(dt, r["n_train"], r["n_test"], r["initial_loss"], r["final_loss_manual"],
             r["accuracy_manual"], r["accuracy_autodiff"], r["max_rel_gap_first_steps"],
             r["max_rel_gap_all_steps"], "yes" if r["ok"] else "FAIL")
            for dt, r in out.items()]
    print(textwrap.indent(common.table(rows, [
        "dtype", "train", "test", "loss step 0", f"loss step {cfg.digits_steps - 1}",
        "test acc manual", "test acc autodiff", f"rel gap ≤{f64['first_steps']} steps",
        "rel gap all steps", "ok"]), "   "))
    print(f"   (checks: float64 gap < {cfg.digits_first_rtol:g} over the first "
          f"{f64['first_steps']} steps and < {cfg.digits_all_rtol:g} overall, float32 < "
          f"{cfg.digits_float32_rtol:g}; test accuracy > {cfg.digits_min_accuracy})")
    out["ok"] = all(r["ok"] for r in out.values() if isinstance(r, dict))
    return out


def run(cfg: Config) -> dict:
    """Runs all sections, printing as it goes; returns the summary dict."""
    summary: dict = {"config": dataclasses.asdict(cfg)}
    summary["notes_example"] = notes_example()
    summary["sweep"] = sweep(cfg)
    if cfg.digits_steps > 0:
        summary["digits"] = digits(cfg)
    summary["all_passed"] = all(
        summary[k]["ok"] for k in ("notes_example", "sweep", "digits") if k in summary
    )
    return summary


def main(argv=None) -> int:
    # An experiment (not the library) may choose float64: this is a reference check.
    return common.experiment_main(
        argv, name="grad_check", doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg), x64=True,
        verdict=lambda s: (s["all_passed"], "\n" + ("all checks passed" if s["all_passed"] else "SOME CHECKS FAILED")))

if __name__ == "__main__":
    sys.exit(main())
