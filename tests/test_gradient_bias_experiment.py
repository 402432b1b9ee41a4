"""experiments/gradient_bias.py: one --quick run in-process, its summary, figure and sanity relations."""

from __future__ import annotations

import copy
import json
import pathlib
import sys

import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import gradient_bias  # noqa: E402

METRICS = ("bias", "bias_lo", "bias_hi", "bias_sq", "bias_sq_se", "bias_z", "noise", "raw_distance",
           "relative_bias", "cos", "cos_se", "rel_err", "zero_fraction", "replicates", "cost")


@pytest.fixture(scope="session")  # once per worker, however the modules are distributed
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradient_bias") / "run"
    code = gradient_bias.main(["--quick", "--out", str(out), "--seed", "0"])
    return code, out, json.loads((out / "summary.json").read_text())


def by(rows, **kw):
    """The one row of ``rows`` whose fields equal ``kw``."""
    found = [r for r in rows if all(r[k] == v for k, v in kw.items())]
    assert len(found) == 1, (kw, found)
    return found[0]


def test_quick_run_passes_and_writes_its_outputs(quick_run):
    code, out, summary = quick_run
    assert code == 0
    assert (out / "gradient_bias.png").stat().st_size > 20_000
    cfg = gradient_bias.Config(seed=0).quick()
    assert summary["config"]["seed"] == 0 and summary["all_passed"] is True
    assert all(v for v in summary["checks"].values() if isinstance(v, bool))
    assert summary["model"]["n_rows"] == 30 and summary["model"]["n_visible"] == 16
    assert [s["name"] for s in summary["stages"]] == [n for n, _ in cfg.stages]
    for stage in summary["stages"]:
        assert stage["grad_norm"] > 0 and stage["log_likelihood"] < summary["model"]["optimal_log_likelihood"]
        assert {(r["k"], r["repeats"]) for r in stage["cd"]} == {(k, r) for k in cfg.cd_ks for r in cfg.cd_repeats}
        assert [r["chains"] for r in stage["pcd"]] == sorted(cfg.pcd_chains)
        assert {(r["rungs"], r["k"]) for r in stage["pt"]} == {(n, k) for n in cfg.pt_rungs for k in cfg.pt_ks}
        for row in stage["cd"] + stage["pcd"] + stage["pt"]:
            for m in METRICS:
                assert np.isfinite(row[m]), m
            assert row["bias_lo"] <= row["bias"] <= row["bias_hi"]
            assert -1 <= row["cos"] <= 1 and row["rel_err"] >= 0
        for row in stage["pt"]:
            assert len(row["swap_acceptance"]) == row["rungs"] - 1 and row["betas"][0] == 1.0
            assert row["cost"] == row["k"] * row["rungs"] * row["systems"]
        # The R replicate estimates average exactly to the library's pooled estimate.
        assert stage["split_max_error"] < 1e-10


def test_pcd_from_equilibrium_is_unbiased(quick_run):
    _, _, summary = quick_run
    for stage in summary["stages"]:
        rows = stage["pcd"]
        for r in rows:
            # Bias² within 4 standard errors of 0, and the one-sided χ² score small.
            assert abs(r["bias_sq"]) < 4 * r["bias_sq_se"], (stage["name"], r["chains"])
            assert r["bias_z"] < 4
            assert r["bias"] < 3 * r["noise"]
        # Only the variance depends on the number of chains: noise ∝ 1/sqrt(chains), cos rises.
        noise = [r["noise"] for r in rows]
        assert 0.6 < noise[0] / noise[-1] / np.sqrt(rows[-1]["chains"] / rows[0]["chains"]) < 1.6
        assert [r["cos"] for r in rows] == sorted(r["cos"] for r in rows)


def test_cd_bias_shrinks_with_k_and_is_large_on_the_trained_model(quick_run):
    _, _, summary = quick_run
    cfg = gradient_bias.Config(seed=0).quick()
    init, trained = summary["stages"][0], summary["stages"][-1]
    rep, k_lo, k_hi = cfg.cd_repeats[-1], min(cfg.cd_ks), max(cfg.cd_ks)
    lo, hi = by(trained["cd"], k=k_lo, repeats=rep), by(trained["cd"], k=k_hi, repeats=rep)
    assert hi["cos"] >= lo["cos"] + 0.3
    assert hi["bias_hi"] < lo["bias_lo"]
    assert lo["relative_bias"] > 0.9  # CD-1's mean is nearly 0 on a trained model
    # CD-1 is biased at every stage; at initialisation Gibbs mixes within 10 sweeps.
    for stage in summary["stages"]:
        assert by(stage["cd"], k=1, repeats=rep)["bias_lo"] > 0
    assert by(init["cd"], k=10, repeats=rep)["bias_z"] < 4
    # A trained model mixes more slowly than the initial one.
    assert hi["relative_bias"] > 10 * by(init["cd"], k=k_hi, repeats=rep)["relative_bias"]


def test_pt_rows_compare_with_cd_at_equal_cost(quick_run):
    _, _, summary = quick_run
    cfg = gradient_bias.Config(seed=0).quick()
    for stage in summary["stages"]:
        for r in stage["pt"]:
            assert r["cd_equal_cost"]["k"] == r["k"] * r["rungs"]
            same = by(stage["cd"], k=r["k"], repeats=cfg.pt_repeats)  # CD from the same starts
            assert r["cd_same_k"]["bias"] == pytest.approx(same["bias"])
    for r in summary["stages"][-1]["pt"]:
        assert r["bias_lo"] > 0  # a few PT steps from the data do not reach equilibrium here


def test_checks_fail_on_a_biased_pcd_or_a_flat_cd(quick_run):
    _, _, summary = quick_run
    cfg = gradient_bias.Config(seed=0).quick()
    assert gradient_bias.checks(summary["stages"], cfg)["all_passed"] is True
    stages = copy.deepcopy(summary["stages"])
    stages[0]["pcd"][1]["bias_z"] = 6.0
    assert gradient_bias.checks(stages, cfg)["pcd_unbiased"] is False
    stages = copy.deepcopy(summary["stages"])
    for r in stages[-1]["cd"]:
        r.update(bias_lo=1.0, bias=1.0, bias_hi=1.0, cos=0.5)
    result = gradient_bias.checks(stages, cfg)
    assert not result["cd_bias_decreases"] and not result["cd_cos_increases"] and not result["all_passed"]


def test_mean_offset_is_calibrated():
    """Bias² is estimated without the noise of the mean; z is ≈ N(0, 1) when there is no bias."""
    rng = np.random.default_rng(0)
    p, R, n = 40, 80, 150
    scales = rng.gamma(1.0, 1.0, p)
    beta = np.zeros(p)
    beta[:3] = 0.2
    null = [gradient_bias.mean_offset(rng.normal(size=(R, p)) * scales, np.zeros(p)) for _ in range(n)]
    z = np.array([o["z"] for o in null])
    assert abs(z.mean()) < 0.25 and 0.75 < z.std() < 1.25 and z.max() < 4.5
    sq = np.array([o["sq"] for o in null])
    assert abs(sq.mean()) < 3 * sq.std() / np.sqrt(len(sq))  # unbiased for ‖β‖² = 0
    biased = [gradient_bias.mean_offset(rng.normal(size=(R, p)) * scales + beta, np.zeros(p)) for _ in range(n)]
    sq = np.array([o["sq"] for o in biased])
    se = np.array([o["se"] for o in biased])
    assert abs(sq.mean() - beta @ beta) < 3 * sq.std() / np.sqrt(len(sq))
    assert 0.7 < se.mean() / sq.std() < 1.4  # the standard error matches the spread
    # The same-mean score between one pooled draw and R estimates of one law.
    zs = [gradient_bias.same_mean_z(rng.normal(size=p) * scales / np.sqrt(R), rng.normal(size=(R, p)) * scales)
          for _ in range(n)]
    assert abs(np.mean(zs)) < 0.25 and np.max(zs) < 4.5


def test_help_and_refusal_to_overwrite(quick_run, capsys):
    _, out, _ = quick_run
    with pytest.raises(SystemExit) as exc:
        gradient_bias.main(["--help"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    assert "--seed" in printed and "--quick" in printed and "cosine similarity" in printed
    with pytest.raises(SystemExit, match="already holds a run"):
        gradient_bias.main(["--quick", "--out", str(out)])
