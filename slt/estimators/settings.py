"""The estimator's settings, defined once for every door.

:class:`Settings` lists what a caller of :func:`slt.estimators.estimate_llc` (potentials and toy
models) or :func:`slt.nn.estimate_llc` (torch modules) may set; both doors take them as keywords
(:func:`with_settings` gives each door a signature that lists them, so ``help()`` and editors show
them), and turn them into the estimator's :class:`slt.estimators.llc.Request`.  A name a door does
not know is a ValueError listing the settings.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Any, Callable

from slt.estimators.core import FLUCTUATION_POINTS

__all__ = ["Settings", "with_settings", "SETTINGS_DOC"]


@dataclass(frozen=True)
class Settings:
    """What every door of the LLC estimator accepts (None: the problem's default,
    :func:`slt.estimators.config.default_settings`).

    Attributes
    ----------
    nbeta : nβ (default n/log n for models with a sample size n; required for potentials).
    gamma : localization strength γ ≥ 0 of the term (γ/2)‖w − w*‖² (None: 1 on small problems;
        on networks the smallest γ of 1, 10, 100, … at which the chains stay in the basin of w*,
        :mod:`slt.estimators.localization`).
    step_size : ε, or "auto" (the problem's step rule: a scan of pilot runs for small problems,
        the curvature rule for networks; :mod:`slt.estimators.tuning`), or a rule by name:
        "scan" or "curvature".
    num_chains, num_draws, num_burnin, thin : ensemble and trace sizes (the burn-in from the
        sampler's burn-in rule; thin spreads the draws over the burn-in's span on small problems).
    sampler : a sampler of the registry (:mod:`slt.samplers`) that the backend runs.
    batch_size : minibatch rows per step (None: full batch).
    step_levels, metric : MALA's options (:class:`slt.samplers.MALAOptions`).
    sampler_options : the sampler's options as a dict (an unknown one is a ValueError).
    seed : int or numpy Generator; the same seed gives the same numbers on any thread count.
    richardson : SGLD: 2 λ̂(ε/2) − λ̂(ε) (None: the problem's default).
    fluctuation_points : samples whose per-draw losses give ν̂ (models with data; 0: off).
    per_sample : also return the per-sample LLCs λ̂_i = nβ (E_w[ℓ_i(w)] − ℓ_i(w*)) in
        ``LLCResult.per_sample`` (models with data; their mean is λ̂).  The torch door also takes
        "sample" and "token" (:func:`slt.nn.estimate_llc`).
    progress : tqdm progress bars naming the phase (burn-in, draws), and with targets a line per
        round with λ̂, se and R-hat so far (None: on when stderr is a terminal).
    target_rhat, target_rse : run until the loss traces' split R-hat ≤ ``target_rhat`` and the
        relative standard error se/|λ̂| ≤ ``target_rse`` (None: no such target), extending the
        draws (doubling) within the budget (:mod:`slt.estimators.convergence`);
        ``info["convergence"]`` says which held.
    max_draws : the budget in draws per chain, extensions included (None: 8 × num_draws).
    time_budget : wall-clock seconds for the whole estimate at most (None: no time limit; a time
        limit makes the number of draws, so the result, depend on the machine).
    """

    nbeta: float | None = None
    gamma: float | None = None
    step_size: float | str = "auto"
    num_chains: int | None = None
    num_draws: int | None = None
    num_burnin: int | None = None
    thin: int | None = None
    sampler: str | None = None
    batch_size: int | None = None
    step_levels: int | None = None
    metric: float | None = None
    sampler_options: dict | None = None
    seed: Any = None
    richardson: bool | None = None
    fluctuation_points: int = FLUCTUATION_POINTS
    per_sample: bool | str = False
    progress: bool | None = None
    target_rhat: float | None = None
    target_rse: float | None = None
    max_draws: int | None = None
    time_budget: float | None = None

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Settings:
        """The settings from keywords; an unknown name is a ValueError listing the settings.

        >>> Settings.from_kwargs({"gamma": 2.0}).gamma
        2.0
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; the estimator takes {sorted(names)}")
        return cls(**kwargs)

    def request_fields(self) -> dict[str, Any]:
        """The settings as keywords of :class:`slt.estimators.llc.Request`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTINGS_DOC = ("settings : the estimator's settings, keywords of :class:`slt.estimators.settings.Settings` "
                "(nbeta, gamma, step_size, num_chains, num_draws, num_burnin, thin, sampler, batch_size, "
                "step_levels, metric, sampler_options, seed, richardson, fluctuation_points, per_sample, progress, "
                "target_rhat, target_rse, max_draws, time_budget).")


def with_settings(door: Callable) -> Callable:
    """Give ``door`` (a function ending in ``**settings``) a signature that lists the
    :class:`Settings` fields as keyword-only parameters with their defaults."""
    sig = inspect.signature(door)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in params}
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
               for f in fields(Settings) if f.name not in taken]
    door.__signature__ = sig.replace(parameters=params)
    return door
