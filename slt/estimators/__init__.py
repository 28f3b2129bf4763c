"""Learning coefficients and free energies by sampling, validated against exact values.

One estimator, two backends:

- :mod:`slt.estimators.config`, :mod:`slt.estimators.results`: the settings record
  (:class:`LLCConfig`, the samplers' options, the problem's defaults) and the result types
  (:class:`LLCResult`, :class:`FreeEnergyResult`, :class:`Fluctuation`).
- :mod:`slt.estimators.backend`: the interface a backend implements.
- :mod:`slt.estimators.llc`, :mod:`slt.estimators.tuning`, :mod:`slt.estimators.free_energy`:
  the one orchestration, its step and burn-in rules, WBIC and thermodynamic integration.
- :mod:`slt.estimators.core`: the pure-array formulas (λ̂, Richardson, ν̂, WBIC, TI).
- :mod:`slt.estimators.numba_backend`: the numba backend and the doors for potentials and toy
  models (:func:`estimate_llc`, :func:`calibrate`, :func:`wbic`, :func:`free_energy`); the torch
  doors are in :mod:`slt.nn`.
- :mod:`slt.estimators.exact`: exact values by quadrature.
- :mod:`slt.estimators.influence`: covariance observables from running sums during the chains —
  :func:`loss_kernel`, :func:`bif`, :func:`susceptibilities` for toy models (the torch doors are
  :func:`slt.nn.loss_kernel`, ...); :mod:`slt.estimators.influence_exact` their exact values.
"""
from slt.estimators.config import LLCConfig, default_settings, sampler_options
from slt.estimators.core import (
    default_nbeta,
    fine_config,
    llc_from_traces,
    richardson_extrapolate,
    singular_fluctuation,
    ti_from_means,
    wbic_from_losses,
)
from slt.estimators.exact import (
    ImproperPosteriorError,
    check_proper,
    exact_free_energy,
    exact_tempered_expectation,
    tempered_quadrature,
)
from slt.estimators.free_energy import LambdaFit, fit_lambda
from slt.estimators.doors import calibrate, estimate_llc, free_energy, wbic
from slt.estimators.influence import InfluenceResult, bif, loss_kernel, susceptibilities
from slt.estimators.results import Fluctuation, FreeEnergyResult, LLCResult
from slt.estimators.tuning import Calibration, auto_burnin

__all__ = [
    "Fluctuation",
    "singular_fluctuation",
    "LLCConfig",
    "LLCResult",
    "default_nbeta",
    "default_settings",
    "sampler_options",
    "llc_from_traces",
    "fine_config",
    "richardson_extrapolate",
    "ti_from_means",
    "wbic_from_losses",
    "ImproperPosteriorError",
    "check_proper",
    "auto_burnin",
    "exact_free_energy",
    "exact_tempered_expectation",
    "tempered_quadrature",
    "Calibration",
    "calibrate",
    "estimate_llc",
    "FreeEnergyResult",
    "LambdaFit",
    "fit_lambda",
    "free_energy",
    "wbic",
    "InfluenceResult",
    "bif",
    "loss_kernel",
    "susceptibilities",
]
