"""What the estimator records at the draws, on the fly, through the backend's probes.

- the MALA acceptance of the draws (SGLD on small problems: its discretization error);
- the singular fluctuation ν̂ = (β/2) Σ_i Var_w[ℓ_i(w)] (Watanabe 2010) from per-chain sums of
  per-sample losses on an evenly spread subset of the samples;
- the per-sample LLC decomposition λ̂_i = nβ (E_w[ℓ_i(w)] − ℓ_i(w*)), whose mean over the n
  samples is λ̂ (L_n = (1/n) Σ_i ℓ_i), from running sums over every draw;
- any extra observers a door passes (``Recording.observers``, e.g. the running cross-covariance
  sums of :mod:`slt.estimators.influence`): each is started at w* and called at its draws.

Nothing here stores draws × samples: each probe keeps (chains, samples) sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from slt.estimators import tuning
from slt.estimators.backend import Backend, Probe, RunSpec, capabilities
from slt.estimators.config import SMALL_DIM, LLCConfig
from slt.estimators.core import FLUCTUATION_DRAWS, fluctuation_subset, singular_fluctuation
from slt.estimators.results import Fluctuation
from slt.sampling.rng import seed_to_int

__all__ = ["Recording", "Recorder"]


@dataclass(frozen=True)
class Recording:
    """What to record: ν̂ on ``fluctuation_points`` samples (0: off), the per-sample LLCs, and
    ``observers``: objects with ``every`` (draws), ``start(backend, center)`` (called once per
    drawing run, before its first draw) and ``__call__(positions, draw)``."""

    fluctuation_points: int = 0
    per_sample: bool = False
    observers: tuple = ()


class _NoPerSampleLosses(Exception):
    """The backend's model has no per-sample losses."""


class _SampleSums:
    """Running per-chain sums of d_i = ℓ_i(w) − ℓ_i(w*) (and d_i²) over samples ``rows``, at
    every ``every``-th draw."""

    def __init__(self, backend: Backend, center: Any, rows: np.ndarray, every: int):
        self.backend, self.rows, self.every = backend, rows, every
        ref = backend.per_sample_losses(center[None], rows)
        if ref is None:
            raise _NoPerSampleLosses
        self.ref = np.asarray(ref, dtype=float)[0]
        self.sums = self.squares = None
        self.count = 0

    def __call__(self, positions: Any, draw: int) -> None:
        d = np.asarray(self.backend.per_sample_losses(positions, self.rows), dtype=float) - self.ref
        if self.sums is None:
            self.sums, self.squares = np.zeros_like(d), np.zeros_like(d)
        self.sums += d
        self.squares += d * d
        self.count += 1


class Recorder:
    """The probes of one drawing run and what they give: acceptance, ν̂, per-sample LLCs."""

    def __init__(self, backend: Backend, cfg: LLCConfig, center: Any, recording: Recording):
        self.backend, self.cfg = backend, cfg
        self.acc = self.fl = self.ps = None
        self.observers = tuple(recording.observers)
        for obs in self.observers:
            obs.start(backend, center)
        if (cfg.record.proposal_acceptance and backend.dim <= SMALL_DIM  # full-batch proposals: small problems only
                and "metropolis_probes" in capabilities(backend)):
            self.acc = tuning.AcceptanceProbe(backend, RunSpec(cfg, center), seed_to_int(cfg.seed) + 1,
                                              cfg.num_draws)
        n = backend.n
        if n is None or n < 2:
            if recording.per_sample:
                raise ValueError("per_sample=True needs a model with data; a potential has none")
            return
        try:
            if recording.fluctuation_points:
                rows = fluctuation_subset(n, recording.fluctuation_points)
                self.fl = _SampleSums(backend, center, rows, max(1, cfg.num_draws // FLUCTUATION_DRAWS))
            if recording.per_sample:
                self.ps = _SampleSums(backend, center, np.arange(n), 1)
        except _NoPerSampleLosses:
            if recording.per_sample:
                raise ValueError(f"per_sample=True: {backend.name} has no per-sample losses") from None
        except (TypeError, RuntimeError, NotImplementedError) as exc:
            backend.note(f"no singular fluctuation ν̂: per-sample losses failed ({type(exc).__name__}: {exc}); "
                         "pass fluctuation_points=0 to skip them")
            self.fl = self.ps = None

    @property
    def probe(self) -> Probe | None:
        items = [p for p in (self.acc, self.fl, self.ps) if p is not None] + list(self.observers)
        if not items:
            return None
        every = math.gcd(*[p.every for p in items])

        def fn(positions: Any, draw: int) -> None:
            for p in items:
                if draw % p.every == 0:
                    p(positions, draw)

        return Probe(every, fn)

    def acceptance(self, run_acceptance: float | None) -> float | None:
        return run_acceptance if self.acc is None else self.acc.mean

    def fluctuation(self, cfg: LLCConfig) -> Fluctuation | None:
        if self.fl is None or self.fl.count < 2:
            return None
        n = self.backend.n
        return singular_fluctuation(self.fl.sums, self.fl.squares, self.fl.count, n=n, beta=cfg.nbeta / n)

    def per_sample(self, cfg: LLCConfig) -> np.ndarray | None:
        """λ̂_i = nβ (mean over chains and draws of ℓ_i(w) − ℓ_i(w*)), shape (n,)."""
        if self.ps is None or self.ps.count == 0:
            return None
        return cfg.nbeta * self.ps.sums.mean(axis=0) / self.ps.count
