"""Non-reversible PT on the reference path: round trips against theory, the adaptive ladder, and
log Z from the ladder (stepping stone) against exact and against AIS at equal cost.

Models (all enumerable, so every log Z has an exact reference; float64):
  * bimodal-16: 16 visible, 1 hidden, W = 6, b = −3, c = −48: two modes (all zeros, all ones)
    of equal mass behind a barrier block Gibbs never crosses; uniform reference;
  * lopsided-12: the same shape at 12 visible with c = 0 (one mode holds nearly all the mass);
  * frustrated-12x6: W ~ N(0, 2.5²), b = −Σ_j W/2, c = −Σ_i W/2; uniform reference;
  * bas4-trained: 16 × 16 trained with PCD-1 on bars-and-stripes 4×4; the data's base-rate reference;
  * gaussian-5x6 and categorical-6x3x6 (random), on their own references.

For each: ``tempering.adapt_ladder`` (n_temps rungs, n_rounds rounds) gives the ladder, its pair
rejections r_i, the barrier Λ = Σ r_i and the measured round-trip rate (per swap phase) beside
Syed et al.'s 1 / (2 + 2 Σ r/(1 − r)) and the refined-ladder limit 1 / (2 + 2Λ); then the adapted
and the evenly spaced ladder run side by side (same n_temps, steps and systems) and their round-trip
rates are compared. On bimodal-16 block Gibbs and reference PT start in one mode and their
mode masses are set beside the exact one. Last, ``tempering.log_partition`` against exact log Z
over many seeds (error, and the coverage of ±2 stderr), beside forward AIS given the same number
of sweeps (AIS: n_runs × (n_betas − 1); stepping stone: n_systems × n_temps × steps, adaptation
included).

Command:
    python experiments/nonreversible_pt.py [--seed 0] [--out DIR] [--quick] [--n-seeds 50]
Writes summary.json, round_trips.png, ladders.png and log_z.png into the run folder.
--quick: fewer rounds and seeds, a smoke test whose figures are not the reproduction.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import common
from rbm_jax import ais, data, exact, gibbs, rbm, tempering, train
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_temps: int = 10
    n_rounds: int = 10
    n_systems: int = 8
    compare_steps: int = 8192  # PT steps of the adapted-vs-even comparison
    ss_steps: int = 2000  # stepping-stone steps after the adaptation
    ss_rounds: int = 8  # the stepping stone's own adaptation rounds
    n_seeds: int = 50  # seeds for error and coverage
    ais_runs: int = 100
    bimodal_steps: int = 4000
    bas_epochs: int = 300  # PCD epochs of the bas4-trained model

    def quick(self) -> "Config":
        """Smoke-test size (--quick): its figures are not the reproduction."""
        return dataclasses.replace(self, n_rounds=5, compare_steps=512, ss_steps=300, ss_rounds=4, n_seeds=4,
                                   ais_runs=16, bimodal_steps=300, bas_epochs=30)


def bimodal(n_visible: int, a: float, symmetric: bool = True) -> RBMParams:
    c = -a * n_visible if symmetric else 0.0
    return RBMParams(jnp.full((n_visible, 1), 2 * a), jnp.full((n_visible,), -a), jnp.full((1,), c))


def models(cfg: Config):
    """(name, params, reference data or None)."""
    key = jax.random.key(1000 + cfg.seed)
    k = jax.random.split(key, 6)
    W = 2.5 * jax.random.normal(k[0], (12, 6))
    frustrated = RBMParams(W, -W.sum(1) / 2, -W.sum(0) / 2)
    X = jnp.asarray(data.bars_and_stripes(4), jnp.float64)
    p0 = rbm.init_params(k[1], 16, 16, data=X, dtype=jnp.float64)
    bas, _ = train.fit(k[2], p0, X, method="pcd", n_epochs=cfg.bas_epochs, batch_size=10,
                       learning_rate=0.05, metrics_every=None)
    gaussian = GaussianRBMParams(0.7 * jax.random.normal(k[3], (5, 6)), jax.random.normal(k[4], (5,)),
                                 jnp.zeros(6), jnp.zeros(5))
    k5, k6 = jax.random.split(k[5])
    categorical = CategoricalRBMParams(1.2 * jax.random.normal(k5, (6, 3, 6)), jax.random.normal(k6, (6, 3)),
                                       jnp.zeros(6))
    return [("bimodal-16", bimodal(16, 3.0), None), ("lopsided-12", bimodal(12, 3.0, symmetric=False), None),
            ("frustrated-12x6", frustrated, None), ("bas4-trained", bas, X), ("gaussian-5x6", gaussian, None),
            ("categorical-6x3x6", categorical, None)]


def trip_counts(params, state):
    """Kept per step: the counters whose differences give a window's rate and rejections."""
    del params
    return state.round_trips, state.n_phases, state.accepted, state.attempted


def round_trips(cfg: Config, name, params, X, key) -> dict:
    t = time.perf_counter()
    ad = tempering.adapt_ladder(key, params, cfg.n_temps, data=X, n_rounds=cfg.n_rounds, n_systems=cfg.n_systems)
    row = {"adapted_betas": ad.betas, "rejection": ad.rejection, "barrier": float(ad.barrier),
           "rate_measured_last_round": float(ad.round_trip_rate), "rate_theory": float(ad.round_trip_rate_theory),
           "rate_limit": float(ad.round_trip_rate_limit), "barrier_history": ad.barrier_history,
           "round_trip_history": ad.round_trip_history}
    start = ad.final.v  # both ladders start from the adaptation's states
    burn = cfg.compare_steps // 8  # direction labels start unknown: count trips only after this
    for label, betas in (("adapted", ad.betas), ("even", gibbs.reference_ladder(cfg.n_temps, jnp.float64))):
        final, counts = gibbs.sample_pt(jax.random.fold_in(key, 7), params, start, cfg.compare_steps + burn,
                                        betas=betas, path="reference", data=X, transform=trip_counts)
        trips, phases, acc, att = (np.asarray(final_c) - np.asarray(c[burn - 1])
                                   for final_c, c in zip((final.round_trips, final.n_phases, final.accepted,
                                                          final.attempted), counts))
        per_system = trips / phases
        rej = 1 - acc.sum(0) / att.sum(0)
        row[f"rate_{label}"] = float(per_system.mean())
        row[f"rate_{label}_stderr"] = float(per_system.std(ddof=1) / np.sqrt(len(per_system)))
        row[f"theory_{label}"] = float(tempering.round_trip_rate_theory(rej))
        row[f"rejection_{label}"] = rej
    row["adapted_over_even"] = row["rate_adapted"] / row["rate_even"]
    row["seconds"] = round(time.perf_counter() - t, 1)
    print(f"  {name:<18} Λ = {row['barrier']:.3f}  rate: adapted {row['rate_adapted']:.4f} ± "
          f"{row['rate_adapted_stderr']:.4f} (theory {row['theory_adapted']:.4f}, limit {row['rate_limit']:.4f}); "
          f"even {row['rate_even']:.4f} (theory {row['theory_even']:.4f}); adapted/even "
          f"{row['adapted_over_even']:.3f}", flush=True)
    return row


def mode_masses(cfg: Config, key) -> dict:
    params = bimodal(16, 3.0)
    states = np.array(list(itertools.product([0.0, 1.0], repeat=16)))
    upper = float(np.asarray(exact.marginal_v_table(params))[states.sum(1) > 8].sum())
    start = jnp.ones((32, 16))
    _, v_gibbs = gibbs.sample_chains(key, params, start, cfg.bimodal_steps, transform=gibbs.keep_v)
    ladder = tempering.adapt_ladder(jax.random.fold_in(key, 1), params, cfg.n_temps, n_rounds=min(cfg.n_rounds, 7))
    _, v_pt = gibbs.sample_pt(jax.random.fold_in(key, 2), params, start, cfg.bimodal_steps, betas=ladder.betas,
                              path="reference")
    out = {"exact_upper_mass": upper, "steps": cfg.bimodal_steps, "chains": 32}
    for label, v in (("gibbs", v_gibbs), ("reference_pt", v_pt)):
        per_chain = (np.asarray(v).sum(-1) > 8).mean(0)
        out[label] = {"upper_mass": float(per_chain.mean()),
                      "stderr": float(per_chain.std(ddof=1) / np.sqrt(len(per_chain))),
                      "chains_that_visited_both": int(np.sum((per_chain > 0) & (per_chain < 1)))}
    print(f"  bimodal-16, every chain started in the upper mode, {cfg.bimodal_steps} steps: exact upper mass "
          f"{upper:.4f}; block Gibbs {out['gibbs']['upper_mass']:.4f} ({out['gibbs']['chains_that_visited_both']}/32 "
          f"chains crossed); reference PT {out['reference_pt']['upper_mass']:.4f} ± {out['reference_pt']['stderr']:.4f}",
          flush=True)
    return out


def log_z(cfg: Config, name, params, X, key) -> dict:
    truth = float(exact.log_partition(params))
    ss, ais_est = [], []
    t = time.perf_counter()
    for s in range(cfg.n_seeds):
        k = jax.random.fold_in(key, s)
        r = tempering.log_partition(k, params, n_temps=cfg.n_temps, data=X, n_steps=cfg.ss_steps,
                                    n_systems=cfg.n_systems, n_rounds=cfg.ss_rounds)
        ss.append((float(r.log_z), float(r.stderr), float(r.log_z_reverse), float(r.stderr_reverse)))
        sweeps = int(r.n_sweeps)
    t_ss = time.perf_counter() - t
    n_betas = sweeps // cfg.ais_runs + 1  # the same number of sweeps
    t = time.perf_counter()
    for s in range(cfg.n_seeds):
        a = ais.log_partition(jax.random.fold_in(key, 10_000 + s), params, n_runs=cfg.ais_runs, n_betas=n_betas,
                              data=X)
        ais_est.append((float(a.log_z), float(a.stderr)))
    t_ais = time.perf_counter() - t
    ss, ais_est = np.array(ss), np.array(ais_est)

    def stats(est, se):
        err = est - truth
        return {"mean_error": float(err.mean()), "rmse": float(np.sqrt(np.mean(err**2))),
                "mean_stderr": float(se.mean()), "coverage_2se": float(np.mean(np.abs(err) <= 2 * se)),
                "coverage_1se": float(np.mean(np.abs(err) <= se))}

    row = {"exact": truth, "sweeps": sweeps, "ais_n_betas": n_betas, "ais_runs": cfg.ais_runs,
           "stepping_stone": stats(ss[:, 0], ss[:, 1]), "stepping_stone_reverse": stats(ss[:, 2], ss[:, 3]),
           "ais": stats(ais_est[:, 0], ais_est[:, 1]), "seconds_ss": round(t_ss, 1), "seconds_ais": round(t_ais, 1),
           "errors_ss": ss[:, 0] - truth, "stderr_ss": ss[:, 1], "errors_ais": ais_est[:, 0] - truth,
           "stderr_ais": ais_est[:, 1]}
    s, a = row["stepping_stone"], row["ais"]
    print(f"  {name:<18} exact {truth:.4f}; {sweeps:,} sweeps; stepping stone RMSE {s['rmse']:.4f} (mean SE "
          f"{s['mean_stderr']:.4f}, ±2SE coverage {s['coverage_2se']:.2f}); AIS ({cfg.ais_runs} runs × {n_betas} β) "
          f"RMSE {a['rmse']:.4f} (mean SE {a['mean_stderr']:.4f}, coverage {a['coverage_2se']:.2f})", flush=True)
    return row


def run(cfg: Config, out) -> dict:
    t0 = time.perf_counter()
    print(f"{cfg.n_temps} rungs, {cfg.n_rounds} rounds of adaptation, {cfg.n_systems} systems (float64)")
    ms = models(cfg)
    key = jax.random.key(cfg.seed)
    print(f"round trips per swap phase (measured over {cfg.compare_steps} steps × {cfg.n_systems} systems, after "
          f"adaptation and {cfg.compare_steps // 8} steps more):")
    trips = {name: round_trips(cfg, name, p, X, jax.random.fold_in(key, i)) for i, (name, p, X) in enumerate(ms)}
    print("mixing between modes:")
    modes = mode_masses(cfg, jax.random.fold_in(key, 100))
    print(f"log Z over {cfg.n_seeds} seeds, stepping stone against forward AIS at equal cost:")
    logz = {name: log_z(cfg, name, p, X, jax.random.fold_in(key, 200 + i)) for i, (name, p, X) in enumerate(ms)}
    plot(trips, logz, out)
    return {"config": dataclasses.asdict(cfg), "round_trips": trips, "bimodal": modes, "log_z": logz,
            "seconds": round(time.perf_counter() - t0, 1)}


def plot(trips, logz, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(trips)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(names))
    for off, key, label in ((-0.27, "rate_adapted", "measured, adapted ladder"), (-0.09, "theory_adapted",
                            "theory 1/(2+2Σr/(1−r)), adapted"), (0.09, "rate_limit", "limit 1/(2+2Λ)"),
                            (0.27, "rate_even", "measured, evenly spaced ladder")):
        ax.bar(x + off, [trips[n][key] for n in names], width=0.18, label=label)
    ax.set_xticks(x, names, rotation=20, fontsize=8)
    ax.set_ylabel("round trips per swap phase")
    ax.set_title("Non-reversible PT on the reference path: round-trip rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "round_trips.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for n in names:
        b = np.asarray(trips[n]["adapted_betas"])
        axes[0].plot(np.arange(len(b)), b, "o-", ms=3, label=n)
        lam = np.concatenate([[0], np.cumsum(np.asarray(trips[n]["rejection"])[::-1])])
        axes[1].plot(b[::-1], lam, "o-", ms=3, label=n)
    axes[0].plot(np.arange(len(b)), np.linspace(1, 0, len(b)), "k--", lw=1, label="evenly spaced")
    axes[0].set_xlabel("rung")
    axes[0].set_ylabel("β")
    axes[0].set_title("adapted ladders")
    axes[1].set_xlabel("β")
    axes[1].set_ylabel("cumulative barrier Λ(β)")
    axes[1].set_title("equal rejection: equal steps of Λ")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "ladders.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, n in enumerate(logz):
        r = logz[n]
        for off, key, se, color in ((-0.15, "errors_ss", "stderr_ss", "C0"), (0.15, "errors_ais", "stderr_ais", "C1")):
            e = np.asarray(r[key])
            ax.plot(np.full(len(e), i + off), e, ".", color=color, alpha=0.5)
    ax.plot([], [], ".", color="C0", label="stepping stone (tuned ladder)")
    ax.plot([], [], ".", color="C1", label="forward AIS, same number of sweeps")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(logz)), list(logz), rotation=20, fontsize=8)
    ax.set_ylabel("log Ẑ − log Z (nats), one dot per seed")
    ax.set_title("log Z from the ladder against exact")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "log_z.png", dpi=110)
    plt.close(fig)


def add_arguments(p) -> None:
    p.add_argument("--n-seeds", type=int, default=None,
                   help=f"seeds for log Z error and coverage (default {Config.n_seeds}; --quick 4)")


def configure(cfg: Config, args) -> Config:
    if args.n_seeds is None:
        return cfg
    if args.n_seeds < 2:
        raise SystemExit(f"error: --n-seeds must be at least 2 (a coverage), got {args.n_seeds}")
    return dataclasses.replace(cfg, n_seeds=args.n_seeds)


def main(argv=None) -> int:
    return common.experiment_main(
        argv, name="nonreversible_pt", doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        outputs=("round_trips.png", "ladders.png", "log_z.png"), x64=True, add_arguments=add_arguments,
        configure=configure, verdict=lambda s: (True, f"({s['seconds']:.0f} s)"))


if __name__ == "__main__":
    sys.exit(main())
