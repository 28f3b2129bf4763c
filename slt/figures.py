"""The paper-figure runner behind ``slt figures``.

Every figure is one script ``paper_figures/fig_<name>.py`` that defines
``main(argv) -> int`` accepting ``--quick`` and ``--out DIR`` and a module constant
``QUICK = True`` when it belongs to the quick set: figures whose quick run takes well under a
minute and passes its own diagnostics.  Warnings a figure raises are printed once each.  The runner finds the scripts, runs the
chosen ones in this process (so compiled numba code is shared) and reports failures.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from types import ModuleType


def figures_dir() -> Path:
    """``paper_figures/`` of the source checkout (``$SLT_FIGURES_DIR`` overrides)."""
    env = os.environ.get("SLT_FIGURES_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent / "paper_figures"
    if here.is_dir():
        return here
    return Path.cwd() / "paper_figures"


def discover() -> dict[str, Path]:
    """Figure name -> script path, for every ``fig_*.py`` in :func:`figures_dir`."""
    return {p.stem[4:]: p for p in sorted(figures_dir().glob("fig_*.py"))}


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load(path: Path) -> ModuleType:
    """Import a figure script as a module."""
    return _import_file(path, f"slt_figure_{path.stem}")


def figure_args(argv: list[str] | None, doc: str, script: str, data_help: str | None = None) -> argparse.Namespace:
    """The arguments every figure script takes: ``--quick``, ``--out`` (default ``out/`` beside the
    script) and, with ``data_help``, ``--data`` (a folder of the simulation's output to plot).

    >>> figure_args(["--quick"], "A figure.", "/tmp/fig_x.py").out
    '/tmp/out'
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(script).parent / "out"))
    if data_help is not None:
        ap.add_argument("--data", default=None, help=data_help)
    return ap.parse_args(argv)


def load_simulation(name: str) -> ModuleType:
    """Import ``simulations/<name>.py`` of the source checkout (beside :func:`figures_dir`) as a
    module: figure scripts run the simulation behind their data through it."""
    return _import_file(figures_dir().parent / "simulations" / f"{name}.py", f"slt_simulation_{name}")


def _report_warnings(name: str, caught: list[warnings.WarningMessage], most: int = 3) -> None:
    """Print a figure's warnings once each (the same message from many estimates is one line)."""
    distinct: dict[str, int] = {}
    for w in caught:
        key = f"{w.category.__name__}: {w.message}"
        distinct[key] = distinct.get(key, 0) + 1
    for key, count in list(distinct.items())[:most]:
        print(f"[slt figures] {name}: {key}" + (f" (x{count})" if count > 1 else ""), file=sys.stderr)
    if len(distinct) > most:
        print(f"[slt figures] {name}: ... and {len(distinct) - most} more distinct warnings", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The ``slt figures`` argument parser."""
    from slt.cli import HelpFormatter

    parser = argparse.ArgumentParser(
        prog="slt figures", formatter_class=HelpFormatter,
        description="Regenerate the paper figures: every paper_figures/fig_<name>.py writes its data "
                    "(.npz/.json)\nand its figure (PNG, PDF).  --quick runs the quick set with small "
                    "settings (a few minutes\nin all, most of it compiling kernels on a first run); "
                    "the full runs take hours.")
    parser.add_argument("names", nargs="*", help="figures to make (default: all, or the quick set with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="small runs (up to a minute each): the quick set, or the NAMEs given")
    parser.add_argument("--out", default=None, help="output folder (default: paper_figures/out)")
    parser.add_argument("--list", action="store_true", help="list the figures, marking the quick set, and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``slt figures``; returns 0 when every figure was made, 1 if any failed, 2 for bad names."""
    args = build_parser().parse_args(argv)
    found = discover()
    if args.list:
        for name, path in found.items():
            quick = getattr(load(path), "QUICK", False) is True
            print(f"{name}{'  (quick set)' if quick else ''}")
        return 0
    unknown = [n for n in args.names if n not in found]
    if unknown:
        print(f"unknown figure(s) {unknown}; available: {sorted(found)}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else figures_dir() / "out"
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name, path in found.items():
        if args.names and name not in args.names:
            continue
        module = load(path)
        if not args.names and args.quick and not getattr(module, "QUICK", False):
            continue
        t0 = time.time()
        print(f"[slt figures] {name} ...", flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # counted and printed once each below
            for hidden in (DeprecationWarning, PendingDeprecationWarning):  # hidden by default, as usual
                warnings.simplefilter("ignore", hidden)
            try:
                rc = module.main((["--quick"] if args.quick else []) + ["--out", str(out)])
            except Exception:  # report every failing figure, keep going
                traceback.print_exc()
                rc = 1
        _report_warnings(name, caught)
        print(f"[slt figures] {name}: {'ok' if not rc else 'FAILED'} ({time.time() - t0:.1f} s)", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"[slt figures] failed: {failed}", file=sys.stderr)
        return 1
    print(f"[slt figures] written to {out}")
    return 0
