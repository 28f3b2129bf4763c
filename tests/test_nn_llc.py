"""Tests of the torch bridge. Exact values: on a linear-Gaussian model the localized tempered
posterior is Gaussian and the SGLD chain's stationary law is known in closed form."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.diagnostics import mcse_mean  # noqa: E402
from slt.sampling.rng import seed_to_int  # noqa: E402
from slt.errors import DivergenceError, SLTWarning  # noqa: E402
from slt.nn.data import xor_data  # noqa: E402
from slt.nn import estimate_llc, llc_trajectory, llc_vs_gamma  # noqa: E402
from slt.nn.models import gaussian_nll, xor_mlp  # noqa: E402

NBETA, GAMMA = 50.0, 5.0


@pytest.fixture(scope="module")
def linear_problem():
    """Linear regression at its least-squares minimum w*: L_n(w) − L_n(w*) = ½(w−w*)ᵀH(w−w*)."""
    g = torch.Generator().manual_seed(0)
    n, d = 200, 4
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.2, 0.1], dtype=torch.float64)
    y = X @ torch.ones(d, 1, dtype=torch.float64) + torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(X, y).solution.T)
    h = np.linalg.eigvalsh((X.T @ X / n).numpy())
    return model, (X, y), h


def sgld_exact(h, nbeta, gamma, eps):
    """E[nβ(L − L(w*))] under SGLD's exact stationary law: per eigen-direction the variance is
    1/(a(1 − εa/4)), a = nβh + γ (Euler–Maruyama on a Gaussian)."""
    a = nbeta * h + gamma
    return 0.5 * np.sum(nbeta * h / (a * (1 - eps * a / 4)))


def lam_and_se(run):
    return run.nbeta * (run.loss_traces.mean() - run.init_loss), run.nbeta * mcse_mean(run.loss_traces)


def sample_losses(model, data, **kw):
    """One estimate without ν̂, SGLD unless a sampler is named, diagnostics' warnings silenced."""
    import warnings

    kw.setdefault("fluctuation_points", 0)
    kw.setdefault("sampler", "sgld")
    kw.setdefault("thin", 1)
    kw.setdefault("richardson", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(model, data, **kw)


@pytest.mark.parametrize("step", [0.01, "auto"])
def test_sgld_matches_exact_stationary_law(linear_problem, step):
    model, data, h = linear_problem
    run = sample_losses(model, data, loss_fn=gaussian_nll, nbeta=NBETA, gamma=GAMMA, step_size=step,
                        num_chains=4, num_draws=3000, num_burnin=500, seed=1)
    lam, se = lam_and_se(run)
    exact = sgld_exact(h, NBETA, GAMMA, run.config.step_size)
    assert abs(lam - exact) < 4 * se
    assert abs(lam - len(h) / 2) > 4 * se  # the regular answer d/2 (no localization) is rejected
    if step == "auto":  # auto step (the scan, MALA acceptance >= 0.95): discretization bias below 10%
        assert sgld_exact(h, NBETA, GAMMA, run.config.step_size) / sgld_exact(h, NBETA, GAMMA, 0.0) < 1.1
        assert run.info["step_rule"] == "scan"


@pytest.mark.parametrize("sampler,draws,options", [("mala", 2000, None), ("hmc", 400, {"leapfrog": 8})])
@pytest.mark.parametrize("step", [0.03, pytest.param("auto", marks=pytest.mark.slow)])
def test_mala_and_hmc_have_no_step_size_bias(linear_problem, step, sampler, draws, options):
    """At a step where SGLD's own stationary law is 40% off, MALA and HMC still sample the posterior."""
    model, data, h = linear_problem
    run = sample_losses(model, data, loss_fn=gaussian_nll, nbeta=NBETA, gamma=GAMMA, step_size=step,
                        sampler=sampler, num_chains=8, num_draws=draws, num_burnin=100, seed=4,
                        sampler_options=options)
    lam, se = lam_and_se(run)
    exact = sgld_exact(h, NBETA, GAMMA, 0.0)
    assert abs(lam - exact) < 4 * se
    if step != "auto":  # at the auto step SGLD's own bias is too small to tell apart here
        assert abs(lam - sgld_exact(h, NBETA, GAMMA, run.config.step_size)) > 4 * se
    if step == "auto" and sampler == "mala":  # the scan: acceptance at least its target 0.9
        assert run.acceptance > 0.85 and run.info["step_rule"] == "scan"
    else:  # HMC in 4 dimensions: acceptance ≈ 1 up to the leapfrog's stability limit, then 0, so the
        assert 0.5 < run.acceptance < 1.0  # auto step's dual averaging (target 0.651) lands in between
        assert step != "auto" or (run.info["step_rule"] == "curvature" and "adapted_from" in run.info)
    with pytest.raises(ValueError, match="full-batch"):
        sample_losses(model, data, loss_fn=gaussian_nll, nbeta=NBETA, sampler=sampler, step_size=0.01,
                      num_chains=2, num_draws=8, num_burnin=0, batch_size=10)


def test_one_leapfrog_hmc_is_mala():
    """hmc_step with one leapfrog step: MALA's proposal w − (ε/2)∇U + √ε ξ and its
    Metropolis–Hastings ratio U(w) − U(y) + log q(w|y) − log q(y|w) (Roberts & Tweedie 1996)."""
    from slt.nn.sgmcmc import MetropolisState, hmc_step

    g = torch.Generator().manual_seed(0)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    A = A @ A.T + torch.eye(3, dtype=torch.float64)

    def potential(W):  # a quartic-plus-quadratic potential, so the gradient is not linear
        u = 0.5 * ((W @ A) * W).sum(dim=1) + 0.25 * W.pow(4).sum(dim=1)
        return u, W @ A + W.pow(3), u

    eps = 0.3
    W = torch.randn(5, 3, generator=g, dtype=torch.float64)
    xi = torch.randn(5, 3, generator=g, dtype=torch.float64)
    uniform = torch.rand(5, generator=g, dtype=torch.float64)
    u, grad, _ = potential(W)
    new = hmc_step(MetropolisState(W, u, grad, u, torch.zeros(5, dtype=torch.int64)), potential, xi, uniform, eps)
    y = W - 0.5 * eps * grad + eps**0.5 * xi
    u_y, g_y, _ = potential(y)
    log_q = lambda b, a, ga: -(b - a + 0.5 * eps * ga).square().sum(dim=1) / (2 * eps)  # noqa: E731
    log_alpha = u - u_y + log_q(W, y, g_y) - log_q(y, W, grad)
    accept = torch.log(uniform) < log_alpha
    assert 0 < int(accept.sum()) < 5  # both branches exercised
    torch.testing.assert_close(new.w, torch.where(accept.unsqueeze(1), y, W))
    assert torch.equal(new.accepted, accept.long())
    with pytest.raises(ValueError, match="leapfrog"):
        sample_losses(nn.Linear(2, 1).double(), (torch.randn(4, 2).double(), torch.randn(4, 1).double()),
                      loss_fn=gaussian_nll, sampler="mala",
                      step_size=0.01, num_chains=1, num_draws=8, num_burnin=0, sampler_options={"leapfrog": 3})


# SGNHT is exact as ε → 0 (bias allowance 5%); RMSprop-SGLD drops the Γ correction of a
# state-dependent preconditioner, so its stationary law is only approximate (allowance 20%).
@pytest.mark.parametrize("sampler,step,allowance", [("sgnht", 0.02, 0.05), ("rmsprop_sgld", 0.05, 0.2)])
def test_sgnht_and_rmsprop_sample_the_posterior(linear_problem, sampler, step, allowance):
    model, data, h = linear_problem
    exact = sgld_exact(h, NBETA, GAMMA, 0.0)
    run = sample_losses(model, data, loss_fn=gaussian_nll, nbeta=NBETA, gamma=GAMMA, step_size=step,
                        sampler=sampler, num_chains=4, num_draws=3000, num_burnin=500, seed=2)
    lam, se = lam_and_se(run)
    assert abs(lam - exact) < 4 * se + allowance * exact
    assert abs(lam - len(h) / 2) > 4 * se + allowance * exact  # the regular answer d/2 fails


@pytest.mark.parametrize("batch_size", [None, pytest.param(2, marks=pytest.mark.slow)])  # minibatches: slow
def test_vmap_and_loop_agree(batch_size):
    X, y = xor_data()
    model = xor_mlp(seed=0)
    kw = dict(loss_fn=nn.functional.mse_loss, nbeta=10.0, gamma=10.0, step_size=1e-3, num_chains=3,
              num_draws=50, num_burnin=10, batch_size=batch_size, seed=5, fluctuation_points=4)
    a = sample_losses(model, (X, y), **kw)
    b = sample_losses(model, (X, y), vectorize=False, **kw)
    assert a.info["vectorized"] and not b.info["vectorized"]
    np.testing.assert_allclose(a.loss_traces, b.loss_traces, rtol=1e-10, atol=1e-12)
    assert a.fluctuation is not None and a.fluctuation.points == 4  # ν̂ from the per-sample losses, both ways
    assert a.fluctuation.nu == pytest.approx(b.fluctuation.nu, rel=1e-10)
    assert a.fluctuation.se == pytest.approx(b.fluctuation.se, rel=1e-8)
    # chains differ from one another (own noise, own minibatches)
    assert not np.allclose(a.loss_traces[0], a.loss_traces[1])
    # the estimate itself, with the auto step (the scan, on the same generators)
    kw.update(step_size="auto", num_draws=8, fluctuation_points=0)
    ra, rb = sample_losses(model, (X, y), **kw), sample_losses(model, (X, y), vectorize=False, **kw)
    assert ra.config.step_size == rb.config.step_size
    assert ra.mean == pytest.approx(rb.mean, rel=1e-10, abs=1e-12) and ra.se == pytest.approx(rb.se, rel=1e-8)


def test_model_not_modified_and_init_loss():
    X, y = xor_data()
    model = xor_mlp(seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    run = sample_losses(model, (X, y), loss_fn=nn.functional.mse_loss, nbeta=10.0, step_size=1e-3,
                        num_chains=2, num_draws=20, num_burnin=0, seed=0)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    assert run.init_loss == pytest.approx(float(nn.functional.mse_loss(model(X), y)), rel=1e-12)
    assert run.loss_traces.shape == (2, 20) and run.info["dim"] == 9 and run.info["n"] == 4


def test_vmap_fallback_warns_with_reason():
    class Branchy(nn.Module):  # data-dependent Python control flow: vmap cannot trace it
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1).double()

        def forward(self, x):
            out = self.lin(x)
            return out if out.sum() > -1e9 else -out

    X, y = xor_data()
    with pytest.warns(SLTWarning) as caught:  # the fallback's note, and a short run's diagnostics
        res = estimate_llc(Branchy(), (X, y), loss_fn=nn.functional.mse_loss, nbeta=10.0, step_size=1e-3,
                           num_chains=2, num_draws=32, num_burnin=0, seed=0)
    assert any("cannot evaluate Branchy" in str(w.message) for w in caught)
    assert not res.info["vectorized"] and any("Branchy" in w for w in res.warnings)
    assert res.fluctuation is not None  # ν̂ from per-sample losses computed point by point, said in the warnings
    assert any("per-sample losses loop" in w for w in res.warnings)


def test_divergence_raises():
    X, y = xor_data()
    with pytest.raises(DivergenceError) as info:
        sample_losses(xor_mlp(seed=0), (X, y), loss_fn=nn.functional.mse_loss, nbeta=1e6, gamma=0.0,
                      step_size=10.0, num_chains=2, num_draws=200, num_burnin=0, seed=0)
    assert info.value.chain in (0, 1) and not np.isfinite(info.value.value)


def test_errors():
    X, y = xor_data()
    model = xor_mlp(seed=0)
    mse = nn.functional.mse_loss
    kw = dict(nbeta=10.0, step_size=1e-3, num_chains=1, num_draws=8, num_burnin=0)
    with pytest.raises(ValueError, match="scalar"):
        sample_losses(model, (X, y), loss_fn=lambda o, t: (o - t) ** 2, **kw)
    with pytest.raises(ValueError, match="empty"):
        sample_losses(model, (X[:0], y[:0]), loss_fn=mse, **kw)
    with pytest.raises(ValueError, match="w_star"):
        sample_losses(model, (X, y), loss_fn=mse, w_star=torch.zeros(8), **kw)
    with pytest.raises(ValueError, match="sampler"):
        sample_losses(model, (X, y), loss_fn=mse, sampler="nuts", **kw)
    with pytest.raises(ValueError, match="step_levels"):
        sample_losses(model, (X, y), loss_fn=mse, step_levels=2, **kw)
    with pytest.raises(ValueError, match="no option"):
        sample_losses(model, (X, y), loss_fn=mse, sampler_options={"alpha": 0.9}, **kw)
    with pytest.raises(ValueError, match="richardson"):
        sample_losses(model, (X, y), loss_fn=mse, sampler="hmc", richardson=True, **kw)
    with pytest.raises(ValueError, match="num_draws"):  # before sampling, not after a long run
        sample_losses(model, (X, y), loss_fn=mse, **{**kw, "num_draws": 7})
    with pytest.raises(ValueError, match="step_size"):
        sample_losses(model, (X, y), loss_fn=mse, **{**kw, "step_size": -1.0})
    with pytest.raises(ValueError, match="step_size"):
        sample_losses(model, (X, y), loss_fn=mse, **{**kw, "step_size": "big"})
    with pytest.raises(ValueError, match="gamma"):
        sample_losses(model, (X, y), loss_fn=mse, gamma=-1.0, **kw)
    with pytest.raises(ValueError, match="rows"):
        sample_losses(model, (X, y[:3]), loss_fn=mse, **kw)
    with pytest.raises(TypeError, match="tuple"):
        sample_losses(model, [1, 2, 3], loss_fn=mse, **kw)
    with pytest.raises(ValueError, match="fluctuation_points"):
        sample_losses(model, (X, y), loss_fn=mse, fluctuation_points=-1, **kw)


def test_estimate_llc_result(linear_problem):
    """Richardson-extrapolated SGLD, whose exact mean is 2 E_{ε/2} − E_ε."""
    model, data, h = linear_problem
    res = estimate_llc(model, data, loss_fn=gaussian_nll, nbeta=NBETA, gamma=GAMMA, step_size=0.02, sampler="sgld",
                       num_chains=8, num_draws=2000, num_burnin=500, thin=1, seed=3, richardson=True)
    exact = 2 * sgld_exact(h, NBETA, GAMMA, 0.01) - sgld_exact(h, NBETA, GAMMA, 0.02)
    assert abs(res.mean - exact) < 4 * res.se and abs(res.mean - 2.0) > 4 * res.se
    assert abs(res.mean - sgld_exact(h, NBETA, GAMMA, 0.02)) > 4 * res.se  # plain SGLD's biased law fails
    assert abs(res.info["sgld_coarse"] - sgld_exact(h, NBETA, GAMMA, 0.02)) < 4 * res.info["sgld_coarse_se"]
    assert abs(res.info["sgld_fine"] - sgld_exact(h, NBETA, GAMMA, 0.01)) < 4 * res.info["sgld_fine_se"]
    assert res.nbeta == NBETA and res.gamma == GAMMA and res.config.step_size == 0.02
    assert res.config.sampler == "sgld" and res.config.seed == seed_to_int(3) and res.info["step_rule"] == "given"
    assert res.loss_traces.shape == (8, 2000) and res.rhat < 1.05
    # default nβ = n/log n
    res = sample_losses(model, data, loss_fn=gaussian_nll, num_chains=1, num_draws=32, num_burnin=0, seed=0)
    assert res.nbeta == pytest.approx(200 / np.log(200)) and res.info["step_rule"] == "scan"


def test_llc_vs_gamma_follows_localization(linear_problem):
    model, data, h = linear_problem
    sweep = llc_vs_gamma(model, data, gammas=[1.0, 100.0], loss_fn=gaussian_nll, nbeta=NBETA, step_size=0.005,
                         sampler="sgld", richardson=False, num_chains=4, num_draws=1000, num_burnin=500)
    exact = [sgld_exact(h, NBETA, g, 0.005) for g in (1.0, 100.0)]
    assert np.all(np.abs(sweep.llc - exact) < 4 * sweep.se)
    assert sweep.llc[1] < sweep.llc[0] - 4 * sweep.se.max()  # strong localization lowers λ̂


def test_llc_trajectory_resumes(tmp_path, linear_problem):
    model, data, _ = linear_problem
    ckpts = {}
    for k, scale in enumerate([0.0, 1.0]):
        m = nn.Linear(4, 1, bias=False).double()
        with torch.no_grad():
            m.weight.copy_(model.weight * scale)
        ckpts[k] = m.state_dict()
    kw = dict(loss_fn=gaussian_nll, model=model, nbeta=NBETA, gamma=GAMMA, step_size=0.01, num_chains=2,
              num_draws=50, num_burnin=10, progress=False, sampler="sgld", richardson=False)
    log = tmp_path / "traj.jsonl"
    with pytest.warns(SLTWarning):  # 2 chains × 50 draws per checkpoint: the diagnostics say so
        first = llc_trajectory({0: ckpts[0]}, data, out=log, **kw)
        assert first.keys == (0,)
        full = llc_trajectory(ckpts, data, out=log, **kw)
        assert full.llc[0] == first.llc[0]  # read back from the log, not recomputed
        assert len(log.read_text().splitlines()) == 2
        fresh = llc_trajectory(ckpts, data, **kw)
        np.testing.assert_allclose(fresh.llc, full.llc)
        torch.save(ckpts[1], tmp_path / "c1.pt")
        via_path = llc_trajectory([tmp_path / "c1.pt"], data, **kw)
        assert via_path.llc[0] == pytest.approx(full.llc[1])
    with pytest.raises(ValueError, match="model="):
        llc_trajectory([ckpts[0]], data, **{**kw, "model": None})


def test_auto_step_budgets_minibatch_noise():
    from slt.estimators.tuning import curvature_step as auto_step_size

    full = auto_step_size("sgld", 100.0, 1.0, 2.0)
    assert full == pytest.approx(0.2 / (100.0 * 2.0 + 1.0))
    assert auto_step_size("sgld", 100.0, 1.0, 2.0, batch_size=1000, n=1000) == full  # b = n: no minibatch noise
    # b = 10 of n = 1000: nβ λ_max scaled by 1 + nβ (1/b − 1/n) = 10.9
    assert auto_step_size("sgld", 100.0, 1.0, 2.0, batch_size=10, n=1000) == pytest.approx(0.2 / (200.0 * 10.9 + 1.0))


def test_relaxation_burnin_is_the_numba_rule(linear_problem):
    """num_burnin=None (the default): the bridge uses slt.estimators.auto_burnin on its (given or auto) step."""
    from slt.estimators import auto_burnin

    model, data, _ = linear_problem
    kw = dict(loss_fn=gaussian_nll, nbeta=NBETA, num_chains=2, num_draws=20, thin=3, seed=0, sampler="sgld",
              richardson=False)
    with pytest.warns(SLTWarning):  # 2 chains × 20 draws: the diagnostics say so
        res = estimate_llc(model, data, gamma=GAMMA, step_size=2e-4, **kw)  # 5/(γε) = 5000 steps
    assert res.config.num_burnin == auto_burnin(2e-4, GAMMA, 3)[0] == 5001
    assert res.loss_traces.shape == (2, 20)
    with pytest.warns(SLTWarning):  # 7 burn-in steps: far from relaxed
        fixed = estimate_llc(model, data, gamma=GAMMA, step_size=2e-4, **{**kw, "num_burnin": 7})
    assert fixed.config.num_burnin == 7 and fixed.warnings


def _dln_rows(widths, rank, n):
    from slt.nn.data import dln_data, least_squares_rows
    from slt.nn.models import dln_teacher

    teacher = dln_teacher(widths, rank, seed=0)
    return teacher, least_squares_rows(*dln_data(teacher, n, seed=1)), n / np.log(n)


def test_auto_step_remeasures_the_curvature_where_the_chains_go():
    """From the teacher of a deep linear network the chains spread along directions only γ holds,
    into regions where the top Hessian eigenvalue of L_n is several times that at w*; the auto
    step is re-derived there after burn-in and relaxed, so the stiffest direction's SGLD
    inflation stays within its budget (ε(nβ h + γ) ≈ 0.2) during the draws."""
    from slt.estimators.tuning import RELAX_STEPS
    from slt.estimators.tuning import curvature_step as auto_step_size
    from slt.nn.flat import FlatNetwork

    teacher, rows, nbeta = _dln_rows([4, 4, 4], 1, 1000)
    run = sample_losses(teacher, rows, loss_fn=gaussian_nll, nbeta=nbeta, gamma=0.3, num_chains=4, num_draws=50,
                        num_burnin=3000, seed=3)
    info = run.info
    net = FlatNetwork(teacher, gaussian_nll, torch.device("cpu"))
    assert info["step_rule"] == "curvature"
    assert info["burnin_step_size"] == pytest.approx(auto_step_size("sgld", nbeta, 0.3, net.top_curvature(net.w0, *rows)),
                                                     rel=0.02)
    step = run.config.step_size
    assert step == pytest.approx(auto_step_size("sgld", nbeta, 0.3, info["curvature_at_chains"]))
    assert step < info["burnin_step_size"] / 3
    assert info["relax_steps"] == min(np.ceil(RELAX_STEPS * info["burnin_step_size"] / step), 3000)
    assert run.config.num_burnin == 3000 + info["relax_steps"]
    assert step * (nbeta * info["curvature_at_chains"] + 0.3) < 0.3  # the w* rule's step would be > 0.6 here
    assert info["burnin_step_size"] * (nbeta * info["curvature_at_chains"] + 0.3) > 0.6


@pytest.mark.slow
def test_auto_step_matches_hmc_on_a_deep_linear_network():
    """10-10-10-10 at a rank-3 teacher (n = 10⁴, full batch on the least-squares rows): the exact
    value of the estimator by HMC, 36.95 ± 0.37 here (λ = 42), is matched by SGLD's auto step,
    while SGLD at the step from w*, whose stiffest direction at the chains has ε nβ h ≈ 10, is
    far off (+21% measured at a third of that step)."""
    teacher, rows, nbeta = _dln_rows([10, 10, 10, 10], 3, 10000)
    kw = dict(loss_fn=gaussian_nll, nbeta=nbeta, num_chains=8, seed=2)
    ref = estimate_llc(teacher, rows, sampler="hmc", num_draws=100, num_burnin=50,
                       sampler_options={"leapfrog": 400}, **kw)
    auto = estimate_llc(teacher, rows, num_draws=2000, thin=2, **kw)
    coarse = estimate_llc(teacher, rows, step_size=auto.info["burnin_step_size"], num_draws=2000, thin=2,
                          num_burnin=auto.config.num_burnin, **kw)
    assert abs(auto.mean - ref.mean) < 3 * np.hypot(auto.se, ref.se)
    assert coarse.mean - ref.mean > 4 * np.hypot(coarse.se, ref.se)


def test_dln_reference_is_exact_on_a_one_layer_network():
    """One linear layer: the localized tempered posterior at the teacher w₀ is Gaussian, with
    precision P = nβH + γI and mean μ = P⁻¹(nβHŵ + γw₀) (ŵ the least-squares fit), so
    E[nβ(L_n(w) − L_n(w₀))] = (nβ/2)[tr(HP⁻¹) + (μ−ŵ)ᵀH(μ−ŵ) − (w₀−ŵ)ᵀH(w₀−ŵ)]."""
    from torch.func import functional_call, hessian

    from slt.nn.dln import dln_reference_llc

    n, gamma = 400, 1.0
    res, lam = dln_reference_llc([3, 2], 2, n=n, gamma=gamma, num_draws=800, leapfrog=5)
    teacher, rows, nbeta = _dln_rows([3, 2], 2, n)
    w0 = teacher[0].weight.detach().reshape(-1)

    def loss(w):
        return gaussian_nll(functional_call(teacher, {"0.weight": w.reshape(2, 3)}, (rows[0],)), rows[1])

    H = hessian(loss)(w0)
    w_hat = w0 - torch.linalg.solve(H, torch.func.grad(loss)(w0))
    P = nbeta * H + gamma * torch.eye(6, dtype=H.dtype)
    mu = torch.linalg.solve(P, nbeta * H @ w_hat + gamma * w0)
    quad = lambda v: float(v @ H @ v)  # noqa: E731
    exact = 0.5 * nbeta * (float(torch.trace(torch.linalg.solve(P, H))) + quad(mu - w_hat) - quad(w0 - w_hat))
    assert lam == 3.0 and res.exact == 3.0
    assert abs(res.mean - exact) < 4 * res.se
    assert abs(res.mean - 1.1 * exact) > 4 * res.se  # a 10% mis-scaling is rejected


def test_singular_fluctuation_is_exact_on_a_one_layer_network():
    """One linear layer at n = 400: the posterior is N(μ, P⁻¹) (as above) and ℓ_i(w) = ½‖y_i − J_i w‖²
    is quadratic, so Var_w ℓ_i = r̄_iᵀ J_i Σ J_iᵀ r̄_i + ½ tr((J_iᵀJ_i Σ)²) with r̄_i = y_i − J_i μ,
    Σ = P⁻¹: ν = (β/2) Σ_i Var_w ℓ_i ≈ d/2 (regular). HMC on the n real samples recovers it; a
    20% mis-scaling is rejected. ``corrected`` adds β ν̂ to λ̂."""
    from slt.nn.dln import dln_problem as _dln_problem

    n, gamma = 400, 1.0
    teacher, (X, y), _ = _dln_problem([3, 2], 2, n, 1.0, 0)
    res = estimate_llc(teacher, (X, y), loss_fn=gaussian_nll, sampler="hmc", num_draws=300, num_burnin=100,
                       sampler_options={"leapfrog": 5}, seed=1)
    nbeta, beta = n / np.log(n), 1 / np.log(n)
    w0 = teacher[0].weight.detach().reshape(-1)
    J = torch.kron(torch.eye(2, dtype=X.dtype).unsqueeze(0), X.unsqueeze(1))  # (n, 2, 6): W x_i = J_i w
    H = torch.einsum("nki,nkj->ij", J, J) / n
    w_hat = torch.linalg.lstsq(J.reshape(-1, 6), y.reshape(-1)).solution
    P = nbeta * H + gamma * torch.eye(6, dtype=H.dtype)
    S = torch.linalg.inv(P)
    mu = S @ (nbeta * H @ w_hat + gamma * w0)
    r = y - torch.einsum("nki,i->nk", J, mu)
    JS = J @ S
    var = torch.einsum("nk,nki,nli,nl->n", r, JS, J, r) + 0.5 * torch.einsum("nij,nji->n", *(2 * [J.transpose(1, 2) @ JS]))
    exact = 0.5 * beta * float(var.sum())
    fl = res.fluctuation
    assert fl.points == n and fl.beta == pytest.approx(beta)
    assert abs(exact - 3.0) < 0.3
    assert abs(fl.nu - exact) < 4 * fl.se
    assert abs(fl.nu - 1.2 * exact) > 4 * fl.se
    assert res.corrected == pytest.approx(res.mean + beta * fl.nu)


def test_dln_population_reference_is_exact_on_a_one_layer_network():
    """On the population rows L(w) − L(w₀) = ½‖w − w₀‖², so the localized tempered posterior is
    N(w₀, (nβ + γ)⁻¹ I) and E[nβ(L(w) − L(w₀))] = (d/2) nβ/(nβ + γ): the estimator's value
    at n → ∞ (no data term): 2.94 here."""
    from slt.nn.dln import dln_reference_llc

    nbeta, gamma = 50.0, 1.0
    res, _ = dln_reference_llc([3, 2], 2, nbeta=nbeta, population=True, gamma=gamma, num_draws=800, leapfrog=5)
    exact = 3.0 * nbeta / (nbeta + gamma)
    assert res.nbeta == nbeta
    assert abs(res.mean - exact) < 4 * res.se
    assert abs(res.mean - 1.1 * exact) > 4 * res.se
