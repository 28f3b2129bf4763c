"""slt.volume: nested-sampling volumes V(ε) = φ{K < ε} against closed forms, the fitted λ (and m),
the Gaussian and ray predictions, and the basin-volume experiment's quick run."""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from slt import potentials as P
from slt.volume import basin_report, fit_scaling, ray_volume, volume_scaling
from slt.volume.basin import gaussian_log_volume
from slt.volume.exact import ellipsoid_log_volume, normal_crossing_log_volume
from slt.volume.priors import make_prior

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(num_live=150, num_runs=4, decades=8.0)
REGULAR = dict(num_live=100, num_runs=3, decades=6.0)  # exact power laws: fewer levels suffice


def _curve_z(res, exact):
    """Largest |z| of the measured curve against the exact one (levels inside the fit range)."""
    sel = (res.log_eps >= res.fit_range[0]) & (res.log_eps <= res.fit_range[1])
    return float(np.max(np.abs(res.log_volume[sel] - exact[sel]) / res.log_volume_se[sel]))


def _reference_fit(res, exact, m):
    """λ of the exact curve fitted over the same levels: what the estimator converges to."""
    sel = (res.log_eps >= res.fit_range[0]) & (res.log_eps <= res.fit_range[1])
    return fit_scaling(res.log_eps[sel], exact[sel], m=m)[0]


@pytest.mark.parametrize("k,h", [((1, 1), None), ((1, 2, 1), (0, 1, 0))], ids=["x2y2 m=2", "prior |y|, m=3"])
def test_normal_crossing_volume_is_the_closed_form_and_the_log_correction_matters(k, h):
    V = P.normal_crossing(k, h=h)
    res = volume_scaling(V, box=1.0, m=V.m, seed=0, **SMALL)
    exact = normal_crossing_log_volume(k, res.log_eps, h=h)
    assert _curve_z(res, exact) < 4.0
    ref = _reference_fit(res, exact, V.m)
    assert abs(ref - float(V.lam)) < 0.05 * float(V.lam)  # the asymptotic form holds over the range
    assert abs(res.lam - ref) < 4 * res.lam_se + 1e-3
    assert abs(res.lam - float(V.lam)) < 0.05 * float(V.lam)
    for wrong in (0.9 * float(V.lam), 1.1 * float(V.lam)):  # a 10% error in λ is rejected
        assert abs(res.lam - wrong) > 4 * res.lam_se
    # without the log term the fit is biased low, by about (m − 1)/L over the range, and the
    # measured uncorrected fit is that of the exact curve
    ref1 = _reference_fit(res, exact, 1)
    assert ref1 < 0.95 * float(V.lam)
    assert abs(res.lam_uncorrected - ref1) < 4 * res.lam_uncorrected_se + 1e-3
    assert res.lam_se_within > 0 and res.exact_lam == float(V.lam) and res.m == V.m


def test_regular_quadratic_scales_with_half_the_dimension():
    a = [1.0, 2.0, 3.0]
    res = volume_scaling(P.harmonic(a), box=1.0, m=1, seed=1, **REGULAR)
    exact = ellipsoid_log_volume(a, res.log_eps)
    assert _curve_z(res, exact) < 4.0
    assert abs(res.lam - 1.5) < 4 * res.lam_se and abs(res.lam - 1.5) < 0.05 * 1.5
    assert abs(res.lam - 1.0) > 10 * res.lam_se  # rank/2 of a degenerate view would be rejected
    # the Gaussian (Hessian) prediction is exact for a quadratic inside the box
    prior = make_prior([0.0] * 3, box=1.0)
    assert np.allclose(gaussian_log_volume(np.array(a), res.log_eps, prior), exact)


def test_gaussian_prior_matches_the_chi_square_law():
    from scipy.stats import chi2

    res = volume_scaling(P.harmonic([1.0, 1.0]), sigma=0.5, m=1, seed=2, **REGULAR)
    exact = chi2.logcdf(2 * np.exp(res.log_eps) / 0.5**2, 2)  # ½|w|² < ε with w ~ N(0, σ² I)
    assert _curve_z(res, exact) < 4.0
    assert abs(res.lam - 1.0) < 4 * res.lam_se + 0.01


def test_fit_scaling_recovers_lambda_and_m_and_refuses_bad_input():
    L = np.linspace(8, 30, 30)
    lam, m, c = fit_scaling(-L, -0.75 * L + 2 * np.log(L) + 0.3)
    assert (round(lam, 9), round(m, 9), round(c, 9)) == (0.75, 3.0, 0.3)
    assert fit_scaling(-L, -0.75 * L + 2 * np.log(L), m=3)[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="ε < 1"):
        fit_scaling(np.array([-1.0, 0.0, 1.0]), np.zeros(3), m=2)
    with pytest.raises(ValueError, match="unknown setting"):
        volume_scaling("x**2", box=1.0, num_live=10, live=3)
    with pytest.raises(ValueError, match="contain w"):
        volume_scaling("x**2", box=(0.5, 1.0))
    with pytest.raises(ValueError, match="m must be"):
        volume_scaling("x**2", box=1.0, m=0.5)
    with pytest.raises(ValueError, match="batch"):
        volume_scaling("x**2", box=1.0, batch=1.5)


def test_ray_estimate_is_exact_for_a_ball_and_a_lower_bound_for_a_cross():
    rv = ray_volume("x**2 + y**2", np.log([1e-6, 1e-4, 1e-2]), box=1.0, num_rays=64, seed=0)
    assert np.allclose(rv.log_volume, np.log(np.pi * np.array([1e-6, 1e-4, 1e-2]) / 4))
    assert rv.lam == pytest.approx(1.0)
    log_eps = np.log([1e-8, 1e-6, 1e-4])
    cross = ray_volume(P.normal_crossing([1, 1]), log_eps, box=1.0, num_rays=256, seed=1)
    exact = normal_crossing_log_volume([1, 1], log_eps)
    assert np.all(cross.log_volume < exact + 3 * cross.log_volume_se)  # the star-shaped part only


def test_torch_regular_model_and_basin_report():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1).double()
    X = torch.randn(32, 2, dtype=torch.float64)
    y = net(X).detach()
    rep = basin_report(net, data=(X, y), loss_fn=torch.nn.functional.mse_loss, box=1.0, m=1, seed=0,
                       llc=False, num_rays=32, num_live=100, num_runs=2, batch=0.5, num_steps=6, decades=4.0)
    s = rep.scaling
    assert (s.dim, rep.rank, rep.half_dim) == (3, 3, 1.5)  # regular: rank(H)/2 = λ = d/2
    assert abs(s.lam - 1.5) < 4 * s.lam_se + 0.02
    at = rep.at(1e-4)
    assert abs(at["gaussian"] - at["log_volume"]) < 4 * at["log_volume_se"] + 0.05
    assert at["ray"] <= at["log_volume"] + 4 * at["log_volume_se"]
    assert "volume exponent" in rep.table()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["x2y2", "x2y4", "x2+y4", "3lines", "harmonic2", "cusp"])
def test_library_potentials_within_five_percent(name):
    V = P.library()[name]
    decades = 20.0 if name == "cusp" else 10.0  # the cusp's next pole (1/2) is only 1/12 away
    res = volume_scaling(V, box=1.0, m=V.m, seed=0, num_live=400, num_runs=8, decades=decades)
    assert abs(res.lam - float(V.lam)) < 0.05 * float(V.lam)
    assert abs(res.lam - float(V.lam)) < 4 * res.lam_se + 0.02 * float(V.lam)


@pytest.mark.slow
@pytest.mark.parametrize("widths,rank", [((2, 2, 2), 1), ((2, 3, 2), 1), ((3, 2, 3), 0)])
def test_deep_linear_networks_within_ten_percent_of_aoyagi(widths, rank):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from slt.nn.data import dln_population_rows
    from slt.nn.models import dln_teacher, gaussian_nll
    from slt.rlct import deep_linear_network

    teacher = dln_teacher(widths, rank, seed=0)
    exact = deep_linear_network(list(widths), rank)
    res = volume_scaling(teacher, data=dln_population_rows(teacher), loss_fn=gaussian_nll, box=1.0, m=exact.m,
                         seed=0, num_live=400, num_runs=4, batch=0.5, decades=8.0)
    assert abs(res.lam - float(exact.lam)) < 0.1 * float(exact.lam)


def test_basin_volume_quick_run_passes_its_checks(tmp_path):
    pytest.importorskip("torch")
    from slt.errors import SLTWarning

    spec = importlib.util.spec_from_file_location("basin_volume", ROOT / "simulations" / "basin_volume.py")
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    out = tmp_path / "sim"
    with pytest.warns(SLTWarning, match="effective sample size|R-hat"):  # the quick LLC runs are short by design
        assert sim.main(["--quick", "--out", str(out), "--no-progress"]) == 0
    records = [json.loads(line) for line in (out / "basin_volume_runs.jsonl").read_text().splitlines()]
    assert any("effective sample size" in w for r in records for w in r["llc_warnings"])  # kept with the data
    summary = json.loads((out / "basin_volume.json").read_text())
    assert summary["checks"]["passed"], summary["checks"]
    lines = (out / "basin_volume_runs.jsonl").read_text().count("\n")
    assert sim.main(["--quick", "--out", str(out), "--no-progress"]) == 0  # resumed: nothing redone
    assert (out / "basin_volume_runs.jsonl").read_text().count("\n") == lines
    spec = importlib.util.spec_from_file_location("fig_basin_volume", ROOT / "paper_figures" / "fig_basin_volume.py")
    fig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fig)
    assert fig.main(["--quick", "--out", str(tmp_path / "fig"), "--data", str(out)]) == 0
    assert (tmp_path / "fig" / "basin_volume.png").stat().st_size > 0
    assert math.isfinite(summary["checks"]["lam_over_llc"])
