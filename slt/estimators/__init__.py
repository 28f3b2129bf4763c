"""Learning coefficients and free energies by sampling, validated against exact values.

- :mod:`slt.estimators.core`: the pure-array math shared with the torch bridge
  (:class:`LLCConfig`, :class:`LLCResult`, :func:`llc_from_traces`,
  :func:`richardson_extrapolate`, :func:`wbic_from_losses`, :func:`ti_from_means`).
- :mod:`slt.estimators.llc`: :func:`estimate_llc` and :func:`calibrate` on the numba samplers.
- :mod:`slt.estimators.exact`: the exact values by quadrature
  (:func:`exact_tempered_expectation`, :func:`exact_free_energy`, improper posteriors).
- :mod:`slt.estimators.free_energy`: :func:`wbic`, :func:`free_energy` and fits of λ.
"""
from slt.estimators.core import (
    Fluctuation,
    LLCConfig,
    LLCResult,
    default_nbeta,
    fine_config,
    singular_fluctuation,
    llc_from_traces,
    richardson_extrapolate,
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
from slt.estimators.free_energy import FreeEnergyResult, LambdaFit, fit_lambda, free_energy, tempered_mean_loss, wbic
from slt.estimators.llc import Calibration, auto_burnin, calibrate, estimate_llc

__all__ = [
    "Fluctuation",
    "singular_fluctuation",
    "LLCConfig",
    "LLCResult",
    "default_nbeta",
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
    "tempered_mean_loss",
    "wbic",
]
