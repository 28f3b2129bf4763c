"""WBIC, free energies by thermodynamic integration, and fits of λ (and m) from them.

With a normalised prior φ and L = L_n (or a potential V standing in for a population loss):

- Bayes free energy F_n = −log ∫ exp(−n L(w)) φ(w) dw
  = n L(w₀) + λ log n − (m − 1) log log n + O_p(1)  (Watanabe 2009, Main Formula II);
- thermodynamic integration F_n = ∫₀¹ E_β[n L] dβ, E_β over p_β ∝ exp(−nβ L) φ
  (Gelman & Meng 1998), on a geometric β grid (:func:`slt.estimators.core.ti_from_means`);
- WBIC = E_{β=1/log n}[n L]  (Watanabe 2013), equal to F_n to order log n.

φ is the Gaussian prior N(center, I/γ), which is exactly the localization term of the samplers,
so every E_β is one run of the estimator's sampler on a backend (:func:`tempered_losses`): the
same code serves potentials (:func:`wbic`, :func:`free_energy`) and networks
(:func:`slt.nn.wbic`, :func:`slt.nn.free_energy`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from slt import diagnostics
from slt.estimators import tuning
from slt.estimators.backend import Backend, RunSpec
from slt.estimators.core import ti_from_means, wbic_from_losses
from slt.estimators.llc import Request, resolve
from slt.estimators.results import FreeEnergyResult

__all__ = ["FreeEnergyResult", "LambdaFit", "tempered_losses", "wbic_on", "free_energy_on", "fit_lambda",
           "TemperedRun", "tempered_run"]


@dataclass(frozen=True)
class TemperedRun:
    """Settings of the runs behind one WBIC or TI estimate (None: the problem's defaults)."""

    step_size: float | None = None
    sampler: str | None = None
    num_chains: int | None = None
    num_draws: int = 1000
    num_burnin: int = 2000
    thin: int = 2
    step_levels: int | None = None
    metric: float | None = None
    sampler_options: dict | None = None
    progress: bool = False


def tempered_run(kwargs: dict) -> TemperedRun:
    """The :class:`TemperedRun` settings from keywords (an unknown one is a ValueError)."""
    unknown = sorted(set(kwargs) - set(TemperedRun.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; the runs take {sorted(TemperedRun.__dataclass_fields__)}")
    return TemperedRun(**kwargs)


def tempered_losses(backend: Backend, center: Any, nbeta: float, gamma: float, run: TemperedRun,
                    seed: int | None) -> tuple[np.ndarray, float]:
    """Loss traces (chains, draws) under p ∝ exp(−nβ L − (γ/2)|w − c|²), and the step used.

    Chains start from N(c, I/(γ + nβ)) (the prior at nβ → 0, near c for large nβ); a step of
    None is chosen by the scan of :func:`slt.estimators.tuning.calibrate` with the same sampler
    and options as the run.
    """
    cfg, _ = resolve(backend, Request(nbeta=nbeta, gamma=gamma, num_chains=run.num_chains, num_draws=run.num_draws,
                                      num_burnin=run.num_burnin, thin=run.thin, sampler=run.sampler,
                                      step_levels=run.step_levels, metric=run.metric,
                                      sampler_options=run.sampler_options, seed=seed))
    if run.step_size is None:
        step = tuning.calibrate(backend, center, cfg).step_size
    else:
        step = float(run.step_size)
    cfg = replace(cfg, step_size=step, num_burnin=run.num_burnin)
    init = backend.start(center, cfg.num_chains, nbeta, gamma, spread_seed=seed)
    chains = backend.run(RunSpec(cfg, center), init, num_steps=cfg.total_steps, thin=cfg.thin, seed=seed,
                         progress=run.progress, skip=(cfg.num_burnin // cfg.thin) * cfg.thin)
    return chains.loss_traces, step


def _n_loss(backend: Backend, center: Any, n: float) -> float:
    return n * backend.loss(center)


def wbic_on(backend: Backend, center: Any, n: float, gamma: float, run: TemperedRun, seed: int | None
            ) -> FreeEnergyResult:
    """WBIC = E_{β=1/log n}[n L] under the Gaussian prior N(center, I/γ) (Watanabe 2013)."""
    if not (isinstance(n, (int, float)) and math.isfinite(n) and n > 1):
        raise ValueError(f"n must be a finite number > 1, got {n!r}")
    beta = 1.0 / math.log(n)
    traces, _ = tempered_losses(backend, center, n * beta, gamma, run, seed)
    value, se = wbic_from_losses(traces, n)
    return FreeEnergyResult(value=value, se=se, n=float(n), betas=np.array([beta]), mean_nL=np.array([value]),
                            se_nL=np.array([se]), method="wbic", n_loss_at_center=_n_loss(backend, center, n))


def free_energy_on(backend: Backend, center: Any, n: float, gamma: float, betas: Sequence[float] | None,
                   num_betas: int, run: TemperedRun, seed: int | None) -> FreeEnergyResult:
    """F_n = −log ∫ exp(−n L) φ by thermodynamic integration over a β grid.

    The default grid is geometric from β = 10⁻³/n to 1 (``num_betas`` points): E_β[n L]
    ≈ n L(w₀) + λ/β changes over all those decades and is flat below 1/n.  Without a given step,
    the step at β = 1 comes from the full scan and, going down the grid, from a scan of 10, 3 and
    1 times the previous step (steps only grow as β falls).
    """
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"thermodynamic integration needs the normalised Gaussian prior of gamma > 0, got {gamma!r}")
    grid = np.geomspace(1e-3 / n, 1.0, int(num_betas)) if betas is None else np.asarray(betas, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or grid[0] <= 0 or np.any(np.diff(grid) <= 0) or not math.isclose(grid[-1], 1):
        raise ValueError(f"betas must be an increasing grid of >= 2 positive values ending at 1, got {grid.tolist()}")
    s = 0 if seed is None else int(seed)
    means, ses = np.zeros(grid.size), np.zeros(grid.size)
    step = run.step_size
    for i in range(grid.size - 1, -1, -1):  # from β = 1 down: steps only grow
        nb = n * grid[i]
        if step is not None and run.step_size is None:
            cfg, _ = resolve(backend, Request(nbeta=nb, gamma=gamma, num_chains=run.num_chains, sampler=run.sampler,
                                              step_levels=run.step_levels, metric=run.metric,
                                              sampler_options=run.sampler_options, seed=s + i))
            step = tuning.calibrate(backend, center, cfg, step_sizes=[step * f for f in (10.0, 3.0, 1.0)]).step_size
        traces, step = tempered_losses(backend, center, nb, gamma, replace(run, step_size=step), s + i)
        means[i] = n * traces.mean()
        ses[i] = n * diagnostics.mcse_mean(traces)
    value, se = ti_from_means(grid, means, ses)
    return FreeEnergyResult(value=value, se=se, n=float(n), betas=grid, mean_nL=means, se_nL=ses, method="ti",
                            n_loss_at_center=_n_loss(backend, center, n))


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

    >>> round(fit_lambda([10, 100, 1000], [0.75 * math.log(n) + 1 for n in (10, 100, 1000)]).lam, 6)
    0.75
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
