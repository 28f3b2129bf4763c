"""slt.estimators.core, formula by formula, at rel 1e-12 on small hand-built inputs.

Every expected value is written out here with numpy from its definition (ArviZ's multi-chain
ESS is the only primitive borrowed), never by calling the function under test, so a wrong
factor anywhere (nβ, a √2, Richardson's 2, ν̂'s subsample term, TI's first interval) fails.
"""
from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pytest

from slt.errors import SLTWarning
from slt.estimators import (
    LLCConfig,
    default_nbeta,
    fine_config,
    llc_from_traces,
    richardson_extrapolate,
    singular_fluctuation,
    ti_from_means,
    wbic_from_losses,
)
from slt.estimators.core import fluctuation_subset

REL = 1e-12
CFG = LLCConfig(nbeta=37.5, gamma=1.0, step_size=1e-3, num_chains=3, num_draws=12, num_burnin=10,
                thin=1, sampler="sgld", seed=4)


def mcse_by_hand(traces: np.ndarray) -> float:
    """max(s/√ESS_mean, s_C/√C) (the chains' spread from 8 chains on), s the sd of all draws."""
    x = np.asarray(traces, dtype=float)
    s = math.sqrt(((x - x.mean()) ** 2).sum() / (x.size - 1))
    se = s / math.sqrt(float(az.ess(x, method="mean")))
    if x.shape[0] >= 8:
        means = x.mean(axis=1)
        se = max(se, math.sqrt(((means - means.mean()) ** 2).sum() / (means.size - 1) / means.size))
    return se


def quiet(fn, *args, **kwargs):
    """Hand-built traces are short: the ESS warning is expected and not the subject here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return fn(*args, **kwargs)


def traces_3x12() -> np.ndarray:
    """Three chains of twelve losses around L(w*) = 0.25, none constant, no two alike."""
    k = np.arange(12.0)
    return 0.25 + np.stack([0.01 * (1 + np.sin(k)), 0.012 * (1 + np.cos(1.3 * k)), 0.008 * (1.5 + np.sin(0.7 * k + 1))])


# --- λ̂ and its se --------------------------------------------------------------------------

@pytest.mark.parametrize("chains", [3, 9])  # below and above MIN_CHAINS_BETWEEN: both se branches
def test_llc_mean_per_chain_std_and_se(chains):
    rng = np.random.default_rng(chains)
    x = 0.25 + 0.01 * rng.gamma(2.0, size=(chains, 12)) + 0.004 * np.arange(chains)[:, None]
    res = quiet(llc_from_traces, x, 0.25, CFG)
    per_chain = [CFG.nbeta * (sum(row) / len(row) - 0.25) for row in x.tolist()]
    mean = sum(per_chain) / chains
    std = math.sqrt(sum((p - mean) ** 2 for p in per_chain) / (chains - 1))
    np.testing.assert_allclose(res.per_chain, per_chain, rtol=REL)
    assert res.mean == pytest.approx(mean, rel=REL) and res.std == pytest.approx(std, rel=REL)
    assert res.se == pytest.approx(CFG.nbeta * mcse_by_hand(x), rel=REL)
    assert res.rhat == pytest.approx(float(az.rhat(x, method="rank")), rel=REL)
    assert res.ess == pytest.approx(float(az.ess(x, method="bulk")), rel=REL)
    assert res.init_loss == 0.25 and res.config is CFG and res.loss_traces.shape == (chains, 12)


def test_llc_of_constant_traces_has_zero_se():
    with pytest.warns(SLTWarning, match="effective sample size 16 < 100"):
        res = llc_from_traces(np.full((2, 8), 1.5), 1.0, CFG)
    assert res.mean == pytest.approx(CFG.nbeta * 0.5, rel=REL) and res.se == 0.0 and res.std == 0.0


# --- Richardson ----------------------------------------------------------------------------

def test_richardson_is_twice_fine_minus_coarse_chain_by_chain():
    x = traces_3x12()
    coarse = x[::-1] + 0.003
    fine = quiet(llc_from_traces, x, 0.25, fine_config(CFG))
    res = richardson_extrapolate(fine, coarse, CFG)
    nb = CFG.nbeta
    fine_pc = nb * (x.mean(axis=1) - 0.25)
    coarse_pc = nb * (coarse.mean(axis=1) - 0.25)
    per_chain = 2 * fine_pc - coarse_pc
    se_fine, se_coarse = nb * mcse_by_hand(x), nb * mcse_by_hand(coarse)
    np.testing.assert_allclose(res.per_chain, per_chain, rtol=REL)
    assert res.mean == pytest.approx(per_chain.mean(), rel=REL)
    assert res.std == pytest.approx(np.sqrt(((per_chain - per_chain.mean()) ** 2).sum() / 2), rel=REL)
    assert res.se == pytest.approx(math.sqrt(4 * se_fine**2 + se_coarse**2), rel=REL)
    assert res.info["sgld_fine"] == pytest.approx(fine_pc.mean(), rel=REL)
    assert res.info["sgld_coarse"] == pytest.approx(coarse_pc.mean(), rel=REL)
    assert res.info["sgld_fine_se"] == pytest.approx(se_fine, rel=REL)
    assert res.info["sgld_coarse_se"] == pytest.approx(se_coarse, rel=REL)
    assert res.config is CFG and res.loss_traces is fine.loss_traces and res.rhat == fine.rhat


def test_fine_config_halves_the_step_over_the_same_time_span():
    f = fine_config(CFG)
    assert (f.step_size, f.num_burnin, f.thin, f.seed) == (CFG.step_size / 2, 20, 2, 5)
    assert (f.nbeta, f.gamma, f.num_draws, f.num_chains) == (CFG.nbeta, CFG.gamma, CFG.num_draws, CFG.num_chains)
    assert fine_config(LLCConfig(**{**CFG.__dict__, "seed": None})).seed is None


# --- ν̂ and its se --------------------------------------------------------------------------

def fluctuation_by_hand(d: np.ndarray, n: int, beta: float) -> tuple[float, float]:
    """ν̂ and se from the raw per-sample losses d[chain, draw, sample] of m of n samples."""
    chains, draws, m = d.shape
    pooled = d.reshape(chains * draws, m).var(axis=0, ddof=1)  # Var_w ℓ_i over all draws
    nu = 0.5 * beta * n / m * pooled.sum()
    per_chain = np.array([0.5 * beta * n / m * d[c].var(axis=0, ddof=1).sum() for c in range(chains)])
    var_chains = per_chain.var(ddof=1) / chains
    var_subset = (0.5 * beta * n) ** 2 * pooled.var(ddof=1) / m * (1 - m / n)  # finite population
    return nu, math.sqrt(var_chains + var_subset)


@pytest.mark.parametrize("n", [40, 7])  # a subset of 7 of 40 samples; all 7 (no subsample term)
def test_singular_fluctuation_and_its_se(n):
    rng = np.random.default_rng(n)
    d = rng.normal(size=(3, 6, 7)) * rng.uniform(0.2, 2.0, size=7) + 5.0
    fl = singular_fluctuation(d.sum(axis=1), (d**2).sum(axis=1), 6, n=n, beta=0.3)
    nu, se = fluctuation_by_hand(d, n, 0.3)
    assert fl.nu == pytest.approx(nu, rel=REL) and fl.se == pytest.approx(se, rel=REL)
    assert (fl.points, fl.n, fl.beta) == (7, n, 0.3) and fl.correction == pytest.approx(0.3 * nu, rel=REL)


def test_singular_fluctuation_of_one_chain_is_its_subsample_term():
    d = np.array([[[1.0, 2.0, 4.0], [2.0, 2.5, 1.0], [0.5, 3.0, 2.0]]])  # 1 chain, 3 draws, 3 samples
    fl = singular_fluctuation(d.sum(axis=1), (d**2).sum(axis=1), 3, n=12, beta=0.5)
    var = [np.var(d[0, :, i], ddof=1) for i in range(3)]  # 7/12, 1/4, 7/3
    assert fl.nu == pytest.approx(0.25 * 12 / 3 * sum(var), rel=REL)
    assert fl.se == pytest.approx(math.sqrt(3.0**2 * np.var(var, ddof=1) / 3 * (1 - 3 / 12)), rel=REL)


def test_fluctuation_subset_spreads_evenly():
    assert fluctuation_subset(10, 4).tolist() == [0, 3, 6, 9]
    assert fluctuation_subset(3, 1024).tolist() == [0, 1, 2]


# --- WBIC and TI ---------------------------------------------------------------------------

def test_wbic_is_n_times_the_mean_loss_with_its_se():
    x = traces_3x12()
    value, se = wbic_from_losses(x, 150)
    assert value == pytest.approx(150 * x.sum() / x.size, rel=REL)
    assert se == pytest.approx(150 * mcse_by_hand(x), rel=REL)
    one, one_se = wbic_from_losses(x[0], 150.0)  # a single chain as a 1-D trace
    assert one == pytest.approx(150 * x[0].mean(), rel=REL) and one_se == pytest.approx(150 * mcse_by_hand(x[:1]), rel=REL)


def test_default_nbeta_is_n_over_log_n():
    assert default_nbeta(1000) == pytest.approx(1000 / 6.907755278982137, rel=REL)


def simpson_in_log_beta(f, u: np.ndarray, sub: int = 32) -> float:
    """∫ f(u) e^u du over the uniform log-β grid u by composite Simpson, ``sub`` panels per interval."""
    h = (u[1] - u[0]) / sub
    x = u[0] + h * np.arange((u.size - 1) * sub + 1)
    coef = np.where(np.arange(x.size) % 2 == 1, 4.0, 2.0)
    coef[0] = coef[-1] = 1.0
    return float(h / 3 * np.sum(coef * f(x) * np.exp(x)))


def cubic_in_log_beta(u):
    """A cubic in u = log β: the spline reproduces it exactly, so only the quadrature is left."""
    return 3.0 - 0.5 * u + 0.2 * u**2 + 0.03 * u**3


@pytest.mark.parametrize("positive", [5, 3])  # cubic spline (≥ 4 points); piecewise linear below
def test_ti_on_a_grid_from_zero(positive):
    f = cubic_in_log_beta if positive >= 4 else (lambda u: 3.0 - 0.5 * u)  # linear: exact for the interpolant
    u = np.linspace(math.log(1e-4), 0.0, positive)
    b = np.concatenate([[0.0], np.exp(u)])
    b[-1] = 1.0
    f0 = 7.0  # E_0[n L], free to differ from the trend: only the first interval sees it
    values = np.concatenate([[f0], f(u)])
    first = 0.5 * b[1] * (f0 + values[1])  # trapezoid on [0, β₁]
    value, se = ti_from_means(b, values)
    assert value == pytest.approx(first + simpson_in_log_beta(f, u), rel=REL) and se == 0.0


def test_ti_on_a_grid_without_zero_takes_the_integrand_flat_below_its_first_point():
    u = np.linspace(math.log(1e-3), 0.0, 6)
    b = np.exp(u)
    b[-1] = 1.0
    value, _ = ti_from_means(b, cubic_in_log_beta(u))
    assert value == pytest.approx(b[0] * cubic_in_log_beta(u[0]) + simpson_in_log_beta(cubic_in_log_beta, u), rel=REL)


def test_ti_of_two_points():
    assert ti_from_means([0.0, 1.0], [2.0, 4.0])[0] == pytest.approx(3.0, rel=REL)  # the trapezoid alone
    flat_then_spline = 0.5 * 2.0 + simpson_in_log_beta(lambda u: np.full_like(u, 2.0), np.log([0.5, 1.0]))
    assert ti_from_means([0.5, 1.0], [2.0, 2.0])[0] == pytest.approx(flat_then_spline, rel=REL)


def test_ti_against_the_closed_form_integral():
    """E_β[nL] = a + c log β: ∫₀¹ = a − c exactly; on the grid 0, 1e-8, …, 1 the trapezoid on
    [0, β₁] adds only O(β₁ log β₁)."""
    a, c = 5.0, 0.4
    b = np.concatenate([[0.0], np.geomspace(1e-8, 1.0, 17)])
    f = np.concatenate([[a + c * math.log(1e-8) - 2 * c], a + c * np.log(b[1:])])  # f(0): [0, β₁] exact
    assert ti_from_means(b, f)[0] == pytest.approx(a - c, rel=1e-7)


def test_ti_se_is_the_linear_propagation_of_the_means_se():
    b = np.array([0.0, 1e-3, 1e-2, 0.05, 0.3, 1.0])
    f = np.array([1.0, 2.0, 2.5, 3.0, 2.0, 1.5])
    weights = np.array([ti_from_means(b, e)[0] for e in np.eye(b.size)])
    assert ti_from_means(b, f)[0] == pytest.approx(float(weights @ f), rel=REL)  # the rule is linear
    s = np.array([0.1, 0.0, 0.3, 0.2, 0.05, 0.4])
    assert ti_from_means(b, f, s)[1] == pytest.approx(math.sqrt(np.sum((weights * s) ** 2)), rel=REL)
    assert weights[0] == pytest.approx(0.5e-3, rel=REL)  # β = 0 weighs only in the first trapezoid
    assert weights.sum() == pytest.approx(1.0, rel=1e-6)  # a constant integrates to itself


# --- arguments: each guard at its boundary ------------------------------------------------

def test_default_nbeta_takes_integers_from_two():
    assert default_nbeta(2) == pytest.approx(2 / math.log(2), rel=REL)
    for bad in (1, 2.5, True, 0):
        with pytest.raises(ValueError, match=r"n must be an integer >= 2 .* got"):
            default_nbeta(bad)


def test_singular_fluctuation_guards():
    d = np.arange(24.0).reshape(2, 4, 3) ** 1.5
    sums, squares = d.sum(axis=1), (d**2).sum(axis=1)
    assert singular_fluctuation(sums[:, :1], squares[:, :1], 2, n=5, beta=0.5).points == 1  # one sample, two draws
    with pytest.raises(ValueError, match=r"one shape, got \(2, 3\) and \(2, 2\)"):
        singular_fluctuation(sums, squares[:, :2], 4, n=5, beta=0.5)
    with pytest.raises(ValueError, match="one shape"):
        singular_fluctuation(sums[0], squares[0], 4, n=5, beta=0.5)
    with pytest.raises(ValueError, match="count=1: the variance needs at least 2 draws"):
        singular_fluctuation(sums, squares, 1, n=5, beta=0.5)
    with pytest.raises(ValueError, match="3 samples in the sums but n=2"):
        singular_fluctuation(sums, squares, 4, n=2, beta=0.5)


def test_singular_fluctuation_se_terms_at_their_edges():
    """Two chains give the chains' term; one recorded sample has no subsample term; two have one."""
    d = np.array([[[1.0, 5.0], [2.0, 3.0], [4.0, 4.5]], [[0.0, 2.0], [3.0, 1.0], [1.0, 6.0]]])  # 2 chains, 3 draws
    one = singular_fluctuation(d[:, :, :1].sum(axis=1), (d[:, :, :1] ** 2).sum(axis=1), 3, n=4, beta=0.5)
    chain_nu = [0.25 * 4 * np.var(d[c, :, 0], ddof=1) for c in range(2)]
    assert one.se == pytest.approx(abs(chain_nu[0] - chain_nu[1]) / 2, rel=REL)  # sd of 2 values / √2
    nu, se = fluctuation_by_hand(d, 9, 0.5)
    two = singular_fluctuation(d.sum(axis=1), (d**2).sum(axis=1), 3, n=9, beta=0.5)
    assert (two.nu, two.se) == pytest.approx((nu, se), rel=REL)


def test_fluctuation_subset_is_integer_indices():
    assert fluctuation_subset(7, 3).dtype == np.int64


def test_wbic_guards_n():
    assert wbic_from_losses(np.ones((2, 8)), 1.5)[0] == pytest.approx(1.5, rel=REL)
    for bad in (1, 0.5, float("inf"), float("nan"), True, "100"):
        with pytest.raises(ValueError, match="n must be a finite number > 1, got"):
            wbic_from_losses(np.ones((2, 8)), bad)


@pytest.mark.parametrize("chains", [1, 2])  # the spread of one chain is 0, of two their sd
def test_llc_and_richardson_std_of_few_chains(chains):
    x = traces_3x12()[:chains]
    coarse = x + 0.002
    fine = quiet(llc_from_traces, x, 0.25, fine_config(CFG))
    res = richardson_extrapolate(fine, coarse, CFG)
    per_chain = 2 * CFG.nbeta * (x.mean(axis=1) - 0.25) - CFG.nbeta * (coarse.mean(axis=1) - 0.25)
    expected = abs(per_chain[0] - per_chain[-1]) / math.sqrt(2)  # sd (ddof 1) of two values; 0 for one
    assert res.std == pytest.approx(expected, rel=REL, abs=0.0)
    fine_pc = CFG.nbeta * (x.mean(axis=1) - 0.25)
    assert fine.std == pytest.approx(abs(fine_pc[0] - fine_pc[-1]) / math.sqrt(2), rel=REL, abs=0.0)
