"""The tools of ``bench_networks.py`` -- slt's default, slt with each sampler named, devinterp and
canonical-interp at their defaults -- each run once (one *attempt*) on a case with a hard time
limit, and every attempt judged by the same diagnostic (:func:`judge`).

- slt: :func:`slt.nn.estimate_llc` with only the problem given (loss, nβ, γ, the restriction,
  the seed; plus ``sampler=`` for a named sampler and ``num_draws`` once doubled), in a forked
  child process that is ended at the time limit (one torch thread).  When the library has a "run
  until converged" option (:func:`converge_kwargs`), the targets and the remaining seconds go to it.
- peers (:mod:`benchmarks.peers`, each in its venv, all runs of a cell in one process): devinterp
  2.0.1 at its package defaults (4 chains × 200 draws, batch 32, no burn-in) with ``lr`` 1e-3 (it
  has no default; 1e-3 is the value of its README's examples); canonical-interp 0.1.5 at its
  README's quick start (10 chains × 200 draws, 100 burn-in steps, ``learning_rate`` 1e-5, batch
  512; its ``LLCEstimator`` has no defaults for these).  Both get the case's nβ and γ, which define
  the target.
- :func:`sampler_names`: the samplers the torch backend registers, read at run time from the
  registry (``slt.estimators.samplers`` or ``slt.samplers``: ``SAMPLERS``), else from
  ``TorchBackend.samplers``, so new samplers join without a change here.

:func:`judge` takes the per-chain loss traces of any tool: split R-hat (:func:`slt.diagnostics.rhat`),
se = nβ · :func:`slt.diagnostics.mcse_mean`, relative se = se / |λ̂| (λ̂ the tool's own estimate)
and the error against the exact value in combined se.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import math
import multiprocessing as mp
import os
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from benchmarks import peers
from benchmarks.networks_cases import Case, mean_loss

PEER_DEFAULTS = {  # what "at its defaults" means for each peer (see the module docstring)
    "devinterp": dict(chains=4, draws=200, step=1e-3),
    "canonical": dict(chains=10, draws=200, burnin=100, steps_bw_draws=1, step=1e-5, batch_size=512, warm_draws=1),
}
DEVINTERP_INIT_SEED = 100  # devinterp's default init_seed: our seed 0 keeps it
QUICK_SLT = dict(num_draws=16, num_burnin=16, num_chains=2, thin=1, step_size=1e-3, richardson=False,
                 fluctuation_points=0)  # --quick: tiny runs of every code path (no step scan)
BUDGET_NAMES = ("budget_s", "budget_seconds", "time_budget", "max_seconds", "budget")


def sampler_names() -> list[str]:
    """The estimator samplers the torch backend runs, read from the library at run time."""
    names: list[str] | None = None
    for module in ("slt.estimators.samplers", "slt.samplers"):
        try:
            reg = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(reg, "estimator_samplers"):
            names = list(reg.estimator_samplers())
        elif hasattr(reg, "SAMPLERS"):
            names = [k for k, rec in reg.SAMPLERS.items() if getattr(rec, "estimator", True)]
        break
    torch_names = None
    try:
        torch_names = list(importlib.import_module("slt.nn.sgmcmc").KERNELS)
    except (ImportError, AttributeError):
        from slt.nn.backend import TorchBackend

        torch_names = list(getattr(TorchBackend, "samplers", []) or []) or None
    if names is None:
        return torch_names or []
    return [n for n in names if torch_names is None or n in torch_names]


def converge_kwargs(remaining: float, rhat_max: float, rse_max: float) -> dict:
    """The keywords of a "run until converged" option of :func:`slt.nn.estimate_llc`, if it has one
    (``target_rhat`` / ``target_rse`` and a budget in seconds), else {}."""
    from slt.nn import estimate_llc

    params = inspect.signature(estimate_llc).parameters
    kw = {k: v for k, v in (("target_rhat", rhat_max), ("target_rse", rse_max)) if k in params}
    budget = next((b for b in BUDGET_NAMES if b in params), None)
    if kw and budget:
        kw[budget] = max(1.0, remaining)
    return kw


# ---- slt, in a forked child with a time limit ----
def preload() -> None:
    """Import what :func:`slt.nn.estimate_llc` loads lazily (ArviZ and the rest: seconds) with one
    tiny call in this process, so that the forked children do not each pay for it."""
    import torch

    from slt import diagnostics  # noqa: F401 - the import is the point
    from slt.nn import estimate_llc

    model = torch.nn.Linear(2, 1).double()
    X = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate_llc(model, (X, X[:, :1]), loss_fn=functools.partial(mean_loss, "nll"), nbeta=10.0, step_size=1e-3,
                     num_chains=2, num_draws=8, num_burnin=0, thin=1, richardson=False, fluctuation_points=0,
                     sampler="sgld", device="cpu", seed=0)


def _slt_child(case: Case, kw: dict, conn) -> None:
    """Run :func:`slt.nn.estimate_llc` and send back the numbers and the traces (the child ends
    with its parent: Linux ``PR_SET_PDEATHSIG``)."""
    import ctypes
    import signal

    import torch

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass

    from slt.nn import estimate_llc

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # each attempt keeps its warnings in the JSON
    t, c = time.perf_counter(), time.process_time()
    try:
        res = estimate_llc(case.model, (case.X, case.y), **kw)
        cfg = res.config
        out = {"mean": float(res.mean), "own_se": float(res.se), "own_rhat": float(res.rhat),
               "loss_trace": np.asarray(res.loss_traces, dtype=float), "init_loss": float(res.init_loss),
               "sampler": cfg.sampler, "step_size": float(cfg.step_size), "chains": cfg.num_chains,
               "gamma": float(cfg.gamma), "gamma_search": res.info.get("gamma_search"),
               "draws": cfg.num_draws, "burnin": cfg.num_burnin, "thin": cfg.thin, "warnings": list(res.warnings),
               "info": {k: v for k, v in res.info.items() if isinstance(v, (str, int, float, bool))}}
    except Exception as exc:  # noqa: BLE001 - a divergence or a bad setting is a result here
        out = {"error": f"{type(exc).__name__}: {exc}"[:600], "traceback": traceback.format_exc()[-1200:]}
    out.update(seconds=time.perf_counter() - t, cpu_seconds=time.process_time() - c)
    conn.send(out)
    conn.close()


def run_forked(fn, args: tuple, timeout: float) -> dict:
    """``fn(*args, conn)`` in a forked child; its message, or ``{"timeout": ...}`` when none came
    within ``timeout`` seconds (the child is then ended)."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=fn, args=(*args, send), daemon=True)
    t = time.perf_counter()
    proc.start()
    send.close()
    out = recv.recv() if recv.poll(max(timeout, 0.1)) else {"timeout": f"ended at the time limit ({timeout:.0f} s)",
                                                              "seconds": time.perf_counter() - t}
    proc.join(5)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    return out


def sampler_and_options(name: str | None) -> tuple[str | None, dict | None]:
    """``"hmc+adapt_metric"`` -> ("hmc", {"adapt_metric": True}); a plain name -> (name, None)."""
    if name is None or "+" not in name:
        return name, None
    sampler, *flags = name.split("+")
    return sampler, {flag: True for flag in flags}


def slt_attempt(case: Case, sampler: str | None, *, seed: int, draws: int | None, timeout: float, quick: bool,
                converge: dict | None = None, default_gamma: bool = False, sampler_options: dict | None = None
                ) -> dict:
    """One :func:`slt.nn.estimate_llc` call on ``case`` at its defaults (``sampler`` None: the
    library's default), ``draws`` draws per chain when given, ended after ``timeout`` seconds;
    ``default_gamma``: γ left to the library (else the case's γ)."""
    kw = dict(loss_fn=functools.partial(mean_loss, case.loss), nbeta=case.nbeta, seed=seed,
              restrict=case.restrict, device="cpu", sampler=sampler, **(converge or {}))
    if sampler_options:
        kw["sampler_options"] = sampler_options
    if not default_gamma:
        kw["gamma"] = case.gamma
    if quick:
        kw.update(QUICK_SLT)
    if draws is not None:
        kw["num_draws"] = draws
    return run_forked(_slt_child, (case, kw), timeout)


# ---- peers ----
def peer_runs(py: Path, peer: str, problem_file: str, *, seed: int, nbeta: float, gamma: float, budget_s: float,
              timeout: float) -> list[dict]:
    """``peer`` at its defaults (:data:`PEER_DEFAULTS`) on the case saved in ``problem_file``, in
    one process: a short untimed call first where compiling is part of the tool (its seconds in
    ``warm_seconds`` of the first run), then runs with 200, 400, ... draws while the next is expected
    to fit in ``budget_s`` (:func:`peers.doubling`); each run with its loss traces, or one error."""
    d = PEER_DEFAULTS[peer]
    spec = {**d, "module": "benchmarks.networks_cases", "problem_file": problem_file, "nbeta": nbeta,
            "gamma": gamma, "seed": seed, "traces": True, "device": "cpu", "budget_s": budget_s}
    if peer == "devinterp" and seed:  # its chains' seeds are init_seed + chain (default 100): apart per seed
        spec["init_seed"] = DEVINTERP_INIT_SEED + 1000 * seed
    out = peers.run_peer(py, peer, spec, timeout)
    if "runs" not in out:
        return [out]
    runs = out["runs"]
    for r in runs:
        r.update(loss_trace=np.asarray(r["loss_trace"], dtype=float), chains=d["chains"], step_size=d["step"],
                 sampler="sgld")
    if runs:
        runs[0]["warm_seconds"] = out.get("warm_seconds")
        runs[-1]["versions"] = out.get("versions")
    return runs


# ---- the common judge ----
def judge(att: dict, *, nbeta: float, init_loss: float, exact: float | None, exact_se: float, rhat_max: float,
          rse_max: float) -> dict:
    """The numbers every tool is judged by, from its (chains, draws) loss traces: R-hat (split,
    rank-normalised), se = nβ·MCSE of the mean loss, relative se against the tool's own λ̂, λ̂ from
    the traces with the exact L_n(w*), z against the exact value, and whether the targets hold."""
    from slt import diagnostics

    tr = np.asarray(att.get("loss_trace"), dtype=float)
    out: dict = {"llc": att.get("mean")}
    if tr.ndim != 2 or tr.shape[1] < 4:
        return {**out, "converged": False, "why": "no traces of 4 or more draws"}
    if not np.all(np.isfinite(tr)) or not math.isfinite(att.get("mean", math.nan)):
        return {**out, "converged": False, "diverged": True, "why": "NaN or inf in the traces"}
    rhat = diagnostics.rhat(tr)
    se = nbeta * diagnostics.mcse_mean(tr)
    rse = se / abs(out["llc"]) if out["llc"] else math.inf
    out.update(se=se, rhat=rhat, rse=rse, llc_traces=nbeta * (float(tr.mean()) - init_loss),
               ess=diagnostics.ess(tr), chains=int(tr.shape[0]), recorded_draws=int(tr.shape[1]))
    if exact is not None:
        out["z"] = (out["llc"] - exact) / math.hypot(se, exact_se) if se > 0 else math.inf
    out["converged"] = bool(rhat <= rhat_max and rse <= rse_max)
    return out


def load_avg() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]
