"""``slt llc``: estimate the local learning coefficient of a potential from the command line.

Example: ``slt llc "x**2 + y**4" --nbeta 1e4 --seed 0`` prints λ̂ with its se, the exact
finite-nβ value by quadrature and the diagnostics; ``--out DIR`` also saves the traces and
a diagnostics figure.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from slt.errors import DivergenceError, SLTWarning
from slt.estimators.numba_backend import KERNELS


def build_parser() -> argparse.ArgumentParser:
    """The ``slt llc`` argument parser."""
    from slt.cli import HelpFormatter

    p = argparse.ArgumentParser(prog="slt llc", formatter_class=HelpFormatter,
                                description="Estimate the local learning coefficient of a potential at a "
                                            "minimum w*.\nExample: slt llc \"x**2 + y**4\" --nbeta 1e4")
    p.add_argument("expr", nargs="?", help="potential V(x, y, ...) in sympy syntax with a minimum at w*, "
                                           "or a library name (see --list-potentials)")
    p.add_argument("--list-potentials", action="store_true", help="list the library potentials and exit")
    p.add_argument("--nbeta", type=float, default=None, help="nβ (inverse temperature × n); required")
    p.add_argument("--gamma", type=float, default=None, help="localization γ (default: the estimator's rule)")
    p.add_argument("--step-size", default="auto",
                   help="step ε in SGLD's convention (Δw = −(ε/2)∇U + N(0, ε)), or 'auto' for the problem's rule")
    p.add_argument("--sampler", choices=list(KERNELS), default=None,
                   help="sampler (default: the estimator's choice, MALA for a full-batch potential)")
    p.add_argument("--num-chains", type=int, default=None, help="chains (default: the estimator's)")
    p.add_argument("--num-draws", type=int, default=None, help="draws per chain (default: the estimator's)")
    p.add_argument("--point", type=float, nargs="+", default=None,
                   help="w*, one number per variable (default: the potential's point, the origin for a formula)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default=None,
                   help="folder for traces (.npz, .json) and a diagnostics figure (default: none written)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns 0 on success, 1 for an improper posterior or a diverged run, 2 for bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from slt import potentials

    if args.list_potentials:
        print(potentials.library_table())
        return 0
    if args.expr is None or args.nbeta is None:
        parser.error("give a potential and --nbeta, e.g. slt llc 'x**2 + y**4' --nbeta 1e4")
    from slt.estimators import ImproperPosteriorError, estimate_llc

    try:
        V = potentials.resolve(args.expr, point=args.point)
        potentials.check_local_minimum(V)
        kw = {k: v for k, v in dict(gamma=args.gamma, sampler=args.sampler, num_chains=args.num_chains,
                                     num_draws=args.num_draws).items() if v is not None}
        step = args.step_size if args.step_size == "auto" else float(args.step_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SLTWarning)  # printed below instead
            res = estimate_llc(V, args.point, nbeta=args.nbeta, step_size=step, seed=args.seed, **kw)
    except (ImproperPosteriorError, DivergenceError) as exc:
        print(f"slt llc: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"slt llc: {exc}", file=sys.stderr)
        return 2
    print(f"{V.name}: {res.summary()}")
    if V.lam is not None:
        print(f"learning coefficient λ = {float(V.lam):.4f} (m = {V.m})")
    for w in res.warnings:
        print(f"warning: {w}")
    if args.out:
        from slt import io, plotting

        io.save_npz(f"{args.out}/llc_traces.npz", loss_traces=res.loss_traces, per_chain=res.per_chain)
        io.save_json(f"{args.out}/llc.json", dict(potential=V.name, mean=res.mean, se=res.se, std=res.std,
                                                  exact=res.exact, rhat=res.rhat, ess=res.ess,
                                                  acceptance=res.acceptance, warnings=list(res.warnings),
                                                  nbeta=res.nbeta, gamma=res.gamma,
                                                  step_size=res.config.step_size))
        fig = plotting.llc_diagnostics(res, title=V.name)
        plotting.save_figure(fig, args.out, "llc_diagnostics", pdf=False)
    return 0
