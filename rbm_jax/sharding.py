"""Running on more than one device: meshes, multi-host set-up, and bringing sharded results home.

Everything runs on JAX's own machinery: a ``jax.sharding.Mesh`` names the
devices, ``NamedSharding`` constraints inside ``jit`` lay arrays out on it
(``rbm_jax._src.driver.along_chains``/``replicated``, the one place that
decides how), and the partitioner splits each compiled program; where a sum
crosses devices (data-parallel training's statistics) a ``shard_map`` does it
with one ``psum``. Across hosts, ``initialize()`` calls
``jax.distributed.initialize`` and ``jax.devices()`` then lists every host's
devices, so the same mesh spans them.

Contract: ``gibbs.sample_chains``, ``gibbs.sample_pt``, ``ais.log_partition``,
``train.fit``/``fit_many``/``init_state``/``run_epochs``/``resume`` take
``mesh=None``; the mesh's FIRST axis shards what each function owns (chains,
PT systems, AIS runs, minibatch rows and persistent chains, models), its
other axes (if any) hold replicas, and the model is replicated (except in
``fit_many``, whose models are what is sharded). A count the axis size does
not divide is refused, naming the argument. Results come back sharded (no
silent gather): ``to_host`` gathers one for the host.

Multi-host: no single process then holds a whole array. What the library
brings to the host — value checks of a result, the training history, a
checkpoint, the divergence guard's flags — goes through ``to_host``, which
uses ``jax.experimental.multihost_utils.process_allgather`` (every process
takes part and gets the whole array); ``checkpoint.save`` then writes from
process 0 only. On one host (or one process) it is ``np.asarray``.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

__all__ = ["make_mesh", "initialize", "validated_mesh", "batch_axis_size", "check_divisible", "to_host",
           "ENV_COORDINATOR", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID"]

#: The environment variables ``initialize()`` reads (JAX's own names, so a launcher that sets
#: them for ``jax.distributed`` works unchanged).
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def make_mesh(n_devices: int | None = None, axis_name: str = "batch") -> Mesh:
    """A one-axis mesh over the first ``n_devices`` devices (default: every device, every host).

    Its axis is of JAX's ``Auto`` type: the partitioner propagates the
    library's sharding constraints through each program.

    Raises:
      ValueError: ``n_devices`` is not a positive int or exceeds the devices present.
    """
    devices = jax.devices()
    if n_devices is None:
        n_devices = len(devices)
    if isinstance(n_devices, bool) or not isinstance(n_devices, (int, np.integer)) or n_devices < 1:
        raise ValueError(f"n_devices must be a positive int or None (every device), got {n_devices!r}")
    if n_devices > len(devices):
        raise ValueError(
            f"n_devices = {n_devices} but only {len(devices)} device(s) are present ({devices[0].platform}); "
            f"on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count={n_devices} (set before JAX is "
            f"imported) simulates more")
    if not isinstance(axis_name, str) or not axis_name:
        raise ValueError(f"axis_name must be a non-empty str, got {axis_name!r}")
    return Mesh(np.asarray(devices[:n_devices]), (axis_name,), axis_types=(AxisType.Auto,))


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, **kwargs) -> dict:
    """Joins a multi-host run: ``jax.distributed.initialize`` from the arguments or the environment.

    Call it once per process, before anything else touches JAX's devices. Each
    argument left ``None`` is read from ``JAX_COORDINATOR_ADDRESS`` (``host:port``
    of process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. With none of
    them set and one process, it is the single-process path: nothing to join,
    and it returns at once. (On a cluster JAX detects itself — SLURM, Open MPI,
    TPU pods — pass ``cluster_detection_method`` through ``kwargs``.)

    Returns:
      ``{"process_id", "process_count", "local_devices", "devices"}`` after joining.
    """
    env = os.environ
    coordinator_address = coordinator_address or env.get(ENV_COORDINATOR) or None
    num_processes = _env_int(num_processes, ENV_NUM_PROCESSES)
    process_id = _env_int(process_id, ENV_PROCESS_ID)
    single = coordinator_address is None and num_processes in (None, 1) and not kwargs
    if not single:
        if num_processes is not None and num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {num_processes}")
        if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
            raise ValueError(f"process_id must lie in [0, num_processes = {num_processes}), got {process_id}")
        jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                                   process_id=process_id, **kwargs)
    return {"process_id": jax.process_index(), "process_count": jax.process_count(),
            "local_devices": jax.local_device_count(), "devices": jax.device_count()}


def _env_int(value, name):
    if value is not None:
        return int(value)
    raw = os.environ.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def validated_mesh(mesh) -> Mesh | None:
    """``mesh`` checked (a ``jax.sharding.Mesh`` or None), with its axes made ``Auto``.

    A mesh from ``jax.make_mesh`` has ``Explicit`` axes by default; the library
    places arrays by constraints inside ``jit`` and lets the partitioner
    propagate them, so it uses the same devices and axis names as ``Auto`` axes.
    """
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh (e.g. rbm_jax.sharding.make_mesh()) or None, "
                        f"got {type(mesh).__name__}")
    if mesh.devices.size == 0 or not mesh.axis_names:
        raise ValueError("mesh must have at least one axis and one device")
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


def batch_axis_size(mesh: Mesh | None) -> int:
    """The number of shards along the mesh's first axis (1 without a mesh)."""
    return 1 if mesh is None else int(mesh.shape[mesh.axis_names[0]])


def check_divisible(n: int, mesh: Mesh | None, name: str) -> None:
    """Raises ValueError naming ``name`` unless the mesh's first axis divides ``n``."""
    shards = batch_axis_size(mesh)
    if n % shards:
        axis = mesh.axis_names[0]
        lower, upper = n - n % shards, n + shards - n % shards
        raise ValueError(
            f"{name} = {n} must be a multiple of the mesh's first axis '{axis}' ({shards} devices), which "
            f"shards it; use {lower or upper} or {upper}")


def to_host(tree):
    """Every leaf of ``tree`` as a numpy array on this host, whole, on every process.

    Arrays that this process holds entirely (one host, any mesh) come by
    ``np.asarray``; an array spread over processes is gathered with
    ``multihost_utils.process_allgather`` — a collective: every process must
    make the same call. Typed PRNG keys come back as their key data.
    """

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.sharding.is_fully_replicated:  # every process holds all of it
                return np.asarray(x.addressable_data(0))
            from jax.experimental import multihost_utils
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(one, tree)
