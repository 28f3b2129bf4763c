"""Deep linear networks as LLC test beds: λ̂ at a rank-r teacher against Aoyagi's exact λ, and the
exact value the estimator converges to (HMC on the least-squares rows).

λ of a deep linear network: Aoyagi (2024), *Consideration on the learning efficiency of
multiple-layered neural networks with linear units*, Neural Networks 172, Theorem 1
(:func:`slt.rlct.deep_linear_network`).
"""
from __future__ import annotations

from slt.estimators.core import default_nbeta
from slt.estimators.results import LLCResult
from slt.nn.data import dln_population_rows, least_squares_rows
from slt.nn.llc import estimate_llc
from slt.nn.models import gaussian_nll

__all__ = ["dln_llc", "dln_reference_llc", "dln_problem"]


def dln_llc(
    widths,
    rank: int,
    *,
    n: int = 10000,
    noise: float = 1.0,
    seed: int = 0,
    batch_size: int | None = 500,
    num_burnin: int | None = None,
    thin: int = 2,
    **kwargs,
) -> tuple[LLCResult, float]:
    """λ̂ of a deep linear network at a rank-``rank`` teacher (``n`` samples,
    :func:`slt.nn.models.gaussian_nll`) and its exact λ from :func:`slt.rlct.deep_linear_network`
    (Aoyagi 2024). Other arguments as in :func:`slt.nn.estimate_llc` (defaults: the problem's,
    γ = 1, minibatches of 500, thin 2).

    The teacher is the most singular true parameter (every layer rank ``rank``, unit singular
    values), so the chains start where the loss is flattest and need many steps to spread into
    the excess-width directions: the relaxation burn-in 5/(γε) (``num_burnin=None``) and the step
    re-derived from the curvature where the chains went.  Over data sets E[λ̂] = λ_β − β ν(β)
    (:class:`slt.estimators.Fluctuation`), so ``LLCResult.corrected`` = λ̂ + β ν̂ is the estimate
    to hold against λ; :func:`dln_reference_llc` gives the exact value of the estimator.

    >>> res, lam = dln_llc((4, 3, 4), 1, n=1000, num_draws=200, seed=0)  # doctest: +SKIP
    """
    teacher, data, exact = dln_problem(widths, rank, n, noise, seed)
    res = estimate_llc(teacher, data, loss_fn=gaussian_nll, batch_size=batch_size, num_burnin=num_burnin, thin=thin,
                       seed=seed + 2, **kwargs)
    return res.with_exact(exact), exact


def dln_reference_llc(
    widths,
    rank: int,
    *,
    n: int = 10000,
    noise: float = 1.0,
    seed: int = 0,
    nbeta: float | None = None,
    population: bool = False,
    num_chains: int = 8,
    num_draws: int = 100,
    num_burnin: int = 50,
    leapfrog: int = 400,
    **kwargs,
) -> tuple[LLCResult, float]:
    """The value :func:`dln_llc`'s estimator converges to as its step goes to zero, on the same
    teacher, data, nβ = n/log n and γ: HMC (``sampler="hmc"``, full batch, step adapted to
    acceptance 0.65 in burn-in, up to ``leapfrog`` steps per trajectory) on the d₀ + d_L rows of
    :func:`slt.nn.data.least_squares_rows`, which give the same L_n(w) as the n samples. Other
    arguments as in :func:`slt.nn.estimate_llc`; returns the result and Aoyagi's λ.

    ``population=True`` samples the population loss instead (:func:`slt.nn.data.dln_population_rows`,
    nβ from ``nbeta`` or n/log n): the estimator's value as n → ∞ at that nβ.  Long trajectories
    matter: the chains spread along directions only γ holds (time ~1/√γ) while the stiffest
    direction has nβ·h ≫ 1, so HMC needs ~√(nβ h/γ) gradients per independent draw where MALA
    needs ~nβ h/γ.

    >>> res, lam = dln_reference_llc((4, 3, 4), 1, n=1000, num_draws=50, seed=0)  # doctest: +SKIP
    """
    teacher, (X, y), exact = dln_problem(widths, rank, n, noise, seed)
    rows = dln_population_rows(teacher) if population else least_squares_rows(X, y)
    res = estimate_llc(teacher, rows, loss_fn=gaussian_nll, nbeta=default_nbeta(n) if nbeta is None else nbeta,
                       sampler="hmc", num_chains=num_chains, num_draws=num_draws, num_burnin=num_burnin,
                       fluctuation_points=0,
                       sampler_options={"leapfrog": leapfrog}, seed=seed + 2, **kwargs)
    return res.with_exact(exact), exact


def dln_problem(widths, rank: int, n: int, noise: float, seed: int):
    """Teacher (every layer rank ``rank``), its n samples and Aoyagi's λ.

    >>> teacher, (X, y), lam = dln_problem((4, 3, 4), 1, 100, 1.0, 0)  # doctest: +SKIP
    """
    from slt.nn.data import dln_data
    from slt.nn.models import dln_teacher
    from slt.rlct import deep_linear_network

    teacher = dln_teacher(widths, rank, seed=seed)
    return teacher, dln_data(teacher, n, noise=noise, seed=seed + 1), float(deep_linear_network(list(widths), rank).lam)
