"""Random walk on k glued cycles (seed post 002): the junction traps the walker.

Left: the glued cycles with circle areas proportional to the empirical visit frequency of an
ensemble of walkers; middle: the same drawing for the exact stationary law deg(v)/2|E|;
right: the junction-to-regular-node visit ratio against k = 1..10 with 95% confidence
intervals from independent walkers, against the exact value k.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from slt import lattices as Lt
from slt.io import save_json, save_npz
from slt.plotting import COLORS, pyplot, save_figure

QUICK = True  # quick run: seconds, and it passes its own diagnostics
NAME = "lattice_walk"


def _draw(ax, G, mass, title: str, scale: float) -> None:
    xy = np.array([G.nodes[v]["coord"] for v in G])
    for u, v in G.edges:
        ax.plot(*zip(G.nodes[u]["coord"], G.nodes[v]["coord"]), color="0.75", lw=0.8, zorder=1)
    colors = [COLORS[1] if G.nodes[v]["junction"] else COLORS[0] for v in G]
    ax.scatter(xy[:, 0], xy[:, 1], s=scale * mass, c=colors, alpha=0.8, zorder=2)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.axis("off")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    walkers, steps = (200, 2000) if args.quick else (2000, 50_000)
    k, L = 4, 11
    G = Lt.intersecting_cycles(k, L)
    walk = Lt.simulate_walk(G, num_walkers=walkers, num_steps=steps, seed=1)
    exact = Lt.stationary_vector(G)
    sweep = Lt.junction_ratio_sweep(range(1, 11), L, num_walkers=walkers, num_steps=steps, seed=2)
    save_npz(out / f"{NAME}.npz", coords=np.array([G.nodes[v]["coord"] for v in G]),
             empirical=walk.frequencies(), exact=exact, counts=walk.counts)
    save_json(out / f"{NAME}.json", {"k": k, "L": L, "num_walkers": walkers, "num_steps": steps, "sweep": sweep})

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.8))
    scale = 400.0 / exact.max()
    _draw(axes[0], G, walk.frequencies(), f"empirical visits ({walkers} walkers × {steps} steps)\ncircle area ∝ visit frequency", scale)
    _draw(axes[1], G, exact, "exact π(v) = deg(v) / 2|E|\ncircle area ∝ π(v)", scale)
    ks = np.array([r["k"] for r in sweep])
    ratio = np.array([r["ratio"] for r in sweep])
    err = np.array([[r["ratio"] - r["low"] for r in sweep], [r["high"] - r["ratio"] for r in sweep]])
    ax = axes[2]
    ax.plot(ks, ks, color="0.4", lw=1, label="exact: k")
    ax.errorbar(ks, ratio, yerr=err, fmt="o", ms=4, capsize=3, color=COLORS[1], label="simulated (95% CI)")
    ax.set_xlabel("number of glued cycles k")
    ax.set_ylabel("visits at junction / visits at a regular node")
    ax.set_title(f"junction ratio, L = {L}")
    ax.legend()
    save_figure(fig, out, NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
