"""Diagnostics against exact laws: iid chains, AR(1) chains with known ESS, drifting chains."""
import math

import numpy as np
import pytest
from scipy.signal import lfilter

from slt import diagnostics as D


def ar1(rho, shape, seed):
    rng = np.random.default_rng(seed)
    x = np.zeros(shape)
    x[:, 0] = rng.normal(size=shape[0]) / np.sqrt(1 - rho**2)
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + rng.normal(size=shape[0])
    return x


def test_ess_of_ar1_matches_closed_form():
    """AR(1) with coefficient ρ has ESS = N (1 − ρ)/(1 + ρ); ignoring correlation would be 19x off."""
    rho = 0.9
    x = ar1(rho, (8, 5000), 0)
    exact = x.size * (1 - rho) / (1 + rho)
    assert abs(D.ess(x, method="mean") / exact - 1) < 0.2
    assert abs(x.size / exact - 1) > 10  # the naive count fails the same check


def test_mcse_covers_the_true_mean():
    x = ar1(0.5, (8, 4000), 1)
    se = D.mcse_mean(x)
    assert abs(x.mean()) < 4 * se
    assert se > 1.5 * x.std() / np.sqrt(x.size)  # autocorrelation widens it (exact factor √3)


def test_mcse_sees_a_mode_slower_than_the_chains():
    """Chains with their own offset (a mode none of them leaves): the exact se is √(1/(CN) + s²/C)."""
    rng = np.random.default_rng(3)
    chains, draws, s = 64, 2000, 0.05
    x = rng.normal(size=(chains, draws)) + rng.normal(scale=s, size=(chains, 1))
    exact = math.sqrt(1 / x.size + s**2 / chains)
    assert abs(D.mcse_mean(x) / exact - 1) < 0.25
    assert D.mcse_mean(x[: D.MIN_CHAINS_BETWEEN - 1]) < 0.7 * math.sqrt(1 / (7 * draws) + s**2 / 7)  # ESS form alone


def test_rhat_and_trend_flag_disagreeing_and_drifting_chains():
    rng = np.random.default_rng(2)
    iid = rng.normal(size=(8, 1000))
    assert D.rhat(iid) < 1.01
    assert D.trend_pvalue(iid) > D.TREND_P
    shifted = iid + np.arange(8)[:, None] * 0.5
    assert D.rhat(shifted) > 1.1
    drift = iid + np.linspace(0, 3, 1000)
    assert D.trend_pvalue(drift) < D.TREND_P
    assert D.trend_z(drift) > 0
    one = D.trend_z(drift[:1])  # single chain: ESS-based Geweke z
    assert one > 3


def ar1_fast(rho, shape, rng):
    e = rng.normal(size=shape)
    e[:, 0] /= math.sqrt(1 - rho**2)
    return lfilter([1.0], [1.0, -rho], e, axis=1)


def test_trend_test_false_alarm_rate_and_power():
    """Calibration of the trend thresholds by simulation (Geweke test, Welch t reference).

    False alarms on stationary AR(1) chains over ρ ∈ {0, 0.9, 0.99}, 4 and 64 chains, 100 and
    2000 draws stay ≤ 1.5% in total for both the two-sided TREND_P and the one-sided
    DISTANCE_TREND_P (a normal reference with ESS-based variances alone gives ~2–5% at 100
    draws).  Power: a relaxation m(t) = −A e^{−t/τ}, τ = N/5, biasing the mean of all draws by
    5 standard errors, is flagged in ≥ 90% of runs (the old quarter-3-vs-4 test with a t on
    C − 1 dof flagged none).  A bias of ~1 se is not detectable at this false-alarm rate: the
    early-vs-late difference has ~2.6× the se of the overall mean.
    """
    rng = np.random.default_rng(7)
    two = one = runs = 0
    for rho in (0.0, 0.9, 0.99):
        for chains, draws in ((4, 100), (64, 100), (4, 2000), (64, 2000)):
            for _ in range(40):
                x = ar1_fast(rho, (chains, draws), rng)
                two += D.trend_pvalue(x) < D.TREND_P
                one += D.trend_pvalue(x, "greater") < D.DISTANCE_TREND_P
                runs += 1
    assert two / runs <= 0.015 and one / runs <= 0.015, (two, one, runs)
    hits = 0
    for rho, chains, draws in ((0.0, 4, 500), (0.9, 4, 2000), (0.0, 16, 1000)):
        t = np.arange(draws)
        shape = np.exp(-t / (draws / 5))
        se = math.sqrt((1 + rho) / (1 - rho) / (1 - rho**2) / (chains * draws))  # exact AR(1) se of the mean
        for _ in range(20):
            x = ar1_fast(rho, (chains, draws), rng) - 5 * se / shape.mean() * shape
            hits += D.trend_pvalue(x) < D.TREND_P
    assert hits >= 0.9 * 60, hits
    assert D.trend_pvalue(x, "greater") < 0.5 < D.trend_pvalue(-x, "greater")
    with pytest.raises(ValueError, match="alternative"):
        D.trend_pvalue(x, "less")


def test_burnin_advice_from_exponential_relaxation():
    """A noiseless m(t) = −e^{−t/τ} gives τ back from the three thirds and a concrete num_burnin."""
    t = np.arange(900.0)
    x = np.tile(-np.exp(-t / 200.0), (4, 1)) + 1e-6 * np.random.default_rng(0).normal(size=(4, 900))
    assert D.relaxation_draws(x) == pytest.approx(200.0, rel=1e-3)
    assert D.relaxation_draws(np.tile(t, (4, 1))) == math.inf  # linear drift: no slowing down
    advice = D.burnin_advice(x, num_burnin=1000, thin=2)
    new = int(advice.rsplit(" ", 1)[1])
    # the drift left at the end, e^{-4.5}, decays below the mcse after τ ln(drift/mcse) more draws
    assert 1000 + 2 * 200 * math.log(math.exp(-4.5) / D.mcse_mean(x)) < new < 1000 + 2 * 200 * 12
    assert "raise num_burnin from 1000 to at least" in advice


def test_constant_traces_and_bad_input():
    c = np.ones((4, 10))
    assert D.rhat(c) == 1.0 and D.ess(c) == 40 and D.mcse_mean(c) == 0.0 and D.trend_z(c) == 0.0
    with pytest.raises(ValueError, match="shape"):
        D.rhat(np.ones(10))
    with pytest.raises(ValueError, match="NaN"):
        D.ess(np.full((2, 10), np.nan))


def test_every_warning_names_a_remedy():
    rng = np.random.default_rng(3)
    good = rng.normal(size=(8, 500))
    assert D.trace_warnings(good, estimate=1.0, rhat_value=1.0, ess_value=1000) == ()
    drift = good + np.linspace(0, 5, 500)
    msgs = D.trace_warnings(drift, estimate=-0.1, rhat_value=1.2, ess_value=10)
    assert len(msgs) == 4
    for key, remedy in [("negative", "gamma"), ("trend", "num_burnin"), ("R-hat", "num_draws"),
                        ("effective sample size", "num_draws")]:
        assert any(key in m and remedy in m for m in msgs), key


def test_distance_traces_reveal_drift_hidden_in_noisy_losses():
    """Minibatch-noisy stationary losses with distances ‖w − w*‖² still growing: only the distance
    trend fires, and its message names the distances and a concrete num_burnin."""
    rng = np.random.default_rng(4)
    losses = rng.normal(size=(4, 2000))
    grow = 10 * (1 - np.exp(-np.arange(2000) / 1000)) + 0.3 * ar1_fast(0.9, (4, 2000), rng)
    common = dict(estimate=1.0, rhat_value=1.0, ess_value=1000, num_burnin=500, thin=2)
    assert D.trace_warnings(losses, **common) == ()
    assert D.trace_warnings(losses, distance_traces=10 + ar1_fast(0.9, (4, 2000), rng), **common) == ()
    (msg,) = D.trace_warnings(losses, distance_traces=grow, **common)
    assert msg.startswith("distances") and "raise num_burnin from 500 to at least" in msg



# --- the estimator's warnings, both ways: silent on healthy traces, the right one on sick ones ---

def healthy(seed: int, shape=(8, 1000)) -> np.ndarray:
    """Stationary AR(1) losses above L(w*) = 1: λ = 0.75 at nβ = 100."""
    return 1.0075 + 0.002 * ar1_fast(0.3, shape, np.random.default_rng(seed))


def llc_warnings(traces: np.ndarray) -> list[str]:
    from slt.errors import SLTWarning
    from slt.estimators import LLCConfig, llc_from_traces

    cfg = LLCConfig(nbeta=100.0, gamma=1.0, step_size=1e-3, num_chains=traces.shape[0], num_draws=traces.shape[1],
                    num_burnin=200, thin=1, sampler="sgld", seed=0)
    with pytest.warns(SLTWarning) as rec:
        res = llc_from_traces(traces, 1.0, cfg)
    assert [str(w.message) for w in rec] == list(res.warnings)  # each emitted once, and stored
    return list(res.warnings)


@pytest.mark.parametrize("seed", range(5))
def test_healthy_traces_raise_no_warning(seed):
    import warnings

    from slt.estimators import LLCConfig, llc_from_traces

    cfg = LLCConfig(nbeta=100.0, gamma=1.0, step_size=1e-3, num_chains=8, num_draws=1000, num_burnin=200, thin=1,
                    sampler="sgld", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = llc_from_traces(healthy(seed), 1.0, cfg, distance_traces=healthy(seed + 100))
    assert res.warnings == () and abs(res.mean - 0.75) < 4 * res.se


def stuck_chain() -> np.ndarray:
    x = healthy(0)
    x[0] = 1.0  # one chain never left w*
    return x


def biased_start() -> np.ndarray:
    return healthy(1) - 0.0075 * np.exp(-np.arange(1000) / 150)  # started at w*, relaxing upward


@pytest.mark.parametrize("make, first", [
    (stuck_chain, "R-hat = 1.2"),
    (biased_start, "loss traces still trend"),
    (lambda: healthy(2, (2, 40)), "effective sample size"),  # too few draws
    (lambda: 2.0 - healthy(3), "LLC estimate is negative"),  # w* is not a minimum
], ids=["stuck chain", "biased start", "too few draws", "not a minimum"])
def test_sick_traces_raise_the_right_warning(make, first):
    msgs = llc_warnings(make())
    assert msgs[0].startswith(first), msgs
