"""Accuracy of the volume exponent: V(ε) = φ{K < ε} by nested sampling (:func:`slt.volume.volume_scaling`)
against the exact λ and m of toy potentials (uniform prior on [−1, 1]^d) and Aoyagi's λ of deep linear
networks (box of half-width 1 around the teacher, the population loss).

Every case is fitted three ways on the same runs: λ with the exact m's log correction, λ without it
(m = 1) and λ and m together; potentials with a closed-form V(ε) (normal crossings, ellipsoids) also
report the largest |z| of the measured curve against it.  Rows are stored as they finish
(``--out``, default ``benchmarks/out/accuracy_volume``; rerunning skips finished cases), and the
table is written into ``benchmarks/VALIDATION.md`` between the markers of its section.

Usage: python benchmarks/accuracy_volume.py [--quick] [--out DIR] [--no-report]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from slt.io import ResumableLog

try:
    from benchmarks.sections import put_section
except ImportError:  # run as a script from benchmarks/
    from sections import put_section

HERE = Path(__file__).parent
REPORT = HERE / "VALIDATION.md"
POTENTIALS = {  # name: (constructor, closed form kind, decades)
    "x²y² (m = 2)": ("normal_crossing", ((1, 1), None), 10.0),
    "x²y²z² (m = 3)": ("normal_crossing", ((1, 1, 1), None), 10.0),
    "x²y⁴z², prior ∝ abs(y) (m = 3)": ("normal_crossing", ((1, 2, 1), (0, 1, 0)), 10.0),
    "x²y⁴": ("normal_crossing", ((1, 2), None), 10.0),
    "x² + y⁴": ("sum_of_monomials", ((1, 2),), 10.0),
    "cusp (y² − x³)²": ("cusp", (), 20.0),
    "3 crossing lines": ("crossing_lines", (3,), 10.0),
    "harmonic (1, 2, 3)": ("harmonic", ((1.0, 2.0, 3.0),), 10.0),
}
DLNS = [((2, 2, 2), 1), ((2, 3, 2), 1), ((3, 2, 3), 0), ((2, 2, 2, 2), 1)]


def _potential(kind: str, args):
    from slt import potentials as P

    if kind == "normal_crossing":
        return P.normal_crossing(args[0], h=args[1])
    return getattr(P, kind)(*args)


def _row(res, lam: float, m: int, name: str, exact_curve=None) -> dict:
    free = res.refit(None)
    sel = (res.log_eps >= res.fit_range[0]) & (res.log_eps <= res.fit_range[1])
    z = None if exact_curve is None else float(np.max(np.abs(res.log_volume[sel] - exact_curve[sel]) / res.log_volume_se[sel]))
    return {"key": name, "lam": lam, "m": m, "fit": res.lam, "se": res.lam_se, "rel": res.lam / lam - 1,
            "uncorrected": res.lam_uncorrected, "uncorrected_se": res.lam_uncorrected_se,
            "free_lam": free[0], "free_lam_se": free[1], "free_m": free[2], "free_m_se": free[3], "max_z": z,
            "dim": res.dim, "runs": res.num_runs, "live": res.num_live, "decades": float((res.log_eps[-1] - res.log_eps[0]) / np.log(10)),
            "seconds": res.seconds, "warnings": list(res.warnings)}


def run_potential(name: str, quick: bool) -> dict:
    from slt.volume import volume_scaling
    from slt.volume.exact import ellipsoid_log_volume, normal_crossing_log_volume

    kind, args, decades = POTENTIALS[name]
    V = _potential(kind, args)
    small = dict(num_live=150, num_runs=4) if quick else dict(num_live=400, num_runs=8)
    res = volume_scaling(V, box=1.0, m=V.m, seed=0, decades=decades, **small)
    exact = None
    if kind == "normal_crossing":
        exact = normal_crossing_log_volume(args[0], res.log_eps, h=args[1])
    elif kind == "harmonic":
        exact = ellipsoid_log_volume(args[0], res.log_eps)
    return _row(res, float(V.lam), int(V.m), name, exact)


def run_dln(widths, rank: int, quick: bool) -> dict:
    import torch

    from slt.nn.data import dln_population_rows
    from slt.nn.models import dln_teacher, gaussian_nll
    from slt.rlct import deep_linear_network
    from slt.volume import volume_scaling

    torch.set_num_threads(1)
    teacher = dln_teacher(widths, rank, seed=0)
    ex = deep_linear_network(list(widths), rank)
    res = volume_scaling(teacher, data=dln_population_rows(teacher), loss_fn=gaussian_nll, box=1.0, m=ex.m, seed=0,
                         num_live=200 if quick else 400, num_runs=2 if quick else 4, batch=0.5,
                         decades=6.0 if quick else 8.0)
    return _row(res, float(ex.lam), int(ex.m), f"DLN {'-'.join(map(str, widths))}, rank {rank}")


def table(rows: list[dict]) -> str:
    head = ("| case | d | λ | m | fit with m (± se) | rel. error | fit without log term | λ, m fitted together | "
            "curve max \\|z\\| |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        z = "—" if r["max_z"] is None else f"{r['max_z']:.1f}"
        lines.append(f"| {r['key']} | {r['dim']} | {r['lam']:g} | {r['m']} | {r['fit']:.4f} ± {r['se']:.4f} | "
                     f"{100 * r['rel']:+.1f}% | {r['uncorrected']:.4f} ± {r['uncorrected_se']:.4f} | "
                     f"{r['free_lam']:.3f} ± {r['free_lam_se']:.3f}, m = {r['free_m']:.2f} ± {r['free_m_se']:.2f} | {z} |")
    return "\n".join(lines)


def write_report(rows: list[dict]) -> None:
    """Replace (or add) this script's section of VALIDATION.md."""
    runs = {(r["runs"], r["live"]) for r in rows}
    put_section(REPORT, "accuracy_volume", [
        "## Volume of low-loss sets: the exponent of V(ε) against λ (`accuracy_volume.py`)",
        "",
        "Nested sampling (`slt.volume.volume_scaling`, seed 0) of V(ε) = φ{K < ε}: potentials under the uniform "
        "prior on [−1, 1]^d, deep linear networks (population loss, `slt.nn.dln` teachers) under the uniform box of "
        "half-width 1 around the teacher, against Aoyagi's λ. The fit runs over the range less its top two decades "
        "(`decades` below the 10% prior quantile of K). se: the spread over independent runs (at least each run's "
        f"nested-sampling error); runs × live points: {', '.join(f'{a} × {b}' for a, b in sorted(runs))}. "
        "Curve max |z|: the measured log V(ε) against the closed form over the fitted levels.",
        "",
        table(rows),
        "",
        "For m > 1 the fit without the log term is biased low by about (m − 1)/log(1/ε) over the range. The cusp's "
        "next pole (1/2) is only 1/12 above λ = 5/12, so V(ε) reaches its asymptote slowly (its local slope is 0.397 "
        "at ε = e⁻¹² and 0.415 at e⁻⁴⁰ by quadrature): it is fitted over 20 decades.",
    ])
    print(f"wrote the section into {REPORT}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two potentials and one network, small (a minute)")
    ap.add_argument("--out", default=str(HERE / "out" / "accuracy_volume"))
    ap.add_argument("--no-report", action="store_true", help="do not touch VALIDATION.md")
    args = ap.parse_args(argv)
    out = Path(args.out) / ("quick" if args.quick else "full")
    log = ResumableLog(out / "rows.jsonl")
    done = log.done()
    names = list(POTENTIALS)[:2] if args.quick else list(POTENTIALS)
    dlns = DLNS[:1] if args.quick else DLNS
    jobs = [(n, lambda n=n: run_potential(n, args.quick)) for n in names]
    jobs += [(f"DLN {'-'.join(map(str, w))}, rank {r}", lambda w=w, r=r: run_dln(w, r, args.quick)) for w, r in dlns]
    for name, job in jobs:
        if name not in done:
            t0 = time.time()
            log.append(job())
            print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    rows = {r["key"]: r for r in log.records()}
    rows = [rows[n] for n, _ in jobs]
    print(table(rows))
    if not (args.quick or args.no_report):
        write_report(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
