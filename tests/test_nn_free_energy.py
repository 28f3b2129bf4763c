"""WBIC and free energy of a torch network against closed forms (linear-Gaussian model).

With n L_n(w) = c + ½ (w − w*)ᵀA(w − w*) (A = XᵀX, w* the least-squares fit) and the prior
N(w*, I/γ), the localized tempered posterior at β is Gaussian with variance 1/κ along an
eigenvector of A with eigenvalue a, κ = βa + γ (MALA, the default sampler of this small model,
has no step-size bias; SGLD at step ε would give 1/(κ(1 − εκ/4))).  Hence E_β[n L_n] =
c + ½ Σ a/κ, and F_n = ∫₀¹ E_β[n L_n] dβ = c + ½ Σ log((a + γ)/γ) (Watanabe 2013).
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from slt.nn import free_energy, wbic
from slt.nn.models import gaussian_nll

GAMMA, EPS = 5.0, 0.01


@pytest.fixture(scope="module")
def problem():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(3)
    n, d = 200, 3
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    y = X @ torch.ones(d, 1, dtype=torch.float64) + torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(X, y).solution.T)
        c = float(0.5 * ((X @ model.weight.T - y) ** 2).sum())
    a = np.linalg.eigvalsh((X.T @ X).numpy())
    return model, (X, y), a, c, n


def mean_nl(beta, a, c, eps=EPS):
    kappa = beta * a + GAMMA
    return c + 0.5 * np.sum(a / (kappa * (1 - eps * kappa / 4)))


def test_wbic_matches_closed_form(problem):
    model, data, a, c, n = problem
    value, se = wbic(model, data, loss_fn=gaussian_nll, gamma=GAMMA, step_size=EPS, num_chains=4,
                     num_draws=3000, num_burnin=500, seed=0)
    exact = mean_nl(1 / math.log(n), a, c, eps=0.0)  # MALA (the default here): no step-size bias
    assert abs(value - exact) < 4 * se
    assert abs(value - (c + len(a) / 2)) > 4 * se  # the unlocalized regular answer c + d/2 fails


def test_free_energy_by_thermodynamic_integration(problem):
    """TI of the sampled E_β[n L_n] against the same quadrature rule applied to the exact means
    (so the grid's own error cancels): within 4 se; the continuum F_n is within 1% of that; means
    at a mis-scaled β (2β: a factor-2 error in nβ) are rejected."""
    from slt.estimators import ti_from_means

    model, data, a, c, n = problem
    betas = np.geomspace(1e-4, 1.0, 10)
    value, se = free_energy(model, data, loss_fn=gaussian_nll, betas=betas, gamma=GAMMA, step_size=EPS,
                            metric=0.0, num_chains=4, num_draws=1000, num_burnin=300, seed=1)
    on_grid = ti_from_means(betas, np.array([mean_nl(b, a, c, eps=0.0) for b in betas]))[0]
    exact_continuum = c + 0.5 * np.sum(np.log((a + GAMMA) / GAMMA))
    assert on_grid == pytest.approx(exact_continuum, rel=0.01)
    assert abs(value - on_grid) < 4 * se
    wrong = ti_from_means(betas, np.array([mean_nl(2 * b, a, c, eps=0.0) for b in betas]))[0]
    assert abs(value - wrong) > 4 * se


def test_free_energy_errors(problem):
    model, data, *_ = problem
    with pytest.raises(ValueError, match="gamma"):
        free_energy(model, data, loss_fn=gaussian_nll, betas=[0.1, 1.0], gamma=0.0)
    with pytest.raises(ValueError, match="nbeta"):
        free_energy(model, data, loss_fn=gaussian_nll, betas=[0.1, 1.0], nbeta=3.0)
    with pytest.raises(ValueError, match="betas"):
        free_energy(model, data, loss_fn=gaussian_nll, betas=[1.0])
    with pytest.raises(ValueError, match="nbeta"):
        wbic(model, data, loss_fn=gaussian_nll, nbeta=3.0)
