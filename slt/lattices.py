"""Random walks on intersecting lattices: builders, a fast ensemble walker, exact answers.

The seed post (002) argues that where several lines of a lattice cross, a random walker
spends more time: a simple random walk on a connected graph has the stationary law

    π(v) = deg(v) / 2|E|                                   (Levin, Peres & Wilmer 2017, §1.5)

so k cycles glued at one node put k times the mass of any other node on the shared node.
This module makes that exact, measurable and general:

- builders returning networkx graphs with coordinates as node attributes:
  :func:`intersecting_cycles` (the post's polygons), :func:`torus` and :func:`glued_tori`
  (periodic lattices glued at a point or along a shared sub-lattice) and
  :func:`zero_set_graph` (the digital curve of a polynomial's zero set on a grid);
- :func:`simulate_walk`: an ensemble of walkers on CSR arrays in a numba ``prange`` loop,
  one counter-based RNG stream per walker (bit-identical for any thread count), simple or
  lazy, visit counts accumulated without storing paths;
- exact answers: :func:`stationary_distribution`, :func:`spectral_gap` (with relaxation and
  mixing-time bounds; AMG-preconditioned LOBPCG on large graphs), :func:`glued_tori_lambda2`
  (the closed form it is checked against), :func:`expected_return_time` (Kac), and
  :func:`continuum_limit`.

Every function taking a graph accepts a networkx graph or a :class:`CSRGraph` (the form the
large builders return with ``sparse=True``, so a million-node lattice never needs networkx).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import networkx as nx
import numba as nb
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from slt.errors import SLTWarning
from slt.sampling.driver import NUM_TILES
from slt.sampling.rng import next_u64, seed_to_int, stream_keys, uniform

_TILE_BYTES = 1 << 27  # memory cap for the per-tile visit counters (128 MiB)
_DENSE_MAX = 2000  # graphs up to this size get dense eigenvalues (exact, no iteration)


# ----------------------------------------------------------------------------------------
# the CSR form
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CSRGraph:
    """An undirected (possibly weighted) graph as CSR arrays, built once for the walker.

    Attributes
    ----------
    indptr, indices : CSR structure; the neighbours of node ``i`` are
        ``indices[indptr[i]:indptr[i+1]]`` (each undirected edge stored both ways).
    weights : edge weights aligned with ``indices``, or None for a simple graph.
    nodes : node labels in index order, or None for the labels ``0..n-1``.
    coords : (n, d) coordinates, or None.
    junction : (n,) bool, True on junction nodes.
    directed : True when the arrays describe a directed graph (rows = out-edges).
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray | None = None
    nodes: tuple | None = None
    coords: np.ndarray | None = field(default=None, repr=False)
    junction: np.ndarray | None = field(default=None, repr=False)
    directed: bool = False

    @property
    def num_nodes(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def num_edges(self) -> int:
        """Number of edges (undirected edges counted once; a self-loop is stored once)."""
        return self.indices.shape[0] if self.directed else int(
            (self.indices.shape[0] + self.num_self_loops) // 2)

    @property
    def num_self_loops(self) -> int:
        rows = np.repeat(np.arange(self.num_nodes), np.diff(self.indptr))
        return int(np.count_nonzero(rows == self.indices))

    def label(self, i: int) -> Hashable:
        return int(i) if self.nodes is None else self.nodes[i]

    def labels(self) -> list:
        return list(range(self.num_nodes)) if self.nodes is None else list(self.nodes)

    def index(self, node: Hashable) -> int:
        """Index of a node label (ValueError when absent)."""
        if self.nodes is None:
            if isinstance(node, (int, np.integer)) and 0 <= node < self.num_nodes:
                return int(node)
        else:
            lookup = _label_index(self.nodes)
            if node in lookup:
                return lookup[node]
        raise ValueError(f"node {node!r} is not in the graph")

    def adjacency(self) -> sp.csr_array:
        """The (weighted) adjacency matrix A."""
        data = np.ones(self.indices.shape[0]) if self.weights is None else self.weights
        n = self.num_nodes
        return sp.csr_array((data, self.indices, self.indptr), shape=(n, n))

    def strength(self) -> np.ndarray:
        """Weighted out-degree (the degree for a simple graph; a self-loop counts once)."""
        return np.asarray(self.adjacency().sum(axis=1)).ravel()

    def to_networkx(self) -> nx.Graph:
        """The same graph as networkx, with ``coord`` and ``junction`` node attributes."""
        G = nx.DiGraph() if self.directed else nx.Graph()
        labels = self.labels()
        for i, v in enumerate(labels):
            attrs = {}
            if self.coords is not None:
                attrs["coord"] = tuple(self.coords[i].tolist())
            if self.junction is not None:
                attrs["junction"] = bool(self.junction[i])
            G.add_node(v, **attrs)
        rows = np.repeat(np.arange(self.num_nodes), np.diff(self.indptr))
        if self.weights is None:
            G.add_edges_from((labels[a], labels[b]) for a, b in zip(rows, self.indices))
        else:
            G.add_weighted_edges_from(
                (labels[a], labels[b], float(w)) for a, b, w in zip(rows, self.indices, self.weights))
        return G


_INDEX_CACHE: dict[int, tuple[tuple, dict]] = {}


def _label_index(nodes: tuple) -> dict:
    hit = _INDEX_CACHE.get(id(nodes))
    if hit is None or hit[0] is not nodes:
        hit = (nodes, {v: i for i, v in enumerate(nodes)})
        _INDEX_CACHE.clear()
        _INDEX_CACHE[id(nodes)] = hit
    return hit[1]


def to_csr(G: nx.Graph | CSRGraph, weight: str | None = None) -> CSRGraph:
    """Convert a networkx graph to :class:`CSRGraph` once (a CSRGraph passes through).

    Parameters
    ----------
    G : networkx graph (undirected, or directed for the exact solvers) or CSRGraph.
    weight : edge attribute holding weights, or None for a simple walk.

    Raises
    ------
    ValueError
        For an empty graph or negative / non-finite weights.
    """
    if isinstance(G, CSRGraph):
        if G.num_nodes == 0:
            raise ValueError("the graph is empty (0 nodes)")
        return G
    if G.number_of_nodes() == 0:
        raise ValueError("the graph is empty (0 nodes)")
    if G.is_multigraph():
        raise ValueError(f"multigraphs are not supported, got {type(G).__name__}; use nx.Graph with weights")
    nodes = tuple(G.nodes)
    A = nx.to_scipy_sparse_array(G, nodelist=list(nodes), weight=weight, format="csr", dtype=float)
    A.sort_indices()
    w = None
    if weight is not None:
        w = A.data.astype(np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"edge weights ({weight!r}) must be finite and >= 0, got min {w.min()!r}")
    coords = None
    if nodes and all("coord" in G.nodes[v] for v in nodes):
        coords = np.asarray([G.nodes[v]["coord"] for v in nodes], dtype=float)
    junction = np.asarray([bool(G.nodes[v].get("junction", False)) for v in nodes])
    return CSRGraph(A.indptr.astype(np.int64), A.indices.astype(np.int64), w, nodes, coords,
                    junction, G.is_directed())


def _checked(G, weight: str | None, lazy: float) -> CSRGraph:
    """CSR form of ``G`` after the checks every walk needs (empty, connected, lazy)."""
    if not (isinstance(lazy, (int, float)) and 0.0 <= lazy < 1.0):
        raise ValueError(f"lazy must be in [0, 1), got {lazy!r}")
    g = to_csr(G, weight)
    n = g.num_nodes
    strength = g.strength()
    if np.any(strength <= 0):
        i = int(np.argmin(strength))
        what = "the graph is disconnected: " if n > 1 else "nothing to walk on: "
        raise ValueError(f"{what}node {g.label(i)!r} has no (positive-weight) edges")
    ncomp, _ = sp.csgraph.connected_components(g.adjacency(), directed=g.directed, connection="strong")
    if ncomp != 1:
        kind = "strongly connected" if g.directed else "connected"
        raise ValueError(f"the graph is not {kind} ({ncomp} components), so the stationary law is not unique")
    return g


def _bfs_signs(g: CSRGraph) -> np.ndarray:
    """±1 by the parity of the breadth-first depth from node 0 (the two-colouring attempt)."""
    order, pred = sp.csgraph.breadth_first_order(g.adjacency(), 0, directed=g.directed, return_predecessors=True)
    return 1 - 2 * (_bfs_depth(order, pred) % 2)


def _is_bipartite(g: CSRGraph, signs: np.ndarray | None = None) -> bool:
    """Two-colourability by breadth-first search (the chain then has period 2)."""
    if g.num_self_loops:
        return False
    signs = _bfs_signs(g) if signs is None else signs
    rows = np.repeat(np.arange(g.num_nodes), np.diff(g.indptr))
    return bool(np.all(signs[rows] != signs[g.indices]))


@nb.njit(cache=True)
def _bfs_depth(order: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Depth of every node in a breadth-first tree, given the visiting order and parents."""
    depth = np.zeros(order.shape[0], dtype=np.int64)
    for v in order[1:]:
        depth[v] = depth[pred[v]] + 1
    return depth


def _warn_periodic(g: CSRGraph, lazy: float) -> str | None:
    if lazy == 0.0 and _is_bipartite(g):
        msg = ("the graph is bipartite, so the simple walk is periodic (period 2): the law at time t "
               "does not converge (time averages still do); use a lazy walk, e.g. lazy=0.5")
        warnings.warn(msg, SLTWarning, stacklevel=3)
        return msg
    return None


# ----------------------------------------------------------------------------------------
# builders
# ----------------------------------------------------------------------------------------
def intersecting_cycles(k: int, L: int) -> nx.Graph:
    """k cycles of L nodes each (the shared node included), glued at one node.

    Node 0 is the junction (attribute ``junction=True``, degree 2k); cycle ``c`` (0-based)
    consists of node 0 followed by ``1 + c (L-1) + j`` for ``j = 0..L-2``.  Every node has
    ``cycle`` (-1 for the junction), ``position`` (steps from the junction along its cycle)
    and ``coord``: the cycles drawn as the petals of the rose r = cos(kθ) / π around the
    junction at the origin (a circle of circumference 1 for k = 1).

    The stationary law of the simple walk is π(0) = 2k/(2kL) = 1/L and π(v) = 1/(kL)
    elsewhere: the junction carries k times the mass of any other node.

    Examples
    --------
    >>> G = intersecting_cycles(3, 5)
    >>> G.number_of_nodes(), G.degree[0]
    (13, 6)
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (number of cycles) must be an int >= 1, got {k!r}")
    if not isinstance(L, (int, np.integer)) or L < 3:
        raise ValueError(f"L (nodes per cycle) must be an int >= 3, got {L!r}")
    G = nx.Graph()
    G.add_node(0, junction=True, cycle=-1, position=0, coord=(0.0, 0.0))
    half_width = math.pi / (2 * k)  # the petals of the rose r = cos(kθ): disjoint but at 0
    for c in range(k):
        axis = 2 * math.pi * c / k
        prev = 0
        for j in range(1, L):
            v = 1 + c * (L - 1) + (j - 1)
            t = j / L
            r, phi = math.sin(math.pi * t) / math.pi, axis + half_width * (2 * t - 1)
            G.add_node(v, junction=False, cycle=c, position=min(j, L - j),
                       coord=(r * math.cos(phi), r * math.sin(phi)))
            G.add_edge(prev, v)
            prev = v
        G.add_edge(prev, 0)
    return G


def torus(shape: Sequence[int]) -> nx.Graph:
    """The periodic lattice Z_{n_1} x ... x Z_{n_d} (nearest neighbours), nodes = coordinates.

    Every node carries ``coord`` (its integer coordinates) and ``junction=False``.
    """
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 3 for s in shape):
        raise ValueError(f"torus shape must be a non-empty sequence of sides >= 3, got {shape!r}")
    return glued_tori(max(shape), [tuple(range(len(shape)))], shape=shape)


def glued_tori(n: int, components: Sequence[Sequence[int]], *, shape: Sequence[int] | None = None,
               sparse: bool = False) -> nx.Graph | CSRGraph:
    """Periodic sub-lattices of one ambient torus, glued where they meet.

    The ambient lattice is Z_n^D (or ``shape``); each component is the sub-torus through the
    origin spanned by the coordinate axes it lists.  Components share the nodes (and edges)
    of their intersection, so:

    - ``[(0, 1), (2,)]`` in D = 3: a plane and a line meeting at a point;
    - ``[(0, 1), (0, 2)]``: two planes meeting in a line (the x axis);
    - ``[(0, 1, 2), (3, 4, 5)]``: two 3-d tori glued at a single point.

    A node lying in two or more components has ``junction=True``.  Nodes are coordinate
    tuples (``coord`` attribute).  With ``sparse=True`` a :class:`CSRGraph` is returned
    directly (nodes numbered, coordinates in ``coords``), which is how a million-node
    lattice is built in a second without networkx.
    """
    comps = [tuple(sorted({int(a) for a in c})) for c in components]
    if not comps or any(not c for c in comps):
        raise ValueError(f"components must be a non-empty list of non-empty axis tuples, got {components!r}")
    dim = max(max(c) for c in comps) + 1
    sides = np.full(dim, int(n), dtype=np.int64) if shape is None else np.asarray(shape, dtype=np.int64)
    if sides.shape != (dim,) or np.any(sides < 3) or min(min(c) for c in comps) < 0:
        raise ValueError(f"need {dim} sides >= 3 and axes >= 0, got n={n!r}, shape={shape!r}, "
                         f"components={components!r}")
    radix = np.concatenate([np.cumprod(sides[::-1])[::-1][1:], [1]])  # mixed-radix code
    codes, comp_of = [], []
    for ci, axes in enumerate(comps):
        grids = np.meshgrid(*[np.arange(sides[a]) for a in axes], indexing="ij")
        x = np.zeros((grids[0].size, dim), dtype=np.int64)
        for a, g in zip(axes, grids):
            x[:, a] = g.ravel()
        codes.append(x @ radix)
        comp_of.append(np.full(x.shape[0], ci))
    all_codes = np.concatenate(codes)
    uniq, inverse, counts = np.unique(all_codes, return_inverse=True, return_counts=True)
    coords = (uniq[:, None] // radix) % sides
    src, dst = [], []
    offset = 0
    for axes, code in zip(comps, codes):
        x = (code[:, None] // radix) % sides
        idx = inverse[offset:offset + code.shape[0]]
        offset += code.shape[0]
        for a in axes:
            y = x.copy()
            y[:, a] = (y[:, a] + 1) % sides[a]
            src.append(idx)
            dst.append(np.searchsorted(uniq, y @ radix))
    src, dst = np.concatenate(src), np.concatenate(dst)
    N = uniq.shape[0]
    A = sp.coo_array((np.ones(2 * src.shape[0]), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
                     shape=(N, N)).tocsr()
    A.sum_duplicates()  # shared edges (in two components) become one edge
    A.sort_indices()
    g = CSRGraph(A.indptr.astype(np.int64), A.indices.astype(np.int64), None, None,
                 coords.astype(float), counts > 1)
    if sparse:
        return g
    G = g.to_networkx()
    return nx.relabel_nodes(G, {i: tuple(int(c) for c in coords[i]) for i in range(N)})


def zero_set_graph(f: Callable[[np.ndarray, np.ndarray], np.ndarray] | str, *, box: Sequence[float] = (-1.0, 1.0),
                   num: int = 101, largest_component: bool = True) -> nx.Graph:
    """The digital curve of the zero set {f(x, y) = 0} on a grid: a graph to walk on.

    The square ``box`` is cut into ``num`` x ``num`` pixels; a pixel is a node when ``f``
    changes sign strictly between its four corners or vanishes at its centre (so the curve
    passes through it).  Pixels sharing a side are joined; diagonal neighbours are joined
    only when no common side-neighbour is a node (a curve crossing a corner), which keeps
    straight and diagonal branches one pixel thick.  Nodes with more than two neighbours
    (branch points: the singular points of the curve, e.g. the origin of xy = 0 or of
    the node y² = x²(x+1)) get ``junction=True``.

    Parameters
    ----------
    f : vectorised callable f(x, y), or a string in x and y parsed by sympy
        (e.g. ``"y**2 - x**2*(x+1)"``).  f must change sign across its zero set (a reduced
        polynomial: use xy, not x²y²).
    box : (lo, hi) of the square grid.
    num : pixels per side (odd, so the origin is a pixel centre for a symmetric box).
    largest_component : keep only the largest connected component (a walk needs one).
    """
    if isinstance(f, str):
        import sympy

        x, y = sympy.symbols("x y")
        f = sympy.lambdify((x, y), sympy.sympify(f), "numpy")
    lo, hi = float(box[0]), float(box[1])
    if not (hi > lo) or num < 3:
        raise ValueError(f"need box lo < hi and num >= 3, got box={box!r}, num={num!r}")
    h = (hi - lo) / num
    corners = lo + h * np.arange(num + 1)
    cx, cy = np.meshgrid(corners, corners, indexing="ij")
    fc = np.broadcast_to(np.asarray(f(cx, cy), dtype=float), cx.shape)
    quad = np.stack([fc[:-1, :-1], fc[1:, :-1], fc[:-1, 1:], fc[1:, 1:]])
    centres = lo + h * (np.arange(num) + 0.5)
    mx, my = np.meshgrid(centres, centres, indexing="ij")
    fm = np.broadcast_to(np.asarray(f(mx, my), dtype=float), mx.shape)
    on = ((quad.min(0) < 0) & (quad.max(0) > 0)) | (fm == 0)
    G = nx.Graph()
    for i, j in zip(*np.nonzero(on)):
        G.add_node((int(i), int(j)), coord=(float(centres[i]), float(centres[j])))
    for i, j in list(G.nodes):
        for di, dj in ((1, 0), (0, 1)):
            if (i + di, j + dj) in G:
                G.add_edge((i, j), (i + di, j + dj))
        for di, dj in ((1, 1), (1, -1)):
            q = (i + di, j + dj)
            if q in G and (i + di, j) not in G and (i, j + dj) not in G:
                G.add_edge((i, j), q)
    if largest_component and G.number_of_nodes():
        G = G.subgraph(max(nx.connected_components(G), key=len)).copy()
    nx.set_node_attributes(G, {v: G.degree[v] > 2 for v in G}, "junction")
    return G


# ----------------------------------------------------------------------------------------
# exact answers
# ----------------------------------------------------------------------------------------
def transition_matrix(G, *, lazy: float = 0.0, weight: str | None = None) -> sp.csr_array:
    """P = lazy I + (1 - lazy) D⁻¹ A, rows = current node (order of :func:`to_csr`)."""
    g = _checked(G, weight, lazy)
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
    g = _checked(G, weight, lazy)
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
    g = _checked(G, weight, lazy)
    pi = stationary_vector(g, lazy=lazy, method=method)
    return dict(zip(g.labels(), pi.tolist()))


def expected_return_time(G, node: Hashable, *, lazy: float = 0.0, weight: str | None = None) -> float:
    """E_v[τ_v⁺] = 1/π(v) (Kac's lemma; Levin, Peres & Wilmer 2017, Prop. 1.19).

    For k glued cycles of L nodes: L at the junction, kL at any other node.
    """
    g = _checked(G, weight, lazy)
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
    g = _checked(G, weight, lazy)
    if g.directed:
        raise ValueError("spectral_gap needs an undirected graph (a reversible walk)")
    msgs = [_warn_periodic(g, lazy)]
    s = g.strength()
    dinv = 1.0 / np.sqrt(s)
    S = (sp.diags_array(dinv) @ g.adjacency() @ sp.diags_array(dinv)).tocsr()
    n = g.num_nodes
    if n <= _DENSE_MAX:
        ev = np.linalg.eigvalsh(S.toarray())
        mu2, mumin = ev[-2], ev[0]
    else:
        phi = np.sqrt(s / s.sum())
        eye = sp.eye_array(n, format="csr")
        nu2, resid = _lowest_eigenvalue(eye - S, phi, tol, deflate=True)
        mu2 = 1.0 - nu2
        resids = {"λ₂": resid}
        signs = _bfs_signs(g)
        if _is_bipartite(g, signs):
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


_LOBPCG_MAXITER = 500


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
                            maxiter=_LOBPCG_MAXITER, largest=False)
    x = x[:, 0] / np.linalg.norm(x[:, 0])
    return float(nu[0]), float(np.linalg.norm(M @ x - nu[0] * x))


# ----------------------------------------------------------------------------------------
# the fast walker
# ----------------------------------------------------------------------------------------
@nb.njit(inline="always", cache=True)
def _pick(cum: np.ndarray, lo: int, hi: int, target: float) -> int:
    """Smallest index i in [lo, hi) with cum[i] > target (binary search)."""
    last = hi - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, last)


_GROUP = 16  # walkers of a tile advanced in lock-step: their independent chains overlap in the CPU
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_TWO32 = np.uint64(1 << 32)


@nb.njit(inline="always", cache=True)
def _below(s: np.uint64, z: np.uint64, deg: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Uniform integer in [0, deg) from the high 32 bits of ``z`` (Lemire 2019, exact).

    m = x·deg with x = z >> 32; m >> 32 is uniform once the few x with (m mod 2³²) below
    2³² mod deg are rejected (probability < deg/2³²); a rejection draws again from ``s``.
    """
    m = (z >> _S32) * deg
    if (m & _LO32) < deg:
        t = (_TWO32 - deg) % deg
        while (m & _LO32) < t:
            s, z = next_u64(s)
            m = (z >> _S32) * deg
    return s, m >> _S32


@nb.njit(inline="always", cache=True)
def _advance(indptr, targets, cum, stay, s, v, mode):
    """One step of one walker (counter ``s``, node ``v``); ``mode`` (a constant at each call
    site, so the compiler drops the other branches): 0 simple, 1 lazy, 2 weighted.

    One 64-bit draw z: the walker holds when (z mod 2³²) < ``stay`` and otherwise moves to
    neighbour number ⌊(z >> 32)·deg / 2³²⌋ (:func:`_below`); a weighted move draws a uniform
    u and searches the cumulative weights.  ``targets`` holds the neighbour lists, then each
    node itself at E + v, so a lazy hold is the move to slot E + v, chosen without a branch
    (a coin flip is unpredictable).
    """
    s, z = next_u64(s)
    a = indptr[v]
    b = indptr[v + _ONE]
    if mode == 2:
        if (z & _LO32) >= stay:
            s, u = uniform(s)
            lo, hi = np.int64(a), np.int64(b)
            base = cum[lo - 1] if lo > 0 else 0.0
            v = targets[_pick(cum, lo, hi, base + u * (cum[hi - 1] - base))]
        return s, v
    s, k = _below(s, z, b - a)
    if mode == 0:
        return s, targets[a + k]
    return s, targets[indptr[-1] + v if (z & _LO32) < stay else a + k]


@nb.njit(inline="always", cache=True)
def _advance_group(indptr, targets, cum, stay, num_steps, burnin, st, pos, size, cnt, tracked, first, stride,
                   mode):
    """``burnin`` uncounted then ``num_steps`` counted steps of walkers first + j·stride,
    j < size, in lock-step (their independent chains overlap in the CPU pipeline).  Tracked
    nodes are numbered first, so node v is tracked iff v < tracked.shape[1]."""
    n_track = np.uint64(tracked.shape[1])
    for _ in range(burnin):
        for j in range(size):
            st[j], pos[j] = _advance(indptr, targets, cum, stay, st[j], pos[j], mode)
    for _ in range(num_steps):
        for j in range(size):
            s, v = _advance(indptr, targets, cum, stay, st[j], pos[j], mode)
            st[j] = s
            pos[j] = v
            cnt[v] += 1
            if v < n_track:
                tracked[first + j * stride, v] += 1


@nb.njit(parallel=True, cache=True)
def _walk(indptr, targets, cum, start_cum, start, keys, num_steps, burnin, stay, counts, tracked, final):
    """Advance every walker; tile t owns walkers t, t + T, t + 2T, ... and counts[t].

    A tile moves its walkers in groups of ``_GROUP`` (:func:`_advance_group`); the step
    (:func:`_advance`) is specialised to simple, lazy or weighted walks outside the loops.
    ``indptr`` and ``targets`` are uint64 so that indexing needs no negative-index fix-up.
    """
    n_tiles = counts.shape[0]
    W = keys.shape[0]
    mode = 2 if cum.shape[0] > 0 else 0 if stay == 0 else 1
    for t in nb.prange(n_tiles):
        cnt = counts[t]
        st = np.empty(_GROUP, dtype=np.uint64)
        pos = np.empty(_GROUP, dtype=np.uint64)
        for first in range(t, W, n_tiles * _GROUP):
            size = min(_GROUP, (W - first + n_tiles - 1) // n_tiles)
            for j in range(size):
                s = keys[first + j * n_tiles]
                if start >= 0:
                    pos[j] = start
                else:  # a draw from the stationary law: ∝ strength
                    s, u = uniform(s)
                    pos[j] = _pick(start_cum, 0, start_cum.shape[0], u * start_cum[-1])
                st[j] = s
            if mode == 0:
                _advance_group(indptr, targets, cum, stay, num_steps, burnin, st, pos, size, cnt, tracked, first,
                               n_tiles, 0)
            elif mode == 1:
                _advance_group(indptr, targets, cum, stay, num_steps, burnin, st, pos, size, cnt, tracked, first,
                               n_tiles, 1)
            else:
                _advance_group(indptr, targets, cum, stay, num_steps, burnin, st, pos, size, cnt, tracked, first,
                               n_tiles, 2)
            for j in range(size):
                final[first + j * n_tiles] = pos[j]


@dataclass(frozen=True)
class WalkResult:
    """Output of :func:`simulate_walk`.

    Attributes
    ----------
    visits : dict node -> number of visits over all walkers and all steps after burn-in.
    counts : the same counts as an array in node order (``nodes``).
    nodes : node labels in index order.
    track : the tracked nodes.
    tracked : (walkers, len(track)) visits of each walker to each tracked node: the
        independent replicates behind the confidence intervals of :func:`visit_ratio`.
    final : (walkers,) node index of each walker after the last step.
    num_walkers, num_steps, burnin, lazy, seed : the settings.
    warnings : messages emitted (e.g. a periodic chain).
    """

    visits: dict
    counts: np.ndarray
    nodes: list
    track: tuple
    tracked: np.ndarray
    final: np.ndarray
    num_walkers: int
    num_steps: int
    burnin: int
    lazy: float
    seed: int
    warnings: tuple[str, ...] = ()

    def frequencies(self) -> np.ndarray:
        """Empirical visit frequencies (sum to 1), node order."""
        return self.counts / self.counts.sum()


def simulate_walk(G, *, num_walkers: int, num_steps: int, lazy: float = 0.0, burnin: int = 0,
                  seed: int | np.random.Generator | None = None, weight: str | None = None,
                  start: Hashable | None = None, track: Sequence[Hashable] | None = None) -> WalkResult:
    """Run ``num_walkers`` independent (lazy) random walks on ``G`` and count the visits.

    Each step a walker stays put with probability ``lazy``, otherwise moves to a neighbour
    chosen uniformly (exactly, by Lemire's rejection) or ∝ edge weight.  The graph is
    converted once to CSR arrays, the tracked nodes numbered first; the ensemble runs in a
    numba ``prange`` loop over fixed walker tiles, walker ``w`` drawing from its own
    counter-based stream (:mod:`slt.sampling.rng`), so the counts are bit-identical for any
    number of threads.  Paths are never stored: every position after the first ``burnin``
    steps adds one visit.

    Parameters
    ----------
    G : networkx graph or CSRGraph, connected and non-empty.
    num_walkers, num_steps : ensemble size and recorded steps per walker.
    lazy : holding probability in [0, 1) (used as the nearest multiple of 2⁻³², which is
        exact for dyadic values such as 1/2).
    burnin : steps per walker before counting.
    seed : int or numpy Generator.
    weight : edge attribute for a weighted walk.
    start : a node every walker starts from; default: independent draws from the stationary
        law (so counts are unbiased from the first step and walkers are i.i.d. replicates).
    track : nodes whose visits are also recorded per walker (default: the junction nodes).

    Returns
    -------
    WalkResult

    Raises
    ------
    ValueError
        Empty or disconnected graph, bad sizes, lazy ∉ [0, 1), unknown start or tracked node,
        a node tracked twice.
    """
    for name, val, least in (("num_walkers", num_walkers, 1), ("num_steps", num_steps, 1), ("burnin", burnin, 0)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < least:
            raise ValueError(f"{name} must be an int >= {least}, got {val!r}")
    g = _checked(G, weight, lazy)
    if g.directed:
        raise ValueError("simulate_walk needs an undirected graph")
    msg = _warn_periodic(g, lazy)
    n = g.num_nodes
    if start is not None:
        g.index(start)  # ValueError for an unknown node
    if track is None:
        track = tuple(g.label(i) for i in np.flatnonzero(g.junction)) if g.junction is not None else ()
    track = tuple(track)
    ids = [g.index(v) for v in track]
    if len(set(ids)) != len(ids):
        raise ValueError(f"track lists a node twice: {track!r}")
    order = np.concatenate([ids, np.setdiff1d(np.arange(n), ids)]).astype(np.int64)  # tracked nodes first
    A = g.adjacency()[order][:, order].tocsr() if ids else g.adjacency()
    A.sort_indices()
    cum = np.cumsum(A.data) if g.weights is not None else np.empty(0)
    start_cum = np.cumsum(g.strength()[order])
    s = seed_to_int(seed)
    keys = stream_keys(s, num_walkers)
    tiles = int(max(1, min(NUM_TILES, num_walkers, _TILE_BYTES // (8 * n))))
    counts = np.zeros((tiles, n), dtype=np.int64)
    tracked = np.zeros((num_walkers, len(track)), dtype=np.int64)
    final = np.empty(num_walkers, dtype=np.uint64)
    stay = np.uint64(min(round(lazy * 2**32), 2**32 - 1))  # holding probability stay / 2³²
    targets = np.concatenate([A.indices, np.arange(n)]).astype(np.uint64)  # neighbours, then each node
    start_i = -1 if start is None else int(np.flatnonzero(order == g.index(start))[0])
    _walk(A.indptr.astype(np.uint64), targets, cum, start_cum, start_i, keys, int(num_steps), int(burnin), stay,
          counts, tracked, final)
    total = np.empty(n, dtype=np.int64)
    total[order] = counts.sum(axis=0)
    final = order[final.astype(np.int64)]
    labels = g.labels()
    return WalkResult(dict(zip(labels, total.tolist())), total, labels, track, tracked, final,
                      int(num_walkers), int(num_steps), int(burnin), float(lazy), s, (msg,) if msg else ())


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio of visit frequencies with its standard error and a normal confidence interval."""

    value: float
    stderr: float
    low: float
    high: float
    level: float

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


def visit_ratio(result: WalkResult, node: Hashable | None = None, *, level: float = 0.95) -> RatioEstimate:
    """Visits per step at ``node`` over the mean visits per step at one of the other nodes.

    With c_w the visits of walker w to ``node`` (a tracked node; default the first) and S
    the recorded steps per walker, the estimate is R = (n − 1) c̄ / (S − c̄); the walkers are
    independent replicates, so by the delta method SE(R) = (n − 1) S / (S − c̄)² · sd(c)/√W.
    For k glued cycles the exact value at the junction is π(0)/π(v) = k.
    """
    if not result.track:
        raise ValueError("the result tracks no node; pass track=[...] to simulate_walk")
    j = 0 if node is None else result.track.index(node) if node in result.track else -1
    if j < 0:
        raise ValueError(f"node {node!r} was not tracked (tracked: {result.track!r})")
    if result.num_walkers < 2:
        raise ValueError("a confidence interval needs num_walkers >= 2")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    from scipy.stats import norm

    c = result.tracked[:, j].astype(float)
    S, n, W = result.num_steps, len(result.nodes), c.shape[0]
    m = c.mean()
    value = (n - 1) * m / (S - m)
    se = (n - 1) * S / (S - m) ** 2 * c.std(ddof=1) / math.sqrt(W)
    z = float(norm.ppf(0.5 + level / 2))
    return RatioEstimate(float(value), float(se), float(value - z * se), float(value + z * se), level)


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


def junction_ratio_sweep(ks: Sequence[int], L: int, *, num_walkers: int, num_steps: int, lazy: float = 0.0,
                         seed: int | np.random.Generator | None = None, level: float = 0.95) -> list[dict]:
    """Junction-to-regular visit ratio of :func:`simulate_walk` on ``intersecting_cycles(k, L)``
    for each k, with the exact value k and a confidence interval from independent walkers."""
    gen = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    rows = []
    for k in ks:
        res = simulate_walk(intersecting_cycles(int(k), L), num_walkers=num_walkers, num_steps=num_steps,
                            lazy=lazy, seed=gen)
        est = visit_ratio(res, 0, level=level)
        rows.append({"k": int(k), "exact": float(k), "ratio": est.value, "stderr": est.stderr,
                     "low": est.low, "high": est.high, "covers": est.covers(k)})
    return rows


def continuum_limit(k: int, Ls: Sequence[int] = (10, 100, 1000, 10_000), radius: float = 0.1) -> list[dict]:
    """:func:`ball_masses` along L → ∞ (step 1/L): what survives and what does not.

    Survives: the ball ratio k (the number of branches through the junction, a
    density-of-states effect: the continuum law is arc length on k unit circles, and a ball
    around the junction meets 2k half-branches instead of 2).  Vanishes: the mass 1/L of
    the junction node itself and its share 1/(1 + 2⌊rL⌋) of its ball (no atom survives).
    """
    return [ball_masses(k, int(L), radius) for L in Ls]
