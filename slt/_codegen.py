"""Generate, cache and import numba modules specialised to one loss function.

Numba cannot cache a kernel that receives another jitted function as an argument, so each
potential (or toy model) gets a small generated module: its ``energy``/``grad`` functions
followed by the source of :mod:`slt.sampling.kernels`.  The module is written once to the
cache directory (``$SLT_CACHE_DIR``, default ``~/.cache/slt``) under a name derived from a
hash of its source, so numba's on-disk cache (``cache=True``) is reused across processes.

A module is also specialised to one sampler: ``KIND`` (see :data:`slt.sampling.kernels.KIND`) is
a compile-time constant, so ``run_chunk`` compiles the step loop of that sampler alone (LLVM
drops the others' branches: 9–12 ns instead of 17 per Langevin walker-step on x²y², runs
interleaved on one machine).  The loss model's ``kernels`` module has ``KIND = -1`` (no
sampler) and serves the energy and the diagnostics;
:func:`for_sampler` gives the module of the same loss for one sampler.

Contract for the generated loss functions (``data`` is a 2-D float64 array, ``idx`` an int64
array of row indices of which the first ``nidx`` are used; a pure potential ignores both):

``energy(x, data, idx, nidx) -> float``, ``grad(x, data, idx, nidx, g) -> None`` and
``hdiag(x, data, idx, nidx, h) -> None`` (h <- the diagonal of the Hessian, for MALA's step
metric); the module also gets ``DIM``, the length of ``x``, as a constant the kernels loop over.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numba

_MARKER = "# @slt-loss-functions"
_LOADED: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """Directory that holds generated modules (created on demand)."""
    root = os.environ.get("SLT_CACHE_DIR") or os.path.join(Path.home(), ".cache", "slt")
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def kernel_template() -> str:
    """Source of the sampler kernels, with the placeholder loss import removed."""
    from slt.sampling import kernels

    src = inspect.getsource(kernels)
    lines = [ln for ln in src.splitlines() if not ln.rstrip().endswith(_MARKER)]
    return "\n".join(lines) + "\n"


def load_module(loss_source: str, *, dim: int, tag: str = "loss", kind: int = -1) -> ModuleType:
    """Import (generating if needed) the module ``loss_source + DIM + KIND + kernel template``.

    Parameters
    ----------
    loss_source : str
        Python source defining ``energy`` and ``grad`` per the contract above (imports
        included).
    dim : int
        Length of ``x``; compiled in as the constant ``DIM``.
    tag : str
        Readable prefix of the module name.
    kind : int
        Sampler compiled into ``run_chunk`` (``slt.sampling.kernels.LANGEVIN`` ...); -1 (none)
        for the loss model's own module.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    source = loss_source.rstrip() + f"\n\n\nDIM = {dim}\nKIND = {int(kind)}\n" + kernel_template()
    digest = hashlib.sha256((source + numba.__version__).encode()).hexdigest()[:20]
    name = f"_slt_{tag}{'' if kind < 0 else kind}_{digest}"
    if name in _LOADED:
        return _LOADED[name]
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(source)
        os.replace(tmp, path)  # atomic: concurrent processes never see half a file
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.__slt_spec__ = (loss_source, dim, tag)
    _LOADED[name] = module
    return module


def for_sampler(module: ModuleType, kind: int) -> ModuleType:
    """The module of ``module``'s loss compiled for sampler ``kind`` (see :func:`load_module`)."""
    if module.KIND == kind:
        return module
    loss_source, dim, tag = module.__slt_spec__
    return load_module(loss_source, dim=dim, tag=tag, kind=kind)
