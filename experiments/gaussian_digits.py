"""A Gaussian RBM (16 hidden units) on continuous digits, its exact likelihood beside Gaussian mixtures.

Data (``data.continuous_digits``): scikit-learn's 1,797 8×8 digits, dequantised by adding
U[0, 1) noise to the integer pixels 0..16 (fixed seed), split 80/20 (1,437 training and 360
held-out images), the pixels whose integer value is constant over the training images dropped
(3 with seed 0: 61 stay), then standardised with the training images' mean and std. Every
log-likelihood is in nats per image, as a density over the 61 standardised pixels; adding
``to_pixel_scale`` (−Σ log std, in summary.json) gives it per unit of the dequantised 0..17
pixel scale — the same shift for every model, so it changes no comparison.

Model: ``GaussianRBMParams`` with 16 hidden units (``rbm.init_params(..., family='gaussian',
data=train)``: b the data's mean, σ its std, W ~ N(0, 0.01²)); its P(v) is a mixture of 2¹⁶
Gaussians with means b + Wh and one diagonal covariance diag σ² shared by all of them, so the
exact log-likelihood enumerates the 65,536 hidden states (``exact.log_likelihood``).

Training (``train.fit`` / ``train.fit_many``): Adam with the learning rate cosine-decayed to
``decay_to`` (1%) of its start over the run, batch 20, 300 epochs, PCD with 100 persistent
chains, and the library's defaults for σ (``log_sigma_rate=0.1``, ``sigma_warmup_epochs=1``,
``sigma_floor=0.05``). Selection: the training images are split again 80/20 (1,149 fitting,
288 validation images); every method (CD-1, PCD-1) × initial learning rate (0.003, 0.01, 0.02)
is trained on the fitting images with ``n_seeds`` = 3 seeds (one ``fit_many`` call each), and
the setting with the best mean final exact validation log-likelihood is refitted on all 1,437
training images. The held-out images serve only the reported numbers and the learning curves
(nothing is chosen on them). Beside it:

  * σ ablation: the chosen setting refitted with ``log_sigma_rate`` 0 (σ held at the data's
    std, 1) and 1 (σ learns at the full rate), against the default 0.1;
  * exact-gradient polish: the final model trained on by full-batch Adam on the exact
    gradient (``jax.grad`` of ``exact.log_likelihood``; cosine decay from 0.001, 300 steps):
    how far the stochastic run ended from a (local) optimum of the exact likelihood;
  * scikit-learn ``GaussianMixture`` (``random_state`` = seed, k-means init, up to 500 EM
    iterations): 1 component full covariance, 16 components diagonal, 16 spherical, and
    1 component diagonal (the RBM with W = 0); ``FactorAnalysis`` with 16 factors (a Gaussian
    with the covariance an RBM with 16 hidden units can express: diagonal plus rank 16); and
    a 16-component mixture with ONE diagonal covariance shared by its components (EM in this
    script, k-means init) — the RBM's own covariance structure with free means.

Command:
    python experiments/gaussian_digits.py [--seed 0] [--out DIR] [--quick] [--overwrite]
Expected (full run, seed 0: about 2.5 minutes on 2 shared CPU cores; the README records the
numbers, re-recorded 2026-12-02): PCD-1 at 0.02 is selected (mean validation −70.48 over 3 seeds,
just ahead of 0.01's −70.80; CD-1's best setting −74.08) and reaches an exact held-out
log-likelihood of −69.97 (train −69.11); 300 exact-gradient steps from there gain +0.36 held-out,
so the stochastic training ends near a local optimum of the exact likelihood. That is level with
factor analysis (−70.47) and above the shared-diagonal 16-mixture (−72.20), 16 spherical (−72.08)
and the diagonal Gaussian (−87.09), but below one full-covariance Gaussian (−67.54) and 12.4
nats below the 16-component diagonal mixture (−57.52). A Gaussian RBM's 2¹⁶ components share
one diagonal σ; the diagonal mixture gives each component its own variances, and the
shared-diagonal mixture, which lacks exactly that, lands where the RBM does. σ: no run
diverges with the library's defaults; learning σ is worth 7 nats (σ held at 1: −77.19); while
the rate is high, PCD's held-out likelihood swings by 9 nats on average between evaluations 5
epochs apart (lowest −117) when σ is learned, by 3 with σ fixed, and settles as the rate decays.
The selection between 0.01 and 0.02 is close, and PCD runs differ in the last digits from
machine to machine (multi-threaded float32 sums), so another machine may pick the other rate.
Writes learning_curves.png (exact train/held-out log-likelihood per epoch of the final model
and of the σ ablation; validation curves of the selection), filters.png (W's columns on the
8×8 grid, dropped pixels blank), samples.png (block-Gibbs chains of the final model,
de-standardised to the pixel scale) and summary.json (every number labelled with what it was
computed on) into runs/gaussian_digits/<time>/. --quick (30–60 s, compilation-bound): one learning rate,
4 epochs, tiny references; a smoke test. Exit status 1 if a sanity check fails (a non-finite
likelihood, or the history's last exact values disagreeing with a recomputation).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
from rbm_jax import data, exact, gibbs, rbm, train

NAME = "gaussian_digits"


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # data noise and split, validation split, initialisations, training, sampling
    n_hidden: int = 16
    test_fraction: float = 0.2  # held-out images (data.continuous_digits)
    validation_fraction: float = 0.2  # of the training images, for the selection only
    methods: tuple = ("cd", "pcd")  # selection grid: methods ...
    learning_rates: tuple = (0.003, 0.01, 0.02)  # ... × Adam's initial learning rates ...
    n_seeds: int = 3  # ... × seeds (fit_many), ranked by the mean final validation likelihood
    n_epochs: int = 300
    batch_size: int = 20
    k: int = 1  # Gibbs sweeps per update (CD-k, PCD-k)
    pcd_chains: int = 100  # persistent chains of PCD (CD runs one chain per batch row)
    decay_to: float = 0.01  # cosine decay of the learning rate to this fraction of it
    weight_scale: float = 0.01
    metrics_every: int = 5  # epochs between exact evaluations (and the last epoch)
    log_sigma_rate: float = 0.1  # the library's defaults for σ, passed explicitly
    sigma_warmup_epochs: int = 1
    sigma_floor: float = 0.05
    sigma_ablation: tuple = (0.0, 1.0)  # log_sigma_rate values refitted beside the default
    polish_steps: int = 300  # full-batch exact-gradient steps from the final model
    polish_learning_rate: float = 0.001
    mixture_components: int = 16
    gmm_max_iter: int = 500
    shared_diagonal_iter: int = 300
    sample_chains: int = 10
    sample_sweeps: int = 1000

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, learning_rates=(0.003,), n_epochs=4, metrics_every=2, sigma_ablation=(1.0,),
                                   n_seeds=2, polish_steps=5, gmm_max_iter=20, shared_diagonal_iter=10, sample_sweeps=20)


def labelled(value, on: str) -> dict:
    """A number with what it was computed on."""
    return {"value": None if value is None or not math.isfinite(value) else float(value), "on": on}


def optimizer(cfg: Config, learning_rate: float, n_rows: int):
    steps = cfg.n_epochs * (n_rows // cfg.batch_size)
    return optax.adam(optax.cosine_decay_schedule(learning_rate, max(1, steps), alpha=cfg.decay_to))


def fit_kwargs(cfg: Config, method: str, **over) -> dict:
    kw = dict(method=method, k=cfg.k, n_epochs=cfg.n_epochs, batch_size=cfg.batch_size,
              n_chains=cfg.pcd_chains if method == "pcd" else None,
              metrics_every=cfg.metrics_every, exact_likelihood=True, log_sigma_rate=cfg.log_sigma_rate,
              sigma_warmup_epochs=cfg.sigma_warmup_epochs, sigma_floor=cfg.sigma_floor)
    kw.update(over)
    return kw


def init(key, cfg: Config, X):
    return rbm.init_params(key, X.shape[1], cfg.n_hidden, family="gaussian", data=X,
                           weight_scale=cfg.weight_scale)


def roughness(history, on: str) -> dict:
    """Mean |change| of the held-out log-likelihood between consecutive evaluations: how much a run swings."""
    values = evaluated(history, "held_out_log_likelihood")[1]
    return labelled(float(np.mean(np.abs(np.diff(values)))) if values.size > 1 else float("nan"), on)


def evaluated(history, name):
    """(epochs, values) of a history key, where it was evaluated (not NaN)."""
    values = np.asarray(history[name], float)
    ok = ~np.isnan(values)
    return np.asarray(history["epoch"])[ok], values[ok]


# --------------------------------------------------------------------------
# Selection on a validation split carved from the training images


def select(cfg: Config, key, fit_rows, validation):
    """Every method × learning rate with n_seeds seeds; returns (candidates, histories, best)."""
    candidates, histories = [], {}
    for m_i, method in enumerate(cfg.methods):
        for r_i, lr in enumerate(cfg.learning_rates):
            k = jax.random.fold_in(key, 100 * m_i + r_i)
            k_init, k_fit = jax.random.split(k)
            inits = [init(kk, cfg, fit_rows) for kk in jax.random.split(k_init, cfg.n_seeds)]
            params0 = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *inits)
            t0 = time.perf_counter()
            diverged = []
            try:
                params, hist = train.fit_many(jax.random.split(k_fit, cfg.n_seeds), params0, fit_rows,
                                              optimizer=optimizer(cfg, lr, fit_rows.shape[0]), held_out=validation,
                                              **fit_kwargs(cfg, method))
            except train.DivergenceError as err:  # kept: the other seeds' results stand
                params, hist, diverged = err.params, err.history, list(err.models)
            seconds = time.perf_counter() - t0
            histories[(method, lr)] = hist
            for s in range(cfg.n_seeds):
                final_val = float(hist["held_out_log_likelihood"][s, -1])
                final_fit = float(hist["log_likelihood"][s, -1])
                candidates.append({
                    "method": method, "learning_rate": lr, "seed_index": s,
                    "diverged": s in diverged,
                    "final_validation_log_likelihood": labelled(
                        final_val, f"validation, {validation.shape[0]} images carved from train, exact"),
                    "final_fit_log_likelihood": labelled(
                        final_fit, f"fitting part of train, {fit_rows.shape[0]} images, exact"),
                    "seconds_for_all_seeds": round(seconds, 2),
                })
            vals = [c["final_validation_log_likelihood"]["value"] for c in candidates[-cfg.n_seeds:]]
            print(f"  {method:>3} lr {lr:<6}: final validation log-likelihood "
                  + ", ".join("diverged" if v is None else f"{v:.3f}" for v in vals) + f"  ({seconds:.1f} s)")

    def score(setting):
        vals = [c["final_validation_log_likelihood"]["value"] for c in candidates
                if (c["method"], c["learning_rate"]) == setting]
        return -math.inf if any(v is None for v in vals) else float(np.mean(vals))

    best = max(histories, key=score)
    return candidates, histories, {"method": best[0], "learning_rate": best[1],
                                   "mean_final_validation_log_likelihood": labelled(
                                       score(best), f"validation, {validation.shape[0]} images carved from "
                                       f"train, exact, mean over {cfg.n_seeds} seeds")}


# --------------------------------------------------------------------------
# References


def exact_gradient_polish(cfg: Config, params, X, test):
    """Full-batch Adam on the exact gradient of the exact log-likelihood, from ``params``.

    Returns (params, curve [(step, train, held-out)]): how far the stochastic run ended from a
    (local) optimum of the exact likelihood.
    """
    opt = optax.adam(optax.cosine_decay_schedule(cfg.polish_learning_rate, cfg.polish_steps, alpha=cfg.decay_to))
    X = jnp.asarray(X)

    @jax.jit
    def step(p, s):
        g = jax.grad(lambda q: -exact.log_likelihood(q, X))(p)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    state = opt.init(params)
    curve = [(0, float(exact.log_likelihood(params, X)), float(exact.log_likelihood(params, test)))]
    every = max(1, cfg.polish_steps // 10)
    for i in range(1, cfg.polish_steps + 1):
        params, state = step(params, state)
        if i % every == 0 or i == cfg.polish_steps:
            curve.append((i, float(exact.log_likelihood(params, X)), float(exact.log_likelihood(params, test))))
    return params, curve


def shared_diagonal_mixture(X, test, n_components: int, n_iter: int, seed: int, reg: float = 1e-6):
    """EM for a Gaussian mixture whose components share ONE diagonal covariance (k-means init).

    Returns (train mean log-likelihood, test mean log-likelihood) in nats per row, float64.
    """
    from scipy.special import logsumexp
    from sklearn.cluster import KMeans

    X, test = np.asarray(X, np.float64), np.asarray(test, np.float64)
    labels = KMeans(n_components, n_init=1, random_state=seed).fit(X).labels_
    resp = np.eye(n_components)[labels]

    def m_step(resp):
        nk = resp.sum(0) + 1e-12
        means = resp.T @ X / nk[:, None]
        var = np.einsum("nk,nkd->d", resp, (X[:, None, :] - means[None]) ** 2) / X.shape[0] + reg
        return nk / nk.sum(), means, var

    def log_joint(Y, w, means, var):
        return (-0.5 * np.sum((Y[:, None, :] - means[None]) ** 2 / var, axis=-1)
                - 0.5 * np.sum(np.log(2 * np.pi * var)) + np.log(w))

    w, means, var = m_step(resp)
    for _ in range(n_iter):
        lj = log_joint(X, w, means, var)
        resp = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
        w, means, var = m_step(resp)
    return (float(np.mean(logsumexp(log_joint(X, w, means, var), axis=1))),
            float(np.mean(logsumexp(log_joint(test, w, means, var), axis=1))))


def baselines(cfg: Config, X, test) -> dict:
    """scikit-learn's mixtures and factor analysis, and the shared-diagonal mixture, on the same split."""
    import warnings

    from sklearn.decomposition import FactorAnalysis
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    X64, T64 = np.asarray(X, np.float64), np.asarray(test, np.float64)
    n = cfg.mixture_components
    out = {}
    for name, comps, cov in (("gmm_1_full", 1, "full"), (f"gmm_{n}_diag", n, "diag"),
                             (f"gmm_{n}_spherical", n, "spherical"), ("gmm_1_diag", 1, "diag")):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported as 'converged'
            g = GaussianMixture(comps, covariance_type=cov, random_state=cfg.seed,
                                max_iter=cfg.gmm_max_iter).fit(X64)
        out[name] = {"train": g.score(X64), "test": g.score(T64), "converged": bool(g.converged_),
                     "what": f"sklearn GaussianMixture({comps}, covariance_type='{cov}', random_state={cfg.seed})",
                     "seconds": round(time.perf_counter() - t0, 2)}
    t0 = time.perf_counter()
    fa = FactorAnalysis(cfg.n_hidden, random_state=cfg.seed).fit(X64)
    out[f"factor_analysis_{cfg.n_hidden}"] = {"train": fa.score(X64), "test": fa.score(T64),
                                              "what": f"sklearn FactorAnalysis({cfg.n_hidden})",
                                              "seconds": round(time.perf_counter() - t0, 2)}
    t0 = time.perf_counter()
    tr_ll, te_ll = shared_diagonal_mixture(X64, T64, n, cfg.shared_diagonal_iter, cfg.seed)
    out[f"mixture_{n}_shared_diag"] = {
        "train": tr_ll, "test": te_ll,
        "what": f"{n} Gaussians sharing one diagonal covariance, EM ({cfg.shared_diagonal_iter} iterations, "
                f"KMeans(random_state={cfg.seed}) init), this script",
        "seconds": round(time.perf_counter() - t0, 2)}
    return out


# --------------------------------------------------------------------------
# Figures


def to_image(values, keep, fill=np.nan):
    """[..., n_kept] -> [..., 64] with the dropped pixels set to ``fill``."""
    values = np.asarray(values)
    img = np.full(values.shape[:-1] + (keep.size,), fill, dtype=float)
    img[..., keep] = values
    return img


def tiles(images: np.ndarray, shape, n_cols: int) -> np.ndarray:
    """[n, H*W] -> one [rows*(H+1), n_cols*(W+1)] image with 1-pixel gaps (NaN)."""
    h, w = shape
    n_rows = math.ceil(images.shape[0] / n_cols)
    canvas = np.full((n_rows * (h + 1), n_cols * (w + 1)), np.nan)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img.reshape(h, w)
    return canvas


def plots(cfg, out: pathlib.Path, final_hist, sel_hists, ablation_hists, best, refs, exact_curve, params, samples,
          starts, keep, mean, std, n_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2))
    ax = axes[0]
    e, tr = evaluated(final_hist, "log_likelihood")
    e2, te = evaluated(final_hist, "held_out_log_likelihood")
    ax.plot(e, tr, "C0-", label="RBM, train (exact)")
    ax.plot(e2, te, "C1-", label=f"RBM, held-out {n_test} images (exact)")
    for i, (rate, h_a) in enumerate(ablation_hists.items()):
        ax.plot(*evaluated(h_a, "held_out_log_likelihood"), color=f"C{6 + i}", lw=0.8, alpha=0.8,
                label=f"same, log_sigma_rate {rate} (default {cfg.log_sigma_rate}), held-out")
    n = cfg.mixture_components
    styles = {"gmm_1_full": ("k", "--"), f"gmm_{n}_diag": ("C2", "--"), f"gmm_{n}_spherical": ("C4", "--"),
              "gmm_1_diag": ("0.5", ":"), f"mixture_{n}_shared_diag": ("C3", "-."),
              f"factor_analysis_{cfg.n_hidden}": ("C5", ":")}
    for name, (color, ls) in styles.items():
        ax.axhline(refs[name]["test"], color=color, ls=ls, lw=1, label=f"{name} held-out {refs[name]['test']:.1f}")
    if exact_curve:
        ax.axhline(exact_curve[-1][2], color="C1", ls=(0, (1, 3)), lw=1.2,
                   label=f"RBM + {exact_curve[-1][0]} exact-gradient steps, held-out {exact_curve[-1][2]:.1f}")
    lo = min(np.min(te), np.min(tr), refs["gmm_1_diag"]["test"]) - 2
    hi = max(refs[f"gmm_{n}_diag"]["test"], np.max(tr)) + 2
    ax.set_ylim(lo, hi)
    ax.set_xlabel("epoch")
    ax.set_ylabel("log-likelihood (nats per image, standardised pixels)")
    ax.set_title(f"Gaussian RBM, {cfg.n_hidden} hidden: {best['method'].upper()}-{cfg.k}, Adam "
                 f"{best['learning_rate']} (cosine decay)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.13), ncol=2)

    ax = axes[1]
    lrs = sorted({lr for _, lr in sel_hists})
    for (method, lr), hist in sel_hists.items():
        color = f"C{lrs.index(lr)}"
        for s in range(hist["held_out_log_likelihood"].shape[0]):
            ok = ~np.isnan(hist["held_out_log_likelihood"][s])
            ax.plot(hist["epoch"][s][ok] if hist["epoch"].ndim == 2 else hist["epoch"][ok],
                    hist["held_out_log_likelihood"][s][ok], color=color,
                    ls="-" if method == "pcd" else "--", lw=1,
                    label=f"{method.upper()} lr {lr}" if s == 0 else None)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("epoch")
    ax.set_ylabel("exact validation log-likelihood")
    ax.set_title("selection: trained on the fitting part of train, one line per seed", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.13), ncol=3)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=120)
    plt.close(fig)

    W = np.asarray(params.W).T  # [n_hidden, n_kept]
    imgs = to_image(W, keep)
    vmax = float(np.abs(W).max())
    fig, ax = plt.subplots(figsize=(6.5, 2.2 + 0.7 * math.ceil(len(W) / 8)))
    im = ax.imshow(tiles(imgs, (8, 8), 8), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_axis_off()
    ax.set_title("filters: columns of W (standardised units; dropped pixels blank)", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.7)
    fig.savefig(out / "filters.png", dpi=120, bbox_inches="tight")
    plt.close(fig)

    pixel = lambda x: to_image(np.asarray(x) * std + mean, keep)  # noqa: E731
    rows = np.concatenate([pixel(starts)[:, None, :], pixel(samples).transpose(1, 0, 2)], axis=1)
    n_cols = rows.shape[1]
    fig, ax = plt.subplots(figsize=(7, 7 * rows.shape[0] / n_cols + 0.6))
    ax.imshow(tiles(rows.reshape(-1, 64), (8, 8), n_cols), cmap="gray_r", vmin=0, vmax=17)
    ax.set_axis_off()
    ax.set_title(f"block Gibbs on the final model, {rows.shape[0]} chains (rows) from training images "
                 f"(first column), every {cfg.sample_sweeps // (n_cols - 1)} sweeps;\nvisible samples "
                 f"mapped back to the 0–17 pixel scale, dropped pixels blank", fontsize=8)
    fig.savefig(out / "samples.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


# --------------------------------------------------------------------------


def run(cfg: Config, out: pathlib.Path) -> dict:
    t_start = time.perf_counter()
    train_x, test_x, keep, mean, std = data.continuous_digits(cfg.seed, cfg.test_fraction, return_scaling=True)
    fit_rows, validation = data.train_test_split(train_x, test_fraction=cfg.validation_fraction, seed=cfg.seed)
    n_tr, n_te, n_v = train_x.shape[0], test_x.shape[0], train_x.shape[1]
    on_train, on_test = f"train, {n_tr} images, exact", f"held-out, {n_te} images, exact"
    to_pixel = -float(np.sum(np.log(std)))
    print(f"continuous digits: {n_tr} training ({fit_rows.shape[0]} fitting + {validation.shape[0]} validation), "
          f"{n_te} held-out images; {n_v} of 64 pixels kept (dropped {np.flatnonzero(~keep).tolist()})")
    key = jax.random.key(cfg.seed)

    print(f"selection ({len(cfg.methods)} methods × {len(cfg.learning_rates)} rates × {cfg.n_seeds} seeds, "
          f"{cfg.n_epochs} epochs each):")
    t0 = time.perf_counter()
    candidates, sel_hists, best = select(cfg, jax.random.fold_in(key, 1), fit_rows, validation)
    t_select = time.perf_counter() - t0
    print(f"  chosen: {best['method']} lr {best['learning_rate']}")

    k_init, k_fit = jax.random.split(jax.random.fold_in(key, 2))
    p0 = init(k_init, cfg, train_x)
    t0 = time.perf_counter()
    params, hist = train.fit(k_fit, p0, train_x, held_out=test_x,
                             optimizer=optimizer(cfg, best["learning_rate"], n_tr),
                             **fit_kwargs(cfg, best["method"]))
    t_final = time.perf_counter() - t0
    ll_train = float(exact.log_likelihood(params, train_x))
    ll_test = float(exact.log_likelihood(params, test_x))
    sigma = np.exp(np.asarray(params.log_sigma))
    print(f"final {best['method']} lr {best['learning_rate']}: exact log-likelihood train {ll_train:.3f}, "
          f"held-out {ll_test:.3f}  ({t_final:.1f} s); σ in [{sigma.min():.3f}, {sigma.max():.3f}]")

    ablation, ablation_hists = [], {}
    for rate in cfg.sigma_ablation:
        t0 = time.perf_counter()
        entry = {"log_sigma_rate": rate}
        try:
            p_a, h_a = train.fit(k_fit, p0, train_x, held_out=test_x,
                                 optimizer=optimizer(cfg, best["learning_rate"], n_tr),
                                 **fit_kwargs(cfg, best["method"], log_sigma_rate=rate))
            entry.update(
                diverged=False,
                train_log_likelihood=labelled(float(exact.log_likelihood(p_a, train_x)), on_train),
                test_log_likelihood=labelled(float(exact.log_likelihood(p_a, test_x)), on_test),
                lowest_held_out_during_run=labelled(float(np.min(evaluated(h_a, "held_out_log_likelihood")[1])),
                                                    f"held-out, {n_te} images, exact, every {cfg.metrics_every} epochs"),
                mean_abs_change_between_evaluations=roughness(h_a, f"held-out, {n_te} images, exact, every "
                                                                   f"{cfg.metrics_every} epochs"),
                sigma_min=float(np.exp(np.min(p_a.log_sigma))), sigma_max=float(np.exp(np.max(p_a.log_sigma))))
            ablation_hists[rate] = h_a
        except train.DivergenceError as err:
            entry.update(diverged=True, diverged_at_epoch=err.epoch, reason=err.reason)
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        ablation.append(entry)
        print(f"  σ ablation, log_sigma_rate {rate}: " + (
            f"diverged at epoch {entry['diverged_at_epoch']}" if entry["diverged"] else
            f"train {entry['train_log_likelihood']['value']:.3f}, held-out {entry['test_log_likelihood']['value']:.3f}"))

    t0 = time.perf_counter()
    _, exact_curve = exact_gradient_polish(cfg, params, train_x, test_x)
    t_exact = time.perf_counter() - t0
    print(f"exact-gradient polish of the final model ({cfg.polish_steps} full-batch Adam steps): "
          f"train {exact_curve[-1][1]:.3f}, held-out {exact_curve[-1][2]:.3f}  ({t_exact:.1f} s)")

    t0 = time.perf_counter()
    refs = baselines(cfg, train_x, test_x)
    t_refs = time.perf_counter() - t0

    rows = [("RBM " + best["method"].upper() + f"-{cfg.k} (selected), exact", ll_train, ll_test)]
    rows += [(f"RBM, log_sigma_rate {a['log_sigma_rate']}", a["train_log_likelihood"]["value"],
              a["test_log_likelihood"]["value"]) for a in ablation if not a["diverged"]]
    rows.append((f"RBM + {cfg.polish_steps} exact-gradient steps", exact_curve[-1][1], exact_curve[-1][2]))
    rows += [(name, r["train"], r["test"]) for name, r in refs.items()]
    print(common.table(rows, ["model", f"train ({n_tr} images)", f"held-out ({n_te} images)"]))

    # Sampling: block-Gibbs chains of the final model from random training images.
    starts_idx = np.random.default_rng(cfg.seed).choice(n_tr, cfg.sample_chains, replace=False)
    starts = train_x[starts_idx]
    n_snap = 9
    _, trace = gibbs.sample_chains(jax.random.fold_in(key, 4), params, jnp.asarray(starts), cfg.sample_sweeps,
                                   thin=max(1, cfg.sample_sweeps // n_snap), transform=gibbs.keep_v)
    samples = np.asarray(trace)[:n_snap]
    plots(cfg, out, hist, sel_hists, ablation_hists, best, refs, exact_curve, params, samples, starts, keep, mean,
          std, n_te)

    e_last = {name: evaluated(hist, name)[1][-1] for name in ("log_likelihood", "held_out_log_likelihood")}
    checks = {
        "finite": bool(np.isfinite([ll_train, ll_test, exact_curve[-1][1], exact_curve[-1][2]]).all()),
        "history_matches_recomputation": bool(abs(e_last["log_likelihood"] - ll_train) < 1e-3
                                              and abs(e_last["held_out_log_likelihood"] - ll_test) < 1e-3),
    }
    n = cfg.mixture_components
    summary = {
        "config": dataclasses.asdict(cfg),
        "data": {
            "what": "sklearn digits + U[0,1) noise, split, constant pixels dropped, standardised "
                    "(rbm_jax.data.continuous_digits)",
            "train_images": n_tr, "held_out_images": n_te, "fitting_images": int(fit_rows.shape[0]),
            "validation_images": int(validation.shape[0]), "kept_pixels": n_v,
            "dropped_pixels": np.flatnonzero(~keep).tolist(),
            "units": "log-likelihoods in nats per image, density over the standardised kept pixels",
            "to_pixel_scale": labelled(to_pixel, "-sum(log std) over the kept pixels' training std: add it to "
                                                 "any log-likelihood here for the dequantised 0..17 pixel scale"),
        },
        "selection": {"candidates": candidates, "chosen": best, "seconds": round(t_select, 2)},
        "rbm": {
            "method": best["method"], "learning_rate": best["learning_rate"],
            "train_log_likelihood": labelled(ll_train, on_train + " (2^16 hidden states enumerated)"),
            "test_log_likelihood": labelled(ll_test, on_test + " (2^16 hidden states enumerated)"),
            "history_last_train_log_likelihood": labelled(float(e_last["log_likelihood"]),
                                                          "train.fit's monitor at the last epoch, " + on_train),
            "sigma_min": float(sigma.min()), "sigma_median": float(np.median(sigma)), "sigma_max": float(sigma.max()),
            "max_abs_W": float(np.abs(np.asarray(params.W)).max()),
            "seconds": round(t_final, 2),
            "lowest_held_out_during_run": labelled(float(np.min(evaluated(hist, "held_out_log_likelihood")[1])),
                                                   f"held-out, {n_te} images, exact, every {cfg.metrics_every} epochs"),
            "mean_abs_change_between_evaluations": roughness(
                hist, f"held-out, {n_te} images, exact, every {cfg.metrics_every} epochs"),
            "sigma_floor_reached": bool(sigma.min() <= cfg.sigma_floor * 1.0001),
            "history": {"epoch": evaluated(hist, "log_likelihood")[0].tolist(),
                        "train_log_likelihood": evaluated(hist, "log_likelihood")[1].tolist(),
                        "held_out_log_likelihood": evaluated(hist, "held_out_log_likelihood")[1].tolist(),
                        "on": f"exact, every {cfg.metrics_every} epochs: train {n_tr} images, held-out {n_te}"},
        },
        "sigma_ablation": {"default_log_sigma_rate": cfg.log_sigma_rate, "runs": ablation},
        "exact_gradient_polish": {
            "what": f"the final RBM, then {cfg.polish_steps} full-batch Adam steps on jax.grad(exact.log_likelihood) "
                    f"over the training images, cosine decay from {cfg.polish_learning_rate}",
            "train_log_likelihood": labelled(exact_curve[-1][1], on_train),
            "test_log_likelihood": labelled(exact_curve[-1][2], on_test),
            "curve": [{"step": s, "train": a, "held_out": b} for s, a, b in exact_curve],
            "seconds": round(t_exact, 2),
        },
        "baselines": {name: {"what": r["what"], "train_log_likelihood": labelled(r["train"], on_train),
                             "test_log_likelihood": labelled(r["test"], on_test),
                             **({"converged": r["converged"]} if "converged" in r else {}),
                             "seconds": r["seconds"]} for name, r in refs.items()},
        "gap_to_diagonal_mixture": labelled(refs[f"gmm_{n}_diag"]["test"] - ll_test,
                                            f"held-out, {n_te} images: gmm_{n}_diag minus the RBM"),
        "checks": checks,
        "all_passed": all(checks.values()),
        "seconds": {"total": round(time.perf_counter() - t_start, 2), "references": round(t_refs, 2)},
    }
    return summary


def main(argv=None) -> int:
    return common.experiment_main(
        argv, name=NAME, doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        outputs=("learning_curves.png", "filters.png", "samples.png"),
        verdict=lambda s: (s["all_passed"], ("all checks passed" if s["all_passed"] else "SOME CHECKS FAILED")
                           + f" ({s['seconds']['total']:.0f} s)"))

if __name__ == "__main__":
    sys.exit(main())
