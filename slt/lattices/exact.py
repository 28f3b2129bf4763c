"""Exact answers for random walks on graphs: stationary laws, spectra, mixing, Kac, continuum.

- :func:`stationary_distribution` / :func:`stationary_vector`: π(v) = deg(v) / 2|E| for an
  undirected graph (weighted: strength / Σ strength; Levin, Peres & Wilmer 2017, §1.5), a
  sparse solve of πᵀ(I − P) = 0 for a directed one;
- :func:`spectral_gap`: λ₂, λ_min, relaxation time and mixing-time bounds (dense on small
  graphs, AMG-preconditioned LOBPCG on large ones), checked against the closed form
  :func:`glued_tori_lambda2`;
- :func:`expected_return_time`: E_v[τ_v⁺] = 1/π(v) (Kac's lemma);
- :func:`ball_masses` and :func:`continuum_limit`: what survives the lattice spacing 1/L → 0.

Examples
--------
>>> from slt.lattices.graphs import intersecting_cycles
>>> expected_return_time(intersecting_cycles(3, 5), 0)
5.0
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Hashable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from slt.errors import SLTWarning
from slt.lattices.graphs import bfs_signs, checked_csr, intersecting_cycles, is_bipartite, warn_periodic

if TYPE_CHECKING:
    from slt.lattices.walk import WalkResult

__all__ = ["transition_matrix", "stationary_vector", "stationary_distribution", "expected_return_time",
           "SpectralResult", "spectral_gap", "glued_tori_lambda2", "ball_masses", "continuum_limit",
           "DENSE_MAX", "LOBPCG_MAXITER"]

DENSE_MAX = 2000  # graphs up to this size get dense eigenvalues (exact, no iteration)


def transition_matrix(G, *, lazy: float = 0.0, weight: str | None = None) -> sp.csr_array:
    """P = lazy I + (1 - lazy) D⁻¹ A, rows = current node (order of :func:`to_csr`)."""
    g = checked_csr(G, weight, lazy)
    A = g.adjacency()
    P = sp.diags_array(1.0 / g.strength()) @ A
    return (lazy * sp.eye_array(g.num_nodes) + (1.0 - lazy) * P).tocsr()


def stationary_vector(G, *, lazy: float = 0.0, weight: str | None = None, method: str = "auto") -> np.ndarray:
    """Stationary law as an array in node order (see :func:`stationary_distribution`).

    ``method="degree"``: π = strength / total strength, exact for every undirected graph
    (the walk is reversible: π(u)P(u,v) = w(u,v)/Σw = π(v)P(v,u)); the lazy walk has the
    same law.  ``method="solve"``: the sparse linear system πᵀ(I − P) = 0, Σπ = 1 (one
    equation replaced by the normalisation); required for directed graphs.
    ``"auto"`` picks "degree" for undirected and "solve" for directed graphs.
    """
    g = checked_csr(G, weight, lazy)
    if method == "auto":
        method = "solve" if g.directed else "degree"
    if method == "degree":
        if g.directed:
            raise ValueError("method='degree' needs an undirected graph (a reversible walk)")
        s = g.strength()
        return s / s.sum()
    if method != "solve":
        raise ValueError(f"method must be 'auto', 'degree' or 'solve', got {method!r}")
    P = transition_matrix(g, lazy=lazy)
    M = (sp.eye_array(g.num_nodes) - P).T.tolil()
    M[0, :] = np.ones(g.num_nodes)
    rhs = np.zeros(g.num_nodes)
    rhs[0] = 1.0
    pi = spla.spsolve(M.tocsc(), rhs)
    return pi / pi.sum()


def stationary_distribution(G, lazy: float = 0.0, *, weight: str | None = None,
                            method: str = "auto") -> dict:
    """The stationary distribution of the (lazy) random walk, as a dict node -> probability.

    For an undirected connected graph, π(v) = deg(v) / 2|E| (weighted: strength / Σ strength;
    Levin, Peres & Wilmer, *Markov Chains and Mixing Times*, 2nd ed. 2017, §1.5); a lazy
    walk (stay with probability ``lazy``) has the same law.

    Raises
    ------
    ValueError
        For an empty or disconnected graph (no unique stationary law), or lazy ∉ [0, 1).

    Examples
    --------
    >>> pi = stationary_distribution(intersecting_cycles(3, 5))
    >>> round(pi[0] / pi[1], 12)
    3.0
    """
    g = checked_csr(G, weight, lazy)
    pi = stationary_vector(g, lazy=lazy, method=method)
    return dict(zip(g.labels(), pi.tolist()))


def expected_return_time(G, node: Hashable, *, lazy: float = 0.0, weight: str | None = None) -> float:
    """E_v[τ_v⁺] = 1/π(v) (Kac's lemma; Levin, Peres & Wilmer 2017, Prop. 1.19).

    For k glued cycles of L nodes: L at the junction, kL at any other node.
    """
    g = checked_csr(G, weight, lazy)
    return float(1.0 / stationary_vector(g, lazy=lazy)[g.index(node)])


@dataclass(frozen=True)
class SpectralResult:
    """Spectral quantities of a reversible (lazy) random walk.

    Attributes
    ----------
    lambda2 : second largest eigenvalue of P.
    lambda_min : smallest eigenvalue of P.
    gap : spectral gap 1 − λ₂.
    absolute_gap : 1 − max(|λ₂|, |λ_min|) (0 for a periodic chain).
    relaxation_time : 1 / absolute_gap.
    mixing_time_lower, mixing_time_upper : bounds on t_mix(ε) in total variation,
        (t_rel − 1) log(1/(2ε)) ≤ t_mix(ε) ≤ t_rel log(1/(ε π_min))
        (Levin, Peres & Wilmer 2017, Thms 12.4 and 12.5).
    eps : the ε used.
    warnings : messages emitted.
    """

    lambda2: float
    lambda_min: float
    gap: float
    absolute_gap: float
    relaxation_time: float
    mixing_time_lower: float
    mixing_time_upper: float
    eps: float
    warnings: tuple[str, ...] = ()


def spectral_gap(G, *, lazy: float = 0.0, weight: str | None = None, eps: float = 0.25,
                 tol: float = 1e-8) -> SpectralResult:
    """Spectral gap, relaxation time and mixing-time bounds of the (lazy) walk on ``G``.

    P = D⁻¹A is similar to the symmetric S = D^{-1/2} A D^{-1/2}, so its eigenvalues are
    those of S (then λ ↦ lazy + (1 − lazy) λ).  Small graphs use a dense symmetric
    eigensolver.  Large ones get λ₂(S) = 1 − ν₂ from the smallest non-trivial eigenvalue ν₂
    of the normalised Laplacian 𝓛 = I − S: LOBPCG (Knyazev 2001) orthogonal to the known
    null vector √π, preconditioned by smoothed-aggregation algebraic multigrid (Vaněk,
    Mandel & Brezina 1996; pyamg), so the iteration count does not grow as the gap shrinks.
    λ_min(S) is −1 for a bipartite graph; otherwise 1 + λ_min is the smallest eigenvalue of
    I + S ≅ I + ΣSΣ (Σ = ±1 by breadth-first parity), a Laplacian up to the few edges that
    close odd cycles, found the same way.

    ``tol`` bounds the residual ‖𝓛x − νx‖ of the unit Ritz vectors; the eigenvalue error is
    at most ``tol`` and about tol² / (distance to the next eigenvalue) when it is isolated.
    A residual above ``tol`` after the iteration limit warns.  A bipartite graph with
    ``lazy=0`` warns (λ_min = −1: the chain is periodic).
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 1/2), got {eps!r}")
    g = checked_csr(G, weight, lazy)
    if g.directed:
        raise ValueError("spectral_gap needs an undirected graph (a reversible walk)")
    msgs = [warn_periodic(g, lazy)]
    s = g.strength()
    dinv = 1.0 / np.sqrt(s)
    S = (sp.diags_array(dinv) @ g.adjacency() @ sp.diags_array(dinv)).tocsr()
    n = g.num_nodes
    if n <= DENSE_MAX:
        ev = np.linalg.eigvalsh(S.toarray())
        mu2, mumin = ev[-2], ev[0]
    else:
        phi = np.sqrt(s / s.sum())
        eye = sp.eye_array(n, format="csr")
        nu2, resid = _lowest_eigenvalue(eye - S, phi, tol, deflate=True)
        mu2 = 1.0 - nu2
        resids = {"λ₂": resid}
        signs = bfs_signs(g)
        if is_bipartite(g, signs):
            mumin = -1.0  # exactly: the ±1 colouring of √π
        else:  # I + S ≅ I + ΣSΣ, Σ = diag(signs): a Laplacian but for the few odd-cycle edges
            flip = sp.diags_array(signs.astype(float))
            q, resids["λ_min"] = _lowest_eigenvalue((eye + flip @ S @ flip).tocsr(), phi, tol, deflate=False)
            mumin = q - 1.0
        for what, r in resids.items():
            if r > tol:
                msgs.append(f"LOBPCG stopped at residual {r:.2e} > tol={tol:.1e}: {what} is accurate to "
                            f"about {r:.1e} only")
                warnings.warn(msgs[-1], SLTWarning, stacklevel=2)
    lam2 = lazy + (1 - lazy) * mu2
    lmin = lazy + (1 - lazy) * mumin
    gap = 1.0 - lam2
    star = max(abs(lam2), abs(lmin))
    agap = max(0.0, 1.0 - star)
    trel = math.inf if agap == 0 else 1.0 / agap
    pimin = float(s.min() / s.sum())
    return SpectralResult(
        lambda2=float(lam2), lambda_min=float(lmin), gap=float(gap), absolute_gap=float(agap),
        relaxation_time=trel, mixing_time_lower=max(0.0, (trel - 1) * math.log(1 / (2 * eps))),
        mixing_time_upper=trel * math.log(1 / (eps * pimin)), eps=eps,
        warnings=tuple(m for m in msgs if m))


def glued_tori_lambda2(n: int, dim: int) -> float:
    """Exact λ₂ of the simple walk on two (or more) copies of the torus Z_n^dim glued at a point.

    Modes symmetric under permuting the copies are torus modes, with eigenvalues
    μ_a = (1/dim) Σ_i cos(2π a_i / n); the others vanish at the junction, so they are the
    eigenvalues of the torus walk killed at the origin: the roots of the rank-one secular
    equation Σ_a 1/(λ − μ_a) = 0 (Golub 1973).  By interlacing its top root lies in (μ₂, 1)
    and is λ₂; with x = 1 − λ and d_a = 1 − μ_a it solves 1/x = Σ_{a≠0} 1/(d_a − x).
    The graph is ``glued_tori(n, [(0, .., dim-1), (dim, .., 2 dim-1)])``.
    """
    from scipy.optimize import brentq

    if not isinstance(n, (int, np.integer)) or n < 3 or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"need an int side n >= 3 and dim >= 1, got n={n!r}, dim={dim!r}")
    c = np.cos(2 * np.pi * np.arange(n) / n)
    mu = c
    for _ in range(dim - 1):
        mu = (mu[:, None] + c[None, :]).ravel()
    d, mult = np.unique(np.round(1 - mu / dim, 15), return_counts=True)
    d, mult = d[1:], mult[1:]  # drop the constant mode (d = 0)
    x = brentq(lambda x: np.sum(mult / (d - x)) - 1 / x, d[0] * 1e-12, d[0] * (1 - 1e-12), xtol=1e-300, rtol=1e-15)
    return float(1 - x)


LOBPCG_MAXITER = 500  # LOBPCG iteration limit (a residual above tol then warns)


def _lowest_eigenvalue(M: sp.csr_array, phi: np.ndarray, tol: float, *, deflate: bool) -> tuple[float, float]:
    """Smallest eigenvalue of a normalised (signed) Laplacian ``M`` ≥ 0 whose (near-)null
    vector is ``phi``; with ``deflate`` on the complement of ``phi`` (an exact null vector).

    LOBPCG with block size 1 from a fixed random start, preconditioned by one V-cycle of
    smoothed aggregation built with φ as the near-null space (not improved by relaxation).
    Every edge counts as a strong connection (no filtering: the lattices' edges are all
    alike, and the preconditioner affects speed only), and Jacobi prolongation smoothing
    uses row-wise (Gershgorin) weights on the finest level, where a global spectral-radius
    estimate would dominate the set-up time.  Returns (ν, ‖Mx − νx‖).
    """
    import pyamg

    amg = pyamg.smoothed_aggregation_solver(M, B=phi[:, None], strength=None, improve_candidates=None,
                                            smooth=[("jacobi", {"weighting": "local"}), "jacobi"])
    x0 = np.random.default_rng(0).standard_normal((M.shape[0], 1))
    with warnings.catch_warnings():  # convergence is judged below from the residual
        warnings.simplefilter("ignore", UserWarning)
        nu, x = spla.lobpcg(M, x0, M=amg.aspreconditioner(), Y=phi[:, None] if deflate else None, tol=tol,
                            maxiter=LOBPCG_MAXITER, largest=False)
    x = x[:, 0] / np.linalg.norm(x[:, 0])
    return float(nu[0]), float(np.linalg.norm(M @ x - nu[0] * x))



# ----------------------------------------------------------------------------------------
# the continuum limit
# ----------------------------------------------------------------------------------------
def ball_masses(k: int, L: int, radius: float, *, walk: WalkResult | None = None) -> dict[str, float]:
    """Exact stationary mass of graph balls in k glued cycles with lattice spacing 1/L.

    The ball of radius r holds the nodes within m = ⌊rL⌋ steps.  With π(0) = 1/L and
    π(v) = 1/(kL):  junction ball (1 + 2m)/L, regular ball (taken opposite the junction)
    (2m + 1)/(kL), their ratio exactly k, and the junction node's share of its own ball
    1/(1 + 2m) → 0 as L → ∞.  With ``walk`` (a :func:`simulate_walk` result on
    ``intersecting_cycles(k, L)``) the empirical masses are added (keys ``empirical_*``).
    """
    if not 0 < radius < 0.5:
        raise ValueError(f"radius must be in (0, 1/2) (a ball inside one cycle), got {radius!r}")
    G = intersecting_cycles(k, L)
    pi = stationary_vector(G)
    m = int(math.floor(radius * L + 1e-12))
    if 2 * m + 1 > L - 1:
        raise ValueError(f"L={L} too small for radius {radius}: the regular ball would reach the junction")
    pos = np.array([G.nodes[v]["position"] for v in G])
    cyc = np.array([G.nodes[v]["cycle"] for v in G])
    at_junction = pos <= m
    at_regular = (cyc == 0) & (np.abs(pos - L // 2) <= m) & (pos > 0)  # opposite the junction
    out = {"k": k, "L": L, "radius": radius, "steps": m, "junction_node": float(pi[0]),
           "junction_ball": float(pi[at_junction].sum()), "regular_ball": float(pi[at_regular].sum()),
           "continuum_junction_ball": 2 * radius, "continuum_regular_ball": 2 * radius / k}
    out["ball_ratio"] = out["junction_ball"] / out["regular_ball"]
    out["node_share"] = out["junction_node"] / out["junction_ball"]
    if walk is not None:
        if len(walk.nodes) != len(pi):
            raise ValueError(f"walk is on {len(walk.nodes)} nodes, intersecting_cycles({k}, {L}) has {len(pi)}")
        freq = walk.frequencies()
        out["empirical_junction_ball"] = float(freq[at_junction].sum())
        out["empirical_regular_ball"] = float(freq[at_regular].sum())
        out["empirical_ball_ratio"] = out["empirical_junction_ball"] / out["empirical_regular_ball"]
    return out


def continuum_limit(k: int, Ls: Sequence[int] = (10, 100, 1000, 10_000), radius: float = 0.1) -> list[dict]:
    """:func:`ball_masses` along L → ∞ (step 1/L): what survives and what does not.

    Survives: the ball ratio k (the number of branches through the junction, a
    density-of-states effect: the continuum law is arc length on k unit circles, and a ball
    around the junction meets 2k half-branches instead of 2).  Vanishes: the mass 1/L of
    the junction node itself and its share 1/(1 + 2⌊rL⌋) of its ball (no atom survives).
    """
    return [ball_masses(k, int(L), radius) for L in Ls]
