"""Heavier checks, run by hand with `make test-slow` (marked slow): reproductions at real size."""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rbm_jax import ais, data, exact, rbm, train

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

pytestmark = pytest.mark.slow


def test_ais_on_a_digits_rbm_with_20_hidden_units(x64):
    """A digits-sized model (64 visible, 20 hidden: 2**20 hidden states enumerated) trained by PCD."""
    X, _ = data.digits(binarize=True, dtype=np.float64)
    p0 = rbm.init_params(jax.random.key(0), 64, 20, data=X, dtype=jnp.float64)
    params, _ = train.fit(jax.random.key(1), p0, X, method="pcd", n_epochs=20, batch_size=20,
                          optimizer=optax.sgd(0.05), exact_likelihood=False, metrics_every=20)
    log_z = float(exact.log_partition(params))
    est = ais.log_partition(jax.random.key(2), params, data=X)
    err = abs(float(est.log_z) - log_z)
    assert err < 3 * float(est.stderr) and err < 0.1, (float(est.log_z), log_z, float(est.stderr))
    rev = ais.reverse_log_partition(jax.random.key(3), params, n_runs=100, data=X)
    assert abs(float(rev.log_z) - log_z) < 3 * float(rev.stderr) + 0.05


def test_digits_vs_sklearn_quick(tmp_path, capsys):
    import digits_vs_sklearn

    out = tmp_path / "run"
    assert digits_vs_sklearn.main(["--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # Its headline figures (speed-up, accuracies, likelihoods) are labelled as a smoke test's, and no
    # ratio prints as "0.0×".
    printed = capsys.readouterr().out
    assert summary["quick"] is True
    for line in printed.splitlines():
        if any(w in line for w in ("scikit-learn's faster setting", "test accuracy", "AIS rbm_jax", "final exact PLL")):
            assert "smoke-test figure" in line, line
    assert "0.0×" not in printed and "0.00×" not in printed
    assert len(summary["sklearn_pll"]) == len(summary["rbm_jax_pll"]) == 2
    # Same algorithm, same settings: the pseudo-likelihoods agree within run-to-run noise.
    assert abs(summary["rbm_jax_pll"][-1] - summary["sklearn_pll"][-1]) < 1.0
    assert summary["ais"]["rbm_jax"]["log_z_stderr"] < 0.5
    assert (out / "digits_vs_sklearn.png").stat().st_size > 10_000
