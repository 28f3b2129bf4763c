"""Closed forms of V(ε) = φ{K < ε} to hold the nested sampler against.

- Normal crossing K = c ∏ w_j^(2k_j) under the prior ∝ ∏ |w_j|^(h_j) on the box [−a, a]^d: with
  u_j = |w_j|/a (density (h_j+1) u^(h_j) on [0, 1]) the s_j = −2k_j log u_j are independent
  exponentials of rates r_j = (h_j+1)/(2k_j), and V(ε) = P(Σ s_j > log(c a^(2Σk)/ε)), the
  survival function of a hypoexponential sum: a phase-type law with a bidiagonal generator,
  survival e₁ᵀ exp(T L) 1 (Neuts 1981).  As ε → 0 it is ≈ c' ε^λ (−log ε)^(m−1) with
  λ = min r_j and m = #argmin (Watanabe 2009, Thm 2.4).
- Regular K = Σ a_i w_i² / 2 on a box: the ellipsoid volume π^(d/2)/Γ(d/2+1) ∏ √(2ε/a_i) over
  the box volume, exact while the ellipsoid is inside the box (λ = d/2, m = 1).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.linalg import expm

__all__ = ["normal_crossing_log_volume", "ellipsoid_log_volume"]


def normal_crossing_log_volume(k: Sequence[int], log_eps, *, h: Sequence[float] | None = None, c: float = 1.0,
                               half_width: float = 1.0) -> np.ndarray:
    """log V(ε) of K = c ∏ w_j^(2k_j) under ∏ |w_j|^(h_j) on [−a, a]^d (see the module doc).

    Computed as −λL + log e₁ᵀ exp((T + λI) L) 1 so that tiny volumes keep full relative precision.

    Example
    -------
    >>> L = 20.0   # K = x² y²: V = √ε (1 + (−log ε)/2)
    >>> bool(np.isclose(normal_crossing_log_volume([1, 1], -L), -L / 2 + np.log1p(L / 2)))
    True
    """
    k = np.asarray(k, dtype=float)
    hs = np.zeros_like(k) if h is None else np.asarray(h, dtype=float)
    if k.size == 0 or np.any(k < 1) or hs.shape != k.shape or np.any(hs < 0):
        raise ValueError(f"need exponents k_j >= 1 and as many h_j >= 0, got k={k.tolist()}, h={hs.tolist()}")
    if not (c > 0 and half_width > 0):
        raise ValueError(f"c and half_width must be positive, got c={c!r}, half_width={half_width!r}")
    rates = np.sort((hs + 1) / (2 * k))  # any order gives the same sum; ascending keeps T well scaled
    lam = float(rates[0])
    d = rates.size
    T = np.diag(-rates + lam) + np.diag(rates[:-1], 1)
    log_eps = np.asarray(log_eps, dtype=float)
    L = math.log(c) + 2 * k.sum() * math.log(half_width) - log_eps
    out = np.zeros_like(L)
    for i, x in np.ndenumerate(L):
        if x > 0:
            out[i] = -lam * x + math.log(float(expm(T * x)[0].sum()))
    return out if out.ndim else float(out)


def ellipsoid_log_volume(curvatures: Sequence[float], log_eps, *, half_width: float = 1.0) -> np.ndarray:
    """log V(ε) of K = Σ a_i w_i² / 2 under the uniform prior on [−a, a]^d, exact while the
    ellipsoid {K < ε} is inside the box (ε ≤ a² min a_i / 2); NaN above.

    Example
    -------
    >>> round(float(np.exp(ellipsoid_log_volume([2.0], np.log(0.25)))), 12)   # |w| < 1/2 in [−1, 1]
    0.5
    """
    a = np.asarray(curvatures, dtype=float)
    if a.size == 0 or np.any(a <= 0) or not half_width > 0:
        raise ValueError(f"need positive curvatures and half_width, got {a.tolist()}, {half_width!r}")
    d = a.size
    log_eps = np.asarray(log_eps, dtype=float)
    out = (0.5 * d * math.log(math.pi) - math.lgamma(d / 2 + 1) + 0.5 * (d * (math.log(2) + log_eps) - np.log(a).sum())
           - d * math.log(2 * half_width))
    inside = log_eps <= math.log(half_width**2 * a.min() / 2)
    return np.where(inside, out, np.nan)
