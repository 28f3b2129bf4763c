"""λ̂ over training checkpoints as a resumable sweep: :func:`llc_trajectory`, :func:`llc_along_training`.

The checkpoints are the ``checkpoint`` axis of a sweep (:mod:`slt.sweeps`, task
``llc_checkpoint``): one cell per checkpoint, its record stored in the sweep's Parquet store as
it finishes, so a killed run resumes where it stopped.  Layout of ``out/``::

    manifest.json, cells/             the sweep store (:func:`slt.sweeps.load` reads it)
    inputs/bundle-<digest>.pt         architecture, data, loss and estimator settings
    inputs/checkpoints.json           checkpoint key → file and a digest of its content
    inputs/checkpoints/<n>.pt         checkpoints given in memory, saved for the workers

The bundle's name is a digest of its content, so a rerun with other settings or data is told
to use another ``out`` instead of mixing results; a checkpoint whose content changed since its
cell was stored is estimated again.  With ``workers=1`` (the default) the cells run in this
process without a cluster, and objects given in memory are used directly (nothing is saved but
the index); the store is the same either way, so a run may resume with other workers.  The
fixed settings name the inputs by absolute path: resume a store where it was written.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from slt.errors import SLTWarning
from slt.io import atomic_write
from slt.nn.flat import LossFn

__all__ = ["Trajectory", "checkpoint_object", "llc_along_training", "llc_trajectory", "load_checkpoint",
           "load_inputs"]

TASK = "llc_checkpoint"
INPUTS = "inputs"
INDEX = "checkpoints.json"
_LOCAL: dict[str, Any] = {}  # path → object, for cells run in this process (files not written)


@dataclass(frozen=True)
class Trajectory:
    """λ̂ over training checkpoints, in the order given.

    ``store`` is the sweep store holding every cell's full record (``slt.sweeps.load(store)``:
    per-chain values, ν̂, step size, timings), or None when no ``out`` was given.  ``gamma``: the
    localization each checkpoint ran at (λ̂ at different γ are not comparable).
    """

    keys: tuple
    llc: np.ndarray
    se: np.ndarray
    init_loss: np.ndarray
    rhat: np.ndarray | None = None
    store: Path | None = None
    gamma: np.ndarray | None = None


def llc_trajectory(
    checkpoints,
    data,
    *,
    loss_fn: LossFn,
    model: nn.Module | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    seed: int | None = 0,
    workers: int | None = 1,
    scheduler: Any = None,
    **kwargs,
) -> Trajectory:
    """λ̂ at every training checkpoint, each a cell of a resumable sweep stored in ``out``.

    Every checkpoint gets :func:`slt.nn.estimate_llc` with the same settings and the same
    ``seed`` (common random numbers: differences between checkpoints are not blurred by
    different chain noise).  ``restrict=`` gives the restricted LLC of a component at every
    checkpoint.

    Parameters
    ----------
    checkpoints : mapping key → module / state dict / path, or a sequence of those (keys are
        then 0, 1, …); keys are numbers or strings.  State dicts and paths (``torch.save`` of a
        state dict or a module) need ``model``, whose architecture receives them.
    data, loss_fn, kwargs : as in :func:`slt.nn.estimate_llc` (``restrict``, ``nbeta``, …).
    out : the sweep store (a folder): checkpoints finished in it are read back, not rerun, so
        an interrupted run resumes.  A path ending in ``.jsonl`` (the JSON-lines log of earlier
        versions) keeps the store in ``<stem>_sweep/`` beside it and rewrites the JSON lines,
        one per finished checkpoint.  None: a temporary store.
    progress : a progress bar over the checkpoints.
    seed : the estimator's seed at every checkpoint (an int); None: each cell's own seed,
        derived from its key (:func:`slt.sweeps.cell_seed`).
    workers, scheduler : 1 (default) runs the cells in this process; more start a Dask
        ``LocalCluster`` of that many processes; ``scheduler`` any Dask scheduler
        (:func:`slt.sweeps.run`).  Objects given in memory are then saved under ``out``.

    Example
    -------
    >>> traj = llc_trajectory({0: "ckpt/epoch_0.pt", 100: "ckpt/epoch_100.pt"}, (X, y),
    ...                       loss_fn=F.cross_entropy, model=net, restrict="att.*",
    ...                       out="runs/att_llc", nbeta=100.0)       # doctest: +SKIP
    >>> traj.llc, traj.se                                            # doctest: +SKIP
    """
    from slt import sweeps

    items = _items(checkpoints)
    if model is None:
        for key, ckpt in items:
            if isinstance(ckpt, Mapping):
                raise ValueError(f"checkpoint {key!r} is a state dict: checkpoints given as state dicts or paths "
                                 "need model= (the architecture)")
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r}: a trajectory's seed is an int (stored with its results) or None")
    local = scheduler is None and workers == 1
    with _store_dir(out) as (root, jsonl):
        fixed = _prepare(root, items, model, data, loss_fn, kwargs, seed, local)
        try:
            sweeps.run(TASK, {"checkpoint": [k for k, _ in items]}, out=root, fixed=fixed,
                       workers=workers, scheduler=sweeps.SYNCHRONOUS if local else scheduler, progress=progress)
        finally:
            _LOCAL.clear()
        rows = _rows(root, [k for k, _ in items])
        if jsonl is not None:
            _export_jsonl(jsonl, root)
    keys = tuple(k for k, _ in items)
    arrays = (np.array([rows[k][f] for k in keys], dtype=float) for f in ("llc", "se", "init_loss", "rhat"))
    return Trajectory(keys, *arrays, store=None if out is None else root, gamma=gammas(rows, keys))


def gammas(rows: dict[Any, dict[str, Any]], keys: tuple) -> np.ndarray:
    """The γ of each checkpoint's record; an SLTWarning when they differ (no γ was given, and each
    network took the smallest γ that kept its chains local: :mod:`slt.estimators.localization`)."""
    gamma = np.array([rows[k]["gamma"] for k in keys], dtype=float)
    if np.unique(gamma).size > 1:
        warnings.warn(f"the checkpoints ran at different localizations γ {sorted(set(gamma.tolist()))}, each the "
                      "smallest that kept its chains local; λ̂ at different γ are not comparable: pass gamma= "
                      "(e.g. the largest) to put every checkpoint on one", SLTWarning, stacklevel=3)
    return gamma


def _items(checkpoints) -> list[tuple[Any, Any]]:
    """(key, checkpoint) pairs; keys must be distinct numbers or strings (the sweep's axis)."""
    items = list(checkpoints.items()) if isinstance(checkpoints, Mapping) else list(enumerate(checkpoints))
    if not items:
        raise ValueError("no checkpoints given")
    out = []
    for key, ckpt in items:
        key = key.item() if isinstance(key, np.generic) else key
        if not isinstance(key, (int, float, str)) or isinstance(key, bool):
            raise ValueError(f"checkpoint key {key!r} must be a number or a string")
        out.append((key, ckpt))
    return out


@contextlib.contextmanager
def _store_dir(out: str | Path | None) -> Iterator[tuple[Path, Path | None]]:
    """(store folder, JSON-lines file or None); a temporary folder when ``out`` is None."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="slt-trajectory-") as tmp:
            yield Path(tmp), None
        return
    out = Path(out)
    if out.suffix == ".jsonl":
        yield out.with_name(f"{out.stem}_sweep"), out
        return
    if out.is_file():
        raise ValueError(f"out={str(out)!r} is a file; llc_trajectory stores a sweep in a folder "
                         "(give a folder, or a .jsonl path to keep JSON lines beside the store)")
    yield out, None


def _prepare(root: Path, items: list, model, data, loss_fn, kwargs: dict, seed: int | None,
             local: bool) -> dict[str, Any]:
    """Write (or, in process, register) the inputs and the checkpoint index; return the sweep's
    fixed settings.  Cells of checkpoints whose content changed are dropped from the store."""
    from slt.sweeps.engine import cell_key
    from slt.sweeps.store import Store, jsonable

    inputs = (root / INPUTS).resolve()
    bundle = {"model": model, "data": data, "loss_fn": loss_fn, "kwargs": dict(kwargs)}
    bundle_path = inputs / f"bundle-{digest(bundle)[:16]}.pt"
    fixed = {"inputs": str(bundle_path), "index": str(inputs / INDEX),
             "estimator_seed": None if seed is None else int(seed),
             "settings": jsonable({"loss_fn": describe(loss_fn), "model": describe(model),
                                   **{k: describe(v) for k, v in kwargs.items()}})}
    store = Store(root)
    store.check(TASK, fixed)  # before anything in the store changes
    index = _read_index(inputs / INDEX)
    stale = []
    for key, ckpt in items:
        name = json.dumps(key)
        old = index.get(name)
        index[name] = entry = _entry(ckpt, old)
        if old is not None and old["source"] != entry["source"]:
            stale.append(cell_key({"checkpoint": key}))
        if "stamp" not in entry:  # given in memory: saved under a name made from its content
            _put(inputs / entry["path"], ckpt, local)
    _put(bundle_path, bundle, local)
    for cell in stale:
        for ok in (True, False):
            store.path(cell, ok).unlink(missing_ok=True)
    inputs.mkdir(parents=True, exist_ok=True)
    atomic_write(inputs / INDEX, json.dumps(index, indent=1).encode())
    return fixed


def _entry(ckpt: Any, old: dict[str, str] | None) -> dict[str, str]:
    """The index entry of a checkpoint: where it is and what identifies its content (a digest
    of a module or state dict; the sha256 of a file's bytes, reread only when its size or
    modification time changed)."""
    if isinstance(ckpt, (str, Path)):
        path = Path(ckpt).resolve()
        if not path.is_file():
            raise ValueError(f"checkpoint file {str(path)!r} does not exist")
        stat = path.stat()
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        if old is not None and old.get("path") == str(path) and old.get("stamp") == stamp:
            return old
        return {"path": str(path), "stamp": stamp, "source": "file:" + _file_sha(path)}
    if not isinstance(ckpt, (nn.Module, Mapping)):
        raise ValueError(f"checkpoint of type {type(ckpt).__name__}: expected a module, a state dict or a path")
    source = "digest:" + digest(ckpt)
    return {"path": f"checkpoints/{hashlib.sha256(source.encode()).hexdigest()[:16]}.pt", "source": source}


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _put(path: Path, obj: Any, local: bool) -> None:
    """Make ``obj`` loadable from ``path`` (named by its content): registered in this process,
    or saved (cloudpickle, so local classes and functions travel too) unless already there."""
    if local:
        _LOCAL[str(path)] = obj
        return
    if path.exists():
        return
    import cloudpickle


    atomic_write(path, lambda fh: torch.save(obj, fh, pickle_module=cloudpickle))


def _read_index(path: Path) -> dict[str, dict[str, str]]:
    return json.loads(path.read_text()) if path.exists() else {}


def digest(obj: Any) -> str:
    """sha256 of an object's content: tensor and array bytes, module state and structure,
    importable functions by name, anything else by its cloudpickle bytes.

    Example
    -------
    >>> digest({"w": torch.zeros(2)}) == digest({"w": torch.zeros(2)})
    True
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, np.ndarray):
        h.update(f"array{obj.dtype}{obj.shape}".encode() + np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, nn.Module):
        h.update(f"module{type(obj).__module__}.{type(obj).__qualname__}{obj!r}".encode())
        _feed(h, obj.state_dict())
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            h.update(f"key{k!r}".encode())
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    elif obj is None or isinstance(obj, (bool, int, float, str, Path)):
        h.update(f"{type(obj).__name__}{obj!r}".encode())
    elif callable(obj) and _importable(obj):
        h.update(f"callable{describe(obj)}".encode())
    else:
        import cloudpickle

        h.update(cloudpickle.dumps(obj))


def _importable(fn: Any) -> bool:
    qualname = getattr(fn, "__qualname__", "")
    return bool(getattr(fn, "__module__", None)) and "<" not in qualname and fn.__module__ != "__main__"


def describe(obj: Any) -> Any:
    """A readable, process-independent description for the manifest: functions and classes by
    ``module:qualname``, modules by class name and parameter count, tensors by shape."""
    if isinstance(obj, nn.Module):
        return f"{type(obj).__qualname__} ({sum(p.numel() for p in obj.parameters())} parameters)"
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}"
    if isinstance(obj, (list, tuple)):
        return [describe(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): describe(v) for k, v in obj.items()}
    if callable(obj):
        return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    return obj


def _rows(root: Path, keys: list) -> dict[Any, dict[str, Any]]:
    """The stored record of each key; ``RuntimeError`` naming the failed checkpoints."""
    from slt.sweeps import Store

    records = {json.dumps(r["checkpoint"]): r for r in Store(root).records()}
    rows = {k: records.get(json.dumps(k)) for k in keys}
    failed = {k: r for k, r in rows.items() if r is None or r["status"] != "ok"}
    if failed:
        first = next((r["error"] for r in failed.values() if r is not None), "no record")
        raise RuntimeError(f"λ̂ failed at checkpoints {list(failed)} (records in {str(root)!r}); "
                           f"the first error:\n{first}")
    return rows


def _export_jsonl(path: Path, root: Path) -> None:
    """One JSON line per finished checkpoint (key, λ̂, se, L(w*), R-hat, nβ, γ, step), atomically."""
    from slt.sweeps.store import Store, jsonable

    fields = ("llc", "se", "init_loss", "rhat", "nbeta", "gamma", "step_size")
    lines = [json.dumps(jsonable({"key": r["checkpoint"], **{f: r.get(f) for f in fields}})) + "\n"
             for r in Store(root).records() if r["status"] == "ok"]
    atomic_write(path, "".join(lines).encode())


@lru_cache(maxsize=4)
def _load_file(path: str) -> Any:
    return torch.load(path, map_location="cpu", weights_only=False)


def load_inputs(path: str) -> dict[str, Any]:
    """The bundle a trajectory wrote (``model``, ``data``, ``loss_fn``, ``kwargs``); from this
    process's memory when the trajectory runs here."""
    return _LOCAL[path] if path in _LOCAL else _load_file(path)


def checkpoint_object(index: str, key: Any) -> Any:
    """The checkpoint (module, state dict or path) of ``key`` in a trajectory's index file."""
    entries = _read_index(Path(index))
    entry = entries.get(json.dumps(key))
    if entry is None:
        raise ValueError(f"checkpoint {key!r} is not in the index {index!r}")
    path = Path(entry["path"])
    path = path if path.is_absolute() else Path(index).parent / path
    return _LOCAL.get(str(path), path)


def load_checkpoint(ckpt, model: nn.Module | None) -> nn.Module:
    """A module from a module, a state dict or a path (``torch.save`` of either); state dicts
    are loaded into a copy of ``model``."""
    if isinstance(ckpt, nn.Module):
        return ckpt
    if not isinstance(ckpt, Mapping):
        ckpt = torch.load(ckpt, map_location="cpu", weights_only=False)
        if isinstance(ckpt, nn.Module):
            return ckpt
    if model is None:
        raise ValueError("checkpoints given as state dicts or paths need model= (the architecture)")
    target = copy.deepcopy(model)
    target.load_state_dict(ckpt)
    return target


def llc_along_training(
    model: nn.Module,
    data,
    *,
    loss_fn: LossFn,
    lr: float,
    epochs: int,
    checkpoint_epochs,
    out=None,
    train_kwargs: dict | None = None,
    seed: int | None = 0,
    progress: bool = False,
    **llc_kwargs,
) -> tuple[Trajectory, np.ndarray]:
    """Train ``model`` (in place) keeping checkpoints, then λ̂ at each (resumable when ``out``
    is given: checkpoints in ``out/checkpoints``, the λ̂ sweep in ``out/llc_sweep``).

    Returns the :class:`Trajectory` (keys = epochs) and the training loss per epoch.

    Example
    -------
    >>> traj, history = llc_along_training(net, (X, y), loss_fn=gaussian_nll, lr=0.05, epochs=500,
    ...                                    checkpoint_epochs=[0, 50, 500], nbeta=100.0)  # doctest: +SKIP
    """
    from slt.nn.models import train_with_checkpoints  # noqa: PLC0415

    ckpt_dir = None if out is None else Path(out) / "checkpoints"
    ckpts, history = train_with_checkpoints(
        model, data, loss_fn=loss_fn, lr=lr, epochs=epochs, checkpoint_epochs=checkpoint_epochs,
        out=ckpt_dir, seed=seed, **(train_kwargs or {}),
    )
    if ckpt_dir is not None:  # the saved files: the store's index points at them, nothing is copied
        ckpts = {e: ckpt_dir / f"epoch_{e:04d}.pt" for e in ckpts}
    template = copy.deepcopy(model)
    traj = llc_trajectory(
        ckpts, data, loss_fn=loss_fn, model=template, out=None if out is None else Path(out) / "llc_sweep",
        progress=progress, seed=seed, **llc_kwargs,
    )
    return traj, np.asarray(history)
