"""Loss-landscape geometry around a minimum: Rashomon-set paths, 2-D slices, t-SNE.

- :func:`rashomon_path`: walk from one minimum towards another inside the zero set (the
  Rashomon set), stepping in the near-zero eigenspace of the Hessian and correcting back to
  the minimum loss by Newton steps on the curved directions.
- :func:`low_loss_path`: the path of lowest maximal loss between two points (the string method
  of E, Ren & Vanden-Eijnden, as AutoNEB in Draxler et al. 2018): its highest loss is the lowest
  level at which the two lie in one connected component of the Rashomon set, found with
  gradients alone (no Hessian), and its barrier sits beside the straight line's.
- :func:`filter_normalized_direction`, :func:`loss_slice`: the loss on a 2-D plane through
  the minimum, along random filter-normalised directions (Li, Xu, Taylor, Studer &
  Goldstein 2018) or along the two lowest-eigenvalue directions of the Hessian.
- :func:`perturbation_embedding`: losses at random perturbations of a minimum and a t-SNE
  (van der Maaten & Hinton 2008, scikit-learn) of the perturbed parameters.

Every function works on the float64 flat-parameter view :class:`slt.nn.hessian.FlatLoss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from slt.nn.hessian import FlatLoss, LossFn, spectrum_at

__all__ = [
    "LossPath",
    "LossSlice",
    "PerturbationEmbedding",
    "RashomonPath",
    "filter_normalized_direction",
    "flatten_parameters",
    "loss_slice",
    "low_loss_path",
    "perturbation_embedding",
    "rashomon_path",
]


def flatten_parameters(model: nn.Module) -> np.ndarray:
    """Trainable parameters of ``model`` as one float64 vector (``model.parameters()`` order)."""
    return np.concatenate(
        [p.detach().to(torch.float64).reshape(-1).cpu().numpy() for p in model.parameters() if p.requires_grad]
    )


@dataclass(frozen=True)
class RashomonPath:
    """A path from ``points[0]`` towards ``target``.

    Attributes
    ----------
    points : (k, d) the parameters after every step (``points[0]`` is the start)
    losses : (k,) the loss at every point
    target : (d,)
    connected : whether the path reached ``target`` (within ``dist_tol``) with every loss at
        most ``level``
    level : the loss level that defines the set (``max(L(start), L(target)) + loss_tol``)
    reason : why the walk stopped (``"reached"``, ``"stuck"`` when the target direction has
        no component in the zero eigenspace, ``"left the set"``, ``"max_steps"``)
    """

    points: np.ndarray
    losses: np.ndarray
    target: np.ndarray
    connected: bool
    level: float
    reason: str

    @property
    def distances(self) -> np.ndarray:
        """Distance to the target after every step."""
        return np.linalg.norm(self.points - self.target, axis=1)


def rashomon_path(
    model: nn.Module,
    data,
    loss_fn: LossFn,
    target,
    *,
    step_size: float = 0.05,
    max_steps: int = 1000,
    newton_steps: int = 8,
    loss_tol: float = 1e-8,
    dist_tol: float = 1e-6,
    stuck_tol: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
) -> RashomonPath:
    """Walk from the model's parameters to ``target`` inside the set of minimum loss.

    Each step: the Hessian ``H(w)`` and its near-zero eigenspace ``N`` (rule of
    :func:`slt.nn.hessian.near_zero_count` with ``rtol``, ``atol``); the direction
    ``p = N Nᵀ (target − w)``; a move by ``min(step_size, ‖p‖)`` along ``p``; then
    ``newton_steps`` Newton corrections ``w ← w − Σ_{λ_i > τ} (u_iᵀ∇L / λ_i) u_i`` on the
    curved directions, which bring ``w`` back to the zero set (Gauss–Newton, quadratically,
    where the loss is a sum of squares). The walk stops when the target is within
    ``dist_tol``, when ``‖p‖ < stuck_tol · ‖target − w‖`` (the target is not reachable along
    flat directions from here), or when the corrected loss exceeds the level. A path
    between points of one connected component of a smooth zero set connects; between two
    components it cannot (every move stays in the set).

    Parameters
    ----------
    target : torch.nn.Module (same architecture) or array-like of shape (d,)
    """
    f = FlatLoss(model, data, loss_fn)
    goal = flatten_parameters(target) if isinstance(target, nn.Module) else np.asarray(target, dtype=np.float64)
    if goal.shape != (f.dim,):
        raise ValueError(f"target has shape {goal.shape}; expected ({f.dim},)")
    for name, value in (("step_size", step_size), ("dist_tol", dist_tol), ("stuck_tol", stuck_tol)):
        if not value > 0:
            raise ValueError(f"{name}={value}; must be > 0")
    if max_steps < 1:
        raise ValueError(f"max_steps={max_steps}; must be >= 1")
    if newton_steps < 0:
        raise ValueError(f"newton_steps={newton_steps}; must be >= 0")
    if not loss_tol >= 0:
        raise ValueError(f"loss_tol={loss_tol}; must be >= 0")
    goal_t = torch.as_tensor(goal)
    level = max(f.value(f.w0), f.value(goal_t)) + loss_tol
    w = f.w0.clone()
    points, losses = [w.numpy().copy()], [f.value(w)]
    reason = "max_steps"
    for _ in range(max_steps):
        delta = goal_t - w
        dist = float(delta.norm())
        if dist <= dist_tol:
            reason = "reached"
            break
        sp = spectrum_at(f, w, rtol=rtol, atol=atol)
        N = torch.as_tensor(sp.null_space())
        p = N @ (N.T @ delta)
        norm = float(p.norm())
        if norm < stuck_tol * dist:
            reason = "stuck"
            break
        w = w + p * min(1.0, step_size / norm)
        w = _newton_correct(f, w, newton_steps, rtol=rtol, atol=atol)
        points.append(w.numpy().copy())
        losses.append(f.value(w))
        if losses[-1] > level:
            reason = "left the set"
            break
    else:
        if float((goal_t - w).norm()) <= dist_tol:
            reason = "reached"
    losses_arr = np.array(losses)
    return RashomonPath(
        np.array(points), losses_arr, goal, reason == "reached" and bool(losses_arr.max() <= level), level, reason
    )


def _newton_correct(f: FlatLoss, w: torch.Tensor, steps: int, *, rtol, atol) -> torch.Tensor:
    """``steps`` Newton steps restricted to the eigenvalues above the near-zero threshold."""
    for _ in range(steps):
        sp = spectrum_at(f, w, rtol=rtol, atol=atol)
        keep = sp.eigenvalues > sp.threshold
        if not keep.any():
            break
        U, lam = sp.eigenvectors[:, keep], sp.eigenvalues[keep]
        g = f.gradient(w).detach().numpy()
        w = w - torch.as_tensor(U @ ((U.T @ g) / lam))
    return w


@dataclass(frozen=True)
class LossPath:
    """A polyline from one parameter vector to another and the loss along it.

    Attributes
    ----------
    points : (k, d) the images (``points[0]``, ``points[-1]`` the fixed endpoints)
    ts : (m,) arc-length fraction of every evaluation point (0 at the start, 1 at the end)
    losses : (m,) the loss there
    linear : (m,) the loss on the straight line between the endpoints at m evenly spaced points
    iterations : string-method iterations run (fewer than asked once the barrier is 0);
        ``best_iteration`` the one returned (0: the straight line)

    ``barrier`` is ``max_t [L(t) − ((1 − t) L(0) + t L(1))]``, the definition of
    :class:`slt.nn.skeleton.LossBarrier` with ``t`` the arc-length fraction, and
    ``linear_barrier`` the same on the straight line; ``rise`` is ``max_t L(t) − max(L(0),
    L(1))``, the Rashomon level above the higher endpoint at which the path connects them.
    """

    points: np.ndarray
    ts: np.ndarray
    losses: np.ndarray
    linear: np.ndarray
    iterations: int
    best_iteration: int

    @staticmethod
    def _barrier(ts: np.ndarray, losses: np.ndarray) -> float:
        return float(np.max(losses - ((1 - ts) * losses[0] + ts * losses[-1])))

    @property
    def barrier(self) -> float:
        return self._barrier(self.ts, self.losses)

    @property
    def linear_barrier(self) -> float:
        return self._barrier(np.linspace(0.0, 1.0, len(self.linear)), self.linear)

    @property
    def rise(self) -> float:
        return float(self.losses.max() - max(self.losses[0], self.losses[-1]))

    @property
    def length(self) -> float:
        """Euclidean length of the polyline."""
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())


def low_loss_path(
    model: nn.Module,
    target,
    data,
    loss_fn: LossFn,
    *,
    num_points: int = 17,
    steps: int = 200,
    lr: float = 1e-2,
    resolution: int = 4,
    check_every: int = 10,
) -> LossPath:
    """A path of low maximal loss from the model's parameters to ``target`` (string method).

    Images φ_0 … φ_{K−1} start evenly on the straight line, endpoints fixed.  Each iteration
    moves every interior image down its own loss gradient (Adam, step ``lr``; the gradients of
    all images at once under ``torch.func.vmap``), then redistributes the images at equal arc
    length along the polyline (the simplified string method, E, Ren & Vanden-Eijnden 2007), so
    the string relaxes towards a minimum energy path: the path whose highest loss is the lowest
    level ε at which both ends lie in one connected component of {L ≤ ε} (a Rashomon set).
    Every ``check_every`` iterations the loss is evaluated on ``resolution`` points per segment
    and the path of lowest barrier so far is kept, the straight line included, so the returned
    barrier never exceeds ``linear_barrier`` on the same points; the iterations stop early once
    the barrier is 0 (the loss nowhere above the line joining the endpoints' losses).  Draxler, Veschgini, Salmhofer &
    Hamprecht 2018 (AutoNEB) and Garipov et al. 2018 find such paths between trained networks.

    Parameters
    ----------
    model : the start (its trainable parameters, float64 via :class:`slt.nn.hessian.FlatLoss`).
    target : a module of the same architecture or a flat vector of shape (d,).
    num_points : images K ≥ 3, endpoints included.
    steps : string-method iterations (0: the straight line only).
    lr : Adam's step on every coordinate of every image.
    resolution : evaluation points per segment for the losses and the barrier.

    Example
    -------
    >>> path = low_loss_path(net_a, align(net_a, net_b), (X, y), F.cross_entropy)  # doctest: +SKIP
    >>> path.barrier, path.linear_barrier                                           # doctest: +SKIP
    """
    f = FlatLoss(model, data, loss_fn)
    goal = flatten_parameters(target) if isinstance(target, nn.Module) else np.asarray(target, dtype=np.float64)
    if goal.shape != (f.dim,):
        raise ValueError(f"target has shape {goal.shape}; expected ({f.dim},)")
    for name, value, least in (("num_points", num_points, 3), ("resolution", resolution, 1),
                               ("check_every", check_every, 1), ("steps", steps, 0)):
        if int(value) != value or value < least:
            raise ValueError(f"{name}={value!r}; must be an integer >= {least}")
    if not lr > 0:
        raise ValueError(f"lr={lr}; must be > 0")
    t = torch.linspace(0.0, 1.0, num_points, dtype=torch.float64)[:, None]
    phi = (1 - t) * f.w0 + t * torch.as_tensor(goal)
    ts, linear = _evaluate(f, phi, resolution)
    best, best_at, best_barrier = phi.clone(), 0, LossPath._barrier(ts, linear)
    grads = torch.func.vmap(torch.func.grad(f))
    m, v = torch.zeros_like(phi[1:-1]), torch.zeros_like(phi[1:-1])
    k = 0
    for k in range(1, steps + 1):
        g = grads(phi[1:-1]).detach()
        m.mul_(0.9).add_(0.1 * g)
        v.mul_(0.999).add_(0.001 * g * g)
        step = lr * (m / (1 - 0.9**k)) / ((v / (1 - 0.999**k)).sqrt() + 1e-8)
        phi = _equal_arclength(torch.cat([phi[:1], phi[1:-1] - step, phi[-1:]]))
        if k % check_every == 0 or k == steps:
            ts_k, losses = _evaluate(f, phi, resolution)
            if not np.all(np.isfinite(losses)):
                break
            if (b := LossPath._barrier(ts_k, losses)) < best_barrier:
                best, best_at, best_barrier = phi.clone(), k, b
            if best_barrier <= 0.0:  # nowhere above the endpoints' line: nothing left to lower
                break
    ts_best, losses = _evaluate(f, best, resolution)
    return LossPath(best.numpy(), ts_best, losses, linear, k, best_at)


def _equal_arclength(phi: torch.Tensor) -> torch.Tensor:
    """The images moved to equal arc length along the polyline through them (endpoints kept)."""
    seg = (phi[1:] - phi[:-1]).norm(dim=1)
    s = torch.cat([seg.new_zeros(1), seg.cumsum(0)])
    if float(s[-1]) == 0.0:
        return phi
    s = s / s[-1]
    want = torch.linspace(0.0, 1.0, phi.shape[0], dtype=phi.dtype)
    hi = torch.searchsorted(s, want[1:-1], right=True).clamp(1, phi.shape[0] - 1)
    lo = hi - 1
    frac = ((want[1:-1] - s[lo]) / (s[hi] - s[lo]).clamp_min(1e-300))[:, None]
    return torch.cat([phi[:1], phi[lo] + frac * (phi[hi] - phi[lo]), phi[-1:]])


def _evaluate(f: FlatLoss, phi: torch.Tensor, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Arc-length fractions and losses at ``resolution`` points per segment of the polyline."""
    frac = torch.arange(resolution, dtype=phi.dtype) / resolution
    W = (phi[:-1, None] + frac[None, :, None] * (phi[1:] - phi[:-1])[:, None]).reshape(-1, phi.shape[1])
    W = torch.cat([W, phi[-1:]])
    seg = (W[1:] - W[:-1]).norm(dim=1)
    s = torch.cat([seg.new_zeros(1), seg.cumsum(0)]).numpy()
    ts = s / s[-1] if s[-1] > 0 else np.linspace(0.0, 1.0, len(s))
    return ts, f.values(W.numpy())


def filter_normalized_direction(
    model: nn.Module, *, seed: int | np.random.Generator | None = None, zero_biases: bool = False
) -> np.ndarray:
    """A random direction (flat, float64) normalised filter by filter (Li et al. 2018).

    Each parameter of ≥ 2 dimensions is drawn N(0, 1) and every filter (a slice along the
    first axis: a row of a ``Linear`` weight, an output channel of a convolution) is
    rescaled to the norm of the same filter of the model. One-dimensional parameters
    (biases) keep their own values as the direction (as in the reference implementation),
    or get zero with ``zero_biases=True``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        w = p.detach().to(torch.float64).cpu().numpy()
        if w.ndim <= 1:
            parts.append(np.zeros(w.size) if zero_biases else w.reshape(-1).copy())
            continue
        d = rng.standard_normal(w.shape)
        rows_w = np.linalg.norm(w.reshape(w.shape[0], -1), axis=1)
        rows_d = np.linalg.norm(d.reshape(d.shape[0], -1), axis=1)
        d *= (rows_w / rows_d).reshape((-1,) + (1,) * (w.ndim - 1))
        parts.append(d.reshape(-1))
    return np.concatenate(parts)


@dataclass(frozen=True)
class LossSlice:
    """``losses[i, j] = L(w* + alphas[i] · directions[0] + betas[j] · directions[1])``."""

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    directions: np.ndarray
    center: np.ndarray


def loss_slice(
    model: nn.Module, data, loss_fn: LossFn, directions, *, extent: float = 1.0, num: int = 41
) -> LossSlice:
    """The loss on the plane through the model's parameters spanned by two directions
    (rows of ``directions``, shape (2, d)), on a ``num × num`` grid over
    ``[−extent, extent]²`` (vectorised over the grid)."""
    f = FlatLoss(model, data, loss_fn)
    D = np.asarray(directions, dtype=np.float64)
    if D.shape != (2, f.dim):
        raise ValueError(f"directions has shape {D.shape}; expected (2, {f.dim})")
    if not extent > 0:
        raise ValueError(f"extent={extent}; must be > 0")
    if num < 2:
        raise ValueError(f"num={num}; must be >= 2")
    a = np.linspace(-extent, extent, num)
    A, B = np.meshgrid(a, a, indexing="ij")
    w0 = f.w0.numpy()
    W = w0 + A.reshape(-1, 1) * D[0] + B.reshape(-1, 1) * D[1]
    return LossSlice(a, a.copy(), f.values(W).reshape(num, num), D, w0)


@dataclass(frozen=True)
class PerturbationEmbedding:
    """Random perturbations ``w* + r u`` (``u`` uniform on the unit sphere, ``r`` uniform on
    ``[0, radius]``), their losses and a 2-D t-SNE embedding of the perturbed parameters."""

    perturbations: np.ndarray  # (num_samples, d)
    losses: np.ndarray  # (num_samples,)
    embedding: np.ndarray  # (num_samples, 2)
    radius: float


def perturbation_embedding(
    model: nn.Module,
    data,
    loss_fn: LossFn,
    *,
    num_samples: int = 500,
    radius: float = 1.0,
    perplexity: float = 30.0,
    seed: int | np.random.Generator | None = None,
) -> PerturbationEmbedding:
    """Losses at random perturbations of the model's parameters and a t-SNE of them.

    The fraction of perturbations whose loss stays at the minimum measures how much of a
    ball around it lies in (or near) the Rashomon set; the t-SNE shows how those points are
    arranged.
    """
    from sklearn.manifold import TSNE

    if num_samples < 5:
        raise ValueError(f"num_samples={num_samples}; must be >= 5")
    if not radius > 0:
        raise ValueError(f"radius={radius}; must be > 0")
    if not 0 < perplexity < num_samples:
        raise ValueError(f"perplexity={perplexity}; must be in (0, num_samples={num_samples})")
    f = FlatLoss(model, data, loss_fn)
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((num_samples, f.dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = radius * rng.uniform(size=(num_samples, 1))
    W = f.w0.numpy() + r * u
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=int(rng.integers(2**31))).fit_transform(W)
    return PerturbationEmbedding(W, f.values(W), emb, float(radius))
