"""Categorical RBMs learn a known categorical RBM from its exact samples: CD, PCD and PT against the truth.

(a) A known random categorical RBM (``CategoricalRBMParams``): 8 sites with q = 4 states,
    6 hidden units; W[i, a, j] ~ N(0, 1.5²), b = 0, put in the zero-sum gauge, then hidden
    biases c_j = −½ Σ_i max_a W[i, a, j], so that each hidden unit switches on only for
    sequences that give it about half its largest possible input. (With c left at the gauge's
    value the hidden units sit at P(h = 1) ≈ 1, act as biases, and the model is nearly
    independent across sites: multi-informations of 0.04–0.25 nats in trials over seeds and
    scales; with this offset they are 0.4–2.3 nats at scales 1–2; seed 0 here: 1.88, see
    summary.json's ``true_model``.)
(b) 5,000 training and 5,000 test sequences drawn exactly (``exact.sample_exact``: h from the
    enumerated P(h), then v ~ P(v | h)).
(c) Fresh models of the same shape (``rbm.init_params(..., family='categorical', data=train)``)
    trained by CD-1, PCD-1 and PT (10 rungs, geometric to β = 0.1), each with ``n_seeds``
    seeds (5) in one ``train.fit_many`` call: Adam with the learning rate cosine-decayed from 0.01
    to 1% of it, batch 50, 150 epochs, exact test log-likelihood after every epoch.
(d) Exact test log-likelihoods (nats per sequence) of every trained model beside the true
    model's own on the same test sequences and beside the independent-site model (each site's
    state frequencies on the training sequences, add-one smoothed; its likelihood is a product,
    computed in this script). The gap to the truth is the test-set estimate of
    KL(true ‖ model) = E_true[log P_true − log P_model]; beside it the exact KL, summed over
    all 4⁸ = 65,536 sequences.

Command:
    python experiments/categorical_sequences.py [--seed 0] [--out DIR] [--quick] [--overwrite]
Expected (full run, seed 0: about 2 minutes on 2 shared CPU cores; the README records the
numbers): the true model has entropy 8.35 nats (uniform: 11.09) and multi-information 1.88;
it scores −8.389 nats per test sequence, the independent-site model −10.244 (exact KL 1.886).
All three methods close almost all of that gap: mean exact KL(true ‖ model) over 5 seeds CD-1
0.074, PCD-1 0.068, PT 0.095, with seed-to-seed ranges within 0.02–0.13 (the best CD-1 and PCD-1
seeds near d/(2N) = 0.017, the KL expected of the maximum-likelihood fit on 5,000 sequences), so
the methods do not differ beyond the seeds; the test-set estimate (true − model test
log-likelihood) tracks the exact KL within 0.012 in every run (this test set reads slightly low).
PT's swaps are accepted 63–89% of the time: this model mixes easily, and PT costs about 3× CD's
wall time for nothing here. (Re-recorded 2026-12-02: categorical units draw by inverse CDF.)
Writes learning_curves.png (exact test log-likelihood per epoch, mean and range over seeds,
with the true and independent-site models as horizontal lines; and the estimated KL on a log
scale) and summary.json (every number labelled with what it was computed on) into
runs/categorical_sequences/<time>/. --quick (about 40 s, compilation-bound): 500 + 500 sequences,
3 epochs, 2 seeds, 4 PT rungs; a smoke test. Exit status 1 if a sanity check fails (a
non-finite likelihood, an exact KL below 0, or the monitor's last value disagreeing with a
recomputation).
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
from rbm_jax import CategoricalRBMParams, exact, gibbs, rbm, train

NAME = "categorical_sequences"


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # the true model, the samples, the initialisations and the training
    n_sites: int = 8
    n_states: int = 4
    n_hidden: int = 6
    true_weight_scale: float = 1.5  # W ~ N(0, scale²) of the true model
    true_hidden_offset: float = 0.5  # c_j = −offset · Σ_i max_a W[i, a, j] (zero-sum gauge)
    n_train: int = 5000
    n_test: int = 5000
    methods: tuple = ("cd", "pcd", "pt")
    n_seeds: int = 5  # fit_many over seeds, per method
    n_epochs: int = 150
    batch_size: int = 50
    k: int = 1
    learning_rate: float = 0.01  # Adam's initial rate
    decay_to: float = 0.01  # cosine decay to this fraction of it
    weight_scale: float = 0.01  # initial weights of the trained models
    pt_rungs: int = 10
    pt_beta_min: float = 0.1
    smoothing: float = 1.0  # add-one smoothing of the independent-site frequencies
    metrics_every: int = 1

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, n_train=500, n_test=500, n_seeds=2, n_epochs=3, pt_rungs=4)

    @property
    def betas(self) -> tuple:
        return tuple(float(b) for b in gibbs.geometric_ladder(self.pt_rungs, self.pt_beta_min))


def labelled(value, on: str) -> dict:
    """A number with what it was computed on."""
    return {"value": None if value is None or not math.isfinite(value) else float(value), "on": on}


def true_model(cfg: Config, key) -> CategoricalRBMParams:
    """The known model of (a): random W, b = 0, zero-sum gauge, hidden biases at half the largest drive."""
    W = cfg.true_weight_scale * jax.random.normal(key, (cfg.n_sites, cfg.n_states, cfg.n_hidden), jnp.float32)
    p = rbm.zero_sum_gauge(CategoricalRBMParams(W, jnp.zeros((cfg.n_sites, cfg.n_states), jnp.float32),
                                                jnp.zeros((cfg.n_hidden,), jnp.float32)))
    return p._replace(c=-cfg.true_hidden_offset * jnp.sum(jnp.max(p.W, axis=1), axis=0))


def site_log_frequencies(X, q: int, smoothing: float) -> np.ndarray:
    """[n_sites, q] log of each site's smoothed state frequencies."""
    X = np.asarray(X)
    counts = np.stack([np.bincount(X[:, i], minlength=q) for i in range(X.shape[1])]).astype(np.float64)
    counts += smoothing
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def independent_log_prob(log_freq: np.ndarray, X) -> np.ndarray:
    """[n] log Π_i p_i(v_i) of the independent-site model."""
    X = np.asarray(X)
    return log_freq[np.arange(X.shape[1]), X].sum(axis=1)


def kl_exact(log_p_true: np.ndarray, log_q: np.ndarray) -> float:
    """KL(P ‖ Q) = Σ_v P(v) (log P(v) − log Q(v)) over every configuration (float64)."""
    p = np.exp(log_p_true)
    return float(np.sum(p * (log_p_true - log_q)))


def train_method(cfg: Config, method: str, key, X, test):
    """One fit_many call over cfg.n_seeds seeds; returns (params [n_seeds, ...], history, seconds)."""
    k_init, k_fit = jax.random.split(key)
    inits = [rbm.init_params(kk, cfg.n_sites, cfg.n_hidden, family="categorical", n_states=cfg.n_states, data=X,
                             weight_scale=cfg.weight_scale) for kk in jax.random.split(k_init, cfg.n_seeds)]
    params0 = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *inits)
    steps = cfg.n_epochs * (X.shape[0] // cfg.batch_size)
    opt = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, max(1, steps), alpha=cfg.decay_to))
    t0 = time.perf_counter()
    params, hist = train.fit_many(jax.random.split(k_fit, cfg.n_seeds), params0, X, method=method, k=cfg.k,
                                  n_epochs=cfg.n_epochs, batch_size=cfg.batch_size, optimizer=opt,
                                  betas=cfg.betas if method == "pt" else None, held_out=test,
                                  metrics_every=cfg.metrics_every, exact_likelihood=True)
    jax.block_until_ready(params)
    return params, hist, time.perf_counter() - t0


def plots(cfg: Config, out: pathlib.Path, results, true_test, indep_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (method, r) in enumerate(results.items()):
        hist = r["history"]
        ll = np.asarray(hist["held_out_log_likelihood"], float)  # [n_seeds, n_epochs]
        epochs = np.asarray(hist["epoch"])[0] if np.ndim(hist["epoch"]) == 2 else np.asarray(hist["epoch"])
        ok = ~np.isnan(ll[0])
        e, ll = epochs[ok], ll[:, ok]
        label = f"{method.upper()}" + (f" ({cfg.pt_rungs} rungs)" if method == "pt" else f"-{cfg.k}")
        axes[0].plot(e, ll.mean(0), color=f"C{i}", label=f"{label}, mean of {ll.shape[0]} seeds")
        axes[0].fill_between(e, ll.min(0), ll.max(0), color=f"C{i}", alpha=0.25, lw=0)
        gap = true_test - ll
        axes[1].plot(e, np.clip(gap.mean(0), 1e-4, None), color=f"C{i}", label=label)
        axes[1].fill_between(e, np.clip(gap.min(0), 1e-4, None), np.clip(gap.max(0), 1e-4, None),
                             color=f"C{i}", alpha=0.25, lw=0)
    axes[0].axhline(true_test, color="k", ls="--", lw=1, label=f"true model {true_test:.3f}")
    axes[0].axhline(indep_test, color="0.5", ls=":", lw=1.2, label=f"independent sites {indep_test:.3f}")
    axes[0].set_ylim(indep_test - 0.4, true_test + 0.2)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel(f"exact test log-likelihood ({cfg.n_test} sequences, nats)")
    axes[0].set_title(f"categorical RBMs, {cfg.n_sites} sites × q={cfg.n_states}, {cfg.n_hidden} hidden", fontsize=10)
    axes[0].legend(fontsize=8, loc="lower right")
    axes[1].axhline(true_test - indep_test, color="0.5", ls=":", lw=1.2, label="independent sites")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("true − model test log-likelihood (≈ KL(true ‖ model))")
    axes[1].set_title("gap to the true model, test-set estimate (mean and range over seeds)", fontsize=10)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=120)
    plt.close(fig)


def run(cfg: Config, out: pathlib.Path) -> dict:
    t_start = time.perf_counter()
    key = jax.random.key(cfg.seed)
    k_true, k_train, k_test, k_fit = jax.random.split(key, 4)
    true = true_model(cfg, k_true)
    X = exact.sample_exact(k_train, true, cfg.n_train)
    T = exact.sample_exact(k_test, true, cfg.n_test)
    on_test, on_train = f"test, {cfg.n_test} sequences, exact", f"train, {cfg.n_train} sequences, exact"
    q, n = cfg.n_states, cfg.n_sites

    # The truth by enumeration of all q**n sequences (float64 on the host for the sums).
    all_v = exact.configurations(n, n_states=q)
    lp_true = np.asarray(exact.log_marginal_v(true, all_v), np.float64)
    p_true = np.exp(lp_true)
    entropy = float(-np.sum(p_true * lp_true))
    marg = np.stack([np.bincount(np.asarray(all_v)[:, i], weights=p_true, minlength=q) for i in range(n)])
    multi_info = float(-np.sum(marg * np.log(marg))) - entropy
    h_mean = np.asarray(jnp.sum(jnp.asarray(p_true, jnp.float32)[:, None] * rbm.prob_h_given_v(true, all_v), 0))
    true_test = float(exact.log_likelihood(true, T))
    true_train = float(exact.log_likelihood(true, X))

    log_freq = site_log_frequencies(X, q, cfg.smoothing)
    indep_test = float(np.mean(independent_log_prob(log_freq, T)))
    indep_train = float(np.mean(independent_log_prob(log_freq, X)))
    indep_kl = kl_exact(lp_true, independent_log_prob(log_freq, all_v))
    print(f"true model: entropy {entropy:.4f} nats (uniform {n * math.log(q):.4f}), multi-information "
          f"{multi_info:.4f}; test log-likelihood {true_test:.4f}; independent sites {indep_test:.4f} "
          f"(exact KL {indep_kl:.4f})")

    results = {}
    for i, method in enumerate(cfg.methods):
        params, hist, seconds = train_method(cfg, method, jax.random.fold_in(k_fit, i), X, T)
        per_seed = []
        for s in range(cfg.n_seeds):
            p = jax.tree_util.tree_map(lambda x: x[s], params)
            te, tr = float(exact.log_likelihood(p, T)), float(exact.log_likelihood(p, X))
            kl = kl_exact(lp_true, np.asarray(exact.log_marginal_v(p, all_v), np.float64))
            last = np.asarray(hist["held_out_log_likelihood"][s], float)
            per_seed.append({"seed_index": s, "test": te, "train": tr, "kl_exact": kl,
                             "kl_test_estimate": true_test - te, "history_last_test": float(last[~np.isnan(last)][-1])})
        results[method] = {"history": hist, "per_seed": per_seed, "seconds": seconds}
        if "swap_acceptance" in hist:  # [n_seeds, n_epochs, rungs − 1]: the last epoch, mean over seeds
            results[method]["swap_acceptance"] = np.nanmean(np.asarray(hist["swap_acceptance"])[:, -1], axis=0)
        tes = [r["test"] for r in per_seed]
        print(f"  {method:>3}: test log-likelihood {np.mean(tes):.4f} (seeds {', '.join(f'{t:.4f}' for t in tes)}), "
              f"exact KL {np.mean([r['kl_exact'] for r in per_seed]):.4f}  ({seconds:.1f} s for {cfg.n_seeds} seeds)")

    rows = [("true model", true_train, true_test, 0.0, 0.0),
            ("independent sites (add-one)", indep_train, indep_test, true_test - indep_test, indep_kl)]
    for method, r in results.items():
        ps = r["per_seed"]
        rows.append((f"{method.upper()} (mean of {cfg.n_seeds} seeds)", np.mean([p["train"] for p in ps]),
                     np.mean([p["test"] for p in ps]), np.mean([p["kl_test_estimate"] for p in ps]),
                     np.mean([p["kl_exact"] for p in ps])))
    print(common.table([(a, float(b), float(c), float(d), float(e)) for a, b, c, d, e in rows],
                       ["model", f"train ({cfg.n_train})", f"test ({cfg.n_test})", "true − model (test)",
                        "exact KL(true‖model)"]))
    plots(cfg, out, results, true_test, indep_test)

    n_free = n * (q - 1) * cfg.n_hidden + n * (q - 1) + cfg.n_hidden
    all_kls = [p["kl_exact"] for r in results.values() for p in r["per_seed"]] + [indep_kl]
    all_lls = [p[k] for r in results.values() for p in r["per_seed"] for k in ("test", "train")]
    checks = {
        "finite": bool(np.isfinite(all_lls + all_kls + [true_test, indep_test]).all()),
        "kl_nonnegative": bool(min(all_kls) > -1e-4),
        "history_matches_recomputation": bool(max(abs(p["history_last_test"] - p["test"])
                                                  for r in results.values() for p in r["per_seed"]) < 1e-3),
        "true_model_beats_independent_sites_on_test": bool(true_test > indep_test),
    }
    summary = {
        "config": dataclasses.asdict(cfg),
        "units": "log-likelihoods and KLs in nats per sequence",
        "true_model": {
            "entropy": labelled(entropy, f"exact, all {q}^{n} = {q ** n} sequences enumerated"),
            "uniform_entropy": n * math.log(q),
            "multi_information": labelled(multi_info, "exact: sum of site entropies minus the joint entropy = "
                                                      "KL(true ‖ best independent-site model)"),
            "hidden_means": {"values": h_mean.tolist(), "on": "exact E[P(h_j = 1 | v)] under the true model"},
            "train_log_likelihood": labelled(true_train, on_train),
            "test_log_likelihood": labelled(true_test, on_test),
        },
        "independent_sites": {
            "what": f"site state frequencies on the {cfg.n_train} training sequences, +{cfg.smoothing} smoothing",
            "train_log_likelihood": labelled(indep_train, on_train),
            "test_log_likelihood": labelled(indep_test, on_test),
            "kl_test_estimate": labelled(true_test - indep_test, on_test + ": true minus model"),
            "kl_exact": labelled(indep_kl, f"exact KL(true ‖ model), all {q ** n} sequences"),
        },
        "methods": {
            method: {
                "estimator": train.TrainConfig(method=method, k=cfg.k, batch_size=cfg.batch_size,
                                               betas=cfg.betas if method == "pt" else None).estimator.label,
                "seconds_for_all_seeds": round(r["seconds"], 2),
                **({"swap_acceptance_last_epoch": {
                    "values": r["swap_acceptance"].tolist(),
                    "on": "adjacent rungs (β high to low), mean over the last epoch's updates and the seeds"}}
                   if "swap_acceptance" in r else {}),
                "mean_test_log_likelihood": labelled(float(np.mean([p["test"] for p in r["per_seed"]])),
                                                     on_test + f", mean over {cfg.n_seeds} seeds"),
                "mean_kl_exact": labelled(float(np.mean([p["kl_exact"] for p in r["per_seed"]])),
                                          f"exact KL(true ‖ model), all {q ** n} sequences, mean over seeds"),
                "mean_kl_test_estimate": labelled(float(np.mean([p["kl_test_estimate"] for p in r["per_seed"]])),
                                                  on_test + ": true minus model, mean over seeds"),
                "per_seed": [{
                    "seed_index": p["seed_index"],
                    "test_log_likelihood": labelled(p["test"], on_test),
                    "train_log_likelihood": labelled(p["train"], on_train),
                    "kl_exact": labelled(p["kl_exact"], f"exact KL(true ‖ model), all {q ** n} sequences"),
                    "kl_test_estimate": labelled(p["kl_test_estimate"], on_test + ": true minus model"),
                } for p in r["per_seed"]],
                "test_log_likelihood_per_epoch": {
                    "on": on_test + ", train.fit_many's monitor, one row per seed",
                    "values": np.asarray(r["history"]["held_out_log_likelihood"], float).tolist()},
            } for method, r in results.items()
        },
        "mle_kl_asymptotic": labelled(
            n_free / (2 * cfg.n_train),
            f"not measured: d / (2 N), the expected KL(true ‖ maximum-likelihood fit) for large N, with d = "
            f"{n_free} free parameters (zero-sum gauge) and N = {cfg.n_train} training sequences"),
        "checks": checks,
        "all_passed": all(checks.values()),
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    return summary


def main(argv=None) -> int:
    return common.experiment_main(
        argv, name=NAME, doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        outputs=("learning_curves.png",),
        verdict=lambda s: (s["all_passed"], ("all checks passed" if s["all_passed"] else "SOME CHECKS FAILED")
                           + f" ({s['seconds']:.0f} s)"))

if __name__ == "__main__":
    sys.exit(main())
