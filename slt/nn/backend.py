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
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import hessian, vmap

from slt.estimators.backend import Chains, NoteBook, Probe, RunSpec
from slt.estimators.config import SMALL_DIM
from slt.estimators.tuning import StepAdapter
from slt.nn import sgmcmc
from slt.nn.data import as_tensors
from slt.nn.flat import CURVATURE_POINTS, ChainEvaluator, FlatNetwork, LossFn, pick_device
from slt.nn.groups import ChainGroup, metric_fn, potential_fn
from slt.nn.models import generator
from slt.nn.streams import split_chains
from slt.nn.tokens import SampleLosses, TokenLosses, TokenSums, token_layout_problem
from slt.sampling.rng import seed_to_int

__all__ = ["TorchBackend", "resolve_compile", "resolve_devices"]

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
    restrict : sample only these coordinates (:func:`slt.nn.flat.restriction_mask`).
    compile : "auto", True or False: the sampling step's evaluation through ``torch.compile``
        (:func:`resolve_compile`).
    devices : devices to split the chains across (None: ``[device]``); each group of chains runs
        vmapped on its device and the traces are gathered on the host (:mod:`slt.nn.groups`).
    """

    samplers = tuple(sgmcmc.KERNELS)

    def __init__(self, model: nn.Module, data, loss_fn: LossFn, *, device=None, vectorize: bool = True,
                 restrict: Any = None, compile: bool | str = "auto", devices: Sequence[Any] | None = None):
        super().__init__()
        self.devices = resolve_devices(device, devices)
        self.device = self.devices[0]
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
        self.compile, self.compile_rule = resolve_compile(compile, self.devices, vectorize)
        self.evaluate = ChainEvaluator(self.net, self.X, self.y, vectorize=vectorize, compile=self.compile)
        self._evaluators = {self.device: self.evaluate}
        for dev in self.devices[1:]:
            if dev not in self._evaluators:
                net = FlatNetwork(model, loss_fn, dev, restrict=restrict)
                self._evaluators[dev] = ChainEvaluator(net, X.to(dev), y.to(dev), vectorize=vectorize,
                                                       compile=self.compile)
        self.supports_metric = self.dim <= SMALL_DIM
        self._per_sample = None
        self.tokens: TokenSums | None = None

    # --- points -------------------------------------------------------------------------------
    def point(self, w: Any = None) -> torch.Tensor:
        """w* as the sampled coordinates (default: the model's parameters); ``w`` is a full flat
        parameter vector, whose unsampled coordinates are then held fixed where it says."""
        if w is None:
            return self.net.w0
        t = torch.as_tensor(w, dtype=self.net.w0.dtype).to(self.device).reshape(-1)
        if t.numel() != self.net.full_point.numel():
            raise ValueError(f"w_star has {t.numel()} entries; the model has {self.net.full_point.numel()} parameters")
        for ev in self._evaluators.values():
            if ev.net is not self.net:
                ev.net.hold_at(t.to(ev.X.device))
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

    # --- per-token losses ---------------------------------------------------------------------
    def use_tokens(self) -> str | None:
        """Record per-token losses at the draws of every run with a probe (the estimator's drawing
        run): None when on, else why the loss does not decompose over tokens (:mod:`slt.nn.tokens`)."""
        problem = token_layout_problem(self.net, self.X, self.y)
        if problem is None:
            self.tokens = TokenSums(TokenLosses(self.net, self.X, self.y))
        return problem

    # --- running ------------------------------------------------------------------------------
    def _groups(self, spec: RunSpec, init: torch.Tensor, seed: int, draws: int) -> list[ChainGroup]:
        center = self._points(spec.center).reshape(-1)
        parts = split_chains(init.shape[0], len(self.devices))
        return [ChainGroup(self._evaluators[dev], spec.config, center, init[part.start:part.stop], part, seed, draws)
                for dev, part in zip(self.devices, parts)]

    def _gather(self, groups: list[ChainGroup]) -> torch.Tensor:
        """All chains' positions on the first device, in chain order."""
        if len(groups) == 1:
            return groups[0].state.w.detach()
        return torch.cat([g.state.w.detach().to(self.device) for g in groups])

    def run(self, spec: RunSpec, init: Any, *, num_steps: int, thin: int, seed: int | None,
            progress: bool | str = False, probe: Probe | None = None, skip: int = 0) -> Chains:
        """``num_steps`` steps of every chain; chain c's noise, acceptance draws and minibatches come
        from streams of (seed, c) (:mod:`slt.nn.streams`), so the numbers do not depend on the split
        of the chains across ``devices``."""
        from tqdm.auto import tqdm

        cfg = spec.config
        seed = seed_to_int(seed)
        host = generator(seed, "cpu")  # HMC's trajectory lengths (shared by all chains): no device sync
        W = self._points(init)
        chains = W.shape[0]
        draws = (num_steps - skip) // thin
        groups = self._groups(spec, W, seed, draws)
        adapter = StepAdapter(cfg.step_size, spec.adapt_acceptance) if spec.adapt_acceptance and skip else None
        if adapter is not None and groups[0].factors is not None:
            raise ValueError("MALA's metric is computed at a fixed step: give step_size, or use metric=0")
        tokens = self.tokens if probe is not None else None
        if tokens is not None and not spec.continues:
            tokens.start(self._points(spec.center))
        eps, checked = cfg.step_size, 0
        leapfrog = getattr(cfg.options, "leapfrog", 1)
        desc = f"{cfg.sampler} {progress}" if isinstance(progress, str) else cfg.sampler
        bar = tqdm(total=num_steps, disable=not progress, desc=desc, leave=False, unit="step")
        for t in range(num_steps):
            if t == skip:
                eps = adapter.final if adapter is not None else eps
                for g in groups:
                    g.mark_skip()
            step_eps = adapter.step if adapter is not None and t < skip else eps
            length = leapfrog if leapfrog == 1 else int(torch.randint(leapfrog // 2 + 1, leapfrog + 1, (1,),
                                                                            generator=host))
            for g in groups:
                g.step(step_eps, length)
            if adapter is not None and t < skip:
                adapter.update(sum(float(g.state.accept_prob.sum()) for g in groups) / chains)
            k = t + 1 - skip
            if k > 0 and k % thin == 0:
                self._record(groups, k // thin - 1, probe, tokens)
            if t + 1 - checked >= CHECK_EVERY or t + 1 == num_steps:
                for g in groups:
                    g.check_finite(t)
                checked = t + 1
            bar.update(1)
        bar.close()
        acceptance = None
        if groups[0].exact:
            acceptance = sum(g.accepted() for g in groups) / (chains * max(num_steps - skip, 1))
        return Chains(positions=self._gather(groups),
                      loss_traces=torch.cat([g.trace.double().cpu() for g in groups]).numpy(),
                      distance_traces=torch.cat([g.dist.double().cpu() for g in groups]).numpy(),
                      acceptance=acceptance, step_size=float(eps))

    def _record(self, groups: list[ChainGroup], j: int, probe: Probe | None, tokens: TokenSums | None) -> None:
        for g in groups:
            g.record(j)
        if probe is None:
            return
        due = j % probe.every == 0
        w = self._gather(groups) if due or tokens is not None else None
        if tokens is not None:
            tokens.add(w)
        if due:
            probe.fn(w, j)

    # --- probes -------------------------------------------------------------------------------
    def mala_acceptance(self, points: Any, spec: RunSpec, seed: int | None) -> np.ndarray:
        cfg = spec.config
        P = self._points(points)
        c, k, d = P.shape
        W = P.reshape(c * k, d)
        potential = potential_fn(self.evaluate, cfg, self._points(spec.center).reshape(-1))
        factors = metric_fn(self.evaluate, cfg)
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
        factors = metric_fn(self.evaluate, spec.config)
        return np.ones(tuple(W.shape)) if factors is None else factors(W).double().cpu().numpy()

    def hessians(self, points: Any) -> np.ndarray:
        if self.dim > SMALL_DIM:
            raise ValueError(f"exact Hessians are computed for up to {SMALL_DIM} coordinates; "
                             f"this model has {self.dim}")
        W = self._points(points).detach()
        full = hessian(lambda w: self.net.loss(w, self.X, self.y))
        try:
            H = vmap(full)(W)
        except Exception:  # noqa: BLE001 - modules vmap cannot batch: one chain at a time
            H = torch.stack([full(w) for w in W])
        return H.double().cpu().numpy()

    def top_curvature(self, points: Any, seed: int | None = None, scale: Any = None) -> float:
        W = self._points(points)
        s = None if scale is None else self._points(scale).reshape(-1)
        return max(self.net.top_curvature(w, self.X, self.y, seed=seed, scale=s) for w in W)

    def curvature_operator(self, point: Any, scale: Any = None):
        """diag(s) ∇²L diag(s) at ``point`` (s = ``scale``, None: 1) as a float64 scipy LinearOperator
        (Hessian-vector products, data subsampled as :meth:`top_curvature`)."""
        from scipy.sparse.linalg import LinearOperator

        w = self._points(point).reshape(-1)
        s = None if scale is None else self._points(scale).reshape(-1)
        hvp = self.net.hvp_at(w, self.X[:CURVATURE_POINTS], self.y[:CURVATURE_POINTS])

        def matvec(v):
            t = torch.as_tensor(np.ravel(v), dtype=w.dtype, device=w.device)
            hv = hvp(t if s is None else s * t)
            hv = torch.zeros_like(t) if hv is None else hv
            return (hv if s is None else s * hv).double().cpu().numpy()

        return LinearOperator((self.dim, self.dim), matvec=matvec, dtype=np.float64)

    def diagonal_curvature(self, points: Any, probes: int, seed: int | None = None) -> np.ndarray:
        """(d,) Hutchinson estimate of diag ∇²L, averaged over the points (``probes`` each)."""
        W = self._points(points)
        diag = sum(self.net.diagonal_curvature(w, self.X, self.y, probes=probes, seed=seed) for w in W) / W.shape[0]
        return diag.double().cpu().numpy()

    def per_sample_losses(self, points: Any, rows: np.ndarray) -> np.ndarray:
        """(k, m) losses of single samples ``rows`` at the points: ``loss_fn`` on one sample,
        vmapped over samples and points (chunks of 256 samples); with per-token recording on, the
        mean of the sample's tokens' losses (:mod:`slt.nn.tokens`)."""
        W = self._points(points)
        idx = torch.as_tensor(np.asarray(rows), device=self.device)
        if self.tokens is not None:
            return self.tokens.sample_losses(points if isinstance(points, torch.Tensor) else W, idx
                                             ).double().cpu().numpy()
        if self._per_sample is None:
            self._per_sample = SampleLosses(self.net, self.X, self.y)
        out = self._per_sample(W, idx)
        if self._per_sample.reason is not None:
            self.note(self._per_sample.reason)
        return out.double().cpu().numpy()

    def info(self) -> dict:
        evaluators = list(self._evaluators.values())
        info = {"backend": "torch", "n": self.n, "dim": self.dim, "device": str(self.device),
                "vectorized": all(ev.vectorize for ev in evaluators),
                "compile": next((ev.compile_status for ev in evaluators if ev.compile_status.startswith("eager:")),
                                self.evaluate.compile_status) + f" ({self.compile_rule})"}
        if len(self.devices) > 1:
            info["devices"] = [str(d) for d in self.devices]
        if self.net.attention:
            info["attention"] = (f"{', '.join(self.net.attention)} sampled through the math attention kernel "
                                 "without the inference fast path (the fused kernels lack the derivatives)")
        if self.net.index is not None:
            info["restrict"] = {"parameters": self.net.sampled, "coordinates": self.dim,
                                "of": int(self.net.full_point.numel())}
        return info

    def notes(self) -> tuple[str, ...]:
        extra = []
        for ev in self._evaluators.values():
            if ev.reason not in (None, "vectorize=False"):
                extra.append(ev.reason)
            if ev.compile_status.startswith("eager:") and self.compile_rule == "compile=True":
                extra.append(f"compile=True: {ev.compile_status}")
        return super().notes() + tuple(dict.fromkeys(extra))


def resolve_devices(device: Any, devices: Sequence[Any] | None) -> list[torch.device]:
    """The devices the chains are split across: ``devices`` (each available), or ``[device]``."""
    if devices is None:
        return [pick_device(device)]
    if isinstance(devices, (str, torch.device)) or len(devices) == 0:
        raise ValueError(f"devices={devices!r}; give a non-empty list such as ['cuda:0', 'cuda:1']")
    out = [torch.device(d) for d in devices]
    if device is not None and torch.device(device) != out[0]:
        raise ValueError(f"device={device!r} and devices={devices!r} disagree; give devices only")
    for d in out:
        if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"devices={devices!r}: {d} is not available")
    return out


def resolve_compile(compile: bool | str, devices: Sequence[torch.device], vectorize: bool) -> tuple[bool, str]:
    """Whether the sampling step is compiled, and the rule that said so.

    ``True`` / ``False`` decide; ``"auto"`` compiles when a chain group runs on CUDA (kernel
    launches dominate small steps there and the compile time is paid once per backend) and runs
    eagerly on the CPU, where compiling costs more than it saves over the runs of a default
    estimate (``benchmarks/bench_torch_compile.py`` measures steps per second, compile time and
    the break-even run length).  The loop over chains (``vectorize=False``) has no compiled
    form: ``compile=True`` with it is a ValueError.

    >>> resolve_compile("auto", [torch.device("cpu")], True)
    (False, "compile='auto': eager on cpu")
    """
    if compile not in (True, False, "auto"):
        raise ValueError(f"compile={compile!r}; expected 'auto', True or False")
    if compile == "auto":
        on = vectorize and any(d.type == "cuda" for d in devices)
        return on, f"compile='auto': {'CUDA' if on else 'eager on ' + ', '.join(sorted({d.type for d in devices}))}"
    if compile and not vectorize:
        raise ValueError("compile=True needs vectorize=True (the loop over chains is not compiled)")
    return bool(compile), f"compile={compile}"
