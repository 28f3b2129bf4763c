"""The numba backend: potentials and toy models as an estimator backend.

:class:`NumbaBackend` answers the estimator's questions (:mod:`slt.estimators.backend`) with the
compiled ensembles of :mod:`slt.sampling`: each sampler of :data:`KERNELS` runs a numba kernel
(:func:`kernel_call`), with ε the estimator's step in SGLD's convention and T = 1:

- "sgld": the "langevin" kernel at dt = ε/2, x ← x − (ε/2)∇U + N(0, ε);
- "mala": the MALA kernel at dt = ε/2, with step levels and the per-coordinate metric;
- "sghmc": the "underdamped" kernel (BAOAB, unit mass; Leimkuhler & Matthews 2013) at time step
  h = √ε, friction γ_f = :func:`slt.samplers.sghmc_friction` (2√γ by default), velocities drawn
  from N(0, I) at the start of every run (``init_velocities="thermal"`` of
  :func:`slt.sampling.run`), as the torch backend's ``slt.nn.sgmcmc`` kernel.

Everything else (step, burn-in, Richardson, ν̂, diagnostics) is the one estimator's
(:mod:`slt.estimators.llc`); the doors are in :mod:`slt.estimators.doors`.

>>> from slt.estimators.config import LLCConfig
>>> cfg = LLCConfig(nbeta=100.0, gamma=4.0, step_size=0.01, num_chains=2, num_draws=8, num_burnin=0, thin=1,
...                 sampler="sghmc", seed=0)
>>> kernel_call(cfg)
('underdamped', 0.1, {'friction': 4.0}, 'thermal')
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import sympy as sp

from slt import samplers
from slt.estimators.backend import Chains, NoteBook, Probe, RunSpec
from slt.potentials import Potential
from slt.sampling import run
from slt.sampling.driver import data_rows, mala_acceptance, mala_step_factors
from slt.sampling.params import SAMPLER_OPTIONS

__all__ = ["KERNELS", "NumbaBackend", "kernel_call", "prior_exponents", "sampling_target"]

#: the estimator's samplers this backend runs -> the :mod:`slt.sampling` kernel that runs each
#: (:func:`kernel_call` gives its time step, options and starting velocities)
KERNELS = {"sgld": "langevin", "mala": "mala", "sghmc": "underdamped"}


def kernel_call(cfg: Any) -> tuple[str, float, dict[str, Any], str | None]:
    """The :func:`slt.sampling.run` arguments that run ``cfg`` (an ``LLCConfig``): the kernel, its
    time step (√ε for "sghmc", else ε/2), its options and its ``init_velocities``.  An option of
    the sampler that the kernel cannot take is a ValueError naming it."""
    kernel = KERNELS[cfg.sampler]
    options = dataclasses.asdict(cfg.options)
    if cfg.sampler == "sghmc":
        options["friction"] = samplers.sghmc_friction(options["friction"], cfg.gamma)
        dt, velocities = math.sqrt(cfg.step_size), "thermal"
    else:
        dt, velocities = cfg.step_size / 2.0, None
    foreign = sorted(set(options) - set(SAMPLER_OPTIONS[kernel]))
    if getattr(cfg, "inv_metric", None) is not None:
        foreign.append("inv_metric")
    if foreign:
        raise ValueError(f"option(s) {foreign} of sampler {cfg.sampler!r} have no counterpart in the numba "
                         f"kernel {kernel!r} (its options: {sorted(SAMPLER_OPTIONS[kernel]) or 'none'})")
    return kernel, dt, options, velocities


def prior_exponents(model: Any) -> tuple[float, ...] | None:
    h = getattr(model, "prior_exponents", None)
    return tuple(h) if h is not None and any(h) else None


def sampling_target(model: Any, nbeta: float, batch_size: int | None = None) -> tuple[Any, bool]:
    """What the kernels run on, and whether energies must be recomputed as the model's loss.

    - A prior φ ∝ ∏ |w_i|^(h_i) enters exp(−nβ V) φ as the potential V − (1/nβ) Σ h_i log|w_i|,
      sampled in the original coordinates (MALA stays exact); the recorded losses are V.
    - A model with a closed-form full-batch loss (``full_batch_potential``, e.g. a
      :class:`slt.models.Regression` polynomial in x) runs full batch on it: the same L_n at a
      cost independent of n.
    """
    if batch_size is None and getattr(model, "full_batch_potential", None) is not None:
        return model.full_batch_potential, False
    h = prior_exponents(model)
    if h is None:
        return model, False
    log_prior = sum(hi * sp.log(sp.Abs(v)) for hi, v in zip(h, model.variables) if hi)
    return Potential.from_expr(model.expr - log_prior / sp.Float(nbeta, 17), model.variables,
                               name=f"{model.name} (−log prior / nβ)", point=model.point), True


class NumbaBackend(NoteBook):
    """A potential or toy model (``kernels``, ``dim``, ``name``; ``data``, ``n``,
    ``per_sample_losses`` for models with data) as an estimator backend at one nβ."""

    samplers = tuple(KERNELS)
    supports_metric = True

    def __init__(self, model: Any, nbeta: float, batch_size: int | None = None):
        super().__init__()
        self.model = model
        self.dim = int(model.dim)
        self.n = getattr(model, "n", None)
        self.name = f"{getattr(model, 'name', model)!r} (numba backend)"
        self.target, self.recompute = sampling_target(model, nbeta, batch_size)
        self.batch_size = batch_size

    def loss(self, w: Any) -> float:
        data, idx = data_rows(self.model)
        return float(self.model.kernels.energy(np.asarray(w, dtype=float), data, idx, idx.size))

    def start(self, center: Any, num_chains: int, nbeta: float, gamma: float,
              spread_seed: int | None = None) -> np.ndarray:
        """w*, moved by 1/√(nβ + γ) off w_i = 0 where a prior |w_i|^(h_i) vanishes; with
        ``spread_seed``, w* + N(0, I/(γ + nβ)) instead."""
        w = np.asarray(center, dtype=float)
        if spread_seed is not None:
            rng = np.random.default_rng(spread_seed)
            return w + rng.normal(size=(num_chains, w.size)) / math.sqrt(gamma + nbeta)
        init = np.tile(w, (num_chains, 1))
        h = prior_exponents(self.model)
        if h is not None:
            off = (np.asarray(h) > 0) & (w == 0.0)
            init[:, off] += 1.0 / math.sqrt(nbeta + gamma)
        return init

    def run(self, spec: RunSpec, init: Any, *, num_steps: int, thin: int, seed: int | None,
            progress: bool | str = False, probe: Probe | None = None, skip: int = 0) -> Chains:
        if spec.adapt_acceptance is not None:
            raise ValueError("the numba backend adapts no step during a run")
        cfg = spec.config
        kernel, dt, options, velocities = kernel_call(cfg)
        res = run(self.target, kernel, num_walkers=cfg.num_chains, num_steps=num_steps, step_size=dt,
                  nbeta=cfg.nbeta, gamma=cfg.gamma, center=spec.center, batch_size=cfg.batch_size, init=init,
                  init_velocities=velocities, thin=thin, seed=seed, progress=bool(progress), hist_bins=0,
                  **options)
        samples, energies = res.samples[:, skip // thin:], res.energies[:, skip // thin:]
        if self.recompute:
            energies = self.model(samples)
        if probe is not None:
            for j in range(0, samples.shape[1], probe.every):
                probe.fn(samples[:, j], j)
        dist = np.sum((samples - np.asarray(spec.center)) ** 2, axis=-1)
        acc = None if res.acceptance is None else float(res.acceptance.mean())
        return Chains(positions=res.positions, loss_traces=energies, distance_traces=dist, acceptance=acc,
                      step_size=cfg.step_size)

    def mala_acceptance(self, points: Any, spec: RunSpec, seed: int | None) -> np.ndarray:
        cfg = spec.config
        return mala_acceptance(self.target, np.asarray(points, dtype=float), step_size=cfg.step_size / 2.0,
                               nbeta=cfg.nbeta, gamma=cfg.gamma, center=spec.center, seed=seed, metric=cfg.metric)

    def step_factors(self, points: Any, spec: RunSpec) -> np.ndarray:
        cfg = spec.config
        return mala_step_factors(self.target, np.asarray(points, dtype=float), step_size=cfg.step_size / 2.0,
                                 nbeta=cfg.nbeta, gamma=cfg.gamma, metric=cfg.metric)

    def hessians(self, points: Any) -> np.ndarray:
        """∇²V of the sampled target at each point: central differences of the compiled gradient
        (step 1e-6 (1 + |w_i|)), symmetrised."""
        k = self.target.kernels
        data, idx = data_rows(self.target)
        pts = np.asarray(points, dtype=float)
        out = np.empty((pts.shape[0], pts.shape[1], pts.shape[1]))
        gp, gm = np.empty(pts.shape[1]), np.empty(pts.shape[1])
        for c, x in enumerate(pts):
            for i in range(x.size):
                e = np.zeros(x.size)
                e[i] = 1e-6 * (1.0 + abs(x[i]))
                k.grad(x + e, data, idx, idx.size, gp)
                k.grad(x - e, data, idx, idx.size, gm)
                out[c, i] = (gp - gm) / (2 * e[i])
        return 0.5 * (out + out.transpose(0, 2, 1))

    def top_curvature(self, points: Any, seed: int | None = None, scale: Any = None) -> float:
        H = self.hessians(points)
        if scale is not None:
            s = np.asarray(scale, dtype=float).reshape(-1)
            H = H * s[None, :, None] * s[None, None, :]
        return float(np.max(np.abs(np.linalg.eigvalsh(H))))

    def diagonal_curvature(self, points: Any, probes: int, seed: int | None = None) -> np.ndarray:
        """diag ∇²V averaged over the points, exactly (``probes`` unused: no estimate needed)."""
        return np.diagonal(self.hessians(points), axis1=1, axis2=2).mean(axis=0)

    def curvature_operator(self, point: Any, scale: Any = None):
        """diag(s) ∇²V diag(s) at ``point`` as a scipy LinearOperator."""
        from scipy.sparse.linalg import aslinearoperator

        H = self.hessians(np.asarray(point, dtype=float).reshape(1, -1))[0]
        s = np.ones(H.shape[0]) if scale is None else np.asarray(scale, dtype=float).reshape(-1)
        return aslinearoperator(H * s[:, None] * s[None, :])

    def per_sample_losses(self, points: Any, rows: np.ndarray) -> np.ndarray | None:
        fn = getattr(self.model, "per_sample_losses", None)
        return None if fn is None else fn(np.asarray(points, dtype=float), rows)

    def info(self) -> dict:
        return {"backend": "numba", "n": self.n, "dim": self.dim}


