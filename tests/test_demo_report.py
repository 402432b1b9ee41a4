"""experiments/demo_report.py (`make demo`): its --quick run writes a self-contained report whose numbers are
the computed ones, checked here against the saved models by enumeration."""

from __future__ import annotations

import base64
import html
import json
import pathlib
import re
import sys

import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import demo_report  # noqa: E402
from rbm_jax import RBMParams, checkpoint, data, exact  # noqa: E402


def lookup(summary: dict, key: str):
    node = summary
    parts = key.split(".")
    while parts:  # keys may themselves hold dots only at the last level (e.g. "notes.errors.log_z_error")
        head = parts.pop(0)
        while head not in node and parts:
            head += "." + parts.pop(0)
        node = node[head]
    return node


def test_make_demo_runs_the_report():
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert "experiments/demo_report.py" in demo


def test_quick_report_is_self_contained_and_states_the_computed_numbers(tmp_path, capsys):
    out = tmp_path / "run"
    assert demo_report.main(["--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    report = out / "report.html"
    at = next(i for i, line in enumerate(printed) if line == f"report: {report}")
    assert [line[:2] for line in printed[at + 1: at + 6]] == ["1.", "2.", "3.", "4.", "5."]  # the five-line summary
    page = report.read_text(encoding="utf-8")
    summary = json.loads((out / "summary.json").read_text())

    # Self-contained: every image embedded as a PNG, nothing fetched from elsewhere.
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 3 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert len(re.findall(r"<img", page)) == len(images) and "http" not in page.replace("http-equiv", "")
    for section in ("notes", "training", "samples", "ais", "backprop", "timing"):
        assert f"id='{section}'" in page, section
    assert "smoke-test figure" in page and summary["quick"] is True

    # Every tagged number is the summary's value, as printed.
    tagged = re.findall(r'<span data-key="([^"]+)">([^<]+)</span>', page)
    assert len(tagged) >= 25
    for key, text in tagged:
        value = float(lookup(summary, html.unescape(key)))
        decimals = len(text.split("e")[0].split(".")[1]) if "." in text else 0
        assert abs(value - float(text)) <= 0.51 * 10.0 ** (-decimals) * (10 ** int(text.split("e")[1]) if "e" in text else 1), (key, text, value)

    # And the summary's values are the models': exact likelihoods and log Z recomputed from the saved params.
    X = data.bars_and_stripes(4)
    assert abs(summary["training_optimum"] + np.log(30)) < 1e-12
    cfg = summary["config"]
    for method in cfg["methods"]:
        shape = RBMParams(jnp.zeros((cfg["n_seeds"], 16, cfg["n_hidden"])), jnp.zeros((cfg["n_seeds"], 16)),
                          jnp.zeros((cfg["n_seeds"], cfg["n_hidden"])))
        params = checkpoint.restore(out / f"params_{method}.npz", like=shape)
        per_seed = [float(exact.log_likelihood(RBMParams(params.W[s], params.b[s], params.c[s]), X))
                    for s in range(cfg["n_seeds"])]
        entry = summary["training"][method]
        np.testing.assert_allclose(entry["final_ll_per_seed"], per_seed, atol=1e-5)
        assert abs(entry["final_ll_mean"] - np.mean(per_seed)) < 1e-5
        a = summary["ais"][method]
        assert abs(a["exact_log_z"] - float(exact.log_partition(RBMParams(params.W[0], params.b[0], params.c[0])))) < 1e-4
        assert abs(a["ais_log_z"] - a["exact_log_z"]) < 4 * a["ais_stderr"] + 1e-3  # AIS: within its sampling error
    assert summary["notes"]["worst_error"] < 1e-12
    assert summary["backprop"]["max_abs_manual_vs_jax_grad"] == 0 and summary["backprop"]["planted_mistake_caught"]
