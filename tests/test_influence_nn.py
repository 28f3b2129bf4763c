"""The torch doors of the covariance observables (:mod:`slt.nn.influence`).

- the same toy regression through both backends gives the same kernel, BIF and susceptibilities
  (within the combined se), and the torch BIF is within 3 se of quadrature;
- per token: covariances are bilinear, so on the same draws (same seed) the per-sample kernel is
  the per-token kernel averaged over each sequence's tokens, and a callable query returning the
  query set's mean loss gives the mean of the per-query-sample BIF — to float precision;
- susceptibilities per component, xarray dims, errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.estimators import influence as I  # noqa: E402
from slt.estimators import influence_exact as E  # noqa: E402
from slt.models import Regression  # noqa: E402
from slt.nn import influence as N  # noqa: E402
from slt.nn.models import regression_module  # noqa: E402

V, T = 4, 3
SHORT = dict(gamma=1.0, num_chains=32, num_draws=300, num_burnin=300, thin=2, step_size=0.2, seed=0, progress=False)


@pytest.fixture(scope="module")
def toy():
    m = Regression("w1*w2*x", n=6, seed=0)
    w = np.array([0.3, -0.2])
    return m, w, regression_module(m, w)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return fn(*args, **kw)


def test_both_backends_give_the_same_bif_and_susceptibilities(toy):
    m, w, (module, data, loss_fn) = toy
    kw = dict(nbeta=50.0, **SHORT)
    a = _quiet(I.bif, m, w, query=None, **kw)
    b = _quiet(N.bif, module, data, loss_fn=loss_fn, query=None, **kw)
    assert a.values.shape == b.values.shape == (6, 6) and b.info["per"] == "sample"
    assert np.abs((a.values - b.values) / np.hypot(a.se, b.se)).max() < 3
    q = E.tempered_covariance(m, lambda W: (m.per_sample_losses(W), m.per_sample_losses(W)), 50.0, gamma=1.0,
                              center=w)
    assert np.abs(b.z(-q.cov)).max() < 3
    sa = _quiet(I.susceptibilities, m, w, **kw)
    sb = _quiet(N.susceptibilities, module, data, loss_fn=loss_fn, **kw)
    assert sa.values.shape == sb.values.shape == (6, 1)
    assert np.abs((sa.values - sb.values) / np.hypot(sa.se, sb.se)).max() < 3


class Bigram(nn.Module):
    """Next-token logits from the current token: an embedding and a read-out."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 3)
        self.out = nn.Linear(3, V)

    def forward(self, x):
        return self.out(self.emb(x))


def token_ce(outputs, targets):
    return nn.functional.cross_entropy(outputs.reshape(-1, V), targets.reshape(-1))


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    X = torch.randint(0, V, (6, T))
    Y = (X + 1) % V
    model = Bigram()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        token_ce(model(X), Y).backward()
        opt.step()
    Xq = torch.randint(0, V, (2, T))
    return model.eval(), (X, Y), (Xq, (Xq + 1) % V)


def test_per_token_covariances_average_to_the_per_sample_ones(lm):
    model, data, query = lm
    kw = dict(loss_fn=token_ce, nbeta=20.0, gamma=1.0, sampler="mala", metric=0.0, step_size=1e-3, num_chains=4,
              num_draws=30, num_burnin=10, seed=0, progress=False)
    tok = _quiet(N.loss_kernel, model, data, per="token", **kw)
    sam = _quiet(N.loss_kernel, model, data, per="sample", **kw)
    assert tok.values.shape == (6 * T, 6 * T) and sam.values.shape == (6, 6)
    assert tok.row_dims == ("sample", "token") and tok.col_dims == ("query", "query_token")
    np.testing.assert_allclose(tok.values.reshape(6, T, 6, T).mean(axis=(1, 3)), sam.values, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(tok.per_chain.reshape(4, 6, T, 6, T).mean(axis=(2, 4)), sam.per_chain, rtol=1e-6,
                               atol=1e-12)
    bq = _quiet(N.bif, model, data, query=query, **kw)
    assert bq.values.shape == (6 * T, 2 * T) and bq.info["per"] == "token"
    Xq, Yq = query
    mean_query_loss = lambda module: token_ce(module(Xq), Yq)  # noqa: E731 - an observable of the module
    bo = _quiet(N.bif, model, data, query=mean_query_loss, **kw)
    assert bo.values.shape == (6 * T, 1) and bo.col_dims == ("observable",)
    np.testing.assert_allclose(bo.values[:, 0], bq.values.mean(axis=1), rtol=1e-5, atol=1e-10)
    ds = tok.to_xarray()
    assert ds["per_chain"].dims == ("chain", "sample", "token", "query", "query_token")
    s = _quiet(N.susceptibilities, model, data, query=query, components={"emb": "emb.*", "out": "out.*"}, **kw)
    assert s.values.shape == (2 * T, 2) and s.coords["component"] == ["emb", "out"]
    assert s.to_xarray()["value"].dims == ("sample", "token", "component")
    assert len(s.runs) == 2 and s.runs[1].info["restrict"]["parameters"] == {"out.weight": 12, "out.bias": 4}


def test_torch_doors_refuse_bad_input(lm):
    model, data, query = lm
    with pytest.raises(ValueError, match="per="):
        N.loss_kernel(model, data, loss_fn=token_ce, per="word", nbeta=10.0)
    with pytest.raises(ValueError, match="per_sample"):
        N.bif(model, data, loss_fn=token_ce, query=query, per_sample=True, nbeta=10.0)
    with pytest.raises(ValueError, match="probe losses"):
        N.susceptibilities(model, data, loss_fn=token_ce, query=lambda mod: 0.0, nbeta=10.0)
    with pytest.raises(ValueError, match="components is empty"):
        N.susceptibilities(model, data, loss_fn=token_ce, components={}, nbeta=10.0)
