"""What sharding costs: the same work on a 4-device mesh against one device, in one process.

Run:  .venv/bin/python benchmarks/sharding_overhead.py [--quick] [--repeats N] [--out DIR] [--devices N]
It measures a mesh of N CPU devices (``--devices``, default 4), on any machine: it sets
``JAX_PLATFORMS=cpu`` (unless set) and ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
before JAX is imported; ``benchmarks/gpu.py`` measures accelerators. Writes
``sharding_overhead.json`` and ``.md`` (quick: ``sharding_overhead-quick.*``) under ``--out``
(default ``benchmarks/results``).

On a CPU the N "devices" share the same cores, so no speed-up is possible: the ratio
time(mesh) / time(one device) measures what the sharded program costs over the plain one
(partitioning, the all-reduce of data-parallel training, N programs sharing the cores
instead of one program's threads). 1.0 is no overhead.

Timed side by side (``bench.compare``: one untimed call each, then ``--repeats`` rounds in
rotated order; medians), float32, identical keys (the results are identical or equal to
rounding, as ``tests/test_sharding.py`` checks):

1. ``gibbs.sample_chains`` at ``bench.py``'s configuration B (64 visible × 100 hidden,
   10,000 chains, 50 sweeps a call; quick: 1,000 chains, 5 sweeps), mesh=None against mesh;
2. ``ais.log_partition`` on the same model with 1,000 runs and 1,000 betas (quick: 100, 100);
3. data-parallel ``train.fit`` on the digits (64 × 100, PCD-1, SGD 0.06, batch 20, 2 epochs,
   no monitoring; quick: 300 rows, 1 epoch): a small update, where the per-update all-reduce
   and the devices' synchronisation are most of the work;
4. data-parallel ``train.fit`` of an MNIST-sized model (784 × 500, PCD-1, batch 1,000, 4,000
   rows of Bernoulli(0.2) data, 1 epoch = 4 updates; quick: 784 × 100, 400 rows, batch 100),
   where each update's matrix products dominate;
5. ``train.fit_many`` over 8 seeds (batch 10, 1 epoch, 600 rows; quick: 4 seeds, 300 rows),
   the models sharded.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "experiments"))
import common  # noqa: E402  (experiments/common.py: the --devices flag, before JAX is imported)

if __name__ == "__main__":
    # The CPU mesh, also on a machine with accelerators (benchmarks/gpu.py measures those).
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    common.simulate_cpu_devices(default=4)

import jax  # noqa: E402
import optax  # noqa: E402

import bench  # noqa: E402
from rbm_jax import ais, data, gibbs, rbm, sharding, train  # noqa: E402

NONE, MESH = "one device (mesh=None)", "mesh"


def pair(one, on_mesh, repeats: int) -> dict:
    out = bench.compare({NONE: one, MESH: on_mesh}, repeats)
    out["ratio"] = out[MESH]["median_s"] / out[NONE]["median_s"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke test")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per comparison (default 5; quick 1)")
    p.add_argument("--devices", type=int, default=4, help="devices in the mesh (default %(default)s)")
    p.add_argument("--out", type=pathlib.Path, default=bench.RESULTS, help="output folder (default %(default)s)")
    args = p.parse_args(argv)
    repeats = bench.checked_repeats_and_out(args)
    command = " ".join(["python benchmarks/sharding_overhead.py", *(sys.argv[1:] if argv is None else argv)])
    try:
        mesh = sharding.make_mesh(args.devices)
    except ValueError as err:
        raise SystemExit(f"error: --devices: {err}") from None
    env = bench.environment()
    env["devices"] = [str(d) for d in mesh.devices.flat]
    print(bench.header_line(env, repeats, command) + f"; mesh of {args.devices} {jax.devices()[0].platform} devices",
          flush=True)

    q = args.quick
    n_chains, n_steps = (1_000, 5) if q else (10_000, 50)
    params, v0 = bench.sampling_problem(64, 100, n_chains)
    block = jax.block_until_ready
    results = {}
    print("sampling", flush=True)
    results["sampling"] = pair(lambda: block(gibbs.sample_chains(jax.random.key(2), params, v0, n_steps)),
                               lambda: block(gibbs.sample_chains(jax.random.key(2), params, v0, n_steps, mesh=mesh)),
                               repeats)
    n_runs, n_betas = (100, 100) if q else (1_000, 1_000)
    print("ais", flush=True)
    results["ais"] = pair(
        lambda: block(ais.log_partition(jax.random.key(3), params, n_runs=n_runs, n_betas=n_betas)),
        lambda: block(ais.log_partition(jax.random.key(3), params, n_runs=n_runs, n_betas=n_betas, mesh=mesh)),
        repeats)
    X, _ = data.digits()
    X = X[:300] if q else X
    epochs = 1 if q else 2
    _, p0 = bench.initial_params(0)
    opt = optax.sgd(0.06)
    fit_kw = dict(method="pcd", n_epochs=epochs, batch_size=20, optimizer=opt, metrics_every=None,
                  exact_likelihood=False)
    print("fit", flush=True)
    results["fit"] = pair(lambda: block(train.fit(jax.random.key(4), p0, X, **fit_kw)[0]),
                          lambda: block(train.fit(jax.random.key(4), p0, X, mesh=mesh, **fit_kw)[0]), repeats)
    nh_big, rows_big, batch_big = (100, 400, 100) if q else (500, 4_000, 1_000)
    X_big = (jax.random.uniform(jax.random.key(6), (rows_big, 784)) < 0.2).astype("float32")
    p_big = rbm.init_params(jax.random.key(7), 784, nh_big)
    big_kw = dict(method="pcd", n_epochs=1, batch_size=batch_big, optimizer=opt, metrics_every=None,
                  exact_likelihood=False)
    print("fit (large)", flush=True)
    results["fit_large"] = pair(lambda: block(train.fit(jax.random.key(4), p_big, X_big, **big_kw)[0]),
                                lambda: block(train.fit(jax.random.key(4), p_big, X_big, mesh=mesh, **big_kw)[0]),
                                repeats)
    n_models, rows = (4, 300) if q else (8, 600)
    keys = jax.random.split(jax.random.key(5), n_models)
    many_kw = dict(method="pcd", n_epochs=1, batch_size=10, optimizer=opt, metrics_every=None,
                   exact_likelihood=False)
    print("fit_many", flush=True)
    results["fit_many"] = pair(lambda: block(train.fit_many(keys, p0, X[:rows], **many_kw)[0]),
                               lambda: block(train.fit_many(keys, p0, X[:rows], mesh=mesh, **many_kw)[0]),
                               repeats)

    labels = {
        "sampling": f"sample_chains 64x100, {n_chains:,} chains, {n_steps} sweeps",
        "ais": f"ais.log_partition 64x100, {n_runs:,} runs, {n_betas:,} betas",
        "fit": f"fit (data parallel) digits {X.shape[0]} rows, PCD-1, batch 20, {epochs} epoch(s)",
        "fit_large": f"fit (data parallel) 784x{nh_big}, {rows_big:,} rows, PCD-1, batch {batch_big:,}, 1 epoch",
        "fit_many": f"fit_many {n_models} seeds, {rows} rows, PCD-1, batch 10, 1 epoch",
    }
    table = bench.Table(f"mesh of {args.devices} against one device, same process (ratio: mesh / one device)",
                        ["work", "one device s", "mesh s", "ratio", "compile s (mesh)"],
                        [[labels[k], r[NONE]["median_s"], r[MESH]["median_s"], r["ratio"], r[MESH]["compile_s"]]
                         for k, r in results.items()])
    print("\n" + table.text())
    name = "sharding_overhead-quick" if q else "sharding_overhead"
    args.out.mkdir(parents=True, exist_ok=True)
    bench.write_json(args.out / f"{name}.json", {"environment": env, "command": command, "repeats": repeats,
                                                  "n_devices": args.devices, "results": results,
                                                  "labels": labels})
    (args.out / f"{name}.md").write_text(
        f"{bench.header_line(env, repeats, command)}\n\n{table.markdown()}\n")
    print(f"\nwrote {args.out / (name + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
