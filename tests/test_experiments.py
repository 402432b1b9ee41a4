"""Experiment scripts: run in-process at --quick size, check their summaries and CLI behaviour."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import notes_walkthrough  # noqa: E402


def test_notes_walkthrough_quick(tmp_path, capsys):
    out = tmp_path / "run"
    assert notes_walkthrough.main(["--quick", "--out", str(out), "--seed", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("log_z_error", "p_v_given_h_max_error", "unit_conditional_max_error",
                "row_sum_error", "stationarity_error", "detailed_balance_error"):
        assert summary[key] < 1e-12, key
    assert 0 < summary["lambda2"] < 1
    tvs = [summary["tv_by_sweeps"][k] for k in sorted(summary["tv_by_sweeps"], key=int)]
    assert tvs == sorted(tvs, reverse=True)  # distance to P(v) only shrinks
    printed = capsys.readouterr().out
    assert "notes' formula" in printed and "P(v,h)/P(h)" in printed
    assert summary["config"]["seed"] == 3


def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    assert notes_walkthrough.main(["--quick", "--out", str(out)]) == 0
    before = (out / "summary.json").read_text()
    with pytest.raises(SystemExit, match="already holds a run"):
        notes_walkthrough.main(["--quick", "--out", str(out), "--seed", "5"])
    assert (out / "summary.json").read_text() == before
    assert notes_walkthrough.main(["--quick", "--out", str(out), "--seed", "5", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 5


def test_help_runs_from_the_command_line():
    res = subprocess.run([sys.executable, str(EXPERIMENTS / "notes_walkthrough.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "--seed" in res.stdout and "--quick" in res.stdout and "Walk through" in res.stdout


import gibbs_convergence  # noqa: E402


def test_gibbs_convergence_quick(tmp_path):
    out = tmp_path / "run"
    assert gibbs_convergence.main(["--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "convergence.png").stat().st_size > 10_000
    assert summary["sampled_within_bound_of_exact"] is True
    assert 0 < summary["lambda2"] < 1
    exact_tv = summary["exact_tv"]
    assert all(a >= b for a, b in zip(exact_tv, exact_tv[1:]))  # the exact curve only falls
    bimodal = summary["bimodal"]
    assert bimodal["pt_error"] < 0.15 and bimodal["gibbs_error"] > 0.4


@pytest.mark.slow  # a fresh process compiles everything again (tests/test_sharding.py runs in CI)
def test_gibbs_convergence_on_two_devices_is_bit_identical(tmp_path):
    # --devices 2 (two simulated CPU devices, in a fresh process: the flag precedes JAX's import)
    # shards the chains and PT systems; the samples, so every number, are bit-identical.
    out = tmp_path / "run"
    assert gibbs_convergence.main(["--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    bimodal = summary["bimodal"]
    sharded = tmp_path / "sharded"
    res = subprocess.run([sys.executable, str(EXPERIMENTS / "gibbs_convergence.py"), "--quick", "--devices", "2",
                          "--out", str(sharded)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "sharding over 2 device(s)" in res.stdout
    on_mesh = json.loads((sharded / "summary.json").read_text())
    assert on_mesh["sampled_tv"] == summary["sampled_tv"]
    assert on_mesh["bimodal"] == bimodal


import centering  # noqa: E402


@pytest.mark.slow  # twelve fit_many programs to compile (about 45 s)
def test_centering_quick_writes_its_table(tmp_path):
    out = tmp_path / "run"
    assert centering.main(["--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True
    assert (out / "centering.png").stat().st_size > 10_000
    rows = summary["results"]
    assert len(rows) == 12
    for row in rows.values():
        assert len(row["abs_gap_per_seed"]) == 3 and 0 <= row["median_abs_gap"] < 2
    # Even the short runs: centered CD with data offsets ends nearer the optimum than plain CD.
    assert rows["cd centered 'data'"]["median_abs_gap"] < rows["cd plain"]["median_abs_gap"]
