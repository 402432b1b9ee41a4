"""Benchmark scripts: their --quick runs finish and write result files with the expected fields.

The scripts run as subprocesses (``sys.executable``), as ``make bench`` runs them. They get
the tests' persistent compilation cache (see conftest.py) through JAX's environment
variables, so repeated local runs skip most compilation; the first run fills it.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def run_script(name: str, *args: str, timeout: float = 120, **env_vars: str) -> str:
    env = dict(os.environ,
               JAX_COMPILATION_CACHE_DIR=str(ROOT / ".jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5", **env_vars)
    res = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow  # a fresh process compiling every section (about 20 s); `make bench` runs the script itself
def test_gpu_quick_writes_rates(tmp_path):
    # Two simulated CPU devices, so the scaling section runs a real (2-device) mesh.
    printed = run_script("gpu.py", "--quick", "--out", str(tmp_path),
                         XLA_FLAGS="--xla_force_host_platform_device_count=2")
    (path,) = tmp_path.glob("gpu-quick-*.json")
    result = json.loads(path.read_text())
    env = result["environment"]
    for key in ("date", "machine", "versions", "device_kind", "platform"):
        assert key in env, key
    assert env["device_kind"] and env["platform"]
    for key in ("python", "jax", "jaxlib", "numpy", "scikit-learn"):
        assert env["versions"][key], key
    assert env["machine"]["cores"] >= 1 and env["machine"]["cpu_model"]
    assert result["quick"] is True
    assert [r["n_chains"] for r in result["sampling"]] == [100, 1_000]
    for r in result["sampling"]:
        assert positive_finite(r["chain_sweeps_per_s"])
        assert positive_finite(r["useful_flop_per_s"]) and positive_finite(r["fraction_of_matmul_rate"])
    assert positive_finite(result["matmul"]["flop_per_s"])
    fm = result["fit_many"]
    assert fm["n_models"] == 4 and fm["n_epochs"] == 1
    assert positive_finite(fm["models_epochs_per_s"]) and positive_finite(fm["seconds_per_epoch"])
    assert "chain-sweeps/s" in printed and "GFLOP/s" in printed
    assert result["device_count"] == 2
    assert [(r["devices"], r["n_chains"]) for r in result["scaling"]] == [(1, 100), (2, 200)]
    assert result["scaling"][0]["efficiency"] == 1.0
    assert all(positive_finite(r["chain_sweeps_per_s"]) for r in result["scaling"])


def test_bench_quick_families(tmp_path):
    printed = run_script("bench.py", "--quick", "--only", "families", "--out", str(tmp_path))
    result = json.loads((tmp_path / "bench-quick-families.json").read_text())
    assert (tmp_path / "bench-quick-families.md").read_text().count("| bernoulli |") == 1
    assert list(result["sections"]) == ["families"]
    fam = result["sections"]["families"]
    rates = fam["chain_sweeps_per_s"]
    for name in ("bernoulli", "gaussian", "categorical", "ceiling (sigmoid>0.5)"):
        assert positive_finite(rates[name]), name
    assert fam["vs_bernoulli"]["bernoulli"] == 1.0
    for key in ("cpu_model", "cores", "platform"):
        assert result["environment"]["machine"][key]
    assert "families" in printed and "--only families" in result["command"]
