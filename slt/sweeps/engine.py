"""Run a grid of task calls through Dask distributed, one stored record per cell.

See :func:`run`.  The client (this process) submits every unfinished cell, and writes each
cell's record to the store as its future completes; workers only compute.  So the workers need
no access to the store, and a killed client loses only the cells in flight.
"""
from __future__ import annotations

import itertools
import json
import os
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from slt.sweeps.guard import check_main_guard
from slt.sweeps.registry import TASKS, resolve, spec_of
from slt.sweeps.store import RESERVED, Store, cell_key, cell_seed, jsonable

SYNCHRONOUS = "synchronous"
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its axis values, a key naming it, and its seed."""

    params: dict[str, Any]
    key: str
    seed: int


def check_grid(grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Validate a grid (axis name → non-empty list of distinct scalars); ``ValueError`` naming the
    bad axis or value."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"grid={grid!r}: expected a non-empty dict of axis name -> values")
    out = {}
    for axis, values in grid.items():
        if not isinstance(axis, str) or not axis.isidentifier():
            raise ValueError(f"grid axis {axis!r} must be an identifier")
        if axis in RESERVED:
            raise ValueError(f"grid axis {axis!r} is reserved ({', '.join(RESERVED)}); the seed is derived per cell")
        if axis in fixed:
            raise ValueError(f"{axis!r} is both a grid axis and a fixed setting")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, range)):
            raise ValueError(f"grid axis {axis!r}: values {values!r} must be a list")
        vals = [v.item() if isinstance(v, np.generic) else v for v in values]
        if not vals:
            raise ValueError(f"grid axis {axis!r} has no values")
        for v in vals:
            if not isinstance(v, (bool, int, float, str)):
                raise ValueError(f"grid axis {axis!r}: value {v!r} is not a number or string")
        canon = [json.dumps(v) for v in vals]
        if len(set(canon)) != len(canon):
            raise ValueError(f"grid axis {axis!r} repeats a value: {vals!r}")
        out[axis] = vals
    if "seed" in fixed:
        raise ValueError("fixed setting 'seed' is not allowed: the seed is derived per cell")
    return out


def cells(grid: Mapping[str, list[Any]]) -> Iterator[Cell]:
    """The product of the axes, in grid order (the last axis fastest)."""
    axes = list(grid)
    for values in itertools.product(*(grid[a] for a in axes)):
        params = dict(zip(axes, values))
        yield Cell(params, cell_key(params), cell_seed(params))


def normalise_outputs(outputs: Any, reserved: set[str]) -> dict[str, Any]:
    """Check a task's return value and convert it to storable values: None, bool, int, float,
    str, or a numpy array of numbers, booleans or strings.  An output named like a grid axis or
    a record column (``reserved``, e.g. an estimator echoing its ``nbeta``) is stored as
    ``<name>_out``."""
    if not isinstance(outputs, Mapping):
        raise TypeError(f"the task returned {type(outputs).__name__}; expected a dict of outputs")
    out = {}
    for name, value in outputs.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"output name {name!r} is not a non-empty string")
        if name in reserved:
            name = f"{name}_out"
        if value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
            continue
        if isinstance(value, np.generic):
            out[name] = value.item()
            continue
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufU":
            raise TypeError(f"output {name!r} has type {type(value).__name__}; expected a number, string or array")
        out[name] = arr.item() if arr.ndim == 0 else arr
    return out


def execute_cell(task: str, params: dict[str, Any], fixed: dict[str, Any], seed: int, key: str) -> dict[str, Any]:
    """Run one cell (on a worker) and return its record; an exception becomes status "error"
    with the traceback, never a failed future."""
    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    record: dict[str, Any] = {"key": key, **params, "seed": seed}
    try:
        outputs = resolve(task)(**params, **fixed, seed=seed)
        record.update(normalise_outputs(outputs, set(RESERVED) | set(params)))
        record.update(status="ok", error=None)
    except Exception:  # noqa: BLE001 - a failing cell is recorded, the sweep goes on
        record.update(status="error", error=traceback.format_exc())
    return {**record, **_timing(t0, started)}


def _timing(t0: float, started: datetime) -> dict[str, Any]:
    return {"seconds": time.perf_counter() - t0, "started": started.isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(), "worker": f"{os.uname().nodename}:{os.getpid()}"}


def _lost(cell: Cell, exc: BaseException) -> dict[str, Any]:
    """The record of a cell whose worker died (the future failed, not the task)."""
    now = datetime.now(timezone.utc)
    return {"key": cell.key, **cell.params, "seed": cell.seed, "status": "error",
            "error": f"{type(exc).__name__}: {exc}", **_timing(time.perf_counter(), now)}


def _client(workers: int | None, scheduler: Any):
    """(client, cluster to close or None): a LocalCluster of ``workers`` processes with one
    thread each, or a client of an existing scheduler address / cluster object."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        n = (os.cpu_count() or 1) if workers is None else int(workers)
        if n < 1:
            raise ValueError(f"workers={workers!r}; must be >= 1")
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, env=dict(WORKER_ENV))
        except RuntimeError as exc:  # Dask's "Nanny failed to start" names no cause
            raise RuntimeError(f"the sweep's LocalCluster did not start ({exc}); the workers' errors are printed "
                               "above. A script must call slt.sweeps.run under `if __name__ == \"__main__\":`, since "
                               "each worker re-imports it") from exc
        return Client(cluster), cluster
    if isinstance(scheduler, Client):
        return scheduler, None
    return Client(scheduler), None


def run(task: str | Callable, grid: Mapping[str, Sequence[Any]], *, out: str | Path,
        fixed: Mapping[str, Any] | None = None, workers: int | None = None, scheduler: Any = None,
        progress: bool = True) -> Path:
    """Run ``task`` on every cell of ``grid`` not yet finished in the store ``out``.

    Each cell calls ``task(**cell_values, **fixed, seed=cell_seed(cell_values))`` and stores
    its outputs (a dict of numbers, strings, arrays) with timings and status as soon as it
    finishes.  Rerunning with the same ``out`` skips finished cells and retries failed ones;
    the seeds depend only on the cell, so resumed and uninterrupted sweeps store the same results.

    Parameters
    ----------
    task : a registered name (:data:`slt.sweeps.TASKS`), ``"module:function"``,
        ``"path/to/file.py:function"`` or an importable function.
    grid : axis name → list of values (numbers or strings); the sweep is their product.
    out : the store directory (see :mod:`slt.sweeps.store`).
    fixed : keyword arguments shared by every cell (must be picklable; stored as JSON).
    workers : processes of the LocalCluster started when no ``scheduler`` is given
        (default: the number of cores; one thread each, for numba and torch).
    scheduler : an address (``"tcp://host:8786"``), a ``distributed.Client`` or a cluster
        object (e.g. dask-jobqueue's ``SLURMCluster``); ``"synchronous"`` runs the cells one
        after another in this process, without Dask (debugging, tiny sweeps).
    progress : show a progress bar over the cells and print the dashboard link.

    A script that starts a ``LocalCluster`` (no ``scheduler``) must call ``run`` under
    ``if __name__ == "__main__":``: the workers re-import the script.  An unguarded call is a
    ``RuntimeError`` saying so, before any worker starts (:mod:`slt.sweeps.guard`).

    Returns
    -------
    The store's path, for :func:`slt.sweeps.load`.

    Example
    -------
    >>> path = run("llc", {"potential": ["x**2+y**4", "cusp"], "nbeta": [1e3, 1e4]},
    ...            out="sweeps/demo", fixed={"num_draws": 500})       # doctest: +SKIP
    >>> load(path)[["potential", "nbeta", "llc", "se"]]               # doctest: +SKIP
    """
    if scheduler is None:
        check_main_guard()  # a LocalCluster's spawned workers re-import the calling script
    fixed = dict(fixed or {})
    spec = spec_of(task)
    axes = check_grid(grid, fixed)
    store = Store(out)
    config = {"task": spec, "grid": jsonable(axes), "axes": list(axes), "fixed": jsonable(fixed)}
    store.open(config, {"workers": workers, "scheduler": None if scheduler is None else str(scheduler)})
    done = store.finished()
    todo = [c for c in cells(axes) if c.key not in done]
    if todo:
        runner = _run_synchronous if scheduler == SYNCHRONOUS else _run_dask
        target = TASKS.get(spec, spec)  # workers import the function itself: register() need not reach them
        runner(target, todo, fixed, store, workers=workers, scheduler=scheduler, progress=progress)
    return store.root


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell", disable=not progress)


def _run_synchronous(spec: str, todo: list[Cell], fixed: dict, store: Store, *, progress: bool, **_: Any) -> None:
    with _bar(len(todo), progress, "sweep") as bar:
        for cell in todo:
            store.write(execute_cell(spec, cell.params, fixed, cell.seed, cell.key))
            bar.update()


def _run_dask(spec: str, todo: list[Cell], fixed: dict, store: Store, *, workers: int | None, scheduler: Any,
              progress: bool) -> None:
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    token = uuid.uuid4().hex[:8]  # keys unique to this run: a shared scheduler must not reuse old results
    try:
        if progress:
            print(f"sweep: {len(todo)} cells on {len(client.scheduler_info().get('workers', {}))} workers; "
                  f"dashboard {client.dashboard_link}", flush=True)
        fixed_future = client.scatter([fixed], broadcast=True)[0] if fixed else fixed
        by_key, futures = {}, []
        for cell in todo:
            fut = client.submit(execute_cell, spec, cell.params, fixed_future, cell.seed, cell.key,
                                key=f"slt-cell-{cell.key}-{token}", pure=False)
            by_key[fut.key] = cell
            futures.append(fut)
        with _bar(len(todo), progress, "sweep") as bar:
            for fut in as_completed(futures):  # (with_results=True gathers each future concurrently: avoid)
                try:
                    record = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker, not a failing task: record it, go on
                    record = _lost(by_key[fut.key], exc)
                store.write(record)
                fut.release()
                bar.update()
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
        elif scheduler is not client:
            client.close()
