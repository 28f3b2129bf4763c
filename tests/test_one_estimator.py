"""One estimator, two backends: the same toy through the numba door (slt.estimators) and the torch
door (slt.nn) gets the same settings, honours or rejects every LLCConfig field the same way, and
lands on the same exact finite-nβ value (quadrature; the model is two-dimensional), at a regular
and at a singular w*."""
import math
import warnings
from dataclasses import fields

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from slt.errors import SLTWarning  # noqa: E402
from slt.estimators import LLCConfig, estimate_llc, exact_tempered_expectation  # noqa: E402
from slt.estimators.llc import Request, resolve  # noqa: E402
from slt.estimators.numba_backend import NumbaBackend  # noqa: E402
from slt.models import Regression  # noqa: E402
from slt.nn import estimate_llc as nn_llc  # noqa: E402
from slt.nn.backend import TorchBackend  # noqa: E402
from slt.nn.models import regression_module  # noqa: E402
from slt.sampling.rng import seed_to_int  # noqa: E402

N = 1000


@pytest.fixture(scope="module")
def toy():
    return Regression("w1*w2*x", n=N, seed=0)


def both(toy, w=None, **kw):
    """The same estimate through both doors (warnings silenced)."""
    module, data, loss_fn = regression_module(toy, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        a = estimate_llc(toy, w, **kw)
        b = nn_llc(module, data, loss_fn=loss_fn, **kw)
    return a, b


def test_defaults_are_a_function_of_the_problem(toy):
    module, data, loss_fn = regression_module(toy)
    for batch in (None, 100):
        req = Request(nbeta=N / math.log(N), gamma=1.0, batch_size=batch, seed=0)
        a = resolve(NumbaBackend(toy, req.nbeta, batch), req)
        b = resolve(TorchBackend(module, data, loss_fn), req)
        assert a == b
    cfg, choices = a
    assert cfg.sampler == "sgld" and cfg.num_chains == 64 and choices["richardson"]
    cfg, choices = resolve(NumbaBackend(toy, 100.0), Request(nbeta=100.0))
    assert (cfg.sampler, cfg.step_levels, cfg.metric, choices["rule"], choices["adapt"]) == ("mala", 4, 0.5, "scan",
                                                                                               True)


@pytest.mark.parametrize("w", [None, pytest.param((0.8, 0.6), marks=pytest.mark.slow)], ids=["singular", "regular"])
def test_both_doors_hit_the_exact_value(toy, w):
    """Full-batch MALA with the defaults' step levels, metric and step scan (fewer chains and
    draws than the defaults, for time): both doors within 3.5 se of the exact value on L_n and of
    each other; the exact value of the estimator at 2nβ is rejected by the same test."""
    nbeta = N / math.log(N)
    center = np.zeros(2) if w is None else np.asarray(w)
    exact = exact_tempered_expectation(toy.empirical_potential(), nbeta, gamma=1.0, center=center)
    wrong = exact_tempered_expectation(toy.empirical_potential(), 2 * nbeta, gamma=1.0, center=center) / 2
    kw = dict(gamma=1.0, seed=0, num_chains=16, num_draws=400, num_burnin=4000, thin=5, fluctuation_points=0)
    a, b = both(toy, w, **kw)
    assert a.config.sampler == b.config.sampler == "mala" and a.config.options == b.config.options
    for res in (a, b):
        assert abs(res.mean - exact) < 3.5 * res.se
        assert abs(res.mean - 2 * wrong) > 3.5 * res.se or abs(exact - 2 * wrong) < 0.01
    assert abs(a.mean - b.mean) < 3.5 * math.hypot(a.se, b.se)


@pytest.mark.slow
def test_both_doors_with_all_defaults_at_the_singular_point(toy):
    """Only γ and seed given, at the singular w* = 0 (the torch door once diverged here)."""
    nbeta = N / math.log(N)
    exact = exact_tempered_expectation(toy.empirical_potential(), nbeta, gamma=1.0, center=np.zeros(2))
    a, b = both(toy, gamma=1.0, seed=0)
    assert a.config.num_chains == b.config.num_chains == 64
    for res in (a, b):
        assert abs(res.mean - exact) < 3 * res.se
    assert abs(a.mean - b.mean) < 3 * math.hypot(a.se, b.se)


SMALL = dict(nbeta=50.0, gamma=2.0, step_size=2e-3, num_chains=3, num_draws=16, num_burnin=20, thin=2,
             fluctuation_points=0)


@pytest.mark.parametrize("door", ["numba", "torch"])
def test_every_config_field_is_honoured_or_rejected(toy, door):
    module, data, loss_fn = regression_module(toy)

    def run(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SLTWarning)
            if door == "numba":
                return estimate_llc(toy, **{**SMALL, **kw})
            return nn_llc(module, data, loss_fn=loss_fn, **{**SMALL, **kw})

    honoured = {
        "sgld": dict(sampler="sgld", richardson=False, seed=4, batch_size=100),
        "mala": dict(sampler="mala", step_levels=2, metric=0.25, seed=5),
    }
    seen = set()
    for name, kw in honoured.items():
        res = run(**kw)
        cfg = res.config
        assert res.loss_traces.shape == (SMALL["num_chains"], SMALL["num_draws"])
        for f in ("nbeta", "gamma", "step_size", "num_chains", "num_draws", "num_burnin", "thin"):
            assert getattr(cfg, f) == SMALL[f]
            seen.add(f)
        assert cfg.sampler == name and cfg.seed == seed_to_int(kw["seed"])
        assert cfg.batch_size == kw.get("batch_size")
        seen |= {"sampler", "seed", "batch_size"}
        if name == "mala":
            assert (cfg.step_levels, cfg.metric) == (2, 0.25) and cfg.options.step_levels == 2
            seen |= {"step_levels", "metric", "options"}
    if door == "torch":  # the estimator sets the metric of metric_sgld (and of HMC's adapted windows)
        g = run(sampler="metric_sgld", seed=7).config.inv_metric
        assert g.shape == (2,) and np.all(g > 0) and np.all(g <= 1 / SMALL["gamma"])
    seen.add("inv_metric")
    # the same seed, the same numbers; another seed, other numbers
    again = run(**honoured["mala"])
    other = run(**{**honoured["mala"], "seed": 6})
    np.testing.assert_array_equal(again.loss_traces, run(**honoured["mala"]).loss_traces)
    assert not np.array_equal(again.loss_traces, other.loss_traces)
    assert seen == {f.name for f in fields(LLCConfig)}
    rejected = [dict(sampler="sgld", step_levels=2), dict(sampler="sgld", metric=0.5),
                dict(sampler="mala", batch_size=100), dict(sampler="mala", richardson=True),
                dict(sampler="mala", sampler_options={"leapfrog": 3}), dict(num_draws=4), dict(thin=0),
                dict(num_chains=0), dict(num_burnin=-1), dict(step_size=-1.0), dict(step_size="big"),
                dict(gamma=-1.0), dict(nbeta=0.0), dict(sampler="nuts")]
    if door == "numba":  # samplers the numba kernels do not have
        rejected += [dict(sampler="hmc"), dict(sampler="sgnht"), dict(sampler="metric_sgld")]
    for kw in rejected:
        with pytest.raises(ValueError):
            run(**kw)
    if door == "torch":  # the torch backend runs them, with their options honoured
        res = run(sampler="sgnht", sampler_options={"diffusion": 0.05})
        assert res.config.options.diffusion == 0.05
        res = run(sampler="hmc", sampler_options={"leapfrog": 3})
        assert res.config.options.leapfrog == 3 and res.acceptance is not None


def test_step_rule_by_name(toy):
    """step_size="curvature" on a small problem (whose "auto" is the scan), and "scan" named."""
    kw = dict(nbeta=50.0, sampler="sgld", richardson=False, num_chains=4, num_draws=50, num_burnin=200, thin=1,
              fluctuation_points=0, seed=0)
    module, data, loss_fn = regression_module(toy, (0.8, 0.6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        res = nn_llc(module, data, loss_fn=loss_fn, step_size="curvature", **kw)
        assert res.info["step_rule"] == "curvature" and res.info["curvature"] > 0
        assert estimate_llc(toy, (0.8, 0.6), step_size="scan", **kw).info["step_rule"] == "scan"
    with pytest.raises(ValueError, match="step_size"):
        estimate_llc(toy, step_size="fast", **kw)
