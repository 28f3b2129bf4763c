"""The numba backend (potentials and toy models) and its front doors :func:`estimate_llc`, :func:`calibrate`.

:class:`NumbaBackend` answers the estimator's questions (:mod:`slt.estimators.backend`) with the
compiled ensembles of :mod:`slt.sampling`: "sgld" is the "langevin" kernel at dt = ε/2 and
"mala" the MALA kernel with step levels and the per-coordinate metric.  Everything else (step,
burn-in, Richardson, ν̂, diagnostics) is the one estimator's (:mod:`slt.estimators.llc`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import sympy as sp

from slt.estimators import tuning
from slt.estimators.backend import Chains, NoteBook, Probe, RunSpec
from slt.estimators.core import FLUCTUATION_POINTS, default_nbeta
from slt.estimators.free_energy import free_energy_on, tempered_run, wbic_on
from slt.estimators.results import FreeEnergyResult
from slt.estimators.exact import check_proper, exact_tempered_expectation
from slt.estimators.llc import Request, estimate, resolve
from slt.estimators.results import LLCResult
from slt.potentials import Potential
from slt.sampling import run
from slt.sampling.driver import data_rows, mala_acceptance, mala_step_factors
from slt.sampling.rng import seed_to_int

__all__ = ["NumbaBackend", "estimate_llc", "calibrate", "wbic", "free_energy", "resolve_nbeta", "resolve_point",
           "DEFAULT_GAMMA"]

KERNELS = {"sgld": "langevin", "mala": "mala"}
DEFAULT_GAMMA = 1.0
BIAS_NOTE = 0.05  # exact finite-nβ value this far below λ gets a note in the warnings


def resolve_nbeta(model: Any, nbeta: float | None) -> float:
    """``nbeta``, or n/log n for a model with a sample size n."""
    if nbeta is not None:
        return float(nbeta)
    n = getattr(model, "n", None)
    if n is None:
        raise ValueError(f"nbeta is required for {getattr(model, 'name', model)!r}, which has no sample size n")
    return default_nbeta(n)


def resolve_point(model: Any, w_star: Sequence[float] | None) -> np.ndarray:
    """``w_star`` or the model's point (its singular point or true parameter; else the origin)."""
    point = w_star if w_star is not None else getattr(model, "point", None)
    if point is None:
        point = np.zeros(model.dim)
    w = np.asarray(point, dtype=float).reshape(-1)
    if w.shape != (model.dim,):
        raise ValueError(f"w_star must have {model.dim} coordinates, got shape {np.shape(point)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"w_star must be finite, got {w.tolist()}")
    return w


def _prior_exponents(model: Any) -> tuple[float, ...] | None:
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
    h = _prior_exponents(model)
    if h is None:
        return model, False
    log_prior = sum(hi * sp.log(sp.Abs(v)) for hi, v in zip(h, model.variables) if hi)
    return Potential.from_expr(model.expr - log_prior / sp.Float(nbeta, 17), model.variables,
                               name=f"{model.name} (−log prior / nβ)", point=model.point), True


class NumbaBackend(NoteBook):
    """A potential or toy model (``kernels``, ``dim``, ``name``; ``data``, ``n``,
    ``per_sample_losses`` for models with data) as an estimator backend at one nβ."""

    samplers = ("sgld", "mala")
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
        h = _prior_exponents(self.model)
        if h is not None:
            off = (np.asarray(h) > 0) & (w == 0.0)
            init[:, off] += 1.0 / math.sqrt(nbeta + gamma)
        return init

    def run(self, spec: RunSpec, init: Any, *, num_steps: int, thin: int, seed: int | None,
            progress: bool = False, probe: Probe | None = None, skip: int = 0) -> Chains:
        if spec.adapt_acceptance is not None:
            raise ValueError("the numba backend adapts no step during a run")
        cfg = spec.config
        options = {"step_levels": cfg.step_levels, "metric": cfg.metric} if cfg.sampler == "mala" else {}
        res = run(self.target, KERNELS[cfg.sampler], num_walkers=cfg.num_chains, num_steps=num_steps,
                  step_size=cfg.step_size / 2.0, nbeta=cfg.nbeta, gamma=cfg.gamma, center=spec.center,
                  batch_size=cfg.batch_size, init=init, thin=thin, seed=seed, progress=progress, hist_bins=0,
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

    def top_curvature(self, points: Any, seed: int | None = None) -> float:
        return float(np.max(np.abs(np.linalg.eigvalsh(self.hessians(points)))))

    def per_sample_losses(self, points: Any, rows: np.ndarray) -> np.ndarray | None:
        fn = getattr(self.model, "per_sample_losses", None)
        return None if fn is None else fn(np.asarray(points, dtype=float), rows)

    def info(self) -> dict:
        return {"backend": "numba", "n": self.n, "dim": self.dim}


def _exact_note(model, nbeta: float, gamma: float, w: np.ndarray, exact: bool | None
                ) -> tuple[float | None, tuple[str, ...]]:
    """Exact finite-nβ value (potentials of 1–3 variables, γ > 0) and a note if it is far below λ."""
    if exact is False or not hasattr(model, "expr") or model.dim > 3:
        if exact:
            raise ValueError(f"exact=True needs a Potential of 1-3 variables, got {getattr(model, 'name', model)!r}")
        return None, ()
    if gamma == 0:
        return None, ()
    value = exact_tempered_expectation(model, nbeta, gamma=gamma, center=w)
    lam, point = getattr(model, "lam", None), getattr(model, "point", None)
    if lam is None or point is None or not np.allclose(point, w) or value >= (1 - BIAS_NOTE) * float(lam):
        return value, ()
    return value, (f"at nβ={nbeta:g} (γ={gamma:g}) the estimator converges to {value:.4f}, "
                   f"{100 * (1 - value / float(lam)):.0f}% below λ = {float(lam):.4f}: this is the estimator's own "
                   "finite-nβ bias (exact, by quadrature), not sampling error; raise nbeta (and lower gamma) to get "
                   "closer to λ",)


def _check_proper(model: Any, nbeta: float, w: np.ndarray) -> None:
    """γ = 0: raise ImproperPosteriorError when exp(−nβ L) does not normalise (1–3 variables)."""
    if model.dim > 3:
        return
    target = model
    if hasattr(model, "empirical_potential"):
        try:
            target = model.empirical_potential()
        except ValueError:
            return
    if hasattr(target, "expr"):
        check_proper(target, nbeta, center=w)


def estimate_llc(
    model: Any,
    w_star: Sequence[float] | None = None,
    *,
    nbeta: float | None = None,
    gamma: float = DEFAULT_GAMMA,
    step_size: float | str = "auto",
    num_chains: int | None = None,
    num_draws: int | None = None,
    num_burnin: int | None = None,
    thin: int | None = None,
    sampler: str | None = None,
    batch_size: int | None = None,
    step_levels: int | None = None,
    metric: float | None = None,
    sampler_options: dict | None = None,
    seed: int | np.random.Generator | None = None,
    exact: bool | None = None,
    richardson: bool | None = None,
    fluctuation_points: int = FLUCTUATION_POINTS,
    progress: bool = False,
    per_sample: bool = False,
) -> LLCResult:
    """Estimate the local learning coefficient λ̂(w*) of a potential or toy model.

    λ̂(w*) = nβ (E_{w|w*,β,γ}[L(w)] − L(w*)) over p(w) ∝ exp(−nβ L(w) − (γ/2)|w − w*|²)
    (Lau, Furman, Wang, Murfet & Wei 2023); the one estimator of :mod:`slt.estimators.llc` on
    the numba backend.  Settings left at None take the problem's defaults
    (:func:`slt.estimators.config.default_settings`), the same as :func:`slt.nn.estimate_llc`
    gives the same problem.

    Parameters
    ----------
    model : a :class:`slt.potentials.Potential` (the loss is V itself; ``prior_exponents`` h are
        sampled as exp(−nβ V) ∏ |w_i|^(h_i)) or a toy model such as :class:`slt.models.Regression`.
    w_star : the point (default: ``model.point``).
    nbeta : nβ (default n/log n for models with a sample size n; required for potentials).
    gamma : localization γ ≥ 0; with γ = 0 a posterior that does not normalise raises
        :class:`~slt.estimators.ImproperPosteriorError` (1–3 variables).
    step_size : ε, or "auto" (the problem's step rule: a scan of pilot runs for small problems,
        :func:`slt.estimators.tuning.calibrate`), or a rule by name: "scan" or "curvature".
    num_chains, num_draws, num_burnin, thin : ensemble and trace sizes (None: defaults; the
        burn-in from :func:`slt.estimators.tuning.auto_burnin`, for MALA measured from the chains,
        :func:`slt.estimators.tuning.equilibrate`; thin spreads the draws over the burn-in's span).
    sampler : "sgld" or "mala" (None: MALA full batch, SGLD with a ``batch_size``).
    batch_size : minibatch rows per SGLD step (None: full batch).
    step_levels, metric : MALA's options (see :class:`slt.estimators.config.MALAOptions`).
    sampler_options : the sampler's options as a dict (an unknown one is a ValueError).
    seed : int or numpy Generator; the same seed gives identical results on any thread count.
    exact : compute the exact finite-nβ target by quadrature (None: for a Potential of 1–3
        variables with γ > 0); a note is added when it lies > 5% below λ.
    richardson : SGLD: 2 λ̂(ε/2) − λ̂(ε) (None: the problem's default).
    fluctuation_points : samples whose per-draw losses give ν̂ (models with data; 0: off).
    per_sample : also return the per-sample LLCs λ̂_i = nβ (E_w[ℓ_i(w)] − ℓ_i(w*)) in
        ``LLCResult.per_sample`` (models with data; their mean is λ̂).
    progress : tqdm progress bars.

    Raises
    ------
    ValueError, ImproperPosteriorError, slt.errors.DivergenceError

    Examples
    --------
    >>> from slt.potentials import sum_of_monomials
    >>> res = estimate_llc(sum_of_monomials([1, 2]), nbeta=1e4, seed=0)  # doctest: +SKIP
    >>> abs(res.mean - 0.75) < 3 * res.se + 0.02  # doctest: +SKIP
    True
    """
    nbeta = resolve_nbeta(model, nbeta)
    w = resolve_point(model, w_star)
    if isinstance(gamma, (int, float)) and gamma == 0:
        _check_proper(model, nbeta, w)
    backend = NumbaBackend(model, nbeta, batch_size)
    req = Request(nbeta=nbeta, gamma=gamma, step_size=step_size, num_chains=num_chains, num_draws=num_draws,
                  num_burnin=num_burnin, thin=thin, sampler=sampler, batch_size=batch_size, step_levels=step_levels,
                  metric=metric, sampler_options=sampler_options, seed=seed, richardson=richardson,
                  fluctuation_points=fluctuation_points, per_sample=per_sample, progress=progress)
    resolve(backend, req)  # reject bad settings before the quadrature
    exact_value, notes = _exact_note(model, nbeta, float(gamma), w, exact)
    res = estimate(backend, w, Request(**{**req.__dict__, "exact": exact_value, "notes": notes}))
    return res


def calibrate(
    model: Any,
    w_star: Sequence[float] | None = None,
    *,
    nbeta: float | None = None,
    step_sizes: Sequence[float] | None = None,
    gammas: Sequence[float] = (DEFAULT_GAMMA,),
    target_acceptance: float | None = None,
    sampler: str | None = None,
    batch_size: int | None = None,
    num_chains: int | None = None,
    num_draws: int = 400,
    num_burnin: int = 1000,
    step_levels: int | None = None,
    metric: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> tuning.Calibration:
    """The step scan of :func:`slt.estimators.tuning.calibrate` on a potential or toy model
    (arguments as in :func:`estimate_llc`; ``gammas`` scanned too; every row of the table run).

    >>> from slt.potentials import sum_of_monomials
    >>> calibrate(sum_of_monomials([1, 2]), nbeta=1e4, step_sizes=[1e-3, 1e-4], seed=0).step_size  # doctest: +SKIP
    0.001
    """
    nbeta = resolve_nbeta(model, nbeta)
    w = resolve_point(model, w_star)
    backend = NumbaBackend(model, nbeta, batch_size)
    base, _ = resolve(backend, Request(nbeta=nbeta, gamma=float(min(gammas)), num_chains=num_chains,
                                       sampler=sampler, batch_size=batch_size, step_levels=step_levels,
                                       metric=metric, seed=seed))
    return tuning.calibrate(backend, w, base, step_sizes=step_sizes, gammas=gammas,
                            target_acceptance=target_acceptance, num_draws=num_draws, num_burnin=num_burnin,
                            full_table=True)


def _n_of(model: Any, n: float | None) -> float:
    if n is not None:
        if not (isinstance(n, (int, float)) and math.isfinite(n) and n > 1):
            raise ValueError(f"n must be a finite number > 1, got {n!r}")
        return float(n)
    if getattr(model, "n", None) is None:
        raise ValueError(f"n is required for {getattr(model, 'name', model)!r}, which has no sample size")
    return float(model.n)


def _fe_backend(model: Any, center: Sequence[float] | None) -> tuple[NumbaBackend, np.ndarray]:
    if _prior_exponents(model) is not None:
        raise ValueError(f"{model.name!r} has prior_exponents: WBIC and free energies here use the Gaussian "
                         "prior N(center, I/γ) only")
    return NumbaBackend(model, 1.0), resolve_point(model, center)


def wbic(model: Any, *, n: float | None = None, gamma: float = DEFAULT_GAMMA, center: Sequence[float] | None = None,
         seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """WBIC = E_{β=1/log n}[n L] under the Gaussian prior N(center, I/γ) (Watanabe 2013) of a
    potential or toy model; ``kwargs`` are :class:`slt.estimators.free_energy.TemperedRun` settings.

    >>> from slt.potentials import sum_of_monomials
    >>> wbic(sum_of_monomials([1, 2]), n=1e3, num_chains=8, num_draws=100, seed=0).method  # doctest: +SKIP
    'wbic'
    """
    backend, w = _fe_backend(model, center)
    return wbic_on(backend, w, _n_of(model, n), gamma, tempered_run(kwargs), seed_to_int(seed))


def free_energy(model: Any, *, n: float | None = None, method: str = "ti", gamma: float = DEFAULT_GAMMA,
                center: Sequence[float] | None = None, betas: Sequence[float] | None = None, num_betas: int = 32,
                seed: int | np.random.Generator | None = None, **kwargs: Any) -> FreeEnergyResult:
    """F_n of a potential or toy model by thermodynamic integration (``method="ti"``,
    :func:`slt.estimators.free_energy.free_energy_on`) or its WBIC (``method="wbic"``)."""
    if method == "wbic":
        return wbic(model, n=n, gamma=gamma, center=center, seed=seed, **kwargs)
    if method != "ti":
        raise ValueError(f"method must be 'ti' or 'wbic', got {method!r}")
    backend, w = _fe_backend(model, center)
    return free_energy_on(backend, w, _n_of(model, n), gamma, betas, num_betas, tempered_run(kwargs),
                          seed_to_int(seed))
