"""Accuracy of the torch bridge's defaults on deep linear networks against the exact λ.

For every architecture of ``paper_figures/fig_nn_llc.py``'s ``DLN_FULL`` list: λ̂ from
:func:`slt.nn.llc.dln_llc` (teacher with every layer of rank r, where the local learning
coefficient is Aoyagi's λ; ``step_size="auto"``, γ = 1, nβ = n/log n, minibatch 500) against
``slt.rlct.deep_linear_network(widths, rank).lam``.

Run: ``python benchmarks/accuracy_dln.py [--n 10000] [--draws 2000] [--burnin 8000] [--thin 2]
[--arch 5-5-5-5:2 ...] [--out FILE.jsonl]``; one JSON line per architecture (appended as each
finishes) and a table at the end. The default run (12000 steps) is longer than
``estimate_llc``'s: chains start at the most singular point and need ~5000–8000 auto steps to
spread into the excess-width directions (the trace drifts upward until then). One torch thread (two stall on small machines).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "paper_figures"))


def main(argv=None) -> list[dict]:
    import torch

    from fig_nn_llc import DLN_FULL
    from slt.nn.llc import dln_llc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--burnin", type=int, default=8000)
    ap.add_argument("--thin", type=int, default=2)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--arch", nargs="*", help="widths:rank, e.g. 10-10-10-10:3 (default: DLN_FULL)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    archs = DLN_FULL if not args.arch else [
        (tuple(int(w) for w in a.split(":")[0].split("-")), int(a.split(":")[1])) for a in args.arch
    ]
    rows = []
    for widths, rank in archs:
        t0 = time.perf_counter()
        res, lam = dln_llc(widths, rank, n=args.n, num_draws=args.draws, num_burnin=args.burnin, thin=args.thin,
                           gamma=args.gamma, seed=0)
        row = {
            "arch": "-".join(map(str, widths)), "rank": rank, "params": res.info["dim"], "n": args.n,
            "lam": lam, "llc": res.mean, "se": res.se, "rel_err": res.mean / lam - 1, "rhat": res.rhat,
            "step_size": res.config.step_size, "gamma": res.gamma, "nbeta": res.nbeta,
            "steps": args.burnin + args.draws * args.thin, "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out is not None:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    print(f"{'architecture':>14} {'r':>2} {'#par':>5} {'λ':>7} {'λ̂ ± se':>16} {'rel':>7} {'R-hat':>6} {'s':>6}")
    for r in rows:
        print(f"{r['arch']:>14} {r['rank']:>2} {r['params']:>5} {r['lam']:>7.2f} {r['llc']:>8.2f} ± {r['se']:<5.2f} "
              f"{100 * r['rel_err']:>6.1f}% {r['rhat']:>6.3f} {r['seconds']:>6.0f}")
    return rows


if __name__ == "__main__":
    main()
