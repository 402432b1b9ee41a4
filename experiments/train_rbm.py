"""Train RBMs on a named data set with CD-1, PCD-1 and/or parallel tempering; measure the likelihood.

Configs (``--config``; every setting is listed below, generated from the configs):
  bas4    bars-and-stripes 4×4 (30 patterns), CD-1 vs PCD-1 vs PT (fixed geometric
          ladder) vs pt-adaptive (PT on the reference path from the data's base-rate model,
          non-reversible swaps, ladder re-tuned every pt_adapt_every epochs), exact
          log-likelihood; the optimum is −ln 30 ≈ −3.401.
  modes   the 4-mode 4×4 data set of Desjardins et al. (2010), CD-1 vs PCD-1 vs PT vs
          pt-adaptive; exact log-likelihood; the optimum is minus the entropy of the
          generating distribution.
  digits  scikit-learn's nudged digits (grey values, min-max scaled as in its RBM example),
          PCD-1 with plain SGD at scikit-learn's example settings; pseudo-likelihood on a
          random 1,000-row subset of the training rows (history key
          pseudo_log_likelihood_subset1000), free-energy gap over all rows.
          (experiments/digits_vs_sklearn.py runs scikit-learn beside it.)

Commands (each writes into {out} unless --out is given):
    python experiments/train_rbm.py --config bas4
    python experiments/train_rbm.py --config modes
    python experiments/train_rbm.py --config digits
    python experiments/train_rbm.py --resume DIR                 # continue a stopped run
    python experiments/train_rbm.py --resume DIR --epochs N      # extend a run to N epochs in all
    python experiments/train_rbm.py --config modes --devices 4   # data-parallel over 4 devices
--resume continues the run with its saved settings (config.json): --config, --seed,
--quick, --methods and --centering are refused when they differ from them, as are
--overwrite and an --out other than DIR; --epochs N (at least the saved number)
extends the run, finished or not, and config.json then records N. --overwrite replaces an earlier
train_rbm run in --out (its results are deleted first, so none survives stale), and
refuses a folder holding files that this script did not write, naming them.
With --devices N each minibatch and the persistent chains are sharded over N devices
(simulated on a CPU-only machine) and the statistics all-reduced: the same run to
rounding. N must divide the batch size (and the number of persistent chains).
Expected (bas4, recorded in the README): PT gets closest to −ln 30; CD-1 and PCD-1 stall
or oscillate below it. The exact log-likelihood is over all training rows, every
metrics_every epochs. Training stops with an error if it diverges (train.fit's guard);
the last checkpoint stays the last good one. Per method the run folder holds
metrics.jsonl (one line per evaluated epoch), checkpoint.npz (every checkpoint_every
epochs, atomic; --resume continues it and ends bit-identical to an uninterrupted run),
params.npz; at the top: likelihood.png, filters.png, samples.png (long Gibbs chains of
the best model), config.json, summary.json. A --quick run is a smoke test: its figures
are labelled as such and mean nothing about the methods.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys
import time

import common

common.simulate_cpu_devices()  # before JAX is imported: --devices N on a CPU-only machine

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from rbm_jax import checkpoint, data, exact, gibbs, rbm, train  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    dataset: str
    n_hidden: int
    methods: tuple
    n_epochs: int
    batch_size: int
    learning_rate: float
    momentum: float = 0.0  # plain SGD (0) or SGD with this momentum
    weight_decay: float = 0.0
    weight_scale: float = 0.01
    k: int = 1
    n_chains: int | None = None  # persistent chains (PCD) / PT systems; default batch_size
    pt_rungs: int = 10
    pt_beta_min: float = 0.1
    pt_adapt_every: int = 10  # pt-adaptive: epochs between re-tunings of its ladder
    metrics_every: int = 10
    checkpoint_every: int = 100
    held_out_fraction: float = 0.0
    sample_chains: int = 10
    sample_sweeps: int = 1000
    seed: int = 0
    centering: str | None = None  # centered gradients: None, "data", "model" or "average" (train.fit)
    centering_rate: float = 0.1

    @property
    def betas(self) -> tuple:
        return tuple(float(b) for b in gibbs.geometric_ladder(self.pt_rungs, self.pt_beta_min))

    def quick(self) -> "Config":
        """Smoke-test size (--quick): a few seconds per method."""
        epochs = {"bas4": 200, "modes": 4, "digits": 1}[self.dataset]
        return dataclasses.replace(self, n_epochs=epochs, metrics_every=max(1, epochs // 4),
                                   checkpoint_every=max(1, epochs // 2), sample_sweeps=50, pt_rungs=4)


#: The methods: train.fit's estimators, and 'pt-adaptive' — PT on the reference path (from the data's
#: base-rate model at β = 0) with non-reversible swaps and a ladder re-tuned every pt_adapt_every epochs
#: so that its pairs reject equally often (rbm_jax.tempering; train.pt(betas='adaptive', path='reference')).
METHODS = train.METHODS + ("pt-adaptive",)

CONFIGS = {
    "bas4": Config(name="bas4", dataset="bas4", n_hidden=16, methods=("cd", "pcd", "pt", "pt-adaptive"),
                   n_epochs=20_000, batch_size=10, learning_rate=0.01, weight_scale=0.1, metrics_every=200,
                   checkpoint_every=2000, pt_adapt_every=100),
    "modes": Config(name="modes", dataset="modes", n_hidden=10, methods=("cd", "pcd", "pt", "pt-adaptive"),
                    n_epochs=100, batch_size=100, learning_rate=0.05, weight_scale=0.1, metrics_every=2,
                    checkpoint_every=20, pt_adapt_every=5),
    "digits": Config(name="digits", dataset="digits", n_hidden=100, methods=("pcd",), n_epochs=10,
                     batch_size=10, learning_rate=0.06, metrics_every=1, checkpoint_every=2,
                     held_out_fraction=0.2),
}


def load(cfg: Config):
    """(train, held_out or None, optimum log-likelihood or None, image shape)."""
    if cfg.dataset == "bas4":
        X = data.bars_and_stripes(4)
        return X, None, data.bars_and_stripes_optimal_log_likelihood(4), (4, 4)
    if cfg.dataset == "modes":
        X = data.four_modes(10_000, flip_prob=0.001, seed=cfg.seed)
        return X, None, -data.four_modes_entropy(0.001), (4, 4)
    if cfg.dataset == "digits":
        X, y = data.digits(nudge=True)
        train_rows, test_rows = data.train_test_split(X, test_fraction=cfg.held_out_fraction, seed=cfg.seed)
        return train_rows, test_rows, None, (8, 8)
    raise ValueError(f"unknown dataset {cfg.dataset!r}")


def train_config(cfg: Config, method: str) -> train.TrainConfig:
    optimizer = optax.sgd(cfg.learning_rate, momentum=cfg.momentum or None)
    n_chains = cfg.n_chains
    if method == "pt-adaptive":
        method = train.pt(cfg.k, "adaptive", cfg.n_chains, path="reference", n_temps=cfg.pt_rungs,
                          adapt_every=cfg.pt_adapt_every)
        n_chains = None  # the estimator value carries it
    return train.TrainConfig(
        method=method, k=cfg.k, batch_size=cfg.batch_size, n_chains=n_chains,
        betas=cfg.betas if method == "pt" else None, optimizer=optimizer,
        metrics_every=cfg.metrics_every,
        exact_likelihood=cfg.dataset in ("bas4", "modes"),
        centering=cfg.centering, centering_rate=cfg.centering_rate,
    )


def _clean(x):
    x = float(x)
    return None if math.isnan(x) else x


def run_method(cfg: Config, method: str, X, held_out, folder: pathlib.Path, *, resume: bool, show: bool,
               mesh=None):
    """Trains one method, writing metrics.jsonl and checkpoints; returns (params, history, seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    tcfg = train_config(cfg, method)
    key_init, key_train = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), cfg.methods.index(method)))
    p0 = rbm.init_params(key_init, X.shape[1], cfg.n_hidden, data=X, weight_scale=cfg.weight_scale)
    try:  # the rate lives in tcfg.optimizer; a mesh lays the state out over its devices
        state = train.init_state(key_train, p0, X, tcfg, mesh=mesh)
    except ValueError as err:  # e.g. --devices that does not divide the batch size
        raise SystemExit(f"error: {method}: {err}") from None
    ckpt, jsonl = folder / "checkpoint.npz", folder / "metrics.jsonl"
    stamp = {"config": dataclasses.asdict(cfg), "method": method}
    done_epochs, seconds = 0, 0.0
    if resume and ckpt.exists():
        # A run extended by --epochs N restores a checkpoint stamped with the shorter n_epochs.
        stored = checkpoint.load_config(ckpt)
        same = (isinstance(stored, dict) and isinstance(stored.get("config"), dict)
                and _as_json({**stored, "config": {**stored["config"], "n_epochs": cfg.n_epochs}}) == _as_json(stamp))
        state = checkpoint.restore(ckpt, like=state, config=stored if same else stamp)
        done_epochs = int(state.step) // (X.shape[0] // cfg.batch_size)
        # Keep only the metrics the checkpoint has seen; later lines are recomputed.
        lines = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
        lines = [r for r in lines if r["epoch"] <= done_epochs]
        seconds = lines[-1]["time_s"] if lines else 0.0
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in lines))
        print(f"  {method}: resuming at epoch {done_epochs} from {ckpt}")
    elif jsonl.exists():
        jsonl.unlink()  # a fresh run in a folder we own (the caller refused foreign ones)

    progress = common.Progress(cfg.n_epochs, f"  {method:>3}", enabled=show, start=done_epochs)
    progress.update(done_epochs)
    t0 = time.perf_counter() - seconds
    # Chunks end on every metrics and checkpoint epoch; the host waits only there.
    chunk = math.gcd(cfg.metrics_every, cfg.checkpoint_every)
    written, last_time = done_epochs, seconds

    def callback(done, st, hist):
        nonlocal written, last_time
        now = time.perf_counter() - t0
        first = written
        with jsonl.open("a") as f:
            for i in range(len(hist["epoch"])):
                e = int(hist["epoch"][i])
                if e <= written:
                    continue
                # Wall time (compilation included), spread evenly over the chunk's epochs.
                t_e = last_time + (now - last_time) * (e - first) / max(1, done_epochs + done - first)
                row = {"epoch": e, "time_s": round(t_e, 4)}
                for name, values in hist.items():
                    if name != "epoch":
                        v = np.asarray(values[i])
                        row[name] = [_clean(x) for x in v] if v.ndim else _clean(v)
                f.write(json.dumps(row) + "\n")
                written = e
        last_time = now
        epoch = done_epochs + done
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.n_epochs:
            checkpoint.save(ckpt, st, config=stamp, overwrite=True)
        ll = hist[monitored(cfg, X)]
        last = ll[~np.isnan(ll)]
        progress.update(epoch, **({"ll": float(last[-1])} if last.size else {}))

    try:
        if done_epochs < cfg.n_epochs:  # a finished run resumed without --epochs has nothing left to train
            state, _ = train.resume(state, X, cfg.n_epochs - done_epochs, tcfg,
                                    weight_decay=cfg.weight_decay, held_out=held_out, callback=callback,
                                    chunk_epochs=chunk, mesh=mesh)
    except train.DivergenceError as err:  # raised before the callback saw the diverged state
        progress.close()
        kept = f"; {ckpt} holds the last good checkpoint" if ckpt.exists() else ""
        raise SystemExit(f"error: {method}: {err}{kept}") from err
    progress.close()
    checkpoint.save(folder / "params.npz", state.params, config=stamp, overwrite=True)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    history = {name: np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=float)
               for name in rows[0] if not isinstance(rows[0][name], list)}
    return state.params, history, time.perf_counter() - t0


def _as_json(x):
    return json.loads(json.dumps(x))


def tiles(images: np.ndarray, shape, n_cols: int) -> np.ndarray:
    """[n, H*W] -> one [rows*(H+1), n_cols*(W+1)] image with 1-pixel gaps (NaN)."""
    h, w = shape
    n_rows = math.ceil(images.shape[0] / n_cols)
    canvas = np.full((n_rows * (h + 1), n_cols * (w + 1)), np.nan)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img.reshape(h, w)
    return canvas


def monitored(cfg: Config, X) -> str:
    """The history key plotted and summarised: the exact log-likelihood, or the pseudo-likelihood's key."""
    if cfg.dataset in ("bas4", "modes"):
        return "log_likelihood"
    return train.pseudo_likelihood_key(X.shape[0], train.TrainConfig().pseudo_likelihood_rows)


def metric_label(metric: str) -> str:
    if metric == "log_likelihood":
        return "exact average log-likelihood (all training rows)"
    rows = metric.removeprefix("pseudo_log_likelihood_subset")
    return f"pseudo-log-likelihood ({'all training rows' if rows == metric else f'random {rows}-row subset'})"


def line_style(n_points: int) -> dict:
    """Matplotlib style of a likelihood curve: markers when there are too few points for a line."""
    return {"marker": "o", "ms": 4} if n_points < 5 else {}


def plots(cfg, results, optimum, image_shape, out: pathlib.Path, best_method: str, metric: str,
          quick: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for method, (_, hist, _) in results.items():
        ok = ~np.isnan(hist[metric])
        label = train_config(cfg, method).estimator.label
        style = line_style(int(ok.sum()))
        axes[0].plot(hist["epoch"][ok], hist[metric][ok], label=label, **style)
        axes[1].plot(hist["time_s"][ok], hist[metric][ok], label=label, **style)
    for ax, xlabel in zip(axes, ("epoch", "wall time (s, this machine, compilation included)")):
        if optimum is not None:
            ax.axhline(optimum, color="k", ls="--", lw=0.8, label=f"optimum {optimum:.3f}")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(metric_label(metric))
    axes[0].set_title(f"{cfg.name}: {cfg.n_hidden} hidden units" + ("\n" + common.SMOKE if quick else ""),
                      fontsize=10)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out / "likelihood.png", dpi=120)
    plt.close(fig)

    params = results[best_method][0]
    W = np.asarray(params.W).T[:100]
    fig, ax = plt.subplots(figsize=(6, 6 * math.ceil(len(W) / 10) / 10 + 0.5))
    ax.imshow(tiles(W, image_shape, 10), cmap="RdBu_r", vmin=-np.abs(W).max(), vmax=np.abs(W).max())
    ax.set_axis_off()
    ax.set_title(f"{best_method}: filters (columns of W)")
    fig.savefig(out / "filters.png", dpi=120, bbox_inches="tight")
    plt.close(fig)

    n_snap = 10
    v0 = jax.random.bernoulli(jax.random.key(cfg.seed + 1), 0.5, (cfg.sample_chains, params.n_visible))
    _, trace = gibbs.sample_chains(jax.random.key(cfg.seed + 2), params, v0.astype(params.dtype),
                                   cfg.sample_sweeps, thin=max(1, cfg.sample_sweeps // n_snap),
                                   transform=gibbs.keep_v)
    snaps = np.asarray(trace)[:n_snap].transpose(1, 0, 2).reshape(-1, params.n_visible)
    fig, ax = plt.subplots(figsize=(6, 6 * cfg.sample_chains / n_snap + 0.5))
    ax.imshow(tiles(snaps, image_shape, n_snap), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(f"block Gibbs on the {best_method}-trained model: {cfg.sample_chains} chains (rows), "
                 f"every {cfg.sample_sweeps // n_snap} sweeps", fontsize=9)
    fig.savefig(out / "samples.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def check_mesh(cfg: Config, mesh) -> None:
    """--devices must divide the minibatch and the persistent chains, which it shards."""
    if mesh is None:
        return
    from rbm_jax import sharding

    for n, name in ((cfg.batch_size, "batch_size"), (cfg.n_chains, "n_chains")):
        if n is not None:
            try:
                sharding.check_divisible(n, mesh, f"the config's {name}")
            except ValueError as err:
                raise SystemExit(f"error: --devices: {err}") from None


def was_quick(cfg: Config) -> bool:
    """Whether a saved config is its named config's --quick form (seed, methods, epochs, centering aside)."""
    if cfg.name not in CONFIGS:
        return False
    mine = ("seed", "methods", "n_epochs", "centering")
    strip = lambda c: {k: v for k, v in dataclasses.asdict(c).items() if k not in mine}  # noqa: E731
    return strip(cfg) == strip(CONFIGS[cfg.name].quick())


def resumed_config(args, folder: pathlib.Path) -> Config:
    """The saved run's config, with --epochs applied; refuses flags that conflict with the saved run."""
    if not (folder / "config.json").exists():
        raise SystemExit(f"error: --resume {folder}: no config.json there (not a train_rbm run)")
    saved = json.loads((folder / "config.json").read_text())
    saved["methods"] = tuple(saved["methods"])
    cfg = Config(**saved)
    conflicts = []
    if args.out is not None and pathlib.Path(args.out).resolve() != folder.resolve():
        conflicts.append(f"--out {args.out} (the run's folder is {folder})")
    if args.overwrite:
        conflicts.append("--overwrite (it would discard the run being resumed)")
    if args.config is not None and args.config != cfg.name:
        conflicts.append(f"--config {args.config} (the run is {cfg.name})")
    if args.seed is not None and args.seed != cfg.seed:
        conflicts.append(f"--seed {args.seed} (the run's seed is {cfg.seed})")
    if args.quick and not was_quick(cfg):
        conflicts.append("--quick (the run was not made with --quick)")
    if args.methods is not None and parse_methods(args.methods) != cfg.methods:
        conflicts.append(f"--methods {args.methods} (the run's are {','.join(cfg.methods)})")
    if args.centering is not None and args.centering != cfg.centering:
        conflicts.append(f"--centering {args.centering} (the run's is {cfg.centering})")
    if conflicts:
        raise SystemExit(f"error: --resume {folder} continues the saved run with its own settings; "
                         f"these flags conflict with it: {'; '.join(conflicts)}")
    if args.epochs is not None:
        n = common_positive(args.epochs, "--epochs")
        if n < cfg.n_epochs:
            raise SystemExit(f"error: --epochs {n}: the run in {folder} is set to {cfg.n_epochs} epochs; "
                             f"--epochs with --resume extends a run and cannot shorten it")
        cfg = dataclasses.replace(cfg, n_epochs=n)
    return cfg


def parse_methods(text: str) -> tuple:
    methods = tuple(m.strip() for m in text.split(","))
    if not text.strip() or not all(methods):
        raise SystemExit(f"error: --methods: give a comma-separated list from {METHODS}, got {text!r}")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise SystemExit(f"error: --methods: unknown {bad}; choose from {METHODS}")
    return methods


def outputs() -> tuple:
    """What a train_rbm run writes (fnmatch patterns below the run folder): --overwrite deletes only these."""
    methods = sorted(set(METHODS) | {m for c in CONFIGS.values() for m in c.methods})
    per_method = ("metrics.jsonl", "checkpoint.npz", "params.npz", ".*.tmp")
    return (("likelihood.png", "filters.png", "samples.png")
            + tuple(f"{m}/{name}" for m in methods for name in per_method))


def build_parser():
    p = common.parser(__doc__.replace("{out}", common.default_out("train_rbm/<config>"))
                      + common.settings_text(configs=CONFIGS), Config, "train_rbm/<config>")
    p.add_argument("--config", choices=sorted(CONFIGS), help="named configuration")
    p.add_argument("--methods", help="comma-separated subset of the config's methods, e.g. cd,pt")
    p.add_argument("--epochs", type=int, help="override the number of epochs (with --resume: extend the run to it)")
    p.add_argument("--resume", type=pathlib.Path, help="continue the run in this folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--centering", choices=train.CENTERINGS,
                   help="centered gradients with these offsets (binary models; default: plain)")
    common.add_devices_argument(p)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Every argument is checked before anything is computed or written.
    if args.resume is not None:
        folder = args.resume
        cfg = resumed_config(args, folder)
        mesh = common.mesh_of(args.devices)
        check_mesh(cfg, mesh)
        common.check_out(folder)
        out = folder
        common.write_json(out / "config.json", dataclasses.asdict(cfg))  # --epochs N: the run now ends at N
    else:
        if args.config is None:
            raise SystemExit("error: give --config (bas4, modes, digits) or --resume DIR")
        common.check_args(args, Config)  # --seed, --out
        cfg = dataclasses.replace(CONFIGS[args.config], seed=args.seed)
        if args.quick:
            cfg = cfg.quick()
        if args.methods is not None:
            cfg = dataclasses.replace(cfg, methods=parse_methods(args.methods))
        if args.epochs is not None:
            cfg = dataclasses.replace(cfg, n_epochs=common_positive(args.epochs, "--epochs"))
        if args.centering is not None:
            cfg = dataclasses.replace(cfg, centering=args.centering)
        mesh = common.mesh_of(args.devices)
        check_mesh(cfg, mesh)  # before the run folder is made
        out = common.output_dir(args.out, f"train_rbm/{cfg.name}", overwrite=args.overwrite, outputs=outputs())
        common.write_json(out / "config.json", dataclasses.asdict(cfg))
    quick = was_quick(cfg)

    X, held_out, optimum, image_shape = load(cfg)
    print(f"{cfg.name}: {X.shape[0]} rows × {X.shape[1]} visible, {cfg.n_hidden} hidden; "
          f"methods {', '.join(cfg.methods)}; {cfg.n_epochs} epochs; out {out}{common.smoke(quick)}")
    results = {}
    for method in cfg.methods:
        results[method] = run_method(cfg, method, X, held_out, out / method,
                                     resume=args.resume is not None, show=not args.no_progress, mesh=mesh)

    metric = monitored(cfg, X)
    summary = {"config": dataclasses.asdict(cfg), "optimum": optimum, "metric": metric_label(metric),
               "quick": quick, "methods": {}}
    if quick:
        summary["note"] = f"{common.SMOKE}: {cfg.n_epochs} epochs of a --quick run test the code, not the methods"
    for method, (params, hist, seconds) in results.items():
        values = hist[metric]
        ok = ~np.isnan(values)
        entry = {
            "final_" + metric: float(values[ok][-1]),
            "best_" + metric: float(values[ok].max()),
            "best_epoch": int(hist["epoch"][ok][np.argmax(values[ok])]),
            "seconds": round(seconds, 2),
        }
        if metric == "log_likelihood":
            entry["final_log_likelihood_exact_check"] = float(exact.log_likelihood(params, X))
        if "free_energy_gap" in hist:
            entry["final_free_energy_gap"] = float(hist["free_energy_gap"][ok][-1])
        summary["methods"][method] = entry
        print(f"  {method:>3}: final {metric} {entry['final_' + metric]:.4f}, best "
              f"{entry['best_' + metric]:.4f} at epoch {entry['best_epoch']}  ({seconds:.1f} s){common.smoke(quick)}")
    if optimum is not None:
        print(f"  optimum {optimum:.4f}")
    best = max(summary["methods"], key=lambda m: summary["methods"][m]["final_" + metric])
    plots(cfg, results, optimum, image_shape, out, best, metric, quick=quick)
    common.write_json(out / "summary.json", summary)
    print(f"wrote {out}/summary.json, likelihood.png, filters.png, samples.png")
    return 0


def common_positive(value: int, name: str) -> int:
    if value <= 0:
        raise SystemExit(f"error: {name} must be positive, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
