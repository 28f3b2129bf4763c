"""The stochastic network Q = N(μ, diag σ²), its objectives and a certificate on digits."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from slt import pacbayes as pb  # noqa: E402
from slt.nn.pacbayes import (GaussianPosterior, bound_objective, bounded_cross_entropy, certify,  # noqa: E402
                             fit_prior_mean, flat_parameters, mc_error, train_posterior)

torch.set_num_threads(1)


def _net(seed=0, hidden=16):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


@pytest.fixture(scope="module")
def digits():
    from slt.nn.data import load_digits

    X, y = load_digits(torch.float32)
    X = X.reshape(len(X), -1)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    te, pri, bnd = perm[:360], perm[360:1078], perm[1078:]
    return (X[pri], y[pri]), (X[bnd], y[bnd]), (X[te], y[te])


def test_kl_matches_the_numpy_gaussian_kl():
    model = _net()
    q = GaussianPosterior(model, sigma=0.02, prior_sigma=0.05)
    assert torch.equal(q.mu.detach(), flat_parameters(model)) and float(q.kl().detach()) > 0
    with torch.no_grad():
        q.mu.add_(0.01 * torch.randn(q.dim, generator=torch.Generator().manual_seed(1)))
        q.rho.add_(0.1 * torch.randn(q.dim, generator=torch.Generator().manual_seed(2)))
    ref = pb.gaussian_kl(q.mu.detach().double().numpy(), q.sigma().detach().double().numpy() ** 2,
                         q.prior_mean.double().numpy(), 0.05 ** 2)
    assert float(q.kl().detach()) == pytest.approx(ref, rel=1e-4)


def test_samples_have_the_posterior_moments_and_forward_is_the_network():
    model = _net()
    q = GaussianPosterior(model, sigma=0.1, prior_sigma=0.1)
    g = torch.Generator().manual_seed(3)
    W = torch.stack([q.sample(g).detach() for _ in range(4000)])
    z = (W.mean(0) - q.mu.detach()) / (0.1 / math.sqrt(4000))
    assert float(z.abs().max()) < 5.0  # max of ~1200 standard normals
    assert float(W.std(0).mean()) == pytest.approx(0.1, rel=0.01)
    x = torch.randn(5, 64)
    assert torch.allclose(q(x), model(x), atol=1e-6)  # at w = μ the network itself


def test_bounded_cross_entropy_and_objectives_by_hand():
    logits = torch.tensor([[2.0, 0.0, -30.0], [0.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    pmin = 1e-4
    p0 = math.exp(2) / (math.exp(2) + 1 + math.exp(-30))
    hand = (-math.log(p0) - math.log(1 / 3)) / 2 / math.log(1 / pmin)
    assert float(bounded_cross_entropy(logits, y, pmin=pmin)) == pytest.approx(hand, rel=1e-6)
    worst = bounded_cross_entropy(torch.tensor([[0.0, -50.0]]), torch.tensor([1]), pmin=pmin)
    assert float(worst) == pytest.approx(1.0)  # clamped at p_min: the loss lies in [0, 1]
    loss, kl, n, delta = torch.tensor(0.1), torch.tensor(5.0), 1000, 0.05
    r = (5.0 + math.log(2 * math.sqrt(1000) / 0.05)) / 2000
    assert float(bound_objective("fquad", loss, kl, n, delta)) == pytest.approx((math.sqrt(0.1 + r) + math.sqrt(r)) ** 2)
    assert float(bound_objective("fclassic", loss, kl, n, delta)) == pytest.approx(pb.mcallester_bound(0.1, 5, n, delta))
    assert float(bound_objective("bbb", loss, kl, n, delta)) == pytest.approx(0.105)
    with pytest.raises(ValueError, match="'seeger'"):
        bound_objective("seeger", loss, kl, n, delta)
    with pytest.raises(ValueError, match="pmin.*1.5"):
        bounded_cross_entropy(logits, y, pmin=1.5)
    with pytest.raises(ValueError, match="sigma.*-1"):
        GaussianPosterior(_net(), sigma=-1.0, prior_sigma=0.1)
    with pytest.raises(ValueError, match="mean has 3"):
        GaussianPosterior(_net(), sigma=0.1, prior_sigma=0.1, mean=torch.zeros(3))


def test_certificate_on_digits_with_a_data_dependent_prior(digits):
    """Prior mean by ERM on 718 points, Q trained on the bound objective of the other 719, the
    certificate on those 719 (δ = 0.025, δ' = 0.01, 300 draws): non-vacuous, above Q's test error."""
    prior_data, bound_data, test_data = digits
    model = _net(hidden=32)
    pm = fit_prior_mean(model, prior_data, epochs=30, lr=3e-3, seed=0)
    q = GaussianPosterior(model, sigma=0.03, prior_sigma=0.03, mean=pm, prior_mean=pm)
    hist = train_posterior(q, bound_data, objective="fquad", epochs=5, lr=0.01, seed=0)
    assert all(np.isfinite(hist))
    c = certify(q, bound_data, num_samples=300, seed=1)
    assert c.n == 719 and c.num_samples == 300 and c.delta == 0.025
    test_err = mc_error(q, test_data, num_samples=100, seed=2)
    assert c.risk_bound < 0.35 and test_err < c.risk_bound
    # the same certificate from its parts, and the union-bound variant is looser
    again = pb.certificate(mc_error(q, bound_data, num_samples=300, seed=1), 300, float(q.kl().detach()), 719)
    assert again.risk_bound == pytest.approx(c.risk_bound, rel=1e-6)
    assert certify(q, bound_data, num_samples=300, seed=1, grid_index=40).risk_bound > c.risk_bound
    # a prior that ignores the data (the initialisation, same σ) certifies nothing useful for this Q
    far = GaussianPosterior(model, sigma=0.03, prior_sigma=0.03, mean=q.mu.detach(), prior_mean=flat_parameters(model))
    with torch.no_grad():
        far.rho.copy_(q.rho)
    assert certify(far, bound_data, num_samples=300, seed=1).risk_bound > 0.9


@pytest.mark.slow
def test_quick_simulation_and_figure(tmp_path):
    """simulations/pacbayes.py --quick (about two minutes) and its figure; resumable."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def load(rel):
        spec = importlib.util.spec_from_file_location(Path(rel).stem + "_mod", root / rel)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    sim, fig = load("simulations/pacbayes.py"), load("paper_figures/fig_pacbayes.py")
    data = tmp_path / "sim"
    assert sim.main(["--quick", "--out", str(data), "--no-progress"]) == 0
    s = json.loads((data / "pacbayes.json").read_text())
    assert abs(s["theory"]["x^2+y^4"]["slope_exact"] - 0.75) < 0.03
    assert all(c["risk_bound"] < 0.5 and c["test_error_Q"] < c["risk_bound"] for c in s["certificates"].values())
    lines = (data / "pacbayes_runs.jsonl").read_text().count("\n")
    assert sim.main(["--quick", "--out", str(data), "--no-progress"]) == 0  # resumes: nothing re-run
    assert (data / "pacbayes_runs.jsonl").read_text().count("\n") == lines
    assert fig.QUICK is True
    assert fig.main(["--quick", "--data", str(data), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "pacbayes.png").exists()


@pytest.mark.slow
def test_tempered_kl_of_a_network_against_the_gaussian_closed_form():
    """Linear-Gaussian network (as in test_nn_free_energy): n L_n = c + ½ (w − w*)ᵀA(w − w*), prior
    N(w*, I/γ), so Q = N(w*, (A + γ)⁻¹) and KL = ½ Σ [γ/(a + γ) − 1 + log((a + γ)/γ)]; SGLD at step ε
    has the stationary variance 1/(κ(1 − εκ/4)), κ = βa + γ, which the sampler-exact value uses.
    (Slow: about 25 s of CPU; KL 2.01 ± 0.08 against 2.098, tolerance 0.40, the wrong F_n − c is 3.82.)"""
    from scipy.integrate import quad

    from slt.nn.models import gaussian_nll
    from slt.nn.pacbayes import tempered_kl

    gamma, eps = 5.0, 0.01
    g = torch.Generator().manual_seed(3)
    n, d = 200, 3
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    y = X @ torch.ones(d, 1, dtype=torch.float64) + torch.randn(n, 1, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(X, y).solution.T)
    a = np.linalg.eigvalsh((X.T @ X).numpy())

    def mean_nl(beta):  # E_β[n L_n] − c under the SGLD stationary law
        kappa = beta * a + gamma
        return 0.5 * np.sum(a / (kappa * (1 - eps * kappa / 4)))

    free = quad(mean_nl, 0, 1, points=[1e-3, 1e-2, 1e-1], limit=200)[0]  # F_n − n L_n(w*)
    exact_sampler = free - mean_nl(1.0)
    continuum = 0.5 * np.sum(gamma / (a + gamma) - 1 + np.log((a + gamma) / gamma))
    assert exact_sampler == pytest.approx(continuum, rel=0.05)
    res = tempered_kl(model, (X, y), loss_fn=gaussian_nll, betas=np.geomspace(1e-4, 1.0, 10), gamma=gamma,
                      step_size=eps, num_chains=4, num_draws=1500, num_burnin=300, seed=1)
    tol = 4 * res.se + 0.02 * free  # + 2% of F_n − c for the TI grid, as in test_nn_free_energy
    assert abs(res.value - exact_sampler) < tol
    assert abs(res.value - free) > tol  # F_n − c alone (the −E_Q[n L_n] term forgotten)
    with pytest.raises(ValueError, match="ending at 1"):
        tempered_kl(model, (X, y), loss_fn=gaussian_nll, betas=[0.1, 0.5])
