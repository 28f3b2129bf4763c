"""Nested sampling of the prior mass below a level: V(ε) = φ{K < ε} down to ε ~ 10⁻¹⁰ and beyond.

N live points are drawn from the prior φ.  Each iteration removes the b live points of largest
K (the dead points, levels K_i) and replaces them by points drawn from φ restricted to
{K < K_last}, the smallest removed level.  While n points are live, the i-th removal shrinks the
enclosed prior mass by t ~ Beta(n, 1), so

    log X_i = Σ_{j ≤ i} log t_j,   E = −Σ 1/n_j,   Var = Σ 1/n_j²,

which for one point at a time is log X_i ≈ −i/N with statistical error √i/N (Skilling 2006,
*Nested sampling for general Bayesian computation*, Bayesian Analysis 1, 833); removing b at
once lets n run over N, N−1, …, N−b+1 (the "parallel" scheme of Henderson & Goggans 2014).
X_i = V(K_i) is read off the run.

The replacements start from copies of random surviving live points and take ``num_steps``
slice-sampling updates (Neal 2003, *Slice sampling*, Ann. Statist. 31, 705: stepping out and
shrinkage) of φ on {K < K_last}, all b walkers at once.  Each update moves along a direction
drawn independently of the walker: a coordinate axis scaled by the live points' spread, or the
difference of two live points (the differential move of ensemble slice sampling, Karamanis &
Beutler 2021), which follows the thin, curved low-loss sets of singular K.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from slt.volume.priors import Prior

__all__ = ["NestedRun", "evolve", "nested_run"]

MAX_SHRINK = 64  # shrinkage steps before a walker keeps its point (bracket shrunk by ~2^-60)
STEP_OUT = 8  # Neal's m: at most this many widths of stepping out
SHRINK_BLOCK = 4  # shrinkage proposals evaluated per call and walker


@dataclass(frozen=True)
class NestedRun:
    """One nested-sampling run.

    Attributes
    ----------
    log_k : (n,) log of the dead points' levels K_i, decreasing.
    num_live : (n,) live points when each dead point was removed (its t ~ Beta(num_live, 1)).
    log_x : (n,) E[log X_i] = −Σ 1/num_live; ``log_x_var`` its variance Σ 1/num_live².
    evaluations : points at which K was evaluated; ``calls`` the batched calls of K.
    reached : the smallest level reached (the final constraint).
    seconds : wall time.
    moved : mean fraction of slice updates that moved a walker (1 unless shrinkage gave up).
    """

    log_k: np.ndarray
    num_live: np.ndarray
    evaluations: int
    calls: int
    reached: float
    seconds: float
    moved: float

    @property
    def log_x(self) -> np.ndarray:
        return -np.cumsum(1.0 / self.num_live)

    @property
    def log_x_var(self) -> np.ndarray:
        return np.cumsum(1.0 / self.num_live.astype(float) ** 2)

    def log_volume(self, log_eps: np.ndarray, log_x: np.ndarray | None = None) -> np.ndarray:
        """log V at the levels ``log_eps`` (NaN outside the levels the run passed), interpolated
        between dead points in (log K, log X); ``log_x`` replaces the expected log X (bootstrap)."""
        lx = self.log_x if log_x is None else log_x
        k = self.log_k[::-1]  # increasing
        out = np.interp(log_eps, k, lx[::-1])
        return np.where((log_eps >= k[0]) & (log_eps <= k[-1]), out, np.nan)

    def log_x_draws(self, rng: np.random.Generator, num: int) -> np.ndarray:
        """(num, n) draws of the log X sequence: log t_i = −Exp(1)/num_live_i (the run's
        statistical error given its levels)."""
        return -np.cumsum(rng.exponential(size=(num, self.num_live.size)) / self.num_live, axis=1)


class _Counter:
    """K evaluated on the rows the slice needs, with a running count."""

    def __init__(self, loss: Callable[[np.ndarray], np.ndarray], prior: Prior):
        self.loss, self.prior, self.count, self.calls = loss, prior, 0, 0

    def inside(self, W: np.ndarray, logu: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """(in the slice, K) for the rows of W: φ(w) above the slice level and K(w) < eps."""
        ok = self.prior.log_density(W) > logu
        K = np.full(W.shape[0], np.inf)
        if ok.any():
            K[ok] = self.loss(W[ok])
            self.count += int(ok.sum())
            self.calls += 1
        return ok & (K < eps), K


def _directions(rng: np.random.Generator, live: np.ndarray, b: int) -> np.ndarray:
    """b directions, each independent of the walkers: half coordinate axes scaled by 2 × the live
    points' spread there, half differences of two distinct live points."""
    n, d = live.shape
    out = np.zeros((b, d))
    spread = 2.0 * live.std(axis=0)
    spread = np.where(spread > 0, spread, max(float(spread.max()), 1e-300))
    axis = rng.random(b) < 0.5
    j = rng.integers(0, d, size=b)
    rows = np.flatnonzero(axis)
    out[rows, j[rows]] = spread[j[rows]]
    diff = np.flatnonzero(~axis)
    if n >= 2 and diff.size:
        a = rng.integers(0, n, size=diff.size)
        c = (a + rng.integers(1, n, size=diff.size)) % n
        out[diff] = live[a] - live[c]
    zero = ~np.any(out != 0, axis=1)
    out[zero, j[zero]] = spread[j[zero]]
    return out


def evolve(rng: np.random.Generator, W: np.ndarray, K: np.ndarray, ensemble: np.ndarray, eps: float,
           num_steps: int, counter: _Counter) -> tuple[np.ndarray, np.ndarray, int]:
    """``num_steps`` slice-sampling updates of every row of W on φ restricted to {K < eps}.

    Each update: a direction from :func:`_directions` (``ensemble``: the surviving live points),
    the slice level log φ(w) − Exp(1), stepping out (width 1 in units of the direction, at most
    :data:`STEP_OUT` widths) and shrinkage (Neal 2003, Figs. 3 and 5).  The procedure is Neal's,
    evaluated in blocks: the whole stepping out in one call (the positions past the first one
    outside the slice are ignored), the shrinkage :data:`SHRINK_BLOCK` proposals at a time (each
    drawn from the interval its predecessors' rejections leave; those after the first acceptance
    are ignored).  Every call of K takes the next block of every walker with updates left, so the
    calls number a few per update, whatever the walkers' stages.  Returns the points, their K
    and the number of updates whose shrinkage gave up (:data:`MAX_SHRINK` proposals).
    """
    b = W.shape[0]
    W, K = W.copy(), K.copy()
    todo = np.full(b, num_steps)
    dirs, logu = np.zeros_like(W), np.zeros(b)
    left, right = np.zeros(b), np.zeros(b)
    widths = np.zeros((b, 2), dtype=int)  # stepping-out widths allowed on each side
    shrinking = np.zeros(b, dtype=bool)
    shrinks = np.zeros(b, dtype=int)
    steps = np.arange(STEP_OUT)
    gave_up = 0

    def begin(idx: np.ndarray) -> None:
        n = idx.size
        dirs[idx] = _directions(rng, ensemble, n)
        logu[idx] = counter.prior.log_density(W[idx]) - rng.exponential(size=n)
        left[idx] = -rng.random(n)
        right[idx] = left[idx] + 1.0
        widths[idx, 0] = np.floor(STEP_OUT * rng.random(n)).astype(int)
        widths[idx, 1] = STEP_OUT - 1 - widths[idx, 0]
        shrinking[idx] = False
        shrinks[idx] = 0

    begin(np.arange(b))
    while True:
        act = np.flatnonzero(todo > 0)
        if act.size == 0:
            return W, K, gave_up
        out, shr = act[~shrinking[act]], act[shrinking[act]]
        # the stepping-out block: left − j and right + j for j below each side's widths
        t_out = np.concatenate([left[out, None] - steps, right[out, None] + steps], axis=1)
        m_out = np.concatenate([steps < widths[out, :1], steps < widths[out, 1:]], axis=1)
        # the shrinkage block: proposals each drawn from the interval the previous rejections leave
        t_shr = np.empty((shr.size, SHRINK_BLOCK))
        lo, hi = left[shr].copy(), right[shr].copy()
        for j in range(SHRINK_BLOCK):
            t_shr[:, j] = lo + rng.random(shr.size) * (hi - lo)
            lo, hi = np.where(t_shr[:, j] < 0, t_shr[:, j], lo), np.where(t_shr[:, j] >= 0, t_shr[:, j], hi)
        rows_o, cols_o = np.nonzero(m_out)
        walker = np.concatenate([out[rows_o], np.repeat(shr, SHRINK_BLOCK)])
        t = np.concatenate([t_out[rows_o, cols_o], t_shr.reshape(-1)])
        pts = W[walker] + t[:, None] * dirs[walker]
        ok, k = counter.inside(pts, logu[walker], eps)
        n_o = rows_o.size
        ok_out = np.zeros(m_out.shape, dtype=bool)
        ok_out[rows_o, cols_o] = ok[:n_o]
        left[out] -= np.cumprod(ok_out[:, :STEP_OUT], axis=1).sum(axis=1)
        right[out] += np.cumprod(ok_out[:, STEP_OUT:], axis=1).sum(axis=1)
        shrinking[out] = True
        ok_s = ok[n_o:].reshape(shr.size, SHRINK_BLOCK)
        hit = ok_s.any(axis=1)
        first = np.argmax(ok_s, axis=1)
        acc, j = shr[hit], n_o + np.flatnonzero(hit) * SHRINK_BLOCK + first[hit]
        W[acc], K[acc] = pts[j], k[j]
        miss = shr[~hit]
        left[miss], right[miss] = lo[~hit], hi[~hit]
        shrinks[miss] += SHRINK_BLOCK
        stuck = miss[shrinks[miss] >= MAX_SHRINK]
        gave_up += stuck.size
        finished = np.concatenate([acc, stuck])
        todo[finished] -= 1
        again = finished[todo[finished] > 0]
        if again.size:
            begin(again)


def nested_run(loss: Callable[[np.ndarray], np.ndarray], prior: Prior, *, num_live: int, batch: int,
               num_steps: int, eps_min: float, rng: np.random.Generator, max_iter: int = 100_000,
               progress: Callable[[float], None] | None = None) -> NestedRun:
    """Run nested sampling until the constraint level falls below ``eps_min`` (see the module doc).

    Parameters
    ----------
    loss : K(W) for rows W (k, d).
    prior : the prior φ (:func:`slt.volume.priors.make_prior`).
    num_live : N live points; ``batch`` b of them replaced per iteration (1 ≤ b < N).
    num_steps : slice updates per replacement.
    eps_min : stop once the level is below it (> 0).
    rng : numpy Generator.
    max_iter : iterations at most.
    progress : called with the current level after every iteration.

    Example
    -------
    >>> from slt.volume.priors import make_prior
    >>> run = nested_run(lambda W: (W**2).sum(1), make_prior([0.0], box=1.0), num_live=50, batch=10,
    ...                  num_steps=5, eps_min=1e-4, rng=np.random.default_rng(0))
    >>> bool(run.reached < 1e-4)
    True
    """
    t0 = time.perf_counter()
    counter = _Counter(loss, prior)
    live = prior.sample(rng, num_live)
    k = np.asarray(loss(live), dtype=float)
    counter.count += num_live
    if not np.all(np.isfinite(k)):
        raise ValueError(f"K is not finite at {int((~np.isfinite(k)).sum())} prior draws (e.g. {live[~np.isfinite(k)][0]})")
    levels, counts, moved, tried = [], [], 0, 0
    level = math.inf
    for _ in range(max_iter):
        order = np.argsort(k)[::-1]
        dead, keep = order[:batch], order[batch:]
        levels.append(k[dead])
        counts.append(num_live - np.arange(batch))
        level = float(k[dead[-1]])
        if progress is not None:
            progress(level)
        if level <= eps_min:
            break
        survivors = live[keep]
        start = rng.integers(0, survivors.shape[0], size=batch)
        W, Kw, stuck = evolve(rng, survivors[start], k[keep][start], survivors, level, num_steps, counter)
        moved += batch * num_steps - stuck
        tried += batch * num_steps
        live[dead], k[dead] = W, Kw
    with np.errstate(divide="ignore"):
        log_k = np.log(np.concatenate(levels))
    return NestedRun(log_k=log_k, num_live=np.concatenate(counts), evaluations=counter.count, calls=counter.calls,
                     reached=level,
                     seconds=time.perf_counter() - t0, moved=moved / max(tried, 1))
