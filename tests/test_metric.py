"""Frozen diagonal metrics (slt.estimators.metric): metric_sgld and HMC with adapted windows.

Exact references: a bias-free linear regression at its least-squares solution, whose loss is
quadratic, so λ̂'s target is ½ Σ nβh/(nβh + γ) and the posterior variances are the diagonal of
(nβ H + γ I)⁻¹; HMC's metric leapfrog leaves an exactly sampled Gaussian exactly invariant.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slt import samplers  # noqa: E402
from slt.errors import SLTWarning  # noqa: E402
from slt.estimators import metric  # noqa: E402
from slt.estimators.config import LLCConfig  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.sgmcmc import MetropolisState, hmc_step  # noqa: E402

NBETA, GAMMA = 100.0, 1.0
SCALES = (3.0, 1.0, 0.3, 0.1)


def _regression(n: int = 200, d_in: int = 4, d_out: int = 5):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d_in, generator=g, dtype=torch.float64) * torch.tensor(SCALES[:d_in], dtype=torch.float64)
    W = torch.randn(d_in, d_out, generator=g, dtype=torch.float64)
    net = torch.nn.Linear(d_in, d_out, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(W.T)
    hess = np.kron(np.eye(d_out), (X.T @ X / n).numpy())  # ∇²L in the order of weight.flatten() (out, in)
    h = np.linalg.eigvalsh(hess)
    exact = 0.5 * float(np.sum(NBETA * h / (NBETA * h + GAMMA)))
    return net, (X, X @ W), exact, hess


def _mse(out, y):
    return 0.5 * (out - y).pow(2).sum(dim=1).mean()


def _estimate(sampler: str, **kw):
    net, data, exact, hess = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        res = estimate_llc(net, data, loss_fn=_mse, nbeta=NBETA, gamma=GAMMA, sampler=sampler, num_chains=8,
                           seed=0, fluctuation_points=0, progress=False, **kw)
    return res, exact, hess


def test_hessian_metric_and_window_metric_formulas():
    np.testing.assert_allclose(metric.hessian_metric(np.array([0.0, -2.0, 1.0]), 10.0, 2.0), [0.5, 1 / 22, 1 / 12])
    with pytest.raises(ValueError, match="gamma > 0"):
        metric.hessian_metric(np.ones(2), 10.0, 0.0)
    mean, sq = np.array([1.0, 0.0]), np.array([5.0, 1.0])  # variances 4 and 1
    shrink = metric.window_metric(mean, sq, 95)  # n/(n+5) = 0.95
    np.testing.assert_allclose(shrink, 0.95 * np.array([4.0, 1.0]) + 0.05 * 1e-3 * 2.5)


def test_window_sums_pool_chains_and_draws():
    sums = metric.WindowSums()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4, 3)) * np.array([1.0, 2.0, 0.5])
    for j, pos in enumerate(x):
        sums(torch.as_tensor(pos), j)
    assert sums.count == 200
    n = 200
    var = x.reshape(-1, 3).var(axis=0)
    np.testing.assert_allclose(sums.metric(), n / (n + 5) * var + 5 / (n + 5) * 1e-3 * var.mean(), rtol=1e-10)


def test_hmc_with_a_metric_leaves_a_gaussian_invariant():
    """Start 40,000 chains exactly from N(0, diag(1/a)); one HMC trajectory with a diagonal metric
    far from the covariance keeps the per-coordinate variances at 1/a (within 4 se)."""
    a = torch.tensor([1.0, 100.0, 1e4], dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    n = 40_000
    W = torch.randn(n, 3, generator=g, dtype=torch.float64) / a.sqrt()

    def potential(w):
        return 0.5 * (a * w * w).sum(1), a * w, (a * w * w).sum(1)

    u, grad, loss = potential(W)
    state = MetropolisState(W, u, grad, loss, torch.zeros(n, dtype=torch.int64))
    inv_metric = torch.tensor([2.0, 0.02, 1e-5], dtype=torch.float64)  # not 1/a: a valid but imperfect metric
    out = hmc_step(state, potential, torch.randn(n, 3, generator=g, dtype=torch.float64),
                   1.0 - torch.rand(n, generator=g, dtype=torch.float64), 0.5, leapfrog=5, inv_metric=inv_metric)
    assert 0.2 < out.accepted.double().mean() < 1.0
    var = (out.w * out.w).mean(0) * a  # 1 at stationarity; se √(2/n)
    assert torch.all((var - 1).abs() < 4 * (2 / n) ** 0.5), var
    moved = (out.w - W).abs().mean(0) * a.sqrt()
    assert torch.all(moved > 0.1), moved  # every coordinate moves on its own scale


def test_metric_sgld_is_exact_on_a_quadratic_and_uses_the_hessian_diagonal():
    res, exact, hess = _estimate("metric_sgld", num_draws=1000)
    assert abs(res.mean - exact) < 3 * res.se and res.rhat < 1.05, (res.mean, res.se, exact, res.rhat)
    g = res.config.inv_metric
    want = 1.0 / (NBETA * np.diag(hess) + GAMMA)
    assert np.corrcoef(np.log(g), np.log(want))[0, 1] > 0.99  # Hutchinson's 32 probes
    assert np.all(np.abs(np.log(g / want)) < np.log(2.0))
    # the burn-in is the relaxation rule at the slowest rate in the metric's coordinates, not at γ min G
    assert res.config.num_burnin < 5 / (res.config.step_size * GAMMA * g.min())


def test_hmc_adapted_metric_learns_the_posterior_variances():
    res, exact, hess = _estimate("hmc", num_draws=400, sampler_options={"adapt_metric": True})
    assert abs(res.mean - exact) < 3 * res.se and res.rhat < 1.05, (res.mean, res.se, exact, res.rhat)
    var = np.diag(np.linalg.inv(NBETA * hess + GAMMA * np.eye(hess.shape[0])))
    ratio = res.config.inv_metric / var
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio  # 800 pooled draws of the last window
    windows = res.info["metric_windows"]
    assert [w["window"] for w in windows] == list(metric.METRIC_WINDOWS)
    assert res.config.num_burnin == metric.WINDOW_ADAPT_STEPS
    assert 0.5 < res.acceptance < 0.9


def test_metric_options_are_honoured_or_rejected():
    with pytest.raises(ValueError, match="takes no metric"):
        LLCConfig(1.0, 1.0, 0.1, 2, 10, 0, 1, "sgld", 0, inv_metric=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive finite"):
        LLCConfig(1.0, 1.0, 0.1, 2, 10, 0, 1, "metric_sgld", 0, inv_metric=[1.0, -2.0])
    with pytest.raises(ValueError, match="adapt_metric"):
        _estimate("hmc", num_draws=10, step_size=1e-3, sampler_options={"adapt_metric": True})
    with pytest.raises(ValueError, match="adapt_metric"):
        samplers.options("hmc", adapt_metric="yes")
    with pytest.raises(ValueError, match="probes"):
        samplers.options("metric_sgld", probes=0)
    rec = samplers.get("metric_sgld")
    assert (rec.inv_metric, rec.burnin, rec.exact) == ("hessian", "preconditioned", False)


def test_metric_sgld_needs_a_backend_with_the_hessian_diagonal():
    from slt.estimators import estimate_llc as numba_llc
    from slt.potentials import harmonic

    with pytest.raises(ValueError, match="metric_sgld"):
        numba_llc(harmonic([1.0, 2.0]), nbeta=10.0, sampler="metric_sgld", num_draws=10, seed=0)


def test_burnin_trend_test_flags_relaxation_and_rarely_stationary_chains():
    from slt.estimators import tuning

    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(200):  # stationary AR(1), ρ = 0.5, 100 records: false alarms well under 5%
        x = np.zeros((8, 100))
        e = rng.normal(size=(8, 100))
        for t in range(1, 100):
            x[:, t] = 0.5 * x[:, t - 1] + e[:, t]
        alarms += not tuning.burnin_settled(x, x**2)
    assert alarms <= 10, alarms
    t = np.arange(100)
    relaxing = 1 - np.exp(-t / 60.0) + 0.05 * rng.normal(size=(8, 100))  # still relaxing in the second half
    assert not tuning.burnin_settled(rng.normal(size=(8, 100)), relaxing)


def test_a_short_burnin_is_extended_while_the_chains_trend(monkeypatch):
    from slt.estimators import tuning

    monkeypatch.setattr(tuning, "auto_burnin", lambda *a, **k: (20, ()))  # far shorter than the relaxation
    res, exact, _ = _estimate("sghmc", num_draws=300)
    assert res.info["burnin_extensions"] >= 1 and res.config.num_burnin >= 40
    assert abs(res.mean - exact) < 3 * res.se
    given, _, _ = _estimate("sghmc", num_draws=300, num_burnin=20)  # a given burn-in is honoured
    assert given.info["burnin_extensions"] == 0 if "burnin_extensions" in given.info else given.config.num_burnin == 20
