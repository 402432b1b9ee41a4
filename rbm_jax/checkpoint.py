"""Saving and restoring any pytree atomically — the one library module that touches files.

A checkpoint is one ``.npz`` file: the pytree's leaves as arrays plus a JSON
header (format version, tree structure, each leaf's path, shape and dtype,
the PRNG implementation of typed-key leaves, a SHA-256 of every leaf, and an
optional user config such as the training settings).

Contract:
  * ``save`` writes a temporary file in the target folder, flushes it to disk
    and renames it over the target, so a crash never leaves half a checkpoint;
    it refuses to replace an existing file unless ``overwrite=True``. The file
    gets the usual permissions (``0o666`` less the umask, as ``open`` gives).
    A leaf that cannot be restored (a string, an object, a dtype numpy does
    not know such as bfloat16) is refused, by its path, before anything is written.
  * ``restore(path, like)`` rebuilds the pytree with the structure of ``like``
    (e.g. a freshly initialised ``TrainState``). A missing file, a truncated
    or corrupted one (any damage to the zip container, the arrays or the
    header), or one whose structure, shapes, dtypes or config differ from what
    is expected raises ``CheckpointError`` saying what and where: no other
    exception escapes from reading a damaged file.
  * Typed PRNG keys (``jax.random.key``) round-trip with their implementation;
    restored values are bit-identical to the saved ones.
  * Sharded arrays (``mesh=`` runs) are saved whole: each leaf is gathered by
    ``sharding.to_host`` (across processes with ``process_allgather``, so on a
    multi-host run every process calls ``save`` and process 0 alone writes
    the file). ``restore`` lays each leaf out as the matching leaf of ``like``
    is laid out: restore into a state made on a mesh (``train.init_state(...,
    mesh=mesh)``) to continue sharded, or into a one-device state; the file
    is the same either way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import secrets
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rbm_jax.sharding import to_host

__all__ = ["CheckpointError", "save", "restore", "load_config", "FORMAT_VERSION"]

#: Version 2: the training state's optimizer state holds the learning rate once, and the
#: sampler core was unified (rbm_jax 0.2). Version 1 checkpoints are refused by name.
FORMAT_VERSION = 2
_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not match what was expected."""


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaf_records(tree):
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
    records = []
    for path, leaf in leaves_with_path:
        name = jax.tree_util.keystr(path) or "<root>"
        if _is_key(leaf):
            arr = to_host(jax.random.key_data(leaf))
            impl = str(jax.random.key_impl(leaf))
        else:
            arr = to_host(leaf)
            impl = None
        records.append((name, arr, impl))
    return records, treedef


#: numpy dtype kinds a checkpoint stores and restores exactly: bool, signed and unsigned int,
#: float, complex. (Typed PRNG keys are stored as their uint32 key data.)
_STORABLE_KINDS = "biufc"


def _check_storable(records) -> None:
    """Raises TypeError naming the first leaf whose array ``restore`` could not rebuild."""
    for name, arr, _ in records:
        if arr.dtype.kind not in _STORABLE_KINDS:
            what = {"O": "an object", "U": "a string", "S": "a byte string"}.get(
                arr.dtype.kind, f"of dtype {arr.dtype.name}")
            raise TypeError(
                f"cannot checkpoint leaf {name}: it is {what}, and only arrays of bool, integer, float or "
                f"complex numpy dtypes and typed PRNG keys can be restored (cast bfloat16/float8 to "
                f"float32; keep strings and objects in config or outside the tree)")


def _jsonable(config):
    try:
        return json.loads(json.dumps(config, sort_keys=True, default=_default))
    except (TypeError, ValueError) as e:
        raise TypeError(f"config must be JSON-serialisable (dicts, lists, numbers, strings): {e}") from None


def _default(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, (tuple, set)):
        return list(x)
    raise TypeError(f"cannot store {type(x).__name__} in a checkpoint config")


def save(path, tree: Any, *, config: Any = None, overwrite: bool = False) -> pathlib.Path:
    """Saves ``tree`` (any pytree of arrays, scalars and typed keys) to ``path`` atomically.

    Args:
      path: target file (``.npz`` is appended if missing).
      tree: the pytree, e.g. a ``train.TrainState``.
      config: optional JSON-serialisable settings stored alongside and checked
        by ``restore(..., config=...)``.
      overwrite: replace an existing file (default: refuse).

    Returns:
      The path written.
    """
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    writer = jax.process_index() == 0  # multi-host: every process gathers, process 0 writes
    if writer and path.exists() and not overwrite:
        raise FileExistsError(f"checkpoint {path} already exists; pass overwrite=True to replace it")
    if writer and not path.parent.is_dir():
        raise FileNotFoundError(f"checkpoint folder {path.parent} does not exist")
    records, treedef = _leaf_records(tree)
    _check_storable(records)
    if not writer:
        return path
    header = {
        "format_version": FORMAT_VERSION,
        "treedef": str(treedef),
        "leaves": [
            {"path": name, "shape": list(arr.shape), "dtype": arr.dtype.str, "key_impl": impl,
             "sha256": hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()}
            for name, arr, impl in records
        ],
        "config": None if config is None else _jsonable(config),
    }
    arrays = {f"leaf_{i:05d}": arr for i, (_, arr, _) in enumerate(records)}
    arrays[_HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    # Like tempfile.mkstemp (a fresh name, O_EXCL), but with mode 0o666 so the umask applies
    # as for any new file; mkstemp's 0o600 would make every checkpoint private.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _read(path) -> tuple[dict, dict]:
    path = pathlib.Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path} ({type(e).__name__}: {e})") from None
    try:
        # Damaged bytes can fail anywhere in zipfile or numpy's .npy parser, and with almost
        # any exception (BadZipFile, NotImplementedError for a compression method, RuntimeError
        # for an "encrypted" flag, struct.error, zlib.error, ...): all of them mean "corrupted".
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            files = {name: z[name] for name in z.files}
    except Exception as e:  # noqa: BLE001 - see above
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted ({type(e).__name__}: {e})") from None
    if _HEADER not in files:
        raise CheckpointError(f"{path} is not an rbm_jax checkpoint (no header)")
    try:
        header = json.loads(files.pop(_HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} has a corrupted header: {e}") from None
    version = header.get("format_version") if isinstance(header, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version < FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} was saved by an older version of rbm_jax (format {version}; this version "
            f"reads format {FORMAT_VERSION}): its training state has a different structure. Retrain, or "
            f"restore it with the rbm_jax release that wrote it")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}, expected {FORMAT_VERSION}")
    if not _header_is_well_formed(header):
        raise CheckpointError(f"checkpoint {path} has a corrupted header (missing or malformed fields)")
    for i, leaf in enumerate(header["leaves"]):
        arr = files.get(f"leaf_{i:05d}")
        if arr is None:
            raise CheckpointError(f"checkpoint {path} is missing leaf {leaf['path']}")
        if list(arr.shape) != leaf["shape"] or arr.dtype.str != leaf["dtype"]:
            raise CheckpointError(
                f"checkpoint {path}: leaf {leaf['path']} is stored as {arr.dtype.str}{list(arr.shape)}, "
                f"but its header says {leaf['dtype']}{leaf['shape']} (corrupted)")
        if hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() != leaf["sha256"]:
            raise CheckpointError(f"checkpoint {path}: leaf {leaf['path']} is corrupted (checksum mismatch)")
    return header, files


def _header_is_well_formed(header) -> bool:
    """True if the header has every field ``restore`` reads, each of the type ``save`` writes."""
    def leaf_ok(leaf):
        return (isinstance(leaf, dict) and isinstance(leaf.get("path"), str)
                and isinstance(leaf.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) for d in leaf["shape"])
                and isinstance(leaf.get("dtype"), str) and isinstance(leaf.get("sha256"), str)
                and "key_impl" in leaf and (leaf["key_impl"] is None or isinstance(leaf["key_impl"], str)))

    return (isinstance(header.get("treedef"), str) and "config" in header
            and isinstance(header.get("leaves"), list) and all(leaf_ok(leaf) for leaf in header["leaves"]))


def load_config(path) -> Any:
    """The config stored with a checkpoint (``None`` if none was)."""
    header, _ = _read(path)
    return header["config"]


def restore(path, like: Any, *, config: Any = None) -> Any:
    """Restores a checkpoint into the structure of ``like``.

    Args:
      path: the checkpoint file.
      like: a pytree with the expected structure, shapes and dtypes (values ignored).
      config: if given, must equal the stored config (compared as JSON).

    Returns:
      A pytree like ``like`` holding the saved values (typed keys restored as keys).
    """
    header, files = _read(path)
    if config is not None:
        expected, stored = _jsonable(config), header["config"]
        if expected != stored:
            diff = _config_diff(expected, stored)
            raise CheckpointError(f"checkpoint {path} was saved with a different config: {diff}")
    records, treedef = _leaf_records(like)
    stored_leaves = header["leaves"]
    if str(treedef) != header["treedef"] or len(records) != len(stored_leaves):
        raise CheckpointError(
            f"checkpoint {path} holds a different structure: {len(stored_leaves)} leaves "
            f"({', '.join(l['path'] for l in stored_leaves[:4])}{', ...' if len(stored_leaves) > 4 else ''}) "
            f"where {len(records)} were expected ({', '.join(r[0] for r in records[:4])}"
            f"{', ...' if len(records) > 4 else ''})")
    leaves = []
    for i, ((name, arr, impl), stored, target) in enumerate(
            zip(records, stored_leaves, jax.tree_util.tree_leaves(like))):
        data = files[f"leaf_{i:05d}"]
        if list(arr.shape) != stored["shape"] or arr.dtype.str != stored["dtype"] or impl != stored["key_impl"]:
            raise CheckpointError(
                f"checkpoint {path}: leaf {name} is {stored['dtype']}{stored['shape']}"
                f"{' key<' + stored['key_impl'] + '>' if stored['key_impl'] else ''}, expected "
                f"{arr.dtype.str}{list(arr.shape)}{' key<' + impl + '>' if impl else ''}")
        leaf = jax.random.wrap_key_data(jnp.asarray(data), impl=impl) if impl is not None else jnp.asarray(data)
        leaves.append(_placed_like(leaf, target))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _placed_like(leaf, target):
    """``leaf`` laid out as ``target`` is when ``target`` spans several devices (a mesh run)."""
    sharding = getattr(target, "sharding", None)
    if sharding is None or len(sharding.device_set) < 2:
        return leaf
    return jax.device_put(leaf, sharding)


def _config_diff(expected, stored) -> str:
    if isinstance(expected, dict) and isinstance(stored, dict):
        keys = sorted(set(expected) | set(stored))
        parts = [f"{k}: saved {stored.get(k)!r}, now {expected.get(k)!r}"
                 for k in keys if expected.get(k) != stored.get(k)]
        return "; ".join(parts)
    return f"saved {stored!r}, now {expected!r}"
