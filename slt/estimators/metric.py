"""Frozen diagonal metrics: where the inverse metric M⁻¹ = G of ``metric_sgld`` and of HMC comes from.

A sampler with a diagonal inverse metric G moves as plain SGLD / HMC does in the coordinates
u_d = w_d/√G_d: SGLD's step becomes Δw = −(ε/2) G⊙∇U + √ε √G⊙ξ, HMC's momentum p ~ N(0, G⁻¹)
with kinetic energy ½ Σ G_d p_d² (Neal 2011, §4.1; Girolami & Calderhead 2011).  A metric fixed
for the whole run (or fixed after warm-up, with the warm-up discarded) leaves the target
exp(−U) unchanged.  Two sources, written once for every backend:

- :func:`hessian_metric`: G_d = 1/(nβ |∂²L/∂w_d²| + γ) from a Hutchinson estimate of the
  Hessian diagonal at w* (Bekas, Kokiopoulou & Saad 2007): Jacobi preconditioning of the
  localized potential, exact for an axis-aligned quadratic.
- :func:`adapt_windows`: Stan's warm-up (Stan reference manual, "HMC algorithm parameters";
  Hoffman & Gelman 2014): windows of growing length, each one's step adapted by dual averaging
  and then its draws' pooled variances regularized into G (:func:`window_metric`).

In G's coordinates the stiffest direction is λ_max(G^½ ∇²U G^½) ≤ nβ λ_max(G^½ ∇²L G^½) +
γ max_d G_d (:func:`slt.estimators.tuning.curvature_step` with ``metric_max``), and the
slowest mode relaxes at ε λ_min(G^½ ∇²U G^½) ≥ ε γ min_d G_d (:func:`slowest_pull`, the
"preconditioned" burn-in rule).

>>> hessian_metric(np.array([0.0, 1.0]), nbeta=99.0, gamma=1.0)
array([1.  , 0.01])
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from slt.estimators import tuning
from slt.estimators.backend import Backend, Probe, RunSpec
from slt.estimators.config import LLCConfig

__all__ = ["hessian_metric", "window_metric", "WindowSums", "adapt_windows", "metric_curvature_step", "slowest_pull",
           "METRIC_WINDOWS", "WINDOW_ADAPT_STEPS", "SHRINK_DRAWS", "SHRINK_TARGET"]

METRIC_WINDOWS = (25, 50, 100)  # recorded trajectories of the successive warm-up windows
WINDOW_ADAPT_STEPS = 25  # dual-averaging trajectories before each window's recorded part (and before the draws)
SHRINK_DRAWS = 5.0  # Stan's regularization: (n/(n + 5)) var + (5/(n + 5)) · target
SHRINK_TARGET = 1e-3  # ... towards 10⁻³ × the mean variance (scale-free; Stan's 10⁻³ is absolute)
LANCZOS_ITERATIONS = 200  # restarts of ARPACK's Lanczos per extreme eigenvalue


def hessian_metric(diagonal: np.ndarray, nbeta: float, gamma: float) -> np.ndarray:
    """G_d = 1/(nβ |h_d| + γ) for the Hessian diagonal h of L: the inverse of the localized
    potential's curvature along each coordinate (γ > 0: flat coordinates get 1/γ)."""
    if not gamma > 0:
        raise ValueError("a metric from the Hessian diagonal needs gamma > 0 (flat coordinates get 1/gamma)")
    h = np.abs(np.asarray(diagonal, dtype=float).reshape(-1))
    if not np.all(np.isfinite(h)):
        raise ValueError("the Hessian diagonal at w_star is not finite")
    return 1.0 / (nbeta * h + gamma)


def window_metric(mean: np.ndarray, sq_mean: np.ndarray, count: int) -> np.ndarray:
    """Stan's regularized variance (n/(n+5)) s² + (5/(n+5)) · 10⁻³ s̄², with s² the pooled
    variance of ``count`` draws (from their mean and mean square) and s̄² its mean over coordinates."""
    var = np.maximum(np.asarray(sq_mean) - np.asarray(mean) ** 2, 0.0)
    n = float(count)
    floor = SHRINK_TARGET * float(var.mean()) if var.mean() > 0 else 1.0
    return (n / (n + SHRINK_DRAWS)) * var + (SHRINK_DRAWS / (n + SHRINK_DRAWS)) * floor


class WindowSums:
    """Running sums of the positions of every chain at every recorded draw (a :class:`Probe`)."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.squares: np.ndarray | None = None
        self.count = 0

    def __call__(self, positions: Any, draw: int) -> None:
        x = _host(positions)
        if self.total is None:
            self.total, self.squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        self.total += x.sum(axis=0)
        self.squares += np.square(x).sum(axis=0)
        self.count += x.shape[0]

    def metric(self) -> np.ndarray:
        return window_metric(self.total / self.count, self.squares / self.count, self.count)


def _host(positions: Any) -> np.ndarray:
    """A backend's positions as a float64 host array."""
    if hasattr(positions, "detach"):
        positions = positions.detach().double().cpu().numpy()
    return np.asarray(positions, dtype=float)


def metric_curvature_step(backend: Backend, points: Any, cfg: LLCConfig, seed: int | None) -> tuple[float, float]:
    """(ε, λ) with λ = λ_max(G^½ ∇²L G^½) over the points (λ_max(∇²L) without a metric) and ε the
    curvature rule's step for it (:func:`slt.estimators.tuning.curvature_step`)."""
    g = cfg.inv_metric
    lam = backend.top_curvature(points, seed=seed, **({} if g is None else {"scale": np.sqrt(g)}))
    step = tuning.curvature_step(cfg.sampler, cfg.nbeta, cfg.gamma, lam, batch_size=cfg.batch_size, n=backend.n,
                                 metric_max=1.0 if g is None else float(g.max()))
    return step, float(lam)


def adapt_windows(backend: Backend, cfg: LLCConfig, center: Any, pos: Any, *, target: float,
                  progress: bool) -> tuple[Any, LLCConfig, list[dict]]:
    """Stan-like warm-up of an exact sampler: for each window length w of :data:`METRIC_WINDOWS`,
    :data:`WINDOW_ADAPT_STEPS` trajectories of dual averaging towards acceptance ``target`` at the
    current metric, then w recorded trajectories at the adapted step, whose pooled variances
    become the next metric (:func:`window_metric`); the next window starts from the curvature
    rule's step in the new metric.  Returns the positions, ``cfg`` with the final metric and the
    step to start the draws' own dual averaging from, and one record per window."""
    rounds: list[dict] = []
    for k, length in enumerate(METRIC_WINDOWS):
        sums = WindowSums()
        spec = RunSpec(cfg, center, adapt_acceptance=target)
        run = backend.run(spec, pos, num_steps=WINDOW_ADAPT_STEPS + length, thin=1,
                          seed=tuning.segment_seed(cfg.seed, 30 + k),
                          progress=f"metric window {k + 1}/{len(METRIC_WINDOWS)}" if progress else False,
                          probe=Probe(1, sums), skip=WINDOW_ADAPT_STEPS)
        pos, adapted = run.positions, float(run.step_size)
        g = sums.metric()
        cfg = replace(cfg, inv_metric=g)
        step, lam = metric_curvature_step(backend, pos, cfg, tuning.segment_seed(cfg.seed, 40 + k))
        rounds.append(dict(window=length, adapted_step=adapted, acceptance=run.acceptance, metric_min=float(g.min()),
                           metric_max=float(g.max()), curvature=lam, next_step=step))
        cfg = replace(cfg, step_size=step)
    return pos, cfg, rounds


def slowest_pull(backend: Backend, center: Any, cfg: LLCConfig) -> float:
    """The slowest relaxation rate per unit step of SGLD in the metric's coordinates at w*,
    λ_min(G^½ ∇²U G^½) with ∇²U = nβ ∇²L + γ I, by Lanczos on Hessian-vector products; at least
    γ min_d G_d (the localization's weakest pull, the bound when ∇²L ⪰ 0 has flat directions
    along the stiffest coordinates), which is also the answer when Lanczos does not converge."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    g = np.asarray(cfg.inv_metric, dtype=float)
    floor = cfg.gamma * float(g.min())
    op = backend.curvature_operator(center, np.sqrt(g))
    d = g.size
    if d < 3:
        return floor
    a = LinearOperator((d, d), matvec=lambda v: cfg.nbeta * op.matvec(v) + cfg.gamma * g * np.ravel(v),
                       dtype=np.float64)
    v0 = np.random.default_rng(tuning.segment_seed(cfg.seed, 5)).standard_normal(d)
    try:
        top = float(eigsh(a, k=1, which="LA", tol=1e-3, v0=v0, maxiter=LANCZOS_ITERATIONS)[0][0])
        shifted = LinearOperator((d, d), matvec=lambda v: top * np.ravel(v) - a.matvec(v), dtype=np.float64)
        low = top - float(eigsh(shifted, k=1, which="LA", tol=1e-3, v0=v0, maxiter=LANCZOS_ITERATIONS)[0][0])
    except ArpackNoConvergence:
        return floor
    return max(low, floor)

