"""One run's chains on one device: the unit the torch backend advances, one or several per run.

A run's ensemble of C chains is split into contiguous groups (:func:`slt.nn.streams.split_chains`),
one per device of ``devices=``; each :class:`ChainGroup` holds its chains' positions, sampler
state, random streams (:class:`slt.nn.streams.ChainStreams`, from (seed, global chain index)),
minibatches and recorded traces on its device, and evaluates the potential

    U(w) = nβ L(w) + (γ/2) ‖w − w*‖²

with its own :class:`slt.nn.flat.ChainEvaluator` (the network and data copied to that device).
The driver (:meth:`slt.nn.backend.TorchBackend.run`) advances every group by one step in turn, so
devices that run asynchronously (CUDA) work concurrently, and gathers the traces on the host.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from slt.errors import DivergenceError
from slt.estimators.config import LLCConfig
from slt.nn import sgmcmc
from slt.nn.flat import Batches, ChainEvaluator
from slt.nn.streams import ChainStreams

__all__ = ["ChainGroup", "hessian_diagonal", "metric_fn", "potential_fn"]

Potential = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def potential_fn(evaluate: ChainEvaluator, cfg: LLCConfig, center: torch.Tensor, *, compiled: bool = False
                 ) -> Potential:
    """``potential(W, idx=None) -> (U, ∇U, L)`` per chain (minibatch rows ``idx``, or the full batch)."""
    nbeta, gamma = cfg.nbeta, cfg.gamma

    def potential(W: torch.Tensor, idx: torch.Tensor | None = None):
        grads, loss = evaluate(W, idx, compiled=compiled)
        diff = W - center
        return nbeta * loss + 0.5 * gamma * diff.square().sum(dim=1), nbeta * grads + gamma * diff, loss

    return potential


def hessian_diagonal(evaluate: ChainEvaluator, W: torch.Tensor) -> torch.Tensor:
    """Diagonal of ∇²L_n at each chain by forward differences of the gradient, all d + 1 points
    of every chain in one vmapped call: ∂²L/∂w_d² ≈ (∂_d L(w + h_d e_d) − ∂_d L(w))/h_d with
    h_d = 1e-5 (1 + |w_d|), a deterministic function of w (so MALA's metric stays exact)."""
    c, d = W.shape
    h = 1e-5 * (1.0 + W.abs())
    pts = torch.cat([W.unsqueeze(1), W.unsqueeze(1) + torch.diag_embed(h)], dim=1).reshape(c * (d + 1), d)
    grads, _ = evaluate(pts, None, compiled=False)
    grads = grads.reshape(c, d + 1, d)
    return (torch.diagonal(grads[:, 1:, :], dim1=1, dim2=2) - grads[:, 0, :]) / h


def metric_fn(evaluate: ChainEvaluator, cfg: LLCConfig) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """MALA's per-coordinate step factors as a function of the positions (None: isotropic)."""
    if cfg.metric <= 0:
        return None
    dt = 0.5 * cfg.step_size
    return lambda W: sgmcmc.metric_factors(hessian_diagonal(evaluate, W), dt, cfg.nbeta, cfg.gamma, cfg.metric)


class ChainGroup:
    """The chains ``chains`` (global indices) of one run on the device of ``evaluate``.

    Parameters
    ----------
    evaluate : the evaluator on this group's device.
    cfg : the run's settings; ``center`` w* and ``init`` (this group's rows) on any device.
    chains : global chain indices, for the random streams and error messages.
    seed : the run's seed (int).
    draws : recorded draws (the traces' length).
    """

    def __init__(self, evaluate: ChainEvaluator, cfg: LLCConfig, center: torch.Tensor, init: torch.Tensor,
                 chains: range, seed: int, draws: int):
        self.cfg, self.chains = cfg, chains
        self.device = evaluate.X.device
        self.center = center.to(self.device)
        W = init.to(self.device).clone()
        self.potential = potential_fn(evaluate, cfg, self.center, compiled=True)
        self.factors = metric_fn(evaluate, cfg)
        self.inv_metric = None if cfg.inv_metric is None else torch.tensor(
            np.array(cfg.inv_metric), dtype=W.dtype, device=self.device)
        if self.inv_metric is not None and self.inv_metric.shape != W.shape[1:]:
            raise ValueError(f"inv_metric has {self.inv_metric.numel()} entries; "
                             f"the run samples {W.shape[1]} coordinates")
        self.streams = ChainStreams(seed, chains, W.shape[1], self.device, W.dtype)
        self.batches = Batches(evaluate.X.shape[0], cfg.batch_size, self.streams)
        self.exact = cfg.record.exact
        self.kernel = sgmcmc.KERNELS[cfg.sampler]
        self.state, self.loss = self.kernel.init(self, W)
        self.trace = torch.empty(len(chains), draws, dtype=W.dtype, device=self.device)
        self.dist = torch.empty_like(self.trace)
        self.accepted_at_skip: torch.Tensor | None = None

    def step(self, eps: float, leapfrog: int) -> None:
        """One step of every chain of the group at step size ``eps`` (HMC: ``leapfrog`` steps)."""
        self.state, self.loss = self.kernel.step(self, self.state, eps, leapfrog)

    def record(self, j: int) -> None:
        """Store the loss and ‖w − w*‖² of every chain as draw ``j``."""
        self.trace[:, j] = self.loss
        self.dist[:, j] = (self.state.w - self.center).square().sum(dim=1)

    def mark_skip(self) -> None:
        """Remember the acceptance count where the recorded part of the run starts."""
        if self.exact:
            self.accepted_at_skip = self.state.accepted.clone()

    def accepted(self) -> int:
        """Proposals accepted since :meth:`mark_skip` (since the start without it)."""
        base = self.accepted_at_skip if self.accepted_at_skip is not None else 0
        return int((self.state.accepted - base).sum())

    def check_finite(self, t: int) -> None:
        """DivergenceError naming the first chain (global index) whose position or loss is not finite."""
        w, loss = self.state.w, self.loss
        ok = torch.isfinite(w).all(dim=1)
        if loss is not None:
            ok = ok & torch.isfinite(loss)
        if not bool(ok.all()):
            c = int(torch.nonzero(~ok)[0])
            value = float(loss[c]) if loss is not None else float("nan")
            raise DivergenceError(self.chains[c], t + 1, value, hint="lower step_size or raise gamma")
