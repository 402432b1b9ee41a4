"""Shared plumbing for experiment scripts: the command line, output folders, JSON.

The library never touches files; experiments do, through these helpers, and
never overwrite a finished run unless asked to with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import sys
from typing import Any, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = REPO / "runs"


def parser(doc: str, config_cls) -> argparse.ArgumentParser:
    """An ArgumentParser with ``--seed``, ``--out``, ``--quick``, ``--overwrite``.

    The script's docstring is its help text; config fields other than ``seed``
    are the script's own to add.
    """
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=int, default=config_cls.seed, help="PRNG seed (default: %(default)s)")
    p.add_argument(
        "--out",
        type=pathlib.Path,
        default=None,
        help="output folder (default: runs/<script>/<timestamp>)",
    )
    p.add_argument("--quick", action="store_true", help="smoke-test size: seconds, not minutes")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow writing into an existing, non-empty --out folder",
    )
    return p


def simulate_cpu_devices(argv: Sequence[str] | None = None, default: int | None = None) -> None:
    """Call BEFORE importing JAX: with ``--devices N`` on the command line (else ``default``),
    lets a machine whose only devices are CPU cores show N of them
    (``--xla_force_host_platform_device_count``).

    The flag only shapes the CPU platform: on a machine with N accelerators JAX uses them
    and this changes nothing. A flag already in ``XLA_FLAGS`` wins.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    n = None if default is None else str(default)
    for i, arg in enumerate(argv):
        if arg == "--devices" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--devices="):
            n = arg.split("=", 1)[1]
    flags = os.environ.get("XLA_FLAGS", "")
    if n is not None and n.isdigit() and int(n) > 1 and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={int(n)}".strip()


def add_devices_argument(p: argparse.ArgumentParser) -> None:
    """``--devices N``: shard the work over N devices (``rbm_jax.sharding.make_mesh(N)``)."""
    p.add_argument("--devices", type=int, default=None, metavar="N",
                   help="shard over a mesh of N devices (the accelerators present; on a CPU-only "
                        "machine, N simulated CPU devices); default: one device, no mesh")


def mesh_of(n_devices: int | None):
    """The mesh of ``--devices N`` (None without it), or a clear exit when N cannot be had."""
    if n_devices is None:
        return None
    from rbm_jax import sharding  # imported late: JAX must see simulate_cpu_devices' flag first

    try:
        mesh = sharding.make_mesh(n_devices)
    except ValueError as err:
        raise SystemExit(f"error: --devices: {err}") from None
    print(f"sharding over {n_devices} device(s): {', '.join(str(d) for d in mesh.devices.flat)}")
    return mesh


def parse_args(doc: str, config_cls, argv=None) -> argparse.Namespace:
    """``parser``'s arguments, with ``--seed`` (>= 0) and ``--out`` (not a file) checked before
    anything is written."""
    args = parser(doc, config_cls).parse_args(argv)
    if args.seed < 0:
        raise SystemExit(f"error: --seed must be a non-negative integer, got {args.seed}")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise SystemExit(f"error: --out {args.out} is a file, not a folder")
    return args


def output_dir(out: pathlib.Path | None, name: str, *, overwrite: bool) -> pathlib.Path:
    """Creates the run folder; refuses a non-empty existing one unless ``overwrite``."""
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        out = RUNS / name / stamp
    out = pathlib.Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SystemExit(
            f"error: --out {out} already holds a run; choose another folder or pass --overwrite"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path: pathlib.Path, obj: Any) -> None:
    """Writes JSON atomically (temp file then rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")
    tmp.replace(path)


def _jsonable(x):
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, pathlib.Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.3e}" if (c != 0 and (abs(c) < 1e-3 or abs(c) >= 1e5)) else f"{c:.6f}"
    return str(c)


class Progress:
    """A one-line text progress bar on stderr (no dependency), with an ETA.

    ``update(done, **fields)`` redraws it; ``close()`` ends the line. Off when
    ``enabled`` is False (tests) — then nothing is printed.
    """

    def __init__(self, total: int, label: str = "", *, enabled: bool = True, width: int = 28):
        import sys
        import time

        self.total, self.label, self.enabled, self.width = max(1, total), label, enabled, width
        self._stream, self._time, self._start = sys.stderr, time.perf_counter, time.perf_counter()

    def update(self, done: int, **fields) -> None:
        if not self.enabled:
            return
        frac = min(1.0, done / self.total)
        filled = int(round(frac * self.width))
        elapsed = self._time() - self._start
        eta = f"{elapsed / frac - elapsed:4.0f}s" if frac > 0 else "   ?"
        extra = "  ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in fields.items())
        self._stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
            f"  {elapsed:5.1f}s (eta {eta})  {extra}   ")
        self._stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._stream.write("\n")
            self._stream.flush()
