"""The demo, ending in a report: the notes checked, bars-and-stripes trained three ways, AIS and backprop checked.

One self-contained HTML page (every figure embedded as a base64 PNG; open it in any browser) with:
  1. the lecture notes' RBM checks by enumeration (experiments/notes_walkthrough.py, float64):
     log Z, P(v|h) by the notes' formula, one unit's normalisation, the Gibbs operator T(v'|v);
  2. bars-and-stripes 4×4 (30 patterns, optimum −ln 30) trained with CD-1, PCD-1 and parallel
     tempering, several seeds at once per method (rbm_jax.train.fit_many), with the exact
     log-likelihood curves (median and range over seeds) and the final values per seed;
  3. the filters and block-Gibbs samples of the best final model;
  4. AIS estimates of log Z against the exact value, one trained model per method;
  5. the notes' backprop example: the hand-written gradient against jax.grad and the notes'
     numbers, gradcheck's table, and a planted mistake that gradcheck catches;
  6. a timing table (wall time per part, compilation included, on this machine).

Command (what `make demo` runs):
    python experiments/demo_report.py [--seed 0] [--out DIR] [--quick]
Writes report.html, summary.json (every number of the report, with what it was computed on) and
params_<method>.npz (the trained models, one row per seed) into the run folder (default
runs/demo/<time>/), then prints the report's path and a five-line summary. Expected: the notes'
errors at float64 round-off; PT closest to the optimum, CD-1 below it, PCD-1 oscillating at this
learning rate; AIS within about 2 standard errors of the exact log Z; the gradient equal to
jax.grad. --quick is a smoke test of the code (seconds): its training figures mean nothing.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
import io
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
import notes_walkthrough
from rbm_jax import ais, checkpoint, data, exact, gibbs, gradcheck, mlp, rbm, train

NAME = "demo"
LABELS = {"cd": "CD-1", "pcd": "PCD-1", "pt": "PT"}


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_seeds: int = 4  # models per method, trained at once by fit_many
    methods: tuple = ("cd", "pcd", "pt")
    n_hidden: int = 16
    weight_scale: float = 0.1
    n_epochs: int = 8000
    batch_size: int = 10
    learning_rate: float = 0.02  # plain SGD
    pt_rungs: int = 10  # geometric ladder from β = 1 to pt_beta_min
    pt_beta_min: float = 0.1
    curve_points: int = 40  # exact-likelihood evaluations per run
    ais_runs: int = 100
    ais_betas: int = 1000
    sample_chains: int = 8
    sample_sweeps: int = 1000
    quick_notes: bool = False  # the notes walkthrough at its --quick size

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, n_seeds=2, n_epochs=60, curve_points=3, pt_rungs=4, ais_runs=20,
                                   ais_betas=100, sample_chains=4, sample_sweeps=20, quick_notes=True)

    @property
    def is_quick(self) -> bool:
        return self == Config(seed=self.seed).quick()


def png(fig) -> str:
    """A matplotlib figure as an <img> tag with its PNG embedded (base64)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def num(key: str, value: float, fmt: str = ".4f") -> str:
    """A number in the report, tagged with its summary key (the test reads it back)."""
    return f'<span data-key="{html.escape(key)}">{value:{fmt}}</span>'


def notes_checks(cfg: Config) -> dict:
    """The notes walkthrough (float64), its printout captured for the report."""
    walk = notes_walkthrough.Config(seed=cfg.seed)
    if cfg.quick_notes:
        walk = walk.quick()
    buf = io.StringIO()
    with jax.enable_x64(True), contextlib.redirect_stdout(buf):
        s = notes_walkthrough.run(walk)
    keys = ("log_z_error", "p_v_given_h_max_error", "unit_conditional_max_error", "row_sum_error",
            "stationarity_error", "detailed_balance_error")
    return {"errors": {k: s[k] for k in keys}, "worst_error": max(s[k] for k in keys), "lambda2": s["lambda2"],
            "model": f"random RBM {walk.n_visible}×{walk.n_hidden}, N(0, {walk.scale}²) weights, seed {walk.seed}",
            "text": buf.getvalue()}


def train_all(cfg: Config, X) -> tuple[dict, dict]:
    """fit_many per method: (summary per method, {method: (params [n_seeds], epochs, ll [n_seeds, k])})."""
    keys = jnp.stack([jax.random.key(cfg.seed * 1000 + s) for s in range(cfg.n_seeds)])
    p0 = jax.vmap(lambda k: rbm.init_params(k, X.shape[1], cfg.n_hidden, data=X, weight_scale=cfg.weight_scale))(keys)
    betas = tuple(float(b) for b in gibbs.geometric_ladder(cfg.pt_rungs, cfg.pt_beta_min))
    every = max(1, cfg.n_epochs // cfg.curve_points)
    out, curves = {}, {}
    for i, method in enumerate(cfg.methods):
        t = time.perf_counter()
        params, hist = train.fit_many(
            jax.vmap(lambda k: jax.random.fold_in(k, i + 1))(keys), p0, X, method=method, n_epochs=cfg.n_epochs,
            batch_size=cfg.batch_size, optimizer=optax.sgd(cfg.learning_rate), metrics_every=every,
            exact_likelihood=True, betas=betas if method == "pt" else None)
        ll = np.asarray(hist["log_likelihood"], float)  # [n_seeds, n_epochs], NaN between evaluations
        ok = ~np.isnan(ll[0])
        seconds = time.perf_counter() - t
        final = np.array([float(exact.log_likelihood(jax.tree.map(lambda a: a[s], params), X))
                          for s in range(cfg.n_seeds)])  # recomputed from the returned models
        curves[method] = (params, np.asarray(hist["epoch"][0])[ok], ll[:, ok])
        out[method] = {"label": LABELS[method], "final_ll_per_seed": final.tolist(),
                       "final_ll_mean": float(final.mean()), "final_ll_min": float(final.min()),
                       "final_ll_max": float(final.max()), "best_ll_mean": float(np.nanmax(ll, 1).mean()),
                       "seconds": seconds}
    return out, curves


def curves_figure(cfg: Config, curves: dict, optimum: float, quick: bool) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (method, (_, epochs, ll)) in enumerate(curves.items()):
        style = {"marker": "o", "ms": 3} if len(epochs) < 5 else {}
        ax.plot(epochs, np.median(ll, 0), color=f"C{i}", label=f"{LABELS[method]} (median of {ll.shape[0]})", **style)
        ax.fill_between(epochs, ll.min(0), ll.max(0), color=f"C{i}", alpha=0.2)
    ax.axhline(optimum, color="k", ls="--", lw=0.8, label=f"optimum −ln 30 = {optimum:.3f}")
    ax.set_xlabel("epoch (3 updates each)")
    ax.set_ylabel("exact average log-likelihood (30 rows)")
    ax.set_title(f"bars-and-stripes 4×4, {cfg.n_hidden} hidden, SGD {cfg.learning_rate}: median and range over seeds"
                 + (f"\n{common.SMOKE}" if quick else ""), fontsize=9)
    ax.legend(fontsize=8)
    return png(fig)


def pictures(cfg: Config, params, quick: bool) -> tuple[str, str]:
    """(filters, samples) of one model, as embedded figures."""
    import matplotlib.pyplot as plt

    W = np.asarray(params.W).T  # [n_hidden, 16]
    cols = 8
    fig, axes = plt.subplots(int(np.ceil(len(W) / cols)), cols, figsize=(cols * 0.9, np.ceil(len(W) / cols) * 0.95))
    lim = float(np.abs(W).max())
    for ax, w in zip(np.ravel(axes), W):
        ax.imshow(w.reshape(4, 4), cmap="RdBu_r", vmin=-lim, vmax=lim)
    for ax in np.ravel(axes):
        ax.set_axis_off()
    fig.suptitle("filters: columns of W on the 4×4 grid (red positive)" + (f"\n{common.SMOKE}" if quick else ""),
                 fontsize=9)
    filters = png(fig)
    n_snap = 10
    v0 = jax.random.bernoulli(jax.random.key(cfg.seed + 1), 0.5, (cfg.sample_chains, 16)).astype(params.W.dtype)
    _, trace = gibbs.sample_chains(jax.random.key(cfg.seed + 2), params, v0, cfg.sample_sweeps,
                                   thin=max(1, cfg.sample_sweeps // n_snap), transform=gibbs.keep_v)
    snaps = np.asarray(trace)[:n_snap]  # [n_snap, chains, 16]
    fig, axes = plt.subplots(cfg.sample_chains, snaps.shape[0], figsize=(snaps.shape[0] * 0.8, cfg.sample_chains * 0.8))
    for r in range(cfg.sample_chains):
        for k in range(snaps.shape[0]):
            axes[r, k].imshow(snaps[k, r].reshape(4, 4), cmap="gray_r", vmin=0, vmax=1)
            axes[r, k].set_axis_off()
    fig.suptitle(f"block Gibbs: {cfg.sample_chains} chains (rows) from random images, every "
                 f"{max(1, cfg.sample_sweeps // n_snap)} sweeps", fontsize=9)
    return filters, png(fig)


def ais_checks(cfg: Config, curves: dict, X) -> dict:
    """AIS log Z against the exact one: seed 0's model of each method."""
    out = {}
    for i, (method, (params, _, _)) in enumerate(curves.items()):
        p = jax.tree.map(lambda a: a[0], params)
        est = ais.log_partition(jax.random.fold_in(jax.random.key(cfg.seed), 100 + i), p, n_runs=cfg.ais_runs,
                                n_betas=cfg.ais_betas, data=X)
        z, se, truth = float(est.log_z), float(est.stderr), float(exact.log_partition(p))
        out[method] = {"ais_log_z": z, "ais_stderr": se, "exact_log_z": truth, "error": z - truth,
                       "error_in_se": (z - truth) / se}
    return out


def backprop_check() -> dict:
    """The notes' network: manual gradient against jax.grad, the notes' numbers, and a planted mistake."""
    with jax.enable_x64(True):
        params, x, t = mlp.seed_example()
        manual, auto = mlp.manual_grads(params, x, t), jax.grad(mlp.loss)(params, x, t)
        notes = jnp.array([[-1 / 8, -1 / 16], [0, 0]])
        report = gradcheck.compare_grads(mlp.manual_grads, mlp.loss, params, x, t, fd=True)
        bad = gradcheck.compare_grads(lambda p, x, t: jax.tree.map(lambda g: 4 * g, mlp.manual_grads(p, x, t)),
                                      mlp.loss, params, x, t)
        return {"max_abs_manual_vs_jax_grad": max(float(jnp.max(jnp.abs(m - a))) for m, a in zip(manual, auto)),
                "max_abs_dW1_vs_notes": float(jnp.max(jnp.abs(manual.W1 - notes))),
                "dW1": np.asarray(manual.W1).tolist(), "gradcheck_ok": bool(report.ok),
                "planted_mistake_caught": not bad.ok, "report": str(report), "planted_report": str(bad)}


def table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
img{max-width:100%}.smoke{background:#fff3cd;padding:.6em;border:1px solid #e0c36a}"""


def render(cfg: Config, s: dict, figures: dict) -> str:
    quick = s["quick"]
    n, tr, a, bp, tm = s["notes"], s["training"], s["ais"], s["backprop"], s["timing"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>rbm_jax demo report</title>"
             f"<style>{CSS}</style></head><body>",
             "<h1>rbm_jax demo report</h1>",
             f"<p>{html.escape(s['created'])} · {html.escape(s['machine'])} · seed {cfg.seed}</p>"]
    if quick:
        parts.append(f"<p class='smoke'>{common.SMOKE}: a --quick run tests the code; its training, AIS and "
                     f"timing figures say nothing about the methods.</p>")
    parts += ["<h2 id='notes'>1. The notes' checks</h2>",
              f"<p>{html.escape(n['model'])}, float64; every quantity by the library beside brute-force enumeration."
              f" Worst error {num('notes.worst_error', n['worst_error'], '.1e')}; |λ₂| of the Gibbs operator "
              f"{num('notes.lambda2', n['lambda2'], '.4f')} (&lt; 1: the chain converges).</p>",
              table(["check", "max error"], [(html.escape(k), num(f"notes.errors.{k}", v, ".1e"))
                                              for k, v in n["errors"].items()]),
              f"<details><summary>the walkthrough's printout</summary><pre>{html.escape(n['text'])}</pre></details>",
              "<h2 id='training'>2. Bars-and-stripes 4×4: CD-1, PCD-1 and PT over seeds</h2>",
              f"<p>{cfg.n_seeds} seeds per method, trained at once by <code>train.fit_many</code>: {cfg.n_hidden} hidden "
              f"units, {cfg.n_epochs} epochs of minibatches of {cfg.batch_size}, plain SGD {cfg.learning_rate}, "
              f"PT with {cfg.pt_rungs} rungs from β = 1 to {cfg.pt_beta_min}. Every log-likelihood is exact "
              f"(enumeration), averaged over the 30 training rows; the optimum is −ln 30 = "
              f"{num('training_optimum', s['training_optimum'])}.</p>",
              figures["curves"],
              table(["method", "final, mean over seeds", "min", "max", "best during training (mean)",
                     "per seed", "wall time (s)"],
                    [(v["label"], num(f"training.{m}.final_ll_mean", v["final_ll_mean"]),
                      num(f"training.{m}.final_ll_min", v["final_ll_min"]),
                      num(f"training.{m}.final_ll_max", v["final_ll_max"]),
                      num(f"training.{m}.best_ll_mean", v["best_ll_mean"]),
                      ", ".join(f"{x:.3f}" for x in v["final_ll_per_seed"]),
                      num(f"training.{m}.seconds", v["seconds"], ".1f")) for m, v in tr.items()]),
              "<h2 id='samples'>3. Filters and samples</h2>",
              f"<p>The model with the highest final likelihood: {html.escape(s['best_model'])}.</p>",
              figures["filters"], figures["samples"],
              "<h2 id='ais'>4. AIS against the exact log Z</h2>",
              f"<p>Annealed importance sampling, {cfg.ais_runs} runs, {cfg.ais_betas} temperatures, base-rate base "
              f"model; seed 0's model of each method; the exact log Z by enumerating the 2¹⁶ states of one "
              f"layer.</p>",
              table(["model", "AIS log Z", "± SE", "exact log Z", "error", "error / SE"],
                    [(LABELS[m], num(f"ais.{m}.ais_log_z", v["ais_log_z"]), num(f"ais.{m}.ais_stderr", v["ais_stderr"]),
                      num(f"ais.{m}.exact_log_z", v["exact_log_z"]), num(f"ais.{m}.error", v["error"], "+.4f"),
                      num(f"ais.{m}.error_in_se", v["error_in_se"], "+.2f")) for m, v in a.items()]),
              "<h2 id='backprop'>5. The backprop check</h2>",
              f"<p>The notes' network (<code>mlp.seed_example</code>, float64): the hand-written gradient against "
              f"<code>jax.grad</code>, max |difference| {num('backprop.max_abs_manual_vs_jax_grad', bp['max_abs_manual_vs_jax_grad'], '.1e')}"
              f"; ∂J/∂W⁽¹⁾ = {html.escape(str(bp['dW1']))} against the notes' [[−1/8, −1/16], [0, 0]], max |difference| "
              f"{num('backprop.max_abs_dW1_vs_notes', bp['max_abs_dW1_vs_notes'], '.1e')}. gradcheck (against jax.grad "
              f"and finite differences): {'passed' if bp['gradcheck_ok'] else 'FAILED'}; a planted mistake "
              f"(every gradient ×4, the sigmoid's derivative left out) "
              f"{'caught' if bp['planted_mistake_caught'] else 'NOT caught'}.</p>",
              f"<pre>{html.escape(bp['report'])}</pre><pre>{html.escape(bp['planted_report'])}</pre>",
              "<h2 id='timing'>6. Timing</h2>",
              f"<p>Wall time on this machine ({html.escape(s['machine'])}), compilation included.</p>",
              table(["part", "seconds"], [(html.escape(k), num(f"timing.{k}", v, ".1f")) for k, v in tm.items()]),
              "</body></html>"]
    return "\n".join(parts)


def run(cfg: Config, out) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    quick = cfg.is_quick
    timing = {}

    t = time.perf_counter()
    notes = notes_checks(cfg)
    timing["notes' checks"] = time.perf_counter() - t

    X = data.bars_and_stripes(4)
    optimum = data.bars_and_stripes_optimal_log_likelihood(4)
    training, curves = train_all(cfg, X)
    for m, v in training.items():
        timing[f"training {LABELS[m]} ({cfg.n_seeds} seeds)"] = v["seconds"]
        checkpoint.save(out / f"params_{m}.npz", curves[m][0], overwrite=True,
                        config={"demo": dataclasses.asdict(cfg), "method": m})

    t = time.perf_counter()
    best_m, best_s = max(((m, s) for m in training for s in range(cfg.n_seeds)),
                         key=lambda ms: training[ms[0]]["final_ll_per_seed"][ms[1]])
    best_params = jax.tree.map(lambda a: a[best_s], curves[best_m][0])
    figures = {"curves": curves_figure(cfg, curves, optimum, quick)}
    figures["filters"], figures["samples"] = pictures(cfg, best_params, quick)
    timing["figures and samples"] = time.perf_counter() - t

    t = time.perf_counter()
    ais_out = ais_checks(cfg, curves, X)
    timing["AIS"] = time.perf_counter() - t

    t = time.perf_counter()
    bp = backprop_check()
    timing["backprop check"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t0

    summary = {
        "config": dataclasses.asdict(cfg), "quick": quick,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {jax.devices()[0].platform.upper()} × {jax.device_count()}, "
                   f"JAX {jax.__version__}",
        "notes": notes, "training_optimum": optimum, "training": training,
        "best_model": f"{LABELS[best_m]}, seed {best_s}, final exact log-likelihood "
                      f"{training[best_m]['final_ll_per_seed'][best_s]:.4f}",
        "ais": ais_out, "backprop": bp, "timing": timing,
    }
    (out / "report.html").write_text(render(cfg, summary, figures), encoding="utf-8")
    summary["report"] = str(out / "report.html")
    return summary


def five_lines(s: dict) -> list[str]:
    cfg, tr, a, bp = s["config"], s["training"], s["ais"], s["backprop"]
    smoke = common.smoke(s["quick"])
    worst_ais = max(a.values(), key=lambda v: abs(v["error_in_se"]))
    return [
        f"1. the notes' checks (float64, by enumeration): worst error {s['notes']['worst_error']:.1e}; "
        f"|λ₂| = {s['notes']['lambda2']:.3f}",
        f"2. bars-and-stripes 4×4, {cfg['n_seeds']} seeds × {cfg['n_epochs']} epochs, final exact log-likelihood "
        f"(mean): " + ", ".join(f"{v['label']} {v['final_ll_mean']:.3f}" for v in tr.values())
        + f"; optimum {s['training_optimum']:.3f}{smoke}",
        f"3. AIS against the exact log Z: largest error {worst_ais['error']:+.4f} = {worst_ais['error_in_se']:+.2f} SE{smoke}",
        f"4. backprop: hand-written gradient − jax.grad max {bp['max_abs_manual_vs_jax_grad']:.1e}, ∂J/∂W1 − notes max "
        f"{bp['max_abs_dW1_vs_notes']:.1e}; gradcheck {'passed' if bp['gradcheck_ok'] else 'FAILED'}, planted mistake "
        f"{'caught' if bp['planted_mistake_caught'] else 'MISSED'}",
        f"5. wall time {s['timing']['total']:.0f} s (training "
        f"{sum(v['seconds'] for v in tr.values()):.0f} s), {s['machine']}",
    ]


def verdict(s: dict) -> tuple:
    passed = (s["notes"]["worst_error"] < 1e-9 and s["backprop"]["max_abs_manual_vs_jax_grad"] < 1e-12
              and s["backprop"]["gradcheck_ok"] and s["backprop"]["planted_mistake_caught"])
    return passed, f"report: {s['report']}\n" + "\n".join(five_lines(s))


def main(argv=None) -> int:
    return common.experiment_main(
        argv, name=NAME, doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        outputs=("report.html",) + tuple(f"params_{m}.npz" for m in LABELS) + tuple(f".params_{m}.npz.*.tmp" for m in LABELS),
        verdict=verdict)


if __name__ == "__main__":
    sys.exit(main())
