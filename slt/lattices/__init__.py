"""Random walks on intersecting lattices: builders, a fast ensemble walker, exact answers.

The seed post (002) argues that where several lines of a lattice cross, a random walker
spends more time: a simple random walk on a connected graph has the stationary law

    π(v) = deg(v) / 2|E|                                   (Levin, Peres & Wilmer 2017, §1.5)

so k cycles glued at one node put k times the mass of any other node on the shared node.
This package makes that exact, measurable and general:

- :mod:`slt.lattices.graphs`: builders returning networkx graphs with coordinates as node
  attributes (:func:`intersecting_cycles`, :func:`torus`, :func:`glued_tori`,
  :func:`zero_set_graph`) and the CSR form :class:`CSRGraph` (:func:`to_csr`);
- :mod:`slt.lattices.walk`: :func:`simulate_walk`, an ensemble of walkers on CSR arrays in
  a numba ``prange`` loop, one counter-based RNG stream per walker (bit-identical for any
  thread count), simple, lazy or weighted, visit counts accumulated without storing paths;
  :func:`visit_ratio` and :func:`junction_ratio_sweep`;
- :mod:`slt.lattices.exact`: :func:`stationary_distribution`, :func:`spectral_gap` (with
  relaxation and mixing-time bounds; AMG-preconditioned LOBPCG on large graphs),
  :func:`glued_tori_lambda2` (the closed form it is checked against),
  :func:`expected_return_time` (Kac), :func:`ball_masses` and :func:`continuum_limit`.

Every function taking a graph accepts a networkx graph or a :class:`CSRGraph` (the form the
large builders return with ``sparse=True``, so a million-node lattice never needs networkx).

Examples
--------
>>> from slt import lattices as Lt
>>> pi = Lt.stationary_distribution(Lt.intersecting_cycles(3, 5))
>>> round(pi[0] / pi[1], 12)
3.0
"""
from slt.lattices.exact import (SpectralResult, ball_masses, continuum_limit, expected_return_time,
                                glued_tori_lambda2, spectral_gap, stationary_distribution, stationary_vector,
                                transition_matrix)
from slt.lattices.graphs import CSRGraph, glued_tori, intersecting_cycles, to_csr, torus, zero_set_graph
from slt.lattices.walk import RatioEstimate, WalkResult, junction_ratio_sweep, simulate_walk, visit_ratio

__all__ = [
    "CSRGraph", "to_csr", "intersecting_cycles", "torus", "glued_tori", "zero_set_graph",
    "transition_matrix", "stationary_vector", "stationary_distribution", "expected_return_time",
    "SpectralResult", "spectral_gap", "glued_tori_lambda2", "ball_masses", "continuum_limit",
    "WalkResult", "simulate_walk", "RatioEstimate", "visit_ratio", "junction_ratio_sweep",
]
