"""experiments/train_rbm.py: quick runs, its outputs, and a resumed run ending bit-identical."""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import train_rbm  # noqa: E402
from rbm_jax import checkpoint  # noqa: E402


def test_bas4_quick_writes_everything(tmp_path):
    out = tmp_path / "run"
    assert train_rbm.main(["--config", "bas4", "--quick", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == {"cd", "pcd", "pt", "pt-adaptive"}
    assert abs(summary["optimum"] - (-np.log(30))) < 1e-12
    for method, entry in summary["methods"].items():
        lines = (out / method / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 200 and json.loads(lines[-1])["epoch"] == 200
        # The recorded final likelihood is the exact one of the saved parameters.
        assert abs(entry["final_log_likelihood"] - entry["final_log_likelihood_exact_check"]) < 1e-4
        assert (out / method / "checkpoint.npz").exists() and (out / method / "params.npz").exists()
    for png in ("likelihood.png", "filters.png", "samples.png"):
        assert (out / png).stat().st_size > 5_000


def test_resume_ends_bit_identical(tmp_path, monkeypatch):
    full, part = tmp_path / "full", tmp_path / "part"
    args = ["--config", "bas4", "--quick", "--methods", "pt", "--no-progress"]  # PT: the most state
    assert train_rbm.main(args + ["--out", str(full)]) == 0

    real_save = checkpoint.save
    calls = {"n": 0}

    def save_then_crash(path, tree, **kw):
        real_save(path, tree, **kw)
        calls["n"] += 1
        if pathlib.Path(path).name == "checkpoint.npz" and calls["n"] == 1:
            raise KeyboardInterrupt("simulated interruption after the first checkpoint")

    monkeypatch.setattr(train_rbm.checkpoint, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_rbm.main(args + ["--out", str(part)])
    monkeypatch.setattr(train_rbm.checkpoint, "save", real_save)
    assert not (part / "pt" / "params.npz").exists()  # it really stopped half way
    assert train_rbm.main(["--resume", str(part), "--no-progress"]) == 0

    for method in ("pt",):
        a = np.load(full / method / "params.npz")
        b = np.load(part / method / "params.npz")
        for name in a.files:
            if name != "__header__":
                np.testing.assert_array_equal(a[name], b[name])
        strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "time_s"}  # noqa: E731
                           for l in (p / method / "metrics.jsonl").read_text().splitlines()]
        assert strip(full) == strip(part)


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit, match="give --config"):
        train_rbm.main([])
    with pytest.raises(SystemExit, match=r"--methods: unknown \['gibbs'\]"):
        train_rbm.main(["--config", "bas4", "--methods", "gibbs", "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit, match="not a train_rbm run"):
        train_rbm.main(["--resume", str(tmp_path)])
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="already holds a run"):
        train_rbm.main(["--config", "bas4", "--quick", "--out", str(tmp_path / "taken")])
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_a_diverging_run_stops_and_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
    import jax
    import jax.numpy as jnp
    import optax

    def nan_from_update(n):  # SGD whose updates turn NaN from update n on: a divergence on cue
        base = optax.sgd(0.01)

        def update(grads, state, params=None):
            inner, count = state
            updates, inner = base.update(grads, inner, params)
            updates = jax.tree.map(lambda u: jnp.where(count >= n, jnp.nan, u), updates)
            return updates, (inner, count + 1)

        return optax.GradientTransformation(lambda p: (base.init(p), jnp.zeros((), jnp.int32)), update)

    real = train_rbm.train_config
    optimizer = nan_from_update(3 * 75)  # bars-and-stripes: 3 updates an epoch; NaN in epoch 76
    monkeypatch.setattr(train_rbm, "train_config", lambda cfg, method: train_rbm.dataclasses.replace(
        real(cfg, method), optimizer=optimizer))
    monkeypatch.setattr(train_rbm, "quick", lambda c: train_rbm.dataclasses.replace(
        c, n_epochs=200, metrics_every=50, checkpoint_every=50, sample_sweeps=50))
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=r"error: cd: training diverged at epoch 76: the parameters hold NaN.*"
                                         r"checkpoint\.npz holds the last good checkpoint"):
        train_rbm.main(["--config", "bas4", "--quick", "--methods", "cd", "--out", str(out), "--no-progress"])
    assert not (out / "cd" / "params.npz").exists()
    saved = np.load(out / "cd" / "checkpoint.npz")  # epoch 50's, not overwritten by the diverged state
    floats = [name for name in saved.files if saved[name].dtype.kind == "f"]
    assert floats and all(np.isfinite(saved[name]).all() for name in floats)
    lines = (out / "cd" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 50  # the diverged chunk wrote nothing
