"""Gallery of singularities: exact λ and m, with the Newton polygon of each 2-D K.

Each 2-D panel shows the exponents of K, its Newton polyhedron Γ+, the diagonal and the
point (t, t) where it meets ∂Γ+ (λ_Newton = 1/t); the title gives the exact λ, m and the
method that proved it (a degenerate K is flagged: its Newton value is not used).  The table
lists every entry with its literature value.  Data: rlct_gallery.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from slt.io import save_json
from slt.plotting import integer_ticks, pyplot, save_figure
from slt.rlct import newton, rlct
from slt.rlct.gallery import GALLERY
from slt.rlct.engine import _parse

QUICK = True  # quick run: seconds, and it passes its own diagnostics
NAME = "rlct_gallery"


def _panel(ax, entry, res) -> dict:
    terms, names = _parse(entry.K, None)
    pts = sorted(terms)
    nd = newton.newton_distance(terms, (0, 0))
    fs = newton.facets(pts)
    verts = newton.vertices(pts, fs)
    top = max(max(a) for a in pts) + 2
    poly = [(verts[0][0], top)] + verts + [(top, verts[-1][1]), (top, top)]
    ax.fill([p[0] for p in poly], [p[1] for p in poly], alpha=0.2)
    ax.plot([p[0] for p in verts], [p[1] for p in verts], "-", lw=1)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ms=3)
    t = float(1 / nd.lam)
    ax.plot([0, top], [0, top], ":", color="gray", lw=0.8)
    ax.plot([t], [t], "*", ms=9, color="#D55E00")
    ax.set_xlim(-0.3, top)
    ax.set_ylim(-0.3, top)
    ax.set_aspect("equal")
    ax.set_xlabel(f"exponent of {names[0]}", fontsize=7, labelpad=1)
    ax.set_ylabel(f"exponent of {names[1]}", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=7)
    integer_ticks(ax.xaxis)
    integer_ticks(ax.yaxis)
    degenerate = bool(newton.degenerate_faces(terms, fs))
    ax.set_title(f"{entry.name}\nλ={res.lam}, m={res.m}\n{res.method}", fontsize=7)
    if degenerate:
        ax.text(0.95, 0.95, f"degenerate:\n1/t = {nd.lam} unused", transform=ax.transAxes, ha="right",
                va="top", fontsize=6)
    return {"newton_lambda": str(nd.lam), "degenerate": degenerate, "vertices": verts}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="same figure (it takes about a second)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    plt = pyplot()
    two_d = [e for e in GALLERY if len(_parse(e.K, None)[1]) == 2]
    ncol = 5
    nrow = -(-len(two_d) // ncol) + 1
    fig = plt.figure(figsize=(2.2 * ncol, 2.8 * nrow))
    fig.suptitle("Newton polygons: exponents of K (dots), Newton polyhedron Γ+ (shaded); the diagonal meets "
                 "its boundary at (t, t) (star), λ_Newton = 1/t", fontsize=9)
    rows = []
    for k, entry in enumerate(GALLERY):
        res = rlct(entry.K)
        row = {"name": entry.name, "K": entry.K, "lambda": str(res.lam), "m": res.m, "method": res.method,
               "where": res.where, "literature_lambda": str(entry.lam), "literature_m": entry.m,
               "source": entry.source}
        if entry in two_d:
            ax = fig.add_subplot(nrow, ncol, two_d.index(entry) + 1)
            row.update(_panel(ax, entry, res))
        rows.append(row)
    ax = fig.add_subplot(nrow, 1, nrow)
    ax.axis("off")
    table = ax.table(cellText=[[r["name"], r["lambda"], str(r["m"]), r["method"], r["literature_lambda"]] for r in rows],
                     colLabels=["K", "λ", "m", "method", "literature λ"], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / f"{NAME}.json", rows)
    save_figure(fig, out, NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
