"""Convergence diagnostics for loss traces: R-hat, ESS, a stationarity test and warnings.

All functions take a (chains, draws) array.  R-hat and the effective sample size come from
ArviZ (rank-normalised split R-hat and bulk ESS, Vehtari, Gelman, Simpson, Carpenter &
Bürkner 2021); the trend test is Geweke's (1992) comparison of the first 20% with the last
50% of the draws, pooled over chains, with a Welch t reference.  :func:`trace_warnings` turns the numbers into
the messages that :class:`slt.estimators.LLCResult` carries, each saying what to change.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "RHAT_MAX",
    "ESS_MIN",
    "TREND_P",
    "DISTANCE_TREND_P",
    "trend_pvalue",
    "rhat",
    "ess",
    "mcse_mean",
    "MIN_CHAINS_BETWEEN",
    "trend_z",
    "relaxation_draws",
    "burnin_advice",
    "trace_warnings",
]

RHAT_MAX = 1.01  # Vehtari et al. (2021): chains agree when R-hat < 1.01
ESS_MIN = 100.0  # below this the Monte Carlo standard error itself is unreliable
TREND_P = 1e-3  # two-sided p-value of the Geweke test of the losses that counts as non-stationary
DISTANCE_TREND_P = 5e-3  # one-sided ("greater") p-value for ‖w − w*‖²: chains leave w* outward


def _traces(traces: np.ndarray) -> np.ndarray:
    arr = np.asarray(traces, dtype=float)
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise ValueError(f"traces must be a (chains, draws >= 4) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("traces contain NaN or inf")
    return arr


def _constant(arr: np.ndarray) -> bool:
    return float(np.ptp(arr)) == 0.0


def rhat(traces: np.ndarray) -> float:
    """Rank-normalised split R-hat of a (chains, draws) array (ArviZ; 1.0 for a constant trace)."""
    import arviz as az

    arr = _traces(traces)
    if _constant(arr):
        return 1.0
    return float(az.rhat(arr, method="rank"))


def ess(traces: np.ndarray, method: str = "bulk") -> float:
    """Effective sample size of a (chains, draws) array (ArviZ ``method``: "bulk", "mean", ...)."""
    import arviz as az

    arr = _traces(traces)
    if _constant(arr):
        return float(arr.size)
    return float(az.ess(arr, method=method))


MIN_CHAINS_BETWEEN = 8  # chains from which the spread of the chain means is a usable standard error


def mcse_mean(traces: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of all draws (equal-length chains).

    se = max(s / √ESS_mean, s_C / √C), with s the sd of all draws, ESS_mean ArviZ's
    multi-chain ESS (Vehtari et al. 2021) and s_C the sd of the C chain means (C ≥
    :data:`MIN_CHAINS_BETWEEN`; the first term alone below that).  The ESS form reads the
    autocorrelation inside each chain and misses a mode slower than the chains' span; the
    spread of independent chains' means holds whatever the autocorrelation (batch means with one
    batch per chain).
    """
    arr = _traces(traces)
    if _constant(arr):
        return 0.0
    se = float(arr.std(ddof=1) / math.sqrt(ess(arr, method="mean")))
    if arr.shape[0] >= MIN_CHAINS_BETWEEN:
        se = max(se, float(arr.mean(axis=1).std(ddof=1) / math.sqrt(arr.shape[0])))
    return se


GEWEKE_FIRST = 0.2  # early window: the first 20% of the recorded draws
GEWEKE_LAST = 0.5  # late window: the last 50%


def _geweke(traces: np.ndarray) -> tuple[float, float]:
    """(z, Welch–Satterthwaite dof) of the pooled Geweke comparison; see :func:`trend_z`."""
    arr = _traces(traces)
    n = arr.shape[1]
    first, last = arr[:, :max(4, round(GEWEKE_FIRST * n))], arr[:, -max(4, round(GEWEKE_LAST * n)):]
    diff = float(last.mean() - first.mean())
    if _constant(first) and _constant(last):
        return (0.0 if diff == 0.0 else math.copysign(math.inf, diff)), math.inf
    ess_a, ess_b = ess(first, method="mean"), ess(last, method="mean")
    va, vb = first.var(ddof=1) / ess_a, last.var(ddof=1) / ess_b
    dof = (va + vb) ** 2 / (va**2 / max(ess_a - 1.0, 1.0) + vb**2 / max(ess_b - 1.0, 1.0))
    return diff / math.sqrt(va + vb), dof


def trend_z(traces: np.ndarray) -> float:
    """Geweke z of the change from the early to the late part of the chains (positive: rising).

    z = (mean_B − mean_A) / √(s_A²/ESS_A + s_B²/ESS_B), with A the first 20% and B the last
    50% of the recorded draws of all chains together (Geweke 1992, with the windows' variance
    of the mean from ArviZ's multi-chain "mean" ESS, Vehtari et al. 2021, in place of the
    spectral density at zero).  Pooling the chains keeps the power when all chains drift
    together (where R-hat stays at 1); per chain it is the same formula.
    """
    return _geweke(traces)[0]


def trend_pvalue(traces: np.ndarray, alternative: str = "two-sided") -> float:
    """p-value of :func:`trend_z`: Student t with the Welch–Satterthwaite dof of the ESSs.

    ν = (v_A + v_B)² / (v_A²/(ESS_A − 1) + v_B²/(ESS_B − 1)), v = s²/ESS (Welch 1947): short or
    strongly autocorrelated windows get heavy tails instead of false alarms.  ``alternative``
    "greater" tests for a rise only (chains started at w* relax upward).  Its false-alarm rate on
    stationary AR(1) chains at :data:`TREND_P` and :data:`DISTANCE_TREND_P` is checked in
    ``tests/test_diagnostics.py``.
    """
    from scipy import stats

    if alternative not in ("two-sided", "greater"):
        raise ValueError(f"alternative={alternative!r}; expected 'two-sided' or 'greater'")
    z, dof = _geweke(traces)
    if alternative == "greater":
        return float(stats.t.sf(z, df=dof)) if not math.isinf(z) else float(z < 0)
    if math.isinf(z):
        return 0.0
    return float(2 * stats.t.sf(abs(z), df=dof))


def relaxation_draws(traces: np.ndarray) -> float:
    """Relaxation time τ (in draws) of an exponential drift m(t) = m∞ − A e^{−t/τ}, or inf.

    From the means m₁, m₂, m₃ of the three thirds of the chain-averaged trace:
    r = (m₃ − m₂)/(m₂ − m₁) = e^{−(N/3)/τ}; a drift that does not slow down (r ∉ (0, 1))
    gives inf.
    """
    arr = _traces(traces).mean(axis=0)
    m1, m2, m3 = (float(p.mean()) for p in np.array_split(arr, 3))
    if m2 == m1:
        return math.inf
    r = (m3 - m2) / (m2 - m1)
    return arr.size / 3 / -math.log(r) if 0 < r < 1 else math.inf


def burnin_advice(traces: np.ndarray, num_burnin: int | None = None, thin: int = 1) -> str:
    """A concrete num_burnin for drifting traces: current + thin · τ (ln(drift / mcse) + 1), or 4× longer.

    With the exponential fit of :func:`relaxation_draws` the drift left at the end of the
    run, (m₃ − m₂) r/(1 − r), decays below the Monte Carlo standard error after
    τ ln(drift/mcse) more draws; without a fit (a drift that does not slow down) the run is
    far from equilibrium and the advice is a 4× longer burn-in plus draws.  A lower bound:
    relaxation along flat directions is slower than one exponential.
    """
    arr = _traces(traces)
    n = arr.shape[1]
    tau = relaxation_draws(arr)
    now = n * thin + (num_burnin or 0)
    if math.isfinite(tau):
        m = [float(p.mean()) for p in np.array_split(arr.mean(axis=0), 3)]
        r = math.exp(-n / 3 / tau)
        left = abs(m[2] - m[1]) * r / (1 - r)
        extra = thin * tau * max(1.0, math.log(max(left, 1e-300) / max(mcse_mean(arr), 1e-300)) + 1.0)
    else:
        extra = 3 * now
    if num_burnin is None:
        return f"raise num_burnin by at least {math.ceil(extra)} × thin steps"
    return f"raise num_burnin from {num_burnin} to at least {math.ceil(num_burnin + extra)}"


def trace_warnings(traces: np.ndarray, *, estimate: float, rhat_value: float, ess_value: float,
                   what: str = "LLC", num_burnin: int | None = None, thin: int = 1,
                   distance_traces: np.ndarray | None = None) -> tuple[str, ...]:
    """The diagnostic messages for loss traces and their estimate, each naming a remedy.

    ``num_burnin`` and ``thin`` (of the run that made the traces) turn the trend warning's
    advice into a concrete num_burnin (:func:`burnin_advice`).  ``distance_traces``
    (chains, draws) of ‖w − w*‖² recorded with the losses get the same test, one-sided at
    :data:`DISTANCE_TREND_P`: chains still spreading from w* along flat directions show there
    long before a minibatch-noisy loss trace does (only the trend test: the distance mixes
    slowly even when the loss has).
    """
    out = []
    if estimate < 0:
        out.append(
            f"{what} estimate is negative ({estimate:.4g}): the chains found loss below L(w*), so w* "
            "is not a local minimum or the sampler is biased; move w* to a minimum (train longer), "
            "or lower step_size, or raise gamma to keep the chains near w*"
        )
    for name, tr, alt, level in (("loss traces", traces, "two-sided", TREND_P),
                                 ("distances ‖w − w*‖²", distance_traces, "greater", DISTANCE_TREND_P)):
        p = 1.0 if tr is None else trend_pvalue(tr, alt)
        if p < level:
            out.append(
                f"{name} still trend: the last half differs from the first 20% by z = {trend_z(tr):.1f} "
                f"(Geweke, p = {p:.1g} < {level:g}), so the chains are not stationary and the estimate is biased; "
                f"{burnin_advice(tr, num_burnin, thin)}, or raise step_size (or gamma) to relax faster"
            )
            break
    if rhat_value > RHAT_MAX:
        out.append(
            f"R-hat = {rhat_value:.3f} > {RHAT_MAX}: the chains disagree; raise num_draws and "
            "num_burnin, or raise gamma if chains wander to different regions"
        )
    if ess_value < ESS_MIN:
        out.append(
            f"effective sample size {ess_value:.0f} < {ESS_MIN:.0f}: the standard error is unreliable; "
            "raise num_draws or num_chains, or raise step_size to shorten the autocorrelation"
        )
    return tuple(out)
