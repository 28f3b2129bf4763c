"""λ̂ over training checkpoints, resumable: :func:`llc_trajectory` and :func:`llc_along_training`."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from slt.nn.flat import LossFn
from slt.nn.llc import estimate_llc

__all__ = ["Trajectory", "llc_trajectory", "llc_along_training", "load_checkpoint"]


@dataclass(frozen=True)
class Trajectory:
    """λ̂ over training checkpoints (from a :class:`slt.io.ResumableLog` when resumed)."""

    keys: tuple
    llc: np.ndarray
    se: np.ndarray
    init_loss: np.ndarray


def llc_trajectory(
    checkpoints,
    data,
    *,
    loss_fn: LossFn,
    model: nn.Module | None = None,
    out: str | None = None,
    progress: bool = True,
    seed: int | None = 0,
    **kwargs,
) -> Trajectory:
    """λ̂ at every training checkpoint, appended to ``out`` (JSON lines) as each finishes.

    Parameters
    ----------
    checkpoints : mapping key → module / state dict / path, or a sequence of those
        (keys are then 0, 1, …). State dicts and paths (``torch.save`` of a state dict or a
        module) need ``model``, whose architecture receives them.
    data, loss_fn, kwargs : as in :func:`estimate_llc`.
    out : path of a :class:`slt.io.ResumableLog`; checkpoints already in it are skipped, so
        an interrupted run resumes where it stopped.
    progress : tqdm bar over checkpoints.
    """
    from tqdm.auto import tqdm

    from slt.io import ResumableLog

    items = list(checkpoints.items()) if isinstance(checkpoints, dict) else list(enumerate(checkpoints))
    if not items:
        raise ValueError("no checkpoints given")
    log = ResumableLog(out) if out is not None else None
    done = {r["key"]: r for r in log.records()} if log is not None else {}
    rows = {}
    for key, ckpt in tqdm(items, disable=not progress, desc="checkpoints"):
        if key in done:
            rows[key] = done[key]
            continue
        res = estimate_llc(load_checkpoint(ckpt, model), data, loss_fn=loss_fn, seed=seed, **kwargs)
        row = {"key": key, "llc": res.mean, "se": res.se, "init_loss": res.init_loss, "rhat": res.rhat,
               "nbeta": res.nbeta, "gamma": res.gamma, "step_size": res.config.step_size}
        if log is not None:
            log.append(row)
        rows[key] = row
    keys = tuple(k for k, _ in items)
    return Trajectory(keys, *(np.array([rows[k][f] for k in keys]) for f in ("llc", "se", "init_loss")))


def load_checkpoint(ckpt, model: nn.Module | None) -> nn.Module:
    """A module from a module, a state dict or a path (``torch.save`` of either); state dicts
    are loaded into a copy of ``model``."""
    if isinstance(ckpt, nn.Module):
        return ckpt
    if not isinstance(ckpt, dict):
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
    is given: checkpoints in ``out/checkpoints``, λ̂ rows in ``out/llc.jsonl``).

    Returns the :class:`Trajectory` (keys = epochs) and the training loss per epoch.
    """
    from pathlib import Path

    from slt.nn.models import train_with_checkpoints  # noqa: PLC0415

    ckpts, history = train_with_checkpoints(
        model, data, loss_fn=loss_fn, lr=lr, epochs=epochs, checkpoint_epochs=checkpoint_epochs,
        out=None if out is None else Path(out) / "checkpoints", seed=seed, **(train_kwargs or {}),
    )
    template = copy.deepcopy(model)
    traj = llc_trajectory(
        ckpts, data, loss_fn=loss_fn, model=template, out=None if out is None else Path(out) / "llc.jsonl",
        progress=progress, seed=seed, **llc_kwargs,
    )
    return traj, np.asarray(history)
