"""The multi-device checks of ``test_sharding.py``, run where several devices are present.

``python tests/sharding_checks.py multiprocess PROCESS_ID PORT FOLDER`` is one of two
processes of a multi-host run on this machine (2 CPU devices each, JAX's gloo collectives,
``sharding.initialize``): there no process holds a whole sharded array.

``python tests/sharding_checks.py GROUP`` forces 4 CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``, set here before JAX
is imported), runs one group of checks and prints its results as one JSON
line; ``test_sharding.py`` runs it in a subprocess (or calls ``run`` in-process
when the test process already sees 4 devices) and asserts on every value.
Each check compares a ``mesh=`` run with the ``mesh=None`` run for the same
keys: samples bit for bit, sums (AIS, data-parallel training) to 1e-10 in float64.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

N_DEVICES = 4

_MULTI = __name__ == "__main__" and sys.argv[1:2] == ["multiprocess"]
if __name__ == "__main__":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count="
                               f"{2 if _MULTI else N_DEVICES}").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rbm_jax import ais, checkpoint, driver, gibbs, sharding, train  # noqa: E402
from rbm_jax.types import CategoricalRBMParams, GaussianRBMParams, RBMParams  # noqa: E402

BATCH = P_BATCH = "batch"
_COLLECTIVE = re.compile(r" (all-reduce|all-gather|reduce-scatter|collective-permute|all-to-all)(?:-start)?\(")


def _same(a, b) -> bool:
    """Bit-identical pytrees (keys compared by their data)."""
    la, lb = jax.tree_util.tree_leaves(sharding.to_host(a)), jax.tree_util.tree_leaves(sharding.to_host(b))
    return len(la) == len(lb) and all(x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
                                      for x, y in zip(la, lb))


def _max_diff(a, b) -> float:
    la, lb = jax.tree_util.tree_leaves(sharding.to_host(a)), jax.tree_util.tree_leaves(sharding.to_host(b))
    diffs = [np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64))) if x.size else 0.0
             for x, y in zip(la, lb)]
    return float(max(diffs)) if diffs else 0.0


def _spec(x) -> str:
    return str(tuple(x.sharding.spec)) if isinstance(x.sharding, jax.sharding.NamedSharding) else "single"


def _error(fn) -> str:
    try:
        fn()
    except (ValueError, TypeError) as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def _binary(key, nv, nh, dtype, scale=0.5):
    k1, k2, k3 = jax.random.split(key, 3)
    return RBMParams(scale * jax.random.normal(k1, (nv, nh), dtype), 0.3 * jax.random.normal(k2, (nv,), dtype),
                     0.3 * jax.random.normal(k3, (nh,), dtype))


def _gaussian(key, nv, nh, dtype):
    p = _binary(key, nv, nh, dtype, 0.3)
    return GaussianRBMParams(p.W, p.b, p.c, jnp.full((nv,), -0.2, dtype))


def _categorical(key, nv, q, nh, dtype):
    k1, k2, k3 = jax.random.split(key, 3)
    return CategoricalRBMParams(0.4 * jax.random.normal(k1, (nv, q, nh), dtype),
                                0.3 * jax.random.normal(k2, (nv, q), dtype), 0.3 * jax.random.normal(k3, (nh,), dtype))


def _random_walk(key, scale, x):
    """A kernel of one's own for ``driver.run_chains``: a Gaussian random-walk step."""
    return x + scale * jax.random.normal(key, x.shape, x.dtype)


def sampling() -> dict:
    """sample_chains (every family, a trace and a reducer) and sample_pt: bit-identical, sharded.

    Calls repeat earlier ones' shapes and settings where they can, to reuse compiled programs.
    """
    mesh = sharding.make_mesh(N_DEVICES)
    out = {}
    key = jax.random.key(11)
    reducer = gibbs.running_mean(gibbs.keep_v)
    for name, params, v0, transform in [
        ("binary", _binary(key, 16, 12, jnp.float32),
         (jax.random.uniform(jax.random.key(1), (64, 16)) < 0.5).astype(jnp.float32), reducer),
        ("gaussian", _gaussian(key, 10, 8, jnp.float32), jax.random.normal(jax.random.key(2), (32, 10)),
         gibbs.keep_state),
        ("categorical", _categorical(key, 8, 3, 6, jnp.float32),
         jax.random.randint(jax.random.key(3), (32, 8), 0, 3), gibbs.keep_state),
    ]:
        a = gibbs.sample_chains(jax.random.key(5), params, v0, 30, burn_in=5, thin=2, transform=transform)
        b = gibbs.sample_chains(jax.random.key(5), params, v0, 30, burn_in=5, thin=2, transform=transform, mesh=mesh)
        out[f"{name}_identical"] = _same(a, b)
        out[f"{name}_final_spec"] = _spec(b[0].v)
        out[f"{name}_trace_spec"] = _spec(b[1] if transform is reducer else b[1].v)
    p = _binary(key, 16, 12, jnp.float32)
    v0 = (jax.random.uniform(jax.random.key(1), (64, 16)) < 0.5).astype(jnp.float32)
    one = gibbs.sample_chains(jax.random.key(5), p, v0, 30, burn_in=5, thin=2, transform=reducer)  # compiled above
    a = gibbs.sample_pt(jax.random.key(7), p, v0[:8], 25, n_temps=5)
    b = gibbs.sample_pt(jax.random.key(7), p, v0[:8], 25, n_temps=5, mesh=mesh)
    out["pt_identical"], out["pt_trace_spec"] = _same(a, b), _spec(b[1])
    out["pt_accepted"] = int(np.asarray(b[0].accepted).sum())
    # A mesh from jax.make_mesh (Explicit axes by default; the same program as make_mesh's once its
    # axes are made Auto) and a 2 x 2 mesh (the first axis shards; the other holds replicas).
    explicit = jax.make_mesh((N_DEVICES,), ("batch",))
    d = gibbs.sample_chains(jax.random.key(5), p, v0, 30, burn_in=5, thin=2, transform=reducer, mesh=explicit)
    out["explicit_mesh_identical"] = _same(one, d)
    x0 = jnp.zeros((16, 3))
    f = driver.run_chains(jax.random.key(8), _random_walk, 0.5, x0, 20, transform=driver.running_mean(gibbs.keep_state))
    g = driver.run_chains(jax.random.key(8), _random_walk, 0.5, x0, 20, transform=driver.running_mean(gibbs.keep_state),
                          mesh=mesh)
    out["run_chains_identical"], out["run_chains_spec"] = _same(f, g), _spec(g[0])
    grid = jax.sharding.Mesh(np.asarray(jax.devices()[:N_DEVICES]).reshape(2, 2), ("batch", "replica"))
    e = gibbs.sample_chains(jax.random.key(5), p, v0, 30, burn_in=5, thin=2, transform=reducer, mesh=grid)
    out["grid_mesh_identical"], out["grid_mesh_spec"] = _same(one, e), _spec(e[1])
    out["error_n_chains"] = _error(lambda: gibbs.sample_chains(jax.random.key(0), p, v0[:10], 2, mesh=mesh))
    out["error_n_systems"] = _error(lambda: gibbs.sample_pt(jax.random.key(0), p, v0[:6], 2, mesh=mesh))
    out["error_mesh_type"] = _error(lambda: gibbs.sample_chains(jax.random.key(0), p, v0, 2, mesh="batch"))
    return out


def ais_group() -> dict:
    """Forward AIS in float64: each run's weight bit-identical, log Ẑ to rounding."""
    mesh = sharding.make_mesh(N_DEVICES)
    out = {}
    with jax.enable_x64(True):
        for name, params in [("binary", _binary(jax.random.key(3), 12, 8, jnp.float64)),
                             ("gaussian", _gaussian(jax.random.key(4), 6, 5, jnp.float64))]:
            a = ais.log_partition(jax.random.key(9), params, n_runs=64, n_betas=200)
            b = ais.log_partition(jax.random.key(9), params, n_runs=64, n_betas=200, mesh=mesh)
            out[f"{name}_log_z_diff"] = abs(float(a.log_z) - float(b.log_z))
            out[f"{name}_stderr_diff"] = abs(float(a.stderr) - float(b.stderr))
            out[f"{name}_weights_identical"] = _same(a.log_weights, b.log_weights)
            out[f"{name}_weights_spec"] = _spec(b.log_weights)
            out[f"{name}_log_z"] = float(b.log_z)
        out["error_n_runs"] = _error(lambda: ais.log_partition(jax.random.key(0), params, n_runs=10, mesh=mesh))
    return out


def _binary_problem(n_rows: int):
    """A float64 binary model (10 visible, 6 hidden) and ``n_rows`` rows of Bernoulli(0.3) data."""
    x = (jax.random.uniform(jax.random.key(1), (n_rows, 10)) < 0.3).astype(jnp.float64)
    return x, _binary(jax.random.key(2), 10, 6, jnp.float64, 0.1)


def _fit_pair(params, x, mesh, **kw):
    a = train.fit(jax.random.key(21), params, x, return_state=True, **kw)
    b = train.fit(jax.random.key(21), params, x, return_state=True, mesh=mesh, **kw)
    return a, b


def training() -> dict:
    """Data-parallel fit in float64 (every estimator), its one collective, checkpoints, errors."""
    mesh = sharding.make_mesh(N_DEVICES)
    out = {}
    with jax.enable_x64(True):
        x, p = _binary_problem(96)
        common = dict(n_epochs=3, batch_size=16, learning_rate=0.05)
        runs = {}
        for method in ("cd", "pcd"):  # PT: in families() (-m slow); its sampling on a mesh is in sampling()
            runs[method] = _training_pair(out, p, x, mesh, method, **common)
        # One all-reduce per update carries the statistics.
        _collectives(out, p, x, mesh, "pcd")

        # Checkpoint the sharded PCD state after fit's 3 epochs; restore it onto the mesh and onto
        # one device; resume both for 3 more epochs against the uninterrupted run on the mesh.
        # (The settings are fit's own, so these calls reuse its compiled programs.)
        cfg = train.TrainConfig(method="pcd", batch_size=16, metrics_every=None, exact_likelihood=True)
        s1 = runs["pcd"][1][2]
        whole, _ = train.run_epochs(s1, x, 3, cfg, mesh=mesh)
        with tempfile.TemporaryDirectory() as tmp:
            path = checkpoint.save(os.path.join(tmp, "state"), s1)
            on_mesh = checkpoint.restore(path, train.init_state(jax.random.key(0), p, x, cfg, mesh=mesh))
            on_one = checkpoint.restore(path, train.init_state(jax.random.key(0), p, x, cfg))
        out["restored_identical"] = _same(on_mesh, s1) and _same(on_one, s1)
        out["restored_mesh_chains_spec"] = _spec(on_mesh.chains.v)
        out["restored_one_device"] = len(on_one.chains.v.sharding.device_set)
        r_mesh, _ = train.resume(on_mesh, x, 3, cfg, mesh=mesh)
        r_one, _ = train.resume(on_one, x, 3, cfg)
        out["resume_mesh_diff"] = _max_diff(r_mesh, whole)
        out["resume_one_device_diff"] = _max_diff(r_one, whole)

        out["error_batch_size"] = _error(lambda: train.fit(jax.random.key(0), p, x, n_epochs=1, batch_size=10,
                                                           mesh=mesh))
        out["error_n_chains"] = _error(lambda: train.fit(jax.random.key(0), p, x, method="pcd", n_chains=6,
                                                         n_epochs=1, batch_size=16, mesh=mesh))
    return out


def _training_pair(out: dict, p, x, mesh, method: str, **common):
    """fit with and without the mesh; their differences and layouts into ``out``."""
    # CD's run is monitored every epoch (the history's metrics compared too); the others
    # compare parameters, chains and grad_norm/swap_acceptance (fewer programs to compile).
    extra = {"betas": (1.0, 0.5), "metrics_every": None} if method == "pt" else {
        "metrics_every": 1 if method == "cd" else None}
    a, b = _fit_pair(p, x, mesh, method=method, **common, **extra)
    out[f"{method}_params_diff"] = _max_diff(a[0], b[0])
    out[f"{method}_history_diff"] = _max_diff(a[1], b[1])
    out[f"{method}_params_moved"] = _max_diff(a[0], p)
    out[f"{method}_params_spec"] = _spec(b[0].W)
    if method != "cd":
        out[f"{method}_chains_spec"] = _spec(b[2].chains.v)
    return a, b


def _collectives(out: dict, p, x, mesh, method: str):
    """The collectives in one compiled update of ``method`` on the mesh."""
    cfg = train.TrainConfig(method=method, batch_size=16, **({"betas": (1.0, 0.5)} if method == "pt" else {}))
    state = train.init_state(jax.random.key(0), p, x, cfg, mesh=mesh)
    step = train.make_train_step(cfg, train.HyperParams(jnp.zeros((), jnp.float64)), 6, mesh=mesh)
    hlo = step.lower(jax.random.key(1), state, x[:16]).compile().as_text()
    ops = _COLLECTIVE.findall(hlo)
    out[f"{method}_collectives"] = {op: ops.count(op) for op in sorted(set(ops))}


def families() -> dict:
    """Data-parallel fit of binary PT, the Gaussian and categorical families and centered training
    (float64), and a 2 x 2 mesh."""
    mesh = sharding.make_mesh(N_DEVICES)
    out = {}
    with jax.enable_x64(True):
        x, p = _binary_problem(96)
        _training_pair(out, p, x, mesh, "pt", n_epochs=3, batch_size=16, learning_rate=0.05)
        _collectives(out, p, x, mesh, "pt")  # PT adds one all-reduce, for its swap counts
        g = _gaussian(jax.random.key(3), 6, 4, jnp.float64)
        xg = jax.random.normal(jax.random.key(4), (64, 6), jnp.float64)
        a, b = _fit_pair(g, xg, mesh, method="pcd", n_epochs=2, batch_size=8, learning_rate=0.01)
        out["gaussian_params_diff"], out["gaussian_history_diff"] = _max_diff(a[0], b[0]), _max_diff(a[1], b[1])
        out["gaussian_params_moved"] = _max_diff(a[0], g)
        c = _categorical(jax.random.key(5), 5, 3, 4, jnp.float64)
        xc = jax.random.randint(jax.random.key(6), (64, 5), 0, 3)
        a, b = _fit_pair(c, xc, mesh, method="pt", n_epochs=2, batch_size=8, learning_rate=0.05)
        out["categorical_params_diff"] = _max_diff(a[0], b[0])
        out["categorical_history_diff"] = _max_diff(a[1], b[1])
        out["categorical_params_moved"] = _max_diff(a[0], c)
        xb, pb = _binary_problem(64)
        a, b = _fit_pair(pb, xb, mesh, method="pcd", n_epochs=2, batch_size=8, learning_rate=0.05,
                         centering="average")
        out["centered_params_diff"] = _max_diff(a[0], b[0])
        out["centered_offsets_diff"] = _max_diff(a[2].offsets, b[2].offsets)
        out["centered_offsets_moved"] = _max_diff(a[2].offsets.lam, jnp.full_like(a[2].offsets.lam, 0.5))
        grid = jax.sharding.Mesh(np.asarray(jax.devices()[:N_DEVICES]).reshape(2, 2), ("batch", "replica"))
        x = (jax.random.uniform(jax.random.key(1), (64, 8)) < 0.3).astype(jnp.float64)
        p = _binary(jax.random.key(2), 8, 5, jnp.float64, 0.1)
        a = train.fit(jax.random.key(3), p, x, method="pcd", n_epochs=2, batch_size=8)
        b = train.fit(jax.random.key(3), p, x, method="pcd", n_epochs=2, batch_size=8, mesh=grid)
        out["grid_params_diff"] = _max_diff(a[0], b[0])
    return out


def many() -> dict:
    """fit_many with the models sharded, in float64."""
    mesh = sharding.make_mesh(N_DEVICES)
    out = {}
    with jax.enable_x64(True):
        x, p = _binary_problem(80)
        keys = jax.random.split(jax.random.key(4), 8)
        rates = np.linspace(0.01, 0.08, 8)
        kw = dict(method="pcd", n_epochs=3, batch_size=10, learning_rate=rates, metrics_every=1)
        a = train.fit_many(keys, p, x, **kw)
        b = train.fit_many(keys, p, x, mesh=mesh, **kw)
        out["params_diff"] = _max_diff(a[0], b[0])
        out["history_diff"] = _max_diff(a[1], b[1])
        out["params_spec"] = _spec(b[0].W)
        out["models_differ"] = _max_diff(jax.tree_util.tree_map(lambda t: t[0], a[0]),
                                         jax.tree_util.tree_map(lambda t: t[7], a[0]))
        out["error_n_models"] = _error(lambda: train.fit_many(keys[:6], p, x, n_epochs=1, batch_size=10, mesh=mesh))
    return out


def multiprocess(process_id: int, port: int, folder: str) -> dict:
    """One of two processes: sampling, data-parallel training, value checks, the history and a
    checkpoint on a mesh spanning both, against this process's own one-device runs (float64)."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    info = sharding.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id)
    out = {"info": info}
    with jax.enable_x64(True):
        mesh = sharding.make_mesh()  # 4 devices, 2 per process
        p = _binary(jax.random.key(2), 8, 5, jnp.float64, 0.3)
        v0 = (jax.random.uniform(jax.random.key(1), (16, 8)) < 0.5).astype(jnp.float64)
        a = gibbs.sample_chains(jax.random.key(5), p, v0, 10, transform=gibbs.keep_v)
        b = gibbs.sample_chains(jax.random.key(5), p, v0, 10, transform=gibbs.keep_v, mesh=mesh)
        out["trace_fully_addressable"] = b[1].is_fully_addressable
        out["sampling_identical"] = _same(a, b)
        x = (jax.random.uniform(jax.random.key(3), (64, 8)) < 0.3).astype(jnp.float64)
        kw = dict(method="pcd", n_epochs=2, batch_size=8, learning_rate=0.05, metrics_every=1, return_state=True)
        one = train.fit(jax.random.key(4), p, x, **kw)
        many = train.fit(jax.random.key(4), p, x, mesh=mesh, **kw)
        out["chains_fully_addressable"] = many[2].chains.v.is_fully_addressable
        out["fit_params_diff"] = _max_diff(one[0], many[0])
        out["fit_history_diff"] = _max_diff(one[1], many[1])
        out["history_log_likelihood"] = [float(v) for v in many[1]["log_likelihood"]]
        bad = v0.at[0, 0].set(2.0)  # out of [0, 1], in rows only process 0 holds
        out["value_check"] = _error(lambda: gibbs.sample_chains(
            jax.random.key(5), p, jax.device_put(bad, jax.sharding.NamedSharding(
                mesh, jax.sharding.PartitionSpec("batch"))), 2, mesh=mesh))
        path = checkpoint.save(os.path.join(folder, "state"), many[2])
        out["checkpoint"] = str(path)
        out["checkpoint_written_by_me"] = process_id == 0 and os.path.exists(path)
        out["params_W"] = sharding.to_host(many[0].W).tolist()
    return out


GROUPS = {"sampling": sampling, "ais": ais_group, "training": training, "many": many, "families": families}


def run(group: str) -> dict:
    if jax.device_count() < N_DEVICES:
        raise RuntimeError(f"needs {N_DEVICES} devices, found {jax.device_count()}: run as a script")
    return GROUPS[group]()


if __name__ == "__main__":
    if _MULTI:
        print(json.dumps(multiprocess(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])))
    else:
        print(json.dumps(run(sys.argv[1])))
