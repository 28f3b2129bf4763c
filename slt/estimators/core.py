"""The estimator's pure-array formulas: λ̂ and its diagnostics, Richardson, ν̂, WBIC and TI.

Everything here takes numpy arrays of losses, whichever backend produced them.

References
----------
Lau, Furman, Wang, Murfet & Wei (2023), *The local learning coefficient*, arXiv:2308.12108.
Watanabe (2013), *A widely applicable Bayesian information criterion*, JMLR 14.
Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*, CUP, §6.3 (equations
of states: singular fluctuation); Watanabe (2010), *Asymptotic equivalence of Bayes cross
validation and widely applicable information criterion*, JMLR 11 (functional variance).
Gelman & Meng (1998), *Simulating normalizing constants*, Stat. Sci. 13 (thermodynamic
integration).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from slt import diagnostics
from slt.errors import warn
from slt.estimators.config import MIN_DRAWS, LLCConfig
from slt.estimators.results import Fluctuation, LLCResult

__all__ = [
    "LLCConfig",
    "LLCResult",
    "Fluctuation",
    "singular_fluctuation",
    "fluctuation_subset",
    "llc_from_traces",
    "fine_config",
    "richardson_extrapolate",
    "wbic_from_losses",
    "ti_from_means",
    "default_nbeta",
    "MIN_DRAWS",
]

FLUCTUATION_POINTS = 1024  # samples whose per-draw losses give the singular fluctuation ν̂
FLUCTUATION_DRAWS = 200  # draws per chain at most at which they are evaluated (evenly spread)


def default_nbeta(n: int) -> float:
    """nβ = n / log n, i.e. β = 1/log n, the WBIC temperature (Watanabe 2013)."""
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 for nbeta = n/log n, got {n!r}")
    return float(n) / math.log(n)


def fluctuation_subset(size: int, count: int) -> np.ndarray:
    """``min(count, size)`` distinct indices evenly spread over range(size) (no randomness: the
    samplers' streams stay untouched, and a sorted data set is still covered end to end)."""
    return np.unique(np.linspace(0, size - 1, min(count, size)).round().astype(np.int64))


def singular_fluctuation(sums: np.ndarray, squares: np.ndarray, count: int, *, n: int, beta: float) -> Fluctuation:
    """ν̂ = (β/2) Σ_i Var_w[ℓ_i(w)] from per-chain sums of per-sample losses over the draws.

    Parameters
    ----------
    sums, squares : (chains, m) Σ_k d_ik and Σ_k d_ik² over ``count`` draws of every chain, with
        d_ik = ℓ_i(w_k) − ℓ_i(w*) the per-sample loss (negative log-likelihood) of sample i at
        draw k, shifted for accuracy; m of the n samples (an evenly spread subset).
    count : draws per chain in the sums (≥ 2).
    n : samples in the data set; V_n is the subset's sum times n/m.
    beta : β = nβ/n.

    The posterior variance of every sample's loss pools all chains; the se combines the spread
    of the chains' own estimates (/√C) with the subsample's sampling error (finite-population
    corrected), both scaled by β/2.
    """
    s1, s2 = np.asarray(sums, dtype=float), np.asarray(squares, dtype=float)
    if s1.ndim != 2 or s1.shape != s2.shape:
        raise ValueError(f"sums and squares must be (chains, m) arrays of one shape, got {s1.shape} and {s2.shape}")
    if int(count) < 2:
        raise ValueError(f"count={count!r}: the variance needs at least 2 draws per chain")
    chains, m = s1.shape
    if not 1 <= m <= n:
        raise ValueError(f"{m} samples in the sums but n={n}")
    total = chains * count
    pooled = (s2.sum(axis=0) - s1.sum(axis=0) ** 2 / total) / (total - 1)
    scale = 0.5 * beta * n / m
    nu = scale * float(pooled.sum())
    per_chain = scale * ((s2 - s1**2 / count) / (count - 1)).sum(axis=1)
    var_chains = per_chain.var(ddof=1) / chains if chains > 1 else 0.0
    var_subset = (0.5 * beta * n) ** 2 * pooled.var(ddof=1) / m * (1 - m / n) if m > 1 else 0.0
    return Fluctuation(nu=nu, se=math.sqrt(var_chains + var_subset), beta=float(beta), points=int(m), n=int(n))


def _emit(messages: Sequence[str]) -> None:
    for msg in messages:
        warn(msg)


def llc_from_traces(loss_traces: np.ndarray, init_loss: float, config: LLCConfig, *,
                    acceptance: float | None = None, exact: float | None = None,
                    extra_warnings: Sequence[str] = (), info: dict | None = None,
                    distance_traces: np.ndarray | None = None, fluctuation: Fluctuation | None = None) -> LLCResult:
    """λ̂ from recorded losses: per chain nβ (mean_draws L − L(w*)), then mean over chains.

    λ̂(w*) = nβ (E_{w|w*,β,γ}[L(w)] − L(w*)) (Lau et al. 2023, Def. 3).  The standard error
    uses the ESS of all chains together (ArviZ, "mean" method).  Diagnostic warnings
    (negative estimate, Geweke trend of the losses or distances, R-hat > 1.01, ESS < 100) plus
    ``extra_warnings`` are emitted once as :class:`slt.errors.SLTWarning` and stored.

    Parameters
    ----------
    loss_traces : (chains, draws) losses after burn-in (at least :data:`MIN_DRAWS` draws).
    init_loss : L(w*).
    config : the hyperparameters used.
    acceptance, exact : stored as is (see :class:`LLCResult`).
    extra_warnings : messages from the caller (e.g. an improper posterior).
    distance_traces : optional (chains, draws) ‖w − w*‖² at the same draws, given to the
        trend test (:func:`slt.diagnostics.trace_warnings`).
    fluctuation : stored as is (see :class:`LLCResult`).

    Examples
    --------
    >>> cfg = LLCConfig(nbeta=10.0, gamma=0.0, step_size=1e-3, num_chains=4, num_draws=200,
    ...                 num_burnin=0, thin=1, sampler="sgld", seed=0)
    >>> losses = np.tile([1.1, 1.2], (4, 100))  # 4 chains of 200 draws, mean loss 1.15
    >>> res = llc_from_traces(losses, 1.0, cfg)  # L(w*) = 1: λ̂ = nβ (1.15 − 1)
    >>> round(res.mean, 6), res.warnings  # 800 draws: no diagnostic complains
    (1.5, ())
    """
    traces = np.asarray(loss_traces, dtype=float)
    if traces.ndim != 2:
        raise ValueError(f"loss_traces must be a (chains, draws) array, got shape {traces.shape}")
    if traces.shape[1] < MIN_DRAWS:
        raise ValueError(f"{traces.shape[1]} draws per chain are too few for the diagnostics (split R-hat, ESS, "
                         f"trend test): raise num_draws to at least {MIN_DRAWS} (hundreds for a usable se)")
    if not np.all(np.isfinite(traces)):
        raise ValueError("loss_traces contain NaN or inf")
    init_loss = float(init_loss)
    if not math.isfinite(init_loss):
        raise ValueError(f"init_loss must be finite, got {init_loss!r}")
    nb = config.nbeta
    per_chain = nb * (traces.mean(axis=1) - init_loss)
    mean = float(per_chain.mean())
    std = float(per_chain.std(ddof=1)) if per_chain.size > 1 else 0.0
    se = nb * diagnostics.mcse_mean(traces)
    r = diagnostics.rhat(traces)
    e = diagnostics.ess(traces)
    msgs = tuple(extra_warnings) + diagnostics.trace_warnings(
        traces, estimate=mean, rhat_value=r, ess_value=e, num_burnin=config.num_burnin, thin=config.thin,
        distance_traces=None if distance_traces is None else np.asarray(distance_traces, dtype=float))
    _emit(msgs)
    return LLCResult(mean=mean, std=std, se=float(se), per_chain=per_chain, loss_traces=traces,
                     init_loss=init_loss, config=config, rhat=r, ess=e,
                     acceptance=None if acceptance is None else float(acceptance),
                     exact=None if exact is None else float(exact), warnings=msgs, info=dict(info or {}),
                     fluctuation=fluctuation)


def fine_config(config: LLCConfig) -> LLCConfig:
    """The ε/2 run of :func:`richardson_extrapolate`: same time span (twice the burn-in steps and
    the thinning), next seed (an independent run)."""
    return replace(config, step_size=config.step_size / 2, num_burnin=2 * config.num_burnin, thin=2 * config.thin,
                   seed=None if config.seed is None else config.seed + 1)


def richardson_extrapolate(fine: LLCResult, coarse_traces: np.ndarray, config: LLCConfig) -> LLCResult:
    """SGLD's estimate with its O(ε) bias removed: 2 λ̂(ε/2) − λ̂(ε), chain by chain.

    SGLD is a first-order weak scheme, so its stationary mean of L is off by c·ε + O(ε²)
    (Talay & Tubaro 1990); ``fine`` is the result at ε/2, ``coarse_traces`` (chains, draws)
    the losses of an independent run at ε (``config``, whose step is ε, is stored).  The
    traces, R-hat, ESS and acceptance stay those of the fine run; ``info`` gets both plain
    estimates (``sgld_fine``, ``sgld_coarse`` and their se).  se = √(4 se_fine² + se_coarse²).
    """
    coarse_traces = np.asarray(coarse_traces, dtype=float)
    nb = config.nbeta
    c_per_chain = nb * (coarse_traces.mean(axis=1) - fine.init_loss)
    c_se = nb * diagnostics.mcse_mean(coarse_traces)
    per_chain = 2 * fine.per_chain - c_per_chain
    info = {**fine.info, "sgld_fine": fine.mean, "sgld_fine_se": fine.se,
            "sgld_coarse": float(c_per_chain.mean()), "sgld_coarse_se": float(c_se)}
    return replace(fine, config=config, mean=float(per_chain.mean()),
                   std=float(per_chain.std(ddof=1)) if per_chain.size > 1 else 0.0,
                   se=float(math.hypot(2 * fine.se, c_se)), per_chain=per_chain, info=info)


def wbic_from_losses(loss_traces: np.ndarray, n: float) -> tuple[float, float]:
    """WBIC = E_{β=1/log n}[n L_n(w)] from losses sampled at β = 1/log n (Watanabe 2013).

    Returns ``(wbic, se)`` with se = n · MCSE of the mean loss (ESS of all chains).
    """
    traces = np.asarray(loss_traces, dtype=float)
    if traces.ndim == 1:
        traces = traces[None, :]
    if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) or not math.isfinite(n) or n <= 1:
        raise ValueError(f"n must be a finite number > 1, got {n!r}")
    return float(n * traces.mean()), float(n * diagnostics.mcse_mean(traces))


def ti_from_means(betas: np.ndarray, mean_nL: np.ndarray, se: np.ndarray | None = None) -> tuple[float, float]:
    """Thermodynamic integration F_n = ∫₀¹ E_β[n L_n] dβ from means on a β grid.

    With a normalised prior, d/dβ (−log Z(β)) = E_β[n L_n], Z(0) = 1, so F_n = −log Z(1) is
    the integral (Gelman & Meng 1998).  E_β[n L_n] ≈ n L_n(w₀) + λ/β varies over decades of
    β, so over the positive grid points it is interpolated by a cubic spline in u = log β
    and ∫ S(u) e^u du is integrated exactly enough (Simpson on a fine grid); the first
    interval [0, β₁] (β₁ should be ≪ 1/n, where the integrand is flat) uses the trapezoid
    rule in β (the value at β₁ alone if 0 is not in the grid).

    Parameters
    ----------
    betas : increasing grid in [0, 1] ending at 1.
    mean_nL : E_β[n L_n] at those β.
    se : optional standard errors of ``mean_nL`` (independent runs), propagated linearly.

    Returns
    -------
    (F_n, se of F_n)
    """
    b = np.asarray(betas, dtype=float)
    f = np.asarray(mean_nL, dtype=float)
    s = np.zeros_like(f) if se is None else np.asarray(se, dtype=float)
    if b.ndim != 1 or b.shape != f.shape or s.shape != f.shape or b.size < 2:
        raise ValueError(f"betas, mean_nL (and se) must be 1-D of equal length >= 2, got {b.shape}, {f.shape}, {s.shape}")
    if np.any(np.diff(b) <= 0) or b[0] < 0 or not math.isclose(b[-1], 1.0):
        raise ValueError(f"betas must increase from >= 0 to 1, got {b.tolist()}")
    if not np.all(np.isfinite(f)):
        raise ValueError("mean_nL contains NaN or inf")
    pos = b > 0
    w = np.zeros_like(b)
    if b[0] == 0.0:  # [0, β₁]: trapezoid in β
        w[:2] += 0.5 * b[1]
    else:  # integrand taken flat on [0, β₁]
        w[0] += b[0]
    w[pos] += _log_spline_weights(b[pos])
    value = float(np.dot(w, f))
    err = float(math.sqrt(np.dot(w**2, s**2)))
    return value, err


def _log_spline_weights(bp: np.ndarray, sub: int = 32) -> np.ndarray:
    """Weights w with Σ w_i f_i = ∫_{β₁}^{β_k} S(log β) dβ, S the cubic spline of f in log β.

    The spline is linear in the data, so the weights are the integrals of its cardinal
    functions (computed once per grid by Simpson's rule on ``sub`` points per interval).
    """
    if bp.size == 1:
        return np.zeros(1)
    from scipy.integrate import simpson
    from scipy.interpolate import CubicSpline

    u = np.log(bp)
    fine = np.concatenate([np.linspace(u[i], u[i + 1], sub + 1)[:-1] for i in range(u.size - 1)] + [u[-1:]])
    if bp.size < 4:  # too few points for a cubic: piecewise linear in log β
        basis = np.stack([np.interp(fine, u, e) for e in np.eye(u.size)], axis=1)
    else:
        basis = CubicSpline(u, np.eye(u.size))(fine)
    return simpson(basis * np.exp(fine)[:, None], x=fine, axis=0)
