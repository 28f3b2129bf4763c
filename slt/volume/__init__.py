"""The volume of low-loss sets: V(ε) = ∫_{K<ε} φ(w) dw ≈ c ε^λ (−log ε)^(m−1), measured.

- :func:`volume_scaling` (:mod:`slt.volume.scaling`): V(ε) over many decades by nested sampling
  (:mod:`slt.volume.nested`) and the fitted λ (and m), with error bars from independent runs;
- :func:`basin_report` (:mod:`slt.volume.basin`): beside it for one minimum λ̂ (LLC), rank(H)/2,
  d/2, the Gaussian (Hessian) volume and a ray-based estimate (Scherlis & Belrose 2025);
- :mod:`slt.volume.exact`: closed forms of V(ε) (normal crossings, ellipsoids) to check against;
- :mod:`slt.volume.priors`, :mod:`slt.volume.targets`: priors around w* and what K is for a
  potential, a toy model or a torch network (torch is imported only for the latter).

Example
-------
>>> from slt.volume import volume_scaling
>>> res = volume_scaling("x**2*y**2", box=1.0, m=2, seed=0)   # doctest: +SKIP
>>> print(res.summary())                                       # doctest: +SKIP
"""
from slt.volume.basin import BasinReport, RayVolume, basin_report, ray_volume
from slt.volume.scaling import VolumeScaling, VolumeSettings, fit_scaling, volume_scaling
from slt.volume.targets import Target, as_target

__all__ = ["BasinReport", "RayVolume", "Target", "basin_report", "ray_volume", "VolumeScaling", "VolumeSettings", "as_target", "fit_scaling", "volume_scaling"]
