"""experiments/nonreversible_pt.py: its quick run writes the tables and figures the README quotes."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "experiments"))

import nonreversible_pt  # noqa: E402


@pytest.mark.slow  # about 45 s: six models adapted, compared and estimated
def test_quick_run_writes_its_summary_and_figures(tmp_path):
    out = tmp_path / "run"
    assert nonreversible_pt.main(["--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True
    for name in ("round_trips.png", "ladders.png", "log_z.png"):
        assert (out / name).stat().st_size > 10_000
    assert len(summary["round_trips"]) == 6 and len(summary["log_z"]) == 6
    for row in summary["round_trips"].values():
        assert 0 < row["rate_adapted"] < row["rate_limit"] < 0.5
        assert row["adapted_betas"][0] == 1 and row["adapted_betas"][-1] == 0
    # Block Gibbs never leaves the mode it starts in; reference PT reaches the other one.
    assert summary["bimodal"]["gibbs"]["upper_mass"] == 1.0
    assert summary["bimodal"]["reference_pt"]["chains_that_visited_both"] > 0
    for row in summary["log_z"].values():
        assert abs(row["stepping_stone"]["mean_error"]) < 0.1
