"""Datasets for the torch bridge: XOR, deep-linear-network teachers, CIFAR-10 pickles, digits."""

from __future__ import annotations

import numpy as np
import torch

from slt.sampling.rng import seed_to_int

__all__ = ["as_tensors", "cifar10_dir", "dln_data", "dln_population_rows", "least_squares_rows", "load_cifar10", "load_digits", "write_fake_cifar10", "xor_data"]



def generator(seed: int | np.random.Generator | None, device: torch.device | str | None = None) -> torch.Generator:
    """A torch ``Generator`` seeded from an slt seed (int, numpy Generator or None)."""
    g = torch.Generator(device=device or "cpu")
    g.manual_seed(seed_to_int(seed))
    return g

def xor_data(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The four-point XOR dataset.

    Returns
    -------
    X : torch.Tensor, shape (4, 2)
        The points of {0, 1}².
    y : torch.Tensor, shape (4, 1)
        ``x1 XOR x2``.
    """
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    return X, y


def as_tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` tensors from a tuple of tensors, a ``Dataset`` or a ``DataLoader``.

    A ``DataLoader`` contributes its dataset (the bridge draws its own minibatches).
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        X, y = data
    else:
        if isinstance(data, torch.utils.data.DataLoader):
            data = data.dataset
        if isinstance(data, torch.utils.data.TensorDataset):
            X, y = data.tensors[0], data.tensors[1]
        elif isinstance(data, torch.utils.data.Dataset):
            items = [data[i] for i in range(len(data))]
            if not items:
                raise ValueError("data is empty (a Dataset of length 0)")
            X = torch.stack([torch.as_tensor(a) for a, _ in items])
            y = torch.stack([torch.as_tensor(b) for _, b in items])
        else:
            raise TypeError(
                f"data must be a tuple (X, y) of tensors, a Dataset or a DataLoader, not {type(data).__name__}"
            )
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    return X, y


def dln_data(
    teacher: torch.nn.Module,
    n: int,
    *,
    noise: float = 1.0,
    seed: int | np.random.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``x ~ N(0, I)``, ``y = teacher(x) + noise·N(0, I)`` (in the teacher's dtype).

    With ``noise = 1`` and :func:`slt.nn.models.gaussian_nll` the loss is the per-sample
    negative log-likelihood, as the LLC estimator assumes.
    """
    if n < 1:
        raise ValueError(f"n={n}; must be >= 1")
    first = next(teacher.parameters())
    g = generator(seed)
    X = torch.randn(n, first.shape[1], generator=g, dtype=first.dtype)
    with torch.no_grad():
        f = teacher(X)
    return X, f + noise * torch.randn(f.shape, generator=g, dtype=f.dtype)


def least_squares_rows(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``d + k`` rows with the same mean squared residual as the ``n`` rows of ``(X, y)`` for
    every linear map: mean_i ‖A x_i − y_i‖² over the new rows equals it over the old, for all A.

    With the thin QR factorisation ``[X y] = Q R`` (R of size (d+k) × (d+k)) and
    ``R = [R_X R_y]``, ‖y − X Aᵀ‖²_F = ‖R_y − R_X Aᵀ‖²_F because Q has orthonormal columns; the
    rows are scaled by √((d+k)/n) so the *mean* is kept (Golub & Van Loan, *Matrix
    Computations*, §5.3). A bias-free deep linear network is such a map, A = W_L ⋯ W_1, so with
    :func:`slt.nn.models.gaussian_nll` its full-batch loss L_n(w) and gradient cost d + k rows
    instead of n: exact full-batch (MALA) references at large n. Give ``nbeta`` explicitly when
    sampling on them (the default n/log n would use the new row count), and do not use them for
    minibatch runs (the minibatch noise of the n rows is not kept).
    """
    n, d = X.shape[0], X.shape[1]
    Y = y.reshape(n, -1)
    k = Y.shape[1]
    if n < d + k:
        raise ValueError(f"{n} rows: nothing to compress below d + k = {d + k}")
    _, R = torch.linalg.qr(torch.cat([X.reshape(n, d), Y], dim=1).to(torch.promote_types(X.dtype, Y.dtype)))
    R = R * (((d + k) / n) ** 0.5)
    return R[:, :d].to(X.dtype), R[:, d:].reshape(d + k, *y.shape[1:]).to(y.dtype)



def dln_population_rows(teacher: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``d₀`` noise-free rows whose mean loss is the population loss of :func:`dln_data` for every
    linear map, up to the noise constant: with ``x_i = √d₀ e_i`` and ``y_i = teacher(x_i)``,
    mean_i ½‖A x_i − y_i‖² = ½‖A − A₀‖²_F = E_x ½‖(A − A₀)x‖² for x ~ N(0, I).

    Sampling on them (with an explicit ``nbeta``) gives the LLC estimator's n → ∞ value at that
    nβ: the part of its gap to λ set by the geometry alone, without the data's fluctuation.
    """
    first = next(teacher.parameters())
    d = first.shape[1]
    X = (d ** 0.5) * torch.eye(d, dtype=first.dtype, device=first.device)
    with torch.no_grad():
        return X, teacher(X)

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = ("test_batch",)


def cifar10_dir(data_dir: str | None = None) -> "Path":
    """The CIFAR-10 directory: ``data_dir``, else ``$SLT_DATA`` (also accepting its
    ``cifar-10-batches-py`` subfolder). Never downloads."""
    import os
    from pathlib import Path

    root = data_dir or os.environ.get("SLT_DATA")
    if not root:
        raise FileNotFoundError("no CIFAR-10 directory: pass --data-dir / data_dir or set SLT_DATA")
    root = Path(root)
    for cand in (root, root / "cifar-10-batches-py"):
        if (cand / CIFAR10_TRAIN[0]).exists() or (cand / CIFAR10_TEST[0]).exists():
            return cand
    raise FileNotFoundError(f"{root} holds no CIFAR-10 python batches (data_batch_1 ... test_batch)")


def load_cifar10(
    data_dir: str | None = None,
    *,
    train: bool = True,
    limit: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the official python-pickle batches (``data_batch_1..5``, ``test_batch``,
    each a dict with ``b"data"`` (N, 3072) uint8 and ``b"labels"``) in a local directory.

    Returns ``X`` (N, 3, 32, 32) scaled to [0, 1] and standardised per channel, ``y`` (N,)
    int64 labels; ``limit`` keeps the first rows.
    """
    import pickle

    folder = cifar10_dir(data_dir)
    xs, ys = [], []
    for name in CIFAR10_TRAIN if train else CIFAR10_TEST:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"missing CIFAR-10 batch {path}")
        with path.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
        if limit is not None and sum(len(a) for a in ys) >= limit:
            break
    X = torch.from_numpy(np.concatenate(xs)[:limit]).to(dtype) / 255.0
    y = torch.from_numpy(np.concatenate(ys)[:limit])
    return _standardise(X), y


def write_fake_cifar10(folder, *, per_batch: int = 20, seed: int = 0) -> None:
    """Write random batches in the official CIFAR-10 python format (for tests and demos)."""
    import pickle
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in CIFAR10_TRAIN + CIFAR10_TEST:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, size=per_batch).tolist(),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh)


def load_digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits (1797 images, shipped with scikit-learn) as ``X`` (N, 1, 8, 8)
    standardised and ``y`` (N,) int64: a small real image set for quick runs."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    X = torch.tensor(d.images, dtype=dtype).unsqueeze(1) / 16.0
    return _standardise(X), torch.tensor(d.target, dtype=torch.int64)


def _standardise(X: torch.Tensor) -> torch.Tensor:
    mean = X.mean(dim=(0, 2, 3), keepdim=True)
    std = X.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return (X - mean) / std
