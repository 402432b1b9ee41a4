"""Chain-sweeps per second of block Gibbs: rbm_jax against a batched-matmul JAX loop and scikit-learn.

Run by hand (not a test):  .venv/bin/python benchmarks/bench_gibbs.py [--quick] [--out FILE]

For each layer size and chain count, every contender does the same number of
v→h→v sweeps on the same float32 RBM; the best of ``--repeats`` timed runs
(after one compile/warm-up run) is reported as chain-sweeps per second, and
as a ratio to rbm_jax measured in the same process, side by side.

Contenders:
  rbm_jax            gibbs.sample_chains: vmapped single chains, per-chain keys (threefry)
  rbm_jax philox     the same, with jax.random.key(seed, impl="philox4x32")
  batched one-key    the library's one kernel and driver run as ONE chain over the whole batch:
                     one key per sweep for all chains
  sklearn            BernoulliRBM.gibbs in a Python loop (its documented one-sweep API), float32
Results are written as JSON (default benchmarks/results/gibbs.json).
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax import gibbs, rbm
from rbm_jax._src import driver
from rbm_jax._src.sweep import SweepSettings, build_sweep

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def best_time(fn, repeats):
    fn()  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


_SWEEP = build_sweep()


@functools.partial(jax.jit, static_argnames="n_steps")
def _batched_one_key(key, params, v0, n_steps):
    # The library's one kernel and driver, run as ONE chain whose state is the whole
    # batch: one key per sweep draws every chain's random numbers at once.
    state = _SWEEP.init(key, params, SweepSettings(), v0)
    final, _, _ = driver.run(jax.random.fold_in(key, 1), _SWEEP, params, SweepSettings(), state, n_steps)
    return final.v


def bench_case(n_visible, n_hidden, n_chains, n_steps, repeats, with_sklearn):
    params = rbm.init_params(jax.random.key(0), n_visible, n_hidden, weight_scale=0.1)
    v0 = jax.random.bernoulli(jax.random.key(1), 0.5, (n_chains, n_visible)).astype(jnp.float32)
    total = n_chains * n_steps
    out = {"n_visible": n_visible, "n_hidden": n_hidden, "n_chains": n_chains, "n_steps": n_steps}

    def ours(key):
        return lambda: gibbs.sample_chains(key, params, v0, n_steps)[0].v.block_until_ready()

    out["rbm_jax"] = total / best_time(ours(jax.random.key(2)), repeats)
    out["rbm_jax philox"] = total / best_time(ours(jax.random.key(2, impl="philox4x32")), repeats)
    out["batched one-key"] = total / best_time(
        lambda: _batched_one_key(jax.random.key(3), params, v0, n_steps).block_until_ready(), repeats)
    if with_sklearn:
        from sklearn.neural_network import BernoulliRBM

        sk = BernoulliRBM(n_components=n_hidden, random_state=0)
        # float32 like ours: BernoulliRBM.gibbs keeps the parameters' dtype, and float32
        # matmuls are its fastest setting.
        sk.components_ = np.asarray(params.W.T, np.float32)
        sk.intercept_hidden_ = np.asarray(params.c, np.float32)
        sk.intercept_visible_ = np.asarray(params.b, np.float32)
        sk.random_state_ = np.random.RandomState(0)
        v_np = np.asarray(v0, np.float32)
        sk_steps = max(1, n_steps // 10)  # it is slow; time fewer sweeps and scale

        def run_sk():
            v = v_np
            for _ in range(sk_steps):
                v = sk.gibbs(v)
            return v

        out["sklearn"] = n_chains * sk_steps / best_time(run_sk, max(1, repeats - 1))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer sweeps, for a smoke test")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS / "gibbs.json")
    args = p.parse_args(argv)
    cases = [(64, 100, 10_000, 200), (784, 500, 1_000, 100), (16, 16, 100_000, 100)]
    if args.quick:
        cases = [(nv, nh, nc, 10) for nv, nh, nc, _ in cases]
    rows = []
    for nv, nh, nc, steps in cases:
        r = bench_case(nv, nh, nc, steps, args.repeats, not args.no_sklearn)
        rows.append(r)
        base = r["rbm_jax"]
        print(f"\n{nv}×{nh}, {nc} chains, {steps} sweeps")
        for name in ("rbm_jax", "rbm_jax philox", "batched one-key", "sklearn"):
            if name in r:
                print(f"  {name:<16} {r[name]:>14,.0f} chain-sweeps/s   {r[name] / base:5.2f}× rbm_jax")
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "jax": jax.__version__,
        "machine": platform.machine(),
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "device": str(jax.devices()[0]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
