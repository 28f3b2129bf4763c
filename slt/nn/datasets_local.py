"""Local image data for the skeleton experiments: MNIST idx files and out-of-distribution sets.

Nothing here downloads. MNIST is read from the idx files a user already has (LeCun, Cortes &
Burges, "THE MNIST DATABASE of handwritten digits": a big-endian header ``0 0 <dtype code>
<ndim>``, ``ndim`` uint32 sizes, then the data; ``.gz`` accepted); :func:`write_fake_mnist`
writes tiny files in the same format for tests. :func:`ood_digits` makes an
out-of-distribution set from scikit-learn's 8×8 digits (:func:`slt.nn.data.load_digits`).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "MNIST_FILES",
    "OOD_KINDS",
    "load_mnist",
    "mnist_dir",
    "ood_digits",
    "read_idx",
    "write_fake_mnist",
    "write_idx",
]

#: idx type code -> numpy big-endian dtype (the format's table).
_IDX_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: (images, labels) file names of the official MNIST split.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
OOD_KINDS = ("shuffled", "gaussian", "transposed")


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (optionally gzip-compressed) into a numpy array of its dtype and shape.

    Format: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), a byte ``ndim``, ``ndim`` big-endian uint32 sizes, the data in
    C order.

    Examples
    --------
    >>> images = read_idx("t10k-images-idx3-ubyte")      # doctest: +SKIP
    >>> images.shape                                     # doctest: +SKIP
    (10000, 28, 28)
    """
    path = Path(path)
    with _open(path) as fh:
        head = fh.read(4)
        if len(head) != 4 or head[0] != 0 or head[1] != 0:
            raise ValueError(f"{path} is not an idx file (magic bytes {head!r})")
        code, ndim = head[2], head[3]
        if code not in _IDX_TYPES:
            raise ValueError(f"{path}: idx type code {code:#x}; expected one of {[hex(c) for c in _IDX_TYPES]}")
        shape = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
        dtype = np.dtype(_IDX_TYPES[code])
        count = int(np.prod(shape)) if ndim else 1
        raw = fh.read(count * dtype.itemsize)
    if len(raw) != count * dtype.itemsize:
        raise ValueError(f"{path}: {len(raw)} data bytes; the header {shape} needs {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an idx file (gzip when ``path`` ends in ``.gz``); the inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    if array.dtype not in codes:
        raise ValueError(f"array dtype {array.dtype}; idx holds {sorted(str(d) for d in codes)}")
    code = codes[array.dtype]
    body = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body += array.astype(_IDX_TYPES[code]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open(path, "wb") if path.suffix == ".gz" else path.open("wb")) as fh:
        fh.write(body)
    return path


def mnist_dir(data_dir: str | Path | None = None) -> Path:
    """The folder holding the MNIST idx files: ``data_dir``, else ``$SLT_DATA`` (also its
    ``MNIST/raw``, ``mnist`` and ``MNIST`` subfolders). Never downloads."""
    root = data_dir or os.environ.get("SLT_DATA")
    if not root:
        raise FileNotFoundError("no MNIST directory: pass data_dir / --mnist-dir or set SLT_DATA")
    root = Path(root)
    for cand in (root, root / "MNIST" / "raw", root / "mnist", root / "MNIST"):
        for name in MNIST_FILES["test"][0], MNIST_FILES["train"][0]:
            if (cand / name).exists() or (cand / f"{name}.gz").exists():
                return cand
    raise FileNotFoundError(f"{root} holds no MNIST idx files ({MNIST_FILES['test'][0]}[.gz] ...)")


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    train: bool = False,
    limit: int | None = None,
    size: int | None = None,
    channels: int = 1,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from local idx files as ``X`` (N, channels, s, s) in [0, 1] standardised over the
    set, and ``y`` (N,) int64.

    ``size`` zero-pads (or centre-crops) the 28×28 images to ``size``×``size`` and ``channels``
    repeats the grey channel: ``size=32, channels=3`` feeds MNIST to a CIFAR-10 network, the
    out-of-distribution set of the seed post "Finding Skeletons on Rashomon Ridge".

    Examples
    --------
    >>> X, y = load_mnist("~/data/mnist", size=32, channels=3, limit=1000)   # doctest: +SKIP
    """
    if channels < 1:
        raise ValueError(f"channels={channels}; must be >= 1")
    if size is not None and size < 1:
        raise ValueError(f"size={size}; must be >= 1")
    folder = mnist_dir(data_dir)
    names = MNIST_FILES["train" if train else "test"]
    found = []
    for name in names:
        path = folder / name
        found.append(path if path.exists() else folder / f"{name}.gz")
        if not found[-1].exists():
            raise FileNotFoundError(f"missing MNIST file {path}[.gz]")
    images, labels = read_idx(found[0])[:limit], read_idx(found[1])[:limit]
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{found[0]} has {images.shape[0]} images but {found[1]} {labels.shape[0]} labels")
    X = torch.from_numpy(images.astype(np.float32)).to(dtype).unsqueeze(1) / 255.0
    if size is not None and size != X.shape[-1]:
        X = _pad_or_crop(X, size)
    X = (X - X.mean()) / X.std().clamp_min(1e-8)
    return X.repeat(1, channels, 1, 1), torch.from_numpy(labels.astype(np.int64))


def _pad_or_crop(X: torch.Tensor, size: int) -> torch.Tensor:
    diff = size - X.shape[-1]
    if diff >= 0:
        lo = diff // 2
        return torch.nn.functional.pad(X, (lo, diff - lo, lo, diff - lo))
    lo = (-diff) // 2
    return X[..., lo : lo + size, lo : lo + size]


def write_fake_mnist(folder: str | Path, *, n: int = 20, seed: int = 0, gz: bool = False) -> Path:
    """Random 28×28 uint8 images and labels in the four official MNIST idx files (tests, demos)."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for split in ("train", "test"):
        img, lab = MNIST_FILES[split]
        write_idx(folder / f"{img}{suffix}", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{lab}{suffix}", rng.integers(0, 10, size=n, dtype=np.uint8))
    return folder


def ood_digits(
    X: torch.Tensor, *, kind: str = "shuffled", seed: int | np.random.Generator | None = 0
) -> torch.Tensor:
    """An out-of-distribution set made from digit images ``X`` (N, ...), same shape and dtype.

    - ``"shuffled"`` (default): every image's pixels permuted by its own random permutation.
      Each input keeps the intensity histogram of a real digit (so the network sees inputs of
      the usual scale and sparsity, where its outputs are not dominated by extrapolation) but
      loses all spatial structure, so nothing in training constrained the output there: the
      role MNIST plays for a CIFAR-10 network in the seed post.
    - ``"gaussian"``: N(μ, Σ) with the per-pixel mean and covariance of ``X`` ("noise with
      digit statistics": first and second moments kept, digit shapes gone).
    - ``"transposed"``: every image transposed (digits mirrored about the diagonal): nearer to
      the training distribution, a milder probe.
    """
    if kind not in OOD_KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {OOD_KINDS}")
    rng = np.random.default_rng(seed)
    flat = X.reshape(X.shape[0], -1)
    if kind == "shuffled":
        perms = torch.from_numpy(np.argsort(rng.random(flat.shape), axis=1))
        return torch.gather(flat, 1, perms).reshape(X.shape)
    if kind == "transposed":
        if X.shape[-1] != X.shape[-2]:
            raise ValueError(f"kind='transposed' needs square images; got shape {tuple(X.shape)}")
        return X.transpose(-1, -2).contiguous()
    A = flat.detach().double().numpy()
    Z = rng.multivariate_normal(A.mean(axis=0), np.cov(A, rowvar=False), size=A.shape[0], method="eigh")
    return torch.from_numpy(Z).to(X.dtype).reshape(X.shape)
