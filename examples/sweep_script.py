"""A sweep run as a script: λ̂ over potentials × nβ on a Dask LocalCluster (about a minute).

    python examples/sweep_script.py [--quick] [--workers N] [--out DIR]

`slt.sweeps.run` starts worker processes, and each worker re-imports this file; so everything
that starts work sits under `if __name__ == "__main__":` (without it, `sweeps.run` stops with a
RuntimeError saying so).  Every cell stores its record as it finishes; rerunning the script
skips finished cells, so a killed sweep resumes where it stopped.  Each cell's λ̂ is compared
with the exact value the estimator converges to at that nβ (quadrature), and with λ.
"""
import argparse
import tempfile
import time

from slt import sweeps
from slt.report import Column, table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one cell on one worker (seconds)")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster processes (default: cores; quick: 1)")
    ap.add_argument("--out", default=None, help="the sweep's store (default: a temporary folder)")
    args = ap.parse_args(argv)
    grid = ({"potential": ["cusp"], "nbeta": [1e3]} if args.quick else
            {"potential": ["x2+y4", "cusp"], "nbeta": [1e3, 1e4, 1e5]})
    workers = args.workers or (1 if args.quick else None)
    out = args.out or tempfile.mkdtemp(prefix="slt-sweep-")
    t0 = time.time()
    store = sweeps.run("llc", grid, out=out, fixed={"num_draws": 300 if args.quick else 1000}, workers=workers,
                       progress=not args.quick)
    df = sweeps.load(store)
    print(table(df.to_dict("records"), [Column("potential"), Column("nbeta", "nβ"), Column("llc", "λ̂", se="se"),
                                          Column("exact", "exact at nβ"), Column("lam", "λ"), Column("status")],
                title=f"{len(df)} cells in {time.time() - t0:.0f} s, stored in {store}"))
    z = ((df["llc"] - df["exact"]) / df["se"]).abs()
    print(f"claim: every cell finished: {'yes' if (df['status'] == 'ok').all() else 'NO'}")
    print(f"claim: every λ̂ is within 4 se of the exact value at its nβ: {'yes' if (z < 4).all() else 'NO'} "
          f"(largest {z.max():.1f} se)")
    return 0


if __name__ == "__main__":  # the guard: the sweep's worker processes re-import this file
    raise SystemExit(main())
