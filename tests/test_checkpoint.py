"""rbm_jax.checkpoint: atomic saves, exact round trips, and clear errors for bad checkpoints."""

from __future__ import annotations

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rbm_jax import checkpoint, data, rbm, train


@pytest.fixture
def state():
    X = data.bars_and_stripes(3)
    p0 = rbm.init_params(jax.random.key(0), 9, 4, data=X)
    cfg = train.TrainConfig(method="pt", batch_size=7, betas=(1.0, 0.5))
    return train.init_state(jax.random.key(1, impl="philox4x32"), p0, X, cfg)


def test_round_trip_is_exact(tmp_path, state):
    path = checkpoint.save(tmp_path / "run", state, config={"method": "pt", "lr": 0.01})
    assert path.name == "run.npz"
    back = checkpoint.restore(path, like=state, config={"method": "pt", "lr": 0.01})
    chex.assert_trees_all_equal(back, state)  # params, optax state, PT chains, step
    assert str(jax.random.key_impl(back.key)) == "philox4x32"
    assert checkpoint.load_config(path) == {"method": "pt", "lr": 0.01}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temp files left


def test_never_overwrites_unless_asked(tmp_path, state):
    path = checkpoint.save(tmp_path / "run.npz", state)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        checkpoint.save(path, state._replace(step=state.step + 1))
    assert path.read_bytes() == before
    checkpoint.save(path, state._replace(step=state.step + 1), overwrite=True)
    assert int(checkpoint.restore(path, like=state).step) == 1


def test_a_crash_while_saving_leaves_the_old_checkpoint(tmp_path, state, monkeypatch):
    path = checkpoint.save(tmp_path / "run.npz", state)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash mid-write")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, state, overwrite=True)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]


def test_missing_truncated_and_corrupted(tmp_path, state):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint at"):
        checkpoint.restore(tmp_path / "nope.npz", like=state)
    path = checkpoint.save(tmp_path / "run.npz", state)
    raw = path.read_bytes()
    (tmp_path / "short.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupted"):
        checkpoint.restore(tmp_path / "short.npz", like=state)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupted"):
        checkpoint.restore(tmp_path / "empty.npz", like=state)
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(checkpoint.CheckpointError, match="not an rbm_jax checkpoint"):
        checkpoint.restore(tmp_path / "foreign.npz", like=state)


def test_flipped_bytes_in_a_leaf_are_detected(tmp_path):
    tree = {"w": np.arange(1000, dtype=np.float32)}
    path = checkpoint.save(tmp_path / "t.npz", tree)
    # Rewrite the leaf with a changed value but keep the header: the checksum catches it.
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["leaf_00000"] = files["leaf_00000"].copy()
    files["leaf_00000"][5] += 1
    np.savez(tmp_path / "t2.npz", **files)
    with pytest.raises(checkpoint.CheckpointError, match=r"leaf \['w'\] is corrupted \(checksum mismatch\)"):
        checkpoint.restore(tmp_path / "t2.npz", like=tree)


def test_mismatches_are_named(tmp_path, state):
    path = checkpoint.save(tmp_path / "run.npz", state, config={"method": "pt"})
    bigger = state._replace(params=state.params._replace(W=jnp.zeros((9, 5))))
    with pytest.raises(checkpoint.CheckpointError, match=r"leaf \.params\.W is <f4\[9, 4\], expected <f4\[9, 5\]"):
        checkpoint.restore(path, like=bigger)
    with pytest.raises(checkpoint.CheckpointError, match=r"different structure"):
        checkpoint.restore(path, like={"W": jnp.zeros(3)})
    with pytest.raises(checkpoint.CheckpointError, match=r"different config: method: saved 'pt', now 'cd'"):
        checkpoint.restore(path, like=state, config={"method": "cd"})
    with pytest.raises(checkpoint.CheckpointError, match=r"key<philox4x32>, expected .*key<threefry2x32>"):
        checkpoint.restore(path, like=state._replace(key=jax.random.key(0)))


def test_bad_targets(tmp_path, state):
    with pytest.raises(FileNotFoundError, match="folder .* does not exist"):
        checkpoint.save(tmp_path / "no" / "such" / "run.npz", state)
    with pytest.raises(TypeError, match="config must be JSON-serialisable"):
        checkpoint.save(tmp_path / "c.npz", state, config={"f": object()})


def test_a_checkpoint_of_an_older_format_is_refused_by_name(tmp_path, state, monkeypatch):
    """The training state's structure changed with format 2: a format-1 file says so, not 'tree mismatch'."""
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 1)
    path = checkpoint.save(tmp_path / "old", state)
    monkeypatch.undo()
    assert checkpoint.FORMAT_VERSION == 2
    with pytest.raises(checkpoint.CheckpointError, match=r"saved by an older version of rbm_jax \(format 1; "
                                                         r"this version reads format 2\)"):
        checkpoint.restore(path, like=state)
    with pytest.raises(checkpoint.CheckpointError, match="older version"):
        checkpoint.load_config(path)


@pytest.mark.parametrize("leaf, what", [("a string", "a string"), (object(), "an object"),
                                        (jnp.ones(2, jnp.bfloat16), "of dtype bfloat16")])
def test_leaves_that_cannot_be_restored_are_refused_before_writing(tmp_path, leaf, what):
    tree = {"params": {"W": jnp.zeros(3)}, "extra": [1, leaf]}
    with pytest.raises(TypeError, match=rf"cannot checkpoint leaf \['extra'\]\[1\]: it is {what}"):
        checkpoint.save(tmp_path / "run.npz", tree)
    assert os.listdir(tmp_path) == []  # nothing written, not even a temporary file


def test_every_single_byte_corruption_is_caught_or_harmless(tmp_path):
    """Each byte of a small checkpoint corrupted (all its bits, then one bit): restore either
    returns exactly what was saved, config included, or raises CheckpointError; nothing else escapes."""
    tree = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "key": jax.random.key(3, impl="philox4x32")}
    raw = checkpoint.save(tmp_path / "t.npz", tree, config={"lr": 0.5}).read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(raw)
    escaped, caught = [], 0
    with open(bad, "r+b", buffering=0) as f:  # corrupt one byte in place, then put it back
        for i in range(2 * len(raw)):
            at = i % len(raw)
            f.seek(at)
            f.write(bytes([raw[at] ^ (0xFF if i < len(raw) else 1 << (i % 8))]))
            try:
                back = checkpoint.restore(bad, like=tree, config={"lr": 0.5})  # the config is compared too
            except checkpoint.CheckpointError:
                caught += 1
                continue
            except Exception as e:  # noqa: BLE001 - collecting what escapes is the point
                escaped.append((i, f"{type(e).__name__}: {e}"))
                continue
            finally:
                f.seek(at)
                f.write(raw[at:at + 1])
            np.testing.assert_array_equal(back["w"], tree["w"], err_msg=f"corruption {i}")
            assert back["w"].dtype == np.float32
            assert str(jax.random.key_impl(back["key"])) == "philox4x32"
            np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(tree["key"]))
    assert not escaped, escaped[:5]
    assert caught > len(raw)  # most corruptions are detected (not silently harmless)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_get_the_usual_permissions(tmp_path, state, umask, mode):
    old = os.umask(umask)
    try:
        path = checkpoint.save(tmp_path / "run.npz", state)
        checkpoint.save(path, state, overwrite=True)  # replacing keeps the usual mode too
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode
