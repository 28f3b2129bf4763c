"""Task names for sweeps: a registered name, ``"module:function"`` or ``"path/to/file.py:function"``.

A *task* is a function called with one cell's grid values and the sweep's fixed settings as
keywords, plus ``seed=`` (an int derived from the cell, see :func:`slt.sweeps.cell_seed`), that
returns a dict of outputs (numbers, strings, arrays).  Workers find a task by its name, so a task
must be importable where the workers run: a module on their ``sys.path`` or a file on a file
system they share (a Slurm cluster's home or scratch).

Built-in names (:data:`TASKS`) map to functions of :mod:`slt.sweeps.tasks`; :func:`register`
adds more (the manifest keeps the name; workers are sent the ``module:function`` it stands for).

Example
-------
>>> resolve("rlct")(K="x**2*y**4", seed=0)["lam"]
0.25
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

TaskFn = Callable[..., "dict[str, Any]"]

TASKS: dict[str, str] = {
    "llc": "slt.sweeps.tasks:llc",
    "nn_llc": "slt.sweeps.tasks:nn_llc",
    "llc_checkpoint": "slt.sweeps.tasks:llc_checkpoint",
    "dln_llc": "slt.sweeps.tasks:dln_llc",
    "rlct": "slt.sweeps.tasks:rlct",
    "wbic": "slt.sweeps.tasks:wbic",
    "free_energy": "slt.sweeps.tasks:free_energy",
    "xor_rashomon": "slt.sweeps.tasks:xor_rashomon",
    "llc_validation": "slt.sweeps.tasks:llc_validation",
}


def register(name: str, target: str) -> None:
    """Register ``name`` for the task ``target`` (``"module:function"`` or ``"file.py:function"``).

    Raises ``ValueError`` naming ``name`` or ``target`` when either is malformed.
    """
    if not name.isidentifier():
        raise ValueError(f"task name {name!r} must be an identifier")
    _split(target)
    TASKS[name] = spec_of(target)  # a file path made absolute


def spec_of(task: str | Callable) -> str:
    """The canonical spec of ``task``: a registered name stays a name, a file path becomes
    absolute, a callable becomes ``"module:qualname"``."""
    if callable(task):
        module, qualname = getattr(task, "__module__", None), getattr(task, "__qualname__", "")
        if not module or "<" in qualname or module == "__main__":
            raise ValueError(f"task {task!r} is not importable by workers; give 'module:function' or 'file.py:function'")
        return f"{module}:{qualname}"
    if not isinstance(task, str) or not task:
        raise ValueError(f"task {task!r}: expected a registered name, 'module:function' or 'file.py:function'")
    if task in TASKS:
        return task
    where, func = _split(task)
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"task {task!r}: file {str(path)!r} does not exist")
        return f"{path}:{func}"
    return task


def _split(target: str) -> tuple[str, str]:
    where, sep, func = target.rpartition(":")
    if not sep or not where or not all(part.isidentifier() for part in func.split(".")):
        raise ValueError(f"task {target!r}: expected a registered name ({', '.join(TASKS)}), "
                         f"'module:function' or 'path/to/file.py:function'")
    return where, func


@functools.lru_cache(maxsize=64)
def resolve(task: str) -> TaskFn:
    """The function of a task spec (cached per process)."""
    target = TASKS.get(task, task)
    where, func = _split(target)
    if where.endswith(".py"):
        module = _load_file(Path(where).expanduser().resolve())
    else:
        module = importlib.import_module(where)
    obj: Any = module
    for part in func.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"task {task!r}: {where!r} has no attribute {func!r}")
    if not callable(obj):
        raise ValueError(f"task {task!r}: {func!r} is not callable")
    return obj


def _load_file(path: Path):
    """Import a script by path under a name unique to the path (scripts are not packages)."""
    name = "_slt_task_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"task file {str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
