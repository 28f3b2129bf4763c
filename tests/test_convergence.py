"""Runs that stop when converged: targets, budgets, and what the result says."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from slt.errors import SLTWarning
from slt.estimators import estimate_llc
from slt.estimators.convergence import Targets, targets_held
from slt.potentials import sum_of_monomials

V = sum_of_monomials([1, 2])  # x² + y⁴
KW = dict(nbeta=1e3, sampler="mala", step_size=2e-3, num_chains=4, num_draws=50, num_burnin=200, thin=2, seed=0)


def _llc(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(V, **{**KW, **kw})


def test_met_targets_stop_at_once():
    res = _llc(target_rhat=1.5, target_rse=0.9)
    conv = res.info["convergence"]
    assert conv["converged"] and conv["rounds"] == 0 and conv["draws"] == 50 == res.loss_traces.shape[1]
    assert conv["stopped"] == "targets held" and conv["held"] == {"rhat": True, "rse": True}


def test_unmet_targets_extend_to_the_budget_and_say_so():
    res = _llc(target_rse=1e-6, max_draws=200)
    conv = res.info["convergence"]
    assert not conv["converged"] and conv["held"] == {"rse": False}
    assert conv["draws"] == 200 == res.loss_traces.shape[1] == res.config.num_draws  # 50 → 100 → 200
    assert conv["rounds"] == 2 and "max_draws=200" in conv["stopped"]
    base = _llc()
    np.testing.assert_array_equal(res.loss_traces[:, :50], base.loss_traces)  # the first run is the same run
    assert conv["rse"] == pytest.approx(res.se / abs(res.mean), rel=1e-12)
    again = _llc(target_rse=1e-6, max_draws=200)
    np.testing.assert_array_equal(res.loss_traces, again.loss_traces)  # the same seed, the same numbers


def test_extension_moves_toward_the_target():
    short = _llc()
    long = _llc(target_rse=1e-6, max_draws=400)
    assert long.se < 0.7 * short.se  # 8 times the draws


def test_targets_held_numbers():
    rng = np.random.default_rng(0)
    traces = 1.0 + 0.01 * rng.normal(size=(4, 400))
    state = targets_held(traces, 100.0, 0.99, Targets(rhat=1.05, rse=0.5, max_draws=400))
    assert state["llc"] == pytest.approx(100.0 * (traces.mean() - 0.99), rel=1e-12)
    assert state["rse"] == pytest.approx(state["se"] / abs(state["llc"]), rel=1e-12)
    assert state["held"] == {"rhat": True, "rse": True}
    stuck = traces.copy()
    stuck[0] += 0.05  # one chain elsewhere: R-hat fails
    assert targets_held(stuck, 100.0, 0.99, Targets(rhat=1.05, max_draws=400))["held"] == {"rhat": False}


@pytest.mark.parametrize("kw, match", [(dict(target_rhat=1.0), "target_rhat"), (dict(target_rse=0.0), "target_rse"),
                                       (dict(target_rse=0.1, max_draws=10), "max_draws"),
                                       (dict(time_budget=-1.0), "time_budget"),
                                       (dict(sampler="sgld", richardson=True, target_rse=0.1), "Richardson")])
def test_bad_targets(kw, match):
    with pytest.raises(ValueError, match=match):
        _llc(**kw)


def test_progress_names_the_phase_and_reports_rounds(capsys):
    torch = pytest.importorskip("torch")
    from slt.nn import estimate_llc as nn_llc

    net = torch.nn.Sequential(torch.nn.Linear(2, 9), torch.nn.Tanh(), torch.nn.Linear(9, 1)).double()  # 37 > 16
    X = torch.linspace(-1, 1, 40, dtype=torch.float64).reshape(20, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        nn_llc(net, (X, X[:, :1]), loss_fn=torch.nn.functional.mse_loss, nbeta=20.0, num_chains=2, num_draws=20,
               num_burnin=20, seed=0, progress=True, target_rse=1e-6, max_draws=40, fluctuation_points=0)
    err = capsys.readouterr().err
    assert "burn-in" in err and "draws" in err and "draws 20: λ̂" in err and "draws 40: λ̂" in err


def test_network_defaults_run_until_converged():
    torch = pytest.importorskip("torch")
    from slt.estimators.config import default_settings
    from slt.estimators.llc import Request, resolve
    from slt.nn.backend import TorchBackend

    d = default_settings(100, 1000, None)
    assert (d.sampler, d.num_draws, d.targets) == ("sghmc", 500, (1.05, 0.05, 8000))
    assert default_settings(2, 1000, None).targets is None  # small problems: the exact machinery, no extension
    net = torch.nn.Sequential(torch.nn.Linear(2, 9), torch.nn.Tanh(), torch.nn.Linear(9, 1)).double()
    X = torch.linspace(-1, 1, 40, dtype=torch.float64).reshape(20, 2)
    backend = TorchBackend(net, (X, X[:, :1]), torch.nn.functional.mse_loss)
    cfg, choices = resolve(backend, Request(nbeta=10.0))
    assert cfg.sampler == "sghmc" and choices["targets"] == Targets(1.05, 0.05, 8000)
    _, given = resolve(backend, Request(nbeta=10.0, num_draws=300))  # the caller's length: no extension
    assert not given["targets"].active
    _, own = resolve(backend, Request(nbeta=10.0, num_draws=300, target_rse=0.1))
    assert own["targets"] == Targets(None, 0.1, 2400)
