"""Random streams of a torch chain ensemble: every chain its own, derived from (seed, chain index).

The numbers chain ``c`` sees depend only on the run's seed and ``c``: not on how many chains run
beside it, nor on how the ensemble is split across devices (the torch counterpart of the
per-walker streams of :mod:`slt.sampling.rng`).  Each chain owns one ``torch.Generator`` per kind
of draw (normals, uniforms, minibatch keys), seeded from ``SeedSequence([seed, tag, c, kind])``.
Normals and uniforms are drawn in blocks of :attr:`ChainStreams.block` steps (one generator call
per chain and block, a slice per step); the block length is a function of the dimension only, so
every split draws the same blocks.  Streams of one chain on two devices of one type agree; a CPU
and a CUDA generator give different numbers.

>>> pair = ChainStreams(0, range(2, 4), 3, torch.device("cpu"), torch.float64)
>>> alone = ChainStreams(0, range(3, 4), 3, torch.device("cpu"), torch.float64)
>>> noise = pair.normal()
>>> tuple(noise.shape), bool(torch.equal(noise[1], alone.normal()[0]))  # chain 3 beside chain 2 or alone
((2, 3), True)
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = ["ChainStreams", "chain_seed", "split_chains"]

BLOCK_FLOATS = 1 << 18  # normals per chain and block at most (block × dim)
MAX_BLOCK = 64  # steps per block at most
_TAG = 0xC4A1  # separates these streams from the estimator's segment seeds
_KINDS = {"normal": 0, "uniform": 1, "keys": 2}


def chain_seed(seed: int, chain: int, kind: str) -> int:
    """The 64-bit seed of chain ``chain``'s ``kind`` stream ("normal", "uniform", "keys")."""
    return int(np.random.SeedSequence([seed, _TAG, chain, _KINDS[kind]]).generate_state(1, np.uint64)[0])


def split_chains(chains: int, groups: int) -> list[range]:
    """Contiguous, as equal as possible ranges of chain indices, one per group (empty ones dropped).

    >>> split_chains(5, 2)
    [range(0, 3), range(3, 5)]
    """
    sizes = [chains // groups + (1 if i < chains % groups else 0) for i in range(groups)]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [range(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


class ChainStreams:
    """Per-chain random numbers of the chains ``chains`` (global indices) on ``device``.

    Parameters
    ----------
    seed : the run's seed (a non-negative int).
    chains : the global indices of this group's chains.
    dim : coordinates per chain (the normals' length).
    device, dtype : where and in which float type the numbers are made.
    """

    def __init__(self, seed: int, chains: Sequence[int], dim: int, device: torch.device, dtype: torch.dtype):
        self.dim, self.device, self.dtype = dim, device, dtype
        self.block = max(1, min(MAX_BLOCK, BLOCK_FLOATS // max(dim, 1)))
        self._gens = {kind: [self._generator(chain_seed(seed, c, kind)) for c in chains] for kind in _KINDS}
        self._buffers: dict[str, torch.Tensor] = {}
        self._next: dict[str, int] = {}

    def _generator(self, seed: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(seed)
        return g

    def _take(self, kind: str, fill: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
        """The next step's slice of ``kind``'s block, drawing a new block when this one is used up."""
        pos = self._next.get(kind, self.block)
        if pos == self.block:
            self._buffers[kind] = torch.stack([fill(g) for g in self._gens[kind]])
            pos = 0
        self._next[kind] = pos + 1
        return self._buffers[kind][:, pos]

    def normal(self) -> torch.Tensor:
        """(chains, dim) standard normals: one step's noise."""
        return self._take("normal", lambda g: torch.randn((self.block, self.dim), generator=g, dtype=self.dtype,
                                                          device=self.device))

    def uniform(self) -> torch.Tensor:
        """(chains, 2) uniforms in [0, 1): one step's acceptance and step-level draws."""
        return self._take("uniform", lambda g: torch.rand((self.block, 2), generator=g, dtype=self.dtype,
                                                          device=self.device))

    def keys(self, n: int) -> torch.Tensor:
        """(chains, n) uniform sort keys: one epoch's permutation of the data per chain."""
        return torch.stack([torch.rand(n, generator=g, device=self.device) for g in self._gens["keys"]])
