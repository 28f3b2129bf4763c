"""WBIC, free energies by thermodynamic integration, and fits of λ (and m) from them.

With a normalised prior φ and L = L_n (or a potential V standing in for a population loss):

- Bayes free energy F_n = −log ∫ exp(−n L(w)) φ(w) dw
  = n L(w₀) + λ log n − (m − 1) log log n + O_p(1)  (Watanabe 2009, Main Formula II);
- thermodynamic integration F_n = ∫₀¹ E_β[n L] dβ, E_β over p_β ∝ exp(−nβ L) φ
  (Gelman & Meng 1998), on a geometric β grid (:func:`slt.estimators.core.ti_from_means`);
- WBIC = E_{β=1/log n}[n L]  (Watanabe 2013), equal to F_n to order log n.

Here φ is the Gaussian prior N(center, I/γ), which is exactly the localization term of the
samplers, so every E_β is a run of :func:`slt.sampling.run` (MALA, exact at any step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from slt import diagnostics
from slt.estimators.core import ti_from_means, wbic_from_losses
from slt.estimators.llc import DEFAULTS, _loss, _w_star, calibrate
from slt.sampling import run
from slt.sampling.rng import seed_to_int

__all__ = ["FreeEnergyResult", "LambdaFit", "tempered_mean_loss", "wbic", "free_energy", "fit_lambda"]


@dataclass(frozen=True)
class FreeEnergyResult:
    """F_n (or WBIC) with its standard error and the β grid it came from.

    Attributes
    ----------
    value, se : the estimate and its Monte Carlo standard error.
    n : sample size.
    betas, mean_nL, se_nL : the β grid and E_β[n L] ± se there (one point for WBIC).
    method : "ti" or "wbic".
    n_loss_at_center : n L(w₀), the leading term of F_n.
    """

    value: float
    se: float
    n: float
    betas: np.ndarray
    mean_nL: np.ndarray
    se_nL: np.ndarray
    method: str
    n_loss_at_center: float


def _n_of(model: Any, n: float | None) -> float:
    if n is not None:
        if not (math.isfinite(n) and n > 1):
            raise ValueError(f"n must be a finite number > 1, got {n!r}")
        return float(n)
    if getattr(model, "n", None) is None:
        raise ValueError(f"n is required for {getattr(model, 'name', model)!r}, which has no sample size")
    return float(model.n)


def tempered_mean_loss(model: Any, nbeta: float, *, gamma: float, center: Sequence[float] | None = None,
                       step_size: float | None = None, num_chains: int = 64, num_draws: int = 1000,
                       num_burnin: int = 2000, thin: int = 2, step_levels: int = DEFAULTS["step_levels"],
                       metric: float = DEFAULTS["metric"], seed: int | np.random.Generator | None = None
                       ) -> tuple[np.ndarray, float]:
    """Loss traces (chains, draws) under p ∝ exp(−nβ L − (γ/2)|w − c|²) by MALA, and the step used.

    Chains start from the Gaussian N(c, I/(γ + nβ)) (the prior at nβ → 0, near c for large
    nβ); ``step_size`` None picks the step with :func:`calibrate` (acceptance ≥ 0.9).  MALA is
    the LLC estimator's (its step levels and per-coordinate steps, ``metric``), the same in the
    calibration and the run.  (They once differed: a step calibrated for four levels ran with one,
    and chains that started in the stiff y⁴ tail at nβ ≈ 1 rejected every proposal: on x² + y⁴ at
    n = 100 one grid point came out at 146 ± 95 between neighbours 85 and 41, and F_n 21% high.)
    """
    if getattr(model, "prior_exponents", None) is not None:
        raise ValueError(f"{model.name!r} has prior_exponents: WBIC and free energies here use the Gaussian "
                         "prior N(center, I/γ) only")
    w = _w_star(model, center)
    if step_size is None:
        step_size = calibrate(model, w, nbeta=nbeta, gammas=(gamma,), sampler="mala", num_chains=num_chains,
                              step_levels=step_levels, metric=metric, seed=seed).step_size
    s = seed_to_int(seed)
    init = w + np.random.default_rng(s).normal(size=(num_chains, w.size)) / math.sqrt(gamma + nbeta)
    res = run(model, "mala", num_walkers=num_chains, num_steps=num_burnin + num_draws * thin,
              step_size=step_size / 2.0, init=init, thin=thin, seed=s, nbeta=nbeta, gamma=gamma, center=w,
              hist_bins=0, progress=False, step_levels=step_levels, metric=metric)
    return res.energies[:, num_burnin // thin:], float(step_size)


def wbic(model: Any, *, n: float | None = None, gamma: float = 1.0, center: Sequence[float] | None = None,
         seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """WBIC = E_{β=1/log n}[n L] under the Gaussian prior N(center, I/γ) (Watanabe 2013).

    ``kwargs`` go to :func:`tempered_mean_loss`.
    """
    n = _n_of(model, n)
    beta = 1.0 / math.log(n)
    traces, _ = tempered_mean_loss(model, n * beta, gamma=gamma, center=center, seed=seed, **kwargs)
    value, se = wbic_from_losses(traces, n)
    w = _w_star(model, center)
    return FreeEnergyResult(value=value, se=se, n=n, betas=np.array([beta]), mean_nL=np.array([value]),
                            se_nL=np.array([se]), method="wbic", n_loss_at_center=n * _loss(model, w))


def free_energy(model: Any, *, n: float | None = None, method: str = "ti", gamma: float = 1.0,
                center: Sequence[float] | None = None, betas: Sequence[float] | None = None,
                num_betas: int = 32, seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """F_n = −log ∫ exp(−n L) φ by thermodynamic integration over a β grid (``method="ti"``).

    The default grid is geometric from β = 10⁻³/n to 1 (``num_betas`` points): E_β[n L]
    ≈ n L(w₀) + λ/β changes over all those decades and is flat below 1/n.  The step size
    at each β is calibrated once at β = 1 and then rescaled by the largest stable step of a
    short scan as β decreases.  ``method="wbic"`` returns :func:`wbic`.
    """
    if method == "wbic":
        return wbic(model, n=n, gamma=gamma, center=center, seed=seed, **kwargs)
    if method != "ti":
        raise ValueError(f"method must be 'ti' or 'wbic', got {method!r}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"the Gaussian prior needs gamma > 0, got {gamma!r}")
    n = _n_of(model, n)
    grid = np.geomspace(1e-3 / n, 1.0, int(num_betas)) if betas is None else np.asarray(betas, dtype=float)
    s = seed_to_int(seed)
    w = _w_star(model, center)
    means, ses = np.zeros(grid.size), np.zeros(grid.size)
    step = None
    for i in range(grid.size - 1, -1, -1):  # from β = 1 down: steps only grow
        nb = n * grid[i]
        if step is not None:
            step = calibrate(model, w, nbeta=nb, gammas=(gamma,), sampler="mala", seed=s + i,
                             step_levels=kwargs.get("step_levels", DEFAULTS["step_levels"]),
                             metric=kwargs.get("metric", DEFAULTS["metric"]),
                             step_sizes=[step * f for f in (10.0, 3.0, 1.0)]).step_size
        traces, step = tempered_mean_loss(model, nb, gamma=gamma, center=w, step_size=step, seed=s + i, **kwargs)
        means[i] = n * traces.mean()
        ses[i] = n * diagnostics.mcse_mean(traces)
    value, se = ti_from_means(grid, means, ses)
    return FreeEnergyResult(value=value, se=se, n=n, betas=grid, mean_nL=means, se_nL=ses, method="ti",
                            n_loss_at_center=n * _loss(model, w))


@dataclass(frozen=True)
class LambdaFit:
    """λ (and m) fitted to F(n) = a + λ log n − (m − 1) log log n (or without the m term)."""

    lam: float
    m: float | None
    intercept: float
    lam_se: float


def fit_lambda(ns: Sequence[float], values: Sequence[float], *, se: Sequence[float] | None = None,
               with_m: bool = False) -> LambdaFit:
    """Least-squares fit of F_n − n L(w₀) (or of nβ-scaled free energies) against log n.

    ``with_m`` adds the −(m − 1) log log n term (needs ≥ 3 points; poorly conditioned over
    a few decades).  Weighted by 1/se² when ``se`` is given.
    """
    x = np.log(np.asarray(ns, dtype=float))
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.size < (3 if with_m else 2):
        raise ValueError(f"need matching ns and values with at least {3 if with_m else 2} points, got {x.size}, {y.size}")
    cols = [np.ones_like(x), x] + ([-np.log(x)] if with_m else [])
    A = np.stack(cols, axis=1)
    wts = np.ones_like(y) if se is None else 1.0 / np.maximum(np.asarray(se, dtype=float), 1e-12)
    coef, *_ = np.linalg.lstsq(A * wts[:, None], y * wts, rcond=None)
    resid = (y - A @ coef) * wts
    dof = max(1, y.size - A.shape[1])
    cov = np.linalg.pinv((A * wts[:, None]).T @ (A * wts[:, None])) * (resid @ resid / dof if se is None else 1.0)
    return LambdaFit(lam=float(coef[1]), m=float(coef[2] + 1) if with_m else None, intercept=float(coef[0]),
                     lam_se=float(math.sqrt(max(cov[1, 1], 0.0))))

