"""LLC, WBIC and free-energy estimators against exact values (closed forms and quadrature)."""
import math
import warnings

import numba
import numpy as np
import pytest

from slt import potentials as P
from slt.errors import DivergenceError, SLTWarning
from slt.estimators import (
    ImproperPosteriorError,
    LLCConfig,
    auto_burnin,
    calibrate,
    check_proper,
    estimate_llc,
    exact_free_energy,
    exact_tempered_expectation,
    fit_lambda,
    free_energy,
    llc_from_traces,
    singular_fluctuation,
    tempered_quadrature,
    ti_from_means,
    wbic,
    wbic_from_losses,
)
from slt.estimators.backend import RunSpec
from slt.estimators.config import MIN_DRAWS, default_settings
from slt.estimators.numba_backend import NumbaBackend
from slt.estimators.tuning import BURNIN_STEPS, moving_rate, valley_curvature
from slt.estimators.validation import cusp_reference, regression_cases

QUASI = P.sum_of_monomials([1, 2])  # x² + y⁴: λ = 3/4, m = 1, quasi-homogeneous
X2Y2 = P.normal_crossing([1, 1])  # unbounded zero set; λ = 1/2, m = 2
CFG = LLCConfig(nbeta=100.0, gamma=0.0, step_size=1e-3, num_chains=8, num_draws=400, num_burnin=0,
                thin=1, sampler="mala", seed=0)


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return fn(*a, **k)


# --- pure-array formulas -------------------------------------------------------------------

def test_llc_from_traces_formula_and_se():
    """Gamma(λ) draws of nβ(L − L*) (the exact law for quasi-homogeneous V): mean within 3 se of λ."""
    rng = np.random.default_rng(0)
    lam = 0.75
    traces = 1.0 + rng.gamma(lam, 1.0, size=(8, 400)) / CFG.nbeta
    res = llc_from_traces(traces, 1.0, CFG)
    assert abs(res.mean - lam) < 3 * res.se
    assert res.se == pytest.approx(math.sqrt(lam / traces.size), rel=0.15)
    assert res.per_chain.shape == (8,) and res.warnings == ()
    assert res.std == pytest.approx(np.std(res.per_chain, ddof=1))
    # a mis-scaled estimator (β instead of nβ: forgetting n) fails the same test
    wrong = llc_from_traces(traces, 1.0, LLCConfig(**{**CFG.__dict__, "nbeta": 1.0}))
    assert abs(wrong.mean - lam) > 3 * res.se
    idata = res.to_inference_data()
    assert idata.posterior["llc"].shape == (8, 400)
    assert res.nbeta == 100.0 and res.gamma == 0.0 and "λ̂" in res.summary()


def test_llc_from_traces_warns_once_and_stores():
    rng = np.random.default_rng(1)
    traces = 1.0 - 0.01 + 0.001 * rng.normal(size=(8, 400)) + np.linspace(0, 0.005, 400)
    with pytest.warns(SLTWarning) as rec:
        res = llc_from_traces(traces, 1.0, CFG, extra_warnings=("note",))
    assert len(rec) == len(res.warnings) and res.warnings[0] == "note"
    assert any("negative" in w for w in res.warnings) and any("trend" in w for w in res.warnings)


def test_llc_from_traces_takes_the_fewest_draws_it_allows():
    rng = np.random.default_rng(2)
    shape = (2, MIN_DRAWS)
    with pytest.warns(SLTWarning):  # 16 draws: the diagnostics say so
        res = llc_from_traces(1.01 + 0.001 * rng.normal(size=shape), 1.0, CFG, distance_traces=rng.random(shape))
    assert np.isfinite(res.mean) and np.isfinite(res.se)
    assert any("effective sample size" in w for w in res.warnings)


@pytest.mark.parametrize("bad, match", [(np.ones(10), "shape"), (np.full((2, 8), np.nan), "NaN"),
                                        (np.ones((2, 7)), "num_draws")])
def test_llc_from_traces_rejects_bad_traces(bad, match):
    with pytest.raises(ValueError, match=match):
        llc_from_traces(bad, 0.0, CFG)
    with pytest.raises(ValueError, match="init_loss"):
        llc_from_traces(np.ones((2, 8)), float("nan"), CFG)
    with pytest.raises(ValueError, match="num_draws"):  # before any sampling
        estimate_llc(QUASI, nbeta=1e4, step_size=1e-4, num_draws=2)


def test_singular_fluctuation_formula_and_se():
    """Per-sample losses with known posterior variances σ_i²: ν̂ = (β/2)(n/m) Σ_i σ_i² within
    its se, whose subsample share matters when m < n; a ν̂ without the n/m scaling fails."""
    rng = np.random.default_rng(3)
    chains, draws, m, n, beta = 8, 300, 50, 200, 0.2
    sigma = rng.uniform(0.5, 1.5, size=m)
    d = 3.0 + sigma * rng.normal(size=(chains, draws, m))
    fl = singular_fluctuation(d.sum(axis=1), (d**2).sum(axis=1), draws, n=n, beta=beta)
    exact = 0.5 * beta * n / m * float((sigma**2).sum())
    assert abs(fl.nu - exact) < 3 * fl.se
    assert abs(fl.nu * m / n - exact) > 3 * fl.se
    assert fl.correction == pytest.approx(beta * fl.nu) and (fl.points, fl.n) == (m, n)
    res = quiet(llc_from_traces, 1.0 + 0.01 * rng.random((chains, 20)), 1.0, CFG, fluctuation=fl)
    assert res.corrected == pytest.approx(res.mean + beta * fl.nu)
    assert res.corrected_se == pytest.approx(math.hypot(res.se, beta * fl.se)) and "βν̂" in res.summary()
    assert quiet(llc_from_traces, 1.0 + 0.01 * rng.random((chains, 20)), 1.0, CFG).corrected is None
    with pytest.raises(ValueError, match="2 draws"):
        singular_fluctuation(d[:, 0], d[:, 0] ** 2, 1, n=n, beta=beta)
    with pytest.raises(ValueError, match="n=10"):
        singular_fluctuation(d.sum(axis=1), (d**2).sum(axis=1), draws, n=10, beta=beta)


def test_singular_fluctuation_of_a_regression_model_matches_its_closed_form():
    """y = w x + ε (regular, d = 1) at n = 400: the localized tempered posterior is N(μ, s²) with
    1/s² = nβ·mean(x²)/σ² + γ, and ℓ_i = (r̄_i − x_i δ)²/(2σ²) (r̄_i = y_i − μ x_i, δ ~ N(0, s²)),
    so Var_w ℓ_i = (r̄_i² x_i² s² + x_i⁴ s⁴/2)/σ⁴ and ν = (β/2) Σ_i Var_w ℓ_i, about d/2.
    The numba path's ν̂ (MALA draws) matches it; a 10% mis-scaling is rejected."""
    from slt.models import Regression

    model = Regression("w1*x", n=400, seed=0)
    res = estimate_llc(model, seed=0)
    x, y = model.data[:, 0], model.data[:, 1]
    nbeta, beta, gamma, var = res.nbeta, res.nbeta / model.n, res.gamma, model.loss_noise**2
    s2 = 1.0 / (nbeta * np.mean(x**2) / var + gamma)
    mu = s2 * nbeta * np.mean(x * y) / var
    r = y - mu * x
    exact = 0.5 * beta * float(np.sum((r**2 * x**2 * s2 + x**4 * s2**2 / 2) / var**2))
    fl = res.fluctuation
    assert fl.points == model.n and fl.beta == pytest.approx(beta)
    assert abs(exact - 0.5) < 0.1
    assert abs(fl.nu - exact) < 4 * fl.se
    assert abs(fl.nu - 1.1 * exact) > 4 * fl.se
    assert res.corrected == pytest.approx(res.mean + beta * fl.nu)
    with pytest.warns(SLTWarning):  # 50 draws of 4 chains: the diagnostics say so
        short = estimate_llc(QUASI, nbeta=1e4, seed=0, num_draws=50, num_chains=4)
    assert short.fluctuation is None and short.warnings  # no data, and the warnings are in the result


@pytest.mark.parametrize("field, value", [("nbeta", 0.0), ("gamma", -1.0), ("step_size", float("inf")),
                                          ("num_chains", 0), ("thin", 1.5), ("batch_size", 0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        LLCConfig(**{**CFG.__dict__, field: value})


def test_ti_and_wbic_formulas():
    """∫₀¹ (a n + λ n/(1 + nβ)) dβ = a n + λ log(1 + n), exactly; plain trapezoid in β is far off."""
    n, a, lam = 1000.0, 1.4, 0.75
    b = np.geomspace(1e-3 / n, 1, 24)
    f = a * n + lam * n / (1 + n * b)
    exact = a * n + lam * math.log1p(n)
    value, se = ti_from_means(b, f, np.full_like(f, 0.1))
    assert abs(value - exact) < 1e-3 * lam * math.log(n) and se > 0
    assert abs(np.trapezoid(f, b) - exact) > 0.02 * lam * math.log(n)
    with pytest.raises(ValueError, match="increase"):
        ti_from_means(b[::-1], f)
    with pytest.raises(ValueError, match="equal length"):
        ti_from_means(b, f[:-1])
    assert wbic_from_losses(np.full((2, 10), 1.5), 100)[0] == pytest.approx(150.0)
    with pytest.raises(ValueError, match="n must"):
        wbic_from_losses(np.ones((2, 10)), 1)


# --- exact values by quadrature -------------------------------------------------------------

def test_quadrature_against_closed_forms():
    # quasi-homogeneous, no localization: exactly λ = Σ 1/(2k_i) at any nβ
    assert exact_tempered_expectation(QUASI, 1e4, (-3, 3)) == pytest.approx(0.75, abs=1e-6)
    # harmonic V = x²/2 with localization: nβ E[V] = nβ / (2 (nβ + γ))
    H = P.harmonic([1.0])
    assert exact_tempered_expectation(H, 50.0, gamma=10.0) == pytest.approx(50 / (2 * 60), rel=1e-8)
    # Gaussian free energy: F = ½ log(1 + n/γ) for V = x²/2, prior N(0, 1/γ)
    assert exact_free_energy(H, 1e3, gamma=2.0) == pytest.approx(0.5 * math.log1p(1e3 / 2.0), rel=1e-8)
    q = tempered_quadrature(QUASI, 1e4, (-3, 3))
    assert q.error < 1e-8 and q.var_v > 0
    with pytest.raises(ValueError, match="box"):
        exact_tempered_expectation(QUASI, 1e4)
    with pytest.raises(ValueError, match="1-3 variables"):
        exact_tempered_expectation(P.harmonic([1.0] * 4), 1e4, (-1, 1))
    with pytest.raises(ValueError, match="outside"):
        exact_tempered_expectation(QUASI, 1e4, (1, 2))


def test_quadrature_with_prior_exponents():
    """φ ∝ |y|^h on quasi-homogeneous V: nβ E[V] = Σ (h_i + 1)/(2 k_i) exactly; ignoring φ fails."""
    V1 = P.Potential.from_expr("x**4", prior_exponents=[2])
    assert exact_tempered_expectation(V1, 1e4, (-3, 3)) == pytest.approx(3 / 4, abs=1e-6)
    V2 = P.Potential.from_expr("x**2 + y**4", prior_exponents=[0, 2])
    assert exact_tempered_expectation(V2, 1e4, (-3, 3)) == pytest.approx(1 / 2 + 3 / 4, abs=1e-6)
    assert abs(exact_tempered_expectation(QUASI, 1e4, (-3, 3)) - 5 / 4) > 0.1
    nc = P.normal_crossing([1, 2], h=[0, 2])  # λ = min(1/2, 3/4) = 1/2, m = 1 (uniform prior: 1/4)
    assert (float(nc.lam), nc.m) == (0.5, 1) and float(P.normal_crossing([1, 2]).lam) == 0.25
    assert (float(P.normal_crossing([1, 1], h=[1, 0]).lam), P.normal_crossing([1, 1], h=[1, 0]).m) == (0.5, 1)
    with pytest.raises(ValueError, match="prior_exponents"):
        exact_free_energy(nc, 1e3, gamma=1.0)
    with pytest.raises(ValueError, match="prior_exponents"):
        P.Potential.from_expr("x**2", prior_exponents=[-1])


def test_llc_with_prior_exponents_hits_the_exact_value():
    """Normal crossing x²y⁴ with prior |y|²: λ̂ within 3 se and 5% of the exact target (≈ 1/2).

    The deliberately wrong handling, sampling without the prior, converges to ≈ 1/4 and fails.
    """
    V = P.normal_crossing([1, 2], h=[0, 2])
    kw = dict(nbeta=1e4, step_size=3e-4, num_chains=64, num_draws=1000, num_burnin=4000, thin=4, seed=0)
    res = quiet(estimate_llc, V, **kw)
    exact = exact_tempered_expectation(V, 1e4, gamma=res.gamma)
    assert res.exact == pytest.approx(exact) and 0.45 < exact < 0.5
    assert abs(res.mean - exact) < 3 * res.se and abs(res.mean / exact - 1) < 0.05
    wrong = quiet(estimate_llc, P.normal_crossing([1, 2]), **kw)
    assert abs(wrong.mean - exact) > 3 * math.hypot(wrong.se, res.se)


@pytest.mark.slow
def test_cusp_quadrature_converges_to_a_nested_adaptive_reference():
    """The cusp's thin curved valley: the refined tensor grid agrees with nested adaptive quadrature
    (:func:`slt.estimators.validation.cusp_reference`) at nβ = 1e4; the fixed 1201² grid (the old
    default) is more than 1% off and fails."""
    nb, gamma = 1e4, 1.0
    reference = cusp_reference(nb, gamma)
    q = tempered_quadrature(P.cusp(), nb, gamma=gamma)
    assert q.points_per_axis > 1201
    assert nb * q.mean_v == pytest.approx(reference, rel=3e-3)
    coarse = tempered_quadrature(P.cusp(), nb, gamma=gamma, points_per_axis=1201)
    assert abs(nb * coarse.mean_v / reference - 1) > 0.01


def test_mala_step_levels_reach_the_cusp_far_valley():
    """Cusp at nβ = 1e4 with the defaults: MALA with 4 step levels hits the exact value (nested
    quadrature) within 3 se and 5%; plain MALA (one level, isotropic steps: metric=0) cannot enter
    the stiff valley x > 1/2 and lands more than 3 se low."""
    nb = 1e4
    reference = cusp_reference(nb, 1.0)
    res = quiet(estimate_llc, P.cusp(), nbeta=nb, seed=0)
    assert res.config.step_levels == 4
    assert abs(res.mean - reference) < 3 * res.se and abs(res.mean / reference - 1) < 0.05
    plain = quiet(estimate_llc, P.cusp(), nbeta=nb, seed=0, step_levels=1, metric=0.0)
    assert plain.mean < reference - 3 * plain.se


def test_moving_rate_and_valley_curvature():
    """The two measurements of the adaptive burn-in.  valley_curvature: γ + max(0, nβ λ_min(∇²V)),
    exact for a quadratic, γ along a flat valley.  moving_rate: (1/L) Σ_k ε_k ᾱ_k, the mean step
    where every level is accepted (origin of the cusp, a tiny step on a quadratic), under a tenth
    of it in the cusp's far valley at (1, 1), where ∇²V = [[18, −12], [−12, 8]] has eigenvalue 26:
    nβ·26·ε_k = 260, 65, 16, 4 for the four levels of ε = 1e-3 at nβ = 1e4."""
    harmonic = NumbaBackend(P.harmonic([2.0, 5.0]), 10.0)
    kappa = valley_curvature(harmonic, np.array([[0.3, -1.0], [2.0, 0.5]]), 10.0, 0.5)
    np.testing.assert_allclose(kappa, 0.5 + 10.0 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(valley_curvature(NumbaBackend(X2Y2, 1e4), np.array([[3.0, 0.0], [0.0, -2.0]]), 1e4,
                                                1.0), 1.0)
    cfg = LLCConfig(nbeta=1e4, gamma=1.0, step_size=1e-3, num_chains=2, num_draws=8, num_burnin=0, thin=1,
                    sampler="mala", seed=0, step_levels=4)
    mean_step = 1e-3 * (1 + 1 / 4 + 1 / 16 + 1 / 64) / 4
    rate = moving_rate(NumbaBackend(P.cusp(), 1e4), np.array([[0.0, 0.0], [1.0, 1.0]]), RunSpec(cfg, np.zeros(2)),
                       seed=0)
    assert rate[0] > 0.9 * mean_step and rate[1] < 0.1 * mean_step
    tiny = LLCConfig(**{**cfg.__dict__, "step_size": 1e-6, "nbeta": 1.0})
    flat = moving_rate(NumbaBackend(P.harmonic([1.0, 1.0]), 1.0), np.array([[0.5, 0.5]]), RunSpec(tiny, np.zeros(2)),
                       seed=0)
    assert flat[0] == pytest.approx(1e-6 * (1 + 1 / 4 + 1 / 16 + 1 / 64) / 4, rel=1e-3)


def test_default_burnin_fills_the_cusp_valley():
    """Cusp at nβ = 1e4, defaults: the chains spread into the far valley, where only the small
    step levels move, so the burn-in is extended past the mean-step rule (15,059 steps); the
    estimate is within 3 se of the exact value.  (Over 12 seeds the mean-step rule alone gave
    0.3814 ± 0.0012 against the exact 0.3848; with the extension 0.3841 ± 0.0007.)  Isotropic
    steps (metric=0): the metric's per-coordinate steps move there faster."""
    res = quiet(estimate_llc, P.cusp(), nbeta=1e4, seed=3, metric=0.0)
    rounds = res.info["burnin_rounds"]
    assert rounds[0]["steps"] == 15_059 and len(rounds) > 1 and res.config.num_burnin > 2 * 15_059
    assert rounds[-1]["needed"] <= 1.25 * res.config.num_burnin  # converged, no cap note
    assert res.config.thin == math.ceil(res.config.num_burnin / res.config.num_draws)
    reference = cusp_reference(1e4, 1.0)
    assert abs(res.mean - reference) < 3 * res.se


def test_metric_fills_the_arms_of_a_crossing():
    """devinterp's (1, 1) model y = x w1 w2 + 0.25 ε (n = 1000) at γ = 0.01: the tempered posterior
    is a cross whose arms reach |w| ≈ 20 and narrow like 1/|w|.  With the same step and budget,
    isotropic MALA steps (metric=0) are held back by the stiff cross-section and leave the arms
    under-filled; per-coordinate steps (the default metric) move along them and match the exact
    value on L_n (quadrature, 0.4401)."""
    case = regression_cases(quick=True, gamma=0.01)[0]
    w = np.asarray(case.w_star)
    exact = exact_tempered_expectation(case.empirical, case.nbeta, gamma=0.01, center=w)
    kw = dict(nbeta=case.nbeta, gamma=0.01, step_size=0.1, num_burnin=20_000, num_draws=500, thin=40, seed=2)
    res = quiet(estimate_llc, case.model, w, **kw)
    assert res.config.metric == default_settings(2, None, None).options["mala"]["metric"] > 0
    assert abs(res.mean - exact) < 3 * res.se
    iso = quiet(estimate_llc, case.model, w, metric=0.0, **kw)
    assert iso.mean < exact - 3 * iso.se


def test_improper_posterior_is_detected():
    with pytest.raises(ImproperPosteriorError, match="improper"):
        check_proper(X2Y2, 1e4)
    check_proper(QUASI, 1e4)  # proper: no error
    with pytest.raises(ImproperPosteriorError, match="gamma > 0"):
        estimate_llc(X2Y2, nbeta=1e4, gamma=0.0, step_size=1e-4, seed=0)


# --- the estimator on the numba samplers ----------------------------------------------------

@pytest.fixture(scope="module")
def quasi_default():
    return quiet(estimate_llc, QUASI, nbeta=1e4, seed=0)


def test_defaults_hit_the_exact_finite_nbeta_value(quasi_default):
    """Only nbeta and seed: within 3 se and 5% of the exact value (quadrature, same γ)."""
    res = quasi_default
    exact = exact_tempered_expectation(QUASI, 1e4, gamma=res.gamma)
    assert res.exact == pytest.approx(exact)
    assert abs(res.mean - exact) < 3 * res.se and abs(res.mean / exact - 1) < 0.05
    assert res.rhat < 1.05 and res.ess > 1000 and 0.5 < res.acceptance <= 1
    table = res.info["calibration"].table
    assert any(r["step_size"] == res.config.step_size and r["ok"] for r in table)
    # a deliberately wrong estimator, plain SGLD (O(ε) bias) at the step MALA calibrates to without
    # its metric (1e-4; SGLD diverges at the default's 3.2e-3), fails the test
    sgld = quiet(estimate_llc, QUASI, nbeta=1e4, sampler="sgld", richardson=False, step_size=1e-4, seed=0)
    assert abs(sgld.mean - exact) > 3 * math.hypot(sgld.se, res.se)


def test_sgld_with_richardson_extrapolation_removes_the_step_bias():
    kw = dict(nbeta=1e4, sampler="sgld", step_size=3e-5, num_chains=64, seed=1)
    res = quiet(estimate_llc, QUASI, **kw)
    exact = exact_tempered_expectation(QUASI, 1e4, gamma=res.gamma)
    assert abs(res.mean - exact) < 3 * res.se
    assert abs(res.info["sgld_coarse"] - exact) > 5 * res.info["sgld_coarse_se"]  # plain SGLD at ε: biased
    assert res.acceptance < 1.0


def test_reproducible_and_thread_independent():
    kw = dict(nbeta=1e4, step_size=1e-4, num_chains=8, num_draws=100, num_burnin=100, seed=7)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = quiet(estimate_llc, QUASI, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = quiet(estimate_llc, QUASI, **kw)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a.loss_traces, b.loss_traces)
    c = quiet(estimate_llc, QUASI, **{**kw, "seed": 8})
    assert not np.array_equal(a.loss_traces, c.loss_traces)


def test_adaptive_burnin_is_reproducible_and_thread_independent():
    """The default (adaptive) burn-in runs in rounds with their own seeded streams: same seed,
    same rounds and traces on 1 and 2 threads."""
    kw = dict(nbeta=1e4, step_size=1e-3, num_chains=8, num_draws=50, seed=7)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = quiet(estimate_llc, P.cusp(), **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = quiet(estimate_llc, P.cusp(), **kw)
    finally:
        numba.set_num_threads(before)
    assert a.info["burnin_rounds"] == b.info["burnin_rounds"] and a.config == b.config
    np.testing.assert_array_equal(a.loss_traces, b.loss_traces)


def test_finite_nbeta_bias_is_reported():
    """x²y² (m = 2) with γ = 1: the estimator's own target is ~18% below λ = 1/2, and it says so."""
    res = quiet(estimate_llc, X2Y2, nbeta=1e4, step_size=3e-4, num_draws=500, num_burnin=2000, seed=0)
    assert res.exact < 0.9 * float(X2Y2.lam)
    assert any("finite-nβ bias" in w for w in res.warnings)
    assert abs(res.mean - res.exact) < 3 * res.se + 0.05 * res.exact


def test_errors_divergence_and_bad_arguments():
    with pytest.raises(DivergenceError):
        estimate_llc(QUASI, nbeta=1e4, step_size=10.0, sampler="sgld", num_draws=10, num_burnin=0, seed=0)
    with pytest.raises(ValueError, match="nbeta is required"):
        estimate_llc(QUASI, seed=0)
    with pytest.raises(ValueError, match="not available for"):
        estimate_llc(QUASI, nbeta=1e4, step_size=1e-4, sampler="hmc")
    with pytest.raises(ValueError, match="unknown sampler"):
        estimate_llc(QUASI, nbeta=1e4, step_size=1e-4, sampler="nuts")
    with pytest.raises(ValueError, match="step_size"):
        estimate_llc(QUASI, nbeta=1e4, step_size="big")
    with pytest.raises(ValueError, match="w_star"):
        estimate_llc(QUASI, [0.0], nbeta=1e4, step_size=1e-4)
    with pytest.raises(ValueError, match="no scanned step"):
        calibrate(QUASI, nbeta=1e4, step_sizes=[10.0, 5.0], seed=0)
    with pytest.raises(ValueError, match="exact=True"):
        estimate_llc(P.harmonic([1.0] * 4), nbeta=10.0, step_size=1e-2, exact=True)


def test_calibrate_table_and_choice():
    """Isotropic MALA steps (metric=0), whose acceptance falls with the step."""
    cal = calibrate(QUASI, nbeta=1e4, step_sizes=[3e-3, 1e-4, 1e-5], gammas=(1.0, 10.0), metric=0.0, seed=0)
    assert len(cal.table) == 6 and cal.gamma == 1.0  # the least localization that works
    rows = {r["step_size"]: r for r in cal.table if r["gamma"] == 1.0}
    assert rows[3e-3]["acceptance"] < 0.5 and not rows[3e-3]["ok"]  # 4 step levels: only the smallest ones pass
    chosen = rows[cal.step_size]
    assert chosen["ok"] and chosen["acceptance"] >= cal.target_acceptance
    assert all(not r["ok"] for s, r in rows.items() if s > cal.step_size)
    assert "step" in cal.format()


# --- free energies ---------------------------------------------------------------------------

def test_thermodynamic_integration_within_one_percent_of_exact():
    n = 1e3
    exact = exact_free_energy(QUASI, n, gamma=1.0)
    res = free_energy(QUASI, n=n, num_betas=16, num_chains=64, num_draws=1000, num_burnin=2000, seed=0)
    assert abs(res.value - exact) < max(3 * res.se, 0.01 * exact)
    assert abs(res.value / exact - 1) < 0.01
    # a TI that forgets the β < 1/n part of the grid (starts at β = 1/n) misses the λ log n growth
    keep = res.betas >= 1 / n
    truncated, _ = ti_from_means(res.betas[keep], res.mean_nL[keep], res.se_nL[keep])
    assert abs(truncated / exact - 1) > 0.01


def test_ti_across_n_has_slope_lambda():
    """TI on x² + y⁴ at n = 10²…10⁵ (16 β, 64 chains × 1000 draws): every F_n within 3 se and 1%
    of the exact value, and the fitted slope within 5% of λ = 3/4 and 3 of its se (a mis-scaled
    F_n fails the slope test in test_free_energy_slope_and_wbic)."""
    ns = [1e2, 1e3, 1e4, 1e5]
    kw = dict(num_betas=16, num_chains=64, num_draws=1000, num_burnin=2000)
    ti = [free_energy(QUASI, n=n, seed=i, **kw) for i, n in enumerate(ns)]
    exact = np.array([exact_free_energy(QUASI, n, gamma=1.0) for n in ns])
    val, se = np.array([r.value for r in ti]), np.array([r.se for r in ti])
    assert np.all(np.abs(val - exact) < 3 * se) and np.all(np.abs(val / exact - 1) < 0.01)
    fit = fit_lambda(ns, val, se=se)
    assert abs(fit.lam / 0.75 - 1) < 0.05 and abs(fit.lam - 0.75) < 3 * fit.lam_se


def test_free_energy_slope_and_wbic():
    ns = [1e2, 1e3, 1e4, 1e5]
    exact = [exact_free_energy(QUASI, n, gamma=1.0) for n in ns]
    fit = fit_lambda(ns, exact)
    assert abs(fit.lam / 0.75 - 1) < 0.05
    assert abs(fit_lambda(ns, [2 * v for v in exact]).lam / 0.75 - 1) > 0.05  # mis-scaled fails
    w = wbic(QUASI, n=1e3, num_chains=32, num_draws=400, seed=0)
    # WBIC = F_n + O(1) differences; for quasi-homogeneous V, E_β[nL] = λ/β exactly without prior
    assert abs(w.value - 0.75 * math.log(1e3)) < 5 * w.se + 0.05
    with pytest.raises(ValueError, match="method"):
        free_energy(QUASI, n=1e3, method="bridge")
    with pytest.raises(ValueError, match="gamma"):
        free_energy(QUASI, n=1e3, gamma=0.0)
    with pytest.raises(ValueError, match="n is required"):
        wbic(QUASI)


# --- CLI and scripts ---------------------------------------------------------------------------

def test_cli(tmp_path, capsys):
    from slt.estimators_cli import main

    assert main(["x**2+y**4", "--nbeta", "1e4", "--step-size", "1e-4", "--num-draws", "200",
                 "--out", str(tmp_path)]) == 0
    assert "λ̂" in capsys.readouterr().out
    assert (tmp_path / "llc_diagnostics.png").exists() and (tmp_path / "llc.json").exists()
    assert main(["x2y2", "--nbeta", "1e4", "--gamma", "0"]) == 1
    assert "improper" in capsys.readouterr().err
    assert main(["x**2+", "--nbeta", "1e4"]) == 2


def test_figure_and_benchmark_scripts_run_quick(tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for rel, produced in [("paper_figures/fig_llc_validation.py", "llc_validation.png"),
                          ("paper_figures/fig_free_energy.py", "free_energy.npz"),
                          ("benchmarks/accuracy_llc.py", "accuracy_llc_seed0.json")]:
        spec = importlib.util.spec_from_file_location(Path(rel).stem, root / rel)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
        assert (tmp_path / produced).exists()


def test_auto_burnin_rule():
    """5/(γε) steps (variance of a localization-only OU mode within 1%), floor, cap with a warning, thin."""
    assert auto_burnin(1e-4, 1.0) == (50_000, ())
    assert auto_burnin(1e-4, 1.0, thin=7)[0] == 50_001  # rounded up to a multiple of thin
    assert auto_burnin(1e-2, 1.0) == (BURNIN_STEPS, ())  # never below the fixed default
    assert auto_burnin(1e-3, 0.0) == (BURNIN_STEPS, ())  # no localization: no such mode
    capped, notes = auto_burnin(1e-7, 1.0)
    assert capped == 200_000 and "num_burnin" in notes[0]


def test_default_burnin_lets_the_flat_valleys_relax():
    """x²y² at nβ = 1e5 (MALA, ε = 1e-4): along the axes only γ confines, relaxing over 1/(γε̄) steps
    with ε̄ the mean of the 4 step levels (ε/3 here).  The default burn-in starts with that many
    steps and reaches the exact value; the old fixed 5,000 steps stop several se short.  (Isotropic
    steps: with the metric the chains also move faster along the axes, where the cross-section
    stiffens and isotropic proposals are rejected.)"""
    kw = dict(nbeta=1e5, step_size=1e-4, seed=0, exact=False, thin=5, metric=0.0)
    exact = exact_tempered_expectation(X2Y2, 1e5, gamma=1.0)
    res = quiet(estimate_llc, X2Y2, **kw)
    first = res.info["burnin_rounds"][0]["steps"]
    assert first == auto_burnin(1e-4 * (1 + 1 / 4 + 1 / 16 + 1 / 64) / 4, 1.0)[0] == 150_589
    assert res.config.num_burnin >= first
    assert abs(res.mean - exact) < 3 * res.se
    short = quiet(estimate_llc, X2Y2, num_burnin=5000, **kw)
    assert short.mean < exact - 2 * short.se  # short of the exact value, and the trend test says so
    assert any("still trend" in w and "num_burnin" in w for w in short.warnings)
    assert not any("still trend" in w for w in res.warnings)


def test_default_thin_spans_the_burnin():
    """thin=None: 5, or with the relaxation burn-in enough for the draws to span as many steps."""
    kw = dict(nbeta=1e4, step_size=1e-3, num_chains=4, num_draws=100, seed=0, exact=False)
    res = quiet(estimate_llc, QUASI, **kw)
    relax = auto_burnin(1e-3 * (1 + 1 / 4 + 1 / 16 + 1 / 64) / 4, 1.0)[0]  # 15,059 steps
    assert res.config.num_burnin >= relax
    assert res.config.thin == max(math.ceil(relax / 100), math.ceil(res.config.num_burnin / 100)) >= 151
    assert quiet(estimate_llc, QUASI, num_burnin=1000, **kw).config.thin == 5
    assert quiet(estimate_llc, QUASI, thin=3, **kw).config.thin == 3
