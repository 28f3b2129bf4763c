"""Attention models through the bridge with default sampler, chains and step rule (a shorter burn-in, for time): nn.MultiheadAttention (fused fast path, no
derivative) and nn.TransformerEncoderLayer (fused SDPA kernel, no double backward) sample and give
a finite, positive λ̂ at a trained minimum, with R-hat; restricted to the attention block too."""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402

P = 5


class AttentionAdder(nn.Module):
    """Embed (a, b), one multi-head attention layer, read out a + b mod P from the last token."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.emb = nn.Embedding(P, d)
        self.att = nn.MultiheadAttention(d, 2, batch_first=True)
        self.out = nn.Linear(d, P)

    def forward(self, x):
        h = self.emb(x)
        a, _ = self.att(h, h, h)
        return self.out(a[:, -1])


class TinyLM(nn.Module):
    """A one-layer transformer language model (dropout, LayerNorm inside the encoder layer)."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.emb = nn.Embedding(P, d)
        self.enc = nn.TransformerEncoderLayer(d, 2, 16, dropout=0.1, batch_first=True)
        self.out = nn.Linear(d, P)

    def forward(self, x):
        return self.out(self.enc(self.emb(x)))


def sequence_ce(outputs, targets):
    return nn.functional.cross_entropy(outputs.reshape(-1, P), targets.reshape(-1))


def train(model, X, y, loss_fn, steps=400):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def adder():
    torch.manual_seed(0)
    X = torch.cartesian_prod(torch.arange(P), torch.arange(P))
    y = (X[:, 0] + X[:, 1]) % P
    return train(AttentionAdder(), X, y, nn.functional.cross_entropy), (X, y)


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(1)
    starts = torch.arange(P).repeat(4)
    X = (starts[:, None] + torch.arange(6)[None, :]) % P  # counting sequences: next token = token + 1
    Y = (X + 1) % P
    return train(TinyLM(), X, Y, sequence_ce), (X, Y)


def quiet_llc(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(model, data, **kw)


def test_attention_model_with_defaults(adder):
    model, data = adder
    res = quiet_llc(model, data, loss_fn=nn.functional.cross_entropy, seed=0, num_draws=60, num_burnin=800)
    assert res.config.sampler == "sghmc" and res.info["step_rule"] == "curvature"
    assert "MultiheadAttention" in res.info["attention"] and res.info["vectorized"]
    assert math.isfinite(res.mean) and res.mean > 0 and math.isfinite(res.rhat)
    assert_left_then_local(res)


def assert_left_then_local(res):
    """At γ = 1 the chains of these small trained attention models leave w*'s basin: the default's γ
    search (slt.estimators.localization) moves up until they stay, and runs there."""
    trials = res.info["gamma_search"]
    assert [t["gamma"] for t in trials] == [10.0**k for k in range(len(trials))] and len(trials) >= 2
    assert all(t["outcome"] in ("diverged", "left the basin") for t in trials[:-1])
    assert trials[-1]["outcome"] == "local" and res.config.gamma == trials[-1]["gamma"]
    assert trials[-1]["llc"] == pytest.approx(res.mean) and res.rhat < 1.2
    assert res.mean < res.info["dim"] / 2  # below the regular bound d/2


def onehot_mse(outputs, targets):
    return nn.functional.mse_loss(outputs, nn.functional.one_hot(targets, P).to(outputs.dtype))


def gaussian_llc(loss, theta: torch.Tensor, nbeta: float, gamma: float) -> tuple[float, int]:
    """Exact λ_S of a loss quadratic in θ, and the rank of its Hessian: the posterior
    exp(−nβ(gᵀδ + ½δᵀHδ) − γ|δ|²/2) is N(μ, Σ), Σ = (nβH + γ)⁻¹, μ = −Σ nβ g, so
    λ_S = nβ (gᵀμ + ½ μᵀHμ + ½ tr HΣ)."""
    g = torch.autograd.functional.jacobian(loss, theta).detach().numpy()
    h = torch.autograd.functional.hessian(loss, theta).detach().numpy()
    cov = np.linalg.inv(nbeta * h + gamma * np.eye(theta.numel()))
    mu = -cov @ (nbeta * g)
    eig = np.linalg.eigvalsh(h)
    return float(nbeta * (g @ mu + 0.5 * mu @ h @ mu + 0.5 * np.trace(h @ cov))), int((eig > 1e-9 * eig.max()).sum())


def test_restricted_out_projection_is_its_gaussian_integral():
    """The attention output a = W_o c + b_o enters the logits linearly (f = W_out a + b_out), so with
    a squared loss the posterior over (W_o, b_o) alone is Gaussian: λ_S is its exact integral, and
    rank H = rank(W_out)·rank([c, 1]) = 5·9 (λ_S → 45/2 as nβ → ∞, not d/2 = 36).  HMC (no step
    bias) hits it within 3 se; the value 10% off fails."""
    torch.manual_seed(0)
    X = torch.cartesian_prod(torch.arange(P), torch.arange(P))
    y = (X[:, 0] + X[:, 1]) % P
    model = train(AttentionAdder().double(), X, y, onehot_mse)
    names = ("att.out_proj.weight", "att.out_proj.bias")
    params = dict(model.named_parameters())
    theta = torch.cat([params[k].detach().reshape(-1) for k in names])

    def loss(t):
        w, b = t[:64].reshape(8, 8), t[64:]
        return onehot_mse(torch.func.functional_call(model, {names[0]: w, names[1]: b}, (X,)), y)

    exact, rank = gaussian_llc(loss, theta, 100.0, 1.0)
    assert rank == 45 and 0.6 * 22.5 < exact < 22.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SLTWarning)
        res = estimate_llc(model, (X, y), loss_fn=onehot_mse, restrict="att.out_proj.*", sampler="hmc", nbeta=100.0,
                           num_chains=8, num_draws=100, num_burnin=100, seed=0)
    # a short run: R-hat sits near its 1.01 line (the flat directions mix slowly), nothing else complains
    assert all(w.startswith("R-hat") for w in res.warnings) and len(caught) == len(res.warnings), res.warnings
    assert res.info["restrict"]["coordinates"] == 72
    assert abs(res.mean - exact) < 3 * res.se and abs(res.mean - 1.1 * exact) > 3 * res.se


def test_transformer_lm_with_defaults_and_per_sample_llcs(lm):
    model, data = lm
    res = quiet_llc(model, data, loss_fn=sequence_ce, seed=0, num_draws=60, num_burnin=800, per_sample=True)
    assert "TransformerEncoderLayer" in res.info["attention"]
    assert_left_then_local(res)
    assert math.isfinite(res.mean) and res.mean > 0 and math.isfinite(res.rhat)
    assert res.fluctuation is not None and res.per_sample.shape == tuple(data[1].shape)  # per token: (n, seq)
    assert res.info["per_sample"] == "token" and np.all(np.isfinite(res.per_sample))


def test_per_token_llcs_average_to_the_estimate(lm, adder):
    """λ̂_it = nβ(E_w ℓ_it − ℓ_it(w*)) from running sums at every draw: with a full-batch sampler
    the mean over all tokens is λ̂ (the loss is the mean over tokens), and the mean over each
    sequence's tokens is that sequence's per-sample LLC (same seed, per_sample="sample")."""
    model, data = lm
    kw = dict(loss_fn=sequence_ce, sampler="mala", step_size=1e-4, metric=0.0, num_chains=2, num_draws=20,
              num_burnin=10, seed=0)
    tokens = quiet_llc(model, data, per_sample="token", **kw)
    samples = quiet_llc(model, data, per_sample="sample", **kw)
    n, seq = data[1].shape
    assert tokens.per_sample.shape == (n, seq) and samples.per_sample.shape == (n,)
    assert tokens.per_sample.sum() / (n * seq) == pytest.approx(tokens.mean, rel=1e-4)
    np.testing.assert_allclose(tokens.per_sample.mean(axis=1), samples.per_sample, rtol=1e-3,
                               atol=1e-4 * np.abs(samples.per_sample).max())
    assert tokens.mean == samples.mean and np.ptp(tokens.per_sample) > 0.1 * np.abs(tokens.per_sample).max()
    with pytest.raises(ValueError, match="per_sample='token'.*not integer token sequences"):
        quiet_llc(adder[0], adder[1], per_sample="token", **{**kw, "loss_fn": nn.functional.cross_entropy})
    with pytest.raises(ValueError, match="per_sample='token'.*not the mean of its tokens"):
        quiet_llc(model, data, per_sample="token", **{**kw, "loss_fn": lambda o, t: sequence_ce(o, t) * t.numel()})
    with pytest.raises(ValueError, match="per_sample"):
        quiet_llc(model, data, per_sample="tokens", **kw)
    res = quiet_llc(adder[0], adder[1], per_sample=True, **{**kw, "loss_fn": nn.functional.cross_entropy})
    assert res.per_sample.shape == (adder[1][1].shape[0],) and res.info["per_sample"] == "sample"
