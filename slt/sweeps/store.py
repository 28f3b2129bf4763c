"""The results store of a sweep: a directory of one Parquet file per cell plus a JSON manifest.

Layout of ``out/``::

    manifest.json              task, grid, fixed, axes and one provenance entry per run
    cells/<key>.parquet        one row: axes, seed, status, outputs, timings, worker
    cells/<key>.error.parquet  the same for a failed cell (with the traceback in ``error``)

Why one small Parquet file per cell: each cell's record is written atomically (a temporary
file, then ``os.replace``) the moment the cell finishes, so a killed sweep loses only the cells
in flight and never leaves a half-written table; nothing is ever appended to or rewritten in
place, so no lock is needed and a torn write cannot corrupt earlier results.  Which cells are
done is read from the file names alone, so resuming a large sweep costs one directory listing.
(Files are not fsync'ed: a killed process loses nothing that way, and a file left empty by a
power loss is skipped with a warning and its cell runs again.)
Parquet (via pyarrow) is the standard columnar format that pandas, polars, DuckDB, Spark and R
read directly, keeps dtypes (ints stay ints, arrays stay numeric), and stores 1-d columns of
arrays natively (shapes of n-d outputs go in the file's metadata).  A Zarr store via xarray
would need a rectangular grid filled in place by concurrent writers; per-cell files need
neither.  :func:`load` gathers the files into one pandas DataFrame; :func:`load_dataset` gives
an xarray Dataset indexed by the grid axes.  Files are created with mode 0666 minus the
user's umask, like any file the user writes.  Only the process running the sweep writes the
store (workers return records to it), and one sweep at a time should write a given store.

Example
-------
>>> df = load("sweeps/llc_grid")                     # doctest: +SKIP
>>> df.groupby("nbeta")["llc"].mean()                # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import itertools
import json
import platform
import socket
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from slt.io import atomic_write

FORMAT = "slt-sweep/1"
MANIFEST = "manifest.json"
CELLS = "cells"
RESERVED = ("key", "seed", "status", "error", "started", "finished", "seconds", "worker")
SEED_ENTROPY = 0x5EED_5317_C0DE  # the root of every cell's SeedSequence
PACKAGES = ("numpy", "scipy", "numba", "torch", "dask", "distributed", "pyarrow", "pandas")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python numbers and lists (for JSON and keys)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def cell_key(params: Mapping[str, Any]) -> str:
    """A short stable name of a cell: sha256 of its values as canonical JSON (axis order free)."""
    text = json.dumps(jsonable(dict(params)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cell_seed(params: Mapping[str, Any]) -> int:
    """The seed of a cell, from its coordinates only (never the order in which cells run).

    ``SeedSequence(SEED_ENTROPY, spawn_key=words of sha256(cell))``: a spawn of the root
    sequence keyed by the cell's canonical JSON (axis name → value), reduced to 63 bits, so any
    cell can be rerun alone and adding axis values leaves other cells' seeds unchanged
    (numpy's SeedSequence; O'Neill 2015, "PCG", on seeding by hashing).

    Example
    -------
    >>> cell_seed({"nbeta": 1000.0, "run": 3}) == cell_seed({"run": 3, "nbeta": 1000.0})
    True
    """
    digest = hashlib.sha256(json.dumps(jsonable(dict(params)), sort_keys=True).encode()).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4))
    state = np.random.SeedSequence(SEED_ENTROPY, spawn_key=words).generate_state(2, np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) >> 1)


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("-dirty" if dirty else "")) or None


def provenance() -> dict[str, Any]:
    """Who ran what where: slt version, git commit of the slt source, Python and package
    versions (read from the installed metadata: nothing is imported), host, time, command."""
    import slt

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "slt": slt.__version__, "git_commit": _git_commit(), "python": sys.version.split()[0],
        "platform": platform.platform(), "host": socket.gethostname(), "versions": versions,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "argv": list(sys.argv),
    }


class Store:
    """A sweep's directory: the manifest and one Parquet record per finished cell.

    Parameters
    ----------
    out : the directory (created on :meth:`open`).

    Example
    -------
    >>> store = Store("sweeps/demo")                               # doctest: +SKIP
    >>> store.open(config)                                         # doctest: +SKIP
    >>> store.write(record)                                        # doctest: +SKIP
    """

    def __init__(self, out: str | Path):
        self.root = Path(out)
        self.cells = self.root / CELLS

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest; ``ValueError`` naming the directory when it is not a sweep store."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise ValueError(f"out={str(self.root)!r} is not a sweep store (no {MANIFEST})") from None
        if manifest.get("format") != FORMAT:
            raise ValueError(f"out={str(self.root)!r}: unknown store format {manifest.get('format')!r}")
        return manifest

    def open(self, config: dict[str, Any], run_info: dict[str, Any]) -> None:
        """Create the store, or check that an existing one holds the same task and fixed
        settings (the grid may grow or shrink: cells are keyed by their values).  Appends a
        provenance entry for this run and removes temporary files left by a killed writer."""
        self.check(config["task"], config["fixed"])
        self.cells.mkdir(parents=True, exist_ok=True)
        entry = {**provenance(), **run_info}
        if self.manifest_path.exists():
            manifest = self.manifest()
            manifest.update(grid=config["grid"], axes=config["axes"])
            manifest["runs"].append(entry)
        else:
            manifest = {"format": FORMAT, **config, "runs": [entry]}
        for tmp in self.cells.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        atomic_write(self.manifest_path, json.dumps(manifest, indent=2).encode())

    def check(self, task: str, fixed: Mapping[str, Any]) -> None:
        """``ValueError`` when the store holds a sweep of another task or other fixed settings
        (compared as JSON); nothing when it matches or does not exist yet."""
        if not self.manifest_path.exists():
            return
        manifest = self.manifest()
        for name, value in (("task", task), ("fixed", jsonable(fixed))):
            if manifest[name] != value:
                raise ValueError(f"out={str(self.root)!r} holds a sweep with {name}={manifest[name]!r}, "
                                 f"not {value!r}: use another out")

    def path(self, key: str, ok: bool = True) -> Path:
        return self.cells / (f"{key}.parquet" if ok else f"{key}.error.parquet")

    def finished(self) -> set[str]:
        """Keys of the cells stored with status "ok" (failed cells run again), from file names."""
        return {p.name[:-8] for p in self.cells.glob("*.parquet")
                if not p.name.endswith(".error.parquet") and p.stat().st_size > 0}

    def write(self, record: dict[str, Any]) -> Path:
        """Write one cell's record atomically to ``cells/<key>.parquet``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns, shapes = {}, {}
        for name, value in record.items():
            if isinstance(value, np.ndarray):
                shapes[name] = list(value.shape)
                columns[name] = pa.array([value.ravel()])
            else:
                columns[name] = pa.array([value])
        table = pa.table(columns).replace_schema_metadata({"slt.shapes": json.dumps(shapes)})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        ok = record["status"] == "ok"
        path = atomic_write(self.path(record["key"], ok), sink.getvalue().to_pybytes())
        if ok:
            self.path(record["key"], ok=False).unlink(missing_ok=True)  # an earlier failure of this cell
        return path

    def records(self) -> list[dict[str, Any]]:
        """Every stored record as a dict (n-d arrays restored to their shapes); one per cell,
        the successful one where a cell has both; unreadable files skipped with a warning."""
        from concurrent.futures import ThreadPoolExecutor

        paths = sorted(self.cells.glob("*.parquet"), key=lambda p: p.name.endswith(".error.parquet"))
        with ThreadPoolExecutor(max_workers=8) as pool:
            rows = list(pool.map(_read_record, paths))
        out: dict[str, dict[str, Any]] = {}
        for path, row in zip(paths, rows):
            if row is None:
                warnings.warn(f"sweep store: unreadable record {path} skipped (its cell will run again)",
                              stacklevel=2)
            elif row.get("key") not in out:
                out[row["key"]] = row
        return list(out.values())


def _read_record(path: Path) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path).read(use_threads=False)
    except Exception:  # noqa: BLE001 - e.g. a file emptied by a power loss
        return None
    shapes = json.loads((table.schema.metadata or {}).get(b"slt.shapes", b"{}"))
    row = {name: table.column(name)[0].as_py() for name in table.column_names}
    for name, shape in shapes.items():
        row[name] = np.asarray(row[name]).reshape(shape)
    return row


def load(out: str | Path):
    """All stored cells of a sweep as a pandas DataFrame, one row per cell in grid order.

    Columns: the grid axes, ``seed``, ``status`` ("ok" or "error"), the task's outputs (arrays
    as numpy arrays), ``error`` (the traceback of a failed cell), ``seconds``, ``started``,
    ``finished``, ``worker`` and ``key``.  Raises ``ValueError`` when ``out`` is not a store.

    Example
    -------
    >>> df = load("sweeps/llc_grid")                             # doctest: +SKIP
    >>> df[df.status == "ok"].pivot(index="nbeta", columns="potential", values="llc")  # doctest: +SKIP
    """
    import pandas as pd

    store = Store(out)
    manifest = store.manifest()
    axes = manifest["axes"]
    rows = store.records()
    outputs = list(dict.fromkeys(k for r in rows for k in r if k not in RESERVED and k not in axes))
    columns = [*axes, "seed", "status", *outputs, "error", "seconds", "started", "finished", "worker", "key"]
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        position = {a: {json.dumps(jsonable(v)): i for i, v in enumerate(manifest["grid"][a])} for a in axes}
        order = [tuple(position[a].get(json.dumps(jsonable(v)), len(position[a])) for a, v in zip(axes, vals))
                 for vals in zip(*(df[a] for a in axes))]
        df = df.iloc[sorted(range(len(df)), key=order.__getitem__)].reset_index(drop=True)
    return df


def load_dataset(out: str | Path):
    """The finished (status "ok") cells as an xarray Dataset indexed by the grid axes.

    Every output becomes a variable of dims (*axes, name_0, name_1, ...) for array outputs;
    cells missing or failed are NaN (None for strings).  Needs xarray.

    Example
    -------
    >>> ds = load_dataset("sweeps/llc_grid")                       # doctest: +SKIP
    >>> ds["llc"].sel(potential="cusp")                            # doctest: +SKIP
    """
    import xarray as xr

    store = Store(out)
    manifest = store.manifest()
    axes, grid = manifest["axes"], manifest["grid"]
    df = load(out)
    df = df[df.status == "ok"]
    shape = tuple(len(grid[a]) for a in axes)
    index = {a: {json.dumps(jsonable(v)): i for i, v in enumerate(grid[a])} for a in axes}
    cells = []
    for _, row in df.iterrows():
        pos = tuple(index[a].get(json.dumps(jsonable(row[a]))) for a in axes)
        if None not in pos:
            cells.append((pos, row))
    seeds = np.array([cell_seed(dict(zip(axes, vals))) for vals in itertools.product(*(grid[a] for a in axes))])
    variables = {"seed": ((*axes,), seeds.reshape(shape))}  # known for every cell, run or not
    for name in df.columns:
        if name in RESERVED or name in axes:
            continue
        values = _fill(shape, [(p, r[name]) for p, r in cells])
        inner = values.shape[len(shape):]
        variables[name] = ((*axes, *(f"{name}_{i}" for i in range(len(inner)))), values)
    return xr.Dataset(variables, coords={a: grid[a] for a in axes}, attrs={"task": manifest["task"],
                                                                           "fixed": json.dumps(manifest["fixed"])})


def _fill(shape: tuple[int, ...], items: list[tuple[tuple[int, ...], Any]]) -> np.ndarray:
    """An array of ``shape`` (+ the values' own shape) holding ``items``; NaN/None elsewhere."""
    items = [(p, v) for p, v in items if v is not None and not (np.ndim(v) == 0 and v != v)]  # NaN: missing
    present = [np.asarray(v) for _, v in items]
    inner = present[0].shape if present and all(a.shape == present[0].shape for a in present) else ()
    numeric = bool(present) and all(a.dtype.kind in "biuf" for a in present)
    if not inner and not all(np.ndim(a) == 0 for a in present):
        numeric = False  # ragged arrays: keep them as objects
    out = np.full(shape + inner, np.nan) if numeric else np.full(shape + inner, None, dtype=object)
    for pos, value in items:
        out[pos] = value
    return out
