"""experiments/gaussian_digits.py at --quick size, and its data (data.continuous_digits)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import gaussian_digits  # noqa: E402
from rbm_jax import data  # noqa: E402


# --------------------------------------------------------------------------
# The data


def test_continuous_digits_split_mask_and_standardisation():
    from sklearn.datasets import load_digits

    train, test, keep, mean, std = data.continuous_digits(0, 0.2, return_scaling=True)
    assert train.shape == (1437, 61) and test.shape == (360, 61) and train.dtype == np.float32
    assert keep.shape == (64,) and keep.dtype == bool and np.flatnonzero(~keep).tolist() == [0, 32, 39]
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-5)
    # The integer part of every de-standardised value is a raw pixel of the same split (float64: exact).
    raw = load_digits().data
    _, test_idx = data.train_test_split(np.arange(1797), test_fraction=0.2, seed=0)
    _, test64, _, mean64, std64 = data.continuous_digits(0, 0.2, return_scaling=True, dtype=np.float64)
    np.testing.assert_array_equal(np.floor(test64 * std64 + mean64 + 1e-9), raw[test_idx][:, keep])
    np.testing.assert_allclose(test, test64, rtol=1e-5, atol=1e-5)
    # The dropped pixels are constant on the training images (judged there only).
    train_idx, _ = data.train_test_split(np.arange(1797), test_fraction=0.2, seed=0)
    assert np.all(raw[train_idx][:, ~keep] == raw[train_idx][:1, ~keep])
    assert np.all(raw[train_idx][:, keep].std(0) > 0)


def test_continuous_digits_is_deterministic_and_seeded():
    a = data.continuous_digits(3)
    b = data.continuous_digits(3)
    c = data.continuous_digits(4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape[0] == c[0].shape[0] and not np.array_equal(a[1][:, :5], c[1][:, :5])
    assert data.continuous_digits(0, dtype=np.float64)[0].dtype == np.float64
    assert len(data.continuous_digits(0)) == 3
    assert "continuous_digits" in data.__all__


@pytest.mark.parametrize("kwargs, error, match", [
    ({"seed": -1}, ValueError, "seed"),
    ({"test_fraction": 1.0}, ValueError, "test_fraction"),
    ({"test_fraction": "0.2"}, TypeError, "test_fraction"),
    ({"return_scaling": "yes"}, TypeError, "return_scaling"),
    ({"dtype": np.int32}, (TypeError, ValueError), "dtype"),
])
def test_continuous_digits_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.continuous_digits(**kwargs)


# --------------------------------------------------------------------------
# The experiment


@pytest.fixture(scope="session")  # once per worker, however the modules are distributed
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gaussian_digits") / "run"
    code = gaussian_digits.main(["--quick", "--out", str(out), "--seed", "0"])
    return code, out, json.loads((out / "summary.json").read_text())


def labelled_numbers(tree, path=""):
    """Every {'value', 'on'} entry of the summary, with its path."""
    if isinstance(tree, dict):
        if set(tree) >= {"value", "on"}:
            yield path, tree
        for k, v in tree.items():
            yield from labelled_numbers(v, f"{path}/{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from labelled_numbers(v, f"{path}[{i}]")


# The --quick run is compile-bound (~30 s alone, ~55 s beside another worker): behind -m slow (make test-slow).
@pytest.mark.slow
def test_quick_run_writes_its_outputs(quick_run):
    code, out, summary = quick_run
    assert code == 0 and summary["all_passed"] is True and all(summary["checks"].values())
    for png in ("learning_curves.png", "filters.png", "samples.png"):
        assert (out / png).stat().st_size > 5_000, png
    cfg = gaussian_digits.Config(seed=0).quick()
    assert summary["config"] == json.loads(json.dumps(gaussian_digits.dataclasses.asdict(cfg)))
    d = summary["data"]
    assert (d["train_images"], d["held_out_images"], d["kept_pixels"]) == (1437, 360, 61)
    assert d["fitting_images"] + d["validation_images"] == 1437 and d["validation_images"] == 288
    _, _, _, _, std = data.continuous_digits(0, return_scaling=True)
    assert abs(d["to_pixel_scale"]["value"] + np.sum(np.log(std))) < 1e-9


@pytest.mark.slow
def test_every_number_says_what_it_was_computed_on(quick_run):
    _, _, summary = quick_run
    found = list(labelled_numbers(summary))
    assert len(found) > 20
    for path, entry in found:
        assert isinstance(entry["on"], str) and entry["on"], path
        assert entry["value"] is None or np.isfinite(entry["value"]), path
    assert "360 images" in summary["rbm"]["test_log_likelihood"]["on"]
    assert "exact" in summary["rbm"]["test_log_likelihood"]["on"]
    for c in summary["selection"]["candidates"]:
        assert "validation, 288 images carved from train" in c["final_validation_log_likelihood"]["on"]


@pytest.mark.slow
def test_numbers_are_sane(quick_run):
    _, _, summary = quick_run
    rbm, base = summary["rbm"], summary["baselines"]
    test = {name: b["test_log_likelihood"]["value"] for name, b in base.items()}
    # A few epochs from the diagonal-Gaussian start: near it, and far from the mixtures.
    assert test["gmm_1_diag"] - 5 < rbm["test_log_likelihood"]["value"] < test["gmm_16_diag"]
    assert rbm["train_log_likelihood"]["value"] < 0
    assert abs(rbm["history_last_train_log_likelihood"]["value"] - rbm["train_log_likelihood"]["value"]) < 1e-3
    # The diagonal Gaussian on standardised data scores -n/2 log(2πe) on its own training data.
    assert abs(base["gmm_1_diag"]["train_log_likelihood"]["value"] + 61 / 2 * np.log(2 * np.pi * np.e)) < 1e-3
    assert test["gmm_16_diag"] > test["gmm_1_full"] > test["gmm_1_diag"]
    assert summary["gap_to_diagonal_mixture"]["value"] > 0
    # The chosen setting is the best mean validation score among the candidates.
    cands = summary["selection"]["candidates"]
    means = {}
    for c in cands:
        means.setdefault((c["method"], c["learning_rate"]), []).append(c["final_validation_log_likelihood"]["value"])
    best = max(means, key=lambda s: np.mean(means[s]))
    chosen = summary["selection"]["chosen"]
    assert (chosen["method"], chosen["learning_rate"]) == best
    assert len(cands) == 2 * 1 * 2
    # The exact-gradient polish starts at the final model and never ends lower on train.
    curve = summary["exact_gradient_polish"]["curve"]
    assert abs(curve[0]["train"] - rbm["train_log_likelihood"]["value"]) < 1e-3
    assert curve[-1]["train"] >= curve[0]["train"] - 1e-3
    assert [r["log_sigma_rate"] for r in summary["sigma_ablation"]["runs"]] == [1.0]


def test_shared_diagonal_mixture_matches_a_single_gaussian():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1.0, 2.0, 0.5] + [1.0, 0.0, -1.0]
    tr_ll, te_ll = gaussian_digits.shared_diagonal_mixture(X, X, 1, 5, 0)
    var = X.var(0) + 1e-6
    expected = np.mean(-0.5 * np.sum((X - X.mean(0)) ** 2 / var, 1) - 0.5 * np.sum(np.log(2 * np.pi * var)))
    assert abs(tr_ll - expected) < 1e-9 and tr_ll == te_ll


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "new"
    with pytest.raises(SystemExit, match="--seed must be a non-negative"):
        gaussian_digits.main(["--quick", "--seed", "-1", "--out", str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:  # argparse: an unknown option, exit status 2
        gaussian_digits.main(["--quick", "--epochs", "3", "--out", str(out)])
    assert exc.value.code == 2 and not out.exists()
    with pytest.raises(SystemExit) as exc:
        gaussian_digits.main(["--quick", "--seed", "one", "--out", str(out)])
    assert exc.value.code == 2 and not out.exists()
    afile = tmp_path / "file.txt"
    afile.write_text("mine")
    with pytest.raises(SystemExit, match="is a file"):
        gaussian_digits.main(["--quick", "--out", str(afile)])
    assert afile.read_text() == "mine"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="already holds a run"):
        gaussian_digits.main(["--quick", "--out", str(tmp_path / "taken")])
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


def test_help_lists_the_settings():
    res = subprocess.run([sys.executable, str(EXPERIMENTS / "gaussian_digits.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "--quick" in res.stdout and "Settings (full run" in res.stdout
    assert "log_sigma_rate" in res.stdout and "(--quick: 4)" in res.stdout
