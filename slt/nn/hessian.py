"""Hessian spectra of torch networks: exact (small models), Lanczos (large), spectral density.

The Hessian is that of the mean loss ``L(w) = loss_fn(model(X; w), y)`` over the whole
dataset at the model's current parameters, flattened in ``model.parameters()`` order and
always computed in float64 (on a float64 copy of the model), so the counts of near-zero
eigenvalues are not made by float32 rounding.

- :func:`hessian`, :func:`spectrum`: exact ``torch.func.hessian`` and ``numpy.linalg.eigh``
  (O(d²) memory, O(d³) time: fine up to a few thousand parameters).
- :func:`hvp_operator`, :func:`extreme_eigenvalues`: Hessian-vector products
  (forward-over-reverse, Pearlmutter 1994) wrapped as a scipy ``LinearOperator`` and the top
  or bottom of the spectrum from ``scipy.sparse.linalg.eigsh`` (implicitly restarted
  Lanczos; the bottom through the shift ``σI − H``).
- :func:`spectral_density`: stochastic Lanczos quadrature (Lin, Saad & Yang 2016; Ubaru,
  Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
- :func:`near_zero_count`, :func:`count_curve`: the near-zero rule and its sensitivity curve.
- :func:`log_basin_volume`, :func:`llc_bounds`: the quadratic basin volume and the bounds
  ``rank(H)/2 ≤ λ ≤ d/2`` on the learning coefficient (Watanabe 2009).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn
from torch.func import grad, jvp

from slt.nn.data import as_tensors
from slt.nn.flat import FlatNetwork

__all__ = [
    "DEFAULT_RTOL",
    "FlatLoss",
    "HessianSpectrum",
    "SpectralDensity",
    "count_curve",
    "extreme_eigenvalues",
    "hessian",
    "hvp_operator",
    "llc_bounds",
    "log_basin_volume",
    "near_zero_count",
    "near_zero_threshold",
    "spectral_density",
    "spectrum",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Default relative threshold of :func:`near_zero_count`: an eigenvalue is "zero" when it is
#: below 1e-4 of the largest curvature (on trained XOR networks the sensitivity curve has a
#: plateau from ~1e-6 to ~1e-2 relative; see :func:`count_curve`).
DEFAULT_RTOL = 1e-4
_EPS = float(np.finfo(np.float64).eps)


class FlatLoss(FlatNetwork):
    """The full-batch mean loss of a float64 copy of ``model`` as a function of one flat
    parameter vector ``w`` (``model.parameters()`` order; frozen parameters and buffers fixed).

    Attributes
    ----------
    w0 : torch.Tensor, shape (d,)
        The model's current parameters, float64.
    """

    def __init__(self, model: nn.Module, data, loss_fn: LossFn):
        super().__init__(model, loss_fn, torch.device("cpu"), dtype=torch.float64)
        X, y = as_tensors(data)
        if X.shape[0] == 0:
            raise ValueError("data is empty")
        self.X = X.to(torch.float64) if X.is_floating_point() else X
        self.y = y.to(torch.float64) if y.is_floating_point() else y

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        out = self.loss(w, self.X, self.y)
        if out.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(out.shape)}")
        return out

    def value(self, w: torch.Tensor | None = None) -> float:
        with torch.no_grad():
            return float(self(self.w0 if w is None else w))

    def values(self, W, chunk: int = 4096) -> np.ndarray:
        """Loss at every row of ``W`` (k, d), vectorised with ``torch.func.vmap``."""
        W = torch.as_tensor(np.asarray(W, dtype=np.float64))
        if W.ndim != 2 or W.shape[1] != self.dim:
            raise ValueError(f"W has shape {tuple(W.shape)}; expected (k, {self.dim})")
        batched = torch.func.vmap(self)
        with torch.no_grad():
            return np.concatenate([batched(W[i : i + chunk]).numpy() for i in range(0, W.shape[0], chunk)])

    def gradient(self, w: torch.Tensor) -> torch.Tensor:
        return grad(self)(w)

    def hessian(self, w: torch.Tensor | None = None) -> np.ndarray:
        """Exact (d, d) Hessian at ``w`` (default ``w0``), symmetrised."""
        H = torch.func.hessian(self)(self.w0 if w is None else w).detach().numpy()
        return 0.5 * (H + H.T)

    def hvp(self, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """H(w) v by forward-over-reverse differentiation."""
        return jvp(grad(self), (w,), (v,))[1]


def hessian(model: nn.Module, data, loss_fn: LossFn) -> np.ndarray:
    """Hessian of the mean loss at the model's current parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated on a float64 copy; the model itself is not modified.
    data : (X, y) tensors, Dataset or DataLoader (the whole dataset is used)
    loss_fn : callable ``loss_fn(outputs, targets) -> scalar`` (a mean over samples)

    Returns
    -------
    numpy.ndarray, shape (d, d), float64
        ``∂²L/∂w_i∂w_j`` in ``model.parameters()`` order (symmetrised).

    Examples
    --------
    >>> H = hessian(xor_mlp(seed=0), xor_data(), torch.nn.functional.mse_loss)  # doctest: +SKIP
    >>> H.shape                                                                   # doctest: +SKIP
    (9, 9)
    """
    return FlatLoss(model, data, loss_fn).hessian()


def near_zero_threshold(eigenvalues, rtol: float | None = None, atol: float | None = None) -> float:
    """The threshold of :func:`near_zero_count`:
    ``max(rtol · ‖H‖, atol, d · ε · ‖H‖)`` with ``‖H‖ = max |λ_i|`` and ε the float64
    machine epsilon; ``rtol`` defaults to :data:`DEFAULT_RTOL`, ``atol`` to 0.

    ``d ε ‖H‖`` is the float64 noise floor: a backward-stable symmetric eigensolver returns
    eigenvalues within a small multiple of ``ε ‖H‖`` of those of the rounded matrix (Weyl's
    inequality; Golub & Van Loan 2013, §8.1), so nothing below it can be told apart from 0.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0:
        raise ValueError("eigenvalues is empty")
    if not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues contain non-finite values: {lam[~np.isfinite(lam)][:3]}")
    rtol = DEFAULT_RTOL if rtol is None else float(rtol)
    atol = 0.0 if atol is None else float(atol)
    if not rtol >= 0:
        raise ValueError(f"rtol={rtol}; must be >= 0")
    if not atol >= 0:
        raise ValueError(f"atol={atol}; must be >= 0")
    scale = float(np.max(np.abs(lam)))
    return max(rtol * scale, atol, lam.size * _EPS * scale)


def near_zero_count(eigenvalues, rtol: float | None = None, atol: float | None = None) -> int:
    """Number of eigenvalues with ``|λ_i| ≤ max(rtol · max|λ|, atol, d · ε · max|λ|)``.

    The rule (see :func:`near_zero_threshold`): an eigenvalue counts as zero when it is
    negligible against the largest curvature (``rtol``, default :data:`DEFAULT_RTOL`), below
    an absolute level (``atol``, default 0), or below the float64 noise floor of the
    eigensolver (``d ε ‖H‖``, always applied). Negative eigenvalues count by their modulus.
    At an exact minimum the count is ``d − rank(H)``, an upper bound on the dimension of the
    zero set there. Always report the rule with the count (or the whole :func:`count_curve`).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    return int(np.count_nonzero(np.abs(lam) <= near_zero_threshold(lam, rtol, atol)))


def count_curve(eigenvalues, rtols) -> np.ndarray:
    """Near-zero count against the relative threshold: ``near_zero_count(λ, rtol=r)`` for
    every ``r`` in ``rtols`` (the sensitivity curve that goes with any histogram of counts)."""
    return np.array([near_zero_count(eigenvalues, rtol=r) for r in np.asarray(rtols, dtype=np.float64)])


def log_basin_volume(
    eigenvalues, *, epsilon: float = 1.0, rtol: float | None = None, atol: float | None = None
) -> float:
    """Log volume of the quadratic basin ``{u : ½ Σ_i λ_i u_i² ≤ ε}`` in the span of the
    eigenvectors whose eigenvalues are above the near-zero threshold (r of them):

        log V = log(π^{r/2} / Γ(r/2 + 1)) + (r/2) log(2ε) − ½ Σ_{λ_i > τ} log λ_i,

    the volume of an r-dimensional ellipsoid with semi-axes ``sqrt(2ε/λ_i)``. The flat
    directions (``|λ| ≤ τ``) are left out (their extent is set by the zero set, not the
    curvature); eigenvalues below ``−τ`` (a saddle) are left out as well — check
    ``HessianSpectrum.num_negative``. With r = 0 the volume is 1 (log V = 0).
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon={epsilon}; must be > 0")
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    pos = lam[lam > near_zero_threshold(lam, rtol, atol)]
    r = pos.size
    return float(
        0.5 * r * math.log(math.pi) - math.lgamma(0.5 * r + 1) + 0.5 * r * math.log(2 * epsilon) - 0.5 * np.log(pos).sum()
    )


def llc_bounds(eigenvalues, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rank(H)/2, d/2)``: the bounds on the learning coefficient λ at a minimum
    (Watanabe 2009: λ = d/2 for a regular minimum and λ ≥ rank/2 since the quadratic part
    alone already gives rank/2), with rank = d − :func:`near_zero_count`."""
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    return 0.5 * (lam.size - near_zero_count(lam, rtol, atol)), 0.5 * lam.size


@dataclass(frozen=True)
class HessianSpectrum:
    """Full eigendecomposition of the Hessian at a point.

    Attributes
    ----------
    eigenvalues : (d,) ascending
    eigenvectors : (d, d), column i belongs to eigenvalue i
    loss : loss at the point
    rtol, atol : the near-zero rule used for the summary numbers
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    loss: float
    rtol: float
    atol: float

    @property
    def dim(self) -> int:
        return self.eigenvalues.size

    @property
    def threshold(self) -> float:
        return near_zero_threshold(self.eigenvalues, self.rtol, self.atol)

    @property
    def near_zero(self) -> int:
        return near_zero_count(self.eigenvalues, self.rtol, self.atol)

    @property
    def num_negative(self) -> int:
        """Eigenvalues below −threshold (the point is a saddle when > 0)."""
        return int(np.count_nonzero(self.eigenvalues < -self.threshold))

    @property
    def rank(self) -> int:
        return self.dim - self.near_zero

    def null_space(self) -> np.ndarray:
        """(d, k) orthonormal basis of the near-zero eigenspace."""
        return self.eigenvectors[:, np.abs(self.eigenvalues) <= self.threshold]

    def log_volume(self, epsilon: float = 1.0) -> float:
        return log_basin_volume(self.eigenvalues, epsilon=epsilon, rtol=self.rtol, atol=self.atol)

    def llc_bounds(self) -> tuple[float, float]:
        return llc_bounds(self.eigenvalues, self.rtol, self.atol)


def spectrum(
    model: nn.Module, data, loss_fn: LossFn, *, rtol: float | None = None, atol: float | None = None
) -> HessianSpectrum:
    """Exact Hessian (:func:`hessian`) and its symmetric eigendecomposition (``numpy.linalg.eigh``)."""
    f = FlatLoss(model, data, loss_fn)
    return spectrum_at(f, f.w0, rtol=rtol, atol=atol)


def spectrum_at(f: FlatLoss, w: torch.Tensor, *, rtol: float | None, atol: float | None) -> HessianSpectrum:
    """The Hessian spectrum of ``f`` at the flat point ``w`` (see :func:`spectrum`)."""
    lam, vec = np.linalg.eigh(f.hessian(w))
    near_zero_threshold(lam, rtol, atol)  # validates rtol and atol
    return HessianSpectrum(
        lam, vec, f.value(w), DEFAULT_RTOL if rtol is None else float(rtol), 0.0 if atol is None else float(atol)
    )


def hvp_operator(model: nn.Module, data, loss_fn: LossFn) -> LinearOperator:
    """The Hessian at the current parameters as a symmetric scipy ``LinearOperator``
    (float64, d × d) applying Hessian-vector products; memory O(d)."""
    f = FlatLoss(model, data, loss_fn)
    w = f.w0
    hv = torch.func.vmap(lambda v: f.hvp(w, v))

    def matvec(v):
        return f.hvp(w, torch.as_tensor(np.asarray(v, dtype=np.float64).ravel())).detach().numpy()

    def matmat(V):
        return hv(torch.as_tensor(np.asarray(V, dtype=np.float64).T.copy())).detach().numpy().T

    return LinearOperator((f.dim, f.dim), matvec=matvec, rmatvec=matvec, matmat=matmat, dtype=np.float64)


def _check_operator(op) -> LinearOperator:
    if isinstance(op, np.ndarray):
        if op.ndim != 2 or op.shape[0] != op.shape[1]:
            raise ValueError(f"matrix must be square, got shape {op.shape}")
        from scipy.sparse.linalg import aslinearoperator

        return aslinearoperator(op)
    if not isinstance(op, LinearOperator) or op.shape[0] != op.shape[1]:
        raise ValueError(f"expected a square LinearOperator or ndarray, got {type(op).__name__}")
    return op


def extreme_eigenvalues(
    op, k: int, *, which: str = "top", tol: float = 1e-10, seed: int | np.random.Generator | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest (``which="top"``) or smallest (``"bottom"``) eigenpairs of a
    symmetric operator (an :func:`hvp_operator` or a matrix) by implicitly restarted Lanczos.

    The bottom is computed as the top of ``σI − H`` with ``σ`` the largest eigenvalue, which
    converges far better than asking Lanczos for the smallest algebraic eigenvalues of H.

    Returns
    -------
    eigenvalues : (k,) ascending
    eigenvectors : (d, k)
    """
    op = _check_operator(op)
    d = op.shape[0]
    if not 1 <= k < d:
        raise ValueError(f"k={k}; must be in [1, d-1] with d={d} (use spectrum() for all of them)")
    if which not in ("top", "bottom"):
        raise ValueError(f"which={which!r}; expected 'top' or 'bottom'")
    v0 = np.random.default_rng(seed).standard_normal(d)
    if which == "top":
        lam, vec = eigsh(op, k=k, which="LA", tol=tol, v0=v0)
    else:
        sigma = float(eigsh(op, k=1, which="LA", tol=tol, v0=v0)[0][0])
        shifted = LinearOperator((d, d), matvec=lambda v: sigma * np.ravel(v) - op.matvec(v), dtype=np.float64)
        mu, vec = eigsh(shifted, k=k, which="LA", tol=tol, v0=v0)
        lam = sigma - mu
    order = np.argsort(lam)
    return lam[order], vec[:, order]


@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature: for every probe a Gauss quadrature rule
    (``nodes[p]``, ``weights[p]``, weights summing to 1) of the probe's spectral measure;
    their average estimates the spectral density ``(1/d) Σ_i δ(x − λ_i)``."""

    nodes: np.ndarray  # (num_probes, m)
    weights: np.ndarray  # (num_probes, m)

    def density(self, grid, sigma: float) -> np.ndarray:
        """Gaussian-smoothed density on ``grid`` (bandwidth ``sigma``)."""
        if not sigma > 0:
            raise ValueError(f"sigma={sigma}; must be > 0")
        x = np.asarray(grid, dtype=np.float64)[:, None, None]
        g = np.exp(-0.5 * ((x - self.nodes) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (g * self.weights).sum(axis=2).mean(axis=1)

    def expectation(self, fn: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
        """Estimate of ``tr f(H) / d`` and its standard error over probes."""
        per = (self.weights * fn(self.nodes)).sum(axis=1)
        se = per.std(ddof=1) / math.sqrt(per.size) if per.size > 1 else float("nan")
        return float(per.mean()), float(se)


def spectral_density(
    op, *, num_probes: int = 10, lanczos_steps: int = 80, seed: int | np.random.Generator | None = None
) -> SpectralDensity:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature.

    For each Rademacher probe ``v`` (normalised), ``m`` Lanczos steps with full
    reorthogonalisation give a tridiagonal ``T = Q Θ Qᵀ``; the nodes are ``Θ`` and the weights
    ``Q[0, :]²``, the m-point Gauss rule of ``vᵀ f(H) v``, exact for polynomials of degree
    ``< 2m`` (Golub & Meurant 2010). Averaging over probes estimates ``tr f(H)/d``
    (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
    """
    op = _check_operator(op)
    d = op.shape[0]
    if num_probes < 1:
        raise ValueError(f"num_probes={num_probes}; must be >= 1")
    if lanczos_steps < 1:
        raise ValueError(f"lanczos_steps={lanczos_steps}; must be >= 1")
    m = min(lanczos_steps, d)
    rng = np.random.default_rng(seed)
    nodes, weights = np.zeros((num_probes, m)), np.zeros((num_probes, m))
    for p in range(num_probes):
        v = rng.choice([-1.0, 1.0], size=d) / math.sqrt(d)
        alpha, beta = _lanczos(op, v, m)
        theta, Q = np.linalg.eigh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))
        k = theta.size
        nodes[p, :k], weights[p, :k] = theta, Q[0] ** 2
        nodes[p, k:] = theta[-1]  # an invariant subspace was found early: zero-weight padding
    return SpectralDensity(nodes, weights)


def _lanczos(op: LinearOperator, v: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalisation: diagonal and off-diagonal of T (stops early on
    an invariant subspace)."""
    d = v.size
    V = np.zeros((m, d))
    alpha, beta = [], []
    V[0] = v / np.linalg.norm(v)
    for j in range(m):
        w = np.asarray(op.matvec(V[j])).ravel()
        alpha.append(float(V[j] @ w))
        w -= V[: j + 1].T @ (V[: j + 1] @ w)
        w -= V[: j + 1].T @ (V[: j + 1] @ w)
        b = float(np.linalg.norm(w))
        if j == m - 1 or b <= 1e-12 * max(1.0, abs(alpha[-1])):
            break
        beta.append(b)
        V[j + 1] = w / b
    return np.array(alpha), np.array(beta)
