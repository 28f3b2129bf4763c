"""Per-token LLCs of a module vmap cannot batch (nn.LSTM): the per-token losses loop over the points."""
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import slt.nn  # noqa: E402
from slt.nn.flat import FlatNetwork  # noqa: E402
from slt.nn.tokens import TokenLosses  # noqa: E402


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab: int = 4, hidden: int = 3):
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(vocab, hidden), nn.LSTM(hidden, hidden, batch_first=True), nn.Linear(hidden, vocab)

    def forward(self, x):
        return self.out(self.rnn(self.emb(x))[0])


def token_ce(logits, y):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _data():
    torch.manual_seed(0)
    X = torch.randint(0, 4, (8, 5))
    return LSTMLanguageModel(), X, torch.roll(X, -1, 1)


def test_token_losses_of_an_lstm_match_the_loss_of_each_token():
    model, X, Y = _data()
    net = FlatNetwork(model, token_ce, torch.device("cpu"))
    tokens = TokenLosses(net, X, Y)
    W = torch.stack([net.w0, net.w0 + 0.01])
    got = tokens(W)  # before: RuntimeError "Batching rule not implemented for aten::lstm.input"
    assert got.shape == (2, 8, 5) and "point by point" in tokens.reason
    out = net.outputs(W[1], X)
    assert torch.allclose(got[1, 3, 2], token_ce(out[3:4, 2:3], Y[3:4, 2:3]))
    assert torch.allclose(got[1].mean(), token_ce(out, Y))


def test_per_token_llc_of_an_lstm_language_model():
    model, X, Y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a run this short warns about its own convergence
        res = slt.nn.estimate_llc(model, (X, Y), loss_fn=token_ce, nbeta=20.0, num_chains=2, num_draws=8,
                                  num_burnin=8, step_size=1e-3, per_sample="token", seed=0)
    assert res.per_sample.shape == (8, 5) and res.info["per_sample"] == "token"
    assert not res.info["vectorized"]  # the chains fell back to their loop too
    assert torch.isfinite(torch.as_tensor(res.per_sample)).all()


def test_per_sample_losses_of_an_lstm_fall_back_to_a_loop():
    """vmap cannot batch nn.LSTM: per-sample losses loop (ν̂ and per-sample LLCs exist) and say so."""
    from slt.nn.backend import TorchBackend

    model, X, Y = _data()
    backend = TorchBackend(model, (X, Y), token_ce)
    W = torch.stack([backend.net.w0, backend.net.w0 + 0.01])
    got = backend.per_sample_losses(W, range(8))
    assert got.shape == (2, 8) and any("loop over points and samples" in n for n in backend.notes())
    out = backend.net.outputs(W[1], X)
    assert got[1, 3] == pytest.approx(float(token_ce(out[3:4], Y[3:4])), rel=1e-6)
    assert got[1].mean() == pytest.approx(float(token_ce(out, Y)), rel=1e-6)
