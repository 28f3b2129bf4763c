"""Accuracy of the torch bridge's defaults on deep linear networks against the exact λ.

For every architecture of ``paper_figures/fig_nn_llc.py``'s ``DLN_FULL`` list: λ̂ from
:func:`slt.nn.llc.dln_llc` (teacher with every layer of rank r, where the local learning
coefficient is Aoyagi's λ; ``step_size="auto"``, γ = 1, nβ = n/log n, minibatch 500) against
``slt.rlct.deep_linear_network(widths, rank).lam``.

Run: ``python benchmarks/accuracy_dln.py [--n 10000] [--nbeta NB] [--draws 2000] [--burnin N] [--thin 2]
[--arch 5-5-5-5:2 ...] [--chains 8] [--no-reference] [--out FILE.jsonl]``; one JSON line per architecture (appended as each
finishes) and a table at the end; with several ``--seeds`` (teacher and data) also the mean over
seeds, since λ̂ varies between data sets by more than its own se. The default burn-in is
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
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "paper_figures"))


def main(argv=None) -> list[dict]:
    import torch

    from fig_nn_llc import DLN_FULL
    from slt.nn.llc import dln_llc, dln_reference_llc

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
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    archs = DLN_FULL if not args.arch else [
        (tuple(int(w) for w in a.split(":")[0].split("-")), int(a.split(":")[1])) for a in args.arch
    ]
    rows = []
    for widths, rank in archs:
        for seed in args.seeds:
            t0 = time.perf_counter()
            res, lam = dln_llc(widths, rank, n=args.n, nbeta=args.nbeta, num_draws=args.draws, num_burnin=args.burnin,
                               thin=args.thin, gamma=args.gamma, num_chains=args.chains, seed=seed)
            row = {
                "arch": "-".join(map(str, widths)), "rank": rank, "seed": seed, "params": res.info["dim"], "n": args.n,
                "lam": lam, "llc": res.mean, "se": res.se, "rel_err": res.mean / lam - 1, "rhat": res.rhat,
                "step_size": res.config.step_size, "gamma": res.gamma, "nbeta": res.nbeta,
                "steps": res.config.num_burnin + args.draws * args.thin, "seconds": time.perf_counter() - t0,
                "nu": res.fluctuation.nu, "nu_se": res.fluctuation.se, "corrected": res.corrected,
                "corrected_se": res.corrected_se, "corrected_rel_err": res.corrected / lam - 1,
            }
            if args.reference:
                t0 = time.perf_counter()
                kw = dict(n=args.n, nbeta=res.nbeta, gamma=args.gamma, seed=seed, leapfrog=args.leapfrog)
                ref, _ = dln_reference_llc(widths, rank, **kw)
                pop, _ = dln_reference_llc(widths, rank, population=True, **kw)
                row.update(reference=ref.mean, reference_se=ref.se, reference_rhat=ref.rhat,
                           reference_acceptance=ref.acceptance, population=pop.mean, population_se=pop.se,
                           reference_seconds=time.perf_counter() - t0,
                           z_reference=(res.mean - ref.mean) / float(np.hypot(res.se, ref.se)))
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out is not None:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
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
