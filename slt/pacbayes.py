"""PAC-Bayes bounds, and the KL of a tempered posterior to its prior from the free energy.

Bounds on the risk e_Q = E_{w~Q}[e(w)] of a "posterior" Q from its empirical risk ê_Q on n
i.i.d. points, the KL divergence KL(Q‖P) to a data-free prior P and a confidence 1 − δ:

- Maurer–Seeger (kl):  kl(ê_Q ‖ e_Q) ≤ (KL + log(2√n/δ)) / n   (Seeger 2002; Maurer 2004),
  inverted by :func:`kl_inverse` (:func:`seeger_bound`);
- McAllester (1999):   e_Q ≤ ê_Q + sqrt((KL + log(2√n/δ)) / (2n))  (:func:`mcallester_bound`);
- Catoni (2007, Thm 1.2.6), for a fixed C > 0:
  e_Q ≤ (1 − exp(−C ê_Q − (KL + log(1/δ))/n)) / (1 − exp(−C))  (:func:`catoni_bound`);
- Thiemann, Igel, Wintenberger & Seldin (2017), for all λ ∈ (0, 2) at once:
  e_Q ≤ ê_Q/(1 − λ/2) + (KL + log(2√n/δ)) / (n λ (1 − λ/2))  (:func:`lambda_bound`);
- Dziugaite & Roy (2017): a union bound over the prior variances c·exp(−j/b), j = 1, 2, …,
  spending δ_j = 6δ/(π² j²) on the j-th (:class:`PriorGrid`, :func:`dziugaite_roy_bound`);
- Langford & Caruana (2001): ê_Q itself is estimated from m networks drawn from Q, and
  kl(ê_m ‖ ê_Q) ≤ log(2/δ')/m bounds it (:func:`mc_risk_bound`); :func:`certificate` chains the
  two (confidence 1 − δ − δ').

The singular-learning-theory side (docs/theory.md): for the tempered posterior
Q_β ∝ exp(−nβ L) φ,  KL(Q_β‖φ) = −nβ E_Q[L] − log Z_β = F(nβ) − E_{Q_β}[nβ L] with
F(nβ) = −log Z_β the free energy, so KL = λ log(nβ) − λ − (m−1) log log(nβ) + O(1) grows like
λ log n, not like half the parameter count (:func:`tempered_kl`, :func:`exact_tempered_kl`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = [
    "bernoulli_kl", "kl_inverse", "gaussian_kl", "gaussian_kl_full", "mcallester_bound", "seeger_bound",
    "catoni_bound", "lambda_bound", "optimal_lambda", "PriorGrid", "dziugaite_roy_bound", "mc_risk_bound",
    "Certificate", "certificate", "fit_diagonal_gaussian", "pushforward_kl", "TemperedKL", "tempered_kl", "exact_tempered_kl",
    "gaussian_abs_moment",
]


def _check_prob(name: str, value: float) -> float:
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v


def _check_count(name: str, value: Any, minimum: int = 1) -> int:
    """An integer-valued count ≥ ``minimum`` (1000 and 1e3 pass; 1000.5, nan and True do not)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and v == math.floor(v) and v >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(v)


def _check_finite(**arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            bad = a[~np.isfinite(a)].ravel()[0]
            raise ValueError(f"{name} must be finite, got an entry {float(bad)!r}")


def _check_n_delta(kl: float, n: float, delta: float) -> tuple[float, float, float]:
    kl, n, delta = float(kl), float(_check_count("n", n)), float(delta)
    if not (math.isfinite(kl) and kl >= -1e-12):
        raise ValueError(f"kl must be a finite number >= 0, got {kl!r}")
    if not (0.0 < delta < 1.0):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    return max(kl, 0.0), n, delta


def _x_minus_log1p(x: float) -> float:
    """g(x) = x − log(1 + x) ≥ 0 for |x| ≤ 1/2, to a few ulp (no cancellation near x = 0).

    With s = x/(2 + x), so that log(1 + x) = 2 atanh s and x = 2s/(1 − s):
    g = 2s²/(1 − s) − 2 Σ_{k≥1} s^(2k+1)/(2k + 1), a series in s² with |s| ≤ 1/3.
    """
    s = x / (2.0 + x)
    s2, term, tail, k = s * s, s, 0.0, 1
    while True:
        term *= s2
        add = term / (2 * k + 1)
        tail += add
        if abs(add) <= 1e-17 * abs(tail):
            break
        k += 1
    return max(2.0 * s2 / (1.0 - s) - 2.0 * tail, 0.0)


def bernoulli_kl(q: float, p: float) -> float:
    """kl(q‖p) = q log(q/p) + (1 − q) log((1 − q)/(1 − p)), with 0 log 0 = 0 (inf if p ∈ {0, 1} ≠ q).

    Near p = q the two terms cancel to kl ≈ t²/(2q(1 − q)), t = p − q; there it is computed as
    q g(t/q) + (1 − q) g(−t/(1 − q)), g(x) = x − log(1 + x) ≥ 0, two non-negative parts, so
    it keeps its relative precision however small t is.

    >>> round(bernoulli_kl(0.1, 0.3), 6)
    0.116322
    """
    q, p = _check_prob("q", q), _check_prob("p", p)
    if p == q:
        return 0.0
    if (p == 0.0 and q > 0.0) or (p == 1.0 and q < 1.0):
        return math.inf
    if q == 0.0:
        return -math.log1p(-p)
    if q == 1.0:
        return -math.log(p)
    t = p - q
    if abs(t) <= 0.5 * min(q, 1.0 - q):
        return q * _x_minus_log1p(t / q) + (1.0 - q) * _x_minus_log1p(-t / (1.0 - q))
    return max(q * _log_ratio(q, p, -t / p) + (1.0 - q) * _log_ratio(1.0 - q, 1.0 - p, t / (1.0 - p)), 0.0)


def _log_ratio(a: float, b: float, x: float) -> float:
    """log(a/b) for a, b > 0 given x = a/b − 1 computed from a difference (log1p(x) unless x is near −1)."""
    if x >= -0.5:
        return math.log1p(x)
    r = a / b
    return math.log(r) if 0.0 < r < math.inf else math.log(a) - math.log(b)


def kl_inverse(q: float, c: float, *, upper: bool = True) -> float:
    """The largest (``upper``) or smallest p ∈ [0, 1] with kl(q‖p) ≤ c.

    Closed forms at the edges (q = 0 upper: 1 − e^(−c); q = 1 lower: e^(−c)); otherwise
    bisection on p to adjacent floating-point numbers (kl(q‖·) is monotone on each side of q)
    with the cancellation-free :func:`bernoulli_kl`, so the result is exact to about 1e-15
    absolute even for tiny c, where p − q ≈ sqrt(2 q (1 − q) c).  Reference: Langford & Caruana (2001);
    Seeger (2002).

    Parameters
    ----------
    q : empirical risk in [0, 1].
    c : right-hand side ≥ 0 (may be large or inf: then 1, or 0 for the lower inverse).
    upper : the upper inverse (a bound on the true risk) or the lower one.

    >>> round(kl_inverse(0.1, 0.05), 6)
    0.220079
    >>> kl_inverse(0.0, math.log(2))
    0.5
    """
    q = _check_prob("q", q)
    c = float(c)
    if math.isnan(c) or c < 0:
        raise ValueError(f"c must be a number >= 0, got {c!r}")
    if c == 0.0:
        return q
    if upper:
        if q == 1.0 or math.isinf(c):
            return 1.0
        if q == 0.0:
            return -math.expm1(-c)
        lo, hi = q, 1.0
    else:
        if q == 0.0 or math.isinf(c):
            return 0.0
        if q == 1.0:
            return math.exp(-c)
        lo, hi = 0.0, q
    # invariant: kl(q‖inner) ≤ c < kl(q‖outer); ``inner`` is the end at q
    inner, outer = (lo, hi) if upper else (hi, lo)
    for _ in range(2000):
        mid = 0.5 * (inner + outer)
        if mid == inner or mid == outer:
            break
        if bernoulli_kl(q, mid) <= c:
            inner = mid
        else:
            outer = mid
    return inner


def gaussian_kl(mu_q: Any, var_q: Any, mu_p: Any, var_p: Any) -> float:
    """KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²)), summed over coordinates (broadcasting).

    KL = ½ Σ_i [σ_q²/σ_p² + (μ_q − μ_p)²/σ_p² − 1 + log(σ_p²/σ_q²)].

    >>> gaussian_kl(0.0, 1.0, 0.0, 1.0)
    0.0
    >>> round(gaussian_kl([1.0, 0.0], 1.0, 0.0, 2.0), 6)
    0.443147
    """
    mq, vq, mp, vp = (np.asarray(a, dtype=float) for a in (mu_q, var_q, mu_p, var_p))
    _check_finite(mu_q=mq, mu_p=mp)
    for name, v in (("var_q", vq), ("var_p", vp)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name} must be finite and > 0, got min {float(np.min(v))!r}")
    mq, vq, mp, vp = np.broadcast_arrays(mq, vq, mp, vp)
    r = vq / vp
    return float(0.5 * np.sum(r + (mq - mp) ** 2 / vp - 1.0 - np.log(r)))


def gaussian_kl_full(mu_q: Any, cov_q: Any, mu_p: Any, cov_p: Any) -> float:
    """KL(N(μ_q, Σ_q) ‖ N(μ_p, Σ_p)) for full covariances (Cholesky factors, no inverses).

    KL = ½ [tr(Σ_p⁻¹ Σ_q) + (μ_p − μ_q)ᵀ Σ_p⁻¹ (μ_p − μ_q) − k + log det Σ_p − log det Σ_q].

    >>> round(gaussian_kl_full([0, 0], [[2, 0], [0, 2]], [0, 0], np.eye(2)), 6)
    0.306853
    """
    mq, mp = np.atleast_1d(np.asarray(mu_q, dtype=float)), np.atleast_1d(np.asarray(mu_p, dtype=float))
    k = mq.size
    sq, sp = (np.asarray(s, dtype=float).reshape(k, k) for s in (cov_q, cov_p))
    if mp.shape != mq.shape:
        raise ValueError(f"mu_p has shape {mp.shape}, mu_q {mq.shape}")
    _check_finite(mu_q=mq, mu_p=mp, cov_q=sq, cov_p=sp)
    for name, cov in (("cov_q", sq), ("cov_p", sp)):
        gap = float(np.max(np.abs(cov - cov.T)))
        if gap > 1e-12 * float(np.max(np.abs(cov))):
            raise ValueError(f"{name} is not symmetric: |Σ − Σᵀ| reaches {gap:.3g}")
    try:
        lq, lp = np.linalg.cholesky(sq), np.linalg.cholesky(sp)
    except np.linalg.LinAlgError:
        raise ValueError("cov_q and cov_p must be symmetric positive definite") from None
    from scipy.linalg import solve_triangular

    a = solve_triangular(lp, lq, lower=True)  # Lp⁻¹ Lq: tr(Σp⁻¹Σq) = ‖a‖_F²
    b = solve_triangular(lp, mp - mq, lower=True)
    logdet = 2.0 * (np.sum(np.log(np.diag(lp))) - np.sum(np.log(np.diag(lq))))
    return float(max(0.5 * (np.sum(a * a) + b @ b - k + logdet), 0.0))


def mcallester_bound(emp_risk: float, kl: float, n: float, delta: float) -> float:
    """McAllester (1999) in Maurer's constant: ê + sqrt((KL + log(2√n/δ)) / (2n)) (may exceed 1).

    >>> round(mcallester_bound(0.1, 5.0, 1000, 0.05), 6)
    0.177919
    """
    r = _check_prob("emp_risk", emp_risk)
    kl, n, delta = _check_n_delta(kl, n, delta)
    return r + math.sqrt((kl + math.log(2.0 * math.sqrt(n) / delta)) / (2.0 * n))


def seeger_bound(emp_risk: float, kl: float, n: float, delta: float) -> float:
    """Maurer–Seeger bound kl⁻¹(ê, (KL + log(2√n/δ)) / n) (Seeger 2002; Maurer 2004).

    >>> round(seeger_bound(0.1, 5.0, 1000, 0.05), 6)
    0.15311
    """
    r = _check_prob("emp_risk", emp_risk)
    kl, n, delta = _check_n_delta(kl, n, delta)
    return kl_inverse(r, (kl + math.log(2.0 * math.sqrt(n) / delta)) / n)


def catoni_bound(emp_risk: float, kl: float, n: float, delta: float, *, C: float) -> float:
    """Catoni (2007, Thm 1.2.6) at a fixed C > 0: (1 − exp(−C ê − (KL + log(1/δ))/n)) / (1 − e^(−C)).

    C must be chosen before seeing the data (or paid for by a union bound over a grid).

    >>> round(catoni_bound(0.1, 5.0, 1000, 0.05, C=1.0), 6)
    0.161945
    """
    r = _check_prob("emp_risk", emp_risk)
    kl, n, delta = _check_n_delta(kl, n, delta)
    if not (math.isfinite(C) and C > 0):
        raise ValueError(f"C must be a finite number > 0, got {C!r}")
    return -math.expm1(-C * r - (kl + math.log(1.0 / delta)) / n) / -math.expm1(-C)


def optimal_lambda(emp_risk: float, kl: float, n: float, delta: float) -> float:
    """The λ ∈ (0, 2) minimising :func:`lambda_bound`: 2 / (sqrt(2 n ê / (KL + log(2√n/δ)) + 1) + 1)."""
    r = _check_prob("emp_risk", emp_risk)
    kl, n, delta = _check_n_delta(kl, n, delta)
    return 2.0 / (math.sqrt(2.0 * n * r / (kl + math.log(2.0 * math.sqrt(n) / delta)) + 1.0) + 1.0)


def lambda_bound(emp_risk: float, kl: float, n: float, delta: float, *, lam: float | None = None) -> float:
    """Thiemann et al. (2017): ê/(1 − λ/2) + (KL + log(2√n/δ)) / (n λ (1 − λ/2)), λ ∈ (0, 2).

    It holds for all λ at once (a relaxation of the kl bound), so ``lam=None`` uses
    :func:`optimal_lambda` at no cost.

    >>> round(lambda_bound(0.1, 5.0, 1000, 0.05, lam=1.0), 6)
    0.224286
    """
    r = _check_prob("emp_risk", emp_risk)
    kl, n, delta = _check_n_delta(kl, n, delta)
    lam = optimal_lambda(r, kl, n, delta) if lam is None else float(lam)
    if not (0.0 < lam < 2.0):
        raise ValueError(f"lam must lie in (0, 2), got {lam!r}")
    h = 1.0 - lam / 2.0
    return r / h + (kl + math.log(2.0 * math.sqrt(n) / delta)) / (n * lam * h)


@dataclass(frozen=True)
class PriorGrid:
    """Prior variances v_j = c·exp(−j/b), j = 1, 2, … (Dziugaite & Roy 2017, §4).

    A bound that uses v_j spends δ_j = 6δ/(π² j²) of the confidence (Σ_j δ_j = δ).
    Attributes: ``c`` (the largest variance), ``b`` (grid points per e-fold).

    >>> g = PriorGrid(c=0.1, b=100)
    >>> g.index(0.1 * math.exp(-0.5)), round(g.delta(0.05, 50) * 1e5, 4)
    (50, 1.2159)
    """

    c: float = 0.1
    b: float = 100.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.c) and self.c > 0 and math.isfinite(self.b) and self.b > 0):
            raise ValueError(f"PriorGrid needs c > 0 and b > 0, got c={self.c!r}, b={self.b!r}")

    def index(self, variance: float) -> int:
        """The grid index j ≥ 1 nearest to ``variance`` (rounded in log scale)."""
        if not (math.isfinite(variance) and variance > 0):
            raise ValueError(f"variance must be a finite number > 0, got {variance!r}")
        return max(1, int(round(self.b * math.log(self.c / variance))))

    def variance(self, j: int) -> float:
        """v_j = c·exp(−j/b) for an integer j ≥ 1."""
        j = _check_count("grid index j", j)
        return self.c * math.exp(-j / self.b)

    def delta(self, delta: float, j: int) -> float:
        """δ_j = 6δ/(π² j²) for an integer j ≥ 1."""
        j = _check_count("grid index j", j)
        return 6.0 * delta / (math.pi ** 2 * j ** 2)


def dziugaite_roy_bound(emp_risk: float, kl: float, n: float, delta: float, *, j: int,
                        grid: PriorGrid = PriorGrid()) -> float:
    """Maurer–Seeger bound for the prior with variance ``grid.variance(j)``, at confidence δ_j.

    kl⁻¹(ê, (KL + log(2√n/δ_j)) / n), δ_j = 6δ/(π² j²) (Dziugaite & Roy 2017, eq. (7), with
    Maurer's constant); KL must be computed against the prior of variance ``grid.variance(j)``.

    >>> round(dziugaite_roy_bound(0.1, 5.0, 1000, 0.05, j=50), 6)
    0.171312
    """
    return seeger_bound(emp_risk, kl, n, grid.delta(delta, j))


def mc_risk_bound(mc_risk: float, num_samples: int, delta: float) -> float:
    """Langford & Caruana (2001): ê_Q ≤ kl⁻¹(ê_m, log(2/δ')/m), ê_m the mean error of m draws from Q.

    >>> round(mc_risk_bound(0.1, 1000, 0.01), 6)
    0.133679
    """
    r = _check_prob("mc_risk", mc_risk)
    m = _check_count("num_samples", num_samples)
    if not (0.0 < delta < 1.0):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    return kl_inverse(r, math.log(2.0 / delta) / m)


@dataclass(frozen=True)
class Certificate:
    """A risk certificate: with probability ≥ 1 − δ − δ', e_Q ≤ ``risk_bound``.

    Attributes
    ----------
    mc_risk : ê_m, the empirical risk averaged over ``num_samples`` draws from Q.
    emp_risk_bound : kl⁻¹(ê_m, log(2/δ')/m) ≥ ê_Q (Langford & Caruana).
    kl : KL(Q‖P);  n : points the bound is evaluated on;  delta, delta_mc : δ, δ'.
    risk_bound : the Maurer–Seeger bound at ``emp_risk_bound``.
    mcallester : the McAllester bound at ``emp_risk_bound`` (looser, for comparison).
    """

    mc_risk: float
    emp_risk_bound: float
    kl: float
    n: int
    num_samples: int
    delta: float
    delta_mc: float
    risk_bound: float
    mcallester: float


def certificate(mc_risk: float, num_samples: int, kl: float, n: int, *, delta: float = 0.025,
                delta_mc: float = 0.01) -> Certificate:
    """Chain :func:`mc_risk_bound` and :func:`seeger_bound` (Pérez-Ortiz et al. 2021, §6).

    >>> c = certificate(0.1, 1000, 5.0, 1000)
    >>> c.emp_risk_bound > 0.1 and c.risk_bound > c.emp_risk_bound
    True
    """
    n = _check_count("n", n)
    if not (0.0 < delta < 1.0 and 0.0 < delta_mc < 1.0 and delta + delta_mc < 1.0):
        raise ValueError(f"delta and delta_mc must lie in (0, 1) with delta + delta_mc < 1 (the certificate holds "
                         f"with probability 1 − delta − delta_mc), got delta={delta!r}, delta_mc={delta_mc!r}")
    e = mc_risk_bound(mc_risk, num_samples, delta_mc)
    return Certificate(mc_risk=float(mc_risk), emp_risk_bound=e, kl=float(kl), n=n, num_samples=int(num_samples),
                       delta=float(delta), delta_mc=float(delta_mc), risk_bound=seeger_bound(e, kl, n, delta),
                       mcallester=min(1.0, mcallester_bound(e, kl, n, delta)))


def fit_diagonal_gaussian(samples: Any, *, min_var: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) variance per coordinate of ``samples`` (runs, dim), variances ≥ ``min_var``.

    The Gaussian fit of a pushforward measure (e.g. trained weights from many random starts).

    >>> m, v = fit_diagonal_gaussian([[0.0, 1.0], [2.0, 1.0]])
    >>> m.tolist(), v.tolist()
    ([1.0, 1.0], [2.0, 1e-12])
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"samples must be (runs >= 2, dim), got shape {x.shape}")
    return x.mean(axis=0), np.maximum(x.var(axis=0, ddof=1), min_var)


def pushforward_kl(initial: Any, trained: Any, *, min_var: float = 1e-12) -> float:
    """KL(Q‖P) between diagonal Gaussian fits of trained weights Q (the pushforward of the
    initialisation through training, the seed post's "posterior") and of the initial weights P.

    Both arrays are (runs, dim) with the same runs' starts and ends; see :func:`fit_diagonal_gaussian`.

    >>> round(pushforward_kl([[0.0], [2.0]], [[1.0], [1.5]]), 6)  # N(1.25, 0.125) vs N(1, 2)
    0.933169
    """
    mq, vq = fit_diagonal_gaussian(trained, min_var=min_var)
    mp, vp = fit_diagonal_gaussian(initial, min_var=min_var)
    return gaussian_kl(mq, vq, mp, vp)


@dataclass(frozen=True)
class TemperedKL:
    """KL(Q_β‖φ) = F(nβ) − E_{Q_β}[nβ L] and its parts, from thermodynamic integration.

    Attributes: ``value``, ``se`` (conservative: the two standard errors added in
    quadrature), ``nbeta``, ``free_energy`` (F, se ``free_energy_se``), ``mean_nL`` (E_β[nβ L]
    with se ``mean_nL_se``), ``step_rule`` (how the runs' steps were chosen; see
    :func:`tempered_kl`).
    """

    value: float
    se: float
    nbeta: float
    free_energy: float
    free_energy_se: float
    mean_nL: float
    mean_nL_se: float
    step_rule: str = "given"


def tempered_kl(model: Any, nbeta: float, *, gamma: float = 1.0, center: Sequence[float] | None = None,
                seed: int | np.random.Generator | None = None, **kwargs: Any) -> TemperedKL:
    """KL(Q_β‖φ) for Q_β ∝ exp(−nβ L) φ, φ = N(center, I/γ), by thermodynamic integration.

    KL = −nβ E_Q[L] − log Z = F(nβ) − E_{Q_β}[nβ L], both from
    :func:`slt.estimators.free_energy` (its grid ends at β = 1, where the last mean is
    E_{Q_β}[nβ L]); asymptotically λ log(nβ) − λ − (m−1) log log(nβ) + O(1) (docs/theory.md).

    Parameters
    ----------
    model : a potential or :class:`slt.models.Regression` (L = its loss).
    nbeta : nβ > 1.
    gamma, center : the Gaussian prior.
    kwargs : passed to :func:`slt.estimators.free_energy` (num_betas, num_chains, …).

    Without ``step_size`` the steps come from :func:`slt.estimators.free_energy`'s scan per β
    (from β = 1 down, each step 10, 3 or 1 times the last).  Under MALA's curvature metric (the
    default up to 16 coordinates) the per-coordinate steps min(ε, c/|∂²U|) stop growing with
    the nominal ε, so on a long grid ε can climb ten-fold per β until the metric's smallest
    factor binds and the acceptance falls through the scan's target at some β.  Then the
    estimate is redone with the step scanned at β = 1 (the stiffest posterior, so stable at
    every smaller β; its steps are smaller than needed at small β, so the se is larger), and
    ``step_rule`` says so.

    Example: ``tempered_kl(sum_of_monomials([1, 2]), 1e3, seed=0).value`` ≈ λ log(nβ) + c.
    """
    from slt.estimators import free_energy

    betas = kwargs.get("betas")
    if betas is not None and not math.isclose(float(np.asarray(betas, dtype=float)[-1]), 1.0):
        raise ValueError(f"the β grid must end at 1 to give E_Q[nβ L], got betas ending at {float(betas[-1])!r}")
    rule = "given" if kwargs.get("step_size") is not None else "scan per β"
    try:
        res = free_energy(model, n=float(nbeta), method="ti", gamma=gamma, center=center, seed=seed, **kwargs)
    except ValueError as failed:  # the per-β scan found no stable step (or a bad argument: raised again below)
        if rule == "given":
            raise
        try:
            step = _step_at_beta_one(model, float(nbeta), gamma, center, seed, kwargs)
            res = free_energy(model, n=float(nbeta), method="ti", gamma=gamma, center=center, seed=seed,
                              **{**kwargs, "step_size": step})
        except ValueError:
            raise failed from None
        rule = f"step of β = 1 at every β ({step:.3g}; the scan per β failed: {str(failed).splitlines()[0]})"
    m, s = float(res.mean_nL[-1]), float(res.se_nL[-1])
    return TemperedKL(value=res.value - m, se=math.hypot(res.se, s), nbeta=float(nbeta), free_energy=res.value,
                      free_energy_se=res.se, mean_nL=m, mean_nL_se=s, step_rule=rule)


def _step_at_beta_one(model: Any, nbeta: float, gamma: float, center: Sequence[float] | None,
                      seed: int | np.random.Generator | None, kwargs: dict[str, Any]) -> float:
    """The step scan (:func:`slt.estimators.calibrate`) at nβ, where the tempered posterior is stiffest."""
    from slt.estimators import calibrate

    keys = ("sampler", "num_chains", "step_levels", "metric")
    steps = [10 ** (2 - k / 2) / nbeta for k in range(13)]  # the scan's own grid, extended up to 100/γ
    steps += [s for s in (10 ** (2 - k / 2) / gamma for k in range(25)) if s > steps[0]]
    return calibrate(model, center, nbeta=nbeta, gammas=(gamma,), step_sizes=steps, seed=seed,
                     **{k: kwargs[k] for k in keys if kwargs.get(k) is not None}).step_size


def exact_tempered_kl(potential: Any, nbeta: float, *, gamma: float = 1.0, center: Sequence[float] | None = None,
                      box: Any = None) -> float:
    """KL(Q_β‖φ) by quadrature (:func:`slt.estimators.tempered_quadrature`), φ = N(center, I/γ).

    KL = −nβ E_Q[V] − log Z,  log Z = log ∫ exp(−nβ V − (γ/2)|w − c|²) dw + (d/2) log(γ/2π).
    A potential with prior exponents h (``normal_crossing(k, h=...)``) has the prior
    φ ∝ N(c, I/γ) ∏|w_i|^(h_i), normalised by ∏ E_{N(c_i, 1/γ)}|w_i|^(h_i) (:func:`gaussian_abs_moment`).

    >>> from slt.potentials import harmonic
    >>> round(exact_tempered_kl(harmonic([1.0]), 3.0, gamma=1.0), 6)  # ½(log 4 + 1/4 − 1)
    0.318147
    """
    from slt.estimators import tempered_quadrature

    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"the Gaussian prior needs gamma > 0, got {gamma!r}")
    c = np.asarray(potential.point if center is None else center, dtype=float).reshape(potential.dim)
    q = tempered_quadrature(potential, nbeta, box, gamma=gamma, center=c)
    log_z = q.log_z + 0.5 * potential.dim * math.log(gamma / (2.0 * math.pi))
    for h, ci in zip(getattr(potential, "prior_exponents", None) or (), c):
        log_z -= math.log(gaussian_abs_moment(h, ci, 1.0 / math.sqrt(gamma)))
    return float(max(-nbeta * q.mean_v - log_z, 0.0))


def gaussian_abs_moment(h: float, mean: float, sd: float) -> float:
    """E|w|^h for w ~ N(mean, sd²), h ≥ 0 (Winkelbauer 2012, "Moments and absolute moments
    of the normal distribution", eq. (17)):

    E|w|^h = sd^h 2^(h/2) Γ((h + 1)/2)/√π · ₁F₁(−h/2; 1/2; −mean²/(2 sd²)).

    >>> round(gaussian_abs_moment(2, 0.0, 0.5), 12), round(gaussian_abs_moment(1, 0.0, 1.0), 6)  # sd², √(2/π)
    (0.25, 0.797885)
    """
    from scipy.special import hyp1f1

    h, mean, sd = float(h), float(mean), float(sd)
    if not (math.isfinite(h) and h >= 0 and math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        raise ValueError(f"gaussian_abs_moment needs h >= 0, a finite mean and sd > 0, got h={h!r}, "
                         f"mean={mean!r}, sd={sd!r}")
    base = sd ** h * 2.0 ** (h / 2) * math.exp(math.lgamma((h + 1) / 2)) / math.sqrt(math.pi)
    return float(base * hyp1f1(-h / 2, 0.5, -mean * mean / (2.0 * sd * sd)))
