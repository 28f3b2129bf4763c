"""Step and burn-in rules of the estimator, written once against the backend interface.

- :func:`calibrate`: a scan of short pilot runs; the largest step whose MALA acceptance (for
  SGLD: the acceptance a MALA step of the same size would have at its draws, an estimate of the
  discretization error) reaches a target, with stationary traces.
- :func:`curvature_step`: ε = fraction/h from the stiffest direction h = nβ λ_max + γ, for
  problems too large for a scan; the estimator re-measures it where the chains go.
- :func:`auto_burnin`: the localization's slowest mode relaxes in 5/(γ ε̄) steps (5/√(γε) for
  kinetic samplers); :func:`burnin_settled`: the trend test that extends it where the chains
  are still moving.
- :func:`equilibrate`: MALA's burn-in extended while the chains move slower where they stand.
- :class:`StepAdapter`: dual averaging of HMC's step towards a target acceptance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Real
from typing import Any, Sequence

import numpy as np

from slt import diagnostics, samplers
from slt.errors import DivergenceError
from slt.estimators.backend import Backend, Probe, RunSpec
from slt.estimators.config import LLCConfig

__all__ = ["auto_burnin", "burnin_settled", "mean_step", "step_levels", "segment_seed", "moving_rate", "valley_curvature",
           "equilibrate", "AcceptanceProbe", "Calibration", "calibrate", "curvature_step", "StepAdapter",
           "BURNIN_STEPS"]

BURNIN_STEPS = 5000  # the fewest burn-in steps of the automatic rules
ACCEPTANCE_DRAWS = 200  # recorded draws per chain used for the acceptance estimate
BURNIN_RELAXATIONS = 5.0  # e-foldings of the localization-only mode's variance in the default burn-in
MAX_AUTO_BURNIN = 200_000
ADAPT_MAX_ROUNDS = 4  # extensions of MALA's default burn-in (see equilibrate)
ADAPT_GROWTH = 1.25  # stop extending when the burn-in needed is within this factor of the steps run
MAX_ADAPTIVE_BURNIN = 2_000_000
RATE_PROPOSALS = 8  # proposals per chain and step level when measuring how fast the chains move
MIN_RATE_ACCEPTANCE = 0.01  # a chain's rate counts at least this acceptance at the smallest level
SLOW_FRACTION = 0.05  # the cap note fires when this fraction of the chains needs more burn-in
RELAX_STEPS = 50  # after lowering the step: what the larger step got wrong relaxes in this many of its steps
BURNIN_RECORDS = 100  # loss and ‖w − w*‖² records of a burn-in run, for its trend test
TREND_EXTENSIONS = 3  # doublings of the burn-in at most while its trend test fails


def burnin_settled(loss_traces: np.ndarray, distance_traces: np.ndarray) -> bool:
    """Whether the second half of a burn-in run's records shows no trend: the losses pass the
    two-sided Geweke test at :data:`slt.diagnostics.TREND_P` and ‖w − w*‖² the one-sided test of a
    rise at :data:`slt.diagnostics.DISTANCE_TREND_P` (:func:`slt.diagnostics.trend_pvalue`; chains
    started at w* relax outward).  Fewer than 16 records per chain: settled (too short to test).

    >>> rng = np.random.default_rng(0)
    >>> flat = rng.normal(size=(8, 40))
    >>> burnin_settled(flat, flat + 5), burnin_settled(flat, flat + np.linspace(0, 20, 40))
    (True, False)
    """
    n = loss_traces.shape[1]
    if n < 16:
        return True
    half = slice(n // 2, None)
    return bool(diagnostics.trend_pvalue(loss_traces[:, half]) >= diagnostics.TREND_P
                and diagnostics.trend_pvalue(distance_traces[:, half], "greater") >= diagnostics.DISTANCE_TREND_P)


def segment_seed(seed: int | None, k: int) -> int | None:
    """Seed of the k-th separate run of one estimate (burn-in rounds, draws, probes): independent streams."""
    return None if seed is None else int(np.random.SeedSequence([seed, 0x5EED, k]).generate_state(1)[0])


def step_levels(step_size: float, levels: int) -> np.ndarray:
    """MALA's step levels ε·4^(−k), k < levels."""
    return step_size * 0.25 ** np.arange(levels)


def mean_step(step_size: Any, levels: Any) -> Any:
    """Mean step of MALA's levels ε·4^(−k), k < levels (relaxation slows with it); ε for one level."""
    if not isinstance(step_size, Real) or not isinstance(levels, int) or levels < 2:
        return step_size
    return step_size * float(step_levels(1.0, levels).mean())


def auto_burnin(step_size: float, gamma: float, thin: int = 1, *, kinetic: bool = False
                ) -> tuple[int, tuple[str, ...]]:
    """Default burn-in for chains started at w*: long enough for the slowest mode to relax.

    Along a direction in which the loss is flat (a valley of the zero set), only the
    localization acts and a chain is the Ornstein–Uhlenbeck recursion
    w ← w − (ε/2) γ (w − w*) + N(0, ε), whose variance, 0 at the start, approaches 1/γ like
    1 − exp(−γ ε k) after k steps.  The burn-in is ``BURNIN_RELAXATIONS``/(γ ε) steps (under 1%
    of that variance missing).  A kinetic sampler (time step √ε, friction critical for the
    localization, 2√γ) relaxes that mode like exp(−2√γ t) up to a polynomial factor: its burn-in
    is ``BURNIN_RELAXATIONS``/(√γ √ε) steps.  At least :data:`BURNIN_STEPS` (a fifth of it for a
    kinetic sampler) and at most
    ``MAX_AUTO_BURNIN`` (then with a note), rounded up to a multiple of ``thin``.  A step that is
    not a positive number gets the fixed default (the sampler then rejects it).

    >>> auto_burnin(1e-3, 1.0)
    (5000, ())
    >>> auto_burnin(1e-6, 1.0, kinetic=True)
    (5000, ())
    >>> auto_burnin(1e-4, 1.0, kinetic=True)
    (1000, ())
    """
    if not (isinstance(step_size, Real) and isinstance(gamma, Real) and gamma > 0 and step_size > 0):
        return BURNIN_STEPS, ()
    rate = math.sqrt(gamma * step_size) if kinetic else gamma * step_size
    want = math.ceil(BURNIN_RELAXATIONS / rate)
    notes: tuple[str, ...] = ()
    if want > MAX_AUTO_BURNIN:
        notes = (f"the localization relaxes over {1 / rate:.3g} steps; the default burn-in "
                 f"is capped at {MAX_AUTO_BURNIN}, which may leave flat directions unequilibrated: raise num_burnin, "
                 f"gamma or step_size",)
        want = MAX_AUTO_BURNIN
    k = max(BURNIN_STEPS // 5 if kinetic else BURNIN_STEPS, want)
    return -(-k // thin) * thin, notes


class AcceptanceProbe:
    """Mean acceptance of one MALA proposal (the spec's step and metric, full batch) from the
    recorded draws: for SGLD an estimate of its discretization error (1 as ε → 0)."""

    def __init__(self, backend: Backend, spec: RunSpec, seed: int | None, num_draws: int):
        self.backend, self.spec, self.seed = backend, spec, seed
        self.every = max(1, num_draws // ACCEPTANCE_DRAWS)
        self.values: list[float] = []

    def __call__(self, positions: Any, draw: int) -> None:
        pts = positions[:, None, :]
        acc = self.backend.mala_acceptance(pts, self.spec, segment_seed(self.seed, 50_000 + draw))
        self.values.append(float(np.mean(acc)))

    @property
    def probe(self) -> Probe:
        return Probe(self.every, self)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan


def moving_rate(backend: Backend, positions: Any, spec: RunSpec, seed: int | None = None) -> np.ndarray:
    """Squared distance per step that MALA's step levels move from each position, r = (1/L) Σ_k ε_k ᾱ_k.

    ᾱ_k is the mean Metropolis acceptance of :data:`RATE_PROPOSALS` proposals at level
    ε_k = ε 4^(−k).  In a flat direction a chain diffuses by r per step, so the
    localization-only mode relaxes over 1/(γ r) steps; a chain in a valley stiffer than the large
    levels moves only with the small ones, and r falls far below the mean step there.
    """
    pts = np.repeat(np.asarray(positions, dtype=float)[:, None, :], RATE_PROPOSALS, axis=1)
    cfg = spec.config
    rate = np.zeros(pts.shape[0])
    for k, eps in enumerate(step_levels(cfg.step_size, cfg.step_levels)):
        level = replace(spec, config=replace(cfg, step_size=float(eps)))
        acc = backend.mala_acceptance(pts, level, segment_seed(seed, 1000 + k))
        rate += eps * acc.mean(axis=1)
    return rate / cfg.step_levels


def _slowest_direction(hess: np.ndarray, nbeta: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """κ = γ + max(0, smallest eigenvalue of nβ ∇²V) and its unit eigenvector, per position."""
    values, vectors = np.linalg.eigh(hess)
    return gamma + np.maximum(0.0, nbeta * values[:, 0]), vectors[:, :, 0]


def valley_curvature(backend: Backend, positions: Any, nbeta: float, gamma: float) -> np.ndarray:
    """κ = γ + max(0, smallest eigenvalue of nβ ∇²V) at each position: the restoring force of the
    slowest direction there (γ along a flat valley, more where V itself confines)."""
    return _slowest_direction(backend.hessians(positions), nbeta, gamma)[0]


def _slow_modes(backend: Backend, positions: Any, spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """(κ, s): the slowest direction's restoring force and the share s = Σ_d f_d v_d² of the step
    that MALA's metric leaves along it (f_d the sampler's factors; s = 1 without the metric)."""
    cfg = spec.config
    kappa, v = _slowest_direction(backend.hessians(positions), cfg.nbeta, cfg.gamma)
    return kappa, np.sum(backend.step_factors(positions, spec) * v**2, axis=1)


def equilibrate(backend: Backend, spec: RunSpec, pos: Any, *, progress: bool | str
                ) -> tuple[Any, int, list[dict], tuple[str, ...]]:
    """MALA burn-in that lasts BURNIN_RELAXATIONS relaxations at the rate the chains actually move.

    Round 0 runs ``spec.config.num_burnin`` steps (:func:`auto_burnin` at the mean step).  After
    each round every chain's relaxation rate is measured where it stands, r_c κ_c: how far its
    step levels move (:func:`moving_rate`, times the share of the step that MALA's metric leaves
    along the slowest direction) times that direction's restoring force
    (:func:`valley_curvature`; γ in a flat valley).  The burn-in is extended to
    BURNIN_RELAXATIONS over the slowest chain's rate until it grows by less than ADAPT_GROWTH or
    reaches MAX_ADAPTIVE_BURNIN; a note says so when even the SLOW_FRACTION quantile of the
    chains needs more.  Returns the positions, the burn-in steps, the rounds and the notes.
    """
    cfg = spec.config
    done, want, rounds, notes = 0, cfg.num_burnin, [], ()
    floor = step_levels(cfg.step_size, cfg.step_levels)[-1] * MIN_RATE_ACCEPTANCE / cfg.step_levels
    mstep = mean_step(cfg.step_size, cfg.step_levels)
    for k in range(ADAPT_MAX_ROUNDS + 1):
        if want > done:
            pos = backend.run(spec, pos, num_steps=want - done, thin=want - done, seed=segment_seed(cfg.seed, k),
                              progress=progress).positions
            done = want
        kappa, share = _slow_modes(backend, pos, spec)
        rate = np.maximum(moving_rate(backend, pos, spec, segment_seed(cfg.seed, 100 + k)) * share, floor)
        relax = rate * kappa
        order = np.argsort(relax)
        need = math.ceil(BURNIN_RELAXATIONS / relax[order[0]])
        rounds.append(dict(steps=done, rate=float(rate[order[0]]), mean_step=mstep, needed=need))
        if need <= ADAPT_GROWTH * done:
            break
        if done >= MAX_ADAPTIVE_BURNIN or k == ADAPT_MAX_ROUNDS:
            q = order[int(SLOW_FRACTION * order.size)]
            if BURNIN_RELAXATIONS / relax[q] > ADAPT_GROWTH * done:
                notes = (f"{100 * SLOW_FRACTION:g}% of the chains move {mstep / rate[q]:.3g} times "
                         f"slower than the mean step where they stand and need about "
                         f"{math.ceil(BURNIN_RELAXATIONS / relax[q])} burn-in steps; stopped at {done}: the far valleys "
                         "may be under-filled; raise num_burnin, gamma or step_levels",)
            break
        want = min(need, MAX_ADAPTIVE_BURNIN)
    return pos, done, rounds, notes


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    step_size, gamma : the chosen pair.
    table : one dict per scanned (gamma, step_size): llc, se, acceptance, trend_p, rhat,
        diverged, ok.
    target_acceptance : the acceptance the chosen step had to reach.
    """

    step_size: float
    gamma: float
    table: tuple[dict, ...]
    target_acceptance: float

    def format(self) -> str:
        """The table as aligned text."""
        head = f"{'gamma':>8} {'step':>10} {'llc':>8} {'se':>7} {'accept':>7} {'trend p':>8} {'rhat':>6}  ok"
        rows = [head]
        for r in self.table:
            if r["diverged"]:
                rows.append(f"{r['gamma']:8.3g} {r['step_size']:10.3e}  diverged")
                continue
            mark = "*" if (r["step_size"], r["gamma"]) == (self.step_size, self.gamma) else ("y" if r["ok"] else "-")
            rows.append(f"{r['gamma']:8.3g} {r['step_size']:10.3e} {r['llc']:8.4f} {r['se']:7.4f} "
                        f"{r['acceptance']:7.3f} {r['trend_p']:8.2g} {r['rhat']:6.3f}  {mark}")
        return "\n".join(rows)


def _pilot(backend: Backend, cfg: LLCConfig, center: Any, init_loss: float) -> dict:
    """One row of the scan: a short run's λ̂, se, acceptance, trend p-value and R-hat."""
    row = dict(gamma=cfg.gamma, step_size=cfg.step_size, diverged=False, ok=False, llc=math.nan, se=math.nan,
               acceptance=math.nan, trend_p=math.nan, rhat=math.nan)
    spec = RunSpec(cfg, center)
    probe = None if cfg.record.exact else AcceptanceProbe(backend, spec, segment_seed(cfg.seed, 1),
                                                                        cfg.num_draws)
    try:
        init = backend.start(center, cfg.num_chains, cfg.nbeta, cfg.gamma)
        chains = backend.run(spec, init, num_steps=cfg.total_steps, thin=cfg.thin, seed=cfg.seed,
                             probe=None if probe is None else probe.probe, skip=cfg.num_burnin)
    except DivergenceError:
        row["diverged"] = True
        return row
    traces = chains.loss_traces
    if not np.all(np.isfinite(traces)):
        row["diverged"] = True
        return row
    row.update(llc=float(cfg.nbeta * (traces.mean() - init_loss)),
               se=float(cfg.nbeta * diagnostics.mcse_mean(traces)),
               acceptance=chains.acceptance if probe is None else probe.mean,
               trend_p=diagnostics.trend_pvalue(traces), rhat=diagnostics.rhat(traces))
    return row


def calibrate(backend: Backend, center: Any, base: LLCConfig, *, step_sizes: Sequence[float] | None = None,
              gammas: Sequence[float] | None = None, target_acceptance: float | None = None,
              num_draws: int = 400, num_burnin: int = 1000, full_table: bool = False) -> Calibration:
    """Scan step sizes (and γ) with short runs; pick the largest stable, stationary, accurate step.

    For every γ and ε (default ε = 10^(2 − k/2)/nβ, k = 0..12) a pilot run of ``base``'s sampler
    records the LLC, the MALA acceptance of the step (for SG-MCMC: the estimate from its draws,
    a measure of the discretization bias; default target: the record's ``scan_acceptance``), the
    second-half trend test and R-hat.  A step is acceptable when the chains do not diverge, the
    acceptance is ≥ ``target_acceptance``, the trend p-value is above
    :data:`slt.diagnostics.TREND_P`, and the next larger step did not diverge.  The choice is
    the smallest acceptable γ with its largest acceptable step, so the scan (from the largest
    step down, γ from the smallest up) stops at the first acceptable step unless ``full_table``.

    Raises
    ------
    ValueError
        If no scanned step is acceptable (the table is in the message).
    """
    if target_acceptance is None:
        target_acceptance = base.record.scan_acceptance
        if target_acceptance is None:
            raise ValueError(f"sampler {base.sampler!r} has no step scan: give target_acceptance or a step size")
    if not 0 < target_acceptance < 1:
        raise ValueError(f"target_acceptance must be in (0, 1), got {target_acceptance!r}")
    nbeta = base.nbeta
    steps = sorted((float(s) for s in (step_sizes if step_sizes is not None else
                                       [10 ** (2 - k / 2) / nbeta for k in range(13)])), reverse=True)
    if not steps or min(steps) <= 0:
        raise ValueError(f"step_sizes must be positive, got {steps}")
    init_loss = backend.loss(center)
    rows = []
    for gamma in sorted(float(g) for g in (gammas if gammas is not None else (base.gamma,))):
        for eps in steps:
            cfg = replace(base, gamma=gamma, step_size=eps, num_draws=num_draws, num_burnin=num_burnin, thin=1)
            row = _pilot(backend, cfg, center, init_loss)
            row["ok"] = bool(not row["diverged"] and row["acceptance"] >= target_acceptance
                             and row["trend_p"] >= diagnostics.TREND_P)
            if rows and rows[-1]["gamma"] == gamma and rows[-1]["diverged"]:
                row["ok"] = False  # next to a diverged larger step: a long run may diverge too
            rows.append(row)
            if row["ok"] and not full_table:
                break
        if not full_table and any(r["ok"] for r in rows):
            break
    good = [r for r in rows if r["ok"]]
    if not good:
        table = Calibration(math.nan, math.nan, tuple(rows), target_acceptance).format()
        raise ValueError(f"no scanned step size is stable and accurate enough; scan smaller step_sizes "
                         f"or a larger gamma:\n{table}")
    gamma = min(r["gamma"] for r in good)
    step = max(r["step_size"] for r in good if r["gamma"] == gamma)
    return Calibration(step_size=step, gamma=gamma, table=tuple(rows), target_acceptance=target_acceptance)


def curvature_step(sampler: str, nbeta: float, gamma: float, curvature: float, *,
                   batch_size: int | None = None, n: int | None = None, metric_max: float = 1.0) -> float:
    """Step from the stiffest direction of the localized potential, h = nβ λ_max + γ.

    SGLD on a quadratic of curvature h has stationary variance 1/(h (1 − εh/4)), so ε = 0.2/h
    inflates the stiffest direction's variance by about 5%.  A minibatch of b out of n adds
    gradient noise of covariance nβ² (1/b − 1/n) Σ per step, Σ ≈ H near a true parameter
    (Welling & Teh 2011, §4), so the rule uses h = nβ λ_max (1 + nβ(1/b − 1/n)) + γ.  The fraction
    f of ε = f/h is the sampler record's ``curvature_fraction`` (MALA and HMC start from 0.25/h;
    HMC then adapts it, :class:`StepAdapter`); a sampler whose step enters as √ε
    (``momentum_step``, SGNHT) takes ε = √(f/h).  With a diagonal inverse metric G
    (:mod:`slt.estimators.metric`) ``curvature`` is λ_max(G^½ ∇²L G^½) and the localization adds
    at most γ max_d G_d = γ ``metric_max``.

    >>> curvature_step("sgld", 100.0, 1.0, 0.99)
    0.002
    """
    rec = samplers.get(sampler)
    noise = 0.0 if batch_size is None or n is None or batch_size >= n else nbeta * (1.0 / batch_size - 1.0 / n)
    h = nbeta * curvature * (1.0 + noise) + gamma * metric_max
    if h <= 0:
        raise ValueError("step_size='auto' needs curvature: the loss is flat at w* and gamma=0; give step_size")
    f = rec.curvature_fraction
    return math.sqrt(f / h) if rec.momentum_step else f / h


class StepAdapter:
    """Dual averaging of the step size towards a target acceptance (Hoffman & Gelman 2014, Alg. 5;
    Nesterov 2009), on the leapfrog step x = log √ε:

        H̄_t = (1 − 1/(t + t₀)) H̄_{t−1} + (δ − a_t)/(t + t₀),   x_t = μ − (√t/γ) H̄_t,
        x̄_t = t^(−κ) x_t + (1 − t^(−κ)) x̄_{t−1},

    μ = log(10 √ε₀), γ = 0.05, t₀ = 10, κ = 0.75, ``a_t`` the mean acceptance probability of the
    chains. :attr:`step` is the step to use next (during burn-in), :attr:`final` the averaged one
    (after burn-in; the Markov chain is then homogeneous and exact).

    >>> a = StepAdapter(0.01, 0.65)
    >>> a.update(1.0); a.step > 0.01
    True
    """

    def __init__(self, step_size: float, target: float, *, gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75):
        self.mu = math.log(10.0 * step_size**0.5)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.t, self.h_bar, self.x, self.x_bar = 0, 0.0, math.log(step_size**0.5), 0.0

    def update(self, accept_prob: float) -> None:
        """Record the acceptance probability of the last step."""
        self.t += 1
        t = self.t
        self.h_bar += ((self.target - accept_prob) - self.h_bar) / (t + self.t0)
        self.x = self.mu - math.sqrt(t) / self.gamma * self.h_bar
        weight = t ** (-self.kappa)
        self.x_bar = weight * self.x + (1.0 - weight) * self.x_bar

    @property
    def step(self) -> float:
        return math.exp(2.0 * self.x)

    @property
    def final(self) -> float:
        return math.exp(2.0 * (self.x_bar if self.t else self.x))
