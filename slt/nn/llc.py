"""The torch doors of the one estimator: LLC, WBIC and free energy of any ``nn.Module``.

λ̂(w*) = nβ (E_{w|w*,β,γ}[L_n(w)] − L_n(w*)) (Lau, Furman, Wang, Murfet & Wei 2023), the
expectation over ``p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²)``.  These functions build a
:class:`slt.nn.backend.TorchBackend` and hand it to the estimator of :mod:`slt.estimators.llc`
(and :mod:`slt.estimators.free_energy`): the step and burn-in rules, samplers' names, defaults,
diagnostics and result types are the ones of :func:`slt.estimators.estimate_llc`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from slt.estimators.core import default_nbeta
from slt.estimators.free_energy import free_energy_on, tempered_run, wbic_on
from slt.estimators.llc import Request, estimate
from slt.estimators.results import FreeEnergyResult, LLCResult
from slt.estimators.settings import Settings, with_settings
from slt.nn.backend import TorchBackend
from slt.nn.flat import LossFn
from slt.sampling.rng import seed_to_int

__all__ = ["estimate_llc", "llc_vs_gamma", "GammaSweep", "wbic", "free_energy"]


@with_settings
def estimate_llc(
    model: nn.Module,
    data,
    *,
    loss_fn: LossFn,
    w_star: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    vectorize: bool = True,
    restrict=None,
    compile: bool | str = "auto",
    devices: list | None = None,
    **settings,
) -> LLCResult:
    """Local learning coefficient of a torch network at ``w_star``.

    The estimator of :func:`slt.estimators.estimate_llc` on the torch backend: the chains'
    parameters are stacked along a chain axis and advance together (loss by
    ``torch.func.functional_call`` under ``vmap``, each chain its own minibatch).  Settings left
    at None take the problem's defaults (:func:`slt.estimators.config.default_settings`, a
    function of the parameter count, n and batch size): small models get MALA with step levels
    and the metric, a step scan and a measured burn-in, as the same toy through the numba door
    does; networks get 8 chains of SGHMC (kinetic Langevin), the curvature step rule, thin 1,
    unless ``num_draws`` is given draws extended until R-hat ≤ 1.05 and se/|λ̂| ≤ 5%, and, unless
    ``gamma`` is given, the smallest γ of 1, 10, 100, … at which the chains stay in the basin of w*
    (:mod:`slt.estimators.localization`; ``res.config.gamma``, ``info["gamma_search"]``).

    Parameters
    ----------
    model : torch.nn.Module, never modified (a copy is sampled).
    data : (X, y) tensors, Dataset or DataLoader (the n training samples).
    loss_fn : ``loss_fn(outputs, targets)``, the *mean* per-sample negative log-likelihood
        (e.g. :func:`slt.nn.models.gaussian_nll`, cross-entropy).
    w_star : flat parameter vector to localize at (default: the model's parameters).
    settings : the estimator's settings, defined once for every door:
        :class:`slt.estimators.settings.Settings` (nbeta — default n/log n, Watanabe's WBIC
        temperature —, gamma, step_size, num_chains, num_draws, num_burnin, thin, sampler,
        batch_size — minibatch size per chain and step —, step_levels, metric, sampler_options,
        seed, richardson, fluctuation_points, per_sample, progress, target_rhat, target_rse, max_draws,
        time_budget).  The sampler is any of the
        registry's (:mod:`slt.samplers`) that the torch backend runs (``slt.nn.sgmcmc.KERNELS``).
    per_sample : (a setting) also return the per-sample LLCs λ̂_i = nβ (E_w[ℓ_i(w)] − ℓ_i(w*)) in
        ``LLCResult.per_sample`` (their mean is λ̂); computed from running sums, every draw.
        ``"sample"``: shape (n,).  ``"token"``: per-token LLCs λ̂_it = nβ (E_w[ℓ_it(w)] − ℓ_it(w*))
        of a sequence model, shape (n, seq), where ℓ_it is ``loss_fn`` on token t of sample i
        (:mod:`slt.nn.tokens`); it needs integer targets (n, seq), outputs (n, seq, ...) and a loss
        that is the mean over its tokens (checked at w*, else ValueError); then the mean over all
        tokens is λ̂ and the mean over t is λ̂_i.  ``True``: ``"token"`` when the data are such
        token sequences, ``"sample"`` otherwise.  ``info["per_sample"]`` names the one given.
    compile : "auto" (default), True or False: compile the sampling step (the chains' vmapped
        loss and gradient) with ``torch.compile``.  "auto" compiles when chains run on CUDA and
        runs eagerly on the CPU (:func:`slt.nn.backend.resolve_compile`).  A compile that fails
        (no C++ compiler, an unsupported op) falls back to eager; ``info["compile"]`` says which
        ran and why.  The same seed gives the same numbers either way, to float rounding.
    devices : split the chains across these devices, e.g. ``["cuda:0", "cuda:1"]`` (default: the
        one ``device``): contiguous groups of chains, each vmapped on its device, advanced in turn
        every step, traces gathered on the host.  Chain c's random numbers come from (seed, c),
        so the same seed gives the same numbers whatever the split (on devices of one type).
    device : torch device; None picks CUDA when available.
    vectorize : False forces the loop over chains.
    restrict : sample only these coordinates, the rest held at w* (the restricted, or
        weight-refined, LLC): a glob pattern over ``model.named_parameters()`` names
        (``"att.*"``), a list of them, or a callable ``(name, param) -> bool | bool mask`` (e.g.
        one attention head's rows).  ``info["restrict"]`` says which parameters and how many
        coordinates were sampled.

    Memory grows with chains × parameters (positions, gradients, the noise of a block of steps)
    and with chains × draws (the loss traces), never with draws × parameters: per-sample and
    per-token LLCs and ν̂ are running sums.

    Returns
    -------
    LLCResult with ``info`` holding the step rule's facts, n, the parameter count, the device,
    whether vmap was used and whether the step was compiled.

    Raises
    ------
    ValueError for bad settings or data; slt.errors.DivergenceError when a chain diverges.

    Examples
    --------
    >>> from slt.nn.data import xor_data
    >>> from slt.nn.models import gaussian_nll, xor_mlp
    >>> res = estimate_llc(xor_mlp(seed=0), xor_data(), loss_fn=gaussian_nll, nbeta=10.0,
    ...                    step_size=1e-3, num_draws=100, seed=0)  # doctest: +SKIP
    """
    s = Settings.from_kwargs(settings)
    backend = TorchBackend(model, data, loss_fn, device=device, vectorize=vectorize, restrict=restrict,
                           compile=compile, devices=devices)
    mode = _per_sample_mode(backend, s.per_sample)
    center = backend.point(w_star)
    nbeta = default_nbeta(backend.n) if s.nbeta is None else s.nbeta
    res = estimate(backend, center, Request(**{**s.request_fields(), "nbeta": nbeta, "per_sample": mode is not None}))
    if mode is None:
        return res
    info = {**res.info, "per_sample": mode}
    if mode == "token":
        llcs = backend.tokens.llcs(res.config.nbeta).cpu().numpy()
        return replace(res, per_sample=llcs, info=info)
    return replace(res, info=info)


def _per_sample_mode(backend: TorchBackend, per_sample: bool | str) -> str | None:
    """"sample", "token" or None from ``per_sample`` (True: tokens when the data are token sequences)."""
    if per_sample is False or per_sample is None:
        return None
    if per_sample not in (True, "sample", "token"):
        raise ValueError(f"per_sample={per_sample!r}; expected False, True, 'sample' or 'token'")
    if per_sample == "sample":
        return "sample"
    problem = backend.use_tokens()
    if problem is None:
        return "token"
    if per_sample == "token":
        raise ValueError(f"per_sample='token': {problem}")
    return "sample"


@dataclass(frozen=True)
class GammaSweep:
    """λ̂ against the localization strength γ (same seed for every γ: common random numbers)."""

    gammas: np.ndarray
    results: tuple[LLCResult, ...]

    @property
    def llc(self) -> np.ndarray:
        return np.array([r.mean for r in self.results])

    @property
    def se(self) -> np.ndarray:
        return np.array([r.se for r in self.results])


def llc_vs_gamma(model: nn.Module, data, *, gammas, loss_fn: LossFn, seed: int | None = 0, **kwargs) -> GammaSweep:
    """:func:`estimate_llc` at each γ in ``gammas`` (other arguments as there).

    When λ̂ still moves with γ, localization (not the geometry of the loss) sets the number:
    a large γ confines the chains to a ball of radius ~1/sqrt(γ) and pulls λ̂ below λ, a
    small γ lets them leave the basin of w*.
    """
    gammas = np.asarray(gammas, dtype=float)
    if gammas.ndim != 1 or gammas.size == 0:
        raise ValueError(f"gammas={gammas!r}; give a non-empty 1-D sequence")
    results = tuple(estimate_llc(model, data, loss_fn=loss_fn, gamma=float(g), seed=seed, **kwargs) for g in gammas)
    return GammaSweep(gammas, results)


def _fe_setup(model, data, loss_fn, kwargs: dict):
    if "nbeta" in kwargs:
        raise ValueError("WBIC and free energies set nbeta = n·β themselves; do not pass nbeta")
    device, vectorize = kwargs.pop("device", None), kwargs.pop("vectorize", True)
    w_star, seed, restrict = kwargs.pop("w_star", None), kwargs.pop("seed", None), kwargs.pop("restrict", None)
    backend = TorchBackend(model, data, loss_fn, device=device, vectorize=vectorize, restrict=restrict,
                           compile=kwargs.pop("compile", "auto"), devices=kwargs.pop("devices", None))
    return backend, backend.point(w_star), tempered_run(kwargs), seed_to_int(seed)


def wbic(model: nn.Module, data, *, loss_fn: LossFn, gamma: float = 1.0, **kwargs) -> FreeEnergyResult:
    """Local WBIC = E_{β=1/log n}[n L_n(w)] of a network (Watanabe 2013), the prior N(w*, I/γ);
    :func:`slt.estimators.free_energy.wbic_on` on the torch backend.  ``kwargs``: ``w_star``,
    ``device``, ``devices``, ``compile``, ``vectorize``, ``seed`` (as in :func:`estimate_llc`) and
    :class:`slt.estimators.free_energy.TemperedRun` settings.
    The result unpacks as ``value, se``."""
    backend, center, run, seed = _fe_setup(model, data, loss_fn, dict(kwargs))
    return wbic_on(backend, center, float(backend.n), gamma, run, seed)


def free_energy(model: nn.Module, data, *, loss_fn: LossFn, betas=None, gamma: float = 1.0, num_betas: int = 32,
                **kwargs) -> FreeEnergyResult:
    """Local free energy F_n = −log ∫ exp(−n L_n(w)) N(w; w*, I/γ) dw by thermodynamic integration
    over the β grid ``betas`` (increasing, ending at 1; None: geometric from 10⁻³/n, ``num_betas``
    points); :func:`slt.estimators.free_energy.free_energy_on` on the torch backend.  γ > 0."""
    backend, center, run, seed = _fe_setup(model, data, loss_fn, dict(kwargs))
    return free_energy_on(backend, center, float(backend.n), gamma, betas, num_betas, run, seed)
