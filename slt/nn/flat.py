"""A torch module seen as a function of one flat parameter vector, evaluated for many chains at once.

- :class:`FlatNetwork`: ``loss(w, x, y) = loss_fn(functional_call(model, unflatten(w), x), y)``.
- :class:`ChainEvaluator`: loss and gradient of every chain together (``torch.func.vmap`` over
  the chain axis, or a loop when vmap cannot handle the module).
- :class:`Batches`: per-chain minibatch indices, each chain its own permutation.

``compile=True`` on the evaluator compiles ``vmap(grad_and_value(loss))`` with ``torch.compile``
(falling back to eager, with the reason, when that fails).
"""
from __future__ import annotations

import contextlib
import copy
import fnmatch
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from slt.nn.models import generator
from slt.nn.streams import ChainStreams

__all__ = ["LossFn", "pick_device", "FlatNetwork", "ChainEvaluator", "Batches", "restriction_mask",
           "differentiable_kernels"]

CURVATURE_POINTS = 4096  # data rows the curvature probes (power iteration, Hutchinson, HVPs) use at most

ATTENTION_MODULES = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@contextlib.contextmanager
def differentiable_kernels():
    """Attention through kernels with every derivative the samplers need: the math backend of
    ``scaled_dot_product_attention`` (the fused CPU/flash kernels have no double backward) and no
    ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` inference fast path (which has no
    backward at all).

    >>> with differentiable_kernels():
    ...     pass
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pick_device(device: torch.device | str | None) -> torch.device:
    """``device`` or, when None, CUDA if available and the CPU otherwise."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def restriction_mask(named: list[tuple[str, torch.Tensor]], restrict: Any) -> torch.Tensor:
    """Boolean mask over the flat parameter vector of the coordinates ``restrict`` selects.

    ``restrict``: a glob pattern over parameter names (``"att.*"``, ``"layers.0.mlp.*"``), a list
    of patterns, or a callable ``(name, param) -> bool | bool tensor of param's shape`` (e.g. one
    attention head's rows).  Selecting nothing is a ValueError naming the parameters.

    >>> m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    >>> int(restriction_mask(list(m.named_parameters()), "1.*").sum())
    4
    """
    patterns = [restrict] if isinstance(restrict, str) else restrict
    parts = []
    for name, p in named:
        if callable(patterns):
            sel = patterns(name, p)
            sel = torch.as_tensor(sel, dtype=torch.bool, device=p.device)
            if sel.ndim == 0:
                sel = sel.expand(p.shape)
            if tuple(sel.shape) != tuple(p.shape):
                raise ValueError(f"restrict({name!r}) returned a mask of shape {tuple(sel.shape)}, "
                                 f"expected a bool or {tuple(p.shape)}")
        else:
            if not all(isinstance(q, str) for q in patterns):
                raise ValueError(f"restrict must be a glob pattern, a list of them or a callable, got {restrict!r}")
            sel = torch.full(p.shape, any(fnmatch.fnmatchcase(name, q) for q in patterns), dtype=torch.bool,
                             device=p.device)
        parts.append(sel.reshape(-1))
    mask = torch.cat(parts)
    if not bool(mask.any()):
        raise ValueError(f"restrict={restrict!r} selects no coordinate; the parameters are {[n for n, _ in named]}")
    return mask


class FlatNetwork:
    """A (copied, eval-mode) module seen as a function of one flat parameter vector.

    ``loss(w, x, y) = loss_fn(functional_call(model, unflatten(w), x), y)``; buffers and
    parameters with ``requires_grad=False`` stay fixed.  With ``restrict`` (see
    :func:`restriction_mask`) ``w`` holds only the selected coordinates and the others stay at
    :attr:`full_point` (the model's values until :meth:`hold_at` moves them).

    >>> net = FlatNetwork(nn.Linear(2, 1), nn.functional.mse_loss, torch.device("cpu"))
    >>> net.dim
    3
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, device: torch.device, dtype: torch.dtype | None = None,
                 restrict: Any = None):
        self.model = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
        named = [(k, p) for k, p in self.model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("model has no trainable parameters")
        self.names = [k for k, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.fixed = {k: p.detach() for k, p in self.model.named_parameters() if not p.requires_grad}
        self.fixed.update(dict(self.model.named_buffers()))
        self.full_point = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.loss_fn = loss_fn
        self.index = None if restrict is None else torch.nonzero(restriction_mask(named, restrict)).reshape(-1)
        self.w0 = self.full_point if self.index is None else self.full_point[self.index]
        self.attention = sorted({type(m).__name__ for m in self.model.modules() if isinstance(m, ATTENTION_MODULES)})

    @property
    def dim(self) -> int:
        return self.w0.numel()

    @property
    def sampled(self) -> dict[str, int]:
        """Sampled coordinates per parameter name (all of them without a restriction)."""
        if self.index is None:
            return dict(zip(self.names, self.numels))
        counts = torch.zeros(self.full_point.numel(), dtype=torch.int64, device=self.index.device)
        counts[self.index] = 1
        return {k: int(c.sum()) for k, c in zip(self.names, counts.split(self.numels)) if int(c.sum())}

    def hold_at(self, full: torch.Tensor) -> torch.Tensor:
        """Hold the unsampled coordinates at ``full`` (a full flat vector); returns its sampled part."""
        self.full_point = full.detach()
        return full if self.index is None else full[self.index]

    def expand(self, w: torch.Tensor) -> torch.Tensor:
        """The full flat vector of the sampled coordinates ``w``."""
        return w if self.index is None else self.full_point.index_copy(0, self.index, w)

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameter dict (plus the fixed tensors) for ``functional_call`` from a full flat vector."""
        params = {k: t.view(s) for k, t, s in zip(self.names, w.split(self.numels), self.shapes)}
        params.update(self.fixed)
        return params

    def outputs(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs at the sampled coordinates ``w`` (call inside :func:`differentiable_kernels`)."""
        return functional_call(self.model, self.unflatten(self.expand(w)), (x,))

    def raw_loss(self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """:meth:`loss` without entering :func:`differentiable_kernels` (the caller does, once)."""
        return self.loss_fn(self.outputs(w, x), y)

    def loss(self, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with differentiable_kernels():
            return self.raw_loss(w, x, y)

    def full_loss(self, w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, chunk: int = 8192) -> float:
        """L_n(w) over the whole dataset (in chunks; ``loss_fn`` must be a mean)."""
        n = X.shape[0]
        with torch.no_grad():
            total = sum(
                float(self.loss(w, X[i : i + chunk], y[i : i + chunk])) * min(chunk, n - i) for i in range(0, n, chunk)
            )
        return total / n

    def top_curvature(
        self, w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, iters: int = 30, seed=None,
        max_points: int = CURVATURE_POINTS,
        scale: torch.Tensor | None = None,
    ) -> float:
        """Largest eigenvalue (in absolute value) of ∇²L_n at ``w`` — of S ∇²L_n S with S =
        diag(``scale``) when given — by power iteration on Hessian-vector products (double
        backward); data subsampled to ``max_points``."""
        hvp = self.hvp_at(w, X[:max_points], y[:max_points])
        g = generator(seed, w.device)
        v = torch.randn(w.shape, generator=g, dtype=w.dtype, device=w.device)
        v /= v.norm()
        eig = 0.0
        for _ in range(iters):
            hv = hvp(v if scale is None else scale * v)
            if hv is None:
                break
            hv = hv if scale is None else scale * hv
            eig = float(v @ hv)
            norm = hv.norm()
            if not torch.isfinite(norm) or norm == 0:
                break
            v = hv / norm
        return abs(eig)

    def diagonal_curvature(self, w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, probes: int, seed=None,
                           max_points: int = CURVATURE_POINTS) -> torch.Tensor:
        """Hutchinson's estimate of diag ∇²L_n at ``w``: the mean over ``probes`` Rademacher vectors
        z of z ⊙ ∇²L_n z (Bekas, Kokiopoulou & Saad 2007); data subsampled to ``max_points``."""
        hvp = self.hvp_at(w, X[:max_points], y[:max_points])
        g = generator(seed, w.device)
        total = torch.zeros_like(w)
        for _ in range(probes):
            z = torch.randint(0, 2, w.shape, generator=g, device=w.device).to(w.dtype) * 2 - 1
            hz = hvp(z)
            if hz is not None:
                total += z * hz
        return total / probes

    def hvp_at(self, w: torch.Tensor, x: torch.Tensor, t: torch.Tensor):
        """v ↦ ∇²L(w) v on the rows (x, t) (None where the loss does not depend on w)."""
        w = w.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.loss(w, x, t), w, create_graph=True)

        def hvp(v: torch.Tensor) -> torch.Tensor | None:
            if not grad.requires_grad:
                return None
            return torch.autograd.grad(grad, w, grad_outputs=v, retain_graph=True, allow_unused=True)[0]

        return hvp


class Batches:
    """Per-chain minibatch indices: every chain walks its own random permutation of the data
    (epochs without replacement, the keys from the chain's own stream); ``None`` for full-batch runs."""

    def __init__(self, n: int, batch_size: int | None, streams: ChainStreams):
        self.n, self.streams = n, streams
        self.size = None if batch_size is None or batch_size >= n else int(batch_size)
        self.perm: torch.Tensor | None = None
        self.cursor = n

    def next(self) -> torch.Tensor | None:
        if self.size is None:
            return None
        if self.cursor + self.size > self.n:
            self.perm = self.streams.keys(self.n).argsort(dim=1)
            self.cursor = 0
        idx = self.perm[:, self.cursor : self.cursor + self.size]
        self.cursor += self.size
        return idx


class ChainEvaluator:
    """Loss and gradient of every chain at once: ``vmap`` over the chain axis, or a Python loop
    over chains when vmap cannot handle the module (then :attr:`reason` says why).

    With ``compile=True`` the step's evaluation ``vmap(grad_and_value(loss))`` goes through
    ``torch.compile`` (whole graph, compiled at the first call of each batch layout); when that
    fails the evaluator runs eagerly from then on and :attr:`compile_status` says why.
    """

    def __init__(self, net: FlatNetwork, X: torch.Tensor, y: torch.Tensor, *, vectorize: bool = True,
                 compile: bool = False):
        self.net, self.X, self.y = net, X, y
        self.vectorize = vectorize
        self.reason: str | None = None if vectorize else "vectorize=False"
        self.compile = compile
        self.compile_status = "compiled" if compile else "eager"
        self._compiled: dict[bool, Callable] = {}
        self._shared = vmap(net.loss, in_dims=(0, None, None), randomness="different")
        self._own = vmap(net.loss, in_dims=(0, 0, 0), randomness="different")

    def losses(self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, own: bool) -> torch.Tensor:
        """(chains,) losses, each chain on the shared batch (x, y) or its own (``own``)."""
        if self.vectorize:
            try:
                return (self._own if own else self._shared)(W, x, y)
            except Exception as exc:  # noqa: BLE001 - any vmap failure falls back to the loop
                self.vectorize = False
                self.reason = (
                    f"torch.func.vmap cannot evaluate {type(self.net.model).__name__} over the chain axis "
                    f"({type(exc).__name__}: {exc}); chains ran one after another in a loop"
                )
        return torch.stack([self.net.loss(W[c], x[c] if own else x, y[c] if own else y) for c in range(W.shape[0])])

    def _compiled_call(self, W: torch.Tensor, x: torch.Tensor, y: torch.Tensor, own: bool):
        """The compiled ``(∇L, L)`` of every chain, or None once compiling has failed."""
        if own not in self._compiled:
            fn = vmap(grad_and_value(self.net.raw_loss), in_dims=(0, 0, 0) if own else (0, None, None),
                      randomness="different")
            self._compiled[own] = torch.compile(fn, fullgraph=True)
        try:
            with differentiable_kernels():
                grads, losses = self._compiled[own](W.detach(), x, y)
            return grads, losses.detach()
        except Exception as exc:  # noqa: BLE001 - no compiler, an op inductor lacks, a graph break, ...
            self.compile = False
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.compile_status = f"eager: torch.compile failed ({type(exc).__name__}: {first})"
            return None

    def __call__(self, W: torch.Tensor, idx: torch.Tensor | None, *, compiled: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(∇L_batch, L_batch)`` of shapes (chains, d) and (chains,): the chains' losses are
        computed together, and since chains do not interact the gradient of their sum with
        respect to the stacked parameters is every chain's own gradient (one backward pass).
        ``compiled=False`` keeps this call eager (e.g. for point sets of another shape)."""
        own = idx is not None
        x, y = (self.X[idx], self.y[idx]) if own else (self.X, self.y)
        if compiled and self.compile and self.vectorize:
            out = self._compiled_call(W, x, y, own)
            if out is not None:
                return out
        with torch.enable_grad():
            W = W.detach().requires_grad_(True)
            losses = self.losses(W, x, y, own)
            (grads,) = torch.autograd.grad(losses.sum(), W)
        return grads, losses.detach()
