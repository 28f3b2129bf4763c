"""The sampler registry: one record per sampler, read by every layer.

A :class:`Sampler` record holds what the rest of the toolkit needs to know about one algorithm:
its options (a frozen dataclass whose defaults are the plain algorithm), whether it is exact
(Metropolis-adjusted, full batch), its step convention, its step rule and acceptance targets,
its burn-in rule and what it records.  The orchestration (:mod:`slt.estimators`) reads these
facts from the record, never from the sampler's name; a backend registers a kernel per name it
runs (``slt.estimators.numba_backend.KERNELS``, ``slt.nn.sgmcmc.KERNELS``).  Adding a sampler: its record here,
its kernel on each backend that runs it, a test (``docs/architecture.md`` walks through one).

Samplers of the estimator (U(w) = nβ L(w) + (γ/2)‖w − w*‖², ε the step in SGLD's convention):

- ``"sgld"``: Δw = −(ε/2) ∇U_batch(w) + N(0, ε) (Welling & Teh 2011; Lau et al. 2023).
- ``"mala"``: the same proposal, full batch, with a Metropolis–Hastings step (Roberts & Tweedie
  1996); step levels ε·4^(−k), k uniform below ``step_levels``, and per-coordinate steps
  min(1, c/(dt |∂²U/∂w_d²|)) with c = ``metric`` (Girolami & Calderhead 2011), both exact.
- ``"hmc"``: Hamiltonian Monte Carlo, leapfrog step √ε, up to ``leapfrog`` steps per trajectory
  (lengths jittered; Neal 2011); option ``adapt_metric``: a diagonal inverse metric M⁻¹ from the
  variances of warm-up windows, the step re-adapted after each (Stan's warm-up; Hoffman & Gelman
  2014), frozen for the draws.
- ``"sgnht"``: SG Nosé–Hoover thermostat (Ding et al. 2014), option ``diffusion``.
- ``"rmsprop_sgld"``: RMSprop-preconditioned SGLD (Li et al. 2016), options ``alpha``, ``eps``.
- ``"metric_sgld"``: SGLD with a frozen diagonal metric M⁻¹ = G (Girolami & Calderhead 2011 with a
  constant metric, so no correction term): Δw = −(ε/2) G⊙∇U_batch + √ε √G⊙N(0, I), with
  G_d = 1/(nβ |∂²L/∂w_d²| + γ) from a Hutchinson estimate of the Hessian diagonal at w* (option
  ``probes``), fixed for the whole run, so the target is exactly that of SGLD.
- ``"sghmc"``: stochastic-gradient HMC (kinetic Langevin; Chen, Fox & Guestrin 2014) in the BAOAB
  splitting (Leimkuhler & Matthews 2013), time step h = √ε, unit mass, velocities drawn from
  N(0, I) at the start of each run, option ``friction`` (default 2√γ: critically damped flat
  directions, which relax in ~√κ steps instead of SGLD's κ).

Dynamics of :func:`slt.sampling.run` (at temperature T, step dt): ``"langevin"``
(Euler–Maruyama), ``"underdamped"`` (BAOAB, Leimkuhler & Matthews 2013), ``"sgd_momentum"``
(heavy ball with noise) and ``"mala"`` (the record above, step dt).

>>> get("mala").exact, get("sgld").richardson
(True, True)
>>> options("mala", step_levels=2)
MALAOptions(step_levels=2, metric=0.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["Sampler", "SAMPLERS", "register", "get", "options", "estimator_samplers", "positive", "count",
           "sghmc_friction",
           "SGLDOptions", "MALAOptions", "HMCOptions", "SGNHTOptions", "RMSpropOptions", "SGHMCOptions", "UnderdampedOptions",
           "SGDMomentumOptions", "MetricSGLDOptions"]


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (≥ 0 with ``allow_zero``), or a ValueError naming ``name``.

    >>> positive("gamma", 0, allow_zero=True)
    0.0
    """
    ok = isinstance(value, (Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'finite number >= 0' if allow_zero else 'positive finite number'}, "
                         f"got {value!r}")
    return float(value)


def count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``, or a ValueError naming ``name``.

    >>> count("thin", 5)
    5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --- options records: the defaults are the plain algorithm ---------------------------------------
@dataclass(frozen=True)
class SGLDOptions:
    """SGLD (and overdamped Langevin) have no options."""


@dataclass(frozen=True)
class MALAOptions:
    """MALA's step levels L (ε·4^(−k), k uniform in {0, …, L − 1}) and metric c (0: isotropic)."""

    step_levels: int = 1
    metric: float = 0.0

    def __post_init__(self):
        count("step_levels", self.step_levels)
        positive("metric", self.metric, allow_zero=True)


@dataclass(frozen=True)
class HMCOptions:
    """HMC's longest trajectory, in leapfrog steps (each trajectory is uniform in ⌊L/2⌋+1 … L), and
    whether to adapt a diagonal inverse metric in warm-up windows (False: the identity)."""

    leapfrog: int = 20
    adapt_metric: bool = False

    def __post_init__(self):
        count("leapfrog", self.leapfrog)
        if not isinstance(self.adapt_metric, (bool, np.bool_)):
            raise ValueError(f"adapt_metric must be True or False, got {self.adapt_metric!r}")


@dataclass(frozen=True)
class MetricSGLDOptions:
    """Rademacher probes of the Hutchinson estimate of the Hessian diagonal at w* (per coordinate,
    E[z_d (∇²L z)_d] = ∂²L/∂w_d²)."""

    probes: int = 32

    def __post_init__(self):
        count("probes", self.probes)


@dataclass(frozen=True)
class SGNHTOptions:
    """SGNHT's diffusion factor a (the thermostat starts at ξ₀ = a)."""

    diffusion: float = 0.01

    def __post_init__(self):
        positive("diffusion", self.diffusion)


@dataclass(frozen=True)
class RMSpropOptions:
    """RMSprop-SGLD's average decay α and offset δ (in units of ∇U)."""

    alpha: float = 0.99
    eps: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.alpha, Real) and 0.0 <= self.alpha < 1.0):
            raise ValueError(f"alpha must be in [0, 1), got {self.alpha!r}")
        positive("eps", self.eps)


@dataclass(frozen=True)
class SGHMCOptions:
    """SGHMC's friction γ_f (None: 2√γ, critical damping of the localization's flat directions; 1 at γ = 0)."""

    friction: float | None = None

    def __post_init__(self):
        if self.friction is not None:
            positive("friction", self.friction)


def sghmc_friction(friction: float | None, gamma: float) -> float:
    """SGHMC's friction γ_f: the option when given, else 2√γ (critical damping of the localization's
    flat directions, which then relax like exp(−√γ t)); 1 without localization.  One rule for
    every backend.

    >>> sghmc_friction(None, 4.0), sghmc_friction(0.5, 4.0), sghmc_friction(None, 0.0)
    (4.0, 0.5, 1.0)
    """
    if friction is not None:
        return float(friction)
    return 2.0 * math.sqrt(gamma) if gamma > 0 else 1.0


@dataclass(frozen=True)
class UnderdampedOptions:
    """BAOAB's friction γ_f > 0."""

    friction: float = 1.0

    def __post_init__(self):
        positive("friction", self.friction)


@dataclass(frozen=True)
class SGDMomentumOptions:
    """Heavy ball: momentum μ in [0, 1) and noise σ ≥ 0 (None: sqrt(2 T dt (1 − μ)), set by the run)."""

    momentum: float = 0.9
    noise: float | None = None

    def __post_init__(self):
        if not (isinstance(self.momentum, Real) and 0.0 <= self.momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.noise is not None:
            positive("noise", self.noise, allow_zero=True)


BURNIN_RULES = ("relaxation", "kinetic", "preconditioned", "measured", "fixed")
INV_METRICS = (None, "hessian", "windows")


# --- the records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sampler:
    """Everything the toolkit knows about one sampler.

    Attributes
    ----------
    name : the name users pass (``sampler="..."``); one algorithm on every backend.
    options : the options record type (frozen dataclass; defaults = the plain algorithm).
    summary : the update rule and its reference, one line.
    estimator : whether the LLC / WBIC / free-energy estimator runs it (else dynamics only).
    exact : Metropolis-adjusted: needs the full batch, has no step-size bias.
    kinetic : carries a velocity (momentum) from step to step.
    momentum_step : the step ε enters as √ε per unit time (SGNHT): the curvature rule takes √(f/h).
    curvature_fraction : the curvature step rule's f in ε = f/h, h = nβ λ_max + γ.
    step_rule : None: the problem's default step rule (a scan of pilot runs or the curvature rule,
        :func:`slt.estimators.config.default_settings`); "curvature": always the curvature rule.
    scan_acceptance : acceptance target of the step scan (:func:`slt.estimators.tuning.calibrate`);
        None: the sampler cannot be scanned.
    adapt_acceptance : exact samplers: the acceptance the curvature rule's step adapts to during
        burn-in (dual averaging); None: no adaptation.
    burnin : "relaxation" (:func:`slt.estimators.tuning.auto_burnin`), "kinetic" (the same rule for
        a sampler of time step √ε with friction critical for the localization), "preconditioned"
        (the relaxation rule in the metric's coordinates, where the localization's weakest pull
        is γ min_d G_d), "measured" (the
        chains' own relaxation rate, :func:`slt.estimators.tuning.equilibrate`, where affordable,
        else "relaxation") or "fixed" (``fixed_burnin`` steps, e.g. HMC trajectories).
    fixed_burnin : the burn-in of ``burnin="fixed"``.
    richardson : has an O(ε) bias that Richardson extrapolation removes.
    proposal_acceptance : on small problems, record the acceptance a MALA step of the same size
        would have at its draws (an estimate of the discretization error).
    inv_metric : where a frozen diagonal inverse metric M⁻¹ comes from: None (the identity),
        "hessian" (G = 1/(nβ|diag ∇²L(w*)| + γ), :func:`slt.estimators.tuning.hessian_metric`) or
        "windows" (warm-up windows' variances when the option ``adapt_metric`` is on,
        :func:`slt.estimators.tuning.window_metric`).
    """

    name: str
    options: type
    summary: str
    estimator: bool = True
    exact: bool = False
    kinetic: bool = False
    momentum_step: bool = False
    curvature_fraction: float = 0.2
    step_rule: str | None = None
    scan_acceptance: float | None = None
    adapt_acceptance: float | None = None
    burnin: str = "relaxation"
    fixed_burnin: int = 0
    richardson: bool = False
    proposal_acceptance: bool = False
    inv_metric: str | None = None

    def __post_init__(self):
        if self.inv_metric not in INV_METRICS:
            raise ValueError(f"inv_metric must be one of {INV_METRICS}, got {self.inv_metric!r}")
        if self.burnin not in BURNIN_RULES:
            raise ValueError(f"burnin must be one of {BURNIN_RULES}, got {self.burnin!r}")
        if self.step_rule not in (None, "curvature"):
            raise ValueError(f"step_rule must be None or 'curvature', got {self.step_rule!r}")

    def make_options(self, given: Any = None, **named: Any) -> Any:
        """The options record from a dict (or record) plus named values (None: default); an option the
        sampler does not have is a ValueError naming it and the sampler."""
        cls = self.options
        if isinstance(given, cls):
            base = {f.name: getattr(given, f.name) for f in fields(cls)}
        elif given is None or isinstance(given, dict):
            base = dict(given or {})
        else:
            raise ValueError(f"options for sampler {self.name!r} must be a dict or {cls.__name__}, got {given!r}")
        base.update({k: v for k, v in named.items() if v is not None})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - allowed)
        if unknown:
            raise ValueError(f"sampler {self.name!r} has no option(s) {unknown}; its options are "
                             f"{sorted(allowed) or 'none'}")
        return cls(**base)


SAMPLERS: dict[str, Sampler] = {}


def register(record: Sampler) -> Sampler:
    """Add ``record`` to :data:`SAMPLERS` (a name already taken is a ValueError)."""
    if record.name in SAMPLERS:
        raise ValueError(f"sampler {record.name!r} is already registered")
    SAMPLERS[record.name] = record
    return record


def get(name: str) -> Sampler:
    """The record of ``name``, or a ValueError listing the registered samplers."""
    try:
        return SAMPLERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None


def options(name: str, given: Any = None, **named: Any) -> Any:
    """``get(name).make_options(given, **named)``."""
    return get(name).make_options(given, **named)


def estimator_samplers() -> tuple[str, ...]:
    """Names of the samplers the estimator runs."""
    return tuple(name for name, rec in SAMPLERS.items() if rec.estimator)


register(Sampler("sgld", SGLDOptions, "Δw = −(ε/2)∇U_batch + N(0, ε) (Welling & Teh 2011)",
                 scan_acceptance=0.95, richardson=True, proposal_acceptance=True))
register(Sampler("mala", MALAOptions, "Langevin proposal + Metropolis–Hastings, step levels and a diagonal "
                 "metric (Roberts & Tweedie 1996; Girolami & Calderhead 2011)",
                 exact=True, curvature_fraction=0.25, scan_acceptance=0.9, adapt_acceptance=0.574,
                 burnin="measured"))
register(Sampler("hmc", HMCOptions, "Hamiltonian Monte Carlo, leapfrog step √ε, jittered lengths (Neal 2011)",
                 exact=True, curvature_fraction=0.25, step_rule="curvature", adapt_acceptance=0.651, burnin="fixed",
                 fixed_burnin=200, inv_metric="windows"))
register(Sampler("sgnht", SGNHTOptions, "SG Nosé–Hoover thermostat (Ding et al. 2014)", kinetic=True, momentum_step=True,
                 step_rule="curvature", scan_acceptance=0.95))
register(Sampler("rmsprop_sgld", RMSpropOptions, "RMSprop-preconditioned SGLD (Li et al. 2016)",
                 step_rule="curvature", scan_acceptance=0.95))
register(Sampler("metric_sgld", MetricSGLDOptions, "SGLD with a frozen diagonal metric G = 1/(nβ|diag ∇²L(w*)| + γ) "
                 "(Girolami & Calderhead 2011, constant metric)", step_rule="curvature", burnin="preconditioned",
                 inv_metric="hessian"))
register(Sampler("sghmc", SGHMCOptions, "kinetic Langevin, BAOAB at h = √ε (Chen, Fox & Guestrin 2014; "
                 "Leimkuhler & Matthews 2013)", kinetic=True, curvature_fraction=0.5, step_rule="curvature",
                 burnin="kinetic"))
register(Sampler("langevin", SGLDOptions, "overdamped Langevin, Euler–Maruyama: x ← x − ∇V dt + √(2T dt) ξ",
                 estimator=False))
register(Sampler("underdamped", UnderdampedOptions, "underdamped Langevin, BAOAB (Leimkuhler & Matthews 2013)",
                 estimator=False, kinetic=True))
register(Sampler("sgd_momentum", SGDMomentumOptions, "heavy ball with noise: v ← μv − η∇V + σξ, x ← x + v",
                 estimator=False, kinetic=True))
