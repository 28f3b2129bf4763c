"""The exact Gibbs measure on a box and the "regular" (harmonic-valley) prediction.

Gibbs: π(x) = exp(−V(x)/T) / Z on a box, by midpoint quadrature on a grid (each cell
subdivided ``refine`` times per axis, so cell masses are accurate for histogram tests).

Regular view: a physicist who treats every branch of the zero set as a smooth valley
replaces V near branch b by its harmonic approximation across the branch,
V_b(x) = ½ h_b(z_b(x)) d_b(x)², with z_b(x) the foot of the perpendicular from x to the
branch, d_b(x) the distance and h_b = nᵀ ∇²V(z) n the transverse curvature, and adds the
valleys: ρ_reg(x) ∝ Σ_b exp(−V_b(x)/T).  Where branches cross, this is where the singular
geometry and the regular picture part ways (Watanabe 2009, ch. 1; seed post 002).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from slt.potentials import Potential
from slt.sampling.driver import parse_box

__all__ = ["GibbsGrid", "gibbs_density", "regular_density", "empirical_ball_mass", "BallMass"]


@dataclass(frozen=True)
class GibbsGrid:
    """A probability density tabulated on a regular grid over a box.

    Attributes
    ----------
    edges : bin edges per coordinate.
    density : density at the cell centres (integrates to 1 over the box).
    cell_mass : probability of each cell (sums to 1).
    log_z : log of the normalising constant ∫ exp(−V/T) dx over the box (NaN for a
        prediction that is not a Gibbs measure).
    temperature : T.
    """

    edges: tuple[np.ndarray, ...]
    density: np.ndarray
    cell_mass: np.ndarray
    log_z: float
    temperature: float

    @property
    def centers(self) -> tuple[np.ndarray, ...]:
        return tuple(0.5 * (e[1:] + e[:-1]) for e in self.edges)

    def marginal(self, axis: int) -> np.ndarray:
        """Density of coordinate ``axis`` at its cell centres."""
        others = tuple(i for i in range(self.cell_mass.ndim) if i != axis)
        return self.cell_mass.sum(axis=others) / np.diff(self.edges[axis])

    def mass_within(self, center: Sequence[float], radius: float, *, periodic: bool = False,
                    subdivide: int = 8) -> float:
        """Probability of the ball |x − center| < radius.

        Each cell contributes its mass times the fraction of it inside the ball, estimated on
        ``subdivide`` points per axis (cells are small, so the density is ~constant on them).
        """
        widths = [np.diff(e) for e in self.edges]
        inside = np.zeros(self.cell_mass.shape)
        offsets = (np.arange(subdivide) + 0.5) / subdivide
        for combo in np.ndindex(*([subdivide] * len(self.edges))):
            pts = [e[:-1] + offsets[j] * w for e, w, j in zip(self.edges, widths, combo)]
            inside += _in_ball(pts, self.edges, center, radius, periodic)
        return float(np.sum(self.cell_mass * inside) / subdivide ** len(self.edges))

    def expectation(self, values: np.ndarray) -> float:
        """E[f] for f tabulated at the cell centres."""
        return float(np.sum(self.cell_mass * values))


def _in_ball(centers, edges, center, radius, periodic) -> np.ndarray:
    grids = np.meshgrid(*centers, indexing="ij")
    r2 = np.zeros_like(grids[0])
    for g, c, e in zip(grids, center, edges):
        d = g - c
        if periodic:
            width = e[-1] - e[0]
            d = d - width * np.round(d / width)
        r2 += d * d
    return r2 < radius * radius


def _grid(box, dim, bins, refine):
    lo, hi = parse_box(box, dim)
    if dim > 3:
        raise ValueError(f"grid quadrature is for 1 to 3 dimensions, got {dim}")
    nb = [int(bins)] * dim if np.isscalar(bins) else [int(b) for b in bins]
    if len(nb) != dim or min(nb) < 1 or refine < 1:
        raise ValueError(f"bins must be positive per coordinate and refine >= 1, got {bins}, {refine}")
    edges = tuple(np.linspace(lo[i], hi[i], nb[i] + 1) for i in range(dim))
    fine = [np.linspace(lo[i], hi[i], nb[i] * refine + 1) for i in range(dim)]
    fine_c = [0.5 * (f[1:] + f[:-1]) for f in fine]
    pts = np.stack(np.meshgrid(*fine_c, indexing="ij"), axis=-1)
    sub_vol = float(np.prod([f[1] - f[0] for f in fine]))
    return edges, nb, pts, sub_vol


def _coarsen(weights: np.ndarray, nb: list[int], refine: int) -> np.ndarray:
    shape = []
    for n in nb:
        shape += [n, refine]
    return weights.reshape(shape).sum(axis=tuple(range(1, 2 * len(nb), 2)))


def _from_log_weights(logw, edges, nb, refine, sub_vol, temperature) -> GibbsGrid:
    if not np.all(np.isfinite(logw)):
        raise ValueError("the potential is not finite everywhere on the grid")
    top = logw.max()
    cells = _coarsen(np.exp(logw - top), nb, refine)
    total = cells.sum()
    cell_mass = cells / total
    vol = np.prod(np.meshgrid(*[np.diff(e) for e in edges], indexing="ij"), axis=0)
    return GibbsGrid(edges=edges, density=cell_mass / vol, cell_mass=cell_mass,
                     log_z=float(np.log(total * sub_vol) + top), temperature=temperature)


def gibbs_density(potential: Potential, box, *, temperature: float = 1.0, bins=128,
                  refine: int = 4, nbeta: float = 1.0) -> GibbsGrid:
    """Exact Gibbs measure π ∝ exp(−nbeta·V/T) on ``box`` by midpoint quadrature.

    Parameters
    ----------
    potential : the potential V (1 to 3 coordinates).
    box : (lo, hi) or (dim, 2) array.
    temperature : T > 0.
    bins : cells per coordinate of the returned grid.
    refine : quadrature points per cell and axis (cell masses are sums over them).
    nbeta : multiplies V (the tempered posterior exp(−nβ V) at T = 1).

    Examples
    --------
    >>> from slt.potentials import harmonic
    >>> g = gibbs_density(harmonic([1.0]), (-8, 8), bins=800)  # cells of width h = 0.02
    >>> round(g.expectation(g.centers[0] ** 2), 4)  # E[x²] = T = 1; x² at the cell centres adds 5h²/64 = 3e-5
    1.0
    """
    if temperature <= 0 or nbeta <= 0:
        raise ValueError(f"temperature and nbeta must be positive, got {temperature}, {nbeta}")
    edges, nb, pts, sub_vol = _grid(box, potential.dim, bins, refine)
    logw = -nbeta * potential(pts) / temperature
    return _from_log_weights(logw, edges, nb, refine, sub_vol, temperature)


def _transverse_curvature(potential: Potential, point, direction):
    """h(s) = nᵀ ∇²V(p + s t) n along a line, as a numpy function of s."""
    t = np.asarray(direction, float) / np.linalg.norm(direction)
    n = np.array([-t[1], t[0]])
    s = sp.Symbol("s", real=True)
    subs = {v: point[i] + s * t[i] for i, v in enumerate(potential.variables)}
    H = sp.hessian(potential.expr, potential.variables)
    h = sum(n[i] * n[j] * H[i, j] for i in range(2) for j in range(2)).subs(subs)
    f = sp.lambdify(s, h, modules="numpy")
    return lambda sv: np.broadcast_to(f(sv), np.shape(sv)).astype(float), t, n


def regular_density(potential: Potential, box, *, temperature: float = 1.0, bins=128,
                    refine: int = 4, branches=None) -> GibbsGrid:
    """The regular (harmonic-valley) prediction ρ_reg ∝ Σ_b exp(−½ h_b d_b²/T) on ``box``.

    ``branches`` are straight lines (point, direction) forming the zero set; library
    potentials carry them (``Potential.branches``).  A potential whose zero set is a single
    point (no branches) gets the Gaussian of its Hessian at ``potential.point``, which is
    flat along any zero-curvature direction, as the regular view would have it.
    """
    if potential.dim != 2 and branches:
        raise ValueError("branch-wise regular prediction is implemented for 2-D potentials")
    branches = potential.branches if branches is None else branches
    edges, nb, pts, sub_vol = _grid(box, potential.dim, bins, refine)
    if not branches:
        p0 = np.asarray(potential.point, float)
        H = potential.hessian(p0)
        d = pts - p0
        logw = -0.5 * np.einsum("...i,ij,...j->...", d, H, d) / temperature
    else:
        total = np.zeros(pts.shape[:-1])
        for point, direction in branches:
            h, t, n = _transverse_curvature(potential, point, direction)
            rel = pts - np.asarray(point, float)
            s, dist = rel @ t, rel @ n
            total += np.exp(-0.5 * h(s) * dist * dist / temperature)
        logw = np.log(total)
    grid = _from_log_weights(logw, edges, nb, refine, sub_vol, temperature)
    return GibbsGrid(edges=grid.edges, density=grid.density, cell_mass=grid.cell_mass,
                     log_z=float("nan"), temperature=temperature)


@dataclass(frozen=True)
class BallMass:
    """Fraction of an ensemble within a ball: mean over walkers and its standard error."""

    mass: float
    se: float
    per_walker: np.ndarray


def empirical_ball_mass(samples: np.ndarray, center: Sequence[float], radius: float, *,
                        box=None, periodic: bool = False) -> BallMass:
    """Fraction of recorded samples within ``radius`` of ``center``.

    ``samples`` is (walkers, draws, dim) (or (walkers, dim)); walkers are independent, so
    the standard error is the across-walker standard deviation of the per-walker fraction
    over sqrt(walkers).
    """
    x = np.asarray(samples, float)
    if x.ndim == 2:
        x = x[:, None, :]
    d = x - np.asarray(center, float)
    if periodic:
        lo, hi = parse_box(box, x.shape[-1])
        d = d - (hi - lo) * np.round(d / (hi - lo))
    inside = (np.sum(d * d, axis=-1) < radius * radius).mean(axis=1)
    se = inside.std(ddof=1) / np.sqrt(len(inside)) if len(inside) > 1 else float("nan")
    return BallMass(mass=float(inside.mean()), se=float(se), per_walker=inside)
