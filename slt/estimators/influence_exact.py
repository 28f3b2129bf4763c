"""Exact covariance observables to check :mod:`slt.estimators.influence` against.

- :func:`gaussian_posterior`, :func:`linear_gaussian_covariance`: a model linear in w,
  f(w, x) = Σ_k w_k g_k(x), with Gaussian noise σ: the localized tempered posterior
  p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²) is N(m, S) with S⁻¹ = nβ H + γ I,
  H = GᵀG/(nσ²), m = S (nβ Gᵀy/(nσ²) + γ w*), and with u = w − m, ℓ_a = (r_a − g_aᵀu)²/(2σ²),
  r_a = y_a − g_aᵀm, s_ab = g_aᵀ S g_b (Isserlis' theorem):
  Cov(ℓ_a, ℓ_b) = (4 r_a r_b s_ab + 2 s_ab²) / (4σ⁴).
- :func:`tempered_covariance`: Cov_p(a(w), b(w)) of any functions of a toy model with 1–3
  parameters by quadrature on the sinh-mapped tensor grids of :mod:`slt.estimators.exact`.
- :func:`classical_influence`: −(1/nβ) ∇ℓ_iᵀ (H + (γ/nβ) I)⁻¹ ∇φ, the regular large-nβ limit
  of the BIF (Koh & Liang 2017, eq. 2 with the ERM's Hessian; γ → 0 gives theirs), and
  :func:`regression_gradients`, ∇ℓ_i of a :class:`slt.models.Regression`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from slt.estimators.exact import POINTS_PER_AXIS, _axis, _box

__all__ = ["gaussian_posterior", "linear_gaussian_covariance", "tempered_covariance", "QuadratureCovariance",
           "classical_influence", "regression_gradients"]

CHUNK = 200_000  # grid nodes evaluated at once


def gaussian_posterior(G: np.ndarray, y: np.ndarray, sigma: float, nbeta: float, gamma: float,
                       center: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(mean m, covariance S) of p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²) for f = G w.

    L_n(w) = (1/n) Σ_i (y_i − g_iᵀw)²/(2σ²) + const, G (n, d) the features g_k(x_i).

    >>> m, S = gaussian_posterior(np.ones((4, 1)), np.ones(4), 1.0, 4.0, 0.0, [0.0])
    >>> float(m[0]), float(S[0, 0])
    (1.0, 0.25)
    """
    G, y = np.asarray(G, dtype=float), np.asarray(y, dtype=float)
    n, d = G.shape
    H = G.T @ G / (n * sigma**2)
    P = nbeta * H + gamma * np.eye(d)
    S = np.linalg.inv(P)
    m = S @ (nbeta * G.T @ y / (n * sigma**2) + gamma * np.asarray(center, dtype=float))
    return m, 0.5 * (S + S.T)


def linear_gaussian_covariance(Ga: np.ndarray, ya: np.ndarray, Gb: np.ndarray, yb: np.ndarray, sigma: float,
                               mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Cov(ℓ_a, ℓ_b) = (4 r_a r_b s_ab + 2 s_ab²)/(4σ⁴) under w ~ N(mean, cov), ℓ = (y − gᵀw)²/(2σ²).

    >>> float(linear_gaussian_covariance(np.ones((1, 1)), [0.0], np.ones((1, 1)), [0.0], 1.0,
    ...                                  np.zeros(1), np.eye(1))[0, 0])  # Var(w²/2) = 1/2
    0.5
    """
    Ga, Gb = np.asarray(Ga, dtype=float), np.asarray(Gb, dtype=float)
    ra = np.asarray(ya, dtype=float) - Ga @ mean
    rb = np.asarray(yb, dtype=float) - Gb @ mean
    s = Ga @ cov @ Gb.T
    return (4 * np.outer(ra, rb) * s + 2 * s**2) / (4 * sigma**4)


@dataclass(frozen=True)
class QuadratureCovariance:
    """Cov_p(a, b) (p, q), E_p[a] (p,), E_p[b] (q,) by quadrature, and |change| of the covariance
    from the grid with half the points per axis: the coarse grid's error, an upper estimate of the
    fine grid's (the trapezoid rule converges geometrically here)."""

    cov: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    error: np.ndarray
    points_per_axis: int


def _grid_moments(potential: Any, pair: Callable, nbeta: float, gamma: float, c: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray, npts: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E[a], E[b], Cov(a, b)) on one grid, streaming in chunks of nodes (log-sum-exp rescaling)."""
    d = potential.dim
    axes = [_axis(lo[i], hi[i], c[i], scale, npts, 0.0) for i in range(d)]
    v0 = float(potential(c))
    a0, b0 = (np.asarray(x, dtype=float)[0] for x in pair(c[None]))
    top, z, sa, sb, sab = -math.inf, 0.0, 0.0, 0.0, 0.0
    for start in range(0, npts**d, CHUNK):
        idx = np.unravel_index(np.arange(start, min(start + CHUNK, npts**d)), (npts,) * d)
        W = np.stack([axes[k][0][i] for k, i in enumerate(idx)], axis=-1)
        logw = sum(axes[k][1][i] for k, i in enumerate(idx)) - nbeta * (potential(W) - v0)
        if gamma:
            logw = logw - 0.5 * gamma * np.sum((W - c) ** 2, axis=-1)
        m = float(logw.max())
        if m > top:
            shrink = math.exp(top - m) if top > -math.inf else 0.0
            z, sa, sb, sab, top = z * shrink, sa * shrink, sb * shrink, sab * shrink, m
        p = np.exp(logw - top)
        keep = p > 1e-300
        a, b = (np.asarray(x, dtype=float) for x in pair(W[keep]))
        a, b, p = a - a0, b - b0, p[keep]
        z += float(p.sum())
        sa = sa + p @ a
        sb = sb + p @ b
        sab = sab + (a * p[:, None]).T @ b
    ea, eb = sa / z, sb / z
    return ea + a0, eb + b0, sab / z - np.outer(ea, eb)


def tempered_covariance(model: Any, pair: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], nbeta: float, *,
                        gamma: float, center: Sequence[float] | None = None, box: Any = None,
                        points_per_axis: int | None = None) -> QuadratureCovariance:
    """Cov_p(a(w), b(w)) under p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − c‖²), by quadrature.

    The tensor grids of :func:`slt.estimators.exact.tempered_quadrature` (w = c + a sinh(u) per
    axis, trapezoid in u; box 12/√γ either side of c unless given), here with 2401, 321 or 161
    points per axis for 1, 2 or 3 parameters by default, and the same integral on the nested grid
    with half the points as the error estimate.

    Parameters
    ----------
    model : a toy model with a closed-form L_n (``full_batch_potential``, e.g. a
        :class:`slt.models.Regression` polynomial in x) or a :class:`slt.potentials.Potential`.
    pair : W (k, d) -> (a (k, p), b (k, q)).
    nbeta, gamma, center, box : the posterior (center default ``model.point``).
    points_per_axis : the grid.

    >>> from slt.potentials import Potential
    >>> V = Potential.from_expr("w**2/2", name="quadratic")      # p = N(0, 1/(nβ + γ))
    >>> q = tempered_covariance(V, lambda W: (W, W), 99.0, gamma=1.0)
    >>> round(float(q.cov[0, 0]) * 100, 6)
    1.0
    """
    potential = getattr(model, "full_batch_potential", None) or model
    d = potential.dim
    if d not in POINTS_PER_AXIS:
        raise ValueError(f"quadrature is for 1-3 parameters; {getattr(model, 'name', model)!r} has {d}")
    c = np.asarray(potential.point if center is None else center, dtype=float).reshape(d)
    lo, hi = _box(potential, gamma, c, box)
    npts = points_per_axis or {1: 2401, 2: 321, 3: 161}[d]
    scale = 0.01 / math.sqrt(nbeta + gamma)
    ea, eb, cov = _grid_moments(potential, pair, nbeta, gamma, c, lo, hi, npts, scale)
    coarse = _grid_moments(potential, pair, nbeta, gamma, c, lo, hi, (npts + 1) // 2, scale)[2]
    return QuadratureCovariance(cov=cov, mean_a=ea, mean_b=eb, error=np.abs(cov - coarse), points_per_axis=npts)


def regression_gradients(model: Any, w: Sequence[float], x: np.ndarray | None = None,
                         y: np.ndarray | None = None) -> np.ndarray:
    """(m, d) gradients ∇ℓ_i(w) of the per-sample losses ℓ_i = (y_i − f(w, x_i))²/(2σ²) of a
    :class:`slt.models.Regression`, on its data or on (x, y) (the compiled gradient, one row at a time)."""
    data = model.data if x is None else np.column_stack([np.asarray(x, dtype=float).reshape(len(y), -1),
                                                         np.asarray(y, dtype=float)])
    w = np.asarray(w, dtype=float)
    out = np.zeros((data.shape[0], w.size))
    for i in range(data.shape[0]):
        model.kernels.grad(w, data, np.array([i], dtype=np.int64), 1, out[i])
    return out


def classical_influence(grad_i: np.ndarray, grad_phi: np.ndarray, hessian: np.ndarray, nbeta: float,
                        gamma: float = 0.0) -> np.ndarray:
    """−(1/nβ) ∇ℓ_iᵀ (H + (γ/nβ) I)⁻¹ ∇φ_q for every i, q: (m, d), (k, d), (d, d) → (m, k).

    The BIF's limit in a regular model at large nβ: there the localized posterior is
    N(w*, (nβ H + γ I)⁻¹) to leading order, so −Cov(ℓ_i, φ) → −∇ℓ_iᵀ (nβ H + γ I)⁻¹ ∇φ (the
    delta method).  With γ = 0 it is Koh & Liang's (2017) influence of up-weighting z_i on φ,
    divided by nβ.

    >>> float(classical_influence(np.array([[1.0]]), np.array([[2.0]]), np.array([[4.0]]), 10.0)[0, 0])
    -0.05
    """
    d = hessian.shape[0]
    P = nbeta * np.asarray(hessian, dtype=float) + gamma * np.eye(d)
    return -np.asarray(grad_i, dtype=float) @ np.linalg.solve(P, np.asarray(grad_phi, dtype=float).T)
