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


# The fast suite runs the first and the newest method (pcd and pt go through the same fit as cd, and
# pt's state through the resume test below); all four with -m slow.
@pytest.mark.parametrize("methods", [
    ("cd", "pt-adaptive"),
    pytest.param(("cd", "pcd", "pt", "pt-adaptive"), marks=pytest.mark.slow),
])
def test_bas4_quick_writes_everything(tmp_path, methods):
    out = tmp_path / "run"
    default = methods == train_rbm.CONFIGS["bas4"].methods  # then no --methods: what a user gets by default
    extra = [] if default else ["--methods", ",".join(methods)]
    assert train_rbm.main(["--config", "bas4", "--quick", "--out", str(out), "--no-progress"] + extra) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["methods"]) == set(methods)
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
    monkeypatch.setattr(train_rbm.Config, "quick", lambda c: train_rbm.dataclasses.replace(
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


# --- Failing early, resuming honestly (issue 15) ---------------------------------------------

TINY = ["--config", "bas4", "--quick", "--no-progress"]  # bas4 --quick, shortened further by --epochs


def test_resume_extends_a_finished_run_with_epochs_and_matches_a_longer_run(tmp_path):
    short, long_ = tmp_path / "short", tmp_path / "long"
    assert train_rbm.main(TINY + ["--methods", "cd", "--epochs", "4", "--out", str(short)]) == 0
    assert train_rbm.main(TINY + ["--methods", "cd", "--epochs", "8", "--out", str(long_)]) == 0
    assert train_rbm.main(["--resume", str(short), "--epochs", "8", "--no-progress"]) == 0
    assert json.loads((short / "config.json").read_text())["n_epochs"] == 8
    assert json.loads((short / "summary.json").read_text())["config"]["n_epochs"] == 8
    epochs = [json.loads(line)["epoch"] for line in (short / "cd" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 9))
    a, b = np.load(short / "cd" / "params.npz"), np.load(long_ / "cd" / "params.npz")
    for name in a.files:
        if name != "__header__":
            np.testing.assert_array_equal(a[name], b[name])  # extending = having trained 8 epochs at once


def test_resume_refuses_flags_that_conflict_with_the_saved_run(tmp_path):
    out = tmp_path / "run"
    assert train_rbm.main(TINY + ["--methods", "cd", "--epochs", "2", "--out", str(out)]) == 0
    before = (out / "cd" / "params.npz").read_bytes()
    for flags, named in [(["--seed", "3"], "--seed 3"), (["--config", "modes"], "--config modes"),
                         (["--methods", "pt"], "--methods pt"), (["--centering", "data"], "--centering data"),
                         (["--overwrite"], "--overwrite"), (["--out", str(tmp_path / "elsewhere")], "--out")]:
        with pytest.raises(SystemExit, match=f"conflict with it: {named}"):
            train_rbm.main(["--resume", str(out), "--no-progress"] + flags)
    with pytest.raises(SystemExit, match="cannot shorten"):
        train_rbm.main(["--resume", str(out), "--epochs", "1", "--no-progress"])
    # The same values as the saved run's are no conflict (and --quick: the run was made with it).
    assert train_rbm.main(["--resume", str(out), "--seed", "0", "--config", "bas4", "--methods", "cd",
                           "--quick", "--no-progress"]) == 0
    assert (out / "cd" / "params.npz").read_bytes() == before  # nothing left to train: the same result


def test_a_full_size_run_refuses_quick_on_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    cfg = train_rbm.dataclasses.replace(train_rbm.CONFIGS["bas4"], methods=("cd",))
    (out / "config.json").write_text(json.dumps(train_rbm.dataclasses.asdict(cfg)))
    with pytest.raises(SystemExit, match="--quick \\(the run was not made with --quick\\)"):
        train_rbm.main(["--resume", str(out), "--quick", "--no-progress"])


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "new"
    for flags, message in [(["--seed", "-1"], "--seed must be a non-negative"), (["--methods", ""], "--methods"),
                           (["--methods", "cd,"], "--methods"), (["--epochs", "0"], "--epochs must be positive")]:
        with pytest.raises(SystemExit, match=message):
            train_rbm.main(TINY + flags + ["--out", str(out)])
        assert not out.exists(), flags  # no half-made run folder
    afile = tmp_path / "file.txt"
    afile.write_text("mine")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        train_rbm.main(TINY + ["--out", str(afile)])
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        train_rbm.main(TINY + ["--out", str(afile / "below")])
    assert afile.read_text() == "mine"


def test_an_unwritable_out_is_refused_before_any_work(read_only_dir, capsys):
    for target in (read_only_dir, read_only_dir / "sub"):
        with pytest.raises(SystemExit, match="is not writable"):
            train_rbm.main(TINY + ["--epochs", "2", "--out", str(target)])
    assert "rows ×" not in capsys.readouterr().out  # refused before the data were even loaded


def test_overwrite_leaves_no_stale_results_and_never_deletes_foreign_files(tmp_path):
    out = tmp_path / "run"
    assert train_rbm.main(TINY + ["--methods", "cd,pcd", "--epochs", "2", "--out", str(out)]) == 0
    assert (out / "pcd" / "params.npz").exists()
    assert train_rbm.main(TINY + ["--methods", "cd", "--epochs", "2", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "pcd").exists()  # the earlier run's pcd results are gone, not left beside the new ones
    assert set(json.loads((out / "summary.json").read_text())["methods"]) == {"cd"}
    (out / "notes.txt").write_text("mine")
    (out / "cd" / "my_plot.png").write_bytes(b"mine")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(SystemExit, match=r"not this experiment's outputs \(cd/my_plot\.png, notes\.txt\)"):
        train_rbm.main(TINY + ["--methods", "cd", "--epochs", "2", "--out", str(out), "--overwrite"])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before  # nothing deleted


def test_help_is_generated_from_the_configs():
    import re

    parser = train_rbm.build_parser()
    text = parser.format_help()
    flags = {s for a in parser._actions for s in a.option_strings}
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert mentioned <= flags, mentioned - flags  # no flag that does not exist (e.g. --checkpoint-every)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:] if line.startswith("  ")
            and line.split() and line.split()[0] in {f.name for f in train_rbm.dataclasses.fields(train_rbm.Config)}}
    for field in ("n_epochs", "metrics_every", "checkpoint_every", "n_hidden"):
        shown = " ".join(rows[field])
        for cfg in train_rbm.CONFIGS.values():
            assert f"{getattr(cfg, field)!r}" in shown and f"[{getattr(cfg.quick(), field)!r}]" in shown or \
                getattr(cfg, field) == getattr(cfg.quick(), field), (field, shown)
    # The default output folder the help names is the one a run without --out gets.
    assert "runs/train_rbm/<config>/<time>/" in " ".join(text.split())
    import common

    made = common.output_dir(None, "train_rbm/bas4", overwrite=False)
    try:
        assert made.parent == common.RUNS / "train_rbm" / "bas4"
    finally:
        made.rmdir()


def test_quick_headline_figures_are_labelled_and_a_single_point_has_a_marker(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    saved = {}
    real = matplotlib.figure.Figure.savefig

    def keep(fig, path, *a, **kw):
        saved[pathlib.Path(path).name] = [(ln.get_marker(), len(ln.get_xdata())) for ax in fig.axes
                                          for ln in ax.get_lines() if ln.get_label() != "" and
                                          not ln.get_label().startswith("optimum")], \
            " ".join(ax.get_title() for ax in fig.axes)
        return real(fig, path, *a, **kw)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    out = tmp_path / "run"
    assert train_rbm.main(TINY + ["--methods", "cd", "--epochs", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] is True and "smoke-test" in summary["note"]
    printed = capsys.readouterr().out
    final_line = [line for line in printed.splitlines() if "final log_likelihood" in line]
    assert final_line and all("smoke-test figure" in line for line in final_line)
    lines, titles = saved["likelihood.png"]
    assert "smoke-test" in titles
    assert lines and all(n == 1 and marker not in (None, "None", "", " ") for marker, n in lines)
