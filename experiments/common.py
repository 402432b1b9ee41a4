"""Shared plumbing for experiment scripts: the command line, output folders, JSON.

The library never touches files; experiments do, through these helpers, and
never overwrite a finished run unless asked to with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fnmatch
import json
import os
import pathlib
import sys
import tempfile
from typing import Any, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = REPO / "runs"


def parser(doc: str, config_cls, name: str = "<script>") -> argparse.ArgumentParser:
    """An ArgumentParser with ``--seed``, ``--out``, ``--quick``, ``--overwrite``.

    The script's docstring is its help text; config fields other than ``seed``
    are the script's own to add. ``--seed`` parses to None when not given (so that
    ``--resume`` can tell a given seed from the default); ``check_args`` fills it in.
    """
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=int, default=None, help=f"PRNG seed (default: {config_cls.seed})")
    p.add_argument(
        "--out",
        type=pathlib.Path,
        default=None,
        help=f"output folder (default: {default_out(name)})",
    )
    p.add_argument("--quick", action="store_true",
                   help="smoke-test size: seconds, not minutes; its figures test the code, not the method")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run of this script already in --out (refused if the folder holds other files)",
    )
    return p


def settings_text(config_cls=None, configs: dict | None = None) -> str:
    """The help text's table of settings, generated from the config so that it cannot drift.

    The default ``config_cls()`` (one row per field, ``--quick``'s value beside it where it
    differs), or one column per named config (``configs``: name -> config instance).
    """
    if configs is None:
        full, quick = config_cls(), config_cls().quick()
        lines = ["", "Settings (full run; --quick where it differs):"]
        for f in dataclasses.fields(full):
            a, b = getattr(full, f.name), getattr(quick, f.name)
            lines.append(f"  {f.name:<22} {a!r}" + ("" if a == b else f"   (--quick: {b!r})"))
        return "\n".join(lines)
    lines = ["", "Settings per --config (--quick's value in brackets where it differs):",
             f"  {'':<18} " + "".join(f"{name:<24}" for name in configs).rstrip()]
    for f in dataclasses.fields(next(iter(configs.values()))):
        cells = []
        for cfg in configs.values():
            a, b = getattr(cfg, f.name), getattr(cfg.quick(), f.name)
            cells.append(f"{a!r}" + ("" if a == b else f" [{b!r}]"))
        lines.append(f"  {f.name:<18} " + "".join(f"{c:<24}" for c in cells).rstrip())
    return "\n".join(lines)


def default_out(name: str) -> str:
    """Where a run goes without ``--out`` (as text, for help messages)."""
    return f"runs/{name}/<time>/"


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
    """``parser``'s arguments, checked (``check_args``) before anything is written."""
    return check_args(parser(doc, config_cls).parse_args(argv), config_cls)


def check_args(args: argparse.Namespace, config_cls) -> argparse.Namespace:
    """``--seed`` (>= 0; the config's default when not given) and ``--out`` (a folder we can
    write into, or one we can create) are checked here, before any work."""
    if args.seed is None:
        args.seed = config_cls.seed
    if args.seed < 0:
        raise SystemExit(f"error: --seed must be a non-negative integer, got {args.seed}")
    if args.out is not None:
        check_out(args.out)
    return args


def check_out(out: pathlib.Path) -> None:
    """Refuses an ``--out`` that is a file, lies under a file, or cannot be written to —
    by trying: a temporary file is created and removed in the folder (or in the nearest
    folder above it that exists, where the run folder would be made)."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {out} is a file, not a folder")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SystemExit(f"error: --out {out}: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        what = "" if probe == out else f" (its nearest existing folder {probe})"
        raise SystemExit(f"error: --out {out}{what} is not writable: {err.strerror or err}") from None


# What every experiment writes into its run folder (patterns relative to it, fnmatch-style);
# experiments add their own figures. Only these are ever removed by --overwrite.
OWN_OUTPUTS = ("summary.json", "summary.json.tmp", "config.json", "config.json.tmp")


def output_dir(out: pathlib.Path | None, name: str, *, overwrite: bool,
               outputs: Sequence[str] = ()) -> pathlib.Path:
    """Creates the run folder; refuses a non-empty existing one unless ``overwrite``.

    With ``overwrite`` the earlier run's results (the files matching ``OWN_OUTPUTS`` and
    ``outputs``, and folders left empty by their removal) are deleted first, so that no stale
    result survives; a folder holding any other file is refused, naming the files, and nothing
    is deleted.
    """
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        out = RUNS / name / stamp
    out = pathlib.Path(out)
    check_out(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SystemExit(
                f"error: --out {out} already holds a run; choose another folder or pass --overwrite"
            )
        clear_run(out, tuple(OWN_OUTPUTS) + tuple(outputs))
    out.mkdir(parents=True, exist_ok=True)
    return out


def clear_run(out: pathlib.Path, patterns: Sequence[str]) -> None:
    """Deletes an earlier run's outputs from ``out`` — all or nothing: if any file there is
    not one of ours (matches none of ``patterns``), refuses, naming them, and deletes nothing."""
    files = sorted(p for p in out.rglob("*") if not p.is_dir())
    ours = [p for p in files if any(fnmatch.fnmatchcase(p.relative_to(out).as_posix(), pat) for pat in patterns)]
    foreign = [p.relative_to(out).as_posix() for p in files if p not in ours]
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise SystemExit(
            f"error: --out {out} holds files that are not this experiment's outputs ({shown}); "
            f"--overwrite only replaces a run of ours: move them or choose another folder")
    for p in ours:
        p.unlink()
    for d in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()


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
    """A text progress line on stderr (no dependency), with an ETA.

    ``update(done, **fields)`` reports ``done`` of ``total`` steps; ``close()`` ends the line.
    On a terminal the line redraws itself (carriage return); otherwise (a log file, a pipe)
    each report is a plain line of its own, at most one per ``every_s`` seconds (and the last).
    ``start``: steps already done before this process (a resumed run); they count towards
    the bar, not towards the rate. The ETA is measured from the first report after the start
    on, so the first chunk's compilation is not extrapolated over the run ("?" until then).
    Off when ``enabled`` is False (tests) — then nothing is printed.
    """

    def __init__(self, total: int, label: str = "", *, enabled: bool = True, width: int = 28,
                 start: int = 0, stream=None, clock=None, every_s: float = 10.0):
        import time

        self.total, self.label, self.enabled, self.width = max(1, total), label, enabled, width
        self._stream = sys.stderr if stream is None else stream
        self._time = time.perf_counter if clock is None else clock
        self._start, self._done0 = self._time(), start
        self._mark = None  # (time, done) of the first report after the start: the ETA's origin
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._every_s, self._last_line = every_s, None

    def eta(self, done: int) -> float | None:
        """Seconds left at the rate measured since the first report (None until measurable)."""
        now = self._time()
        if self._mark is None:
            if done > self._done0:
                self._mark = (now, done)
            return None
        t0, d0 = self._mark
        if done <= d0 or now <= t0:
            return None
        return (now - t0) / (done - d0) * max(0, self.total - done)

    def update(self, done: int, **fields) -> None:
        if not self.enabled:
            return
        eta = self.eta(done)
        now = self._time()
        frac = min(1.0, done / self.total)
        filled = int(round(frac * self.width))
        elapsed = now - self._start
        eta_text = "   ?" if eta is None else f"{eta:4.0f}s"
        extra = "  ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in fields.items())
        text = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}"
                f"  {elapsed:5.1f}s (eta {eta_text})  {extra}")
        if self._tty:
            self._stream.write("\r" + text + "   ")
        elif self._last_line is None or now - self._last_line >= self._every_s or done >= self.total:
            self._stream.write(text.rstrip() + "\n")
            self._last_line = now
        else:
            return
        self._stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self._stream.write("\n")
            self._stream.flush()


SMOKE = "[--quick: smoke-test figure, not a result]"


def smoke(quick: bool) -> str:
    """The label every headline number of a --quick run carries ("" for a full run)."""
    return f"  {SMOKE}" if quick else ""


def ratio(x: float) -> str:
    """A ratio (e.g. a speed-up) with three significant digits: never "0.0×"."""
    return f"{x:.3g}×"


def experiment_main(argv, *, name: str, doc: str, config_cls, run, outputs: Sequence[str] = (),
                    x64: bool = False, add_arguments=None, configure=None, verdict=None) -> int:
    """The one ``main()`` of an experiment script.

    Parses ``--seed/--out/--quick/--overwrite`` (and ``add_arguments(parser)``'s own), builds the
    config (``config_cls(seed=...)``, then ``.quick()`` under ``--quick``, then
    ``configure(cfg, args)``, which refuses bad arguments with ``SystemExit``), and only then
    makes the run folder; runs ``run(cfg, out, args) -> summary`` (under float64 with ``x64``:
    the experiment's choice, never the library's), writes ``summary.json`` (with ``quick``) and
    prints what was written. ``verdict(summary) -> (passed, message)`` sets the exit status.
    """
    p = parser(doc + settings_text(config_cls), config_cls, name)
    if add_arguments is not None:
        add_arguments(p)
    args = check_args(p.parse_args(argv), config_cls)
    cfg = config_cls(seed=args.seed)
    if args.quick:
        cfg = cfg.quick()
    if configure is not None:
        cfg = configure(cfg, args)
    out = output_dir(args.out, name, overwrite=args.overwrite, outputs=outputs)
    if x64:
        import jax

        with jax.enable_x64(True):
            summary = run(cfg, out, args)
    else:
        summary = run(cfg, out, args)
    summary.setdefault("quick", bool(args.quick))
    write_json(out / "summary.json", summary)
    passed, message = (True, "") if verdict is None else verdict(summary)
    files = ", ".join([str(out / o) for o in outputs if "*" not in o] + [str(out / "summary.json")])
    print(f"{message + '; ' if message else ''}wrote {files}{smoke(args.quick)}")
    return 0 if passed else 1
