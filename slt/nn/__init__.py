"""Torch bridge: the estimators on torch networks (all chains at once), and network tools.

The only package of slt that imports torch (an optional extra: ``pip install slt[torch]``).

- :mod:`slt.nn.llc`: :func:`estimate_llc`, :func:`wbic`, :func:`free_energy`, :func:`llc_vs_gamma`
  (doors to the one estimator of :mod:`slt.estimators`, on :class:`slt.nn.backend.TorchBackend`);
- :mod:`slt.nn.influence`: :func:`loss_kernel`, :func:`bif`, :func:`susceptibilities` (covariances
  under the localized posterior, per sample or per token, from running sums during the chains);
- :mod:`slt.nn.trajectory`: :func:`llc_trajectory`, :func:`llc_along_training` (checkpoints);
- :mod:`slt.nn.dln`: deep linear networks against Aoyagi's exact λ;
- :mod:`slt.nn.flat`, :mod:`slt.nn.backend`, :mod:`slt.nn.sgmcmc`: flat parameters, the backend,
  the samplers; :mod:`slt.nn.groups`, :mod:`slt.nn.streams`: chain groups per device and their
  per-chain random streams; :mod:`slt.nn.tokens`: per-token losses of sequence models;
  :mod:`slt.nn.models`, :mod:`slt.nn.data`, :mod:`slt.nn.hessian`, :mod:`slt.nn.landscape`:
  networks, data, Hessian spectra and loss landscapes.
"""
from slt.nn.influence import bif, loss_kernel, susceptibilities
from slt.nn.llc import estimate_llc, free_energy, llc_vs_gamma, wbic
from slt.nn.trajectory import llc_along_training, llc_trajectory

__all__ = ["bif", "estimate_llc", "free_energy", "llc_along_training", "llc_trajectory", "llc_vs_gamma",
           "loss_kernel", "susceptibilities", "wbic"]
