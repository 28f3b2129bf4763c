"""SGHMC (kinetic Langevin, BAOAB) on the torch backend: exact on Gaussian targets at large steps."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slt import samplers  # noqa: E402
from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.sgmcmc import friction  # noqa: E402

NBETA, GAMMA = 100.0, 1.0


def _regression(d_in: int = 4, d_out: int = 5, n: int = 200):
    """A bias-free linear map at its exact least-squares solution: L is quadratic with zero gradient
    at w*, so λ̂'s target is ½ Σ_k nβ h_k/(nβ h_k + γ) over the Hessian's eigenvalues h_k."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d_in, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.3, 0.1][:d_in])
    W = torch.randn(d_in, d_out, generator=g, dtype=torch.float64)
    net = torch.nn.Linear(d_in, d_out, bias=False).double()
    with torch.no_grad():
        net.weight.copy_(W.T)
    h = np.linalg.eigvalsh(np.kron(np.eye(d_out), (X.T @ X / n).numpy()))
    exact = 0.5 * float(np.sum(NBETA * h / (NBETA * h + GAMMA)))
    return net, (X, X @ W), exact, float(h.max())


def _mse(out, y):
    return 0.5 * (out - y).pow(2).sum(dim=1).mean()


def _run(sampler: str, step: float, **kw):
    net, data, exact, hmax = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        res = estimate_llc(net, data, loss_fn=_mse, nbeta=NBETA, gamma=GAMMA, sampler=sampler, step_size=step,
                           num_chains=8, num_burnin=1000, num_draws=1000, seed=0, fluctuation_points=0, **kw)
    return res, exact, hmax


def test_sghmc_is_exact_on_a_gaussian_at_a_large_step():
    """BAOAB samples a Gaussian's positions exactly at any stable step (Leimkuhler & Matthews 2013):
    at h√(nβ h_max) = 1 SGHMC lands on the exact value, where another splitting (or SGLD at the
    same ε) errs by a quarter or more of the stiff directions' variance."""
    net, data, exact, hmax = _regression()
    step = 1.0 / (NBETA * hmax)  # h = √ε: h √(nβ h_max) = 1
    res, _, _ = _run("sghmc", step)
    assert abs(res.mean - exact) < 3 * res.se, (res.mean, res.se, exact)
    assert res.rhat < 1.05 and res.se < 0.03 * exact


def test_sghmc_defaults_friction_and_record():
    rec = samplers.get("sghmc")
    assert rec.kinetic and rec.step_rule == "curvature" and rec.burnin == "kinetic" and not rec.exact
    assert friction(rec.make_options(), 4.0) == pytest.approx(4.0)  # 2√γ
    assert friction(rec.make_options(friction=0.5), 4.0) == 0.5
    assert friction(rec.make_options(), 0.0) == 1.0  # no localization: unit friction
    with pytest.raises(ValueError, match="friction"):
        rec.make_options(friction=-1.0)
