"""Catch a sweep started from a script without the ``if __name__ == "__main__":`` guard.

A ``LocalCluster`` starts its worker processes with multiprocessing's ``spawn`` method (Dask's
default, ``distributed.worker.multiprocessing-method``), and a spawned process first re-imports
the script that started it (as ``__mp_main__``) to rebuild its ``__main__``.  A script that
calls :func:`slt.sweeps.run` at its top level would start the sweep again inside every worker;
Dask then reports only "Nanny failed to start".  So :func:`check_main_guard` looks before the
workers start, and the re-import itself (``__mp_main__``) is refused with the same message.

Example
-------
A script ``sweep.py`` runs as ``python sweep.py`` in this form::

    from slt import sweeps

    if __name__ == "__main__":
        sweeps.run("rlct", {"K": ["x**2*y**4", "x**2+y**2"]}, out="grid")
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType
from typing import Callable

__all__ = ["check_main_guard", "unguarded_message"]


def unguarded_message(script: str) -> str:
    """The one-line error for a sweep started at the top level of ``script``."""
    return (f"slt.sweeps.run was called at the top level of {script} without an "
            f"`if __name__ == \"__main__\":` guard; the sweep's worker processes re-import {script} and would "
            "start the sweep again. Put the call under the guard (see examples/sweep_script.py), or pass "
            "scheduler=\"synchronous\" to run in this process")


def check_main_guard() -> None:
    """Raise ``RuntimeError`` if spawned workers would re-run the sweep: the calling script is being
    re-imported by a spawned process, or it calls :func:`slt.sweeps.run` (directly or through
    functions) from a top-level line outside an ``if __name__ == ...`` block.

    Nothing is checked for interactive sessions, ``python -c`` and notebooks (no script file, so
    nothing is re-imported) or with Dask's ``fork`` start method.
    """
    reimport = _module_frame(lambda g: g.get("__name__") == "__mp_main__")
    if reimport is not None:  # the re-import of the script inside a spawned worker
        raise RuntimeError(unguarded_message(Path(reimport.f_code.co_filename).name))
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = None if path is None else _module_frame(lambda g: g is vars(main))
    if frame is None:  # no script, or its body is not running (a task on a worker, python -i)
        return
    if _start_method() != "fork" and not _guarded(Path(path), frame.f_lineno):
        raise RuntimeError(unguarded_message(Path(path).name))


def _start_method() -> str:
    import dask
    import distributed  # noqa: F401 - loads Dask's distributed configuration

    return str(dask.config.get("distributed.worker.multiprocessing-method", "spawn"))


def _module_frame(is_main: Callable[[dict], bool]) -> FrameType | None:
    """The frame running a module body whose globals pass ``is_main``, if one is on the stack."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and is_main(frame.f_globals):
            return frame
        frame = frame.f_back
    return None


def _guarded(path: Path, line: int) -> bool:
    """Whether ``line`` of the script lies inside an ``if`` whose test reads ``__name__`` (an unreadable
    or unparsable script counts as guarded: no false alarm)."""
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)):
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                return True
    return False
