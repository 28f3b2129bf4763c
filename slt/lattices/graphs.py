"""Graphs to walk on: the CSR form every walk and solver uses, and the lattice builders.

A simple random walk on a connected graph has the stationary law π(v) = deg(v) / 2|E|
(Levin, Peres & Wilmer 2017, §1.5), so k cycles glued at one node put k times the mass of
any other node on the shared node.  The builders return networkx graphs with coordinates
as node attributes: :func:`intersecting_cycles` (the seed post's polygons), :func:`torus`
and :func:`glued_tori` (periodic lattices glued at a point or along a shared sub-lattice)
and :func:`zero_set_graph` (the digital curve of a polynomial's zero set on a grid).
:class:`CSRGraph` is the array form (what the large builders return with ``sparse=True``,
so a million-node lattice never needs networkx); :func:`checked_csr` converts and checks a
graph once for the exact solvers (:mod:`slt.lattices.exact`) and the walker
(:mod:`slt.lattices.walk`).

Examples
--------
>>> g = to_csr(intersecting_cycles(3, 5))
>>> g.num_nodes, g.num_edges
(13, 15)
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

from slt.errors import SLTWarning

__all__ = ["CSRGraph", "to_csr", "checked_csr", "bfs_signs", "is_bipartite", "warn_periodic",
           "intersecting_cycles", "torus", "glued_tori", "zero_set_graph"]


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
    """Label -> index of ``nodes``, cached for the last tuple seen (lookups on one graph repeat)."""
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


def checked_csr(G, weight: str | None, lazy: float) -> CSRGraph:
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


def bfs_signs(g: CSRGraph) -> np.ndarray:
    """±1 by the parity of the breadth-first depth from node 0 (the two-colouring attempt)."""
    order, pred = sp.csgraph.breadth_first_order(g.adjacency(), 0, directed=g.directed, return_predecessors=True)
    return 1 - 2 * (_bfs_depth(order, pred) % 2)


def is_bipartite(g: CSRGraph, signs: np.ndarray | None = None) -> bool:
    """Two-colourability by breadth-first search (the chain then has period 2)."""
    if g.num_self_loops:
        return False
    signs = bfs_signs(g) if signs is None else signs
    rows = np.repeat(np.arange(g.num_nodes), np.diff(g.indptr))
    return bool(np.all(signs[rows] != signs[g.indices]))


@nb.njit(cache=True)
def _bfs_depth(order: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Depth of every node in a breadth-first tree, given the visiting order and parents."""
    depth = np.zeros(order.shape[0], dtype=np.int64)
    for v in order[1:]:
        depth[v] = depth[pred[v]] + 1
    return depth


def warn_periodic(g: CSRGraph, lazy: float) -> str | None:
    """Warn (and return the message) when the simple walk on ``g`` is periodic: bipartite and
    ``lazy == 0``, so the law at time t oscillates (Levin, Peres & Wilmer 2017, §1.3); else None."""
    if lazy == 0.0 and is_bipartite(g):
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
