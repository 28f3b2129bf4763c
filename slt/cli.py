"""The ``slt`` command: ``slt <command> [args]``.

Each command lives in the module that owns it and exposes ``main(argv) -> int``; this
file only dispatches, so ``slt --help`` stays fast and adding a command is one line.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "figures": ("slt.figures", "regenerate the paper figures (slt figures [--quick] [NAME...])"),
    "simulate": ("slt.simulate", "run samplers on a potential and save data + figure"),
    "rlct": ("slt.rlct.cli", "exact learning coefficient of a polynomial (slt rlct 'x**2*y**4')"),
    "llc": ("slt.estimators_cli", "estimate the local learning coefficient of a potential"),
    "sweep": ("slt.sweeps.cli", "run a grid of a task through Dask, resumably (slt sweep CONFIG.toml)"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help of every ``slt`` subcommand: each option's default is shown after its help.

    A ``None`` default means "decided at run time"; its help text says how, in words, and
    no "(default: None)" is appended.  Descriptions are printed as written (no re-wrapping).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or "(default" in text or "%(default)" in text:
            return text
        return super()._get_help_string(action)


def version() -> str:
    """The installed version of slt (the package metadata, else ``slt.__version__``)."""
    try:
        from importlib.metadata import PackageNotFoundError, version as _version

        return _version("slt")
    except (ImportError, PackageNotFoundError):  # pragma: no cover - running from a bare checkout
        from slt import __version__

        return __version__


def _usage() -> str:
    lines = ["usage: slt [--version] <command> [args]   (slt <command> --help for its options)",
             "", "commands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``slt`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"slt {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"slt: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
