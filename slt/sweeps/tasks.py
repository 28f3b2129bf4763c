"""Built-in sweep tasks: the toolkit's estimators and experiments as ``f(**cell, seed) -> dict``.

Each wraps a public entry point (:func:`slt.estimators.estimate_llc`, :func:`slt.nn.estimate_llc`,
:func:`slt.rlct.rlct`, ...) and returns plain outputs (numbers, strings, arrays) for the store.
torch, sympy and numba are imported inside the tasks, on the workers.

Example
-------
>>> rlct(K="x**2*y**4", seed=0)["m"]
1
"""
from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from typing import Any

import numpy as np

XOR_RTOLS = 10.0 ** np.arange(-14, 0.5, 0.5)  # thresholds of the near-zero count's sensitivity curve
XOR_SOLVED = 1e-6  # a run "solves" XOR when its final loss is below this
XOR_LLC = {"nbeta": 1000.0, "gamma": 10.0, "num_chains": 4, "num_burnin": 200, "sampler": "sgld",
           "step_size": "curvature", "thin": 1, "richardson": False}  # the experiment's SGLD, as first run


def llc_outputs(res: Any) -> dict[str, Any]:
    """The storable numbers of an :class:`~slt.estimators.LLCResult` (both backends)."""
    fluct = getattr(res, "fluctuation", None)
    step = res.config.step_size
    return {
        "llc": float(res.mean), "se": float(res.se), "std": float(res.std), "rhat": float(res.rhat),
        "ess": float(res.ess), "nbeta": float(res.nbeta), "gamma": float(res.gamma),
        "step_size": float(np.mean(step)) if step is not None else None, "sampler": str(res.config.sampler),
        "acceptance": None if res.acceptance is None else float(res.acceptance),
        "exact": None if res.exact is None else float(res.exact),
        "nu": None if fluct is None else float(fluct.nu), "nu_se": None if fluct is None else float(fluct.se),
        "corrected": None if res.corrected is None else float(res.corrected),
        "corrected_se": None if res.corrected_se is None else float(res.corrected_se),
        "per_chain": np.asarray(res.per_chain, dtype=float), "warnings": "\n".join(res.warnings),
    }


def llc(*, potential: str, seed: int, point: list[float] | None = None, **kwargs: Any) -> dict[str, Any]:
    """λ̂ of a potential (library name or formula, :func:`slt.potentials.resolve`) by
    :func:`slt.estimators.estimate_llc`; ``kwargs`` (nbeta, gamma, num_draws, ...) pass through.
    Outputs :func:`llc_outputs` plus the exact ``lam`` and ``m`` when known."""
    from slt import potentials as P
    from slt.estimators import estimate_llc

    V = P.resolve(potential, point=point)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recorded in the "warnings" output
        res = estimate_llc(V, seed=seed, **kwargs)
    return {**llc_outputs(res), "lam": None if V.lam is None else float(V.lam), "m": V.m}


def _free_energy_outputs(res: Any) -> dict[str, Any]:
    return {"value": float(res.value), "se": float(res.se), "n": float(res.n), "method": res.method,
            "n_loss_at_center": float(res.n_loss_at_center), "betas": np.asarray(res.betas),
            "mean_nL": np.asarray(res.mean_nL)}


def wbic(*, potential: str, n: float, seed: int, **kwargs: Any) -> dict[str, Any]:
    """WBIC of a potential at sample size ``n`` (:func:`slt.estimators.wbic`)."""
    from slt import potentials as P
    from slt.estimators import wbic as _wbic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _free_energy_outputs(_wbic(P.resolve(potential), n=n, seed=seed, **kwargs))


def free_energy(*, potential: str, n: float, seed: int, **kwargs: Any) -> dict[str, Any]:
    """F_n of a potential by thermodynamic integration (:func:`slt.estimators.free_energy`)."""
    from slt import potentials as P
    from slt.estimators import free_energy as _free_energy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _free_energy_outputs(_free_energy(P.resolve(potential), n=n, seed=seed, **kwargs))


def rlct(*, K: str, seed: int, prior: dict[str, int] | None = None) -> dict[str, Any]:
    """Exact λ and m of a polynomial at the origin (:func:`slt.rlct.rlct`); ``seed`` unused."""
    from slt.rlct import rlct as _rlct

    r = _rlct(K, prior=prior)
    return {"lam": float(r.lam), "lam_exact": str(r.lam), "m": int(r.m), "method": str(r.method)}


def _callable(spec: str, namespaces: tuple[str, ...] = ()) -> Any:
    """A function named ``"module:function"`` or a bare name looked up in ``namespaces``."""
    if ":" in spec:
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)
    for ns in namespaces:
        obj = getattr(importlib.import_module(ns), spec, None)
        if obj is not None:
            return obj
    raise ValueError(f"{spec!r} is neither 'module:function' nor a name in {', '.join(namespaces)}")


def _call_seeded(fn: Any, kwargs: dict[str, Any], seed: int) -> Any:
    """``fn(**kwargs)``, with ``seed=seed`` when ``fn`` takes a seed."""
    if "seed" in inspect.signature(fn).parameters:
        return fn(**kwargs, seed=seed)
    return fn(**kwargs)


def nn_llc(*, model: str, data: str, seed: int, loss: str = "gaussian_nll", model_kwargs: dict | None = None,
           data_kwargs: dict | None = None, train: dict | None = None, **kwargs: Any) -> dict[str, Any]:
    """λ̂ of a torch network by :func:`slt.nn.estimate_llc`.

    ``model`` and ``data`` are factories (``"module:function"`` or names in
    :mod:`slt.nn.models` / :mod:`slt.nn.data`) called with ``model_kwargs`` / ``data_kwargs``
    (and ``seed`` when they take one); ``loss`` a name in :mod:`slt.nn.models` or
    ``torch.nn.functional``, or ``"module:function"``; ``train`` (e.g. ``{lr = 0.05, epochs =
    2000}``) trains the network first with :func:`slt.nn.models.train`; ``kwargs`` go to the
    estimator.  Example config: ``task = "nn_llc"``, ``fixed = {model = "xor_mlp", data =
    "xor_data", train = {lr = 0.05, epochs = 2000}}``, ``grid = {model_kwargs = ...}``.
    """
    from slt.nn import estimate_llc
    from slt.nn import models as M

    net = _call_seeded(_callable(model, ("slt.nn.models",)), dict(model_kwargs or {}), seed)
    dataset = _call_seeded(_callable(data, ("slt.nn.data",)), dict(data_kwargs or {}), seed)
    loss_fn = _callable(loss, ("slt.nn.models", "torch.nn.functional"))
    out: dict[str, Any] = {}
    if train:
        history = M.train(net, dataset, loss_fn=loss_fn, seed=seed, **train)
        out["train_loss"] = float(history[-1]) if len(history) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = estimate_llc(net, dataset, loss_fn=loss_fn, seed=seed, **kwargs)
    return {**out, **llc_outputs(res)}


def llc_checkpoint(*, checkpoint: str | int | float, seed: int, inputs: str | None = None, index: str | None = None,
                   model: str | None = None, data: str | None = None, loss: str = "gaussian_nll",
                   model_kwargs: dict | None = None, data_kwargs: dict | None = None,
                   estimator_seed: int | None = None, settings: dict | None = None, **kwargs: Any) -> dict[str, Any]:
    """λ̂ of one training checkpoint by :func:`slt.nn.estimate_llc` (a cell of :func:`slt.nn.llc_trajectory`).

    ``checkpoint`` is a file (``torch.save`` of a state dict or a module), or with ``index`` a
    key of a trajectory's checkpoint index.  The architecture, data and loss come from
    ``inputs`` (the bundle :func:`~slt.nn.llc_trajectory` writes) or from factories as in
    :func:`nn_llc` (``model`` may be None when the files hold whole modules; factories are
    called with their kwargs only, so every checkpoint sees the same data).  ``kwargs`` go to
    the estimator (``restrict="att.*"`` for a component); ``estimator_seed`` replaces the cell's
    seed when given; ``settings`` (a description for the manifest) is ignored.  Example config:
    ``task = "llc_checkpoint"``, ``grid = {checkpoint = ["ckpt/e10.pt", "ckpt/e100.pt"]}``,
    ``fixed = {model = "mymodels:build", data = "mymodels:data", loss = "cross_entropy",
    restrict = "att.*"}``.
    """
    from slt.nn import estimate_llc
    from slt.nn.trajectory import checkpoint_object, load_checkpoint, load_inputs

    if inputs is not None:
        bundle = load_inputs(inputs)
        template, dataset, loss_fn = bundle["model"], bundle["data"], bundle["loss_fn"]
        kwargs = {**bundle["kwargs"], **kwargs}
    else:
        if data is None:
            raise ValueError("llc_checkpoint needs data= (a factory) or inputs= (a trajectory's bundle)")
        template = None if model is None else _callable(model, ("slt.nn.models",))(**(model_kwargs or {}))
        dataset = _callable(data, ("slt.nn.data",))(**(data_kwargs or {}))
        loss_fn = _callable(loss, ("slt.nn.models", "torch.nn.functional"))
    ckpt = checkpoint_object(index, checkpoint) if index is not None else checkpoint
    net = load_checkpoint(ckpt, template)
    res = estimate_llc(net, dataset, loss_fn=loss_fn, seed=seed if estimator_seed is None else estimator_seed,
                       **kwargs)
    restricted = res.info.get("restrict")
    return {**llc_outputs(res), "init_loss": float(res.init_loss), "dim": int(res.info["dim"]),
            "sampled": "" if restricted is None else ",".join(restricted["parameters"])}


def xor_rashomon(*, hidden: int, seed: int, epochs: int, lr: float, llc_draws: int, llc: bool = True,
                 **_: Any) -> dict[str, Any]:
    """One XOR run of ``simulations/xor_rashomon.py``: train a 2-``hidden``-1 tanh network (½ MSE,
    Adam, full batch) from the initialisation ``seed``, then its float64 Hessian spectrum, the
    near-zero count and its sensitivity curve over :data:`XOR_RTOLS`, the log basin volume, the
    bounds rank(H)/2 ≤ λ ≤ d/2 and (``llc``) an LLC estimate (:data:`XOR_LLC`).  Extra axes
    (the run number) are ignored."""
    from slt.nn import estimate_llc
    from slt.nn.data import xor_data
    from slt.nn.hessian import count_curve, spectrum
    from slt.nn.models import gaussian_nll, train, xor_mlp

    data = xor_data()
    model = xor_mlp(hidden, seed=seed)
    train(model, data, loss_fn=gaussian_nll, lr=lr, epochs=epochs, seed=seed)
    sp = spectrum(model, data, gaussian_nll)
    lower, upper = sp.llc_bounds()
    rec = {
        "dim": sp.dim, "loss": sp.loss, "solved": bool(sp.loss < XOR_SOLVED), "eigenvalues": np.asarray(sp.eigenvalues),
        "near_zero": int(sp.near_zero), "threshold": float(sp.threshold), "num_negative": int(sp.num_negative),
        "log_volume": float(sp.log_volume()), "count_curve": np.asarray(count_curve(sp.eigenvalues, XOR_RTOLS)),
        "llc_lower": float(lower), "llc_upper": float(upper), "llc_mean": None, "llc_se": None,
    }
    if llc:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = estimate_llc(model, data, loss_fn=gaussian_nll, num_draws=llc_draws, seed=seed, **XOR_LLC)
        rec["llc_mean"], rec["llc_se"] = float(res.mean), float(res.se)
    return rec


def dln_llc(*, arch: str, seed: int, data_seed: int | None = None, n: int = 10000, nbeta: float | None = None,
            draws: int = 2000, burnin: int | None = None, thin: int = 2, gamma: float = 1.0, chains: int = 8,
            reference: bool = False, leapfrog: int = 400) -> dict[str, Any]:
    """λ̂ of a deep linear network ``arch = "5-5-5-5:2"`` (widths:rank) by :func:`slt.nn.dln.dln_llc`
    against Aoyagi's λ; with ``reference`` also the estimator's exact value and the population
    value (:func:`slt.nn.llc.dln_reference_llc`, HMC).  ``data_seed`` (teacher and data) defaults
    to the cell's ``seed``.  The row of ``benchmarks/accuracy_dln.py``."""
    import time

    from slt.nn.dln import dln_llc as _dln, dln_reference_llc

    widths_text, _, rank_text = arch.partition(":")
    try:
        widths, rank = tuple(int(w) for w in widths_text.split("-")), int(rank_text)
    except ValueError:
        raise ValueError(f"arch={arch!r}: expected widths:rank, e.g. '5-5-5-5:2'") from None
    s = seed if data_seed is None else data_seed
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recorded in the "warnings" output
        res, lam = _dln(widths, rank, n=n, nbeta=nbeta, num_draws=draws, num_burnin=burnin, thin=thin, gamma=gamma,
                        num_chains=chains, seed=s)
    row = {
        "params": int(res.info["dim"]), "n": n, "lam": float(lam), **llc_outputs(res), "rel_err": res.mean / lam - 1,
        "steps": res.config.num_burnin + draws * thin, "fit_seconds": time.perf_counter() - t0,
        "corrected_rel_err": None if res.corrected is None else res.corrected / lam - 1,
    }
    if reference:
        t0 = time.perf_counter()
        kw = dict(n=n, nbeta=res.nbeta, gamma=gamma, seed=s, leapfrog=leapfrog)
        ref, _ = dln_reference_llc(widths, rank, **kw)
        pop, _ = dln_reference_llc(widths, rank, population=True, **kw)
        row.update(reference=ref.mean, reference_se=ref.se, reference_rhat=ref.rhat,
                   reference_acceptance=ref.acceptance, population=pop.mean, population_se=pop.se,
                   reference_seconds=time.perf_counter() - t0,
                   z_reference=(res.mean - ref.mean) / float(np.hypot(res.se, ref.se)))
    return row


@functools.lru_cache(maxsize=2)
def _validation_cases(quick: bool) -> dict[str, Any]:
    from slt.estimators.validation import potential_cases, regression_cases, rrr_case

    cases = potential_cases(quick) + regression_cases(quick)
    if not quick:
        cases += [rrr_case(nbeta=nb) for nb in (1e4, 1e5, 1e6)]
    return {c.name if c.name not in {d.name for d in cases[:i]} else f"{c.name} nβ={c.nbeta:g}": c
            for i, c in enumerate(cases)}


def validation_case_names(quick: bool) -> list[str]:
    """The names of the LLC validation cases (``benchmarks/accuracy_llc.py``'s rows)."""
    return list(_validation_cases(quick))


def llc_validation(*, case: str, seed: int, quick: bool = False, estimator_seed: int | None = None,
                   **kwargs: Any) -> dict[str, Any]:
    """One row of the LLC validation table (:func:`slt.estimators.validation.run_case`): λ̂ of the
    named case against its exact targets.  ``estimator_seed`` (the table's ``--seed``) replaces
    the cell's seed when given; ``kwargs`` go to the estimator."""
    from slt.estimators.validation import run_case

    cases = _validation_cases(bool(quick))
    if case not in cases:
        raise ValueError(f"case={case!r}: not one of {', '.join(cases)}")
    row = run_case(cases[case], seed=seed if estimator_seed is None else estimator_seed, **kwargs)
    row["case_seconds"] = row.pop("seconds")
    row["warnings"] = "\n".join(row["warnings"])
    row["w_star"] = np.asarray(row["w_star"], dtype=float)
    return row
