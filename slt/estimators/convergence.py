"""Runs that stop when converged: extend the draws until targets hold or a budget ends.

After the estimator's drawing run, :func:`extend` checks the targets on the loss traces (split
R-hat ≤ ``rhat``, relative standard error se/|λ̂| ≤ ``rse``; the se from the traces' effective
sample size, as in :func:`slt.estimators.core.llc_from_traces`) and, while one fails and the
budget allows, runs as many draws again as have been drawn (doubling), continuing the chains and
their running sums.  The result's ``info["convergence"]`` says which targets held, after how many
draws and rounds, and why it stopped.  The budget is a number of draws per chain
(``max_draws``: the same seed gives the same numbers) and, optionally, wall-clock seconds.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from slt import diagnostics
from slt.estimators import tuning
from slt.estimators.backend import Backend, Chains, RunSpec
from slt.estimators.config import LLCConfig
from slt.estimators.recording import Recorder

__all__ = ["Targets", "draw_more", "extend", "targets_held"]

EXTEND_SEGMENT = 20  # segment_seed index of the first extension round


@dataclass(frozen=True)
class Targets:
    """What a converged estimate means, and what it may cost.

    Attributes
    ----------
    rhat : largest split R-hat of the loss traces (None: no target).
    rse : largest se/|λ̂| (None: no target).
    max_draws : draws per chain at most, extensions included.
    seconds : wall-clock seconds at most for the whole estimate (None: no time limit).
    """

    rhat: float | None = None
    rse: float | None = None
    max_draws: int = 0
    seconds: float | None = None

    @property
    def active(self) -> bool:
        return self.rhat is not None or self.rse is not None


def targets_held(traces: np.ndarray, nbeta: float, init_loss: float, targets: Targets) -> dict[str, Any]:
    """R-hat, λ̂, its se and relative se of ``traces``, and whether each target holds."""
    mean = float(nbeta * (traces.mean() - init_loss))
    se = float(nbeta * diagnostics.mcse_mean(traces))
    rhat = float(diagnostics.rhat(traces))
    rse = se / abs(mean) if mean != 0 else math.inf
    held = {}
    if targets.rhat is not None:
        held["rhat"] = bool(rhat <= targets.rhat)
    if targets.rse is not None:
        held["rse"] = bool(rse <= targets.rse)
    return dict(llc=mean, se=se, rhat=rhat, rse=rse, held=held)


def _report(state: dict, draws: int, progress: bool) -> None:
    if progress:
        print(f"  draws {draws}: λ̂ {state['llc']:.4g}, se {state['se']:.2g} ({100 * state['rse']:.1f}%), "
              f"R-hat {state['rhat']:.3f}", file=sys.stderr)


def draw_more(backend: Backend, chains: Chains, cfg: LLCConfig, center: Any, recorder: Recorder, more: int, *,
              segment: int, progress: bool = False) -> tuple[Chains, LLCConfig]:
    """``chains`` (the drawing run of ``cfg``) continued by ``more`` draws, the running sums of
    ``recorder`` going on; returns every draw and the config with the total draws."""
    run = backend.run(RunSpec(cfg, center, continues=True), chains.positions, num_steps=more * cfg.thin,
                      thin=cfg.thin, seed=tuning.segment_seed(cfg.seed, segment), progress=progress,
                      probe=recorder.probe)
    total = cfg.num_draws + more
    acc = None if chains.acceptance is None or run.acceptance is None else \
        (chains.acceptance * cfg.num_draws + run.acceptance * more) / total
    out = Chains(positions=run.positions, loss_traces=np.concatenate([chains.loss_traces, run.loss_traces], axis=1),
                 distance_traces=np.concatenate([chains.distance_traces, run.distance_traces], axis=1),
                 acceptance=acc, step_size=chains.step_size)
    return out, replace(cfg, num_draws=total)


def extend(backend: Backend, chains: Chains, cfg: LLCConfig, center: Any, recorder: Recorder, init_loss: float,
           targets: Targets, *, started: float, progress: bool) -> tuple[Chains, LLCConfig, dict]:
    """Continue ``chains`` (the drawing run of ``cfg``) until ``targets`` hold or the budget ends.

    Returns the chains with every draw, the config with the total draws, and the record for
    ``info["convergence"]``.
    """
    rounds = 0
    while True:
        state = targets_held(chains.loss_traces, cfg.nbeta, init_loss, targets)
        _report(state, cfg.num_draws, progress)
        if all(state["held"].values()):
            reason = "targets held"
            break
        if cfg.num_draws >= targets.max_draws:
            reason = f"max_draws={targets.max_draws} reached"
            break
        if targets.seconds is not None and time.perf_counter() - started >= targets.seconds:
            reason = f"time budget of {targets.seconds:g} s spent"
            break
        more = min(cfg.num_draws, targets.max_draws - cfg.num_draws)
        chains, cfg = draw_more(backend, chains, cfg, center, recorder, more, segment=EXTEND_SEGMENT + rounds,
                                progress=progress)
        rounds += 1
    record = dict(target_rhat=targets.rhat, target_rse=targets.rse, max_draws=targets.max_draws,
                  seconds_budget=targets.seconds, rhat=state["rhat"], rse=state["rse"], held=state["held"],
                  converged=all(state["held"].values()), draws=cfg.num_draws, rounds=rounds, stopped=reason)
    return chains, cfg, record
