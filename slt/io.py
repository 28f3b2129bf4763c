"""Atomic result files and resumable runs for long experiments."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import numpy as np


def _umask() -> int:
    """The process umask (read by setting and restoring it; os has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through a temporary file in its folder and ``os.replace``: readers see the old
    file or the new one, never a part.  ``data``: the bytes, or a function writing to a binary file.

    The file gets mode 0666 & ~umask, as ``open(path, "w")`` would give it (``mkstemp``
    creates 0600 files, which other users and tools of a shared folder could not read).

    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", b"hi")
    >>> p.read_bytes()
    b'hi'
    """
    write = data if callable(data) else (lambda fh: fh.write(data))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


_atomic_write = atomic_write  # the name it had before it became public


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "__float__"):
        return float(obj)
    return str(obj)


def save_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as JSON atomically (numpy arrays and scalars converted)."""
    text = json.dumps(obj, indent=2, default=_default).encode()
    return atomic_write(path, text)


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: str | Path, **arrays: Any) -> Path:
    """Write arrays to ``path`` (.npz, compressed) atomically."""
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


class ResumableLog:
    """Append-only JSON-lines file of finished work items, keyed by ``key``.

    A run calls :meth:`done` to skip items finished before an interruption and
    :meth:`append` after each item; every line is flushed and fsync'ed, and a torn last line
    (from a crash mid-write) is ignored on reading.

    Examples
    --------
    >>> log = ResumableLog(path)                       # doctest: +SKIP
    >>> for key in keys:                               # doctest: +SKIP
    ...     if key in log.done(): continue
    ...     log.append({"key": key, "value": compute(key)})
    """

    def __init__(self, path: str | Path, key: str = "key"):
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open() as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn final line from an interrupted write

    def done(self) -> set:
        return {r[self.key] for r in self.records() if self.key in r}

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=_default) + "\n"
        with self.path.open("a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
