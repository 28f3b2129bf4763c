"""One minimum, every view of its volume: V(ε) measured beside λ̂, rank(H)/2, d/2, the Gaussian
(Hessian) volume and a ray-based estimate.

- Gaussian (Hessian) prediction: K ≈ ½ uᵀ H u, so V_H(ε) = φ_r(0) · vol{½ uᵀ H_r u < ε}
  = φ_r(0) · π^(r/2)/Γ(r/2 + 1) · (2ε)^(r/2) / √det H_r over the r = rank(H) curved directions
  (φ_r the prior's marginal there): exponent rank(H)/2, the regular part only.
- Ray estimate (Scherlis & Belrose 2025, *Estimating the probability of sampling a trained neural
  network at random*, arXiv 2501.18812): along random directions u from w*, the first radius
  r_ε(u) where K reaches ε; the prior mass of the star-shaped set {w* + t u: t < r_ε(u)} is
  E_u[Φ(r_ε(u))] (box: vol(B_d) E[r^d] / vol(box); Gaussian N(w*, σ²I): E[P(χ_d ≤ r/σ)]),
  a lower bound on V(ε), since {K < ε} need not be star-shaped about w*.
- λ̂: the LLC estimator of the same loss (:func:`slt.estimators.estimate_llc`,
  :func:`slt.nn.estimate_llc`) at nβ = 1/ε at the top of the fitted range (the tempered posterior
  puts its mass near K ≈ λ/nβ); with m > 1 it approaches λ from below like λ − (m − 1)/log(nβ).
- Bounds: rank(H)/2 ≤ λ ≤ d/2 (Watanabe 2009).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from slt.sampling.rng import seed_to_int
from slt.volume.priors import Prior, make_prior
from slt.volume.scaling import VolumeScaling, fit_scaling, volume_scaling
from slt.volume.targets import Target, as_target

__all__ = ["BasinReport", "RayVolume", "basin_report", "gaussian_log_volume", "hessian_rank", "ray_volume"]

RTOL = 1e-4  # near-zero rule of slt.nn.hessian.near_zero_count: |λ| ≤ max(rtol·max|λ|, d·eps·max|λ|)


@dataclass(frozen=True)
class RayVolume:
    """The ray-based (star-shaped) lower bound on V(ε) and its fitted exponent.

    log_eps, log_volume, log_volume_se : (g,) the curve and its standard error (over rays).
    lam, lam_se : exponent fitted over ``fit_range`` without a log term, and its bootstrap se.
    num_rays : directions drawn.
    """

    log_eps: np.ndarray
    log_volume: np.ndarray
    log_volume_se: np.ndarray
    lam: float
    lam_se: float
    fit_range: tuple[float, float]
    num_rays: int


def hessian_rank(eigenvalues: np.ndarray, rtol: float = RTOL) -> tuple[int, np.ndarray]:
    """(rank, the eigenvalues above the near-zero threshold max(rtol·max|λ|, d·eps·max|λ|))."""
    lam = np.asarray(eigenvalues, dtype=float).ravel()
    scale = float(np.abs(lam).max()) if lam.size else 0.0
    tau = max(rtol * scale, lam.size * np.finfo(float).eps * scale)
    pos = lam[lam > tau] if scale > 0 else lam[:0]
    return int(pos.size), pos


def gaussian_log_volume(eigenvalues: np.ndarray, log_eps: np.ndarray, prior: Prior, rtol: float = RTOL) -> np.ndarray:
    """log V_H(ε) of the quadratic approximation ½ uᵀ H u (see the module doc); 0 when rank(H) = 0.

    Example
    -------
    >>> p = make_prior([0.0], box=1.0)
    >>> round(float(np.exp(gaussian_log_volume(np.array([2.0]), np.log(0.25), p))), 12)   # |w| < 1/2
    0.5
    """
    r, pos = hessian_rank(eigenvalues, rtol)
    log_eps = np.asarray(log_eps, dtype=float)
    if r == 0:
        return np.zeros_like(log_eps)
    log_ball = 0.5 * r * math.log(math.pi) - math.lgamma(r / 2 + 1)
    return (log_ball + 0.5 * r * (math.log(2) + log_eps) - 0.5 * float(np.log(pos).sum())
            + prior.log_marginal_at_center(r))


def _exit_radii(target: Target, prior: Prior, U: np.ndarray, levels: np.ndarray, grid: int, bisect: int) -> np.ndarray:
    """(rays, levels) first radius along each unit direction where K reaches each level."""
    n, d = U.shape
    t_max = prior.ray_limit(U)
    t_max = np.where(np.isfinite(t_max), t_max, (prior.sigma or 1.0) * (math.sqrt(d) + 8.0))
    ts = t_max[:, None] * np.geomspace(1e-12, 1.0, grid)[None, :]
    kk = target.loss((prior.center + ts[..., None] * U[:, None, :]).reshape(-1, d)).reshape(n, grid)
    above = kk[:, :, None] >= levels[None, None, :]  # (rays, grid, levels)
    j = np.where(above.any(axis=1), above.argmax(axis=1), grid)  # first grid point at or above the level
    lo = np.where(j > 0, np.take_along_axis(ts, np.clip(j - 1, 0, grid - 1), axis=1), 0.0)
    hi = np.where(j < grid, np.take_along_axis(ts, np.clip(j, 0, grid - 1), axis=1), t_max[:, None])
    todo = (j > 0) & (j < grid)
    rows, cols = np.nonzero(todo)
    a, b = lo[rows, cols], hi[rows, cols]
    for _ in range(bisect):
        mid = 0.5 * (a + b)
        k = target.loss(prior.center + mid[:, None] * U[rows])
        inside = k < levels[cols]
        a, b = np.where(inside, mid, a), np.where(inside, b, mid)
    out = hi.copy()
    out[rows, cols] = 0.5 * (a + b)
    return out


def ray_volume(target: Any, log_eps: np.ndarray, *, box=None, sigma: float = 1.0, num_rays: int = 256,
               fit_range: tuple[float, float] | None = None, grid: int = 240, bisect: int = 30,
               bootstrap: int = 200, seed: int | np.random.Generator | None = None, **target_keys) -> RayVolume:
    """The ray-based lower bound on V(ε) at the levels ``exp(log_eps)`` (see the module doc).

    Parameters
    ----------
    target, box, sigma : as for :func:`slt.volume.volume_scaling` (uniform box or Gaussian prior).
    log_eps : the levels (natural log).
    num_rays : random directions; ``grid`` radii per ray (geometric, from 10⁻¹² of the prior's
        reach to it) locate the first exit, refined by ``bisect`` halvings.
    fit_range : (log ε_lo, log ε_hi) of the exponent fit (default: all levels).
    seed : int or numpy Generator.

    Example
    -------
    >>> rv = ray_volume("x**2 + y**2", np.log([1e-4, 1e-3, 1e-2]), box=1.0, seed=0)
    >>> round(rv.lam, 6)      # a ball: star-shaped, V = πε/4
    1.0
    """
    if num_rays < 2:
        raise ValueError(f"num_rays must be at least 2, got {num_rays!r}")
    tgt = as_target(target, **target_keys)
    prior = make_prior(tgt.point, box=box, sigma=sigma)
    rng = np.random.default_rng(seed_to_int(seed))
    U = rng.standard_normal((num_rays, tgt.dim))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    log_eps = np.asarray(log_eps, dtype=float)
    per_ray = prior.log_cone_mass(_exit_radii(tgt, prior, U, np.exp(log_eps), grid, bisect))  # (rays, levels)
    top = per_ray.max(axis=0)
    w = np.exp(per_ray - top)
    mean = w.mean(axis=0)
    log_v = top + np.log(mean)
    se = w.std(axis=0, ddof=1) / math.sqrt(num_rays) / mean
    rng_fit = fit_range or (float(log_eps.min()), float(log_eps.max()))
    sel = (log_eps >= rng_fit[0] - 1e-12) & (log_eps <= rng_fit[1] + 1e-12)
    lam = fit_scaling(log_eps[sel], log_v[sel], m=1)[0]
    boot = []
    for _ in range(bootstrap):
        pick = rng.integers(0, num_rays, num_rays)
        t = per_ray[pick][:, sel].max(axis=0)
        boot.append(fit_scaling(log_eps[sel], t + np.log(np.exp(per_ray[pick][:, sel] - t).mean(axis=0)), m=1)[0])
    return RayVolume(log_eps=log_eps, log_volume=log_v, log_volume_se=se, lam=lam, lam_se=float(np.std(boot, ddof=1)),
                     fit_range=rng_fit, num_rays=num_rays)


@dataclass(frozen=True)
class BasinReport:
    """Every view of one minimum's volume (see the module doc).

    scaling : the measured V(ε) and fitted λ (:class:`slt.volume.VolumeScaling`).
    llc, llc_se, nbeta : λ̂ and its standard error from the LLC estimator at nβ (None when not asked).
    llc_warnings : the LLC estimator's diagnostic messages.
    rank, rank_half, half_dim : rank(H), rank(H)/2 and d/2.
    hessian_trace, hessian_top, hessian_logdet : tr H, its largest eigenvalue, Σ log of the
        eigenvalues above the near-zero threshold.
    gaussian : log V_H(ε) on ``scaling.log_eps`` (the quadratic prediction).
    ray : the ray-based lower bound (:class:`RayVolume`) on the same levels.
    """

    scaling: VolumeScaling
    llc: float | None
    llc_se: float | None
    nbeta: float | None
    rank: int
    rank_half: float
    half_dim: float
    hessian_trace: float
    hessian_top: float
    hessian_logdet: float
    gaussian: np.ndarray
    ray: RayVolume
    llc_warnings: tuple[str, ...] = ()

    def at(self, eps: float) -> dict[str, float]:
        """log V(ε), its se, the Gaussian and the ray value at one level (interpolated)."""
        x, s = math.log(eps), self.scaling
        return {"log_volume": float(np.interp(x, s.log_eps, s.log_volume)),
                "log_volume_se": float(np.interp(x, s.log_eps, s.log_volume_se)),
                "gaussian": float(np.interp(x, s.log_eps, self.gaussian)),
                "ray": float(np.interp(x, self.ray.log_eps, self.ray.log_volume))}

    def table(self) -> str:
        s = self.scaling
        llc = "not estimated" if self.llc is None else f"{self.llc:.3f} ± {self.llc_se:.3f} (nβ = {self.nbeta:.3g})"
        return "\n".join([
            f"volume exponent   {s.lam:.3f} ± {s.lam_se:.3f} (m = {s.m:.3g}{' given' if s.m_given else ' fitted'}); "
            f"without the log term {s.lam_uncorrected:.3f} ± {s.lam_uncorrected_se:.3f}",
            f"LLC λ̂             {llc}",
            f"rank(H)/2, d/2    {self.rank_half:g}, {self.half_dim:g}",
            f"ray exponent      {self.ray.lam:.3f} ± {self.ray.lam_se:.3f} (lower bound on V)",
            f"Hessian           trace {self.hessian_trace:.4g}, top {self.hessian_top:.4g}, "
            f"log det+ {self.hessian_logdet:.4g}",
        ] + ([f"exact             λ = {s.exact_lam:g}, m = {s.exact_m}"] if s.exact_lam is not None else []))


def basin_report(target: Any, *, box=None, m: float | None = None, seed: int | np.random.Generator | None = None,
                 nbeta: float | None = None, llc: bool = True, llc_options: dict | None = None,
                 num_rays: int = 256, **settings) -> BasinReport:
    """V(ε) by :func:`slt.volume.volume_scaling` beside λ̂, rank(H)/2, d/2, the Gaussian (Hessian)
    volume and the ray-based estimate, for one minimum.

    Parameters
    ----------
    target, box, m, settings : as for :func:`slt.volume.volume_scaling` (``point``, ``data``,
        ``loss_fn`` describe the target).
    nbeta : nβ of the LLC estimate (default: 1/ε at the top of the fitted range).
    llc : estimate λ̂ (False: skip it).
    llc_options : more arguments of the LLC estimator (``num_draws``, ``gamma``, ...).
    num_rays : directions of the ray estimate.
    seed : int or numpy Generator.

    Example
    -------
    >>> rep = basin_report("x**2 + y**4", box=1.0, seed=0, num_runs=2, num_live=100)  # doctest: +SKIP
    >>> print(rep.table())                                                             # doctest: +SKIP
    """
    keys = {k: settings[k] for k in ("point", "data", "loss_fn") if k in settings}
    tgt = as_target(target, **keys)
    seeds = np.random.SeedSequence(seed_to_int(seed)).spawn(3)
    settings = {k: v for k, v in settings.items() if k not in keys}
    scaling = volume_scaling(tgt, box=box, m=m, seed=np.random.default_rng(seeds[0]), **settings)
    sigma = settings.get("sigma", 1.0)
    prior = make_prior(tgt.point, box=box, sigma=sigma)
    eig = np.linalg.eigvalsh(0.5 * (tgt.hessian() + tgt.hessian().T))
    rank, pos = hessian_rank(eig)
    ray = ray_volume(tgt, scaling.log_eps, box=box, sigma=sigma, num_rays=num_rays, fit_range=scaling.fit_range,
                     seed=np.random.default_rng(seeds[1]))
    value = se = nb = None
    notes: tuple[str, ...] = ()
    if llc:
        nb = float(nbeta) if nbeta is not None else math.exp(-scaling.fit_range[1])
        res = tgt.llc(nbeta=nb, seed=np.random.default_rng(seeds[2]), **(llc_options or {}))
        value, se, notes = float(res.mean), float(res.se), tuple(res.warnings)
    return BasinReport(scaling=scaling, llc=value, llc_se=se, nbeta=nb, rank=rank, rank_half=rank / 2,
                       half_dim=tgt.dim / 2, hessian_trace=float(eig.sum()), hessian_top=float(eig.max()),
                       hessian_logdet=float(np.log(pos).sum()), gaussian=gaussian_log_volume(eig, scaling.log_eps, prior),
                       ray=ray, llc_warnings=notes)
