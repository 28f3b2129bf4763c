"""Every standard error of slt.estimators.core covers the truth as often as it claims.

Synthetic traces with a known answer (stationary AR(1) losses around a known mean; per-sample
losses with known posterior variances) over a few hundred seeds: the share of estimates within
2 se of the truth lies in [0.90, 0.99] (nominal 0.954).  A se off by √2 either way leaves the
band (0.84 or 0.996), so each check also fails a mis-scaled se.  The traces of all seeds are
drawn at once; the formulas run once per seed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from slt import diagnostics
from slt.errors import SLTWarning
from slt.estimators import (
    LLCConfig,
    fine_config,
    llc_from_traces,
    richardson_extrapolate,
    singular_fluctuation,
    ti_from_means,
    wbic_from_losses,
)

SEEDS = 300
SEEDS_LLC = 200  # λ̂'s diagnostics (R-hat, ESS, trend test) cost a few ms per run
BAND = (0.90, 0.99)
NBETA = 50.0


def ar1(rng: np.random.Generator, rho: float, shape: tuple[int, ...]) -> np.ndarray:
    """Stationary AR(1) along the last axis with unit marginal variance."""
    e = rng.normal(size=shape) * np.sqrt(1 - rho**2)
    e[..., 0] /= np.sqrt(1 - rho**2)
    return lfilter([1.0], [1.0, -rho], e, axis=-1)


def coverage(estimates, ses, truth) -> float:
    """Share of |estimate − truth| < 2 se."""
    return float(np.mean(np.abs(np.asarray(estimates) - np.asarray(truth)) < 2 * np.asarray(ses)))


def config(chains: int, draws: int) -> LLCConfig:
    return LLCConfig(nbeta=NBETA, gamma=1.0, step_size=1e-3, num_chains=chains, num_draws=draws, num_burnin=0,
                     thin=1, sampler="sgld", seed=0)


def quiet_llc(traces: np.ndarray, init_loss: float, cfg: LLCConfig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)  # a rare false trend alarm is not the subject
        return llc_from_traces(traces, init_loss, cfg)


@pytest.mark.parametrize("chains, draws, rho", [(4, 200, 0.6), (16, 50, 0.3)])  # ESS form; chains' spread
def test_llc_se_covers_the_true_value(chains, draws, rho):
    """Losses L* + λ/nβ + s·AR(1): λ̂ = nβ(mean − L*) has expectation λ = 0.7."""
    rng = np.random.default_rng(chains)
    lam, init = 0.7, 1.0
    traces = init + lam / NBETA + 0.02 * ar1(rng, rho, (SEEDS_LLC, chains, draws))
    res = [quiet_llc(t, init, config(chains, draws)) for t in traces]
    assert BAND[0] <= coverage([r.mean for r in res], [r.se for r in res], lam) <= BAND[1]


def test_richardson_se_covers_the_extrapolated_value():
    """Fine and coarse runs with means λ_f, λ_c (equal noise): 2λ̂_f − λ̂_c around 2λ_f − λ_c.
    A se that forgets the factor 2 on the fine run covers about 79%."""
    rng = np.random.default_rng(1)
    lam_f, lam_c, init, cfg = 0.8, 0.9, 1.0, config(4, 200)
    fine = init + lam_f / NBETA + 0.02 * ar1(rng, 0.6, (SEEDS_LLC, 4, 200))
    coarse = init + lam_c / NBETA + 0.02 * ar1(rng, 0.6, (SEEDS_LLC, 4, 200))
    res = [richardson_extrapolate(quiet_llc(f, init, fine_config(cfg)), c, cfg) for f, c in zip(fine, coarse)]
    assert BAND[0] <= coverage([r.mean for r in res], [r.se for r in res], 2 * lam_f - lam_c) <= BAND[1]


def test_wbic_se_covers_n_times_the_mean_loss():
    rng = np.random.default_rng(2)
    n, mean = 200, 0.3
    traces = mean + 0.05 * ar1(rng, 0.9, (SEEDS, 4, 500))
    out = np.array([wbic_from_losses(t, n) for t in traces])
    assert BAND[0] <= coverage(out[:, 0], out[:, 1], n * mean) <= BAND[1]


def test_singular_fluctuation_se_covers_the_data_sets_nu():
    """n samples with posterior loss variances σ_i² (a new data set per seed), m of them recorded:
    ν = (β/2) Σ_{i ≤ n} σ_i².  The chains' share and the subsample's share of the se are about
    equal here, so dropping either covers about 80%."""
    rng = np.random.default_rng(3)
    chains, draws, m, n, beta = 8, 50, 40, 400, 0.25
    var = rng.uniform(0.8, 1.2, size=(SEEDS, n))  # σ_i² of every sample of every data set
    truth = 0.5 * beta * var.sum(axis=1)
    d = 2.0 + np.sqrt(var[:, None, None, :m]) * rng.normal(size=(SEEDS, chains, draws, m))
    fl = [singular_fluctuation(x.sum(axis=1), (x**2).sum(axis=1), draws, n=n, beta=beta) for x in d]
    assert BAND[0] <= coverage([f.nu for f in fl], [f.se for f in fl], truth) <= BAND[1]


def test_thermodynamic_integration_se_covers_the_integral_of_the_true_means():
    """Independent runs on a β grid from 0, each mean with its own MCSE: TI is linear in the
    means, so its truth is the same rule applied to the exact means."""
    rng = np.random.default_rng(4)
    betas = np.array([0.0, 1e-3, 1e-2, 0.05, 0.2, 0.5, 1.0])
    exact = 100.0 + 3.0 / (betas + 0.01)
    traces = exact[None, :, None, None] + 5.0 * ar1(rng, 0.8, (SEEDS, betas.size, 4, 200))
    truth = ti_from_means(betas, exact)[0]
    out = []
    for runs in traces:
        means = runs.mean(axis=(1, 2))
        ses = np.array([diagnostics.mcse_mean(r) for r in runs])
        out.append(ti_from_means(betas, means, ses))
    out = np.array(out)
    assert BAND[0] <= coverage(out[:, 0], out[:, 1], truth) <= BAND[1]
