"""Samplers against exact laws: closed forms, quadrature of the Gibbs measure."""
import math
import numba
import numpy as np
import pytest
from scipy import stats

from slt import _codegen, gibbs, potentials as P, sampling
from slt.errors import DivergenceError

HARMONIC = P.harmonic([1.0])
X2Y2 = P.normal_crossing([1, 1])
CONFINED = P.Potential.from_expr("x**2*y**2 + x**4/8 + y**4/8", name="confined crossing")
BOX = (-2.0, 2.0)


def run(V, sampler="langevin", **kw):
    kw.setdefault("progress", False)
    return sampling.run(V, sampler, **kw)


def test_euler_maruyama_matches_its_exact_discrete_law():
    """EM on V = x²/2 has stationary law N(0, T / (1 − dt/2)) exactly (AR(1) recursion)."""
    T, dt = 0.5, 0.2
    res = run(HARMONIC, num_walkers=100_000, num_steps=200, step_size=dt, temperature=T,
              init=np.zeros((100_000, 1)), seed=1)
    x = res.positions[:, 0]
    exact_sd = np.sqrt(T / (1 - dt / 2))
    assert stats.kstest(x, "norm", args=(0, exact_sd)).pvalue > 1e-3
    # the continuous-time law N(0, T) is 5% narrower: the same test rejects it
    assert stats.kstest(x, "norm", args=(0, np.sqrt(T))).pvalue < 1e-6


def test_mala_harmonic_is_exact_at_large_step():
    res = run(HARMONIC, "mala", num_walkers=50_000, num_steps=300, step_size=0.5,
              init=np.zeros((50_000, 1)), seed=2)
    assert stats.kstest(res.positions[:, 0], "norm").pvalue > 1e-3
    assert 0.5 < res.acceptance.mean() < 1.0


def _chi2(counts, probs):
    expected = probs.ravel() * counts.sum()
    keep = expected > 5
    chi2 = np.sum((counts.ravel()[keep] - expected[keep]) ** 2 / expected[keep])
    return stats.chi2.sf(chi2, keep.sum() - 1)


@pytest.mark.parametrize("levels, metric", [(1, 0.0), pytest.param(4, 0.0, marks=pytest.mark.slow), (4, 0.05)])
def test_mala_matches_exact_gibbs_histogram_on_periodic_box(levels, metric):
    """Plain MALA, its mixture of step levels ε·4^(−k) and its per-coordinate steps
    (metric c = 0.05: the step shrinks wherever dt |∂²U/∂x_d²| > c, i.e. over most of the box)
    all leave the Gibbs law invariant."""
    T = 1.0
    res = run(X2Y2, "mala", num_walkers=40_000, num_steps=600 if levels == 1 else 1200, step_size=0.05,
              temperature=T, box=BOX, periodic=True, seed=3, hist_bins=0, step_levels=levels, metric=metric)
    counts, _, _ = np.histogram2d(*res.positions.T, bins=12, range=[BOX, BOX])
    exact = gibbs.gibbs_density(X2Y2, BOX, temperature=T, bins=12, refine=16)
    assert _chi2(counts, exact.cell_mass) > 1e-3
    wrong = gibbs.gibbs_density(X2Y2, BOX, temperature=1.15 * T, bins=12, refine=16)
    assert _chi2(counts, wrong.cell_mass) < 1e-6


def test_mala_step_factors_follow_the_curvature():
    """f_d = min(1, c/(dt |∂²U/∂x_d²|)), U = nβ V + γ/2 |x|², from the generated Hessian diagonal."""
    V = P.harmonic([2.0, 0.01])
    f = sampling.mala_step_factors(V, np.zeros((3, 2)), step_size=0.1, nbeta=10.0, gamma=0.5, metric=0.5)
    np.testing.assert_allclose(f, [[0.5 / (0.1 * (10.0 * 2.0 + 0.5)), 1.0]] * 3)
    assert np.all(sampling.mala_step_factors(V, np.zeros((1, 2)), step_size=0.1, nbeta=10.0, metric=0.0) == 1.0)


def test_running_histogram_counts_every_step_after_burnin():
    res = run(X2Y2, num_walkers=500, num_steps=400, step_size=0.01, box=BOX, periodic=True,
              seed=4, num_burnin=100, hist_bins=16)
    assert res.histogram.shape == (16, 16)
    assert res.histogram.sum() == 500 * 300  # periodic: every position is inside the grid
    assert res.density().sum() * (4 / 16) ** 2 == pytest.approx(1.0)


def test_euler_maruyama_error_shrinks_with_step_size():
    """E[V] under EM at dt and dt/4 against quadrature: the bias shrinks (weak order 1)."""
    T = 1.0
    exact = gibbs.gibbs_density(X2Y2, BOX, temperature=T, bins=200, refine=4)
    ev = exact.expectation(X2Y2(np.stack(np.meshgrid(*exact.centers, indexing="ij"), -1)))
    errs, ses = [], []
    for dt in (0.08, 0.02):
        res = run(X2Y2, num_walkers=40_000, num_steps=int(60 / dt), step_size=dt, temperature=T,
                  box=BOX, periodic=True, seed=5, hist_bins=0, thin=int(6 / dt))
        v = res.energies[:, -5:].mean(axis=1)  # 5 well-separated records per walker
        errs.append(abs(v.mean() - ev))
        ses.append(v.std(ddof=1) / np.sqrt(len(v)))
    assert errs[0] > errs[1] + 3 * np.hypot(*ses)
    assert errs[1] < errs[0] / 2


def test_baoab_configurational_temperature():
    """T_conf = E|∇V|² / E[ΔV] equals T for the stationary law (integration by parts)."""
    T = 0.7
    res = run(CONFINED, "underdamped", num_walkers=20_000, num_steps=2000, step_size=0.05,
              temperature=T, init=np.zeros((20_000, 2)), seed=6, friction=2.0, thin=200)
    x = res.samples[:, 3:, :].reshape(-1, 2)
    g2 = np.sum(CONFINED.gradient(x) ** 2, axis=1)
    lap = 2 * x[:, 1] ** 2 + 2 * x[:, 0] ** 2 + 1.5 * (x[:, 0] ** 2 + x[:, 1] ** 2)
    # per-walker ratio estimates are independent: standard error of the mean ratio
    w = 20_000
    num, den = g2.reshape(w, -1).mean(1), lap.reshape(w, -1).mean(1)
    t_conf = num.mean() / den.mean()
    se = np.std(num - t_conf * den, ddof=1) / np.sqrt(w) / den.mean()
    assert abs(t_conf - T) < 4 * se + 0.01 * T
    assert abs(t_conf - 1.1 * T) > 4 * se  # a 10% wrong temperature is detected


def test_sgd_momentum_noise_default_targets_temperature():
    """Heavy ball with σ² = 2Tη(1−μ) on V = x²/2: Var = σ²(1+μ)/((1−μ)η(2(1+μ)−η)) exactly."""
    T, eta, mu = 0.5, 0.02, 0.9
    # the heavy ball relaxes in ~1/(1 − μ) = 10 steps (amplitude) and ~(1 − μ)/η = 5 steps
    # (position): 600 steps leave no trace of the start
    res = run(HARMONIC, "sgd_momentum", num_walkers=100_000, num_steps=600, step_size=eta,
              temperature=T, init=np.zeros((100_000, 1)), seed=7, momentum=mu)
    sigma2 = 2 * T * eta * (1 - mu)
    exact = sigma2 * (1 + mu) / ((1 - mu) * eta * (2 * (1 + mu) - eta))
    x = res.positions[:, 0]
    assert stats.kstest(x, "norm", args=(0, np.sqrt(exact))).pvalue > 1e-3
    assert res.settings["noise"] == pytest.approx(np.sqrt(sigma2))


@pytest.mark.parametrize("sampler", ["langevin", pytest.param("underdamped", marks=pytest.mark.slow),
                                     pytest.param("sgd_momentum", marks=pytest.mark.slow), "mala"])
def test_reproducible_across_thread_counts(sampler):
    """One counter-based stream per walker: the same numbers on any number of threads (the
    mechanism is shared by every sampler; Langevin and MALA run by default, all with -m slow)."""
    kw = dict(num_walkers=257, num_steps=300, step_size=0.01, box=BOX, periodic=True, seed=11,
              thin=10, temperature=0.5)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = run(X2Y2, sampler, **kw)
        numba.set_num_threads(max(2, old))
        b = run(X2Y2, sampler, **kw)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.positions, b.positions)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.energies, b.energies)
    assert np.array_equal(a.histogram, b.histogram)
    c = run(X2Y2, sampler, **{**kw, "seed": 12})
    assert not np.array_equal(a.positions, c.positions)


def test_each_sampler_runs_its_own_compiled_module():
    base = X2Y2.kernels
    assert base.KIND == -1 and base.DIM == 2
    mods = {name: _codegen.for_sampler(base, kind) for name, kind in sampling.driver.SAMPLERS.items()}
    assert all(m.KIND == sampling.driver.SAMPLERS[name] and m.DIM == 2 for name, m in mods.items())
    assert len({id(m) for m in mods.values()} | {id(base)}) == 5
    assert _codegen.for_sampler(base, 0) is mods["langevin"] and _codegen.for_sampler(mods["mala"], 3) is mods["mala"]


def test_recording_shapes_and_settings():
    res = run(X2Y2, num_walkers=10, num_steps=100, step_size=0.01, box=BOX, thin=7, seed=0)
    assert res.samples.shape == (10, 14, 2) and res.energies.shape == (10, 14)
    assert np.allclose(res.energies, X2Y2(res.samples))
    assert res.settings["thin"] == 7 and res.settings["sampler"] == "langevin"
    idata = res.to_inference_data()
    assert idata.posterior["x"].shape == (10, 14, 2)


def test_divergence_error_names_walker_step_value():
    V = P.Potential.from_expr("x**4")
    with pytest.raises(DivergenceError, match=r"chain \d+ diverged at step \d+") as info:
        run(V, num_walkers=4, num_steps=100, step_size=1.0, init=np.full((4, 1), 3.0), seed=0)
    assert info.value.chain == 0 and not np.isfinite(info.value.value)
    # the step named is the first non-finite one: one step fewer runs clean
    first = info.value.draw
    ok = run(V, num_walkers=4, num_steps=first, step_size=1.0, init=np.full((4, 1), 3.0), seed=0, thin=first)
    assert np.all(np.isfinite(ok.positions))
    with pytest.raises(DivergenceError) as again:
        run(V, num_walkers=4, num_steps=first + 1, step_size=1.0, init=np.full((4, 1), 3.0), seed=0, thin=first + 1)
    assert again.value.draw == first


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(step_size=-0.1), "step_size"),
        (dict(step_size=0.0), "step_size"),
        (dict(temperature=0.0), "temperature"),
        (dict(num_walkers=0), "num_walkers"),
        (dict(num_steps=0), "num_steps"),
        (dict(box=(1, -1)), "box"),
        (dict(box=[(0, 1)] * 3), "box"),
        (dict(box=None), "init=None"),
        (dict(box=None, periodic=True, init=np.zeros((3, 2))), "periodic"),
        (dict(init=np.zeros((2, 2))), "init must have shape"),
        (dict(init=np.full((3, 2), np.nan)), "NaN"),
        (dict(sampler="hmc"), "unknown sampler"),
        (dict(sampler="underdamped", friction=-1), "friction"),
        (dict(sampler="sgd_momentum", momentum=1.0), "momentum"),
        (dict(sampler="langevin", friction=1.0), "no option"),
        (dict(sampler="mala", step_levels=0), "step_levels"),
        (dict(sampler="mala", metric=-1.0), "metric"),
        (dict(sampler="mala", metric=math.nan), "metric"),
        (dict(thin=0), "thin"),
        (dict(batch_size=4), "batch_size"),
        (dict(seed=-3), "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    kw = dict(num_walkers=3, num_steps=10, step_size=0.01, box=BOX, seed=0)
    sampler = kwargs.pop("sampler", "langevin")
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run(X2Y2, sampler, **kw)


def test_potential_not_finite_at_start_is_named():
    V = P.Potential.from_expr("1/x + y**2")
    with pytest.raises(ValueError, match="not finite at the start point of walker 1"):
        run(V, num_walkers=2, num_steps=5, step_size=0.1, init=np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_kernel_params_one_meaning_per_field():
    """Each sampler's settings land in their own named fields; the others keep their defaults."""
    from slt.sampling.params import KernelParams, kernel_params

    p, _ = kernel_params("underdamped", 0.01, 2.0, 3.0, 4.0, {"friction": 0.5})
    assert (p.dt, p.temperature, p.scale, p.gamma, p.friction) == (0.01, 2.0, 3.0, 4.0, 0.5)
    assert (p.momentum, p.noise, p.step_levels, p.metric) == (0.0, 0.0, 1, 0.0)
    p, opts = kernel_params("sgd_momentum", 0.01, 2.0, 1.0, 0.0, {"momentum": 0.5})
    assert p.friction == 0.0 and p.momentum == 0.5
    assert p.noise == pytest.approx(np.sqrt(2 * 2.0 * 0.01 * 0.5)) == opts["noise"]
    p, _ = kernel_params("mala", 0.01, 1.0, 1.0, 0.0, {"step_levels": 3, "metric": 0.25})
    assert (p.step_levels, p.metric, p.friction) == (3, 0.25, 0.0)
    assert isinstance(p, KernelParams) and all(isinstance(getattr(p, f), float)
                                               for f in KernelParams._fields if f != "step_levels")
    with pytest.raises(ValueError, match="step_levels"):
        kernel_params("mala", 0.01, 1.0, 1.0, 0.0, {"step_levels": 0})
