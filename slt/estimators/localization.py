"""The localization strength γ of networks: the smallest γ at which the chains stay local.

The estimator samples p(w) ∝ exp(−nβ L(w) − (γ/2)‖w − w*‖²) (Lau, Furman, Wang, Murfet & Wei
2023).  Along a direction the loss hardly bends, only the prior holds the chains, with spread
1/√γ per coordinate; on a network with many such directions and weights of a smaller scale, γ = 1
can let the chains leave the basin of w*, and their λ̂ then describes no local geometry.  How
much localization a network needs is a property of the network and of nβ, so when the caller
gives no γ, a network (more than :data:`slt.estimators.config.SMALL_DIM` sampled coordinates, on
the curvature step rule) uses the smallest γ of the ladder γ₀·10ᵏ, k = 0, 1, …,
:data:`GAMMA_STEPS` − 1 (γ₀ = :data:`slt.estimators.config.DEFAULT_GAMMA`) at which the chains
stay in the basin of w*.  They have left it (:func:`check_basin`) when

- they diverge, even at the curvature rule's step quartered (its usual retries), or
- they went where the loss is stiffer than at w* (the step had to come down to at most half the
  step from w*) *and* their loss at the end of the burn-in rose by more than
  :data:`BASIN_SHARE` of the way from L(w*) to the loss of the zero network (every sampled
  coordinate 0).  Stiffer regions at the loss of w* — a deep linear network's rescalings, say —
  are still its basin; a loss that climbs towards the zero network's with an ever smaller
  stable step is not.

Chains that stay but mix slowly keep their γ: the convergence targets and diagnostics report
them.  Each γ starts again from w* (nothing of a rejected γ is kept); ``info["gamma_search"]``
lists every γ tried with what happened and, for the one chosen, the split R-hat and λ̂ of its
first block.  Small problems keep γ₀ (their geometry is resolved exactly at any γ); a γ the
caller gives is used as given.

>>> ladder(1.0)[:4]
(1.0, 10.0, 100.0, 1000.0)
>>> check_basin(rise=0.5, gap=1.0, first_step=1e-3, step=1e-3)  # no stiffer region: still in
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from slt import diagnostics
from slt.errors import DivergenceError

__all__ = ["GAMMA_FACTOR", "GAMMA_STEPS", "BASIN_SHARE", "STIFFER", "LeftBasin", "check_basin", "GammaTrial", "ladder", "smallest_local_gamma"]

GAMMA_FACTOR = 10.0  # the ladder's ratio
GAMMA_STEPS = 6  # γ₀ … γ₀·10⁵
BASIN_SHARE = 0.1  # a loss rise beyond this share of L(0) − L(w*), in stiffer regions, leaves the basin
STIFFER = 0.5  # the step came down to at most this share of the step from w*: the chains went stiffer


class LeftBasin(Exception):
    """The chains left the basin of w* (:func:`check_basin`)."""


def check_basin(rise: float, gap: float, first_step: float, step: float) -> None:
    """Raise :class:`LeftBasin` when the chains went where the loss is stiffer (``step`` ≤
    :data:`STIFFER` × ``first_step``) and their loss rose (``rise`` = mean L − L(w*)) by more
    than :data:`BASIN_SHARE` of ``gap`` = L(0) − L(w*) (no test when gap ≤ 0: w* is no better
    than the zero network, as at initialization)."""
    if step <= STIFFER * first_step and gap > 0 and rise > BASIN_SHARE * gap:
        raise LeftBasin(f"the loss rose by {rise:.3g} ({100 * rise / gap:.0f}% of the way to the zero network's) "
                        f"where the stable step is {step / first_step:.2g} of the step from w*")


@dataclass(frozen=True)
class GammaTrial:
    """One γ of the search: ``outcome`` is "local", "diverged" or "left the basin" (``why``); split
    R-hat and λ̂ of the first block of draws of the γ chosen."""

    gamma: float
    outcome: str
    rhat: float | None = None
    llc: float | None = None
    why: str | None = None


def ladder(start: float) -> tuple[float, ...]:
    """The γ tried, in order: start·10ᵏ for k < :data:`GAMMA_STEPS`."""
    return tuple(float(start * GAMMA_FACTOR**k) for k in range(GAMMA_STEPS))


def smallest_local_gamma(run_at: Callable[[float], tuple], start: float, nbeta: float, init_loss: float, *,
                         progress: bool = False) -> tuple[tuple, list[dict]]:
    """Run ``run_at(γ)`` up the :func:`ladder` from ``start`` until its chains stay in the basin.

    ``run_at(γ)`` burns in and draws the first block at γ and returns a tuple whose first item is
    the drawing run's :class:`slt.estimators.backend.Chains`; it raises DivergenceError when the
    chains diverge and :class:`LeftBasin` when they leave.  Returns that tuple for the first γ
    whose chains stayed and the trials (as dicts, for ``info``); when no γ of the ladder keeps
    them, the last error is raised (a DivergenceError as it is, a LeftBasin as a ValueError
    naming the ladder).
    """
    trials: list[GammaTrial] = []
    error: Exception | None = None
    for gamma in ladder(start):
        try:
            out = run_at(gamma)
        except (DivergenceError, LeftBasin) as exc:
            diverged = isinstance(exc, DivergenceError)
            trials.append(GammaTrial(gamma, "diverged" if diverged else "left the basin", why=str(exc)))
            error = exc
            _report(trials[-1], progress)
            continue
        traces = np.asarray(out[0].loss_traces, dtype=float)
        trials.append(GammaTrial(gamma, "local", float(diagnostics.rhat(traces)),
                                 float(nbeta * (traces.mean() - init_loss))))
        _report(trials[-1], progress)
        return out, [asdict(t) for t in trials]
    if isinstance(error, LeftBasin):
        raise ValueError(f"the chains left the basin of w* at every γ up to {ladder(start)[-1]:g} ({error}); "
                         "pass gamma (and check w* is a minimum)") from error
    raise error


def _report(trial: GammaTrial, progress: bool) -> None:
    if not progress:
        return
    more = f" ({trial.why})" if trial.why else "" if trial.rhat is None else f": R-hat {trial.rhat:.3f}, λ̂ {trial.llc:.4g}"
    print(f"  γ = {trial.gamma:g}: {trial.outcome}{more}", file=sys.stderr)
