"""Random walks on k glued cycles: the junction-to-regular visit ratio against k, and the
continuum limit (ball masses as the lattice spacing 1/L goes to zero), exact and simulated.

    python simulations/lattice_walk.py [--quick] [--out DIR]

Writes ``lattice_walk.json`` (the sweep and the continuum table) to DIR.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slt import lattices as Lt
from slt.io import save_json
from slt.report import Column, table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (seconds)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    walkers, steps = (200, 2000) if args.quick else (2000, 50_000)
    Ls = (10, 100) if args.quick else (10, 100, 1000)
    sweep = Lt.junction_ratio_sweep(range(1, 11), 11, num_walkers=walkers, num_steps=steps, seed=args.seed)
    continuum = []
    for L in Ls:  # lazy=0.5: even L is bipartite; the lazy walk has the same stationary law
        walk = Lt.simulate_walk(Lt.intersecting_cycles(3, L), num_walkers=walkers, num_steps=steps * L // 10,
                                lazy=0.5, seed=args.seed + L)
        continuum.append(Lt.ball_masses(3, L, 0.1, walk=walk))
    continuum += Lt.continuum_limit(3, Ls=(10_000,) if args.quick else (10_000, 100_000), radius=0.1)
    save_json(Path(args.out) / "lattice_walk.json",
              {"num_walkers": walkers, "num_steps": steps, "L": 11, "sweep": sweep, "continuum": continuum})
    print(table([{**r, "exact": round(r["exact"])} for r in sweep], [Column("k", "cycles k"), Column("ratio", "junction / other node", se="stderr"),
                        Column("exact")], title="stationary mass at the junction of k glued cycles"))
    print(table(continuum, [Column("L"), Column("ball_ratio", "ball ratio"),
                            Column("empirical_ball_ratio", "simulated", digits=3),
                            Column("junction_node", "junction node", digits=3),
                            Column("node_share", "its share of the ball")], title="continuum limit (radius 0.1)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
