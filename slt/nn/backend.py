"""The torch backend of the one estimator: any ``nn.Module``, all chains at once, CPU or GPU.

:class:`TorchBackend` answers the questions of :mod:`slt.estimators.backend`: the parameters
of all chains are stacked along a chain axis and the (minibatch) loss and its gradient are
evaluated with ``torch.func.functional_call`` under ``torch.func.vmap`` (each chain its own
minibatch).  The samplers are those of :mod:`slt.nn.sgmcmc`, the same algorithms under the
same names as on the numba backend.  Recorded losses are full-batch losses for full-batch
samplers and the chains' minibatch losses (unbiased for L_n) otherwise.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import hessian, vmap

from slt.errors import DivergenceError
from slt.estimators.backend import Chains, NoteBook, Probe, RunSpec
from slt.estimators.config import SMALL_DIM
from slt.estimators.tuning import StepAdapter
from slt.nn import sgmcmc
from slt.nn.data import as_tensors
from slt.nn.flat import Batches, ChainEvaluator, FlatNetwork, LossFn, pick_device
from slt.nn.models import generator

__all__ = ["TorchBackend"]

CHECK_EVERY = 100  # steps between the divergence checks (each one syncs with the device)


class TorchBackend(NoteBook):
    """A module, its data and its loss as an estimator backend.

    Parameters
    ----------
    model : the network (a copy is sampled; buffers and frozen parameters stay fixed).
    data : (X, y) tensors, Dataset or DataLoader.
    loss_fn : ``loss_fn(outputs, targets)``, the mean per-sample negative log-likelihood.
    device : torch device (None: CUDA when available).
    vectorize : False loops over chains instead of vmap.
    """

    samplers = ("sgld", "mala", "hmc", "sgnht", "rmsprop_sgld")

    def __init__(self, model: nn.Module, data, loss_fn: LossFn, *, device=None, vectorize: bool = True,
                 restrict: Any = None):
        super().__init__()
        self.device = pick_device(device)
        X, y = as_tensors(data)
        if X.shape[0] == 0:
            raise ValueError("data is empty (0 samples)")
        self.X, self.y = X.to(self.device), y.to(self.device)
        self.net = FlatNetwork(model, loss_fn, self.device, restrict=restrict)
        probe = self.net.loss(self.net.w0, self.X[:8], self.y[:8])
        if probe.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar (mean) loss, got shape {tuple(probe.shape)}")
        self.n, self.dim = int(X.shape[0]), self.net.dim
        self.name = f"{type(model).__name__} (torch backend, {self.dim} parameters)"
        self.evaluate = ChainEvaluator(self.net, self.X, self.y, vectorize=vectorize)
        self.supports_metric = self.dim <= SMALL_DIM
        self._per_sample = None

    # --- points -------------------------------------------------------------------------------
    def point(self, w: Any = None) -> torch.Tensor:
        """w* as the sampled coordinates (default: the model's parameters); ``w`` is a full flat
        parameter vector, whose unsampled coordinates are then held fixed where it says."""
        if w is None:
            return self.net.w0
        t = torch.as_tensor(w, dtype=self.net.w0.dtype).to(self.device).reshape(-1)
        if t.numel() != self.net.full_point.numel():
            raise ValueError(f"w_star has {t.numel()} entries; the model has {self.net.full_point.numel()} parameters")
        return self.net.hold_at(t)

    def _points(self, points: Any) -> torch.Tensor:
        return torch.as_tensor(points, dtype=self.net.w0.dtype).to(self.device)

    def loss(self, w: Any) -> float:
        return self.net.full_loss(self._points(w).reshape(-1), self.X, self.y)

    def start(self, center: Any, num_chains: int, nbeta: float, gamma: float, spread_seed: int | None = None):
        c = self._points(center).reshape(1, -1)
        W = c.repeat(num_chains, 1)
        if spread_seed is not None:
            g = generator(spread_seed, self.device)
            W = W + torch.randn(W.shape, generator=g, dtype=W.dtype, device=self.device) / math.sqrt(gamma + nbeta)
        return W

    # --- the potential ------------------------------------------------------------------------
    def _potential(self, cfg, center: torch.Tensor):
        nbeta, gamma = cfg.nbeta, cfg.gamma

        def potential(W: torch.Tensor, idx: torch.Tensor | None = None):
            """U = nβ L + (γ/2)‖W − w*‖², ∇U and L per chain."""
            grads, loss = self.evaluate(W, idx)
            diff = W - center
            return nbeta * loss + 0.5 * gamma * diff.square().sum(dim=1), nbeta * grads + gamma * diff, loss

        return potential

    def _hdiag(self, W: torch.Tensor) -> torch.Tensor:
        """Diagonal of ∇²L_n at each chain by forward differences of the gradient, all d + 1 points
        of every chain in one vmapped call: ∂²L/∂w_d² ≈ (∂_d L(w + h_d e_d) − ∂_d L(w))/h_d with
        h_d = 1e-5 (1 + |w_d|), a deterministic function of w (so MALA's metric stays exact)."""
        c, d = W.shape
        h = 1e-5 * (1.0 + W.abs())
        pts = torch.cat([W.unsqueeze(1), W.unsqueeze(1) + torch.diag_embed(h)], dim=1).reshape(c * (d + 1), d)
        grads, _ = self.evaluate(pts, None)
        grads = grads.reshape(c, d + 1, d)
        return (torch.diagonal(grads[:, 1:, :], dim1=1, dim2=2) - grads[:, 0, :]) / h

    def _hessian_tensor(self, W: torch.Tensor) -> torch.Tensor:
        if self.dim > SMALL_DIM:
            raise ValueError(f"exact Hessians are computed for up to {SMALL_DIM} coordinates; this model has {self.dim}")
        full = hessian(lambda w: self.net.loss(w, self.X, self.y))
        try:
            return vmap(full)(W.detach())
        except Exception:  # noqa: BLE001 - modules vmap cannot batch: one chain at a time
            return torch.stack([full(w) for w in W.detach()])

    def _factors(self, cfg):
        if cfg.sampler != "mala" or cfg.metric <= 0:
            return None
        dt = 0.5 * cfg.step_size
        return lambda W: sgmcmc.metric_factors(self._hdiag(W), dt, cfg.nbeta, cfg.gamma, cfg.metric)

    # --- running ------------------------------------------------------------------------------
    def run(self, spec: RunSpec, init: Any, *, num_steps: int, thin: int, seed: int | None,
            progress: bool = False, probe: Probe | None = None, skip: int = 0) -> Chains:
        from tqdm.auto import tqdm

        cfg = spec.config
        center = self._points(spec.center).reshape(-1)
        gen = generator(seed, self.device)
        host = generator(seed, "cpu")  # trajectory lengths: drawn on the host, no device sync
        potential = self._potential(cfg, center)
        factors = self._factors(cfg)
        W = self._points(init).clone()
        chains = W.shape[0]
        exact = cfg.sampler in ("mala", "hmc")
        if exact:
            u, g, loss = potential(W)
            state = sgmcmc.MetropolisState(W, u, g, loss, torch.zeros(chains, dtype=torch.int64, device=self.device),
                                           None, None if factors is None else factors(W))
        else:
            opts = {"diffusion": cfg.options.diffusion} if cfg.sampler == "sgnht" else {}
            state = sgmcmc.init(cfg.sampler, W, **opts)
        kernel_opts = {"alpha": cfg.options.alpha, "eps": cfg.options.eps} if cfg.sampler == "rmsprop_sgld" else {}
        batches = Batches(self.n, cfg.batch_size, chains, gen, self.device)
        adapter = StepAdapter(cfg.step_size, spec.adapt_acceptance) if spec.adapt_acceptance and skip else None
        if adapter is not None and factors is not None:
            raise ValueError("MALA's metric is computed at a fixed step: give step_size, or use metric=0")
        draws = (num_steps - skip) // thin
        trace = torch.empty(chains, draws, dtype=W.dtype, device=self.device)
        dist = torch.empty_like(trace)
        eps, accepted_at_skip, checked = cfg.step_size, None, 0
        leapfrog = cfg.options.leapfrog if cfg.sampler == "hmc" else 1
        bar = tqdm(total=num_steps, disable=not progress, desc=cfg.sampler, leave=False)
        for t in range(num_steps):
            if t == skip:
                if adapter is not None:
                    eps = adapter.final
                accepted_at_skip = state.accepted.clone() if exact else None
            noise = torch.randn(state.w.shape, generator=gen, dtype=state.w.dtype, device=self.device)
            step_eps = adapter.step if adapter is not None and t < skip else eps
            if exact:
                uniform = 1.0 - torch.rand(chains, generator=gen, dtype=state.w.dtype, device=self.device)
                if cfg.sampler == "mala":
                    level = torch.randint(cfg.step_levels, (chains,), generator=gen, device=self.device)
                    state = sgmcmc.mala_step(state, potential, factors, noise, uniform, level, step_eps)
                else:
                    length = leapfrog if leapfrog == 1 else int(torch.randint(leapfrog // 2 + 1, leapfrog + 1, (1,),
                                                                                    generator=host))
                    state = sgmcmc.hmc_step(state, potential, noise, uniform, step_eps, length)
                if adapter is not None and t < skip:
                    adapter.update(float(state.accept_prob.mean()))
                loss = state.loss
            else:
                _, grad_u, loss = potential(state.w, batches.next())
                state = sgmcmc.step(cfg.sampler, state, grad_u, noise, step_eps, **kernel_opts)
            k = t + 1 - skip
            if k > 0 and k % thin == 0:
                j = k // thin - 1
                trace[:, j] = loss
                dist[:, j] = (state.w - center).square().sum(dim=1)
                if probe is not None and j % probe.every == 0:
                    probe.fn(state.w.detach(), j)
            if t + 1 - checked >= CHECK_EVERY or t + 1 == num_steps:
                self._check_finite(state.w, loss, t)
                checked = t + 1
            bar.update(1)
        bar.close()
        acceptance = None
        if exact:
            base = accepted_at_skip if accepted_at_skip is not None else torch.zeros_like(state.accepted)
            acceptance = float((state.accepted - base).sum()) / (chains * max(num_steps - skip, 1))
        return Chains(positions=state.w.detach(), loss_traces=trace.double().cpu().numpy(),
                      distance_traces=dist.double().cpu().numpy(), acceptance=acceptance, step_size=float(eps))

    @staticmethod
    def _check_finite(w: torch.Tensor, loss: torch.Tensor, t: int) -> None:
        bad = ~(torch.isfinite(w).all(dim=1) & torch.isfinite(loss))
        if bad.any():
            chain = int(torch.nonzero(bad)[0])
            raise DivergenceError(chain, t + 1, float(loss[chain]), hint="lower step_size or raise gamma")

    # --- probes -------------------------------------------------------------------------------
    def mala_acceptance(self, points: Any, spec: RunSpec, seed: int | None) -> np.ndarray:
        cfg = spec.config
        P = self._points(points)
        c, k, d = P.shape
        W = P.reshape(c * k, d)
        center = self._points(spec.center).reshape(-1)
        potential = self._potential(cfg, center)
        factors = self._factors(cfg)
        gen = generator(seed, self.device)
        u, g, loss = potential(W)
        state = sgmcmc.MetropolisState(W, u, g, loss, torch.zeros(c * k, dtype=torch.int64, device=self.device),
                                       None, None if factors is None else factors(W))
        noise = torch.randn(W.shape, generator=gen, dtype=W.dtype, device=self.device)
        uniform = 1.0 - torch.rand(c * k, generator=gen, dtype=W.dtype, device=self.device)
        level = torch.zeros(c * k, dtype=torch.int64, device=self.device)
        out = sgmcmc.mala_step(state, potential, factors, noise, uniform, level, cfg.step_size)
        return out.accept_prob.reshape(c, k).double().cpu().numpy()

    def step_factors(self, points: Any, spec: RunSpec) -> np.ndarray:
        W = self._points(points)
        factors = self._factors(spec.config)
        return np.ones(tuple(W.shape)) if factors is None else factors(W).double().cpu().numpy()

    def hessians(self, points: Any) -> np.ndarray:
        return self._hessian_tensor(self._points(points)).double().cpu().numpy()

    def top_curvature(self, points: Any, seed: int | None = None) -> float:
        W = self._points(points)
        return max(self.net.top_curvature(w, self.X, self.y, seed=seed) for w in W)

    def per_sample_losses(self, points: Any, rows: np.ndarray) -> np.ndarray:
        """(k, m) losses of single samples ``rows`` at the points: ``loss_fn`` on one sample,
        vmapped over samples and points (chunks of 256 samples)."""
        if self._per_sample is None:
            one = lambda w, x, t: self.net.loss(w, x.unsqueeze(0), t.unsqueeze(0))  # noqa: E731
            self._per_sample = vmap(vmap(one, in_dims=(None, 0, 0)), in_dims=(0, None, None), randomness="different")
        W = self._points(points)
        idx = torch.as_tensor(np.asarray(rows), device=self.device)
        x, y = self.X[idx], self.y[idx]
        with torch.no_grad():
            out = torch.cat([self._per_sample(W, x[i:i + 256], y[i:i + 256]) for i in range(0, x.shape[0], 256)],
                            dim=1)
        return out.double().cpu().numpy()

    def info(self) -> dict:
        info = {"backend": "torch", "n": self.n, "dim": self.dim, "device": str(self.device),
                "vectorized": self.evaluate.vectorize}
        if self.net.attention:
            info["attention"] = (f"{', '.join(self.net.attention)} sampled through the math attention kernel "
                                 "without the inference fast path (the fused kernels lack the derivatives)")
        if self.net.index is not None:
            info["restrict"] = {"parameters": self.net.sampled, "coordinates": self.dim,
                                "of": int(self.net.full_point.numel())}
        return info

    def notes(self) -> tuple[str, ...]:
        reason = self.evaluate.reason
        extra = (reason,) if reason not in (None, "vectorize=False") else ()
        return super().notes() + extra
