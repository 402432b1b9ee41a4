"""Bias and cosine similarity of CD-k, PCD and PT gradients against the exact gradient.

Trains a small RBM (bars-and-stripes 4×4, 16 hidden units, float64; PT training with
``train.fit``) and snapshots it at three stages: at initialisation, early, and well trained.
Trained models have larger weights and slower-mixing Gibbs chains, which is where CD's bias
shows. At each stage the exact log-likelihood gradient g* is known (``train.exact_gradient``:
data statistics minus enumerated model moments), so every stochastic estimator of it can be
measured against it. The batch is always the FULL data set, so the data term is exact and
only the model term is random.

Estimators (each drawn R times independently):
  * CD-k, k in ``cd_ks``: negatives are k Gibbs sweeps started at the data rows. CD runs one
    chain per batch row, so its number of chains is varied by repeating the data rows
    (``np.repeat``, ``cd_repeats``: 30 and 300 chains), which leaves the data term unchanged.
    All k come from one chain run: chains started as CD starts them (v = data row,
    h ~ P(h|v)) and advanced by ``train.gradient_estimate(method='pcd', k=1)``, so update k's
    negatives are CD-k's. Check: its k = 1 has the mean of the library's ``method='cd'``.
  * PCD-1 from equilibrium: persistent chains drawn by ``exact.sample_exact`` (the state a
    long persistent run approaches; that burn-in is amortised over training and not counted
    as cost), one PCD-1 update, with 10, 100, 1000 chains. Gibbs leaves equilibrium
    invariant, so this is unbiased: a sanity check of the whole measurement.
  * PT-k: geometric ladders of 2, 4, 8 rungs down to β = 0.1, 10 systems per data row
    (300), every rung started at its row (as CD starts, and as ``train.init_chains`` starts
    PT), k PT steps, negatives from the β = 1 rung. One rung is plain Gibbs, i.e. CD-k
    (plotted at rungs = 1). Each PT-k is also compared with CD at equal cost: k × rungs
    sweeps per chain.
All R replicates of a setting run as one call of the library's estimator on their pooled
chains (each replicate owns a block of chains), split into R estimates with
``train.ascent_direction``; their mean equals the pooled call's output (checked).

Per setting, with ĝ_r the r-th estimate flattened to (W, b, c) and m their mean:
  * bias = ‖E[ĝ] − g*‖, without the Monte Carlo noise of m: ‖m − g*‖² has expectation
    bias² + tr Σ / R, so bias² is estimated by ‖m − g*‖² − tr S / R (S the sample
    covariance; ``mean_offset``), with a standard error se from tr Σ² and βᵀΣβ. Reported:
    bias = sqrt(max(bias², 0)), the interval [lo, hi] = sqrt(max(bias² ∓ 2 se, 0)), z (a
    one-sided χ² score of ‖m − g*‖² against the no-bias hypothesis, ≈ N(0, 1) without
    bias), and noise = sqrt(tr S / R), the ‖m − g*‖ an unbiased estimator would show;
  * cos: the mean over replicates of cos(ĝ_r, g*), a single estimate's alignment (an
    estimate that is exactly 0, its negatives being the data rows again, counts as cos 0;
    the fraction of those is ``zero_fraction``);
  * rel err: the mean of ‖ĝ_r − g*‖ / ‖g*‖;
  * cost: Gibbs sweeps × chains per estimate (PT: steps × rungs × systems).

Command:
    python experiments/gradient_bias.py [--seed 0] [--out DIR] [--quick] [--overwrite]
Expected (full run, seed 0: 1.5–3 minutes on 2 CPU cores, by load; R = 200). Stages: init
(log-likelihood −12.46, |g*| = 2.00), early (50 PT epochs: −9.90, |g*| = 0.68), trained (2000
epochs: −4.83, |g*| = 2.49, max |W| = 6.9; the optimum is −3.40). Relative bias ‖E ĝ − g*‖/‖g*‖:
  * init and early: Gibbs mixes within a few sweeps. CD-1 0.24 and 0.50, CD-3 0.03 and 0.10,
    CD-10 onwards 0 within noise (|z| < 2.5), and so is PT-10 onwards.
  * trained: CD is biased nearly all the way: CD-1 0.99, CD-10 0.98, CD-100 0.87, CD-300 0.71
    (cos with 300 chains 0.26, 0.50, 0.76, 0.83; with 30 chains 0.10 … 0.63, and 8% of CD-1
    estimates are exactly 0). CD-1's mean is almost 0: the trained model is near CD's fixed
    point, not the likelihood's: its chains stay near the rows they started at.
  * PCD-1 from equilibrium: unbiased at every stage and chain count (max z 2.8 over 9
    settings); cos grows with chains, 0.79 / 0.97 / 0.997 at 10 / 100 / 1000 (trained).
  * PT on the trained model, at equal cost: 2 rungs (β = 1, 0.1) never swap, so PT-k is CD-k
    at twice the cost; PT-10 with 4 rungs 0.74 vs CD-40 0.94, with 8 rungs 0.62 vs CD-80 0.89; PT-30 with 8
    rungs 0.29 (cos 0.95) vs CD-240 0.75. On the untrained models PT is no better than CD at
    equal cost (PT-1 with 8 rungs 0.17 vs CD-8 0.00 at init).
Exit status 0, or 1 if a sanity check fails: PCD from equilibrium biased (z ≥ 4); CD's bias
not falling significantly from k = 1 to the largest k on the trained model, or its cos not
rising; the replicates not averaging to the library's pooled estimate; the chained CD-1
differing from the library's method='cd' (z ≥ 4). Writes gradient_bias.png (cos and relative
bias against k, chains, rungs) and summary.json into the run folder (default
runs/gradient_bias/<time>/). --quick (about 20 s): two stages, fewer settings, R = 100.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

import common
from rbm_jax import data, exact, gibbs, rbm, train
from rbm_jax.rbm import RBMParams


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    side: int = 4  # bars-and-stripes side: side² visible units
    n_hidden: int = 16
    weight_scale: float = 0.5  # BAS is symmetric: tiny weights start at a saddle
    learning_rate: float = 0.1  # plain SGD
    batch_size: int = 10
    train_rungs: int = 10  # PT ladder used for training, geometric to 0.1
    stages: tuple = (("init", 0), ("early", 50), ("trained", 2000))  # (name, PT epochs)
    chunk_epochs: int = 50  # stages must be multiples of this
    replicates: int = 200  # R independent estimates per CD and PCD setting
    cd_ks: tuple = (1, 3, 10, 30, 100, 300)
    cd_repeats: tuple = (1, 10)  # chains = rows × repeats; the last is the headline series
    pcd_chains: tuple = (10, 100, 1000)
    pt_rungs: tuple = (2, 4, 8)
    pt_ks: tuple = (1, 3, 10, 30)  # PT steps; the figure uses pt_k
    pt_k: int = 10
    pt_repeats: int = 10  # systems = rows × pt_repeats
    pt_replicates: int = 200  # R for PT
    beta_min: float = 0.1
    z_max: float = 4.0  # z above this fails a check (PCD unbiased, chained CD-1 = library CD-1)
    check_cd_route: bool = True

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, stages=(("init", 0), ("trained", 800)), chunk_epochs=100,
                                   replicates=100, cd_ks=(1, 10, 100), cd_repeats=(10,), pcd_chains=(10, 100, 1000),
                                   pt_rungs=(4,), pt_ks=(10,), pt_replicates=50)


def flatten(g: RBMParams) -> jax.Array:
    """(W, b, c) as one vector [n_visible·n_hidden + n_visible + n_hidden]."""
    return jnp.concatenate([g.W.reshape(-1), g.b, g.c])


# --------------------------------------------------------------------------
# Estimators. The R replicates of a setting run as ONE call of the library's estimator on
# their pooled chains (replicate r owns the block of rows r·n … r·n + n − 1; chains never
# interact, so blocks are independent). Each block's negatives then give replicate r's
# estimate through ``train.ascent_direction``; the blocks' mean equals the pooled call's own
# output (checked: ``split_max_error``). One compiled program per setting, not per replicate.


def split_estimates(params, batch, v_model, n_replicates: int, counts: tuple) -> tuple:
    """Per-replicate ascent directions from pooled negatives ``v_model`` [R·n, n_visible].

    Returns one [R, n_params] array per count c: replicate r's estimate from
    the first c chains of its block.
    """
    v = v_model.reshape(n_replicates, -1, v_model.shape[-1])
    return tuple(jax.vmap(lambda vr, c=c: flatten(train.ascent_direction(params, batch, vr[:c])))(v)
                 for c in counts)


@functools.partial(jax.jit, static_argnames=("n_replicates", "keep", "method", "betas", "counts"))
def estimate_path(key, params, batch, starts, *, n_replicates: int, keep: tuple, method: str,
                  betas: tuple | None = None, counts: tuple | None = None):
    """Runs updates of ``train.gradient_estimate(method=method, k=1)`` on pooled chains.

    After update k the chains have had k Gibbs sweeps (PT: k PT steps), so the
    estimate of update k is the k-step estimator's; only updates in ``keep``
    are stored.

    Args:
      key: PRNG key.
      params: ``RBMParams``.
      batch: [n_rows, n_visible] data (the exact data term).
      starts: [R·n, n_visible] initial visible states, replicate-major; 'pcd'
        chains get h ~ P(h|v), 'pt' systems start every rung at their row.
      n_replicates: R.
      keep: increasing update counts k to store (the run lasts max(keep) updates).
      method: 'pcd' or 'pt'.
      betas: PT ladder.
      counts: chains per replicate to split into (default: all n).

    Returns:
      (pooled [n_keep, n_params], tuple of [n_keep, R, n_params] per count,
      swap acceptance per pair [n_rungs − 1] for 'pt', else None).
    """
    n = starts.shape[0] // n_replicates
    counts = (n,) if counts is None else counts
    n_params = params.W.size + params.b.size + params.c.size
    dtype = params.dtype
    key_init, key_run = jax.random.split(key)
    if method == "pt":
        ladder = jnp.asarray(betas, dtype)
        chains = jax.vmap(lambda k, v: gibbs.pt_init(k, params, v, ladder))(
            jax.random.split(key_init, starts.shape[0]), starts)
    else:
        chains = gibbs.init(key_init, params, starts)
    keep_arr = jnp.asarray(keep)
    store0 = (jnp.zeros((len(keep), n_params), dtype),
              tuple(jnp.zeros((len(keep), n_replicates, n_params), dtype) for _ in counts))

    def body(carry, xs):
        chains, store = carry
        step, key = xs
        g, chains = train.gradient_estimate(key, params, batch, chains, method=method, k=1, betas=betas)
        slot = jnp.searchsorted(keep_arr, step)

        def record(store):
            v = chains.v[:, 0] if method == "pt" else chains.v  # PT: the β = 1 rung
            parts = split_estimates(params, batch, v, n_replicates, counts)
            return (store[0].at[slot].set(flatten(g)),
                    tuple(s.at[slot].set(p) for s, p in zip(store[1], parts)))

        store = lax.cond(keep_arr[jnp.minimum(slot, len(keep) - 1)] == step, record, lambda s: s, store)
        return (chains, store), None

    steps = jnp.arange(1, max(keep) + 1)
    (final, (pooled, paths)), _ = lax.scan(body, (chains, store0),
                                           (steps, jax.random.split(key_run, max(keep))))
    acc = None
    if method == "pt":
        acc = final.accepted.sum(0) / jnp.maximum(final.attempted.sum(0), 1)
    return pooled, paths, acc


@jax.jit
def cd_library(key, params, starts):
    """The library's own CD-1 (``method='cd'``) with the rows of ``starts`` as the batch: [n_params].

    ``starts`` are the data rows tiled, so the data term is the data's (to round-off).
    """
    return flatten(train.gradient_estimate(key, params, starts, method="cd", k=1)[0])


# --------------------------------------------------------------------------
# Statistics


def _traces(G: np.ndarray):
    """Row mean m, centred rows Y, tr S and an unbiased (Gaussian) estimate of tr Σ²."""
    R = G.shape[0]
    m = G.mean(0)
    Y = G - m
    gram = Y @ Y.T  # [R, R]: tr S and ‖S‖_F² without forming the [p, p] covariance
    tr_s = float(np.trace(gram) / (R - 1))
    frob2 = float(np.sum(gram**2) / (R - 1) ** 2)
    tr_sigma2 = max((R - 1) ** 2 / ((R - 2) * (R + 1)) * (frob2 - tr_s**2 / (R - 1)), 0.0)
    return m, Y, tr_s, tr_sigma2


def _chi2_z(ratio: float, tr_s: float, tr_sigma2: float) -> float:
    """Normal score of ``ratio`` = ‖d‖² / E‖d‖² when d is a mean-zero Gaussian vector.

    ‖d‖² is then a weighted sum of χ²₁; it is matched to a scaled χ²_ν with
    ν = (tr Σ)² / tr Σ² (Satterthwaite) and turned into a z-score with the
    Wilson–Hilferty cube root. One-sided: large z means ‖d‖ too large.
    """
    nu = max(tr_s**2 / tr_sigma2, 1.0) if tr_sigma2 > 0 else 1e6
    return float((max(ratio, 0.0) ** (1 / 3) - (1 - 2 / (9 * nu))) / np.sqrt(2 / (9 * nu)))


def mean_offset(G: np.ndarray, target: np.ndarray) -> dict:
    """‖E[G] − target‖² estimated without the noise of the mean, from R iid rows ``G`` [R, p].

    ‖m − target‖² has expectation ‖β‖² + tr Σ / R (m the row mean, β = E[G] −
    target, Σ the covariance of a row), so ‖β‖² ≈ ‖m − target‖² − tr S / R (S
    the sample covariance). Its standard error is sqrt(2 tr Σ² / R² · R/(R−1)
    + 4 βᵀΣβ / R), tr Σ² by its unbiased Gaussian estimator and βᵀΣβ by
    dᵀSd − tr Σ² / R (d = m − target, clipped at 0). ``z`` tests β = 0: the
    χ² normal score of ‖d‖² / (tr S / R) (``_chi2_z``; m is nearly Gaussian).

    Returns:
      dict with ``sq`` (the estimate of ‖β‖²), ``se``, ``z``, ``noise`` =
      sqrt(tr S / R) (the ‖m − target‖ an unbiased G would show) and
      ``raw_distance`` = ‖m − target‖.
    """
    G = np.asarray(G, np.float64)
    R = G.shape[0]
    m, Y, tr_s, tr_sigma2 = _traces(G)
    d = m - np.asarray(target, np.float64)
    sq = float(d @ d - tr_s / R)
    beta_sigma_beta = max(float(np.sum((Y @ d) ** 2) / (R - 1)) - tr_sigma2 / R, 0.0)
    se = float(np.sqrt(2 * tr_sigma2 / R**2 * R / (R - 1) + 4 * beta_sigma_beta / R))
    z = _chi2_z(float(d @ d) / (tr_s / R), tr_s, tr_sigma2) if tr_s > 0 else 0.0
    return {"sq": sq, "se": se, "z": z, "noise": float(np.sqrt(tr_s / R)),
            "raw_distance": float(np.linalg.norm(d))}


def bias_stats(G: np.ndarray, g_star: np.ndarray) -> dict:
    """Bias, cosine similarity and relative error of R estimates ``G`` [R, p] of ``g_star`` [p]."""
    G = np.asarray(G, np.float64)
    g_star = np.asarray(g_star, np.float64)
    R = G.shape[0]
    off = mean_offset(G, g_star)
    bias2, se = off["sq"], off["se"]
    g_norm = float(np.linalg.norm(g_star))
    norms = np.linalg.norm(G, axis=1)
    # An estimate of exactly 0 (the negatives are the data rows again, as a multiset: common for
    # CD-1 with few chains on a trained model) is round-off in every component and has no
    # direction: it counts as cos 0.
    zero = norms <= 1e-12 * max(g_norm, 1.0)
    cos = np.where(zero, 0.0, (G @ g_star) / np.maximum(norms * g_norm, 1e-300))
    rel = np.linalg.norm(G - g_star, axis=1) / g_norm
    bias = float(np.sqrt(max(bias2, 0.0)))
    return {
        "bias": bias,
        "bias_lo": float(np.sqrt(max(bias2 - 2 * se, 0.0))),
        "bias_hi": float(np.sqrt(max(bias2 + 2 * se, 0.0))),
        "bias_sq": bias2,
        "bias_sq_se": se,
        "bias_z": off["z"],
        "noise": off["noise"],
        "raw_distance": off["raw_distance"],
        "relative_bias": bias / g_norm,
        "cos": float(cos.mean()),
        "cos_se": float(cos.std(ddof=1) / np.sqrt(R)),
        "rel_err": float(rel.mean()),
        "zero_fraction": float(zero.mean()),
        "replicates": R,
    }


# --------------------------------------------------------------------------
# The experiment


def train_stages(key, cfg: Config, X):
    """Parameters at each stage's epoch count, from one PT training run."""
    ends = [e for _, e in cfg.stages]
    if any(e % cfg.chunk_epochs for e in ends):
        raise ValueError(f"stage epochs {ends} must be multiples of chunk_epochs = {cfg.chunk_epochs}")
    key_init, key_fit = jax.random.split(key)
    p0 = rbm.init_params(key_init, X.shape[1], cfg.n_hidden, data=X, dtype=jnp.float64,
                         weight_scale=cfg.weight_scale)
    snaps = {0: p0}

    def keep(done, state, history):
        del history
        if done in ends:
            snaps[done] = state.params

    n_epochs = max(ends)
    if n_epochs:
        train.fit(key_fit, p0, X, method="pt", k=1, n_epochs=n_epochs, batch_size=cfg.batch_size,
                  optimizer=optax.sgd(cfg.learning_rate), betas=gibbs.geometric_ladder(cfg.train_rungs, 0.1),
                  exact_likelihood=False, metrics_every=cfg.chunk_epochs, callback=keep,
                  chunk_epochs=cfg.chunk_epochs)
    return [snaps[e] for e in ends]


def same_mean_z(single: np.ndarray, G: np.ndarray) -> float:
    """z-score (``_chi2_z``) of ‖single − mean(G)‖² against one law for both.

    ``single`` [p] is one draw of the mean of R estimates, ``G`` [R, p] R
    estimates, all with covariance Σ per estimate: under one law the difference
    has mean 0 and covariance 2Σ/R, so ‖d‖² has mean 2 tr Σ / R.
    """
    G = np.asarray(G, np.float64)
    m, _, tr_s, tr_sigma2 = _traces(G)
    d = np.asarray(single, np.float64) - m
    return _chi2_z(float(d @ d) / (2 * tr_s / G.shape[0]), tr_s, tr_sigma2)


def measure_stage(key, params, X, cfg: Config) -> dict:
    n_rows = X.shape[0]
    g_star = np.asarray(flatten(train.exact_gradient(params, X)))
    out = {"grad_norm": float(np.linalg.norm(g_star)),
           "log_likelihood": float(exact.log_likelihood(params, X)),
           "max_abs_W": float(jnp.max(jnp.abs(params.W)))}
    key_cd, key_lib, key_pcd, key_eq, key_pt = jax.random.split(key, 5)
    R = cfg.replicates
    split_errors = []

    def estimate(key, starts, n_replicates, keep, method, betas=None, counts=None):
        pooled, paths, acc = estimate_path(key, params, X, starts, n_replicates=n_replicates,
                                           keep=tuple(sorted(keep)), method=method, betas=betas, counts=counts)
        paths = [np.asarray(p) for p in paths]
        # The replicates' mean over all their chains (the last, largest count) is the pooled estimate.
        split_errors.append(float(np.max(np.abs(np.asarray(pooled) - paths[-1].mean(1)))))
        return paths, None if acc is None else np.asarray(acc)

    # CD-k for every k from one chain run (update k's negatives are CD-k's); the data rows
    # are repeated to vary CD's number of chains. Also kept: CD at PT's k and at PT's equal
    # cost (k × rungs sweeps per chain), for the comparison.
    k_max = max(cfg.cd_ks)
    extra = {k * r for k in cfg.pt_ks for r in (1, *cfg.pt_rungs)}
    cd_keep = tuple(sorted(set(cfg.cd_ks) | {k for k in extra if k <= k_max}))
    out["cd"], curves = [], {}
    for i, rep in enumerate(cfg.cd_repeats):
        starts = jnp.tile(jnp.repeat(X, rep, axis=0), (R, 1))
        (path,), _ = estimate(jax.random.fold_in(key_cd, i), starts, R, cd_keep, "pcd")
        curves[rep] = dict(zip(cd_keep, path))  # k -> [R, n_params]
        for k in cfg.cd_ks:
            out["cd"].append({"k": k, "repeats": rep, "chains": n_rows * rep, "cost": k * n_rows * rep,
                              **bias_stats(curves[rep][k], g_star)})

    # The chained route against the library's own CD-1 on the same pooled chains' count.
    if cfg.check_cd_route:
        rep = cfg.cd_repeats[-1]
        lib = np.asarray(cd_library(key_lib, params, jnp.tile(jnp.repeat(X, rep, axis=0), (R, 1))))
        out["cd_route_z"] = same_mean_z(lib, curves[rep][1])

    # PCD-1 from exact equilibrium samples, split into the first n chains of each replicate.
    n_max = max(cfg.pcd_chains)
    v_eq = exact.sample_exact(key_eq, params, R * n_max)
    counts = tuple(sorted(cfg.pcd_chains))
    paths, _ = estimate(key_pcd, v_eq, R, (1,), "pcd", counts=counts)
    out["pcd"] = [{"k": 1, "chains": n, "cost": n, **bias_stats(p[0], g_star)} for n, p in zip(counts, paths)]

    # PT-k from data starts, every rung at the row.
    starts = jnp.tile(jnp.repeat(X, cfg.pt_repeats, axis=0), (cfg.pt_replicates, 1))
    n_systems = n_rows * cfg.pt_repeats
    out["pt"] = []
    for i, n_rungs in enumerate(cfg.pt_rungs):
        betas = tuple(float(b) for b in gibbs.geometric_ladder(n_rungs, cfg.beta_min, jnp.float64))
        (path,), acc = estimate(jax.random.fold_in(key_pt, i), starts, cfg.pt_replicates, cfg.pt_ks, "pt", betas)
        path = dict(zip(sorted(cfg.pt_ks), path))
        for k in cfg.pt_ks:
            row = {"rungs": n_rungs, "betas": betas, "k": k, "systems": n_systems,
                   "cost": k * n_rungs * n_systems, "swap_acceptance": acc.tolist(),
                   **bias_stats(path[k], g_star)}
            # CD from the same starts at the same k and at equal sweeps per chain (k × rungs).
            for name, kk in (("cd_same_k", k), ("cd_equal_cost", k * n_rungs)):
                if cfg.pt_repeats in curves and kk <= k_max:
                    s = bias_stats(curves[cfg.pt_repeats][kk], g_star)
                    row[name] = {"k": kk, "bias": s["bias"], "relative_bias": s["relative_bias"], "cos": s["cos"]}
            out["pt"].append(row)
    out["split_max_error"] = max(split_errors)
    return out


def checks(stages: list, cfg: Config) -> dict:
    pcd_z = [r["bias_z"] for s in stages for r in s["pcd"]]
    cd = {r["k"]: r for r in stages[-1]["cd"] if r["repeats"] == cfg.cd_repeats[-1]}
    k_lo, k_hi = min(cfg.cd_ks), max(cfg.cd_ks)
    split = max(s["split_max_error"] for s in stages)
    result = {
        "pcd_unbiased": bool(max(pcd_z) < cfg.z_max),
        "pcd_max_z": float(max(pcd_z)),
        # A significant fall: the ±2 se intervals of CD-1 and CD-k_max do not overlap.
        "cd_bias_decreases": bool(cd[k_hi]["bias_hi"] < cd[k_lo]["bias_lo"]),
        "cd_cos_increases": bool(cd[k_hi]["cos"] > cd[k_lo]["cos"]),
        "split_matches_library": bool(split < 1e-10),
        "split_max_error": float(split),
    }
    if cfg.check_cd_route:
        z = [s["cd_route_z"] for s in stages]
        result["cd_route_matches_library"] = bool(max(z) < cfg.z_max)
        result["cd_route_max_z"] = float(max(z))
    result["all_passed"] = bool(all(v for k, v in result.items() if isinstance(v, bool)))
    return result


def print_stage(name: str, epochs: int, s: dict, cfg: Config) -> None:
    print(f"\nstage {name!r} ({epochs} PT epochs): log-likelihood {s['log_likelihood']:.3f}, "
          f"|g*| = {s['grad_norm']:.4f}, max|W| = {s['max_abs_W']:.2f}")
    rows = []

    def add(label, chains, r):
        rows.append((label, chains, r["cost"], f"{r['bias']:.4f}", f"[{r['bias_lo']:.4f}, {r['bias_hi']:.4f}]",
                     f"{r['bias_z']:.1f}", f"{r['noise']:.4f}", f"{r['relative_bias']:.3f}",
                     f"{r['cos']:.3f}", f"{r['rel_err']:.3f}"))

    for r in s["cd"]:
        add(f"CD-{r['k']}", r["chains"], r)
    for r in s["pcd"]:
        add("PCD-1 (equilibrium)", r["chains"], r)
    for r in s["pt"]:
        add(f"PT-{r['k']}, {r['rungs']} rungs", r["systems"], r)
    print(common.table(rows, ["estimator", "chains", "cost", "bias", "[lo, hi]", "z", "noise",
                              "bias/|g*|", "cos", "rel err"]))
    for n_rungs in cfg.pt_rungs:
        rows = [r for r in s["pt"] if r["rungs"] == n_rungs]
        acc = " ".join(f"{a:.2f}" for a in rows[0]["swap_acceptance"])
        vs = ", ".join(f"PT-{r['k']} {r['relative_bias']:.3f} vs CD-{r['cd_equal_cost']['k']} "
                       f"{r['cd_equal_cost']['relative_bias']:.3f}" for r in rows if "cd_equal_cost" in r)
        print(f"  PT, {n_rungs} rungs: swap acceptance per pair {acc}" +
              (f"\n    bias/|g*| at equal cost (sweeps per chain = k × rungs): {vs}" if vs else ""))


def plot(path, stages: list, cfg: Config) -> None:
    """A 2 × 3 figure: cosine similarity (top) and relative bias (bottom) for CD, PCD and PT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def draw(col, x, rows, g_norm, color, label, style="-o"):
        kw = dict(fmt=style, color=color, ms=4, label=label, capsize=2)
        axes[0, col].errorbar(x, [r["cos"] for r in rows], yerr=[2 * r["cos_se"] for r in rows], **kw)
        b = np.array([r["bias"] for r in rows])
        err = [b - [r["bias_lo"] for r in rows], np.array([r["bias_hi"] for r in rows]) - b]
        axes[1, col].errorbar(x, b / g_norm, yerr=np.array(err) / g_norm, **kw)

    for i, s in enumerate(stages):
        c, g = colors[i % len(colors)], s["grad_norm"]
        label = f"{s['name']} (|g*| = {g:.2f})"
        for rep in cfg.cd_repeats:
            rows = [r for r in s["cd"] if r["repeats"] == rep]
            main = rep == cfg.cd_repeats[-1]
            draw(0, [r["k"] for r in rows], rows, g, c, f"{label}, {rows[0]['chains']} chains",
                 "-o" if main else ":s")
        draw(1, [r["chains"] for r in s["pcd"]], s["pcd"], g, c, label)
        pt = [r for r in s["pt"] if r["k"] == cfg.pt_k]
        one_rung = [r for r in s["cd"] if r["repeats"] == cfg.pt_repeats and r["k"] == cfg.pt_k]
        draw(2, [1] * len(one_rung) + [r["rungs"] for r in pt], one_rung + pt, g, c, label)
        # CD with as many sweeps per chain as PT-k spends on its whole ladder (k × rungs).
        eq = [(r["rungs"], r["cd_equal_cost"]) for r in pt if "cd_equal_cost" in r]
        if eq:
            x = [1] * len(one_rung) + [n for n, _ in eq]
            rows = one_rung + [e for _, e in eq]
            axes[0, 2].plot(x, [e["cos"] for e in rows], ":", color=c, lw=1.2,
                            label=f"CD-{cfg.pt_k}·rungs (equal cost)" if i == len(stages) - 1 else None)
            axes[1, 2].plot(x, [e["relative_bias"] for e in rows], ":", color=c, lw=1.2)
    titles = ("CD-k started at the data (chains = rows × repeats)",
              "PCD-1 from exact equilibrium chains",
              f"PT-{cfg.pt_k} started at the data, geometric ladder to β = {cfg.beta_min}\n"
              f"({cfg.pt_repeats} systems per row; 1 rung = CD-{cfg.pt_k})")
    xlabels = ("Gibbs sweeps k", "persistent chains", "rungs")
    for col in range(3):
        axes[0, col].set_title(titles[col], fontsize=9)
        axes[1, col].set_xlabel(xlabels[col])
        for row in range(2):
            axes[row, col].set_xscale("log", base=2 if col == 2 else 10)
            axes[row, col].grid(alpha=0.3)
        axes[1, col].axhline(0, color="k", lw=0.6)
        if col:
            axes[0, col].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.1))  # below the trained curve
    ticks = sorted({1, *cfg.pt_rungs})
    for row in range(2):
        axes[row, 2].set_xticks(ticks, [str(t) for t in ticks])
        axes[row, 2].minorticks_off()
    axes[0, 0].set_ylabel("mean cos(ĝ, g*) of single estimates (±2 se)")
    axes[1, 0].set_ylabel("relative bias ‖E ĝ − g*‖ / ‖g*‖ (±2 se)")
    fig.suptitle(f"Gradient estimators against the exact gradient: bars-and-stripes {cfg.side}×{cfg.side}, "
                 f"{cfg.n_hidden} hidden units, full data as the batch", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(cfg: Config, out) -> dict:
    t0 = time.time()
    X = jnp.asarray(data.bars_and_stripes(cfg.side, dtype=np.float64))
    key_train, key_measure = jax.random.split(jax.random.key(cfg.seed))
    print(f"bars-and-stripes {cfg.side}×{cfg.side}: {X.shape[0]} rows, {X.shape[1]} visible, "
          f"{cfg.n_hidden} hidden; PT training (SGD {cfg.learning_rate}), stages {dict(cfg.stages)}")
    params = train_stages(key_train, cfg, X)
    print(f"trained in {time.time() - t0:.1f} s; optimum log-likelihood "
          f"{data.bars_and_stripes_optimal_log_likelihood(cfg.side):.3f}")
    stages = []
    for i, ((name, epochs), p) in enumerate(zip(cfg.stages, params)):
        t = time.time()
        s = measure_stage(jax.random.fold_in(key_measure, i), p, X, cfg)
        s.update(name=name, epochs=epochs)
        print_stage(name, epochs, s, cfg)
        print(f"  ({time.time() - t:.1f} s)")
        stages.append(s)
    result = checks(stages, cfg)
    plot(out / "gradient_bias.png", stages, cfg)
    print("\nchecks:")
    print(f"  PCD from equilibrium unbiased at every stage and chain count (max z "
          f"{result['pcd_max_z']:.2f} < {cfg.z_max}): {result['pcd_unbiased']}")
    print(f"  CD's bias falls from k={min(cfg.cd_ks)} to k={max(cfg.cd_ks)} on the trained model "
          f"(disjoint ±2 se intervals): {result['cd_bias_decreases']}; its cos rises: {result['cd_cos_increases']}")
    print(f"  replicate estimates average to the library's pooled estimate (max |error| "
          f"{result['split_max_error']:.1e}): {result['split_matches_library']}")
    if cfg.check_cd_route:
        print(f"  chained CD-1 has the library's method='cd' mean (max z {result['cd_route_max_z']:.2f} "
              f"< {cfg.z_max}): {result['cd_route_matches_library']}")
    return {
        "config": dataclasses.asdict(cfg),
        "model": {"data": f"bars_and_stripes({cfg.side})", "n_rows": int(X.shape[0]),
                  "n_visible": int(X.shape[1]), "n_hidden": cfg.n_hidden,
                  "optimal_log_likelihood": data.bars_and_stripes_optimal_log_likelihood(cfg.side)},
        "stages": stages,
        "checks": result,
        "all_passed": result["all_passed"],
        "seconds": time.time() - t0,
    }


def main(argv=None) -> int:
    return common.experiment_main(  # exact gradients in float64 (the experiment's choice)
        argv, name="gradient_bias", doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        x64=True, outputs=("gradient_bias.png",),
        verdict=lambda s: (s["all_passed"], f"\n{'all checks passed' if s['all_passed'] else 'SOME CHECKS FAILED'} "
                                            f"({s['seconds']:.0f} s)"))

if __name__ == "__main__":
    sys.exit(main())
