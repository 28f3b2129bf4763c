"""Settings of the LLC estimator: the run's record, the samplers' options and the defaults.

One name means one algorithm on every backend (:data:`SAMPLERS`), and the defaults are a
function of the problem (its dimension, sample size and batch size: :func:`default_settings`),
never of the backend that runs it.

Samplers (U(w) = nβ L(w) + (γ/2)‖w − w*‖², ε the step in SGLD's convention):

- ``"sgld"``: Δw = −(ε/2) ∇U_batch(w) + N(0, ε) (Welling & Teh 2011; Lau et al. 2023).
- ``"mala"``: the same proposal, full batch, with a Metropolis–Hastings step (Roberts &
  Tweedie 1996); step levels ε·4^(−k), k uniform below ``step_levels``, and per-coordinate
  steps min(1, c/(dt |∂²U/∂w_d²|)) with c = ``metric`` (a diagonal position-dependent metric,
  Girolami & Calderhead 2011), both exact.
- ``"hmc"``: Hamiltonian Monte Carlo, leapfrog step √ε, up to ``leapfrog`` steps per trajectory
  (lengths jittered; Neal 2011).
- ``"sgnht"``: SG Nosé–Hoover thermostat (Ding et al. 2014), option ``diffusion``.
- ``"rmsprop_sgld"``: RMSprop-preconditioned SGLD (Li et al. 2016), options ``alpha``, ``eps``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = [
    "LLCConfig", "SAMPLERS", "EXACT_SAMPLERS", "SamplerOptions", "SGLDOptions", "MALAOptions", "HMCOptions",
    "SGNHTOptions", "RMSpropOptions", "sampler_options", "Defaults", "default_settings", "SMALL_DIM", "MIN_DRAWS",
]

MIN_DRAWS = 8  # draws per chain the diagnostics need (split R-hat halves, trend-test windows of >= 4)
SMALL_DIM = 16  # up to this many sampled coordinates, Hessians (and MALA's metric) are affordable


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'finite number >= 0' if allow_zero else 'positive finite number'}, "
                         f"got {value!r}")


def _count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class SGLDOptions:
    """SGLD has no options."""


@dataclass(frozen=True)
class MALAOptions:
    """MALA's step levels L (ε·4^(−k), k uniform in {0, …, L − 1}) and metric c (0: isotropic)."""

    step_levels: int = 4
    metric: float = 0.5

    def __post_init__(self):
        _count("step_levels", self.step_levels, 1)
        _positive("metric", self.metric, allow_zero=True)


@dataclass(frozen=True)
class HMCOptions:
    """HMC's longest trajectory, in leapfrog steps (each trajectory is uniform in ⌊L/2⌋+1 … L)."""

    leapfrog: int = 20

    def __post_init__(self):
        _count("leapfrog", self.leapfrog, 1)


@dataclass(frozen=True)
class SGNHTOptions:
    """SGNHT's diffusion factor a (the thermostat starts at ξ₀ = a)."""

    diffusion: float = 0.01

    def __post_init__(self):
        _positive("diffusion", self.diffusion)


@dataclass(frozen=True)
class RMSpropOptions:
    """RMSprop-SGLD's average decay α and offset δ (in units of ∇U)."""

    alpha: float = 0.99
    eps: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {self.alpha!r}")
        _positive("eps", self.eps)


SamplerOptions = SGLDOptions | MALAOptions | HMCOptions | SGNHTOptions | RMSpropOptions
SAMPLERS: dict[str, type] = {"sgld": SGLDOptions, "mala": MALAOptions, "hmc": HMCOptions,
                             "sgnht": SGNHTOptions, "rmsprop_sgld": RMSpropOptions}
EXACT_SAMPLERS = ("mala", "hmc")  # Metropolis-adjusted: full batch, no step-size bias


def sampler_options(sampler: str, options: dict | SamplerOptions | None = None, **named: Any) -> SamplerOptions:
    """The options record of ``sampler`` from a dict (or record) plus named values (None: default).

    An option the sampler does not have is a ``ValueError`` naming it and the sampler.

    >>> sampler_options("mala", step_levels=2)
    MALAOptions(step_levels=2, metric=0.5)
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    cls = SAMPLERS[sampler]
    if isinstance(options, cls):
        base = {f.name: getattr(options, f.name) for f in fields(cls)}
    elif options is None or isinstance(options, dict):
        base = dict(options or {})
    else:
        raise ValueError(f"options for sampler {sampler!r} must be a dict or {cls.__name__}, got {options!r}")
    base.update({k: v for k, v in named.items() if v is not None})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(base) - allowed)
    if unknown:
        raise ValueError(f"sampler {sampler!r} has no option(s) {unknown}; its options are {sorted(allowed) or 'none'}")
    return cls(**base)


@dataclass(frozen=True)
class LLCConfig:
    """The settings of one LLC run, the same record on every backend.

    Attributes
    ----------
    nbeta : nβ, the inverse temperature times the number of samples.
    gamma : localization strength γ of the term (γ/2)|w − w*|².
    step_size : ε in SGLD's convention (SGLD: Δw = (ε/2)(−nβ∇L − γ(w − w*)) + N(0, ε); MALA:
        the proposal's variance, dt = ε/2; HMC: leapfrog step √ε).
    num_chains, num_draws, num_burnin, thin : ensemble size, recorded draws per chain,
        discarded steps, and steps per recorded draw.
    sampler : a name of :data:`SAMPLERS`.
    seed : int or None.
    batch_size : minibatch rows per step (None: full batch).
    step_levels, metric : MALA's options (1 and 0 for the other samplers).
    options : the sampler's full options record (:func:`sampler_options`).
    """

    nbeta: float
    gamma: float
    step_size: float
    num_chains: int
    num_draws: int
    num_burnin: int
    thin: int
    sampler: str
    seed: int | None
    batch_size: int | None = None
    step_levels: int = 1
    metric: float = 0.0
    options: Any = None

    def __post_init__(self):
        _positive("nbeta", self.nbeta)
        _positive("step_size", self.step_size)
        _positive("gamma", self.gamma, allow_zero=True)
        for name, lo in (("num_chains", 1), ("num_draws", 1), ("num_burnin", 0), ("thin", 1)):
            _count(name, getattr(self, name), lo)
        if self.batch_size is not None:
            _count("batch_size", self.batch_size, 1)
        _count("step_levels", self.step_levels, 1)
        _positive("metric", self.metric, allow_zero=True)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {sorted(SAMPLERS)}")
        if self.sampler in EXACT_SAMPLERS and self.batch_size is not None:
            raise ValueError(f"sampler {self.sampler!r} needs the full-batch loss; got batch_size={self.batch_size!r}")
        if self.options is None:
            named = dict(step_levels=self.step_levels, metric=self.metric) if self.sampler == "mala" else {}
            object.__setattr__(self, "options", sampler_options(self.sampler, **named))
        elif not isinstance(self.options, SAMPLERS[self.sampler]):
            raise ValueError(f"options {self.options!r} do not belong to sampler {self.sampler!r}")
        if self.sampler == "mala":
            object.__setattr__(self, "step_levels", int(self.options.step_levels))
            object.__setattr__(self, "metric", float(self.options.metric))

    @property
    def total_steps(self) -> int:
        """Steps per chain: burn-in plus draws × thin."""
        return self.num_burnin + self.num_draws * self.thin


@dataclass(frozen=True)
class Defaults:
    """What an estimate uses when the caller does not say (see :func:`default_settings`)."""

    sampler: str
    num_chains: int
    num_draws: int
    thin: int | None  # None: 5, and at least burn-in / num_draws (the draws span the burn-in)
    richardson: bool
    step_levels: int
    metric: float
    step_rule: str  # "scan" (:func:`slt.estimators.tuning.calibrate`) or "curvature"
    adaptive_burnin: bool  # MALA's measured burn-in (:func:`slt.estimators.tuning.equilibrate`)


def default_settings(dim: int, n: int | None, batch_size: int | None) -> Defaults:
    """Defaults as a function of the problem: its sampled dimension, samples and batch size.

    Small problems (dim ≤ :data:`SMALL_DIM`, where Hessians cost little) get the full machinery:
    64 chains; full batch: MALA with 4 step levels and metric 0.5; minibatch: SGLD (with Richardson
    extrapolation, as SGLD on any small problem); steps from a scan of pilot runs; MALA's burn-in measured from the chains; draws
    spread over as many steps as the burn-in. Large problems (networks) get 8 chains of SGLD
    (full batch or not) with the curvature step rule and thin 1, and no Richardson (few chains: the
    run-to-run scatter swamps the bias it removes).

    >>> default_settings(2, 1000, None).sampler, default_settings(10_000, 1000, 100).num_chains
    ('mala', 8)
    """
    full = batch_size is None or (n is not None and batch_size >= n)
    if dim <= SMALL_DIM:
        mala = full
        return Defaults(sampler="mala" if mala else "sgld", num_chains=64, num_draws=2000, thin=None,
                        richardson=True, step_levels=4, metric=0.5, step_rule="scan", adaptive_burnin=mala)
    return Defaults(sampler="sgld", num_chains=8, num_draws=2000, thin=1, richardson=False, step_levels=4,
                    metric=0.0, step_rule="curvature", adaptive_burnin=False)
