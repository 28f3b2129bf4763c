"""Accuracy of the torch bridge's defaults on deep linear networks against the exact λ.

For every architecture of ``paper_figures/fig_nn_llc.py``'s ``DLN_FULL`` list: λ̂ from
:func:`slt.nn.dln.dln_llc` (teacher with every layer of rank r, where the local learning
coefficient is Aoyagi's λ; ``step_size="auto"``, γ = 1, nβ = n/log n, minibatch 500) against
``slt.rlct.deep_linear_network(widths, rank).lam``.

Run: ``python benchmarks/accuracy_dln.py [--n 10000] [--nbeta NB] [--draws 2000] [--burnin N] [--thin 2]
[--arch 5-5-5-5:2 ...] [--chains 8] [--no-reference] [--out FILE.jsonl] [--workers N] [--scheduler ADDRESS]
[--store DIR]``.  The rows are a sweep (:mod:`slt.sweeps`, task ``dln_llc``) over architecture × data
seed on a Dask LocalCluster (one process per core, one torch thread each) or ``--scheduler``; each
row is stored as it finishes in ``--store`` (default ``benchmarks/out/accuracy_dln/<settings hash>``:
rerunning the same command resumes), then printed, appended to ``--out`` as JSON lines, and
summarised in a table; with several ``--seeds`` (teacher and data) also the mean over seeds,
since λ̂ varies between data sets by more than its own se. The default burn-in is
dln_llc's relaxation rule 5/(γε): chains start at the most singular point and need that long to
spread along the flat directions (the trace drifts until then). One torch thread (two stall on
small machines).

Each row also has the value the estimator converges to as its step goes to zero
(:func:`slt.nn.llc.dln_reference_llc`: HMC on the least-squares rows, same data, nβ and γ) and
reports λ̂ against it (z) as well as against λ: the gap to λ that is the estimator's own
finite-n bias, and the part that is the sampler's (about a minute per network; ``--no-reference``
skips it). The estimator's own gap splits in two, and each row has both: the population value
(same HMC on :func:`slt.nn.data.dln_population_rows`, n → ∞ at the same nβ: the geometry's part)
and the rest, the data set's fluctuation, whose mean over data sets is about −βλ (exactly
−βd/2 for a regular model). ``--nbeta`` decouples nβ from n: at n = 10⁶ and nβ = 10⁴/log 10⁴
(β ≈ 0.001) the data part vanishes and SGLD costs what it costs at n = 10⁴. Each row also has
the singular fluctuation ν̂ and λ̂ + βν̂ (``LLCResult.corrected``), which adds that expected data
part back.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "paper_figures"))


ROW = ("params", "n", "lam", "llc", "se", "rel_err", "rhat", "step_size", "gamma", "nbeta", "steps", "nu", "nu_se",
       "corrected", "corrected_se", "corrected_rel_err")
REFERENCE = ("reference", "reference_se", "reference_rhat", "reference_acceptance", "population", "population_se",
             "reference_seconds", "z_reference")


def _row(record: dict, reference: bool) -> dict:
    """A stored cell as the table's row (arch, rank, seed, then the numbers)."""
    widths, _, rank = record["arch"].partition(":")
    row = {"arch": widths, "rank": int(rank), "seed": record["data_seed"], **{k: record[k] for k in ROW},
           "seconds": record["fit_seconds"]}
    if reference:
        row.update({k: record[k] for k in REFERENCE})
    return row


def main(argv=None) -> list[dict]:
    from fig_nn_llc import DLN_FULL
    from slt import sweeps

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--nbeta", type=float, default=None, help="default n/log n")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--burnin", type=int, default=None, help="default: 5/(γε), dln_llc's relaxation rule")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="teacher/data seeds (λ̂ varies with the data set)")
    ap.add_argument("--thin", type=int, default=2)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--chains", type=int, default=8, help="chains (vmapped: on small networks 16 cost little more than 4)")
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip the exact value of the estimator (HMC)")
    ap.add_argument("--leapfrog", type=int, default=400, help="HMC trajectory length of the exact value")
    ap.add_argument("--arch", nargs="*", help="widths:rank, e.g. 10-10-10-10:3 (default: DLN_FULL)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster processes (default: cores)")
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler address, or 'synchronous'")
    ap.add_argument("--store", type=Path, default=None, help="the sweep's store (default: by settings)")
    args = ap.parse_args(argv)
    archs = args.arch or [f"{'-'.join(map(str, widths))}:{rank}" for widths, rank in DLN_FULL]
    fixed = dict(n=args.n, nbeta=args.nbeta, draws=args.draws, burnin=args.burnin, thin=args.thin, gamma=args.gamma,
                 chains=args.chains, reference=args.reference, leapfrog=args.leapfrog)
    store = args.store or Path(__file__).parent / "out" / "accuracy_dln" / sweeps.cell_key(fixed)
    grid = {"arch": archs, "data_seed": list(args.seeds)}
    if args.scheduler == sweeps.SYNCHRONOUS:  # workers get one thread from the cluster's environment
        import torch

        torch.set_num_threads(1)
    sweeps.run("dln_llc", grid, out=store, fixed=fixed, workers=args.workers, scheduler=args.scheduler)
    records = {(r["arch"], r["data_seed"]): r for r in sweeps.Store(store).records()}
    rows = []
    for cell in sweeps.cells(grid):
        record = records[cell.params["arch"], cell.params["data_seed"]]
        if record["status"] != "ok":
            print(f"{cell.params}: failed\n{record['error']}", file=sys.stderr)
            continue
        rows.append(_row(record, args.reference))
        print(json.dumps(rows[-1]), flush=True)
    if args.out is not None:
        with open(args.out, "a") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"{'architecture':>14} {'r':>2} {'seed':>4} {'#par':>5} {'λ':>7} {'λ̂ ± se':>16} {'rel':>7} {'R-hat':>6} {'s':>6}"
          f" {'λ̂ + βν̂':>16} {'rel':>7}"
          + (f" {'exact (HMC)':>16} {'rel':>7} {'z':>6} {'population':>16} {'rel':>7}" if args.reference else ""))
    for r in rows:
        print(f"{r['arch']:>14} {r['rank']:>2} {r['seed']:>4} {r['params']:>5} {r['lam']:>7.2f} {r['llc']:>8.2f} ± "
              f"{r['se']:<5.2f} {100 * r['rel_err']:>6.1f}% {r['rhat']:>6.3f} {r['seconds']:>6.0f}"
              f" {r['corrected']:>8.2f} ± {r['corrected_se']:<5.2f} {100 * r['corrected_rel_err']:>6.1f}%"
              + (f" {r['reference']:>8.2f} ± {r['reference_se']:<5.2f} {100 * (r['reference'] / r['lam'] - 1):>6.1f}%"
                 f" {r['z_reference']:>6.2f} {r['population']:>8.2f} ± {r['population_se']:<5.2f}"
                 f" {100 * (r['population'] / r['lam'] - 1):>6.1f}%" if args.reference else ""))
    if len(args.seeds) > 1:  # the estimator targets λ on average over data sets: mean ± se over seeds
        print("mean over seeds (se = std/√k, the spread between data sets included):")
        for arch in dict.fromkeys(r["arch"] for r in rows):
            v = np.array([r["llc"] for r in rows if r["arch"] == arch])
            lam = next(r["lam"] for r in rows if r["arch"] == arch)
            print(f"{arch:>14}  λ = {lam:7.2f}  λ̂ = {v.mean():8.2f} ± {v.std(ddof=1) / np.sqrt(v.size):.2f}"
                  f"  rel {100 * (v.mean() / lam - 1):+6.1f}%  (k = {v.size})")
    return rows


if __name__ == "__main__":
    main()
