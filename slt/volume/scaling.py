"""The volume of low-loss sets, measured: V(ε) = ∫_{K<ε} φ(w) dw ≈ c ε^λ (−log ε)^(m−1).

As ε → 0 the prior mass of {K < ε} scales with the learning coefficient λ and its multiplicity
m (Watanabe 2009, *Algebraic Geometry and Statistical Learning Theory*, Thm 6.1 / §2.4: the
largest pole −λ of order m of ζ(z) = ∫ K^z φ dw): the exponent is λ, not d/2, and a Hessian
sees only its regular part (rank(H)/2 ≤ λ ≤ d/2).  :func:`volume_scaling` measures V(ε) over
many decades of ε by nested sampling (:mod:`slt.volume.nested`) and fits

    log V = λ log ε + (m − 1) log(−log ε) + c

by least squares over the lower part of the range: λ alone with the log correction of a given
m, or λ and m together.  The fit without the log term (m = 1) is returned beside it: for m > 1
it is biased, since (m − 1) log(−log ε) bends the curve.

Error bars: the dead points of one run share one random walk in log X, so the levels of a curve
are strongly correlated and a least-squares error of one curve means little.  Independent runs
(``num_runs``) give the standard error of λ (and of every level of the curve) from their
spread.  Each run's own nested-sampling error (its log X sequence redrawn from the Beta(n, 1)
shrinkages, ``bootstrap`` times, and λ refitted) is a floor under it: imperfect MCMC only adds
to it, and the spread of a few runs can fall below it by chance, so the reported se is the
larger of the two (one run: the nested-sampling error alone).  A spread well above the floor
says the slice sampler did not decorrelate (raise ``num_steps``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from slt.sampling.rng import seed_to_int
from slt.volume.nested import NestedRun, nested_run
from slt.volume.priors import Prior, make_prior
from slt.volume.targets import Target, as_target

__all__ = ["VolumeSettings", "VolumeScaling", "fit_scaling", "volume_scaling", "scaling_from_runs"]

TARGET_KEYS = ("point", "data", "loss_fn")  # keywords of volume_scaling that describe the target


@dataclass(frozen=True)
class VolumeSettings:
    """Settings of :func:`volume_scaling` (every one has a default).

    num_live : N live points per run.
    num_runs : independent runs (their spread gives the standard errors; ≥ 2 for a clean se).
    batch : fraction of the live points replaced per iteration (b = batch·N, at least 1).
    num_steps : slice updates per replacement (None: max(10, 2d)).
    eps_max : top of the ε range (None: the 10% prior quantile of K).
    decades : the range goes down to eps_max · 10^(−decades).
    fit : (ε_lo, ε_hi) of the fit (None: the range less its top two decades).
    sigma : standard deviation of the Gaussian prior N(w*, σ² I) used when no box is given.
    num_grid : levels of the returned curve.
    bootstrap : redraws of each run's log X sequence for its own error.
    max_iter : iterations per run at most.
    progress : a tqdm bar over the decades of ε.
    """

    num_live: int = 400
    num_runs: int = 4
    batch: float = 0.25
    num_steps: int | None = None
    eps_max: float | None = None
    decades: float = 10.0
    fit: tuple[float, float] | None = None
    sigma: float = 1.0
    num_grid: int = 61
    bootstrap: int = 200
    max_iter: int = 100_000
    progress: bool = False

    def __post_init__(self):
        for name, low in (("num_live", 2), ("num_runs", 1), ("num_grid", 3), ("bootstrap", 2), ("max_iter", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.num_steps is not None and (not isinstance(self.num_steps, (int, np.integer)) or self.num_steps < 1):
            raise ValueError(f"num_steps must be an integer >= 1 or None, got {self.num_steps!r}")
        if not 0 < self.batch < 1:
            raise ValueError(f"batch must be a fraction in (0, 1), got {self.batch!r}")
        if not (isinstance(self.decades, (int, float)) and self.decades > 0):
            raise ValueError(f"decades must be positive, got {self.decades!r}")
        if self.eps_max is not None and not self.eps_max > 0:
            raise ValueError(f"eps_max must be positive, got {self.eps_max!r}")
        if self.fit is not None and not (len(self.fit) == 2 and 0 < self.fit[0] < self.fit[1]):
            raise ValueError(f"fit must be (eps_lo, eps_hi) with 0 < eps_lo < eps_hi, got {self.fit!r}")


@dataclass(frozen=True)
class VolumeScaling:
    """V(ε) measured by nested sampling and the fitted λ (and m).

    Attributes
    ----------
    log_eps, log_volume : (g,) the curve log V(ε), the mean over runs.
    log_volume_se : (g,) its standard error (spread over runs / √runs, at least the nested-sampling
        error √Σ 1/n² / √runs).
    log_volume_runs : (runs, g) every run's curve.
    lam, lam_se : the fitted λ (mean over runs) and its standard error (see the module doc).
    m, m_se : the m used (``m_given``) or fitted with λ (then ``m_se`` its standard error).
    lam_uncorrected, lam_uncorrected_se : λ fitted without the log term (m = 1).
    lam_se_within : the standard error of λ from each run's own nested-sampling error.
    lam_runs : (runs,) λ of every run.
    fit_range : (log ε_lo, log ε_hi) of the fit.
    exact_lam, exact_m : λ and m of the target when known.
    """

    log_eps: np.ndarray
    log_volume: np.ndarray
    log_volume_se: np.ndarray
    log_volume_runs: np.ndarray
    lam: float
    lam_se: float
    m: float
    m_se: float
    m_given: bool
    intercept: float
    lam_uncorrected: float
    lam_uncorrected_se: float
    lam_se_within: float
    lam_runs: np.ndarray
    fit_range: tuple[float, float]
    dim: int
    prior: str
    num_live: int
    evaluations: int
    seconds: float
    exact_lam: float | None = None
    exact_m: int | None = None
    warnings: tuple[str, ...] = ()
    info: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_runs(self) -> int:
        return self.log_volume_runs.shape[0]

    def refit(self, m: float | None) -> tuple[float, float, float, float]:
        """(λ, se, m, m_se) of the fit with another ``m`` (None: λ and m together) on the same runs."""
        return _fit_runs(self.log_eps, self.log_volume_runs, self.fit_range, m, None)[:4]

    def summary(self) -> str:
        exact = "" if self.exact_lam is None else f"  exact λ = {self.exact_lam:g}, m = {self.exact_m}"
        m = f"m = {self.m:g} (given)" if self.m_given else f"m = {self.m:.3f} ± {self.m_se:.3f} (fitted)"
        return (f"λ = {self.lam:.4f} ± {self.lam_se:.4f}, {m}; without the log term λ = "
                f"{self.lam_uncorrected:.4f} ± {self.lam_uncorrected_se:.4f}{exact}\n"
                f"d = {self.dim}, prior {self.prior}, {self.num_runs} runs × {self.num_live} live points, "
                f"{self.evaluations} evaluations, {self.seconds:.1f} s"
                + "".join(f"\nwarning: {w}" for w in self.warnings))


def fit_scaling(log_eps: np.ndarray, log_volume: np.ndarray, *, m: float | None = None) -> tuple[float, float, float]:
    """Least-squares fit of log V = λ log ε + (m − 1) log(−log ε) + c: returns (λ, m, c).

    ``m`` given: only λ and c are fitted (m = 1: no log term); None: λ, m and c.  The log term
    needs ε < 1 (rescale K otherwise).

    Example
    -------
    >>> L = np.linspace(5, 30, 20)
    >>> lam, m, c = fit_scaling(-L, -0.5 * L + np.log(L))   # V = ε^(1/2) (−log ε)
    >>> round(lam, 6), round(m, 6)
    (0.5, 2.0)
    """
    x = np.asarray(log_eps, dtype=float)
    y = np.asarray(log_volume, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3:
        raise ValueError(f"need at least 3 finite points to fit, got {x.size}")
    logs = m is None or m != 1
    if logs and np.any(x >= 0):
        raise ValueError(f"the log correction needs ε < 1; the largest level is ε = {math.exp(x.max()):g}")
    ll = np.log(-x) if logs else np.zeros_like(x)
    if m is None:
        A = np.column_stack([x, ll, np.ones_like(x)])
        lam, mm1, c = np.linalg.lstsq(A, y, rcond=None)[0]
        return float(lam), float(mm1 + 1), float(c)
    A = np.column_stack([x, np.ones_like(x)])
    lam, c = np.linalg.lstsq(A, y - (m - 1) * ll, rcond=None)[0]
    return float(lam), float(m), float(c)


def _fit_runs(log_eps, curves, fit_range, m, draws):
    """(λ, se, m, m_se, λ per run, within-run se) of the fit on every run's curve."""
    sel = (log_eps >= fit_range[0] - 1e-12) & (log_eps <= fit_range[1] + 1e-12)
    fits = np.array([fit_scaling(log_eps[sel], c[sel], m=m) for c in curves])
    lam, mm = fits[:, 0], fits[:, 1]
    runs = curves.shape[0]
    within = (math.nan, math.nan)
    if draws is not None:  # per run: (bootstrap, g) curves from redrawn log X sequences
        var = np.mean([np.var([fit_scaling(log_eps[sel], c[sel], m=m)[:2] for c in d], axis=0, ddof=1)
                       for d in draws], axis=0)
        within = tuple(math.sqrt(float(v) / runs) for v in var)
    se, m_se = within
    if runs > 1:  # the spread over runs, never below the runs' own nested-sampling error
        se, m_se = (float(np.nanmax([v.std(ddof=1) / math.sqrt(runs), w])) for v, w in zip((lam, mm), within))
    return float(lam.mean()), se, float(mm.mean()), m_se if m is None else 0.0, lam, within[0]


def _run_all(target: Target, prior: Prior, s: VolumeSettings, eps_min: float, eps_max: float, seeds) -> list[NestedRun]:
    from tqdm.auto import tqdm

    d = target.dim
    steps = s.num_steps if s.num_steps is not None else max(10, 2 * d)
    batch = max(1, min(s.num_live - 1, int(round(s.batch * s.num_live))))
    total = s.num_runs * s.decades
    bar = tqdm(total=round(total, 2), desc="volume", unit="decade", disable=not s.progress)
    runs = []
    for r, seq in enumerate(seeds):
        def progress(level, r=r):
            done = min(s.decades, max(0.0, math.log10(eps_max / level))) if level > 0 else s.decades
            bar.n = round(r * s.decades + done, 2)
            bar.refresh()

        runs.append(nested_run(target.loss, prior, num_live=s.num_live, batch=batch, num_steps=steps,
                               eps_min=eps_min, rng=np.random.default_rng(seq), max_iter=s.max_iter,
                               progress=progress if s.progress else None))
    bar.close()
    return runs


def _default_eps_max(target: Target, prior: Prior, s: VolumeSettings, seq) -> float:
    """The 10% quantile of K under the prior (10·N draws)."""
    rng = np.random.default_rng(seq)
    k = target.loss(prior.sample(rng, 10 * s.num_live))
    q = float(np.quantile(k, 0.1))
    if not q > 0:
        raise ValueError(f"K is ≤ 0 on 10% of the prior around w* (quantile {q:g}): w* is not a strict "
                         f"minimum of K at this prior's scale; give eps_max")
    return q


def volume_scaling(target: Any, *, box=None, m: float | None = None, seed: int | np.random.Generator | None = None,
                   **settings) -> VolumeScaling:
    """Measure V(ε) = φ{K < ε} by nested sampling and fit log V = λ log ε + (m − 1) log(−log ε) + c.

    Parameters
    ----------
    target : a potential (or formula, library name), a toy model (its population loss K), or a
        torch module with ``data=(X, y)`` and ``loss_fn=`` (K = L − L(w*)); see
        :func:`slt.volume.targets.as_target`.  ``point=`` sets w*.
    box : prior uniform on a box around w* (a half-width, (lo, hi) or a (d, 2) array); None: the
        Gaussian N(w*, σ² I) with ``sigma`` (default 1).  A potential's ``prior_exponents`` h make
        the box prior ∝ ∏|w_j − w*_j|^h_j.
    m : the multiplicity; given, only λ is fitted with the (m − 1) log(−log ε) term; None: λ and
        m are fitted together.
    seed : int or numpy Generator (runs get independent streams from it).
    settings : the fields of :class:`VolumeSettings`.

    Returns
    -------
    VolumeScaling

    Raises
    ------
    ValueError
        Naming an unknown setting or a bad value.

    Example
    -------
    >>> res = volume_scaling("x**2 + y**4", box=1.0, seed=0, num_runs=2, num_live=100)  # doctest: +SKIP
    >>> abs(res.lam - 0.75) < 4 * res.lam_se + 0.02                                        # doctest: +SKIP
    True
    """
    keys = {k: settings.pop(k) for k in TARGET_KEYS if k in settings}
    names = {f.name for f in fields(VolumeSettings)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; the settings are {sorted(names)}")
    s = VolumeSettings(**settings)
    if m is not None and not (isinstance(m, (int, float)) and m >= 1):
        raise ValueError(f"m must be a number >= 1 or None, got {m!r}")
    tgt = as_target(target, **keys)
    prior = make_prior(tgt.point, box=box, sigma=s.sigma,
                       exponents=tgt.prior_exponents if box is not None else None)
    seqs = np.random.SeedSequence(seed_to_int(seed)).spawn(s.num_runs + 2)
    eps_max = s.eps_max if s.eps_max is not None else _default_eps_max(tgt, prior, s, seqs[0])
    eps_min = eps_max * 10.0 ** (-s.decades)
    runs = _run_all(tgt, prior, s, eps_min, eps_max, seqs[2:])
    log_eps = np.linspace(math.log(eps_min), math.log(eps_max), s.num_grid)
    return scaling_from_runs(runs, log_eps, s, m=m, target=tgt, prior=prior, rng=np.random.default_rng(seqs[1]))


def scaling_from_runs(runs: list[NestedRun], log_eps: np.ndarray, s: VolumeSettings, *, m: float | None,
                      target: Target, prior: Prior, rng: np.random.Generator) -> VolumeScaling:
    """Assemble a :class:`VolumeScaling` from finished runs (curves on ``log_eps``, fits, warnings)."""
    warnings = []
    lo_reached = max(float(r.log_k[-1]) for r in runs)
    if lo_reached > log_eps[0] + 1e-9:
        warnings.append(f"a run stopped at ε = {math.exp(lo_reached):.3g} above the range's bottom "
                        f"{math.exp(log_eps[0]):.3g} (max_iter = {s.max_iter}); the curve is cut there")
        log_eps = log_eps[log_eps >= lo_reached]
    curves = np.array([r.log_volume(log_eps) for r in runs])
    if s.fit is not None:
        fit_range = (math.log(s.fit[0]), math.log(s.fit[1]))
    else:
        fit_range = (float(log_eps[0]), float(log_eps[-1]) - 2 * math.log(10))
    if np.count_nonzero((log_eps >= fit_range[0]) & (log_eps <= fit_range[1])) < 3:
        raise ValueError(f"the fit range ε in [{math.exp(fit_range[0]):.3g}, {math.exp(fit_range[1]):.3g}] holds "
                         f"fewer than 3 levels of the curve (ε from {math.exp(log_eps[0]):.3g} to "
                         f"{math.exp(log_eps[-1]):.3g})")
    draws = [np.array([r.log_volume(log_eps, lx) for lx in r.log_x_draws(rng, s.bootstrap)]) for r in runs]
    lam, se, mm, m_se, lam_runs, within = _fit_runs(log_eps, curves, fit_range, m, draws)
    lam1, se1 = _fit_runs(log_eps, curves, fit_range, 1, draws if len(runs) == 1 else None)[:2]
    c = fit_scaling(log_eps, curves.mean(axis=0), m=mm if m is None else m)[2]
    curve_se = np.sqrt(np.mean([np.var(d, axis=0, ddof=1) for d in draws], axis=0) / len(runs))
    if len(runs) > 1:
        curve_se = np.maximum(curve_se, curves.std(axis=0, ddof=1) / math.sqrt(len(runs)))
    if len(runs) >= 4 and se > 2.5 * within:
        warnings.append(f"the runs' λ spread (se {se:.3g}) exceeds their nested-sampling error ({within:.3g}): "
                        f"the slice sampler may not decorrelate; raise num_steps")
    moved = float(np.mean([r.moved for r in runs]))
    if moved < 0.95:
        warnings.append(f"only {moved:.0%} of the slice updates moved (shrinkage gave up): K may be too rough")
    return VolumeScaling(
        log_eps=log_eps, log_volume=curves.mean(axis=0), log_volume_se=curve_se, log_volume_runs=curves,
        lam=lam, lam_se=se, m=mm, m_se=m_se, m_given=m is not None, intercept=c, lam_uncorrected=lam1,
        lam_uncorrected_se=se1, lam_se_within=within, lam_runs=lam_runs, fit_range=fit_range, dim=target.dim,
        prior=prior.describe(), num_live=s.num_live, evaluations=int(sum(r.evaluations for r in runs)),
        seconds=float(sum(r.seconds for r in runs)), exact_lam=target.lam, exact_m=target.m,
        warnings=tuple(warnings), info={"moved": moved, "iterations": [int(r.log_k.size) for r in runs]},
    )
