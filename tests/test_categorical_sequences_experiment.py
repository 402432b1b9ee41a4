"""experiments/categorical_sequences.py at --quick size: outputs, exact references, CLI behaviour."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import categorical_sequences as cs  # noqa: E402
from rbm_jax import exact  # noqa: E402


@pytest.fixture(scope="session")  # once per worker, however the modules are distributed
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("categorical_sequences") / "run"
    code = cs.main(["--quick", "--out", str(out), "--seed", "0"])
    return code, out, json.loads((out / "summary.json").read_text())


# The --quick run is compile-bound (~30 s alone, ~55 s beside another worker): behind -m slow (make test-slow).
@pytest.mark.slow
def test_quick_run_writes_its_outputs(quick_run):
    code, out, summary = quick_run
    assert code == 0 and summary["all_passed"] is True and all(summary["checks"].values())
    assert (out / "learning_curves.png").stat().st_size > 10_000
    cfg = cs.Config(seed=0).quick()
    assert set(summary["methods"]) == set(cfg.methods)
    for method, entry in summary["methods"].items():
        per_epoch = entry["test_log_likelihood_per_epoch"]["values"]
        assert len(per_epoch) == cfg.n_seeds and all(len(row) == cfg.n_epochs for row in per_epoch)
        assert all(np.isfinite(row).all() for row in per_epoch)  # metrics_every=1: every epoch exact
        assert len(entry["per_seed"]) == cfg.n_seeds
        for p in entry["per_seed"]:
            assert f"test, {cfg.n_test} sequences, exact" == p["test_log_likelihood"]["on"]
            assert p["kl_exact"]["value"] >= -1e-4
            assert abs(p["kl_test_estimate"]["value"]
                       - (summary["true_model"]["test_log_likelihood"]["value"] - p["test_log_likelihood"]["value"])) < 1e-9


@pytest.mark.slow
def test_the_true_model_is_non_trivial_and_the_references_agree(quick_run):
    _, _, summary = quick_run
    true, ind = summary["true_model"], summary["independent_sites"]
    assert true["multi_information"]["value"] > 0.5  # the structure is worth over half a nat
    assert true["entropy"]["value"] < true["uniform_entropy"] - 1
    assert true["test_log_likelihood"]["value"] > ind["test_log_likelihood"]["value"] + 0.5
    # The best independent-site model is KL = multi-information away; a fitted one no closer.
    assert ind["kl_exact"]["value"] >= true["multi_information"]["value"] - 1e-4
    assert ind["kl_exact"]["value"] < true["multi_information"]["value"] + 0.2
    # On 500 test sequences the true model's log-likelihood is near minus its entropy.
    assert abs(true["test_log_likelihood"]["value"] + true["entropy"]["value"]) < 0.3
    assert all(0.02 < h < 0.98 for h in true["hidden_means"]["values"])  # the hidden units do switch


def test_true_model_construction():
    cfg = cs.Config()
    p = cs.true_model(cfg, jax.random.key(0))
    assert p.W.shape == (8, 4, 6) and p.b.shape == (8, 4) and p.c.shape == (6,)
    np.testing.assert_allclose(jnp.sum(p.W, axis=1), 0, atol=1e-5)  # zero-sum gauge
    np.testing.assert_allclose(p.c, -0.5 * jnp.sum(jnp.max(p.W, axis=1), axis=0), rtol=1e-6)
    lp = exact.log_marginal_v(p, exact.configurations(8, n_states=4))
    assert abs(float(jax.nn.logsumexp(lp))) < 1e-4


def test_independent_site_model_and_kl():
    X = np.array([[0, 1], [0, 2], [1, 1], [0, 1]])
    lf = cs.site_log_frequencies(X, 3, 1.0)
    np.testing.assert_allclose(np.exp(lf).sum(1), 1)
    np.testing.assert_allclose(np.exp(lf[0]), np.array([4, 2, 1]) / 7)
    np.testing.assert_allclose(cs.independent_log_prob(lf, [[1, 2]]), lf[0, 1] + lf[1, 2])
    lp = np.log(np.array([0.5, 0.25, 0.25]))
    assert cs.kl_exact(lp, lp) == 0
    assert abs(cs.kl_exact(lp, np.log(np.full(3, 1 / 3))) - (np.log(3) - 1.5 * np.log(2))) < 1e-12


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(SystemExit, match="--seed must be a non-negative"):
        cs.main(["--quick", "--seed", "-2", "--out", str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        cs.main(["--quick", "--methods", "cd", "--out", str(out)])
    assert exc.value.code == 2 and not out.exists()
    afile = tmp_path / "file.txt"
    afile.write_text("mine")
    with pytest.raises(SystemExit, match="is a file"):
        cs.main(["--quick", "--out", str(afile)])
    assert afile.read_text() == "mine"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="already holds a run"):
        cs.main(["--quick", "--out", str(tmp_path / "taken")])
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


def test_help_lists_the_settings():
    res = subprocess.run([sys.executable, str(EXPERIMENTS / "categorical_sequences.py"), "--help"],
                         capture_output=True, text=True, check=True)
    assert "--quick" in res.stdout and "Settings (full run" in res.stdout
    assert "true_weight_scale" in res.stdout and "(--quick: 500)" in res.stdout
