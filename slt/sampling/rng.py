"""Counter-based random streams for numba kernels: one stream per walker.

Each walker ``w`` owns a 64-bit counter ``state[w]``; draw ``k`` of that stream is
``mix64(key_w + k * GOLDEN)`` (SplitMix64, Steele, Lea & Flood 2014), with the key derived
from ``(seed, w)``.  A walker's numbers therefore depend only on the seed and the walker
index, never on which thread runs it: results are bit-identical for any thread count.

Normal variates use the 256-layer ziggurat of Marsaglia & Tsang (2000), in the
double-precision form of Doornik (2005): one 64-bit draw per variate on ~99% of calls.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S11 = np.uint64(11)
_MASK8 = np.uint64(0xFF)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
_INV52 = 1.0 / 4503599627370496.0  # 2**-52

# --- ziggurat tables (Doornik 2005, "An Improved Ziggurat Method", 256 layers) ----------
_ZIG_N = 256
_ZIG_R = 3.6541528853610088
_ZIG_V = 0.00492867323399


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    x = np.empty(_ZIG_N + 1)
    f = math.exp(-0.5 * _ZIG_R * _ZIG_R)
    x[0] = _ZIG_V / f
    x[1] = _ZIG_R
    x[_ZIG_N] = 0.0
    for i in range(2, _ZIG_N):
        x[i] = math.sqrt(-2.0 * math.log(_ZIG_V / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    ratio = x[1:] / x[:-1]
    return x, ratio


ZIG_X, ZIG_RATIO = _ziggurat_tables()


@nb.njit(inline="always", cache=True)
def mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 output function (a bijective 64-bit mixer)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


#: offset of the streams that draw a run's initial velocities: walker w's is stream
#: ``VELOCITY_STREAMS + w`` of the seed, never one of the step streams 0, …, n − 1
VELOCITY_STREAMS = 1 << 62


def stream_keys(seed: int, n: int, offset: int = 0) -> np.ndarray:
    """Initial counters for ``n`` streams ``offset, ..., offset+n-1`` of ``seed``.

    ``seed`` is a non-negative integer already reduced by :func:`seed_to_int`.
    """
    base = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    idx = np.arange(offset, offset + n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _keys(base, idx)


@nb.njit(cache=True)
def _keys(base, idx):
    out = np.empty(idx.shape[0], dtype=np.uint64)
    b = mix64(base + GOLDEN)
    for i in range(idx.shape[0]):
        out[i] = mix64(b ^ mix64(idx[i] * _M2 + GOLDEN))
    return out


def seed_to_int(seed: int | np.random.Generator | None) -> int:
    """Reduce a user seed (int, numpy ``Generator`` or None) to a 64-bit integer.

    None draws fresh entropy; a Generator is advanced by one draw.
    """
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if isinstance(seed, (bool, float)) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative int or numpy Generator, got {seed!r}")
    return int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0])


@nb.njit(inline="always", cache=True)
def next_u64(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Return ``(new_state, random 64-bit integer)``."""
    state = state + GOLDEN
    return state, mix64(state)


@nb.njit(inline="always", cache=True)
def uniform(state: np.uint64) -> tuple[np.uint64, float]:
    """Return ``(new_state, u)`` with u uniform on [0, 1) (53 random bits)."""
    state, z = next_u64(state)
    return state, (z >> _S11) * _INV53


@nb.njit(inline="always", cache=True)
def uniform_open(state: np.uint64) -> tuple[np.uint64, float]:
    """Return ``(new_state, u)`` with u uniform on (0, 1] (safe for ``log``)."""
    state, z = next_u64(state)
    return state, ((z >> _S11) + 1) * _INV53


@nb.njit(cache=True)
def _normal_slow(state: np.uint64, i: int, u: float) -> tuple[np.uint64, float]:
    if i == 0:  # tail beyond R (Marsaglia 1964)
        while True:
            state, u1 = uniform_open(state)
            state, u2 = uniform_open(state)
            xt = math.log(u1) / _ZIG_R
            yt = math.log(u2)
            if -2.0 * yt >= xt * xt:
                break
        return state, (xt - _ZIG_R) if u < 0.0 else (_ZIG_R - xt)
    x = u * ZIG_X[i]
    f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
    f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
    state, u3 = uniform(state)
    if f1 + u3 * (f0 - f1) < 1.0:
        return state, x
    return normal(state)


@nb.njit(inline="always", cache=True)
def normal(state: np.uint64) -> tuple[np.uint64, float]:
    """Return ``(new_state, z)`` with z ~ N(0, 1) (ziggurat, 256 layers)."""
    state, z = next_u64(state)
    i = np.intp(z & _MASK8)
    u = (z >> _S11) * _INV52 - 1.0
    if abs(u) < ZIG_RATIO[i]:
        return state, u * ZIG_X[i]
    return _normal_slow(state, i, u)


@nb.njit(parallel=True, cache=True)
def fill_normal(states: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (streams x k) with normals, stream ``w`` from ``states[w]`` (advanced)."""
    for w in nb.prange(out.shape[0]):
        s = states[w]
        row = out[w]
        for j in range(row.shape[0]):
            s, row[j] = normal(s)
        states[w] = s
