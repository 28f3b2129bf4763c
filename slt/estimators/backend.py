"""The backend interface: the few questions the one estimator asks of a sampler engine.

The estimator (:mod:`slt.estimators.llc`, :mod:`slt.estimators.free_energy`) owns every
procedure: resolve nβ, γ and w*, choose the step, burn in, sample, thin, extrapolate, ν̂,
diagnostics and the result. A backend only evaluates and runs:

- :class:`slt.estimators.numba_backend.NumbaBackend`: potentials and toy models (``Regression``);
- :class:`slt.nn.backend.TorchBackend`: any ``torch.nn.Module``, CPU or GPU.

Positions that a backend returns (``Chains.positions``) are its own arrays (numpy or torch):
the estimator only hands them back to the same backend, or reads them with ``np.asarray`` for
small problems.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from slt import samplers
from slt.estimators.config import LLCConfig

__all__ = ["Backend", "MetropolisProbes", "Hessians", "DiagonalCurvature", "NoteBook", "RunSpec", "Chains", "Probe",
           "REQUIRED",
           "CAPABILITIES", "capabilities", "check_backend"]


@dataclass(frozen=True)
class RunSpec:
    """What to sample: exp(−nβ L(w) − (γ/2)‖w − center‖²) with one sampler at step ε.

    ``adapt_acceptance``: adapt ε during this run to that mean acceptance (HMC's dual averaging,
    :class:`slt.estimators.tuning.StepAdapter`); the run then reports the final step.
    ``continues``: this run extends the previous drawing run (running sums a backend keeps, such
    as per-token losses, go on instead of starting again).
    """

    config: LLCConfig
    center: Any
    adapt_acceptance: float | None = None
    continues: bool = False

    @property
    def sampler(self) -> str:
        return self.config.sampler

    @property
    def step_size(self) -> float:
        return self.config.step_size


@dataclass(frozen=True)
class Probe:
    """Call ``fn(positions, draw)`` at every ``every``-th recorded draw (positions: (chains, d),
    the backend's own array), e.g. to accumulate per-sample losses without storing the draws."""

    every: int
    fn: Callable[[Any, int], None]


@dataclass(frozen=True)
class Chains:
    """What one run returns.

    positions : (chains, d) final positions (the backend's array type).
    loss_traces : (chains, draws) L(w) at the recorded draws (the loss, not the tempered U).
    distance_traces : (chains, draws) ‖w − center‖² at the same draws.
    acceptance : mean acceptance rate of a Metropolis-adjusted sampler, else None.
    step_size : the step at the end of the run (differs from the spec's when adapted).
    """

    positions: Any
    loss_traces: np.ndarray
    distance_traces: np.ndarray
    acceptance: float | None
    step_size: float


class Backend(Protocol):
    """The members every backend has (:data:`REQUIRED`); see the module docstring and
    ``docs/architecture.md``.  Optional capabilities are :class:`MetropolisProbes` and
    :class:`Hessians` (:data:`CAPABILITIES`); :func:`check_backend` checks a backend."""

    dim: int  # sampled coordinates
    n: int | None  # samples in the data set (None: a potential)
    name: str
    samplers: tuple[str, ...]  # names of the registry's samplers (:mod:`slt.samplers`) this backend runs

    def loss(self, w: Any) -> float:
        """Full-batch L(w) at one point."""

    def start(self, center: Any, num_chains: int, nbeta: float, gamma: float,
              spread_seed: int | None = None) -> Any:
        """Initial positions (chains, d): ``center`` repeated (moved off a vanishing prior), or with
        ``spread_seed`` center + N(0, I/(γ + nβ)) from that seed."""

    def run(self, spec: RunSpec, init: Any, *, num_steps: int, thin: int, seed: int | None,
            progress: bool | str = False, probe: Probe | None = None, skip: int = 0) -> Chains:
        """``num_steps`` steps from ``init``, recording every ``thin``-th after the first ``skip``
        (a multiple of ``thin``); raises DivergenceError naming chain and step.  ``progress``: a
        bar (a string: the phase it names, e.g. "burn-in")."""

    def top_curvature(self, points: Any, seed: int | None) -> float:
        """Largest |eigenvalue| of ∇²L over the points (chains, d); a backend running samplers with
        a metric also takes ``scale=s`` (d,): that of diag(s) ∇²L diag(s)."""

    def per_sample_losses(self, points: Any, rows: np.ndarray) -> np.ndarray | None:
        """(chains, m) per-sample losses ℓ_i(w) at points for samples ``rows``; None without data."""

    def info(self) -> dict:
        """Facts for ``LLCResult.info`` (e.g. n, dim, device, whether chains ran vectorized)."""

    def notes(self) -> tuple[str, ...]:
        """What the backend changed on its own and the user should know (e.g. a fallback path)."""

    def note(self, message: str) -> None:
        """Record a note for the current estimate (see :class:`NoteBook`)."""

    def clear_notes(self) -> None:
        """Forget the notes of an earlier estimate."""


class MetropolisProbes(Protocol):
    """Optional: one full-batch MALA proposal from given points.  The step scan, SGLD's recorded
    proposal acceptance, MALA's metric and the measured burn-in need it."""

    supports_metric: bool  # whether MALA's metric (the exact Hessian diagonal) is available

    def mala_acceptance(self, points: Any, spec: RunSpec, seed: int | None) -> np.ndarray:
        """(chains, k) MH acceptance probability of one MALA proposal (step ε, spec's metric) from
        each of ``points`` (chains, k, d), full batch."""

    def step_factors(self, points: Any, spec: RunSpec) -> np.ndarray:
        """(chains, d) MALA's per-coordinate step factors min(1, c/(dt|∂²U/∂w_d²|)) at points."""


class Hessians(Protocol):
    """Optional: exact Hessians of small problems (the measured burn-in needs them)."""

    def hessians(self, points: Any) -> np.ndarray:
        """(chains, d, d) Hessian of the sampled loss (small problems only)."""


class DiagonalCurvature(Protocol):
    """Optional: the Hessian diagonal of large problems (``metric_sgld``'s metric needs it)."""

    def diagonal_curvature(self, points: Any, probes: int, seed: int | None) -> np.ndarray:
        """(d,) estimate of diag ∇²L averaged over the points (Hutchinson, ``probes`` per point)."""

    def curvature_operator(self, point: Any, scale: Any) -> Any:
        """diag(s) ∇²L diag(s) at one point as a scipy LinearOperator (float64)."""


REQUIRED = ("dim", "n", "name", "samplers", "loss", "start", "run", "top_curvature", "per_sample_losses", "info",
            "notes", "note", "clear_notes")
CAPABILITIES = {"metropolis_probes": ("supports_metric", "mala_acceptance", "step_factors"),
                "hessians": ("hessians",), "diagonal": ("diagonal_curvature", "curvature_operator")}


def capabilities(backend: Any) -> frozenset[str]:
    """The optional capabilities (keys of :data:`CAPABILITIES`) that ``backend`` has."""
    return frozenset(cap for cap, members in CAPABILITIES.items() if all(hasattr(backend, m) for m in members))


def check_backend(backend: Any) -> None:
    """Raise TypeError when ``backend`` lacks a required member of :class:`Backend` or names a sampler
    that the registry (:mod:`slt.samplers`) does not know as an estimator sampler."""
    missing = [m for m in REQUIRED if not hasattr(backend, m)]
    if missing:
        raise TypeError(f"{type(backend).__name__} is not an estimator backend: it lacks {missing} "
                        "(see slt.estimators.backend.Backend)")
    known = samplers.estimator_samplers()
    unknown = [s for s in backend.samplers if s not in known]
    if unknown:
        raise TypeError(f"{type(backend).__name__} runs samplers {unknown} that the registry does not have "
                        f"(slt.samplers knows {sorted(known)})")


class NoteBook:
    """The notes part of a backend: messages for the result's warnings, each kept once."""

    def __init__(self) -> None:
        self._notes: list[str] = []

    def note(self, message: str) -> None:
        if message not in self._notes:
            self._notes.append(message)

    def notes(self) -> tuple[str, ...]:
        return tuple(self._notes)

    def clear_notes(self) -> None:
        self._notes.clear()
