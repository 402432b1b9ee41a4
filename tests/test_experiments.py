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


# --- The shared runner and plumbing in experiments/common.py (issue 15) ------------------------

import common  # noqa: E402


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _Stream:
    def __init__(self, tty: bool):
        self.text, self.tty = "", tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def test_progress_eta_leaves_out_compilation_and_restarts_on_resume():
    clock, stream = _Clock(), _Stream(tty=False)
    # A resumed run: 50 of 100 epochs were done by an earlier process.
    bar = common.Progress(100, "cd", start=50, stream=stream, clock=clock, every_s=0)
    bar.update(50)
    clock.t = 10.0  # the first chunk (60) took 10 s: mostly compilation
    bar.update(60)
    assert "eta    ?" in stream.text.splitlines()[-1]  # no rate can be measured from the first chunk
    clock.t = 11.0  # the next 10 epochs took 1 s: 40 epochs left at 0.1 s each
    assert bar.eta(70) == pytest.approx(3.0)
    bar.update(70)
    assert "eta    3s" in stream.text.splitlines()[-1]


def test_progress_prints_plain_lines_when_stderr_is_not_a_terminal():
    clock = _Clock()
    piped, tty = _Stream(tty=False), _Stream(tty=True)
    for stream in (piped, tty):
        bar = common.Progress(4, "pt", stream=stream, clock=clock, every_s=0)
        for done in range(5):
            clock.t += 1
            bar.update(done)
        bar.close()
    assert "\r" not in piped.text and len(piped.text.splitlines()) == 5
    assert piped.text.splitlines()[-1].startswith("pt [") and "4/4" in piped.text.splitlines()[-1]
    assert tty.text.count("\r") == 5  # a terminal redraws one line


def test_ratios_never_print_as_zero():
    assert common.ratio(0.012) == "0.012×" and common.ratio(1.41) == "1.41×" and common.ratio(8.3) == "8.3×"


def test_overwrite_removes_only_our_outputs(tmp_path):
    out = tmp_path / "run"
    (out / "pt").mkdir(parents=True)
    for name in ("summary.json", "old.png", "pt/metrics.jsonl"):
        (out / name).write_text("earlier run")
    assert common.output_dir(out, "x", overwrite=True, outputs=("old.png", "pt/metrics.jsonl")) == out
    assert list(out.iterdir()) == []  # nothing stale is left
    (out / "summary.json").write_text("earlier run")
    (out / "mine.csv").write_text("a user's file")
    with pytest.raises(SystemExit, match=r"not this experiment's outputs \(mine\.csv\)"):
        common.output_dir(out, "x", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["mine.csv", "summary.json"]


def test_every_experiment_uses_the_one_runner_and_one_quick_config():
    import ast

    for path in sorted(EXPERIMENTS.glob("*.py")):
        tree = ast.parse(path.read_text())
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        funcs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert "keep_v" not in funcs, f"{path.name}: a local copy of gibbs.keep_v"
        assert "geomspace" not in attrs, f"{path.name}: a local geometric ladder (use gibbs.geometric_ladder)"
        if path.name in ("common.py", "train_rbm.py", "demo_report.py"):
            continue
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        calls = {c.func.attr for c in ast.walk(main) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)}
        assert "experiment_main" in calls, f"{path.name}: main() is not common.experiment_main"
        config = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Config")
        quick = next(n for n in config.body if isinstance(n, ast.FunctionDef) and n.name == "quick")
        assert not quick.decorator_list and [a.arg for a in quick.args.args] == ["self"], path.name


def test_a_quick_run_is_labelled_and_its_seed_checked_before_the_folder(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="--seed must be a non-negative"):
        gibbs_convergence.main(["--quick", "--seed", "-1", "--out", str(out)])
    assert not out.exists()
    assert notes_walkthrough.main(["--quick", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["quick"] is True
    assert common.SMOKE in capsys.readouterr().out


def test_an_unwritable_out_is_refused_before_the_walkthrough_runs(read_only_dir, capsys):
    with pytest.raises(SystemExit, match="is not writable"):
        notes_walkthrough.main(["--quick", "--out", str(read_only_dir)])
    assert "A random RBM" not in capsys.readouterr().out  # refused before any work, not after it
