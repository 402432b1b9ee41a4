"""Centered gradients against plain ones on PyDeep's trainer test (bars-and-stripes 2×2).

PyDeep (Melchior's library; "How to center deep Boltzmann machines", JMLR 2016) tests its
trainers on bars-and-stripes 2×2 with the two constant images doubled (8 rows, optimum
average log-likelihood −1.732867951): a 4 visible × 4 hidden binary RBM, full batch, plain
SGD (no momentum), weights U(±4·√(6/8)), visible biases the logit of the data mean, hidden
biases 0. Its bars on |LL − optimum|: plain CD 0.4, centered CD 0.2; plain PCD 0.9, centered
PCD 0.3; centered PT 0.2.

Here every configuration runs 3 seeds at once (``train.fit_many``; seed s draws the weights
and the sampling from ``key(seed + s)``) and reports the median over seeds of |LL − optimum|
with the exact log-likelihood over all 8 rows at the last epoch:

  * CD-1, learning rate 0.1, 10,000 epochs; offset rate 1.0 for 'data', 0.1 for the others;
  * PCD with 8 chains and k = 2, learning rate 0.01, 20,000 epochs, offset rate 0.1;
  * PT with 10 temperatures (the default geometric ladder 1 → 0.1), learning rate 0.1,
    5,000 epochs, offset rate 0.1;

each plain (``centering=None``) and centered with 'data', 'model' and 'average' offsets.

Command:
    python experiments/centering.py [--seed 0] [--out DIR] [--quick] [--n-seeds 3] [--estimators cd,pcd,pt]
Writes summary.json and centering.png (median |LL − optimum| against epochs) into the run
folder. --quick runs a tenth of the epochs: a smoke test, its figures are not the
reproduction.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
from rbm_jax import data, estimators, train
from rbm_jax.types import RBMParams

OPTIMUM = -1.732867951
PYDEEP_BARS = {("cd", None): 0.4, ("cd", "centered"): 0.2, ("pcd", None): 0.9, ("pcd", "centered"): 0.3,
               ("pt", "centered"): 0.2}
MODES = (None, "data", "model", "average")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_seeds: int = 3
    cd_epochs: int = 10_000
    pcd_epochs: int = 20_000
    pt_epochs: int = 5_000
    curve_points: int = 50  # evaluations per run (the exact likelihood; the last epoch always)
    estimators: tuple = ("cd", "pcd", "pt")

    def quick(self) -> "Config":
        """Smoke-test size (--quick): seconds, not minutes."""
        return dataclasses.replace(self, cd_epochs=1_000, pcd_epochs=2_000, pt_epochs=500, curve_points=10)


def initial_params(key, X) -> RBMParams:
    """PyDeep's initialisation: W ~ U(±4·√(6/(n_v + n_h))), b = logit(data mean), c = 0."""
    n_v, n_h = X.shape[1], 4
    bound = 4 * np.sqrt(6 / (n_v + n_h))
    W = jax.random.uniform(key, (n_v, n_h), jnp.float32, -bound, bound)
    mean = np.clip(X.mean(axis=0), 1e-3, 1 - 1e-3)
    return RBMParams(W, jnp.asarray(np.log(mean / (1 - mean)), jnp.float32), jnp.zeros((n_h,), jnp.float32))


def settings(cfg: Config):
    """(name, method, learning rate, epochs, offset rate for 'data', for the others)."""
    return [
        ("cd", train.cd(1), 0.1, cfg.cd_epochs, 1.0, 0.1),
        ("pcd", train.pcd(2, n_chains=8), 0.01, cfg.pcd_epochs, 0.1, 0.1),
        ("pt", train.pt(1, estimators.default_ladder()), 0.1, cfg.pt_epochs, 0.1, 0.1),
    ]


def run(cfg: Config, out) -> dict:
    X = data.bars_and_stripes(2, double_constant=True)
    assert X.shape == (8, 4)
    keys = jnp.stack([jax.random.key(cfg.seed + s) for s in range(cfg.n_seeds)])
    params = jax.vmap(lambda k: initial_params(jax.random.fold_in(k, 1), X))(keys)
    results, curves = {}, {}
    t0 = time.perf_counter()
    for name, method, lr, epochs, rate_data, rate_other in settings(cfg):
        if name not in cfg.estimators:
            continue
        for mode in MODES:
            rate = rate_data if mode == "data" else rate_other
            t = time.perf_counter()
            _, hist = train.fit_many(keys, params, X, method=method, n_epochs=epochs, batch_size=8,
                                     optimizer=optax.sgd(lr), metrics_every=max(1, epochs // cfg.curve_points),
                                     exact_likelihood=True, centering=mode, centering_rate=rate)
            ll = hist["log_likelihood"]  # [n_seeds, n_epochs], NaN between evaluations
            gap = np.abs(ll[:, -1] - OPTIMUM)
            label = "plain" if mode is None else f"centered '{mode}'"
            results[f"{name} {label}"] = {
                "estimator": name, "centering": mode, "offset_rate": None if mode is None else rate,
                "learning_rate": lr, "epochs": epochs, "final_ll": ll[:, -1].tolist(),
                "abs_gap_per_seed": gap.tolist(), "median_abs_gap": float(np.median(gap)),
                "seconds": round(time.perf_counter() - t, 2)}
            ok = ~np.isnan(ll[0])
            curves[f"{name} {label}"] = (np.asarray(hist["epoch"][0])[ok], np.median(np.abs(ll[:, ok] - OPTIMUM), 0))
            bar = PYDEEP_BARS.get((name, None if mode is None else "centered"))
            print(f"  {name:>3} {label:<18} median |LL − opt| = {np.median(gap):.4f}"
                  f"{'' if bar is None else f'  (PyDeep bar {bar})'}  seeds {np.round(gap, 4).tolist()}", flush=True)
    plot(curves, out)
    return {"config": dataclasses.asdict(cfg), "optimum": OPTIMUM, "pydeep_bars": {
        f"{k[0]} {k[1] or 'plain'}": v for k, v in PYDEEP_BARS.items()}, "results": results,
        "seconds": round(time.perf_counter() - t0, 1),
        "quick": dataclasses.replace(cfg, n_seeds=3, estimators=Config.estimators) != Config(seed=cfg.seed)}


def plot(curves, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({label.split(" ", 1)[0] for label in curves}, key=("cd", "pcd", "pt").index)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.2), squeeze=False)
    for ax, est in zip(axes[0], names):
        for label, (epochs, gap) in curves.items():
            if label.startswith(est + " "):
                ax.semilogy(epochs, gap, "-o" if len(epochs) == 1 else "-", ms=3, label=label.split(" ", 1)[1])
        ax.set_title(f"{est.upper()}: bars-and-stripes 2×2 (8 rows)")
        ax.set_xlabel("epochs (full-batch updates)")
        ax.set_ylabel("median over seeds of |LL − optimum| (nats)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "centering.png", dpi=110)
    plt.close(fig)


def add_arguments(p) -> None:
    p.add_argument("--n-seeds", type=int, default=Config.n_seeds,
                   help=f"seeds per configuration (default {Config.n_seeds})")
    p.add_argument("--estimators", default=",".join(Config.estimators),
                   help=f"comma-separated subset of {','.join(Config.estimators)}")


def configure(cfg: Config, args) -> Config:
    estimators = tuple(e.strip() for e in args.estimators.split(",") if e.strip())
    bad = [e for e in estimators if e not in Config.estimators]
    if args.n_seeds < 1:
        raise SystemExit(f"error: --n-seeds must be at least 1, got {args.n_seeds}")
    if bad or not estimators:
        raise SystemExit(f"error: --estimators: choose from {','.join(Config.estimators)}; got {args.estimators!r}")
    return dataclasses.replace(cfg, n_seeds=args.n_seeds, estimators=estimators)


def main(argv=None) -> int:
    return common.experiment_main(
        argv, name="centering", doc=__doc__, config_cls=Config, run=lambda cfg, out, args: run(cfg, out),
        outputs=("centering.png",), add_arguments=add_arguments, configure=configure,
        verdict=lambda s: (True, f"({s['seconds']:.0f} s)"))

if __name__ == "__main__":
    sys.exit(main())
