"""SGHMC on the numba backend: the "underdamped" kernel (BAOAB) at h = √ε, friction 2√γ, thermal
velocities; exact on a Gaussian target, the default for numba problems of more than SMALL_DIM
coordinates, and the same numbers as the torch backend's SGHMC within their standard errors."""
from __future__ import annotations

import dataclasses
import math
import types
import warnings

import numba
import numpy as np
import pytest

from slt import potentials as P
from slt.errors import SLTWarning
from slt.estimators import estimate_llc
from slt.estimators.backend import RunSpec
from slt.estimators.config import SMALL_DIM, LLCConfig
from slt.estimators.llc import Request, resolve
from slt.estimators.numba_backend import NumbaBackend, kernel_call
from slt.sampling import run
from slt.sampling.rng import fill_normal, seed_to_int, stream_keys

D, NBETA, GAMMA = 20, 100.0, 1.0
CURV = np.geomspace(1e-3, 1.0, D)  # V = ½ Σ h_i w_i²: flat and stiff directions
EXACT = 0.5 * float(np.sum(NBETA * CURV / (NBETA * CURV + GAMMA)))  # λ̂'s target, nβ E[V] of a Gaussian
QUAD = P.harmonic(CURV)


def _llc(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(QUAD, nbeta=NBETA, gamma=GAMMA, seed=0, progress=False, **kw)


def test_default_for_large_numba_problems_is_sghmc_without_a_note():
    assert D > SMALL_DIM
    backend = NumbaBackend(QUAD, NBETA)
    cfg, choices = resolve(backend, Request(nbeta=NBETA))
    assert cfg.sampler == "sghmc" and choices["rule"] == "curvature" and backend.notes() == ()
    small = NumbaBackend(P.harmonic([1.0, 2.0]), NBETA)
    assert resolve(small, Request(nbeta=NBETA))[0].sampler == "mala"


def test_sghmc_lands_on_the_exact_value():
    """BAOAB samples a Gaussian's positions exactly at any stable step (Leimkuhler & Matthews 2013):
    with the curvature rule's step the estimate is within 3 se of ½ Σ nβh/(nβh + γ)."""
    res = _llc(sampler="sghmc")
    assert res.config.sampler == "sghmc"
    assert abs(res.mean - EXACT) < 3 * res.se, (res.mean, res.se, EXACT)
    assert res.rhat <= 1.05 and res.se < 0.03 * EXACT, (res.rhat, res.se)
    assert not any("SGLD instead" in w for w in res.warnings)


def test_backend_runs_baoab_at_root_eps_with_friction_two_root_gamma():
    """The backend's run is the driver's "underdamped" at dt = √ε, friction 2√γ, thermal velocities:
    the same numbers to the last bit (γ = 4, so 2√γ differs from the kernel's default friction 1)."""
    gamma, eps = 4.0, 0.003
    cfg = LLCConfig(nbeta=NBETA, gamma=gamma, step_size=eps, num_chains=6, num_draws=8, num_burnin=0, thin=5,
                    sampler="sghmc", seed=0)
    assert kernel_call(cfg) == ("underdamped", math.sqrt(eps), {"friction": 4.0}, "thermal")
    center = np.zeros(D)
    init = NumbaBackend(QUAD, NBETA).start(center, 6, NBETA, gamma)
    got = NumbaBackend(QUAD, NBETA).run(RunSpec(cfg, center), init, num_steps=40, thin=5, seed=3)
    want = run(QUAD, "underdamped", num_walkers=6, num_steps=40, step_size=math.sqrt(eps), nbeta=NBETA,
               gamma=gamma, center=center, init=init, init_velocities="thermal", thin=5, seed=3, friction=4.0,
               hist_bins=0, progress=False)
    assert np.array_equal(got.positions, want.positions)
    assert np.array_equal(got.loss_traces, want.energies)


def test_thermal_velocities_are_stationary_reproducible_and_thread_independent():
    """v ~ N(0, T I) from the first step (mean v² = T within its se; from rest it would be ~2γ_f dt T),
    drawn from streams apart from the step noise, the same on 1 and 2 threads."""
    T, walkers = 0.5, 4000
    kw = {"num_walkers": walkers, "num_steps": 1, "step_size": 1e-6, "temperature": T, "init": np.zeros(D),
          "init_velocities": "thermal", "seed": 7, "friction": 1.0, "hist_bins": 0, "progress": False}
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = run(QUAD, "underdamped", **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = run(QUAD, "underdamped", **kw)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.velocities, b.velocities) and np.array_equal(a.positions, b.positions)
    v2 = a.velocities ** 2
    assert abs(v2.mean() - T) < 4 * v2.std() / math.sqrt(v2.size), v2.mean()
    steps = np.empty((walkers, D))  # the first normals of the walkers' step streams
    fill_normal(stream_keys(seed_to_int(7), walkers), steps)
    assert abs(np.corrcoef(steps.ravel(), a.velocities.ravel())[0, 1]) < 4 / math.sqrt(v2.size)
    assert not np.array_equal(run(QUAD, "underdamped", **{**kw, "seed": 8}).velocities, a.velocities)
    rest = run(QUAD, "underdamped", **{**kw, "init_velocities": None})  # the default: v = 0
    assert np.mean(rest.velocities ** 2) < 1e-4
    again = run(QUAD, "underdamped", **{**kw, "init_velocities": a.velocities, "num_steps": 1})
    assert np.allclose(again.velocities, a.velocities, atol=1e-2)


def test_init_velocities_errors():
    kw = {"num_walkers": 3, "num_steps": 1, "step_size": 0.01, "init": np.zeros(D), "progress": False,
          "hist_bins": 0}
    with pytest.raises(ValueError, match="init_velocities"):
        run(QUAD, "langevin", init_velocities="thermal", **kw)
    with pytest.raises(ValueError, match="thermal"):
        run(QUAD, "sgd_momentum", init_velocities="thermal", **kw)
    with pytest.raises(ValueError, match="shape"):
        run(QUAD, "underdamped", init_velocities=np.zeros((2, D)), **kw)
    with pytest.raises(ValueError, match="init_velocities"):
        run(QUAD, "underdamped", init_velocities="hot", **kw)


def test_an_option_the_kernel_cannot_honour_is_named():
    with pytest.raises(ValueError, match="leapfrog"):
        _llc(sampler="sghmc", sampler_options={"leapfrog": 3})
    with pytest.raises(ValueError, match="metric"):
        _llc(sampler="sghmc", metric=0.5)
    with pytest.raises(ValueError, match="'hmc'"):
        _llc(sampler="hmc")

    @dataclasses.dataclass(frozen=True)
    class Heavy:
        friction: float | None = None
        mass: float = 2.0

    cfg = types.SimpleNamespace(sampler="sghmc", options=Heavy(), gamma=1.0, step_size=0.01)
    with pytest.raises(ValueError, match="mass"):
        kernel_call(cfg)


def test_numba_and_torch_sghmc_agree():
    """The same quadratic through both backends (torch: a parameter vector whose loss is V)."""
    torch = pytest.importorskip("torch")
    from slt.nn import estimate_llc as nn_llc

    class Quadratic(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(D, dtype=torch.float64))
            self.register_buffer("h", torch.as_tensor(CURV))

        def forward(self, x):
            return (0.5 * (self.h * self.w * self.w).sum()).expand(x.shape[0])

    data = (torch.zeros(10, 1, dtype=torch.float64), torch.zeros(10, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        b = nn_llc(Quadratic(), data, loss_fn=lambda out, y: out.mean(), nbeta=NBETA, gamma=GAMMA, seed=0,
                   sampler="sghmc", progress=False, fluctuation_points=0)
    a = _llc(sampler="sghmc")
    assert b.config.sampler == "sghmc" and a.config.step_size == pytest.approx(b.config.step_size)
    assert abs(a.mean - b.mean) < 3 * math.hypot(a.se, b.se), (a.mean, a.se, b.mean, b.se)
    assert abs(b.mean - EXACT) < 3 * b.se
