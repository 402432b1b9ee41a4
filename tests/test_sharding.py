"""Sharding across devices: identical numbers on a 4-device CPU mesh, clear errors, the host paths.

The multi-device checks live in ``sharding_checks.py``. XLA's flag that makes
a CPU look like 4 devices must be set before JAX is imported, so each group
runs in a subprocess (``python tests/sharding_checks.py GROUP``), one per
test so that pytest-xdist spreads them over the cores; where this process
already sees 4 devices they run in-process. Each compares ``mesh=`` with
``mesh=None`` for the same keys: samples and per-run AIS weights bit for bit;
sums that cross devices (log Ẑ, data-parallel statistics) to 1e-10 in float64.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from rbm_jax import gibbs, rbm, sharding

HERE = pathlib.Path(__file__).resolve().parent
CHECKS = HERE / "sharding_checks.py"
TOL = 1e-10  # float64 agreement where a collective changes the summation order
ROWS = "('batch',)"  # sharded along the first axis
TIME_ROWS = "(None, 'batch')"  # a time-major trace, sharded along the chains
REPLICATED = "()"


def _group(name: str) -> dict:
    sys.path.insert(0, str(HERE))
    try:
        import sharding_checks
    finally:
        sys.path.pop(0)
    if jax.device_count() >= sharding_checks.N_DEVICES:
        return sharding_checks.run(name)
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, str(CHECKS), name], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, f"sharding_checks.py {name} failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sampling_on_a_mesh_is_bit_identical_and_stays_sharded():
    r = _group("sampling")
    for family in ("binary", "gaussian", "categorical"):
        assert r[f"{family}_identical"] is True, f"{family}: sample_chains(mesh=...) differs from mesh=None"
        assert r[f"{family}_final_spec"] == ROWS
    assert r["binary_trace_spec"] == ROWS  # a running mean per chain [n_chains, n_visible]
    assert r["gaussian_trace_spec"] == TIME_ROWS and r["categorical_trace_spec"] == TIME_ROWS
    assert r["pt_identical"] is True and r["pt_trace_spec"] == TIME_ROWS
    assert r["pt_accepted"] > 0  # the swaps ran, so their identity is not vacuous
    assert r["explicit_mesh_identical"] is True  # jax.make_mesh's Explicit axes are accepted
    assert r["run_chains_identical"] is True and r["run_chains_spec"] == ROWS  # a kernel of one's own
    assert r["grid_mesh_identical"] is True and r["grid_mesh_spec"] == ROWS  # 2 x 2: the first axis shards
    assert r["error_n_chains"].startswith("ValueError: n_chains") and "use 8 or 12" in r["error_n_chains"]
    assert r["error_n_systems"].startswith("ValueError: n_systems")
    assert r["error_mesh_type"].startswith("TypeError: mesh must be a jax.sharding.Mesh")


@pytest.mark.slow  # AIS runs are laid out by the same driver.run_many as the chains checked in the fast suite
def test_ais_on_a_mesh_matches_one_device():
    r = _group("ais")
    for family in ("binary", "gaussian"):
        assert r[f"{family}_weights_identical"] is True, f"{family}: a run's AIS weight changed on the mesh"
        assert r[f"{family}_weights_spec"] == ROWS
        assert r[f"{family}_log_z_diff"] <= TOL
        assert r[f"{family}_stderr_diff"] <= TOL
        assert np.isfinite(r[f"{family}_log_z"])
    assert r["error_n_runs"].startswith("ValueError: n_runs = 10")


def _same_training(r: dict, methods):
    for method in methods:
        assert r[f"{method}_params_diff"] <= TOL, method
        assert r[f"{method}_history_diff"] <= TOL, method
        assert r[f"{method}_params_moved"] > 0.1  # training moved the parameters: the comparison is not vacuous
        assert r[f"{method}_params_spec"] == REPLICATED
        if method != "cd":
            assert r[f"{method}_chains_spec"] == ROWS  # chains sharded with the rows


def test_data_parallel_training_and_its_checkpoints_match_one_device():
    r = _group("training")
    _same_training(r, ("cd", "pcd"))
    # One all-reduce per update carries all the sufficient statistics.
    assert r["pcd_collectives"] == {"all-reduce": 1}
    assert r["error_batch_size"].startswith("ValueError: batch_size = 10")
    assert r["error_n_chains"].startswith("ValueError: n_chains (persistent chains) = 6")
    # The sharded state checkpointed, restored onto the mesh and onto one device, resumed on each.
    assert r["restored_identical"] is True
    assert r["restored_mesh_chains_spec"] == ROWS
    assert r["restored_one_device"] == 1
    assert r["resume_mesh_diff"] <= TOL
    assert r["resume_one_device_diff"] <= TOL


@pytest.mark.slow
def test_data_parallel_training_of_every_family_centered_and_on_a_2d_mesh():
    r = _group("families")
    _same_training(r, ("pt",))
    assert r["pt_collectives"] == {"all-reduce": 2}  # PT adds one, for its swap counts
    for family in ("gaussian", "categorical"):
        assert r[f"{family}_params_diff"] <= TOL, family
        assert r[f"{family}_history_diff"] <= TOL, family
        assert r[f"{family}_params_moved"] > 1e-3, family
    assert r["grid_params_diff"] <= TOL
    # Centered training: the offsets' targets are averaged in the same all-reduce as the statistics.
    assert r["centered_params_diff"] <= TOL and r["centered_offsets_diff"] <= TOL
    assert r["centered_offsets_moved"] > 1e-3


@pytest.mark.slow  # the models are laid out by the same driver.along_chains as the chains checked in the fast suite
def test_fit_many_shards_the_models():
    r = _group("many")
    assert r["params_diff"] <= TOL
    assert r["history_diff"] <= TOL
    assert r["params_spec"] == ROWS
    assert r["models_differ"] > 0.01  # different rates/seeds: the models are not all the same
    assert r["error_n_models"].startswith("ValueError: n_models (the number of keys) = 6")


# --------------------------------------------------------------------------
# In-process: one device (or however many this process sees).


def test_make_mesh_over_the_devices_present():
    mesh = sharding.make_mesh()
    assert mesh.axis_names == ("batch",) and mesh.devices.size == jax.device_count()
    assert sharding.make_mesh(1, axis_name="chains").axis_names == ("chains",)
    with pytest.raises(ValueError, match="n_devices = 10000 but only"):
        sharding.make_mesh(10000)
    with pytest.raises(ValueError, match="n_devices must be a positive int"):
        sharding.make_mesh(0)


def test_one_device_mesh_equals_no_mesh():
    p = rbm.init_params(jax.random.key(0), 6, 4)
    v0 = np.zeros((4, 6), np.float32)
    a = gibbs.sample_chains(jax.random.key(1), p, v0, 5, transform=gibbs.keep_v)
    b = gibbs.sample_chains(jax.random.key(1), p, v0, 5, transform=gibbs.keep_v, mesh=sharding.make_mesh(1))
    np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))


def test_initialize_single_process_path(monkeypatch):
    for name in (sharding.ENV_COORDINATOR, sharding.ENV_NUM_PROCESSES, sharding.ENV_PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    info = sharding.initialize()
    assert info == {"process_id": 0, "process_count": 1, "local_devices": jax.local_device_count(),
                    "devices": jax.device_count()}
    monkeypatch.setenv(sharding.ENV_NUM_PROCESSES, "two")
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES must be an integer"):
        sharding.initialize()


def test_to_host_gives_numpy():
    out = sharding.to_host({"a": jax.numpy.arange(3), "b": np.ones(2), "k": jax.random.key(0)})
    assert isinstance(out["a"], np.ndarray) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"], np.ndarray)
    assert out["k"].dtype == np.uint32  # typed keys come back as their key data


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two fresh processes compile everything (about 20 s of both cores)
def test_two_processes_multi_host_path(tmp_path):
    """A multi-host run on this machine: two processes, 2 CPU devices each, one 4-device mesh.

    No process holds a whole sharded array, so the value checks, the history, the checkpoint and
    the comparison all go through the process-aware gathers (``sharding.to_host``).
    """
    port = _free_port()
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    procs = [subprocess.Popen([sys.executable, str(CHECKS), "multiprocess", str(i), str(port), str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(2)]
    results = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=300)
        finally:
            for other in procs:
                if other.poll() is None and proc.returncode not in (None, 0):
                    other.kill()
        assert proc.returncode == 0, stderr[-4000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    for i, r in enumerate(results):
        assert r["info"] == {"process_id": i, "process_count": 2, "local_devices": 2, "devices": 4}
        assert r["trace_fully_addressable"] is False and r["chains_fully_addressable"] is False
        assert r["sampling_identical"] is True
        assert r["fit_params_diff"] <= TOL and r["fit_history_diff"] <= TOL
        assert np.isfinite(r["history_log_likelihood"][-1])
        assert r["value_check"].startswith("ValueError: v0 must hold") and "at index (0, 0)" in r["value_check"]
    assert results[0]["checkpoint_written_by_me"] is True and results[1]["checkpoint_written_by_me"] is False
    assert results[0]["params_W"] == results[1]["params_W"]  # every process got the whole array
    saved = np.load(results[0]["checkpoint"])  # one file, written once, holding the whole state
    chains_v = [k for k in saved.files if k.startswith("leaf_") and saved[k].shape == (8, 8)]
    assert chains_v, "the persistent chains [8 chains, 8 visible] are saved whole"
