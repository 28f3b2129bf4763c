"""Priors around a minimum w*: a box (uniform, or ∝ ∏|w_j − w*_j|^h_j) or an isotropic Gaussian.

V(ε) = ∫_{K<ε} φ(w) dw is a prior mass, so the prior fixes the constant c of
V(ε) ≈ c ε^λ (−log ε)^(m−1) but not λ or m as long as φ is positive and smooth at w*
(Watanabe 2009, §2.4); ``exponents`` h make it the normal-crossing prior ∏|w_j|^h_j, which
moves λ to min_j (h_j+1)/(2k_j) for K = ∏ w_j^(2k_j).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import gammainc

__all__ = ["Prior", "make_prior"]


@dataclass(frozen=True)
class Prior:
    """A normalised prior density around ``center``.

    Attributes
    ----------
    kind : "box" (uniform on [lo, hi], times ∏ |w_j − c_j|^h_j with ``exponents``) or
        "gaussian" (N(center, sigma² I)).
    center : (d,) the point w*.
    lo, hi : (d,) bounds of the box (None for the Gaussian).
    sigma : standard deviation of the Gaussian (None for the box).
    exponents : (d,) h of the box prior, or None (uniform).

    Example
    -------
    >>> p = make_prior([0.0, 0.0], box=1.0)
    >>> p.sample(np.random.default_rng(0), 3).shape
    (3, 2)
    """

    kind: str
    center: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    sigma: float | None = None
    exponents: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.center.size

    def describe(self) -> str:
        if self.kind == "gaussian":
            return f"N(w*, {self.sigma:g}² I)"
        widths = np.unique(np.round(self.hi - self.lo, 12))
        text = f"uniform box of side {widths[0]:g}" if widths.size == 1 else "uniform box"
        if self.exponents is not None:
            text += f" times |w - w*|^h, h = {self.exponents.tolist()}"
        return text

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws, shape (n, d)."""
        d = self.dim
        if self.kind == "gaussian":
            return self.center + self.sigma * rng.standard_normal((n, d))
        if self.exponents is None:
            return rng.uniform(self.lo, self.hi, size=(n, d))
        half = self.hi - self.center  # symmetric box (checked in make_prior)
        r = rng.random((n, d)) ** (1.0 / (self.exponents + 1.0))  # |u| with density (h+1) u^h on [0, 1]
        return self.center + half * r * rng.choice([-1.0, 1.0], size=(n, d))

    def log_density(self, W: np.ndarray) -> np.ndarray:
        """log φ at the rows of ``W`` (−inf outside the support)."""
        U = W - self.center
        if self.kind == "gaussian":
            return -0.5 * (U * U).sum(axis=1) / self.sigma**2 - 0.5 * self.dim * math.log(2 * math.pi * self.sigma**2)
        inside = np.all((W >= self.lo) & (W <= self.hi), axis=1)
        if self.exponents is None:
            out = np.full(W.shape[0], -float(np.log(self.hi - self.lo).sum()))
        else:
            half = self.hi - self.center
            h = self.exponents
            with np.errstate(divide="ignore"):
                logs = np.where(h > 0, h * np.log(np.abs(U)), 0.0)
            out = (logs + np.log((h + 1) / (2 * half ** (h + 1)))).sum(axis=1)
        return np.where(inside, out, -np.inf)

    def ray_limit(self, U: np.ndarray) -> np.ndarray:
        """Largest t with center + t u in the support for unit rows u of ``U`` (inf for the Gaussian)."""
        if self.kind == "gaussian":
            return np.full(U.shape[0], np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(U > 0, (self.hi - self.center) / U, np.where(U < 0, (self.lo - self.center) / U, np.inf))
        return t.min(axis=1)

    def log_cone_mass(self, r: np.ndarray) -> np.ndarray:
        """log of ∫_0^r φ(w* + t u) t^(d−1) dt · |S^(d−1)|, the prior mass of the star-shaped set
        {w* + t u: t < r(u)} per unit of solid-angle average (uniform box or Gaussian; the box's
        ``r`` already clipped to :meth:`ray_limit`).  Averaged over directions u it is the mass of
        the star-shaped set."""
        d = self.dim
        if self.kind == "gaussian":
            with np.errstate(divide="ignore"):
                return np.log(gammainc(d / 2, 0.5 * (r / self.sigma) ** 2))
        if self.exponents is not None:
            raise ValueError("the ray estimate supports a uniform box or a Gaussian prior, not exponents")
        log_ball = 0.5 * d * math.log(math.pi) - math.lgamma(d / 2 + 1)
        with np.errstate(divide="ignore"):
            return log_ball + d * np.log(r) - float(np.log(self.hi - self.lo).sum())

    def log_marginal_at_center(self, rank: int) -> float:
        """log density at 0 of the prior's marginal on an r-dimensional subspace through w*:
        exact for the Gaussian, ∏ over r of 1/(2a) for a box of half-width a (exact when the
        subspace is spanned by coordinate axes)."""
        if self.kind == "gaussian":
            return -0.5 * rank * math.log(2 * math.pi * self.sigma**2)
        if self.exponents is not None:
            raise ValueError("the Gaussian (Hessian) prediction needs a prior positive at w*, not exponents")
        side = float(np.exp(np.log(self.hi - self.lo).mean()))
        return -rank * math.log(side)


def make_prior(center: Sequence[float], *, box=None, sigma: float = 1.0,
               exponents: Sequence[float] | None = None) -> Prior:
    """The prior of :func:`slt.volume.volume_scaling`: a box when ``box`` is given, else N(w*, σ² I).

    ``box``: a half-width a > 0 (the box [w* − a, w* + a]), bounds (lo, hi) shared by every
    coordinate, or a (d, 2) array of bounds; it must contain w*.  ``exponents`` (box only, and a
    box symmetric about w*): the prior ∝ ∏ |w_j − w*_j|^h_j.

    Raises
    ------
    ValueError
        Naming the bad box, sigma or exponents.

    Example
    -------
    >>> make_prior([0.5], box=(0, 1)).describe()
    'uniform box of side 1'
    """
    c = np.asarray(center, dtype=float).reshape(-1)
    d = c.size
    if box is None:
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        if exponents is not None:
            raise ValueError("prior exponents need a box prior (box=...)")
        return Prior("gaussian", c, sigma=float(sigma))
    arr = np.asarray(box, dtype=float)
    if arr.ndim == 0:
        if not (math.isfinite(float(arr)) and arr > 0):
            raise ValueError(f"box half-width must be positive, got {box!r}")
        lo, hi = c - float(arr), c + float(arr)
    elif arr.shape == (2,):
        lo, hi = np.full(d, arr[0]), np.full(d, arr[1])
    elif arr.shape == (d, 2):
        lo, hi = arr[:, 0].copy(), arr[:, 1].copy()
    else:
        raise ValueError(f"box must be a half-width, (lo, hi) or a ({d}, 2) array, got {arr.tolist()}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= c) and np.all(c <= hi)
            and np.all(lo < hi)):
        raise ValueError(f"box {arr.tolist()} must have lo < hi and contain w* = {c.tolist()}")
    h = None
    if exponents is not None:
        h = np.asarray(exponents, dtype=float).reshape(-1)
        if h.size != d or not np.all(h >= 0):
            raise ValueError(f"exponents must be {d} numbers >= 0, got {list(exponents)}")
        if not np.allclose(hi - c, c - lo):
            raise ValueError(f"prior exponents need a box symmetric about w* = {c.tolist()}, got {arr.tolist()}")
        if not np.any(h):
            h = None
    return Prior("box", c, lo=lo, hi=hi, exponents=h)
