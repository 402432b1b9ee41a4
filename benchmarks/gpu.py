"""rbm_jax's throughput on an accelerator: sampling, the device's matmul rate, many-seed training.

Run:  .venv/bin/python benchmarks/gpu.py [--quick] [--repeats N] [--out DIR]
In full it is sized for one GPU (under 5 minutes); ``--quick`` shrinks everything so that it
runs on a CPU in seconds (``make bench`` runs it so, as a smoke test). Writes
``gpu-<device kind>.json`` (quick: ``gpu-quick-<device kind>.json``) under ``--out``
(default ``benchmarks/results``), with ``jax.devices()[0].device_kind``, the platform, the
versions and the date, and prints a table.

Measured, each as the median of ``--repeats`` timed measurements after one untimed call
(compilation), compile time reported as that first call minus the median:

1. Sampling, configuration A (784 visible × 500 hidden, float32, the params and start states
   of ``bench.py``): chain-sweeps per second of ``gibbs.sample_chains`` with 1e3, 1e4 and
   1e5 chains (quick: 1e2, 1e3), ``n_steps`` sweeps a call. A measurement is enough
   back-to-back calls to last about ``MIN_MEASURE_S`` (counted from the first, untimed call),
   so that small problems are not dominated by the clock.
2. The device's float32 matmul rate: a jitted ``x @ y`` of two n × n matrices (n = 8192;
   quick: 512), 2n³ FLOP a product. The sampler's achieved fraction of that rate counts its
   useful work only, the two matmuls of a sweep, 2 · 2 · n_chains · n_visible · n_hidden FLOP
   per sweep: fraction = 4 · n_visible · n_hidden · chain-sweeps/s / matmul FLOP/s.
3. Training throughput of ``train.fit_many`` over 256 seeds (quick: 4 seeds, 1 epoch, 300
   rows) on the digits with ``bench.py``'s training settings (100 hidden, PCD-1, SGD 0.06,
   batch 10, 10 epochs, metrics at the last epoch, no exact likelihood): models·epochs per
   second and seconds per epoch (for all the models together).
4. Scaling over the devices present: ``gibbs.sample_chains`` at configuration A with the chains
   sharded over a mesh of d = 1, 2, 4, ... devices (``rbm_jax.sharding.make_mesh(d)``), up to
   every device. Weak scaling: ``PER_DEVICE_CHAINS`` = 10,000 chains per device (quick: 100),
   so each device's share stays the size of the one-device run; chain-sweeps per second and
   the efficiency rate(d) / (d · rate(1)). On one GPU the table has one row; on a CPU with
   ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` it shows the (core-sharing) CPU mesh.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import statistics
import sys
import time

import jax
import jax.numpy as jnp

import bench
from rbm_jax import gibbs, sharding

N_VISIBLE, N_HIDDEN = 784, 500
PER_DEVICE_CHAINS = 10_000


def sanitised(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "device"


def timed_median(call, repeats: int, min_measure_s: float) -> dict:
    """Median seconds per ``call()`` (which blocks): first call untimed (compiles), then
    ``repeats`` measurements of ``calls`` back-to-back calls, ``calls`` chosen (from one more
    call) so that a measurement lasts at least ``min_measure_s``; 1 when that is 0."""
    first = bench.seconds(call)
    calls = 1
    if min_measure_s > 0:
        once = bench.seconds(call)
        calls = int(min_measure_s / max(once, 1e-9)) + 1 if once < min_measure_s else 1
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        per_call.append((time.perf_counter() - t0) / calls)
    median = statistics.median(per_call)
    return {"first_s": first, "median_s": median, "compile_s": first - median, "calls_per_measure": calls,
            "times_s": per_call}


def bench_sampling(chain_counts, n_steps: int, repeats: int, min_measure_s: float) -> list[dict]:
    rows = []
    for nc in chain_counts:
        print(f"sampling A: {N_VISIBLE} x {N_HIDDEN}, {nc:,} chains, {n_steps} sweeps a call", flush=True)
        params, v0 = bench.sampling_problem(N_VISIBLE, N_HIDDEN, nc)
        t = timed_median(bench.rbm_jax_sampler(params, v0, n_steps), repeats, min_measure_s)
        rate = nc * n_steps / t["median_s"]
        rows.append({"n_chains": nc, "n_steps": n_steps, "chain_sweeps_per_s": rate,
                     "useful_flop_per_s": 4 * N_VISIBLE * N_HIDDEN * rate, "timing": t})
    return rows


def bench_matmul(n: int, repeats: int, min_measure_s: float) -> dict:
    print(f"matmul: float32 {n} x {n} @ {n} x {n}", flush=True)
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (n, n), jnp.float32)
    y = jax.random.normal(ky, (n, n), jnp.float32)
    product = jax.jit(jnp.matmul)
    t = timed_median(lambda: product(x, y).block_until_ready(), repeats, min_measure_s)
    return {"n": n, "flop_per_s": 2 * n**3 / t["median_s"], "timing": t}


def bench_fit_many(n_models: int, n_epochs: int, rows: int | None, repeats: int) -> dict:
    X, _ = bench.data.digits()
    if rows is not None:
        X = X[:rows]
    print(f"fit_many: {n_models} seeds, digits {X.shape[0]} x {X.shape[1]}, {n_epochs} epochs", flush=True)
    t = timed_median(lambda: bench.fit_many_rbm_jax(X, n_models, n_epochs), repeats, 0.0)
    return {"n_models": n_models, "n_epochs": n_epochs, "rows": int(X.shape[0]),
            "models_epochs_per_s": n_models * n_epochs / t["median_s"],
            "seconds_per_epoch": t["median_s"] / n_epochs, "timing": t}


def bench_scaling(per_device: int, n_steps: int, repeats: int, min_measure_s: float) -> list[dict]:
    counts = sorted({d for d in (2 ** i for i in range(12)) if d <= jax.device_count()} | {jax.device_count()})
    rows = []
    for d in counts:
        mesh = sharding.make_mesh(d)
        nc = per_device * d
        print(f"scaling: {d} device(s), {nc:,} chains, {n_steps} sweeps a call", flush=True)
        params, v0 = bench.sampling_problem(N_VISIBLE, N_HIDDEN, nc)

        def call(params=params, v0=v0, mesh=mesh):
            jax.block_until_ready(gibbs.sample_chains(jax.random.key(2), params, v0, n_steps, mesh=mesh))

        t = timed_median(call, repeats, min_measure_s)
        rows.append({"devices": d, "n_chains": nc, "n_steps": n_steps,
                     "chain_sweeps_per_s": nc * n_steps / t["median_s"], "timing": t})
    for r in rows:
        r["efficiency"] = r["chain_sweeps_per_s"] / (r["devices"] * rows[0]["chain_sweeps_per_s"])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: runs on a CPU in seconds")
    p.add_argument("--repeats", type=int, default=None, help="timed measurements each (default 5; quick 1)")
    p.add_argument("--out", type=pathlib.Path, default=bench.RESULTS, help="output folder (default %(default)s)")
    args = p.parse_args(argv)
    repeats = bench.checked_repeats_and_out(args)
    command = " ".join(["python benchmarks/gpu.py", *(sys.argv[1:] if argv is None else argv)])

    device = jax.devices()[0]
    env = bench.environment()
    env["device_kind"] = device.device_kind
    env["platform"] = device.platform
    print(bench.header_line(env, repeats, command) + f"; device kind {device.device_kind}", flush=True)

    if args.quick:
        chains, n_steps, min_s, matmul_n, models, epochs, rows = (100, 1_000), 5, 0.01, 512, 4, 1, 300
        per_device = 100
    else:
        chains, n_steps, min_s, matmul_n, models, epochs, rows = (1_000, 10_000, 100_000), 20, 0.2, 8192, 256, 10, None
        per_device = PER_DEVICE_CHAINS
    t0 = time.perf_counter()
    sampling = bench_sampling(chains, n_steps, repeats, min_s)
    matmul = bench_matmul(matmul_n, repeats, min_s)
    for r in sampling:
        r["fraction_of_matmul_rate"] = r["useful_flop_per_s"] / matmul["flop_per_s"]
    training = bench_fit_many(models, epochs, rows, repeats)
    scaling = bench_scaling(per_device, n_steps, repeats, min_s)
    total = time.perf_counter() - t0

    tables = [
        bench.Table(f"sampling A ({N_VISIBLE}x{N_HIDDEN}) on {device.device_kind}",
                    ["chains", "chain-sweeps/s", "useful GFLOP/s", "fraction of matmul rate", "compile s"],
                    [[r["n_chains"], r["chain_sweeps_per_s"], r["useful_flop_per_s"] / 1e9,
                      r["fraction_of_matmul_rate"], r["timing"]["compile_s"]] for r in sampling]),
        bench.Table("device float32 matmul", ["n", "GFLOP/s"], [[matmul["n"], matmul["flop_per_s"] / 1e9]]),
        bench.Table(f"fit_many on the digits ({training['rows']} rows)",
                    ["models", "epochs", "models·epochs/s", "s per epoch (all models)", "compile s"],
                    [[training["n_models"], training["n_epochs"], training["models_epochs_per_s"],
                      training["seconds_per_epoch"], training["timing"]["compile_s"]]]),
        bench.Table(f"scaling: sampling A, {per_device:,} chains per device, sharded (rbm_jax.sharding)",
                    ["devices", "chains", "chain-sweeps/s", "efficiency", "compile s"],
                    [[r["devices"], r["n_chains"], r["chain_sweeps_per_s"], r["efficiency"],
                      r["timing"]["compile_s"]] for r in scaling]),
    ]
    for t in tables:
        print("\n" + t.text(), flush=True)

    name = f"gpu-quick-{sanitised(device.device_kind)}" if args.quick else f"gpu-{sanitised(device.device_kind)}"
    path = args.out / f"{name}.json"
    bench.write_json(path, {"environment": env, "command": command, "quick": args.quick, "repeats": repeats,
                            "sampling": sampling, "matmul": matmul, "fit_many": training, "scaling": scaling,
                            "device_count": jax.device_count(), "total_s": total})
    print(f"\ntotal {total:.1f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
