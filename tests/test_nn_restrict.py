"""The restricted (weight-refined) LLC: sample only some coordinates, hold the rest at w*.

Exact check: a deep linear network f(x) = W₃ W₂ W₁ x restricted to its middle layer is linear in
W₂, so L_n is quadratic there and the restricted localized tempered posterior is Gaussian:
with g, H the gradient and Hessian of L_n in W₂ at w*, P = nβH + γI and δ = −nβ P⁻¹ g,
E[nβ(L_n(w) − L_n(w*))] = nβ [gᵀδ + ½ δᵀHδ + ½ tr(H P⁻¹)], the exact finite-nβ value; as
nβ → ∞ it tends to rank(H)/2 = rank(W₃)·rank(W₁)/2.
"""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402
from torch.func import functional_call, grad, hessian  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.dln import dln_problem  # noqa: E402
from slt.nn.flat import restriction_mask  # noqa: E402
from slt.nn.models import gaussian_nll  # noqa: E402


@pytest.fixture(scope="module")
def dln():
    teacher, (X, y), lam = dln_problem([3, 4, 4, 3], 2, 300, 1.0, 0)
    return teacher, (X, y)


def restricted_exact(teacher, data, name, nbeta, gamma):
    X, y = data
    params = dict(teacher.named_parameters())
    w0 = params[name].detach().reshape(-1)

    def loss(w):
        p = {k: v.detach() for k, v in params.items()}
        p[name] = w.reshape(params[name].shape)
        return gaussian_nll(functional_call(teacher, p, (X,)), y)

    g, H = grad(loss)(w0), hessian(loss)(w0)
    P = nbeta * H + gamma * torch.eye(w0.numel(), dtype=H.dtype)
    delta = -nbeta * torch.linalg.solve(P, g)
    value = nbeta * (g @ delta + 0.5 * delta @ H @ delta + 0.5 * torch.trace(torch.linalg.solve(P, H)))
    return float(value), int(torch.linalg.matrix_rank(H))


def test_restricted_dln_layer_matches_its_gaussian_integral(dln):
    teacher, data = dln
    nbeta, gamma = 300 / np.log(300), 1.0
    exact, rank = restricted_exact(teacher, data, "1.weight", nbeta, gamma)
    assert rank == 2 * 2  # rank(W₃)·rank(W₁) = 2·2: λ = 2 for the layer
    res = estimate_llc(teacher, data, loss_fn=gaussian_nll, restrict="1.*", sampler="hmc", num_chains=8,
                       num_draws=400, num_burnin=100, sampler_options={"leapfrog": 8}, seed=0, fluctuation_points=0)
    assert res.info["restrict"] == {"parameters": {"1.weight": 16}, "coordinates": 16, "of": 40}
    assert abs(res.mean - exact) < 3 * res.se
    assert abs(res.mean - 1.15 * exact) > 3 * res.se  # a 15% error is rejected
    with warnings.catch_warnings(record=True) as caught:  # 100 draws: R-hat may sit just above 1.01
        warnings.simplefilter("always", SLTWarning)
        full = estimate_llc(teacher, data, loss_fn=gaussian_nll, sampler="hmc", num_chains=8, num_draws=100,
                            num_burnin=50, sampler_options={"leapfrog": 8}, seed=0, fluctuation_points=0)
    assert all(w.startswith("R-hat") for w in full.warnings) and len(caught) == len(full.warnings), full.warnings
    assert full.mean > res.mean + 3 * np.hypot(full.se, res.se)  # the whole network has more to spread into


def test_restriction_forms_and_errors():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    named = list(m.named_parameters())
    assert int(restriction_mask(named, "2.*").sum()) == 4
    assert int(restriction_mask(named, ["0.bias", "2.bias"]).sum()) == 4
    rows = restriction_mask(named, lambda n, p: torch.zeros_like(p, dtype=torch.bool).index_fill(0, torch.tensor([0]),
                                                                                                True)
                            if n == "0.weight" else False)
    assert int(rows.sum()) == 2  # one hidden unit's incoming weights
    with pytest.raises(ValueError, match="selects no coordinate"):
        restriction_mask(named, "att.*")
    with pytest.raises(ValueError, match="shape"):
        restriction_mask(named, lambda n, p: torch.ones(5, dtype=torch.bool))


def test_per_sample_llcs_average_to_the_estimate(dln):
    """λ̂_i = nβ(E_w ℓ_i − ℓ_i(w*)) from running sums at every draw: (1/n) Σ_i λ̂_i = λ̂ exactly for a
    full-batch sampler (the traces are L_n = mean of ℓ_i), on the torch and numba doors."""
    from slt.estimators import estimate_llc as numba_llc
    from slt.models import Regression

    teacher, data = dln
    with pytest.warns(SLTWarning):  # 2 chains of 20 draws: the identity is exact, the diagnostics complain
        res = estimate_llc(teacher, data, loss_fn=gaussian_nll, restrict="1.*", sampler="mala", step_size=1e-3,
                           metric=0.0, num_chains=2, num_draws=20, num_burnin=10, seed=0, per_sample=True)
    assert res.per_sample.shape == (300,)
    assert res.per_sample.mean() == pytest.approx(res.mean, rel=1e-9)
    toy = Regression("w1*w2*x", n=200, seed=0)
    with pytest.warns(SLTWarning):
        res = numba_llc(toy, nbeta=30.0, step_size=1e-2, num_chains=4, num_draws=20, num_burnin=10, seed=0,
                        per_sample=True)
    assert res.per_sample.shape == (200,) and res.per_sample.mean() == pytest.approx(res.mean, rel=1e-6)
