"""The settings the numba kernels read, as one named, typed record.

:class:`KernelParams` is a ``NamedTuple``: numba passes it to the kernels by value and reads
its fields by name, and every field has one meaning whatever the sampler (a field a sampler
does not use keeps its default).  :func:`kernel_params` validates a sampler's options and
builds the record.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

SAMPLERS = {"langevin": 0, "underdamped": 1, "sgd_momentum": 2, "mala": 3}
#: each sampler's options and their defaults
SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    "langevin": {},
    "underdamped": {"friction": 1.0},
    "sgd_momentum": {"momentum": 0.9, "noise": None},
    "mala": {"step_levels": 1, "metric": 0.0},
}

__all__ = ["KernelParams", "kernel_params", "SAMPLERS", "SAMPLER_OPTIONS", "positive", "count"]


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


def positive(name: str, value: Any) -> float:
    """``value`` as a positive finite float, or a ValueError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
    unknown = set(options) - set(SAMPLER_OPTIONS[sampler])
    if unknown:
        raise ValueError(f"sampler {sampler!r} takes options {sorted(SAMPLER_OPTIONS[sampler])}, "
                         f"got {sorted(unknown)}")
    opts = {**SAMPLER_OPTIONS[sampler], **options}
    extra: dict[str, Any] = {}
    if sampler == "underdamped":
        extra["friction"] = positive("friction", opts["friction"])
    elif sampler == "sgd_momentum":
        mu = float(opts["momentum"])
        if not 0.0 <= mu < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {opts['momentum']!r}")
        if opts["noise"] is None:
            opts["noise"] = math.sqrt(2.0 * temperature * dt * (1.0 - mu))
        sigma = float(opts["noise"])
        if not math.isfinite(sigma) or sigma < 0:
            raise ValueError(f"noise must be a finite number >= 0, got {opts['noise']!r}")
        extra.update(momentum=mu, noise=sigma)
    elif sampler == "mala":
        extra["step_levels"] = count("step_levels", opts["step_levels"])
        metric = float(opts["metric"])
        if not math.isfinite(metric) or metric < 0:
            raise ValueError(f"metric must be a finite number >= 0 (0: off), got {opts['metric']!r}")
        extra["metric"] = metric
    return KernelParams(float(dt), float(temperature), float(nbeta), float(gamma), **extra), opts
