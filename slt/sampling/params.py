"""The settings the numba kernels read, as one named, typed record.

:class:`KernelParams` is a ``NamedTuple``: numba passes it to the kernels by value and reads
its fields by name, and every field has one meaning whatever the sampler (a field a sampler
does not use keeps its default).  :func:`kernel_params` validates a sampler's options with its
record in the registry (:mod:`slt.samplers`) and builds the kernel record.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

from slt import samplers

#: the numba kernels: registry name -> the compile-time ``KIND`` of :mod:`slt.sampling.kernels`
SAMPLERS = {"langevin": 0, "underdamped": 1, "sgd_momentum": 2, "mala": 3}
#: each kernel's options and their defaults (from the registry's options records)
SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    name: {f.name: f.default for f in dataclasses.fields(samplers.get(name).options)} for name in SAMPLERS}

__all__ = ["KernelParams", "kernel_params", "SAMPLERS", "SAMPLER_OPTIONS"]


class KernelParams(NamedTuple):
    """What the kernels need to step U(x) = scale·V(x) + (gamma/2)|x − center|² at temperature T.

    Attributes
    ----------
    dt : step size.
    temperature : T in p(x) ∝ exp(−U(x)/T).
    scale : the factor of V (nβ for the LLC estimator, 1 for plain dynamics).
    gamma : localization strength (0: none).
    friction : BAOAB friction of ``underdamped``.
    momentum : μ of ``sgd_momentum``.
    noise : σ of ``sgd_momentum``'s noise.
    step_levels : L of ``mala``: the step is dt·4^(−k), k uniform in {0, …, L − 1}.
    metric : c of ``mala``'s diagonal metric min(1, c/(dt|∂²U/∂x_d²|)) (0: off).

    Examples
    --------
    >>> KernelParams(0.01, 1.0, 1.0, 0.0).step_levels
    1
    """

    dt: float
    temperature: float
    scale: float
    gamma: float
    friction: float = 0.0
    momentum: float = 0.0
    noise: float = 0.0
    step_levels: int = 1
    metric: float = 0.0


def kernel_params(sampler: str, dt: float, temperature: float, nbeta: float, gamma: float,
                  options: dict[str, Any]) -> tuple[KernelParams, dict[str, Any]]:
    """Validate ``sampler``'s ``options`` and build its :class:`KernelParams`.

    Returns the record and the options with defaults filled in (``sgd_momentum``'s noise
    defaults to σ = sqrt(2 T dt (1 − μ)), the stationary variance T/a on V = a x²/2 as dt → 0).

    Examples
    --------
    >>> p, opts = kernel_params("mala", 0.01, 1.0, 100.0, 1.0, {"step_levels": 4})
    >>> p.step_levels, p.metric, opts["metric"]
    (4, 0.0, 0.0)
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
    opts = dataclasses.asdict(samplers.options(sampler, options))
    if "noise" in opts and opts["noise"] is None:
        opts["noise"] = math.sqrt(2.0 * temperature * dt * (1.0 - opts["momentum"]))
    types = {k: type(v) for k, v in KernelParams._field_defaults.items()}
    extra = {k: types[k](v) for k, v in opts.items() if k in types}
    return KernelParams(float(dt), float(temperature), float(nbeta), float(gamma), **extra), opts
