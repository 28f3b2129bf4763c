"""The doors of the one estimator for potentials and toy models (the numba backend).

:func:`estimate_llc`, :func:`calibrate`, :func:`wbic` and :func:`free_energy` build a
:class:`slt.estimators.numba_backend.NumbaBackend` and hand it to the estimator
(:mod:`slt.estimators.llc`, :mod:`slt.estimators.free_energy`); the torch doors are in
:mod:`slt.nn`.  Their settings are defined once, :class:`slt.estimators.settings.Settings`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from slt.estimators import tuning
from slt.estimators.config import DEFAULT_GAMMA
from slt.estimators.core import default_nbeta
from slt.estimators.exact import check_proper, exact_tempered_expectation
from slt.estimators.free_energy import free_energy_on, tempered_run, wbic_on
from slt.estimators.llc import Request, estimate, resolve
from slt.estimators.numba_backend import NumbaBackend, prior_exponents
from slt.estimators.results import FreeEnergyResult, LLCResult
from slt.estimators.settings import Settings, with_settings
from slt.sampling.rng import seed_to_int

__all__ = ["estimate_llc", "calibrate", "wbic", "free_energy", "resolve_nbeta", "resolve_point", "DEFAULT_GAMMA"]

BIAS_NOTE = 0.05  # exact finite-nβ value this far below λ gets a note in the warnings


def resolve_nbeta(model: Any, nbeta: float | None) -> float:
    """``nbeta``, or n/log n for a model with a sample size n."""
    if nbeta is not None:
        return float(nbeta)
    n = getattr(model, "n", None)
    if n is None:
        raise ValueError(f"nbeta is required for {getattr(model, 'name', model)!r}, which has no sample size n")
    return default_nbeta(n)


def resolve_point(model: Any, w_star: Sequence[float] | None) -> np.ndarray:
    """``w_star`` or the model's point (its singular point or true parameter; else the origin)."""
    point = w_star if w_star is not None else getattr(model, "point", None)
    if point is None:
        point = np.zeros(model.dim)
    w = np.asarray(point, dtype=float).reshape(-1)
    if w.shape != (model.dim,):
        raise ValueError(f"w_star must have {model.dim} coordinates, got shape {np.shape(point)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"w_star must be finite, got {w.tolist()}")
    return w


def _exact_note(model, nbeta: float, gamma: float, w: np.ndarray, exact: bool | None
                ) -> tuple[float | None, tuple[str, ...]]:
    """Exact finite-nβ value (potentials of 1–3 variables, γ > 0) and a note if it is far below λ."""
    if exact is False or not hasattr(model, "expr") or model.dim > 3:
        if exact:
            raise ValueError(f"exact=True needs a Potential of 1-3 variables, got {getattr(model, 'name', model)!r}")
        return None, ()
    if gamma == 0:
        return None, ()
    value = exact_tempered_expectation(model, nbeta, gamma=gamma, center=w)
    lam, point = getattr(model, "lam", None), getattr(model, "point", None)
    if lam is None or point is None or not np.allclose(point, w) or value >= (1 - BIAS_NOTE) * float(lam):
        return value, ()
    return value, (f"at nβ={nbeta:g} (γ={gamma:g}) the estimator converges to {value:.4f}, "
                   f"{100 * (1 - value / float(lam)):.0f}% below λ = {float(lam):.4f}: this is the estimator's own "
                   "finite-nβ bias (exact, by quadrature), not sampling error; raise nbeta (and lower gamma) to get "
                   "closer to λ",)


def _check_proper(model: Any, nbeta: float, w: np.ndarray) -> None:
    """γ = 0: raise ImproperPosteriorError when exp(−nβ L) does not normalise (1–3 variables)."""
    if model.dim > 3:
        return
    target = model
    if hasattr(model, "empirical_potential"):
        try:
            target = model.empirical_potential()
        except ValueError:
            return
    if hasattr(target, "expr"):
        check_proper(target, nbeta, center=w)


@with_settings
def estimate_llc(model: Any, w_star: Sequence[float] | None = None, *, exact: bool | None = None,
                 **settings: Any) -> LLCResult:
    """Estimate the local learning coefficient λ̂(w*) of a potential or toy model.

    λ̂(w*) = nβ (E_{w|w*,β,γ}[L(w)] − L(w*)) over p(w) ∝ exp(−nβ L(w) − (γ/2)|w − w*|²)
    (Lau, Furman, Wang, Murfet & Wei 2023); the one estimator of :mod:`slt.estimators.llc` on
    the numba backend.  Settings left at None take the problem's defaults
    (:func:`slt.estimators.config.default_settings`), the same as :func:`slt.nn.estimate_llc`
    gives the same problem.

    Parameters
    ----------
    model : a :class:`slt.potentials.Potential` (the loss is V itself; ``prior_exponents`` h are
        sampled as exp(−nβ V) ∏ |w_i|^(h_i)) or a toy model such as :class:`slt.models.Regression`.
    w_star : the point (default: ``model.point``).
    exact : compute the exact finite-nβ target by quadrature (None: for a Potential of 1–3
        variables with γ > 0); a note is added when it lies > 5% below λ.
    settings : the estimator's settings, defined once for every door:
        :class:`slt.estimators.settings.Settings` (nbeta, gamma, step_size, num_chains, num_draws,
        num_burnin, thin, sampler, batch_size, step_levels, metric, sampler_options, seed,
        richardson, fluctuation_points, per_sample, progress, target_rhat, target_rse, max_draws,
        time_budget).  Here nβ is required for a
        potential, and with γ = 0 a posterior that does not normalise raises
        :class:`~slt.estimators.ImproperPosteriorError` (1–3 variables).

    Raises
    ------
    ValueError, ImproperPosteriorError, slt.errors.DivergenceError

    Examples
    --------
    >>> from slt.potentials import sum_of_monomials
    >>> res = estimate_llc(sum_of_monomials([1, 2]), nbeta=1e4, seed=0)  # doctest: +SKIP
    >>> abs(res.mean - 0.75) < 3 * res.se + 0.02  # doctest: +SKIP
    True
    """
    s = Settings.from_kwargs(settings)
    if not isinstance(s.per_sample, bool):
        raise ValueError(f"per_sample={s.per_sample!r}; models here have per-sample LLCs only (True or False)")
    nbeta = resolve_nbeta(model, s.nbeta)
    w = resolve_point(model, w_star)
    if isinstance(s.gamma, (int, float)) and s.gamma == 0:
        _check_proper(model, nbeta, w)
    backend = NumbaBackend(model, nbeta, s.batch_size)
    req = Request(**{**s.request_fields(), "nbeta": nbeta})
    resolve(backend, req)  # reject bad settings before the quadrature
    exact_value, notes = _exact_note(model, nbeta, DEFAULT_GAMMA if s.gamma is None else float(s.gamma), w, exact)
    return estimate(backend, w, Request(**{**req.__dict__, "exact": exact_value, "notes": notes}))


def calibrate(
    model: Any,
    w_star: Sequence[float] | None = None,
    *,
    nbeta: float | None = None,
    step_sizes: Sequence[float] | None = None,
    gammas: Sequence[float] = (DEFAULT_GAMMA,),
    target_acceptance: float | None = None,
    sampler: str | None = None,
    batch_size: int | None = None,
    num_chains: int | None = None,
    num_draws: int = 400,
    num_burnin: int = 1000,
    step_levels: int | None = None,
    metric: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> tuning.Calibration:
    """The step scan of :func:`slt.estimators.tuning.calibrate` on a potential or toy model
    (arguments as in :func:`estimate_llc`; ``gammas`` scanned too; every row of the table run).

    >>> from slt.potentials import sum_of_monomials
    >>> calibrate(sum_of_monomials([1, 2]), nbeta=1e4, step_sizes=[1e-3, 1e-4], seed=0).step_size  # doctest: +SKIP
    0.001
    """
    nbeta = resolve_nbeta(model, nbeta)
    w = resolve_point(model, w_star)
    backend = NumbaBackend(model, nbeta, batch_size)
    base, _ = resolve(backend, Request(nbeta=nbeta, gamma=float(min(gammas)), num_chains=num_chains,
                                       sampler=sampler, batch_size=batch_size, step_levels=step_levels,
                                       metric=metric, seed=seed))
    return tuning.calibrate(backend, w, base, step_sizes=step_sizes, gammas=gammas,
                            target_acceptance=target_acceptance, num_draws=num_draws, num_burnin=num_burnin,
                            full_table=True)


def _n_of(model: Any, n: float | None) -> float:
    if n is not None:
        if not (isinstance(n, (int, float)) and math.isfinite(n) and n > 1):
            raise ValueError(f"n must be a finite number > 1, got {n!r}")
        return float(n)
    if getattr(model, "n", None) is None:
        raise ValueError(f"n is required for {getattr(model, 'name', model)!r}, which has no sample size")
    return float(model.n)


def _fe_backend(model: Any, center: Sequence[float] | None) -> tuple[NumbaBackend, np.ndarray]:
    if prior_exponents(model) is not None:
        raise ValueError(f"{model.name!r} has prior_exponents: WBIC and free energies here use the Gaussian "
                         "prior N(center, I/γ) only")
    return NumbaBackend(model, 1.0), resolve_point(model, center)


def wbic(model: Any, *, n: float | None = None, gamma: float = DEFAULT_GAMMA, center: Sequence[float] | None = None,
         seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """WBIC = E_{β=1/log n}[n L] under the Gaussian prior N(center, I/γ) (Watanabe 2013) of a
    potential or toy model; ``kwargs`` are :class:`slt.estimators.free_energy.TemperedRun` settings.

    >>> from slt.potentials import sum_of_monomials
    >>> wbic(sum_of_monomials([1, 2]), n=1e3, num_chains=8, num_draws=100, seed=0).method  # doctest: +SKIP
    'wbic'
    """
    backend, w = _fe_backend(model, center)
    return wbic_on(backend, w, _n_of(model, n), gamma, tempered_run(kwargs), seed_to_int(seed))


def free_energy(model: Any, *, n: float | None = None, method: str = "ti", gamma: float = DEFAULT_GAMMA,
                center: Sequence[float] | None = None, betas: Sequence[float] | None = None, num_betas: int = 32,
                seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """F_n of a potential or toy model by thermodynamic integration (``method="ti"``,
    :func:`slt.estimators.free_energy.free_energy_on`) or its WBIC (``method="wbic"``)."""
    if method == "wbic":
        return wbic(model, n=n, gamma=gamma, center=center, seed=seed, **kwargs)
    if method != "ti":
        raise ValueError(f"method must be 'ti' or 'wbic', got {method!r}")
    backend, w = _fe_backend(model, center)
    return free_energy_on(backend, w, _n_of(model, n), gamma, betas, num_betas, tempered_run(kwargs),
                          seed_to_int(seed))
