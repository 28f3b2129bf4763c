"""The localization strength γ of networks: the smallest γ at which the chains stay local.

The estimator samples p(w) ∝ exp(−nβ L(w) − (γ/2)‖w − w*‖²) (Lau, Furman, Wang, Murfet & Wei
2023).  Along a direction the loss hardly bends, only the prior holds the chains, with spread
1/√γ per coordinate; on a network with many such directions and weights of a smaller scale, γ = 1
lets the chains leave the neighbourhood of w* for regions far stiffer than w*'s, where the step
that is stable at w* diverges, and their λ̂ would describe no local geometry.  How much
localization a network needs is a property of the network and of nβ, so when the caller gives no
γ, a network (more than :data:`slt.estimators.config.SMALL_DIM` sampled coordinates, on the
curvature step rule) uses the smallest γ of the ladder γ₀·10ᵏ, k = 0, 1, …, :data:`GAMMA_STEPS` − 1
(γ₀ = :data:`slt.estimators.config.DEFAULT_GAMMA`) at which the chains stay finite through the
burn-in and the first block of draws at the curvature rule's step for that γ (re-measured where
the chains went, never quartered).  Each γ starts again from w* (nothing of a rejected γ is
kept); ``info["gamma_search"]`` lists every γ tried with what happened and, for the one chosen,
the split R-hat and λ̂ of its first block.  Chains that stay finite but mix slowly are not
moved to a larger γ: the convergence targets and diagnostics report them.  Small problems keep
γ₀ (their geometry is resolved exactly at any γ); a γ the caller gives is used as given.

>>> ladder(1.0)[:4]
(1.0, 10.0, 100.0, 1000.0)
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from slt import diagnostics
from slt.errors import DivergenceError

__all__ = ["GAMMA_FACTOR", "GAMMA_STEPS", "GammaTrial", "ladder", "smallest_local_gamma"]

GAMMA_FACTOR = 10.0  # the ladder's ratio
GAMMA_STEPS = 6  # γ₀ … γ₀·10⁵


@dataclass(frozen=True)
class GammaTrial:
    """One γ of the search: ``outcome`` is "finite" or "diverged"; split R-hat and λ̂ of the first
    block of draws (None when the chains diverged)."""

    gamma: float
    outcome: str
    rhat: float | None = None
    llc: float | None = None


def ladder(start: float) -> tuple[float, ...]:
    """The γ tried, in order: start·10ᵏ for k < :data:`GAMMA_STEPS`."""
    return tuple(float(start * GAMMA_FACTOR**k) for k in range(GAMMA_STEPS))


def smallest_local_gamma(run_at: Callable[[float], tuple], start: float, nbeta: float, init_loss: float, *,
                         progress: bool = False) -> tuple[tuple, list[dict]]:
    """Run ``run_at(γ)`` up the :func:`ladder` from ``start`` until its chains stay finite.

    ``run_at(γ)`` burns in and draws the first block at γ and returns a tuple whose first item is
    the drawing run's :class:`slt.estimators.backend.Chains`; it raises DivergenceError when the
    chains diverge.  Returns that tuple for the first γ whose chains stayed finite and the trials
    (as dicts, for ``info``); when every γ of the ladder diverged, the last DivergenceError is
    raised.
    """
    trials: list[GammaTrial] = []
    error: DivergenceError | None = None
    for gamma in ladder(start):
        try:
            out = run_at(gamma)
        except DivergenceError as exc:
            trials.append(GammaTrial(gamma, "diverged"))
            error = exc
            _report(trials[-1], progress)
            continue
        traces = np.asarray(out[0].loss_traces, dtype=float)
        trials.append(GammaTrial(gamma, "finite", float(diagnostics.rhat(traces)),
                                 float(nbeta * (traces.mean() - init_loss))))
        _report(trials[-1], progress)
        return out, [asdict(t) for t in trials]
    raise error


def _report(trial: GammaTrial, progress: bool) -> None:
    if not progress:
        return
    more = "" if trial.rhat is None else f": R-hat {trial.rhat:.3f}, λ̂ {trial.llc:.4g}"
    print(f"  γ = {trial.gamma:g}: {trial.outcome}{more}", file=sys.stderr)
