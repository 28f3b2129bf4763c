"""The numba ensemble walker: many independent (lazy, weighted) random walks, counted visits.

:func:`simulate_walk` runs the walkers on CSR arrays in a numba ``prange`` loop over fixed
walker tiles, one counter-based RNG stream per walker (:mod:`slt.sampling.rng`), so the
counts are bit-identical for any thread count; paths are never stored.  Neighbours are
drawn exactly uniformly by Lemire's rejection (:func:`uniform_below`; Lemire 2019).
:func:`visit_ratio` turns the per-walker visits into a ratio with a delta-method confidence
interval; :func:`junction_ratio_sweep` checks the junction ratio k of glued cycles
(π(0)/π(v) = k, Levin, Peres & Wilmer 2017, §1.5).

Examples
--------
>>> from slt.lattices.graphs import intersecting_cycles
>>> res = simulate_walk(intersecting_cycles(3, 7), num_walkers=8, num_steps=100, seed=0)
>>> int(res.counts.sum())
800
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

import numba as nb
import numpy as np

from slt.lattices.graphs import checked_csr, intersecting_cycles, warn_periodic
from slt.sampling.driver import NUM_TILES
from slt.sampling.rng import next_u64, seed_to_int, stream_keys, uniform

__all__ = ["WalkResult", "simulate_walk", "RatioEstimate", "visit_ratio", "junction_ratio_sweep",
           "uniform_below"]

_TILE_BYTES = 1 << 27  # memory cap for the per-tile visit counters (128 MiB)


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
def uniform_below(s: np.uint64, z: np.uint64, deg: np.uint64) -> tuple[np.uint64, np.uint64]:
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
    neighbour number ⌊(z >> 32)·deg / 2³²⌋ (:func:`uniform_below`); a weighted move draws a uniform
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
    s, k = uniform_below(s, z, b - a)
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
    g = checked_csr(G, weight, lazy)
    if g.directed:
        raise ValueError("simulate_walk needs an undirected graph")
    msg = warn_periodic(g, lazy)
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
