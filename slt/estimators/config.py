"""Settings of the LLC estimator: the run's record and the problem's defaults.

The samplers, their options and every fact about them live in one registry,
:mod:`slt.samplers`; one name means one algorithm on every backend.  The defaults are a function
of the problem (its dimension, sample size and batch size: :func:`default_settings`), never of
the backend that runs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slt import samplers
from slt.samplers import (HMCOptions, MALAOptions, RMSpropOptions, SGLDOptions, SGNHTOptions, count,
                          positive)

__all__ = [
    "LLCConfig", "SamplerOptions", "SGLDOptions", "MALAOptions", "HMCOptions", "SGNHTOptions", "RMSpropOptions",
    "sampler_options", "Defaults", "default_settings", "SMALL_DIM", "MIN_DRAWS", "DEFAULT_GAMMA",
]

MIN_DRAWS = 8  # draws per chain the diagnostics need (split R-hat halves, trend-test windows of >= 4)
SMALL_DIM = 16  # up to this many sampled coordinates, Hessians (and MALA's metric) are affordable
DEFAULT_GAMMA = 1.0  # γ when the caller gives none (networks: the first γ their search tries)

SamplerOptions = SGLDOptions | MALAOptions | HMCOptions | SGNHTOptions | RMSpropOptions


def sampler_options(sampler: str, options: Any = None, **named: Any) -> Any:
    """The options record of an estimator ``sampler`` from a dict (or record) plus named values
    (None: default); see :meth:`slt.samplers.Sampler.make_options`.

    >>> sampler_options("mala", step_levels=2)
    MALAOptions(step_levels=2, metric=0.0)
    """
    rec = samplers.get(sampler)
    if not rec.estimator:
        raise ValueError(f"unknown sampler {sampler!r} for the estimator; choose one of "
                         f"{sorted(samplers.estimator_samplers())}")
    return rec.make_options(options, **named)


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
    sampler : an estimator sampler of the registry :mod:`slt.samplers`.
    seed : int or None.
    batch_size : minibatch rows per step (None: full batch).
    step_levels, metric : MALA's options, read from ``options`` (1 and 0 for samplers without them).
    options : the sampler's full options record (:func:`sampler_options`).
    inv_metric : a frozen diagonal inverse metric M⁻¹ (d,) for samplers that take one (record's
        ``inv_metric``: ``metric_sgld``, ``hmc``), set by the estimator; None: the identity.
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
    inv_metric: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        positive("nbeta", self.nbeta)
        positive("step_size", self.step_size)
        positive("gamma", self.gamma, allow_zero=True)
        for name, lo in (("num_chains", 1), ("num_draws", 1), ("num_burnin", 0), ("thin", 1)):
            count(name, getattr(self, name), lo)
        if self.batch_size is not None:
            count("batch_size", self.batch_size, 1)
        count("step_levels", self.step_levels, 1)
        positive("metric", self.metric, allow_zero=True)
        rec = samplers.get(self.sampler)
        if not rec.estimator:
            raise ValueError(f"unknown sampler {self.sampler!r} for the estimator; choose one of "
                             f"{sorted(samplers.estimator_samplers())}")
        if rec.exact and self.batch_size is not None:
            raise ValueError(f"sampler {self.sampler!r} needs the full-batch loss; got batch_size={self.batch_size!r}")
        if self.options is None:
            names = {f for f in ("step_levels", "metric") if f in rec.options.__dataclass_fields__}
            object.__setattr__(self, "options", rec.make_options(**{k: getattr(self, k) for k in names}))
        elif not isinstance(self.options, rec.options):
            raise ValueError(f"options {self.options!r} do not belong to sampler {self.sampler!r}")
        if self.inv_metric is not None:
            object.__setattr__(self, "inv_metric", _inv_metric(self.inv_metric, rec))
        object.__setattr__(self, "step_levels", int(getattr(self.options, "step_levels", 1)))
        object.__setattr__(self, "metric", float(getattr(self.options, "metric", 0.0)))

    @property
    def record(self) -> samplers.Sampler:
        """The sampler's registry record (:mod:`slt.samplers`)."""
        return samplers.get(self.sampler)

    @property
    def total_steps(self) -> int:
        """Steps per chain: burn-in plus draws × thin."""
        return self.num_burnin + self.num_draws * self.thin


def _inv_metric(values: Any, rec: samplers.Sampler) -> np.ndarray:
    """``values`` as a read-only float64 vector of positive finite entries, for a sampler that takes one."""
    if rec.inv_metric is None:
        raise ValueError(f"sampler {rec.name!r} takes no metric; inv_metric must be None")
    arr = np.array(values, dtype=float).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("inv_metric must be a non-empty vector of positive finite numbers")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Defaults:
    """What an estimate uses when the caller does not say (see :func:`default_settings`)."""

    sampler: str
    num_chains: int
    num_draws: int
    thin: int | None  # None: 5, and at least burn-in / num_draws (the draws span the burn-in)
    richardson: bool
    options: dict = field(default_factory=dict)  # per sampler: its options' values for this problem
    step_rule: str = "scan"  # "scan" (:func:`slt.estimators.tuning.calibrate`) or "curvature"
    adaptive_burnin: bool = False  # a "measured" burn-in (:func:`slt.estimators.tuning.equilibrate`)
    targets: tuple[float, float, int] | None = None  # (R-hat, relative se, max draws) when num_draws is not given
    gamma_search: bool = False  # no γ given: the smallest local γ (:mod:`slt.estimators.localization`)


def default_settings(dim: int, n: int | None, batch_size: int | None) -> Defaults:
    """Defaults as a function of the problem: its sampled dimension, samples and batch size.

    Small problems (dim ≤ :data:`SMALL_DIM`, where Hessians cost little) get the full machinery:
    64 chains; full batch: MALA with 4 step levels and metric 0.5; minibatch: SGLD (with Richardson
    extrapolation, as SGLD on any small problem); steps from a scan of pilot runs; MALA's burn-in
    measured from the chains; draws spread over as many steps as the burn-in. Large problems
    (networks) get 8 chains of SGHMC (kinetic Langevin, full batch or not: flat directions relax
    in ~√κ steps where SGLD needs κ, and a Gaussian restriction has no step bias) with the
    curvature step rule, thin 1, no Richardson, and, when ``num_draws`` is not given, 500 draws
    doubled until split R-hat ≤ 1.05 and se/|λ̂| ≤ 5% or 8000 draws
    (:mod:`slt.estimators.convergence`), and, when γ is not given, the smallest γ of 1, 10, 100, …
    at which the chains stay local (:mod:`slt.estimators.localization`); small problems γ = 1.

    >>> default_settings(2, 1000, None).sampler, default_settings(10_000, 1000, 100).sampler
    ('mala', 'sghmc')
    """
    full = batch_size is None or (n is not None and batch_size >= n)
    if dim <= SMALL_DIM:
        mala = full
        return Defaults(sampler="mala" if mala else "sgld", num_chains=64, num_draws=2000, thin=None,
                        richardson=True, options={"mala": dict(step_levels=4, metric=0.5)}, step_rule="scan",
                        adaptive_burnin=mala)
    return Defaults(sampler="sghmc", num_chains=8, num_draws=500, thin=1, richardson=False,
                    options={"mala": dict(step_levels=4, metric=0.0)}, step_rule="curvature", adaptive_burnin=False,
                    targets=(1.05, 0.05, 8000), gamma_search=True)
