"""slt.estimators.core: the checks a mutation run showed missing (docs/testing.md, "Mutation run").

Each test kills mutants that survived the rest of the suite: the guards of llc_from_traces with
the values their messages name, what llc_from_traces hands to the trend test (the loss traces,
num_burnin, thin, the distance traces) and what it stores (acceptance, exact, warnings, info,
fluctuation, float traces), integer input to ν̂, and the guards and the four-point grid of
thermodynamic integration.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from slt import diagnostics
from slt.errors import SLTWarning
from slt.estimators import LLCConfig, llc_from_traces, singular_fluctuation, ti_from_means
from slt.estimators.results import Fluctuation

REL = 1e-12
CFG = LLCConfig(nbeta=20.0, gamma=1.0, step_size=1e-3, num_chains=4, num_draws=200, num_burnin=10,
                thin=3, sampler="sgld", seed=0)
K = np.arange(200)


def stationary(seed: int = 0) -> np.ndarray:
    """4 chains of 200 iid losses around 0.26, L(w*) = 0.25 (trend p-value 0.65: no alarm)."""
    return 0.26 + 0.02 * np.random.default_rng(seed).normal(size=(4, 200))


def drifting() -> np.ndarray:
    """Losses still relaxing: 0.26 + 0.02 (1 − e^(−k/60)) + noise (trend p-value 1e-9)."""
    return stationary() + 0.02 * (1 - np.exp(-K / 60))


def run(traces, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SLTWarning)
        res = llc_from_traces(traces, 0.25, CFG, **kwargs)
    assert tuple(str(w.message) for w in caught) == res.warnings  # each message emitted once, and stored
    return res


# --- guards: the error names the bad value ------------------------------------------------------

@pytest.mark.parametrize("traces, init, match", [
    (np.ones(20), 1.0, r"loss_traces must be a \(chains, draws\) array, got shape \(20,\)"),
    (np.ones((3, 7)), 1.0, r"^7 draws per chain are too few .* raise num_draws to at least 8 "),
    (np.array([[1.0] * 7 + [np.nan]] * 2), 1.0, "^loss_traces contain NaN or inf$"),
    (np.ones((2, 8)), float("inf"), "^init_loss must be finite, got inf$"),
])
def test_llc_guards_name_the_bad_value(traces, init, match):
    with pytest.raises(ValueError, match=match):
        llc_from_traces(traces, init, CFG)


# --- what the trend test is given --------------------------------------------------------------

def test_drifting_losses_warn_with_burnin_advice_from_the_config():
    """The advice counts the configured burn-in and thinning: from 10 (not "by at least"), × thin 3."""
    x = drifting()
    res = run(x)
    advice = diagnostics.burnin_advice(x, CFG.num_burnin, CFG.thin)
    assert advice == "raise num_burnin from 10 to at least 168"
    assert advice != diagnostics.burnin_advice(x, CFG.num_burnin, 1)  # thin matters here
    trend = [w for w in res.warnings if w.startswith("loss traces still trend")]
    assert len(trend) == 1 and advice in trend[0]


def test_distance_traces_reach_the_trend_test():
    """Stationary losses, distances still growing from w*: only the distances warn, and only when given."""
    x = stationary()
    dist = 0.1 * (1 - np.exp(-K / 50)) + 0.01 * np.random.default_rng(1).normal(size=(4, 200))
    assert run(x).warnings == ()
    res = run(x, distance_traces=dist.tolist())  # a nested list is accepted like an array
    assert len(res.warnings) == 1 and res.warnings[0].startswith("distances ‖w − w*‖² still trend")
    assert diagnostics.burnin_advice(dist, CFG.num_burnin, CFG.thin) in res.warnings[0]


# --- what is stored ------------------------------------------------------------------------------

def test_llc_stores_what_it_is_given_as_floats():
    fl = Fluctuation(nu=0.5, se=0.1, beta=0.2, points=3, n=10)
    info = {"source": "test"}
    res = run(stationary().astype(np.float32), acceptance=np.float32(0.75), exact=np.int64(2), info=info,
              fluctuation=fl)
    assert res.acceptance == 0.75 and type(res.acceptance) is float
    assert res.exact == 2.0 and type(res.exact) is float
    assert res.info == info and res.info is not info  # a copy: the caller's dict is not shared
    assert res.fluctuation is fl
    plain = run(stationary())
    assert (plain.acceptance, plain.exact, plain.fluctuation, plain.info) == (None, None, None, {})


def test_llc_of_integer_traces_stores_float_traces():
    x = np.random.default_rng(2).integers(0, 10, size=(4, 200))  # integer losses, L(w*) = 0.25
    res = run(x)
    assert res.loss_traces.dtype == np.float64 and np.array_equal(res.loss_traces, x)
    assert res.mean == pytest.approx(CFG.nbeta * (x.sum() / x.size - 0.25), rel=REL)


def test_llc_warnings_are_stored_with_the_callers_first():
    res = run(drifting(), extra_warnings=["improper posterior"])
    assert res.warnings[0] == "improper posterior" and res.warnings[1].startswith("loss traces still trend")


# --- ν̂ from integer sums ------------------------------------------------------------------------

def test_singular_fluctuation_of_integer_sums_does_not_overflow():
    """int64 sums and squares (counts of a long run) whose squares, or sums over chains, pass 2^63:
    in int64 they would wrap; as floats they are exact (every value a multiple of 2^29)."""
    d = np.array([[[1, 3], [2, 2]], [[4, 1], [3, 5]], [[2, 2], [1, 4]]], dtype=np.int64) * 2**29  # 3 chains, 2 draws
    sums, squares = d.sum(axis=1), (d**2).sum(axis=1)  # largest square sum 26·2^58 < 2^63; over chains 59·2^58
    got = singular_fluctuation(sums, squares, 2, n=2, beta=1.0)
    df = d.astype(float)
    pooled = df.reshape(6, 2).var(axis=0, ddof=1)
    assert got.nu == pytest.approx(0.5 * pooled.sum(), rel=REL)
    per_chain = 0.5 * df.var(axis=1, ddof=1).sum(axis=1)
    assert got.se == pytest.approx(np.sqrt(per_chain.var(ddof=1) / 3), rel=REL)  # all 2 samples: no subset term


# --- thermodynamic integration: guards and grids ------------------------------------------------

@pytest.mark.parametrize("betas, means, match", [
    ([1.0], [2.0], r"^betas, mean_nL \(and se\) must be 1-D of equal length >= 2, got \(1,\), \(1,\), \(1,\)$"),
    ([0.0, 0.5, 1.0], [1.0, 2.0], r"must be 1-D of equal length >= 2, got \(3,\), \(2,\), \(2,\)$"),
    ([[0.0, 1.0]], [[1.0, 2.0]], r"must be 1-D of equal length >= 2, got \(1, 2\)"),
    ([-0.1, 1.0], [1.0, 2.0], r"^betas must increase from >= 0 to 1, got \[-0.1, 1.0\]$"),
    ([0.0, 0.5, 0.5, 1.0], [1.0, 2.0, 2.0, 3.0], r"^betas must increase from >= 0 to 1, got \[0.0, 0.5, 0.5, 1.0\]$"),
    ([0.0, 0.5, 0.9], [1.0, 2.0, 3.0], r"^betas must increase from >= 0 to 1, got "),
    ([0.0, 1.0], [1.0, np.nan], r"^mean_nL contains NaN or inf$"),
])
def test_ti_guards_name_the_bad_grid(betas, means, match):
    with pytest.raises(ValueError, match=match):
        ti_from_means(betas, means)


def test_ti_on_an_integer_grid():
    assert ti_from_means([0, 1], [2, 4]) == (3.0, 0.0)  # the trapezoid; integer β and means are fine


def test_ti_with_four_positive_points_uses_the_cubic_spline():
    """Four points in log β determine a cubic: a cubic integrand is integrated exactly (Simpson is
    exact on the cubic times e^u only up to its h⁴ error, so compare with the same Simpson rule)."""
    u = np.linspace(math.log(1e-3), 0.0, 4)
    b = np.exp(u)
    b[-1] = 1.0
    f = 3.0 - 0.5 * u + 0.2 * u**2 + 0.03 * u**3
    h = (u[1] - u[0]) / 32
    x = u[0] + h * np.arange(3 * 32 + 1)
    coef = np.where(np.arange(x.size) % 2 == 1, 4.0, 2.0)
    coef[0] = coef[-1] = 1.0
    fx = 3.0 - 0.5 * x + 0.2 * x**2 + 0.03 * x**3
    expected = b[0] * f[0] + float(h / 3 * np.sum(coef * fx * np.exp(x)))
    assert ti_from_means(b, f)[0] == pytest.approx(expected, rel=REL)
