"""experiments/grad_check.py: run in-process at --quick size; a broken gradient makes it fail."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import grad_check  # noqa: E402
from rbm_jax import mlp  # noqa: E402


def test_quick_run_reproduces_the_notes_and_passes(tmp_path, capsys):
    out = tmp_path / "run"
    assert grad_check.main(["--quick", "--out", str(out), "--seed", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all_passed"] is True
    assert summary["config"]["seed"] == 1

    notes = summary["notes_example"]
    assert notes["ok"] and notes["max_error_vs_notes"] == 0.0
    assert notes["grads"]["W1"] == [[-0.125, -0.0625], [0.0, 0.0]]
    assert notes["forward"] == {"h1": [1.0, -0.5], "a1": [1.0, 0.0], "h2": [0.0], "y": [0.5]}
    assert notes["factors"]["dJ_dy"] == [[-0.5]] and notes["factors"]["da2_dh2"] == [[0.25]]
    assert notes["gradcheck"]["ok"] and len(notes["gradcheck"]["rows"]) == 8

    sweep = summary["sweep"]
    assert sweep["n_models"] == 4 and sweep["n_failed"] == 0 and sweep["ok"]
    assert {m["batch"] for m in sweep["models"]} == {1, 4}
    assert sweep["max_abs_error_vs_jax_grad"] < 1e-12
    assert sweep["max_abs_error_vs_fd"] < 1e-8

    f64 = summary["digits"]["float64"]
    assert f64["ok"] and f64["max_rel_gap_all_steps"] < 1e-10
    assert f64["final_loss_manual"] < f64["initial_loss"]
    assert f64["accuracy_manual"] == f64["accuracy_autodiff"]

    printed = capsys.readouterr().out
    for text in ("(1) dJ/dy", "(6) dh1/dW1", "[[-1/8, -1/16], [0, 0]]", "[[-0.125, -0.0625], [0, 0]]",
                 "all passed", "all checks passed"):
        assert text in printed, text


def broken_seed_grads(params, x, t, **kw):
    """Forgets factor (3), σ′(h2), in the notes' network: every gradient 4× too large."""
    g = mlp.manual_grads(params, x, t, **kw)
    return type(g)(*(4 * leaf for leaf in g))


def broken_mlp_grads(params, x, t, *, activations, loss, **kw):
    """Backpropagates as if every layer were linear (drops every activation derivative)."""
    del activations
    return mlp.mlp_manual_grads(params, x, t, activations=("identity",) * len(params), loss=loss, **kw)


@pytest.mark.parametrize(
    "hook, broken, failing_section",
    [("SEED_GRADS", broken_seed_grads, "notes_example"), ("MLP_GRADS", broken_mlp_grads, "sweep")],
)
def test_a_wrong_gradient_makes_the_script_fail(tmp_path, capsys, monkeypatch, hook, broken,
                                                 failing_section):
    small = grad_check.Config(seed=0, architectures=(((3, 2, 2), ("tanh", "identity"), "squared_error"),),
                              models_per_architecture=1, batch_sizes=(2,), digits_steps=0)
    monkeypatch.setattr(grad_check.Config, "quick", lambda self: small)
    monkeypatch.setattr(grad_check, hook, broken)
    out = tmp_path / "run"
    assert grad_check.main(["--quick", "--out", str(out)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all_passed"] is False
    assert summary[failing_section]["ok"] is False
    other = {"notes_example", "sweep"} - {failing_section}
    assert all(summary[k]["ok"] for k in other)
    assert "digits" not in summary  # digits_steps=0 skips it
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "SOME CHECKS FAILED" in printed


def test_existing_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    with pytest.raises(SystemExit, match="already holds a run"):
        grad_check.main(["--quick", "--out", str(out)])
    assert (out / "summary.json").read_text() == "{}"


def test_help_runs_from_the_command_line():
    res = subprocess.run([sys.executable, str(EXPERIMENTS / "grad_check.py"), "--help"],
                         capture_output=True, text=True, check=True)
    for flag in ("--seed", "--out", "--quick", "--overwrite", "Backprop by hand"):
        assert flag in res.stdout, flag
