"""``slt rlct K [--prior x=2,y=1] [--vars x,y] [--check]``: print λ, m, the method and where."""
from __future__ import annotations

import argparse
import sys


def _prior(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (text or "").split(",")):
        name, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"--prior items must look like name=exponent, got {item!r}")
        try:
            out[name.strip()] = int(val)
        except ValueError:
            raise ValueError(f"--prior exponent for {name.strip()!r} must be an integer, got {val!r}") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``slt rlct`` argument parser."""
    from slt.cli import HelpFormatter

    parser = argparse.ArgumentParser(prog="slt rlct", formatter_class=HelpFormatter,
                                     description="Exact learning coefficient λ and multiplicity m of a "
                                                 "polynomial K >= 0 at the origin.\n"
                                                 "Example: slt rlct '(y**2 - x**3)**2' --check")
    parser.add_argument("K", help="polynomial, e.g. 'x**2*y**4' or '(y**2 - x**3)**2'")
    parser.add_argument("--prior", default=None,
                        help="monomial prior exponents, e.g. x=2,y=1 for phi ~ x^2 |y| (default: uniform)")
    parser.add_argument("--vars", default=None, help="comma-separated variables (default: sorted free symbols)")
    parser.add_argument("--max-depth", type=int, default=6, help="depth limit of the blow-up search")
    parser.add_argument("--check", action="store_true", help="also run the Monte-Carlo cross-check")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Monte-Carlo check")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``slt rlct``; returns 0 on success, 2 on bad input."""
    args = build_parser().parse_args(argv)
    from slt.rlct import rlct

    try:
        variables = [v.strip() for v in args.vars.split(",")] if args.vars else None
        prior = _prior(args.prior)
        res = rlct(args.K, variables, prior, max_depth=args.max_depth)
    except ValueError as exc:
        print(f"slt rlct: {exc}", file=sys.stderr)
        return 2
    print(res)
    if args.check:
        from slt.rlct.numeric import estimate_rlct

        est = estimate_rlct(args.K, variables, prior, seed=args.seed)
        print(f"Monte Carlo: lambda = {est.lam_hill:.4f} +- {est.lam_hill_se:.4f} (m = 1 fit); "
              f"joint fit lambda = {est.lam:.3f} +- {est.lam_se:.3f}, m = {est.m:.2f} +- {est.m_se:.2f}")
    return 0
