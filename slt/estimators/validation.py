"""The LLC validation suite: models with exact λ, the exact finite-nβ target, and the estimate.

Used by ``benchmarks/accuracy_llc.py`` and ``paper_figures/fig_llc_validation.py``.  Each
case separates the three gaps between λ̂ and λ: the estimator's own finite-nβ (and
localization) bias, exact by quadrature on the population loss; for finite data, the
fluctuation of L_n (quadrature on L_n); and the sampling error (λ̂ − exact target, in units
of its standard error).
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy as sp

from slt import potentials as P
from slt.errors import SLTWarning
from slt.estimators.core import default_nbeta
from slt.estimators.exact import exact_tempered_expectation
from slt.estimators.doors import DEFAULT_GAMMA, estimate_llc
from slt.models import Regression

__all__ = ["Case", "cusp_reference", "potential_cases", "regression_cases", "rrr_case", "run_case", "DEVINTERP"]

# devinterp 2.0.1 on the regression models f = x ∏ w_i^(p_i), n = 1000 (issue 5)
DEVINTERP = {(1, 1): 0.43, (1, 2): 0.225, (2, 2): 0.16, (0, 1): 0.55}
# devinterp's accuracy test (tests/slt/sampler_accuracy_test.py): y = 0.25 ε, x ~ N(0, 2²),
# mean-squared-error loss, chains started at the true parameter w = 0, nβ = n/log n
DEVINTERP_NOISE = 0.25
MSE_LOSS_NOISE = math.sqrt(0.5)  # L_n = MSE + const
REGRESSION_GAMMA = 0.01

@dataclass(frozen=True)
class Case:
    """One validation model: ``model`` is sampled, ``population`` (if any) integrated exactly."""

    name: str
    model: Any
    lam: float
    m: int | None
    nbeta: float
    gamma: float = DEFAULT_GAMMA
    population: P.Potential | None = None
    empirical: P.Potential | None = None
    devinterp: float | None = None
    kwargs: dict = field(default_factory=dict)
    w_star: tuple[float, ...] | None = None
    reference: Callable[[float, float], float] | None = None  # (nβ, γ) -> exact target, replaces the grid


def cusp_reference(nbeta: float, gamma: float, *, outer_points: int = 801) -> float:
    """nβ E[V] for the cusp V = (y² − x³)² under exp(−nβ V − (γ/2)|w|²), by nested quadrature.

    Outer trapezoid on a sinh grid in x (scale 0.01/√nβ, |x| ≤ 12), inner adaptive ``quad`` in y
    split at the valley y = ±x^(3/2), which the tensor grid of :func:`tempered_quadrature` cannot
    resolve far out at large nβ.
    """
    from scipy.integrate import quad

    a = 0.01 / math.sqrt(nbeta)
    u = np.linspace(-math.asinh(12 / a), math.asinh(12 / a), outer_points)
    xs, wx = a * np.sinh(u), a * np.cosh(u) * (u[1] - u[0])
    z = m = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quad's round-off notes where the integrand underflows
        for x, w in zip(xs, wx):
            f = lambda y: math.exp(-nbeta * (y * y - x**3) ** 2 - 0.5 * gamma * (x * x + y * y))  # noqa: E731
            edges = sorted({0.0, 12.0, *([math.sqrt(x**3)] if x > 0 else [])})
            for lo, hi in zip(edges[:-1], edges[1:]):  # the integrand is even in y
                z += w * quad(f, lo, hi, limit=200, epsrel=1e-10)[0]
                m += w * quad(lambda y: nbeta * (y * y - x**3) ** 2 * f(y), lo, hi, limit=200, epsrel=1e-10)[0]
    return m / z


def potential_cases(quick: bool = False) -> list[Case]:
    """Sums of monomials, a non-quasi-homogeneous polynomial, normal crossings (with prior exponents), the cusp."""
    x, y = sp.symbols("x y")
    cusp = P.cusp()
    pots = [
        P.sum_of_monomials([1, 2]),
        P.Potential.from_expr("x**2 + y**4 + z**6", lam=sp.Rational(11, 12), m=1),
        P.Potential.from_expr(x**2 * y**4 + x**4 * y**2 + x**8 + y**8, name="x²y⁴+x⁴y²+x⁸+y⁸",
                              lam=sp.Rational(1, 3), m=1),
        P.normal_crossing([1, 2]),
        P.normal_crossing([1, 2], h=[0, 2]),
        P.normal_crossing([1, 1], h=[1, 0]),
        cusp,
        P.Potential.from_expr(x**2 * y**2, name="x²y² (m = 2)", lam=sp.Rational(1, 2), m=2),
    ]
    if quick:
        pots = pots[:1]
    return [Case(V.name, V, float(V.lam), V.m, nb, population=V,
                 reference=cusp_reference if V is cusp else None)
            for V in pots for nb in ((1e4,) if quick else (1e4, 1e5))]


def devinterp_data(n: int = 1000) -> tuple[np.ndarray, np.ndarray] | None:
    """devinterp's test data set (torch.manual_seed(42): x ~ N(0, 2²), y = 0.25 ε), or None without torch.

    Reproduces the fixture ``generated_normalcrossing_dataset`` of devinterp's accuracy
    tests, so both estimators see the same L_n.  torch is imported lazily, only here.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(42)
    x = torch.normal(0, 2, size=(n,))
    y = DEVINTERP_NOISE * torch.normal(0, 1, size=(n,))
    return x.double().numpy(), y.double().numpy()


def regression_cases(quick: bool = False, n: int = 1000, seed: int = 0, gamma: float = REGRESSION_GAMMA) -> list[Case]:
    """devinterp's toy models y = x ∏ w_i^(p_i) + 0.25 ε, x ~ N(0, 2²), MSE loss, nβ = n/log n, w* = 0.

    The setup of devinterp's own accuracy test: the LLC at the true parameter w* = 0, the
    minimiser of the population loss, where λ is known, on devinterp's own data set
    (:func:`devinterp_data`; without torch, data drawn with ``seed``).  devinterp samples without
    localization, which leaves every one of these posteriors improper (flat valleys along the
    axes): its numbers depend on how far its 5,000 steps of ε = 4e-4 carry the chains.  We
    localize with γ = ``gamma`` and report the exact targets at that γ.  The localization is part
    of the estimator's own finite bias and shrinks as γ → 0 (see ``benchmarks/VALIDATION.md``);
    at the default γ = 0.01 the arms of these posteriors reach |w| ≈ 1/√γ and narrow like 1/|w|,
    which the estimator's per-coordinate MALA steps (``metric``) fill and isotropic steps do not.
    """
    out = []
    powers = [(1, 1)] if quick else list(DEVINTERP)
    data = devinterp_data(n)
    for p in powers:
        f = "*".join(["x"] + [f"w{i + 1}**{k}" for i, k in enumerate(p) if k])
        kw = dict(parameters=("w1", "w2"), noise=DEVINTERP_NOISE, loss_noise=MSE_LOSS_NOISE)
        model = (Regression(f, n=n, seed=seed, **kw) if data is None else Regression.from_data(f, *data, **kw))
        kp = [k for k in p]
        lam = 1 / (2 * max(kp))
        m = kp.count(max(kp))
        out.append(Case(f"regression p={p}", model, lam, m, default_nbeta(n), gamma=gamma,
                        population=model.population_potential(), empirical=model.empirical_potential(),
                        devinterp=DEVINTERP[p], w_star=tuple(model.point)))
    return out


RRR_RUN = dict(num_burnin=100_000, num_draws=4000, thin=50)  # 12 dimensions: defaults are ~0.03 short of equilibrium


def rrr_case(M: int = 3, N: int = 3, H: int = 2, r: int = 1, nbeta: float = 1e4) -> Case:
    """Reduced rank regression K = ½‖BA − B₀A₀‖² (x ~ N(0, I)) at a rank-r truth; λ from slt.rlct.

    No exact finite-nβ target (12 variables); for m = 2 the expected finite-nβ gap is about
    −(m − 1)/log nβ.  Runs are longer than the defaults (:data:`RRR_RUN`).
    """
    from slt.rlct import reduced_rank_regression

    a = sp.Matrix(H, M, lambda i, j: sp.Symbol(f"a{i}{j}"))
    b = sp.Matrix(N, H, lambda i, j: sp.Symbol(f"b{i}{j}"))
    a0 = np.zeros((H, M))
    b0 = np.zeros((N, H))
    a0[:r, :r] = np.eye(r)
    b0[:r, :r] = np.eye(r)
    diff = b * a - sp.Matrix(b0 @ a0)
    expr = sum(e**2 for e in diff) / 2
    syms = list(a) + list(b)
    point = list(a0.ravel()) + list(b0.ravel())
    info = reduced_rank_regression(M, N, H, r)
    V = P.Potential.from_expr(expr, syms, name=f"RRR M={M} N={N} H={H} r={r}", point=point,
                              lam=info.lam, m=getattr(info, "m", None))
    return Case(V.name, V, float(info.lam), V.m, nbeta, kwargs=dict(RRR_RUN))


def run_case(case: Case, *, seed: int = 0, **kwargs: Any) -> dict:
    """Estimate λ̂ with the defaults (plus ``case.kwargs``/``kwargs``) and the exact targets."""
    w = np.asarray(case.w_star if case.w_star is not None else case.model.point, dtype=float)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        res = estimate_llc(case.model, w, nbeta=case.nbeta, gamma=case.gamma, seed=seed, exact=False,
                           **{**case.kwargs, **kwargs})
    elapsed = time.perf_counter() - t0
    pop = emp = None
    if case.reference is not None:
        pop = case.reference(case.nbeta, res.gamma)
    elif case.population is not None and case.population.dim <= 3:  # at the true parameter
        pop = exact_tempered_expectation(case.population, case.nbeta, gamma=res.gamma)
    if case.empirical is not None:
        emp = exact_tempered_expectation(case.empirical, case.nbeta, gamma=res.gamma, center=w)
    target = emp if emp is not None else pop
    steps = res.config.num_chains * res.config.total_steps * (3 if res.config.record.richardson else 1)
    return dict(
        model=case.name, w_star=w.tolist(), lam=case.lam, m=case.m, nbeta=case.nbeta, gamma=res.gamma,
        exact_population=pop, exact_empirical=emp, llc=res.mean, se=res.se,
        z=None if target is None else (res.mean - target) / res.se,
        rel_error=None if target is None else res.mean / target - 1,
        rel_error_lambda=res.mean / case.lam - 1, devinterp=case.devinterp,
        nu=None if res.fluctuation is None else res.fluctuation.nu,
        nu_se=None if res.fluctuation is None else res.fluctuation.se,
        corrected=res.corrected, corrected_se=res.corrected_se,
        rhat=res.rhat, ess=res.ess, acceptance=res.acceptance, step_size=res.config.step_size,
        sampler=res.config.sampler, seconds=elapsed, chain_steps_per_s=steps / elapsed,
        warnings=list(res.warnings),
    )
