"""Torch models for the bridge (XOR MLPs, deep linear networks, a small CNN) and a trainer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from slt.nn.data import as_tensors, generator
from slt.sampling.rng import seed_to_int

__all__ = ["small_cnn", "train_with_checkpoints", "deep_linear_network", "dln_teacher", "gaussian_nll", "generator", "regression_module", "train", "xor_mlp"]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


def _activation(name: str) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"activation={name!r}; expected one of {sorted(_ACTIVATIONS)}") from None


def _init_(model: nn.Module, seed: int | np.random.Generator | None) -> nn.Module:
    """Re-run every submodule's default initialisation under a fixed seed (without touching
    the global torch RNG)."""
    if seed is None:
        return model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_to_int(seed))
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def xor_mlp(
    hidden: int = 2,
    activation: str = "tanh",
    *,
    seed: int | np.random.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """MLP 2-``hidden``-1 for XOR: ``Linear(2, hidden)``, activation, ``Linear(hidden, 1)``.

    The 2-2-1 network has 2·2 + 2 + 2 + 1 = 9 parameters.
    """
    if hidden < 1:
        raise ValueError(f"hidden={hidden}; must be >= 1")
    model = nn.Sequential(nn.Linear(2, hidden), _activation(activation), nn.Linear(hidden, 1))
    return _init_(model.to(dtype), seed)


def deep_linear_network(
    widths: Sequence[int], *, seed: int | np.random.Generator | None = None, dtype: torch.dtype = torch.float64
) -> nn.Sequential:
    """Bias-free deep linear network ``x ↦ W_L ⋯ W_1 x`` with layer widths
    ``widths = (d_0, d_1, …, d_L)``: L ``Linear(d_{i-1}, d_i, bias=False)`` layers,
    Σ d_{i-1} d_i parameters."""
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths={widths}; need at least two positive widths")
    layers = [nn.Linear(a, b, bias=False) for a, b in zip(widths[:-1], widths[1:])]
    return _init_(nn.Sequential(*layers).to(dtype), seed)


def dln_teacher(
    widths: Sequence[int],
    rank: int,
    *,
    seed: int | np.random.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """A deep linear network whose layers ``W_i`` all have rank ``rank`` (so does the product).

    With a random orthonormal basis ``Q_j`` (``widths[j] × rank``) of a rank-``rank`` subspace
    of every width and random orthogonal ``O_i`` (``rank × rank``), ``W_i = Q_{i+1} O_i Q_iᵀ``:
    every layer, and the product, has its ``rank`` non-zero singular values equal to 1. This
    is the most degenerate kind of true parameter of the data of :func:`slt.nn.data.dln_data`:
    around it the loss is the regular rank-``rank`` part plus a deep linear network with target
    zero in the excess widths, homogeneous, so its local learning coefficient is the global
    ``slt.rlct.deep_linear_network(widths, rank).lam`` (Aoyagi 2024). A generic true parameter
    (e.g. only the first layer rank-deficient, the others invertible) is a smooth point of the
    true set where ``W ↦ W_L ⋯ W_1`` is a submersion: its local coefficient is the larger
    d_0 d_L / 2.

    Unit singular values keep the teacher visible in the data: λ is an asymptotic quantity, and
    it describes n samples only when n σ_min² ≫ 1 for every singular value of the product.
    """
    widths = [int(w) for w in widths]
    if not 0 <= rank <= min(widths):
        raise ValueError(f"rank={rank}; must be in [0, min(widths)={min(widths)}]")
    model = deep_linear_network(widths, dtype=dtype)
    g = generator(seed)
    bases = [torch.linalg.qr(torch.randn(h, rank, generator=g, dtype=dtype))[0] for h in widths]
    with torch.no_grad():
        for layer, q_in, q_out in zip(model, bases[:-1], bases[1:]):
            rotation = torch.linalg.qr(torch.randn(rank, rank, generator=g, dtype=dtype))[0]
            layer.weight.copy_(q_out @ rotation @ q_in.T)
    return model


def gaussian_nll(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample negative log-likelihood of unit-variance Gaussian noise, up to a constant:
    mean over samples of ½‖f(x) − y‖². With this loss nβ E[L] − nβ L(w*) estimates λ."""
    return 0.5 * (outputs - targets).pow(2).reshape(outputs.shape[0], -1).sum(dim=1).mean()


class _FormulaModule(nn.Module):
    """``f(w, x)`` of a symbolic regression model as a torch module (parameters: one vector)."""

    def __init__(self, f, params, inputs, w: torch.Tensor):
        super().__init__()
        import sympy as sp

        self.w = nn.Parameter(w)
        self._f = sp.lambdify(list(params) + list(inputs), f, modules="torch")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._f(*self.w.unbind(), *x.unbind(dim=1)) + torch.zeros_like(x[:, 0])  # constants broadcast


def regression_module(model, w: Sequence[float] | None = None):
    """A :class:`slt.models.Regression` toy model as ``(module, (X, y), loss_fn)`` for the bridge.

    The module holds the parameter vector (default ``model.point``) and computes ``f(w, x)``;
    ``(X, y)`` are the model's data columns as float64 tensors; ``loss_fn`` is the model's own
    L_n, ``½σ⁻² mean (y − f)² + ½ log(2πσ²)``, so the bridge and the numba path sample the
    same posterior.
    """
    import math

    data = torch.as_tensor(model.data, dtype=torch.float64)
    w0 = torch.as_tensor(np.asarray(model.point if w is None else w, dtype=float), dtype=torch.float64)
    module = _FormulaModule(model.f, model.params, model.input_symbols, w0.clone())
    inv, const = 1.0 / model.noise**2, 0.5 * math.log(2.0 * math.pi * model.noise**2)

    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return 0.5 * inv * (targets - outputs).pow(2).mean() + const

    return module, (data[:, :-1], data[:, -1]), loss_fn


def train(
    model: nn.Module,
    data,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    lr: float,
    epochs: int,
    optimizer: str = "adam",
    batch_size: int | None = None,
    seed: int | np.random.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` in place by minibatch gradient descent.

    Parameters
    ----------
    data : (X, y) tensors, Dataset or DataLoader
    loss_fn : callable ``loss_fn(outputs, targets) -> scalar`` (mean loss)
    lr, epochs : learning rate and number of passes over the data
    optimizer : ``"adam"`` or ``"sgd"``
    batch_size : minibatch size; None = full batch
    seed : shuffling seed

    Returns
    -------
    list of float
        Mean training loss of every epoch (average of its minibatch losses).
    """
    if epochs < 0:
        raise ValueError(f"epochs={epochs}; must be >= 0")
    if lr <= 0:
        raise ValueError(f"lr={lr}; must be > 0")
    X, y = as_tensors(data)
    n = X.shape[0]
    if n == 0:
        raise ValueError("data is empty")
    bs = n if batch_size is None else int(batch_size)
    if not 1 <= bs:
        raise ValueError(f"batch_size={batch_size}; must be >= 1")
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr)
    else:
        raise ValueError(f"optimizer={optimizer!r}; expected 'adam' or 'sgd'")
    device = next(model.parameters()).device
    X, y = X.to(device), y.to(device)
    g = generator(seed)
    history: list[float] = []
    from tqdm.auto import trange

    model.train()
    for _ in trange(epochs, disable=not progress, desc="train"):
        order = torch.randperm(n, generator=g).to(device) if bs < n else torch.arange(n, device=device)
        total = 0.0
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            if loss.ndim != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        history.append(total / n)
    model.eval()
    return history


def small_cnn(
    in_channels: int = 3,
    num_classes: int = 10,
    *,
    width: int = 16,
    image_size: int = 32,
    seed: int | np.random.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """Two conv–ReLU–maxpool blocks and a linear head (no batch norm, so it vmaps over chains)."""
    if image_size % 4:
        raise ValueError(f"image_size={image_size}; must be divisible by 4")
    model = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * (image_size // 4) ** 2, num_classes),
    )
    return _init_(model.to(dtype), seed)


def train_with_checkpoints(
    model: nn.Module,
    data,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    lr: float,
    epochs: int,
    checkpoint_epochs: Sequence[int],
    out=None,
    seed: int | np.random.Generator | None = None,
    **train_kwargs,
) -> tuple[dict[int, dict[str, torch.Tensor]], list[float]]:
    """Train with :func:`train`, keeping a state dict after each epoch in ``checkpoint_epochs``
    (0 = before training); with ``out`` each is also saved as ``out/epoch_XXXX.pt``.

    Returns the checkpoints (epoch → state dict) and the loss history of every epoch. The
    optimizer restarts at each checkpoint (its state is not part of the checkpoint).
    """
    from pathlib import Path

    wanted = sorted({int(e) for e in checkpoint_epochs})
    if wanted and (wanted[0] < 0 or wanted[-1] > epochs):
        raise ValueError(f"checkpoint_epochs={list(checkpoint_epochs)}; must lie in [0, epochs={epochs}]")
    gen = np.random.default_rng(seed_to_int(seed))
    ckpts: dict[int, dict[str, torch.Tensor]] = {}
    done = 0
    history: list[float] = []
    for epoch in wanted:
        if epoch > done:
            history += train(model, data, loss_fn=loss_fn, lr=lr, epochs=epoch - done, seed=gen, **train_kwargs)
            done = epoch
        ckpts[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            torch.save(ckpts[epoch], Path(out) / f"epoch_{epoch:04d}.pt")
    return ckpts, history
