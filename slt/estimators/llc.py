"""The one LLC estimator, written against the backend interface (:mod:`slt.estimators.backend`).

λ̂(w*) = nβ (E_{w|w*,β,γ}[L(w)] − L(w*)) (Lau, Furman, Wang, Murfet & Wei 2023, Def. 3), the
expectation over p(w) ∝ exp(−nβ L(w) − (γ/2)‖w − w*‖²).  :func:`estimate` resolves the
settings (:func:`slt.estimators.config.default_settings`: a function of the problem), chooses
the step (:mod:`slt.estimators.tuning`), burns in, samples, thins, extrapolates SGLD's O(ε)
bias away (Richardson: 2 λ̂(ε/2) − λ̂(ε), Talay & Tubaro 1990), estimates the singular
fluctuation ν̂ from per-sample losses at the draws, and returns an :class:`LLCResult` with its
diagnostics.  The public doors are :func:`slt.estimators.estimate_llc` (potentials and toy
models, numba) and :func:`slt.nn.estimate_llc` (torch modules).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from slt import samplers
from slt.errors import DivergenceError
from slt.estimators import localization, metric, tuning
from slt.estimators.backend import Backend, Chains, RunSpec, capabilities, check_backend
from slt.estimators.convergence import Targets, extend
from slt.estimators.config import DEFAULT_GAMMA, MIN_DRAWS, SMALL_DIM, LLCConfig, default_settings
from slt.estimators.core import fine_config, llc_from_traces, richardson_extrapolate
from slt.estimators.recording import Recorder, Recording
from slt.estimators.results import LLCResult
from slt.estimators.settings import Settings
from slt.samplers import count, positive
from slt.sampling.rng import seed_to_int

__all__ = ["Request", "estimate", "resolve", "sample"]

STEP_RULES = ("auto", "scan", "curvature")  # step_size="auto": the problem's rule; or name one
STEP_RETRIES = 4  # the curvature rule quarters a step that diverged in burn-in this many times at most


@dataclass(frozen=True)
class Request(Settings):
    """What the caller asked for (the door's :class:`Settings`, nβ resolved), and what the door adds:
    the exact value to compare with, notes for the warnings, facts for ``info`` and ``observers``
    recorded at the draws (:class:`slt.estimators.recording.Recording`)."""

    exact: float | None = None
    notes: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    observers: tuple = ()


def _sampler_options(rec: samplers.Sampler, d: Any, req: Request) -> Any:
    """The sampler's options: the problem's values for it (``d.options``), then the caller's dict,
    then the named ``step_levels`` / ``metric`` (MALA's, an error for any other sampler)."""
    named = {k: getattr(req, k) for k in ("step_levels", "metric") if getattr(req, k) is not None}
    fields = rec.options.__dataclass_fields__
    for name in named:
        if name not in fields:
            raise ValueError(f"{name} is an option of sampler 'mala', not of {rec.name!r}")
    problem = {k: v for k, v in d.options.get(rec.name, {}).items() if k in fields}
    return rec.make_options({**problem, **(req.sampler_options or {})}, **named)


def _targets(req: Request, num_draws: int, richardson: bool, defaults: Any) -> Targets:
    """The convergence targets and budget of ``req`` (:mod:`slt.estimators.convergence`); the
    problem's default targets when the caller set neither targets nor ``num_draws``."""
    if req.target_rhat is not None and not (isinstance(req.target_rhat, (int, float)) and req.target_rhat > 1):
        raise ValueError(f"target_rhat must be a number > 1, got {req.target_rhat!r}")
    if req.target_rse is not None:
        positive("target_rse", req.target_rse)
    if req.time_budget is not None:
        positive("time_budget", req.time_budget)
    rhat, rse, cap = req.target_rhat, req.target_rse, 8 * num_draws
    if rhat is None and rse is None and req.num_draws is None and defaults is not None and not richardson:
        rhat, rse, cap = defaults
    max_draws = cap if req.max_draws is None else count("max_draws", req.max_draws, num_draws)
    targets = Targets(rhat=rhat, rse=rse, max_draws=max(max_draws, num_draws), seconds=req.time_budget)
    if targets.active and richardson:
        raise ValueError("targets extend one run's draws; Richardson extrapolation runs two: pass richardson=False")
    return targets


def resolve(backend: Backend, req: Request) -> tuple[LLCConfig, dict]:
    """The run's :class:`LLCConfig` with placeholders for what the step and burn-in rules decide
    (step 1.0, burn-in 0), and the choices: step rule, whether to adapt the burn-in, the thin rule,
    Richardson.  Every option is honoured or rejected here, the same on every backend; the facts
    about the sampler come from its registry record (:mod:`slt.samplers`)."""
    check_backend(backend)
    d = default_settings(backend.dim, backend.n, req.batch_size)
    sampler = d.sampler if req.sampler is None else req.sampler
    if req.sampler is None and sampler not in backend.samplers:  # e.g. a numba model of > SMALL_DIM coordinates
        backend.note(f"the problem's default sampler {sampler!r} does not run on {backend.name}; SGLD instead")
        sampler = "sgld"
    rec = samplers.get(sampler)
    if not rec.estimator:
        raise ValueError(f"unknown sampler {sampler!r} for the estimator; choose one of "
                         f"{sorted(samplers.estimator_samplers())}")
    opts = _sampler_options(rec, d, req)
    if sampler not in backend.samplers:
        raise ValueError(f"sampler {sampler!r} is not available for {backend.name}; it runs {list(backend.samplers)}")
    if getattr(opts, "metric", 0) > 0 and not getattr(backend, "supports_metric", False):
        raise ValueError(f"metric={opts.metric} needs the exact Hessian diagonal, affordable up to {SMALL_DIM} "
                         f"sampled coordinates; this problem has {backend.dim}: pass metric=0")
    if req.batch_size is not None:
        count("batch_size", req.batch_size, 1)
        if backend.n is None:
            raise ValueError("batch_size needs a model with data; a potential has none")
    batch = None if req.batch_size is None or req.batch_size >= (backend.n or 0) else int(req.batch_size)
    if req.richardson and not rec.richardson:
        raise ValueError(f"richardson=True extrapolates SGLD's step bias; sampler {sampler!r} has none to remove")
    richardson = (d.richardson if req.richardson is None else bool(req.richardson)) and rec.richardson
    num_draws = d.num_draws if req.num_draws is None else count("num_draws", req.num_draws, MIN_DRAWS)
    num_chains = d.num_chains if req.num_chains is None else count("num_chains", req.num_chains, 1)
    thin = req.thin if req.thin is not None else (d.thin or 5)
    count("thin", thin, 1)
    if req.num_burnin is not None:
        count("num_burnin", req.num_burnin, 0)
    count("fluctuation_points", req.fluctuation_points, 0)
    gamma = DEFAULT_GAMMA if req.gamma is None else req.gamma
    cfg = LLCConfig(nbeta=req.nbeta, gamma=gamma, step_size=1.0, num_chains=num_chains, num_draws=num_draws,
                    num_burnin=0, thin=thin, sampler=sampler, seed=None if req.seed is None else seed_to_int(req.seed),
                    batch_size=batch, options=opts)
    if isinstance(req.step_size, str) and req.step_size not in STEP_RULES:
        raise ValueError(f"step_size must be a positive number or one of {STEP_RULES}, got {req.step_size!r}")
    caps = capabilities(backend)
    rule = rec.step_rule or d.step_rule
    if req.step_size in ("scan", "curvature"):
        rule = req.step_size
    if rule == "scan" and "metropolis_probes" not in caps:
        if req.step_size == "scan":
            raise ValueError(f"step_size='scan' needs MALA proposals, which {backend.name} does not offer")
        rule = "curvature"
    choices = dict(rule=rule, richardson=richardson, auto_thin=req.thin is None and d.thin is None,
                   targets=_targets(req, num_draws, richardson, d.targets),
                   gamma_search=req.gamma is None and d.gamma_search and rule == "curvature"
                   and not isinstance(req.step_size, (int, float)) and not rec.exact,
                   windows=rec.inv_metric == "windows" and bool(getattr(opts, "adapt_metric", False)),
                   adapt=req.num_burnin is None and rec.burnin == "measured" and gamma > 0
                   and backend.dim <= SMALL_DIM and d.adaptive_burnin
                   and {"metropolis_probes", "hessians"} <= caps)
    if choices["windows"] and (isinstance(req.step_size, (int, float)) or req.num_burnin is not None
                               or rule != "curvature"):
        raise ValueError("adapt_metric=True adapts the step and the warm-up in its windows: leave step_size='auto' "
                         "and num_burnin=None")
    if rec.inv_metric == "hessian" and "diagonal" not in caps:
        raise ValueError(f"sampler {sampler!r} needs a Hessian-diagonal estimate, which {backend.name} does not offer")
    return cfg, choices


def sample(backend: Backend, cfg: LLCConfig, center: Any, *, progress: bool, adapt: bool = False,
           auto_thin: bool = False, recording: Recording = Recording(), adapt_acceptance: float | None = None,
           init: Any = None) -> tuple[Chains, LLCConfig, dict, tuple[str, ...], Recorder]:
    """Burn in and draw.  Returns the draws, the config used, info, notes and the recorder.

    ``adapt``: MALA's measured burn-in (:func:`tuning.equilibrate`); ``adapt_acceptance``: adapt
    the step to this acceptance during the burn-in (:class:`tuning.StepAdapter`), in the same run
    as the draws; ``init``: the chains' start (None: w*).
    """
    info: dict[str, Any] = {}
    notes: tuple[str, ...] = ()
    spec = RunSpec(cfg, center)
    pos = backend.start(center, cfg.num_chains, cfg.nbeta, cfg.gamma) if init is None else init
    if adapt:
        pos, burnin, rounds, notes = tuning.equilibrate(backend, spec, pos, progress=_label(progress, "burn-in"))
        info["burnin_rounds"] = rounds
        thin = max(cfg.thin, math.ceil(burnin / cfg.num_draws)) if auto_thin else cfg.thin
        cfg = replace(cfg, num_burnin=burnin, thin=thin)
    elif cfg.num_burnin and adapt_acceptance is None:
        pos = backend.run(spec, pos, num_steps=cfg.num_burnin, thin=cfg.num_burnin, seed=cfg.seed,
                          progress=_label(progress, "burn-in")).positions
    recorder = Recorder(backend, cfg, center, recording)
    skip = cfg.num_burnin if adapt_acceptance is not None else 0
    seed = tuning.segment_seed(cfg.seed, tuning.ADAPT_MAX_ROUNDS + 1) if adapt or not skip else cfg.seed
    chains = backend.run(RunSpec(cfg, center, adapt_acceptance=adapt_acceptance if skip else None), pos,
                         num_steps=skip + cfg.num_draws * cfg.thin, thin=cfg.thin, seed=seed,
                         progress=_label(progress, "burn-in + draws" if skip else "draws"),
                         probe=recorder.probe, skip=skip)
    if chains.step_size != cfg.step_size:
        info["adapted_from"] = cfg.step_size
        cfg = replace(cfg, step_size=float(chains.step_size))
    return chains, cfg, info, notes, recorder


def _auto_step(backend: Backend, cfg: LLCConfig, center: Any, rule: str, req: Request) -> tuple[LLCConfig, dict]:
    """Resolve step_size='auto' by the problem's rule: a scan (:func:`tuning.calibrate`) or the
    curvature at w* (:func:`tuning.curvature_step`)."""
    if rule == "scan":
        cal = tuning.calibrate(backend, center, replace(cfg, num_burnin=0))
        return replace(cfg, step_size=cal.step_size, gamma=cal.gamma), {"calibration": cal, "step_rule": "scan"}
    step, curvature = metric.metric_curvature_step(backend, center[None], cfg, tuning.segment_seed(cfg.seed, 7))
    return replace(cfg, step_size=step), {"step_rule": "curvature", "curvature": curvature}


def _burnin(cfg: LLCConfig, req: Request, choices: dict) -> tuple[LLCConfig, tuple[str, ...]]:
    """Burn-in and thin from the rules when not given."""
    mstep = tuning.mean_step(cfg.step_size, cfg.step_levels)
    thin, notes = cfg.thin, ()
    if choices["auto_thin"] and req.num_burnin is None:
        thin = max(thin, math.ceil(tuning.auto_burnin(mstep, cfg.gamma)[0] / cfg.num_draws))
    if req.num_burnin is not None:
        burnin = req.num_burnin
    elif cfg.record.burnin == "fixed":
        burnin = cfg.record.fixed_burnin
    elif choices["adapt"]:
        burnin = tuning.auto_burnin(mstep, cfg.gamma)[0]
    elif cfg.record.burnin == "preconditioned":  # the relaxation rule in the metric's coordinates
        burnin, notes = tuning.auto_burnin(mstep, choices["slowest_pull"][cfg.gamma], thin)
    else:
        burnin, notes = tuning.auto_burnin(mstep, cfg.gamma, thin, kinetic=cfg.record.burnin == "kinetic")
    return replace(cfg, num_burnin=burnin, thin=thin), notes


def _curvature_run(backend: Backend, cfg: LLCConfig, center: Any, req: Request, info: dict,
                   check: Callable[[float, float, float], None] | None = None):
    """The curvature rule's run: burn in at the step from w*, re-measure the curvature where the
    chains went, lower the step if needed, relax, extend the burn-in while it trends (unless
    ``num_burnin`` was given: :func:`_settle`) and draw; a step that diverges in burn-in is
    quartered (at most STEP_RETRIES times) and the burn-in started again.  ``check(loss, first,
    step)`` sees the chains' mean loss at the end of the burn-in, the step from w* and the step
    the run goes on with (it may raise to stop the run)."""
    first = cfg.step_size
    for attempt in range(STEP_RETRIES + 1):
        try:
            spec = RunSpec(cfg, center)
            burn = backend.run(spec, backend.start(center, cfg.num_chains, cfg.nbeta, cfg.gamma),
                               num_steps=max(cfg.num_burnin, 1), thin=max(cfg.num_burnin // tuning.BURNIN_RECORDS, 1),
                               seed=tuning.segment_seed(cfg.seed, 10 + attempt),
                               progress=_label(req.progress, "burn-in"))
            pos = burn.positions
            break
        except DivergenceError:
            if attempt == STEP_RETRIES:
                raise
            cfg = replace(cfg, step_size=cfg.step_size / 4)
            backend.note(f"the curvature rule's step diverged in burn-in; quartered to {cfg.step_size:.3g}")
    rule_step, at = metric.metric_curvature_step(backend, pos, cfg, tuning.segment_seed(cfg.seed, 8))
    step = min(cfg.step_size, rule_step)
    info.update(curvature_at_chains=float(at), burnin_step_size=float(cfg.step_size))
    if check is not None:
        check(float(np.mean(burn.loss_traces[:, -1])), first, step)
    relax = min(math.ceil(tuning.RELAX_STEPS * cfg.step_size / step), cfg.num_burnin) if step < cfg.step_size else 0
    cfg = replace(cfg, step_size=step)
    if relax:
        pos = backend.run(RunSpec(cfg, center), pos, num_steps=relax, thin=relax,
                          seed=tuning.segment_seed(cfg.seed, 9), progress=_label(req.progress, "relax")).positions
    info["relax_steps"] = relax
    cfg = replace(cfg, num_burnin=cfg.num_burnin + relax)
    if req.num_burnin is None:
        pos, cfg = _settle(backend, cfg, center, req, info, burn, pos)
    recorder = Recorder(backend, cfg, center, _recording(req))
    chains = backend.run(RunSpec(cfg, center), pos, num_steps=cfg.num_draws * cfg.thin, thin=cfg.thin,
                         seed=tuning.segment_seed(cfg.seed, 11), progress=_label(req.progress, "draws"),
                         probe=recorder.probe)
    return chains, cfg, recorder


def _settle(backend: Backend, cfg: LLCConfig, center: Any, req: Request, info: dict, burn: Chains, pos: Any
            ) -> tuple[Any, LLCConfig]:
    """The burn-in measured from the chains: while the second half of the last burn-in run trends
    (:func:`tuning.burnin_settled`), run as many steps again as the burn-in has had (doubling it,
    at most :data:`tuning.TREND_EXTENSIONS` times; then a note).  ``info["burnin_extensions"]``."""
    extensions = 0
    while not tuning.burnin_settled(burn.loss_traces, burn.distance_traces):
        if extensions == tuning.TREND_EXTENSIONS:
            backend.note(f"the burn-in's trend test still fails after {cfg.num_burnin} steps: the chains may not "
                         "have settled; raise num_burnin or gamma")
            break
        steps = cfg.num_burnin
        burn = backend.run(RunSpec(cfg, center), pos, num_steps=steps, thin=max(steps // tuning.BURNIN_RECORDS, 1),
                           seed=tuning.segment_seed(cfg.seed, 60 + extensions),
                           progress=_label(req.progress, "burn-in (trend)"))
        pos, extensions = burn.positions, extensions + 1
        cfg = replace(cfg, num_burnin=cfg.num_burnin + steps)
    info["burnin_extensions"] = extensions
    return pos, cfg


def _gamma_search(backend: Backend, cfg: LLCConfig, center: Any, req: Request, choices: dict, info: dict,
                  init_loss: float) -> tuple[Chains, LLCConfig, Any, tuple[str, ...]]:
    """The curvature rule's run at the smallest local γ (:mod:`slt.estimators.localization`): at each
    γ the step and burn-in follow from the curvature at w* (``info["curvature"]``)."""
    kept: dict[float, tuple[dict, tuple[str, ...]]] = {}
    gap = float(backend.loss(center * 0)) - init_loss  # how far the loss is from the zero network's
    notes_before = backend.notes()

    def run_at(gamma: float):
        if cfg.inv_metric is None:
            at = replace(cfg, gamma=gamma, step_size=tuning.curvature_step(
                cfg.sampler, cfg.nbeta, gamma, info["curvature"], batch_size=cfg.batch_size, n=backend.n))
        else:  # the metric, and so the step, depend on γ
            at = _metric_at(backend, replace(cfg, gamma=gamma), center, choices)
            at = replace(at, step_size=metric.metric_curvature_step(
                backend, center[None], at, tuning.segment_seed(cfg.seed, 7))[0])
        at, burnin_notes = _burnin(at, req, choices)
        facts: dict = {}
        backend.clear_notes()  # a rejected γ's notes are not this estimate's
        for note in notes_before:
            backend.note(note)

        def check(loss: float, first: float, step: float) -> None:
            localization.check_basin(loss - init_loss, gap, first, step)

        out = _curvature_run(backend, at, center, req, facts, check=check)
        kept[gamma] = facts, burnin_notes
        return out

    (chains, cfg, recorder), trials = localization.smallest_local_gamma(
        run_at, cfg.gamma, cfg.nbeta, init_loss, progress=bool(req.progress))
    facts, burnin_notes = kept[cfg.gamma]
    info.update(facts, gamma_search=trials)
    return chains, cfg, recorder, tuple(req.notes) + burnin_notes


def _hessian_metric(backend: Backend, cfg: LLCConfig, center: Any, choices: dict, info: dict) -> LLCConfig:
    """``cfg`` with the metric G = 1/(nβ|diag ∇²L(w*)| + γ) (:func:`metric.hessian_metric`); the
    diagonal (a Hutchinson estimate, the sampler's ``probes``) is kept in ``choices`` for other γ."""
    probes = cfg.options.probes
    choices["diagonal"] = backend.diagonal_curvature(center[None], probes, seed=tuning.segment_seed(cfg.seed, 6))
    info["metric"] = f"1/(nβ|diag ∇²L(w*)| + γ), Hutchinson estimate with {probes} probes"
    choices["slowest_pull"] = {}
    return _metric_at(backend, cfg, center, choices)


def _metric_at(backend: Backend, cfg: LLCConfig, center: Any, choices: dict) -> LLCConfig:
    """``cfg`` with the Hessian-diagonal metric at its γ; the slowest rate in that metric (the
    "preconditioned" burn-in rule's) is kept in ``choices["slowest_pull"][γ]``."""
    cfg = replace(cfg, inv_metric=metric.hessian_metric(choices["diagonal"], cfg.nbeta, cfg.gamma))
    choices["slowest_pull"][cfg.gamma] = metric.slowest_pull(backend, center, cfg)
    return cfg


def _label(progress: bool | str, phase: str) -> bool | str:
    """What a run's ``progress`` argument gets: the phase's name when bars are on, else False."""
    return phase if progress else False


def estimate(backend: Backend, center: Any, req: Request) -> LLCResult:
    """λ̂ at ``center`` on ``backend`` with the settings of ``req`` (see the module docstring)."""
    started = time.perf_counter()
    if req.progress is None:  # bars where a person watches: stderr is a terminal
        req = replace(req, progress=sys.stderr.isatty())
    check_backend(backend)
    backend.clear_notes()
    cfg, choices = resolve(backend, req)
    info = dict(req.info)
    given_step = not isinstance(req.step_size, str)
    if cfg.record.inv_metric == "hessian":
        cfg = _hessian_metric(backend, cfg, center, choices, info)
    if given_step:
        cfg = replace(cfg, step_size=req.step_size)  # validated by LLCConfig
        info["step_rule"] = "given"
    else:
        cfg, more = _auto_step(backend, cfg, center, choices["rule"], req)
        info.update(more)
    cfg, burnin_notes = _burnin(cfg, req, choices)
    notes = tuple(req.notes) + burnin_notes
    init_loss = backend.loss(center)
    if not math.isfinite(init_loss):
        raise ValueError(f"the loss at w_star is {init_loss}; cannot localize there")
    if choices["richardson"]:
        coarse = sample(backend, cfg, center, progress=req.progress)[0]
        fine_cfg = fine_config(cfg)
        chains, fine_cfg, more, n2, recorder = sample(backend, fine_cfg, center, progress=req.progress,
                                                      recording=_recording(req))
        fine = _result(backend, chains, fine_cfg, init_loss, recorder, req, notes + n2, {**info, **more})
        return richardson_extrapolate(fine, coarse.loss_traces, cfg)
    rec = cfg.record
    if choices["gamma_search"]:
        chains, cfg, recorder, notes = _gamma_search(backend, cfg, center, req, choices, info, init_loss)
        chains, cfg = _converge(backend, chains, cfg, center, recorder, init_loss, choices, info, started, req)
        return _result(backend, chains, cfg, init_loss, recorder, req, notes, info)
    if choices["rule"] == "curvature" and not given_step and not rec.exact:
        chains, cfg, recorder = _curvature_run(backend, cfg, center, req, info)
        chains, cfg = _converge(backend, chains, cfg, center, recorder, init_loss, choices, info, started, req)
        return _result(backend, chains, cfg, init_loss, recorder, req, notes, info)
    target = rec.adapt_acceptance if rec.exact and choices["rule"] == "curvature" and not given_step else None
    init = None
    if choices["windows"]:
        init, cfg, info["metric_windows"] = metric.adapt_windows(
            backend, cfg, center, backend.start(center, cfg.num_chains, cfg.nbeta, cfg.gamma), target=target,
            progress=bool(req.progress))
        cfg = replace(cfg, num_burnin=metric.WINDOW_ADAPT_STEPS)
    chains, cfg, more, n2, recorder = sample(backend, cfg, center, progress=req.progress, adapt=choices["adapt"],
                                             auto_thin=choices["auto_thin"], recording=_recording(req),
                                             adapt_acceptance=target, init=init)
    info.update(more)
    chains, cfg = _converge(backend, chains, cfg, center, recorder, init_loss, choices, info, started, req)
    return _result(backend, chains, cfg, init_loss, recorder, req, notes + n2, info)


def _converge(backend: Backend, chains: Chains, cfg: LLCConfig, center: Any, recorder: Recorder, init_loss: float,
              choices: dict, info: dict, started: float, req: Request) -> tuple[Chains, LLCConfig]:
    """Extend the draws until the targets hold (when any is set); the record goes to ``info``."""
    targets = choices["targets"]
    if not targets.active:
        return chains, cfg
    chains, cfg, info["convergence"] = extend(backend, chains, cfg, center, recorder, init_loss, targets,
                                              started=started, progress=bool(req.progress))
    return chains, cfg


def _recording(req: Request) -> Recording:
    return Recording(fluctuation_points=req.fluctuation_points, per_sample=req.per_sample, observers=req.observers)


def _result(backend: Backend, chains: Chains, cfg: LLCConfig, init_loss: float, recorder: Recorder, req: Request,
            notes: tuple[str, ...], info: dict) -> LLCResult:
    info = {**backend.info(), **info}
    res = llc_from_traces(chains.loss_traces, init_loss, cfg, acceptance=recorder.acceptance(chains.acceptance),
                          exact=req.exact, extra_warnings=notes + backend.notes(), info=info,
                          distance_traces=chains.distance_traces, fluctuation=recorder.fluctuation(cfg))
    per_sample = recorder.per_sample(cfg)
    return res if per_sample is None else replace(res, per_sample=per_sample)
