"""Toy regression models: compiled finite-data losses against closed forms and quadrature."""
import warnings

import numpy as np
import pytest
import sympy as sp

from slt.errors import SLTWarning
from slt.estimators import default_nbeta, estimate_llc, exact_tempered_expectation
from slt.models import Regression

M = Regression("w1*w2*x", n=500, seed=0)


def test_population_loss_closed_form():
    """E[x²] = 4 for x ~ N(0, 2²): K = 2 w1² w2²; uniform x on [−2, 2] has E[x²] = 4/3."""
    w1, w2 = sp.symbols("w1 w2")
    assert sp.simplify(M.population_potential().expr - 2 * w1**2 * w2**2) == 0
    U = Regression("w1*w2*x", n=10, seed=0, x_dist="uniform")
    assert sp.simplify(U.population_potential().expr - sp.Rational(2, 3) * w1**2 * w2**2) == 0
    # the empirical loss averages to it: L_n(w) − L_n(0) ≈ K(w) within sampling error
    big = Regression("w1*w2*x", n=200_000, seed=1)
    w = np.array([0.7, -0.9])
    diff = big.loss(w) - big.loss([0.0, 0.0])
    assert diff == pytest.approx(2 * (0.7 * 0.9) ** 2, rel=0.02)
    assert abs(diff - 2 * (0.7 * 0.9) ** 2 * 3) > 0.5  # the wrong moment (E x² = 12) fails


def test_compiled_loss_gradient_and_minibatch_match_closed_forms():
    E = M.empirical_potential()
    rng = np.random.default_rng(0)
    for w in rng.normal(size=(5, 2)):
        assert M.loss(w) == pytest.approx(float(E(w)), rel=1e-12)
        x, y = M.data[:, 0], M.data[:, 1]
        direct = np.mean((y - w[0] * w[1] * x) ** 2) / 2 + 0.5 * np.log(2 * np.pi)
        assert M.loss(w) == pytest.approx(direct, rel=1e-12)
        g = np.zeros(2)
        M.kernels.grad(w, M.data, np.arange(M.n, dtype=np.int64), M.n, g)
        np.testing.assert_allclose(g, E.gradient(w), rtol=1e-10)
        h = np.zeros(2)
        M.kernels.hdiag(w, M.data, np.arange(M.n, dtype=np.int64), M.n, h)  # ∂²L_n/∂w_d², MALA's metric
        np.testing.assert_allclose(h, np.diag(E.hessian(w)), rtol=1e-10)
        rows = np.array([3, 3, 17], dtype=np.int64)
        sub = np.mean((y[rows] - w[0] * w[1] * x[rows]) ** 2) / 2 + 0.5 * np.log(2 * np.pi)
        assert M.loss(w, rows) == pytest.approx(sub, rel=1e-12)


def test_full_batch_runs_on_the_data_moments():
    """Full-batch samplers run on L_n through the data moments (cost independent of n), the
    same loss as the per-sample kernel; minibatch SGLD keeps the rows; f not polynomial in x
    has no such form."""
    from slt.estimators.numba_backend import sampling_target as _sampling_model

    P = M.full_batch_potential
    assert P is M.full_batch_potential  # compiled once per model
    W = np.random.default_rng(1).normal(size=(20, 2)) * 3
    np.testing.assert_allclose(P(W), [M.loss(w) for w in W], rtol=1e-12)
    assert _sampling_model(M, 100.0) == (P, False)
    assert _sampling_model(M, 100.0, batch_size=10) == (M, False)
    assert Regression("tanh(w1*x)", n=50, seed=0).full_batch_potential is None


def test_llc_on_finite_data_matches_quadrature_of_the_empirical_loss():
    """The sampler's target is nβ(E[L_n] − L_n(w₀)) by quadrature on L_n, not λ (finite n, β, γ)."""
    nb = default_nbeta(M.n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        res = estimate_llc(M, nbeta=nb, step_size=2e-3, num_draws=1000, seed=0)
    exact = exact_tempered_expectation(M.empirical_potential(), nb, gamma=res.gamma, center=M.w_true)
    assert abs(res.mean - exact) < 3 * res.se + 0.01
    assert abs(res.mean - 0.5) > 10 * res.se  # λ = 1/2 itself is not what it converges to


def test_free_parameter_and_bad_arguments():
    free = Regression("x*w2", n=10, seed=0, parameters=("w1", "w2"))
    assert free.dim == 2 and str(free.population_potential().expr) == "2*w2**2"
    with pytest.raises(ValueError, match="n must"):
        Regression("w1*x", n=0)
    with pytest.raises(ValueError, match="x_dist"):
        Regression("w1*x", n=5, x_dist="cauchy")
    with pytest.raises(ValueError, match="w_true"):
        Regression("w1*x", n=5, w_true=(1.0, 2.0))
    with pytest.raises(ValueError, match="noise"):
        Regression("w1*x", n=5, noise=-1.0)
    with pytest.raises(ValueError, match="no parameters"):
        Regression("x**2", n=5)
    with pytest.raises(ValueError, match="not polynomial"):
        Regression("w1*sin(x)", n=5).empirical_potential()
    with pytest.raises(ValueError, match="coordinates"):
        M.loss([1.0])


def test_loss_noise_gives_devinterps_mse_loss():
    """loss_noise = √½: L_n = mean (y − f)² + ½ log π, K = E[x²] w1² w2² = 4 w1² w2² (data noise 0.25)."""
    D = Regression("w1*w2*x", n=300, seed=2, noise=0.25, loss_noise=np.sqrt(0.5))
    x, y = D.data[:, 0], D.data[:, 1]
    assert np.std(y) == pytest.approx(0.25, rel=0.15)
    w = np.array([0.4, -1.3])
    assert D.loss(w) == pytest.approx(np.mean((y - w[0] * w[1] * x) ** 2) + 0.5 * np.log(np.pi), rel=1e-12)
    assert D.loss(w) == pytest.approx(float(D.empirical_potential()(w)), rel=1e-12)
    w1, w2 = sp.symbols("w1 w2")
    assert sp.simplify(D.population_potential().expr - 4 * w1**2 * w2**2) == 0
    with pytest.raises(ValueError, match="loss_noise"):
        Regression("w1*x", n=10, loss_noise=0.0)
