"""The γ search of networks (slt.estimators.localization): the smallest γ at which chains stay local."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from slt.errors import DivergenceError
from slt.estimators.backend import Chains
from slt.estimators.localization import LeftBasin, check_basin, ladder, smallest_local_gamma


def _chains(offsets: list[float], seed: int = 0) -> Chains:
    """Loss traces of 4 chains × 100 draws: N(0.1, 0.01²) noise around per-chain offsets."""
    rng = np.random.default_rng(seed)
    traces = 1.0 + np.asarray(offsets)[:, None] + 0.01 * rng.normal(size=(len(offsets), 100))
    return Chains(positions=None, loss_traces=traces, distance_traces=np.zeros_like(traces), acceptance=None,
                  step_size=1e-3)


def test_ladder_is_powers_of_ten_from_the_start():
    assert ladder(2.0) == (2.0, 20.0, 200.0, 2000.0, 20000.0, 200000.0)


def test_search_moves_past_divergence_to_the_first_gamma_whose_chains_stay():
    calls = []

    def run_at(gamma):
        calls.append(gamma)
        if gamma == 1.0:
            raise DivergenceError(0, 100, math.nan)
        if gamma == 10.0:
            check_basin(rise=0.5, gap=1.0, first_step=1e-3, step=1e-4)
        return (_chains([0.0, 0.0, 0.5, 0.5]), f"at {gamma:g}")  # slow mixing is not a reason to move on

    out, trials = smallest_local_gamma(run_at, 1.0, nbeta=10.0, init_loss=1.0)
    assert calls == [1.0, 10.0, 100.0]  # stops at the first γ whose chains stay finite
    assert out[1] == "at 100"
    assert [t["outcome"] for t in trials] == ["diverged", "left the basin", "local"]
    assert "50% of the way" in trials[1]["why"]
    assert trials[0]["rhat"] is None and trials[2]["rhat"] > 1.1
    assert trials[2]["llc"] == pytest.approx(10.0 * (out[0].loss_traces.mean() - 1.0))


def test_the_basin_check_needs_both_a_stiffer_region_and_a_climbing_loss():
    check_basin(rise=0.9, gap=1.0, first_step=1e-3, step=1e-3)  # a weak signal: high rise, same stiffness
    check_basin(rise=0.01, gap=1.0, first_step=1e-3, step=1e-5)  # stiffer at the loss of w* (rescalings)
    check_basin(rise=5.0, gap=-0.1, first_step=1e-3, step=1e-5)  # w* no better than the zero network
    with pytest.raises(LeftBasin, match="20% of the way"):
        check_basin(rise=0.2, gap=1.0, first_step=1e-3, step=5e-4)


def test_search_raises_the_last_divergence_when_every_gamma_diverges():
    def diverge(gamma):
        raise DivergenceError(0, int(gamma), math.nan)

    with pytest.raises(DivergenceError) as caught:
        smallest_local_gamma(diverge, 1.0, nbeta=10.0, init_loss=1.0)
    assert caught.value.draw == int(ladder(1.0)[-1])

    def leave(gamma):
        check_basin(rise=1.0, gap=1.0, first_step=1.0, step=0.1)

    with pytest.raises(ValueError, match="left the basin of w\\* at every γ up to 100000"):
        smallest_local_gamma(leave, 1.0, nbeta=10.0, init_loss=1.0)


# ---- on the torch backend: a network whose flat directions end at a cliff ----
torch = pytest.importorskip("torch")
FLAT, STIFF, N = 18, 2, 200


class Cliff(torch.nn.Module):
    """f(x) = x[:, :2]·w[:2] + c(w), c(w) = 10⁶ max(0, ‖w‖² − 1)²: a regression on 2 of 20
    coordinates; the other 18 are flat inside the unit ball and walled outside it."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(STIFF + FLAT, dtype=torch.float64))

    def forward(self, x):
        wall = 1e6 * torch.clamp(self.w.square().sum() - 1.0, min=0.0) ** 2
        return x[:, :STIFF] @ self.w[:STIFF] + wall


def _cliff_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, STIFF, dtype=torch.float64, generator=g)
    y = 0.5 * torch.randn(N, dtype=torch.float64, generator=g)
    model = Cliff()
    with torch.no_grad():  # w* at the least-squares minimum (inside the ball)
        model.w[:STIFF] = torch.linalg.lstsq(X, y).solution
    return model, X, y


def _loss(out, y):
    return 0.5 * (out - y).square().mean()


def test_default_gamma_on_a_network_is_the_first_that_keeps_the_chains_inside_the_walls():
    from slt.nn import estimate_llc

    model, X, y = _cliff_problem()
    nbeta = 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = estimate_llc(model, (X, y), loss_fn=_loss, nbeta=nbeta, seed=0, fluctuation_points=0)
    trials = res.info["gamma_search"]
    # γ = 1 and 10 let the 18 flat coordinates spread to ‖w‖² ≈ 18 and 1.8, past the wall at 1;
    # γ = 100 keeps them at ‖w‖² ≈ 0.18 + ‖w*‖², inside it
    assert [t["gamma"] for t in trials] == [1.0, 10.0, 100.0]
    assert [t["outcome"] for t in trials][-1] == "local" and trials[-1]["gamma"] == 100.0
    assert res.config.gamma == 100.0
    # inside the ball the loss is the 2-coordinate regression: λ̂ = ½ Σ nβh/(nβh + γ) exactly
    h = torch.linalg.eigvalsh(X.T @ X / N).numpy()
    exact = 0.5 * float(np.sum(nbeta * h / (nbeta * h + 100.0)))
    assert abs(res.mean - exact) <= 3 * res.se, (res.mean, res.se, exact)
    assert res.rhat <= 1.05


def test_a_given_gamma_is_used_as_given():
    from slt.nn import estimate_llc

    model, X, y = _cliff_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = estimate_llc(model, (X, y), loss_fn=_loss, nbeta=100.0, gamma=300.0, seed=0, fluctuation_points=0,
                           num_draws=200)
    assert res.config.gamma == 300.0 and "gamma_search" not in res.info


def test_a_trajectory_says_when_its_checkpoints_ran_at_different_gammas():
    from slt.errors import SLTWarning
    from slt.nn.trajectory import gammas

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(gammas({0: {"gamma": 10.0}, 5: {"gamma": 10.0}}, (0, 5))) == [10.0, 10.0]
    with pytest.warns(SLTWarning, match=r"different localizations γ \[1.0, 100.0\]"):
        assert list(gammas({0: {"gamma": 1.0}, 5: {"gamma": 100.0}}, (0, 5))) == [1.0, 100.0]
