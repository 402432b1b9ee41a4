"""What training's monitor costs: ``train.fit`` with dense metrics, 'auto', and none.

Run by hand (not a test):  .venv/bin/python benchmarks/bench_monitor.py [--quick] [--out FILE]

For each case, the same run (same key, data, settings) is timed with
``metrics_every=None`` (no evaluation; the divergence guard still checks the
parameters), with ``divergence='off'`` as well (the guard's own cost), with
about 100 evaluations (every epoch, or every n_epochs/100) and with the
default ``'auto'``; best of ``--repeats`` timed runs, alternating between the
variants, after one compile/warm-up run each. Reported: seconds per epoch
without monitoring, seconds per evaluation (from the dense variant), the
'auto' interval, and the overhead of 'auto' over none, timed and computed from
the evaluation cost (evaluations × seconds per evaluation: on a shared machine
the direct difference of two short timings is noisier than the effect).
Training itself is identical in all variants (the monitor only reads the
parameters).

Cases (the README's training configurations):
  bas4    bars-and-stripes 4×4 (30 rows), 16 × 16, CD-1, batch 10, exact log-likelihood
  modes   four modes (10,000 rows), 16 × 10, PT (10 rungs), batch 100, exact log-likelihood
  digits  nudged digits (7,188 training rows, 1,797 held out), 64 × 100, PCD-1, batch 10,
          pseudo-likelihood on a 1,000-row subset, free-energy gap
Results are written as JSON (default benchmarks/results/monitor.json).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import jax
import numpy as np
import optax

from rbm_jax import data, rbm, train


RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def cases(quick: bool):
    X4 = data.bars_and_stripes(4)
    modes = data.four_modes(10_000, flip_prob=0.001, seed=0)
    digits, _ = data.digits(nudge=True)
    train_rows, test_rows = data.train_test_split(digits, test_fraction=0.2, seed=0)
    scale = 10 if quick else 1
    return {
        "bas4": dict(X=X4, held_out=None, n_hidden=16, method="cd", batch_size=10, n_epochs=6000 // scale,
                     exact_likelihood=True),
        "modes": dict(X=modes, held_out=None, n_hidden=10, method="pt", batch_size=100, n_epochs=30 // scale,
                      exact_likelihood=True),
        "digits": dict(X=train_rows, held_out=test_rows, n_hidden=100, method="pcd", batch_size=10,
                       n_epochs=max(6, 60 // scale), exact_likelihood=False),
    }


def best_times(fns: dict, repeats: int) -> dict:
    """Best wall time of each function, after one warm-up each, the repeats alternating between them."""
    for fn in fns.values():
        jax.block_until_ready(fn())  # compile and warm up
    times = {name: [] for name in fns}
    for _ in range(repeats):  # alternating: a slow spell of the shared machine hits every variant
        for name, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: min(t) for name, t in times.items()}


def measure(case: dict, repeats: int) -> dict:
    X, held_out = case["X"], case["held_out"]
    p0 = rbm.init_params(jax.random.key(0), X.shape[1], case["n_hidden"], data=X, weight_scale=0.1)
    optimizer = optax.sgd(0.01)  # one object: one compiled program per variant
    n_epochs = case["n_epochs"]

    def run(metrics_every, divergence="raise"):
        return lambda: train.fit(jax.random.key(1), p0, X, method=case["method"], n_epochs=n_epochs,
                                 batch_size=case["batch_size"], optimizer=optimizer, held_out=held_out,
                                 exact_likelihood=case["exact_likelihood"], metrics_every=metrics_every,
                                 divergence=divergence)[0]

    dense = max(1, n_epochs // 100)  # the dense variant: about 100 evaluations
    t = best_times({"none": run(None), "none_guard_off": run(None, "off"), "dense": run(dense),
                    "auto": run("auto")}, repeats)
    cfg = train.TrainConfig(method=case["method"], batch_size=case["batch_size"],
                            exact_likelihood=case["exact_likelihood"])
    every = train.auto_metrics_every(cfg, X.shape[0], 0 if held_out is None else held_out.shape[0],
                                     X.shape[1], case["n_hidden"])
    n_auto_evals = n_epochs // every + (n_epochs % every != 0)  # and the last epoch
    n_dense_evals = n_epochs // dense + (n_epochs % dense != 0)
    per_eval = (t["dense"] - t["none"]) / n_dense_evals
    return {
        "n_epochs": n_epochs,
        "seconds": t,
        "seconds_per_epoch_unmonitored": t["none"] / n_epochs,
        "dense_metrics_every": dense,
        "seconds_per_evaluation": per_eval,
        "evaluation_in_epochs": per_eval / (t["none"] / n_epochs),
        "auto_metrics_every": every,
        "auto_evaluations": n_auto_evals,
        "overhead_auto": t["auto"] / t["none"] - 1,
        # The same from the evaluation cost (measured over ~100 evaluations, so well above the noise).
        "overhead_auto_from_evaluation_cost": max(per_eval, 0.0) * n_auto_evals / t["none"],
        "overhead_dense": t["dense"] / t["none"] - 1,
        "overhead_guard": t["none"] / t["none_guard_off"] - 1,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tenth of the epochs")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--cases", default="bas4,modes,digits")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS / "monitor.json")
    args = p.parse_args(argv)
    all_cases = cases(args.quick)
    results = {}
    for name in args.cases.split(","):
        r = measure(all_cases[name], args.repeats)
        results[name] = r
        print(f"{name}: {r['seconds_per_epoch_unmonitored'] * 1e3:.3f} ms/epoch unmonitored; one evaluation "
              f"{r['seconds_per_evaluation'] * 1e3:.3f} ms = {r['evaluation_in_epochs']:.3g} epochs; auto = every "
              f"{r['auto_metrics_every']} epochs ({r['auto_evaluations']} evaluations in {r['n_epochs']} epochs): "
              f"{100 * r['overhead_auto']:+.1f}% timed, {100 * r['overhead_auto_from_evaluation_cost']:.1f}% "
              f"from the evaluation cost (every {r['dense_metrics_every']}: "
              f"{100 * r['overhead_dense']:+.0f}%); the guard alone: {100 * r['overhead_guard']:+.1f}%",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "jax": jax.__version__,
                                    "date": time.strftime("%Y-%m-%d"), "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
