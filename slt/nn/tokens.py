"""Per-token losses of sequence models: the per-sample LLC decomposition one level further down.

A sequence model maps inputs to outputs of shape (n, seq, ...) and is trained on integer targets
of shape (n, seq) (next-token cross-entropy).  The loss of token t of sample i is the caller's own
``loss_fn`` on the one-token slice, ``ℓ_it(w) = loss_fn(outputs[i:i+1, t:t+1], targets[i:i+1, t:t+1])``
(the layout the loss was written for, so any mean-reduced token loss works).  When the loss is
the mean over all n·seq tokens (equal-length sequences, no ignored positions; checked at w*),

    L_n = (1/(n·seq)) Σ_it ℓ_it,   λ̂_it = nβ (E_w[ℓ_it(w)] − ℓ_it(w*)),   mean_it λ̂_it = λ̂,

and the mean over t of λ̂_it is the per-sample LLC λ̂_i.  :class:`TokenSums` keeps the running
(n, seq) sums over chains and draws (never draws × tokens).
"""
from __future__ import annotations

import torch
from torch.func import vmap

from slt.nn.flat import FlatNetwork, differentiable_kernels

__all__ = ["SampleLosses", "TokenLosses", "TokenSums", "token_layout_problem"]

CHUNK = 256  # samples per vmapped evaluation
CHECK_SAMPLES = 4  # samples on which the token decomposition of the loss is checked at w*


class SampleLosses:
    """``(points, rows) -> (k, m)`` losses of single samples ``rows`` at the k points: ``loss_fn`` on
    one sample, ``vmap``-ped over samples and points (chunks of :data:`CHUNK` samples); a module vmap
    cannot batch (``nn.LSTM``) loops over points and samples instead, and :attr:`reason` says why."""

    def __init__(self, net: FlatNetwork, X: torch.Tensor, Y: torch.Tensor):
        self.net, self.X, self.Y = net, X, Y
        self.reason: str | None = None
        one = lambda w, x, t: net.loss(w, x.unsqueeze(0), t.unsqueeze(0))  # noqa: E731
        self._fn = vmap(vmap(one, in_dims=(None, 0, 0)), in_dims=(0, None, None), randomness="different")

    def __call__(self, W: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        x, y = (self.X, self.Y) if rows is None else (self.X[rows], self.Y[rows])
        with torch.no_grad():
            if self.reason is None:
                try:
                    return torch.cat([self._fn(W, x[i:i + CHUNK], y[i:i + CHUNK]) for i in range(0, x.shape[0], CHUNK)],
                                     dim=1)
                except (RuntimeError, NotImplementedError) as exc:  # modules vmap cannot batch (e.g. nn.LSTM)
                    self.reason = f"per-sample losses loop over points and samples: vmap failed ({type(exc).__name__})"
            return torch.stack([torch.stack([self.net.loss(w, x[i:i + 1], y[i:i + 1]) for i in range(x.shape[0])])
                                for w in W])


class TokenLosses:
    """``(points, rows) -> (k, m, seq)`` per-token losses of samples ``rows`` at the k points.

    The network runs ``vmap``-ped over the points; a module vmap cannot batch (``nn.LSTM``,
    ``nn.GRU``: no batching rule) runs point by point instead, as the chains of
    :class:`slt.nn.flat.ChainEvaluator` do, and :attr:`reason` says why (None while vmapped).
    """

    def __init__(self, net: FlatNetwork, X: torch.Tensor, Y: torch.Tensor):
        self.net, self.X, self.Y = net, X, Y
        self.reason: str | None = None
        loss_fn = net.loss_fn

        def one(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return loss_fn(out[None, None], target[None, None])

        def at(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return vmap(vmap(one))(net.outputs(w, x), y)

        self._at = at
        self._fn = vmap(at, in_dims=(0, None, None), randomness="different")

    def _chunk(self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.reason is None:
            try:
                return self._fn(W, x, y)
            except Exception as exc:  # noqa: BLE001 - a module vmap cannot batch: loop over the points
                self.reason = (f"torch.func.vmap cannot evaluate {type(self.net.model).__name__} over the points "
                               f"({type(exc).__name__}: {exc}); per-token losses ran point by point")
        return torch.stack([self._at(w, x, y) for w in W])

    def __call__(self, W: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        x, y = (self.X, self.Y) if rows is None else (self.X[rows], self.Y[rows])
        with torch.no_grad(), differentiable_kernels():
            return torch.cat([self._chunk(W, x[i:i + CHUNK], y[i:i + CHUNK]) for i in range(0, x.shape[0], CHUNK)],
                             dim=1)


def token_layout_problem(net: FlatNetwork, X: torch.Tensor, Y: torch.Tensor) -> str | None:
    """Why per-token losses do not decompose the loss here (None when they do): integer targets of
    shape (n, seq) with seq > 1, outputs (n, seq, ...), and at w* on the first samples the loss
    equals the mean of its tokens' losses (per sample and over the samples)."""
    if Y.ndim < 2 or Y.shape[1] < 2 or Y.dtype.is_floating_point or Y.dtype == torch.bool:
        return f"the targets are not integer token sequences of shape (n, seq) (got {Y.dtype} {tuple(Y.shape)})"
    x, y = X[:CHECK_SAMPLES], Y[:CHECK_SAMPLES]
    w = net.w0
    with torch.no_grad(), differentiable_kernels():
        out = net.outputs(w, x)
        if tuple(out.shape[:2]) != tuple(y.shape[:2]):
            return f"the outputs {tuple(out.shape)} have no token axis matching the targets {tuple(y.shape)}"
        try:
            tokens = TokenLosses(net, x, y)(w[None])[0]
        except Exception as exc:  # noqa: BLE001 - a loss that cannot take one token, a module vmap cannot batch
            return f"the loss of one token cannot be evaluated ({type(exc).__name__}: {exc})"
        per_sample = torch.stack([net.loss_fn(out[i:i + 1], y[i:i + 1]) for i in range(y.shape[0])])
        whole = net.loss_fn(out, y)
    tol = 1e-5 if w.dtype == torch.float32 else 1e-9
    scale = tol * float(per_sample.abs().max())  # relative: near a minimum every loss is small
    if not (torch.allclose(tokens.mean(dim=1), per_sample, rtol=tol, atol=scale)
            and torch.allclose(tokens.mean(), whole, rtol=tol, atol=scale)):
        return ("the loss is not the mean of its tokens' losses (ignored or weighted positions, a sum, "
                "or sequences of unequal length)")
    return None


class TokenSums:
    """Running per-token sums of ℓ_it(w) − ℓ_it(w*) over the chains and draws of one run.

    :meth:`start` at w*; :meth:`add` at each draw (it also keeps the per-sample means of that draw
    for :meth:`sample_losses`, so the estimator's per-sample probe and ν̂ do not evaluate twice).
    """

    def __init__(self, losses: TokenLosses):
        self.losses = losses
        self.ref: torch.Tensor | None = None
        self.sums: torch.Tensor | None = None
        self.count = 0
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def start(self, center: torch.Tensor) -> None:
        self.ref = self.losses(center.reshape(1, -1))[0]
        self.sums = torch.zeros_like(self.ref, dtype=torch.float64)
        self.count, self._last = 0, None

    def add(self, W: torch.Tensor) -> None:
        tok = self.losses(W)
        self.sums += (tok - self.ref).sum(dim=0).double()
        self.count += W.shape[0]
        self._last = (W, tok.mean(dim=2))

    def sample_losses(self, W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """(k, m) per-sample losses, the mean of their tokens' (from the last draw when ``W`` is it)."""
        if self._last is not None and self._last[0] is W:
            return self._last[1][:, rows]
        return self.losses(W, rows).mean(dim=2)

    def llcs(self, nbeta: float) -> torch.Tensor:
        """(n, seq) per-token LLCs nβ (mean over chains and draws of ℓ_it(w) − ℓ_it(w*))."""
        if self.sums is None or self.count == 0:
            raise ValueError("no draws were recorded for the per-token LLCs")
        return nbeta * self.sums / self.count
