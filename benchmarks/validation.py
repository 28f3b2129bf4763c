"""The validation report: regenerate ``benchmarks/VALIDATION.md`` from runs of the estimators.

Sections (each a resumable sweep under ``--out``, :mod:`slt.sweeps`; rerunning skips what is done):

1. LLC on potentials: every m = 1 potential of :func:`slt.estimators.validation.potential_cases`
   at nβ = 10⁴ and 10⁵, library defaults (only nβ and seed), ``--seeds`` estimator seeds each,
   against the exact finite-nβ value (quadrature; nested quadrature for the cusp).
2. devinterp's regression models at γ = 0.01 (n = 1000, nβ = n/log n), against the exact value on
   L_n and devinterp 2.0.1's published numbers.
3. One estimator, two doors: ``Regression("w1*w2*x", n=1000)`` at w* = 0 with defaults (γ = 1)
   through :func:`slt.estimators.estimate_llc` and :func:`slt.nn.estimate_llc`.
4. Deep linear networks (report only): the rows ``benchmarks/accuracy_dln.py`` stored under
   ``benchmarks/out/accuracy_dln/`` (the torch bridge's defaults, λ̂ + βν̂ against Aoyagi's λ, and
   the estimator's exact value by HMC where the row has it); that script runs them.

Usage: python benchmarks/validation.py [--seeds 12] [--workers 2] [--sections 1 2 3] [--out DIR]
       python benchmarks/validation.py --report-only   (rewrite the report from the stores)
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
REPORT = HERE / "VALIDATION.md"


def run_potentials(out: Path, seeds: int, workers: int | None) -> None:
    from slt import sweeps
    from slt.sweeps.tasks import validation_case_names

    names = [n for n in validation_case_names(False) if "m = 2" not in n and not n.startswith("devinterp")
             and "rrr" not in n.lower() and "regression" not in n.lower()]
    for s in range(seeds):
        sweeps.run("llc_validation", {"case": names}, out=out / f"potentials_seed{s}",
                   fixed=dict(estimator_seed=s), workers=workers)


def run_regressions(out: Path, seeds: int, workers: int | None) -> None:
    from slt import sweeps
    from slt.sweeps.tasks import validation_case_names

    names = [n for n in validation_case_names(False) if "regression" in n.lower()]
    for s in range(seeds):
        sweeps.run("llc_validation", {"case": names}, out=out / f"regressions_seed{s}",
                   fixed=dict(estimator_seed=s), workers=workers)


def run_doors(out: Path, seeds: int) -> None:
    import torch

    from slt.estimators import estimate_llc, exact_tempered_expectation
    from slt.io import save_json
    from slt.models import Regression
    from slt.nn import estimate_llc as nn_llc
    from slt.nn.models import regression_module

    path = out / "doors.json"
    if path.exists():
        return
    torch.set_num_threads(1)
    toy = Regression("w1*w2*x", n=1000, seed=0)
    nbeta = 1000 / math.log(1000)
    exact = exact_tempered_expectation(toy.empirical_potential(), nbeta, gamma=1.0, center=np.zeros(2))
    rows = []
    for s in range(seeds):
        for door in ("numba", "torch"):
            t0 = time.perf_counter()
            if door == "numba":
                res = estimate_llc(toy, gamma=1.0, seed=s)
            else:
                module, data, loss_fn = regression_module(toy)
                res = nn_llc(module, data, loss_fn=loss_fn, gamma=1.0, seed=s)
            rows.append(dict(door=door, seed=s, llc=res.mean, se=res.se, exact=exact, sampler=res.config.sampler,
                             chains=res.config.num_chains, step=res.config.step_size,
                             seconds=time.perf_counter() - t0))
    save_json(path, rows)


def _rows(out: Path, prefix: str) -> list[dict]:
    from slt import sweeps

    frames = []
    for d in sorted(out.glob(f"{prefix}_seed*")):
        try:
            df = sweeps.load(d)
        except Exception:  # noqa: BLE001 - a store still being written
            continue
        frames += df[df["status"] == "ok"].to_dict("records") if "status" in df else df.to_dict("records")
    return frames


def _potential_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(no runs yet)"]
    z = np.array([r["z"] for r in rows if r.get("z") is not None], dtype=float)
    rel = np.array([abs(r["rel_error"]) for r in rows if r.get("rel_error") is not None], dtype=float)
    lines = [f"{len(rows)} runs. |λ̂/exact − 1| ≤ {100 * rel.max():.2f}%; RMS z {np.sqrt(np.mean(z**2)):.2f}, "
             f"mean z {z.mean():+.2f}; beyond 2 se: {int(np.sum(np.abs(z) > 2))}, beyond 3 se: "
             f"{int(np.sum(np.abs(z) > 3))} (max |z| {np.abs(z).max():.2f}).", "",
             "| model | nβ | λ | exact at nβ | mean λ̂ (seeds) | sem | max abs z | median s |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["model"], r["nbeta"]) for r in rows})
    for model, nb in keys:
        sel = [r for r in rows if r["model"] == model and r["nbeta"] == nb]
        vals = np.array([r["llc"] for r in sel])
        target = sel[0]["exact_empirical"] if sel[0].get("exact_empirical") is not None else sel[0]["exact_population"]
        zz = np.array([abs(r["z"]) for r in sel if r.get("z") is not None])
        sem = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else float("nan")
        lines.append(f"| {model} | {nb:.0e} | {sel[0]['lam']:.4g} | {target:.4f} | {vals.mean():.4f} ({vals.size}) | "
                     f"{sem:.4f} | {zz.max():.2f} | {np.median([r['case_seconds'] for r in sel]):.1f} |")
    return lines


def _doors_table(out: Path) -> list[str]:
    import json

    path = out / "doors.json"
    if not path.exists():
        return ["(not run yet)"]
    rows = json.loads(path.read_text())
    lines = ["| door | seed | sampler | chains | step | λ̂ ± se | exact | z | s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['door']} | {r['seed']} | {r['sampler']} | {r['chains']} | {r['step']:.3g} | "
                     f"{r['llc']:.4f} ± {r['se']:.4f} | {r['exact']:.4f} | {(r['llc'] - r['exact']) / r['se']:+.2f} | "
                     f"{r['seconds']:.0f} |")
    return lines


def _dln_table(stores: Path) -> list[str]:
    """Section 4: every finished row of ``accuracy_dln.py``'s stores, one line per architecture."""
    from slt import sweeps

    rows = []
    for d in sorted(stores.glob("*")):
        try:
            rows += [r for r in sweeps.Store(d).records() if r.get("status", "ok") == "ok" and r.get("llc") is not None]
        except Exception:  # noqa: BLE001 - not a store, or one still being written
            continue
    if not rows:
        return ["(no rows yet: run `python benchmarks/accuracy_dln.py`)"]
    lines = ["| network : rank | params | n | λ | λ̂ ± se | R-hat | exact (HMC) | λ̂ + βν̂ | vs λ | s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["params"], r["arch"], r["data_seed"])):
        ref = f"{r['reference']:.2f} ± {r['reference_se']:.2f}" if r.get("reference") is not None else "—"
        lines.append(f"| {r['arch']} | {r['params']} | {r['n']} | {r['lam']:g} | {r['llc']:.2f} ± {r['se']:.2f} | "
                     f"{r['rhat']:.3f} | {ref} | {r['corrected']:.2f} | {100 * r['corrected_rel_err']:+.1f}% | "
                     f"{r['fit_seconds']:.0f} |")
    return lines


def write_report(out: Path) -> None:
    pots, regs = _rows(out, "potentials"), _rows(out, "regressions")
    text = ["# Validation report", "",
            "Regenerated by `python benchmarks/validation.py` (every number below comes from the runs it stores",
            f"under `{out}`; `--report-only` rewrites this page from them). The exact values are quadratures",
            "of the tempered posterior the estimator samples (the estimator's own finite-nβ target).", "",
            "## 1. LLC on potentials (m = 1), library defaults (only nβ and seed)", ""] + _potential_table(pots) + [
            "", "## 2. devinterp's regression models (γ = 0.01, n = 1000, nβ = n/log n)", ""] + _potential_table(regs) + [
            "", "## 3. One estimator, two doors: `Regression(\"w1*w2*x\", n=1000)` at w* = 0, defaults, γ = 1", ""] + \
        _doors_table(out) + [
            "", "## 4. Deep linear networks: the torch bridge's defaults (`accuracy_dln.py`: n = 10⁴, γ = 1, seed 0)", "",
            "Rows run with `--no-reference` have no exact value here; the HMC values of an earlier stop are in",
            "VALIDATION_EARLIER.md.", ""] + _dln_table(HERE / "out" / "accuracy_dln") + [
            ""] + kept_sections(REPORT.read_text() if REPORT.exists() else "") + [
            "Figures measured at earlier stops and not rerun here are in",
            "[`VALIDATION_EARLIER.md`](VALIDATION_EARLIER.md).", ""]
    REPORT.write_text("\n".join(text))
    print(f"wrote {REPORT}")


OWN_SECTIONS = ("## 1.", "## 2.", "## 3.", "## 4.")  # what this script writes; other scripts own the rest
FOOTER = "Figures measured at earlier stops"


def kept_sections(text: str) -> list[str]:
    """The lines of the report's sections that other benchmarks write (bench_networks.py's
    Networks, accuracy_volume.py's volumes, …), kept as they are, in their order."""
    lines, keep, out = text.split("\n"), False, []
    for line in lines:
        if line.startswith("## "):
            keep = not line.startswith(OWN_SECTIONS)
        elif line.startswith("<!-- ") and line.endswith(": begin -->"):  # a marked section (benchmarks/sections.py)
            keep = True
        elif line.startswith(FOOTER):
            keep = False
        if keep:
            out.append(line)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "out" / "validation"))
    ap.add_argument("--seeds", type=int, default=12, help="estimator seeds per case (default 12)")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster processes (default: cores)")
    ap.add_argument("--sections", nargs="*", type=int, default=[1, 2, 3], help="which sections to run (default all)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the report from the stores")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        if 1 in args.sections:
            run_potentials(out, args.seeds, args.workers)
        if 3 in args.sections:
            run_doors(out, min(args.seeds, 3))
        if 2 in args.sections:
            run_regressions(out, args.seeds, args.workers)
    write_report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
