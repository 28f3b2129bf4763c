"""Dynamics on the crossing potential c·min(x², y²) (seed post 002) on a torus.

Top: the potential, the exact Gibbs density, the regular (harmonic-valley) prediction and the
empirical density of overdamped Langevin.  Bottom: empirical densities of SGD with momentum
μ = 0.5, 0.9 (noise matched to the same temperature), and the mass near the singular point
against temperature for every view (±2 standard errors over walkers; the exact Gibbs mass is
the black line).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from slt import gibbs, potentials as P
from slt.io import save_npz
from slt.plotting import heatmap, pyplot, save_figure
from slt.simulate import DEFAULT_DYNAMICS, compare_masses, plot_comparison, run_dynamics, save_comparison

QUICK = True  # quick run: seconds, and it passes its own diagnostics
NAME = "singular_dynamics"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    V = P.min_crossing()
    box, T, bins = (-1.0, 1.0), 0.1, 64
    walkers, steps = (2000, 3000) if args.quick else (20_000, 20_000)
    temps = [0.1, 0.4] if args.quick else [0.03, 0.05, 0.1, 0.2, 0.4, 0.8]
    exact = gibbs.gibbs_density(V, box, temperature=T, bins=bins, refine=4)
    regular = gibbs.regular_density(V, box, temperature=T, bins=bins, refine=4)
    dens = {}
    for label in DEFAULT_DYNAMICS:
        res = run_dynamics(V, label, temperature=T, box=box, periodic=True, num_walkers=walkers,
                           num_steps=steps, step_size=1e-3, seed=1, hist_bins=bins, progress=False)
        dens[label] = res.density()
    cmp = compare_masses(V, temperatures=temps, radius=0.2, box=box, periodic=True,
                         num_walkers=walkers, num_steps=steps, step_size=1e-3, seed=2, progress=False)
    save_npz(out / f"{NAME}.npz", edges=exact.edges[0], exact=exact.density, regular=regular.density,
             **{f"empirical_{k}": v for k, v in dens.items()})
    save_comparison(cmp, out, f"{NAME}_mass")

    plt = pyplot()
    fig = plt.figure(figsize=(13, 6.4))
    grid = fig.add_gridspec(2, 4)
    ext = [box[0], box[1], box[0], box[1]]
    xs = np.linspace(*box, 200)
    pts = np.stack(np.meshgrid(xs, xs, indexing="ij"), -1)
    panels = [("potential V = min(x², y²)", V(pts), "V(x, y)"),
              ("exact Gibbs", exact.density, "density"), ("regular prediction", regular.density, "density")]
    panels += [(f"empirical: {k}", d, "density") for k, d in dens.items()]
    vmax = max(exact.density.max(), regular.density.max())
    slots = [grid[0, 0], grid[0, 1], grid[0, 2], grid[0, 3], grid[1, 0], grid[1, 1]]
    for slot, (title, img, clabel) in zip(slots, panels):
        ax = fig.add_subplot(slot)
        is_v = clabel.startswith("V")
        heatmap(ax, img, ext, xlabel="x", ylabel="y", cbar_label=clabel, vmin=0, vmax=None if is_v else vmax,
                cmap="magma" if is_v else "viridis")
        ax.set_aspect("equal")
        ax.set_title(title + ("" if is_v else f" (T = {T:g})"))
    plot_comparison(cmp, fig.add_subplot(grid[1, 2:]), legend_outside=False)
    save_figure(fig, out, NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
