"""Numba ensemble samplers on potentials: ``run(potential, sampler, ...)``.

See :func:`slt.sampling.driver.run` for the arguments and :mod:`slt.sampling.kernels`
for the update equations.
"""
from slt.sampling.driver import SAMPLERS, SampleResult, mala_acceptance, mala_step_factors, parse_box, run

__all__ = ["run", "SampleResult", "SAMPLERS", "parse_box", "mala_acceptance", "mala_step_factors"]
