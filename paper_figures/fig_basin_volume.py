"""Basin volumes of XOR networks (seed 003): what predicts the volume of a minimum's low-loss set?

Figure ``basin_volume``: (a) log V(ε) against log ε for every measured minimum (nested sampling,
prior N(w*, σ²I)), with the Gaussian (Hessian) prediction and the ray-based lower bound of one
minimum; (b) the fitted exponent and the local slope of log V at ε = 1/nβ against λ̂ (LLC), with
rank(H)/2 marked; (c, d, e) log V(ε*)
against the Hessian trace, the Gaussian prediction and λ̂, with Spearman's ρ and its bootstrap
interval among solved minima; (f) how often SGD from random starts lands in each function class
(solved, or stuck at a positive loss) against the volume of that class's measured minima.

The per-minimum data come from ``simulations/basin_volume.py`` (its output folder is read when it
exists; otherwise the experiment is run there, small with ``--quick``); the figure regenerates
from those files alone.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from slt.io import ResumableLog, load_json, save_json
from slt.figures import figure_args, load_simulation
from slt.plotting import COLORS, pyplot, save_figure

QUICK = True  # quick run: two minima, seconds, and it passes its own checks
NAME = "basin_volume"
ROOT = Path(__file__).resolve().parent.parent


def _simulation():
    return load_simulation("basin_volume")


def experiment_data(quick: bool, out: Path, data_dir: str | None) -> tuple[list[dict], dict]:
    """(per-minimum records, summary), running the simulation first when its folder has none."""
    folder = Path(data_dir) if data_dir else (out / f"{NAME}_quick_runs" if quick else ROOT / "simulations" / "out" / NAME)
    if not (folder / f"{NAME}.json").exists():
        _simulation().main((["--quick"] if quick else []) + ["--out", str(folder), "--no-progress"])
    summary = load_json(folder / f"{NAME}.json")
    runs = {r["key"]: r for r in ResumableLog(folder / f"{NAME}_runs.jsonl").records()}
    keys = [f"{h}-{s}" for h, starts in summary["measured"].items() for s in starts]
    chosen = [runs[k] for k in keys if k in runs]
    sim = _simulation()
    for r in chosen:  # the class from the loss, as the summary counts it
        r["cls"] = sim.function_class(r["loss"])
        r["slope_at_nbeta"] = sim.local_slope(r, 1 / summary["config"]["nbeta"])
    return chosen, summary


def _style(r: dict, widths: list[int]) -> dict:
    return {"color": COLORS[0] if r["cls"] == "solved" else COLORS[1], "ls": "-" if r["hidden"] == widths[0] else "--"}


def _scatter(ax, runs, x, xlabel, corr, widths):
    for i, h in enumerate(widths):
        for solved, color in ((True, COLORS[0]), (False, COLORS[1])):
            rs = [r for r in runs if r["hidden"] == h and (r["cls"] == "solved") == solved]
            if rs:
                ax.errorbar([x(r) for r in rs], [r["log_v_star"] for r in rs], yerr=[2 * r["log_v_star_se"] for r in rs],
                            fmt="os"[i % 2], ms=4, alpha=0.7, color=color,
                            label=f"h={h} {'solved' if solved else 'stuck'}")
    c = corr
    ax.set_xlabel(xlabel)
    ax.set_ylabel("log V(ε*) (±2 SE)")
    if c is not None and math.isfinite(c["rho"]):
        ax.set_title(f"Spearman ρ (solved) = {c['rho']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}]")
    ax.legend(fontsize=6)


def plot(runs: list[dict], summary: dict, out: Path) -> dict:
    plt = pyplot()
    cfg = summary["config"]
    widths = sorted(int(h) for h in summary["widths"])
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.6))
    a = ax[0, 0]
    for r in runs:
        a.plot(np.array(r["log_eps"]) / math.log(10), np.array(r["log_volume"]) / math.log(10), lw=0.8, alpha=0.6,
               **_style(r, widths))
    if runs:
        r = runs[0]
        x = np.array(r["log_eps"]) / math.log(10)
        a.plot(x, np.array(r["gaussian"]) / math.log(10), color="k", ls=":", label=f"Gaussian (Hessian), minimum {r['key']}")
        a.plot(x, np.array(r["ray"]) / math.log(10), color=COLORS[2], ls="-.", label=f"rays (lower bound), minimum {r['key']}")
        a.plot(x, np.array(r["log_volume"]) / math.log(10), color="k", lw=1.6, label=f"measured, minimum {r['key']}")
    a.plot([], [], color=COLORS[0], label="solved"), a.plot([], [], color=COLORS[1], label="stuck")
    a.axvline(math.log10(cfg["eps_star"]), color="0.6", lw=0.8)
    a.set(xlabel="log₁₀ ε", ylabel="log₁₀ V(ε)", title=f"V(ε) = P(K < ε), prior N(w*, {cfg['sigma']:g}² I)")
    a.legend(fontsize=6)
    b = ax[0, 1]
    for i, h in enumerate(widths):
        for cls, color in (("solved", COLORS[0]), ("stuck", COLORS[1])):
            rs = [r for r in runs if r["hidden"] == h and r["llc"] is not None and r["cls"] == cls]
            if not rs:
                continue
            mark = "os"[i % 2]
            b.errorbar([r["llc"] for r in rs], [r["lam"] for r in rs], xerr=[2 * r["llc_se"] for r in rs],
                       yerr=[2 * r["lam_se"] for r in rs], fmt=mark, ms=4, alpha=0.6, color=color)
            b.plot([r["llc"] for r in rs], [r["slope_at_nbeta"] for r in rs], mark, ms=6, mfc="none", color=color)
            b.plot([r["llc"] for r in rs], [r["rank_half"] for r in rs], "_", ms=9, color=color, alpha=0.7)
    for fmt, kw, label in (("o", {}, "filled: exponent fitted over the range"),
                           ("o", {"mfc": "none"}, "open: slope of log V at ε = 1/nβ"), ("_", {"ms": 9}, "dash: rank(H)/2"),
                           ("s", {"mfc": "none"}, "circles h=2, squares h=3; blue solved, orange stuck")):
        b.plot([], [], fmt, color="0.3", label=label, **kw)
    vals = [r[k] for r in runs for k in ("lam", "llc", "slope_at_nbeta", "rank_half") if r[k] is not None and np.isfinite(r[k])]
    lim = np.array([min(vals) - 0.2, max(vals) + 0.2])
    b.plot(lim, lim, "k:", label="exponent = λ̂")
    b.set(xlim=lim, ylim=lim, xlabel=f"λ̂ (LLC, SGLD, nβ = {cfg['nbeta']:g}; ±2 SE)", ylabel="exponent of V(ε) (±2 SE)",
          title="the exponent of V against λ̂ and rank(H)/2")
    b.legend(fontsize=6)
    first = summary["widths"][str(widths[0])]["correlations"]["solved"]
    _scatter(ax[0, 2], runs, lambda r: r["trace"], "Hessian trace", first["-trace"], widths)
    _scatter(ax[1, 0], runs, lambda r: r["gaussian_star"], "Gaussian (Hessian) log V(ε*)", first["Gaussian log V"], widths)
    lo = min([r["gaussian_star"] for r in runs] + [r["log_v_star"] for r in runs])
    hi = max([r["gaussian_star"] for r in runs] + [r["log_v_star"] for r in runs])
    ax[1, 0].plot([lo, hi], [lo, hi], "k:")
    _scatter(ax[1, 1], runs, lambda r: np.nan if r["llc"] is None else r["llc"], "λ̂ (LLC)", first["-llc"], widths)
    f = ax[1, 2]
    for i, h in enumerate(widths):
        cls = summary["widths"][str(h)]["classes"]
        for name, c in cls.items():
            f.errorbar(c["log_v_star"], c["frequency"], xerr=2 * c["log_v_star_se"],
                       yerr=2 * c["frequency_se"], fmt="os"[i % 2], color=COLORS[0] if name == "solved" else COLORS[1],
                       ms=5, alpha=0.8)
            f.annotate(f"h={h} {name} ({c['measured']} measured)", (c["log_v_star"], c["frequency"]), fontsize=7)
    f.set(xlabel="mean log V(ε*) of the class's measured minima (±2 SE)", ylabel="frequency over SGD starts (±2 SE)",
          title="does SGD land in larger-volume functions more often?")
    f.set_yscale("log")
    save_figure(fig, out, NAME)
    numbers = {h: {"correlations": w["correlations"], "classes": w["classes"]} for h, w in summary["widths"].items()}
    save_json(out / f"{NAME}_numbers.json", numbers)
    return numbers


def main(argv=None) -> int:
    args = figure_args(argv, __doc__, __file__, data_help="folder with the simulation's output")
    out = Path(args.out)
    runs, summary = experiment_data(args.quick, out, args.data)
    plot(runs, summary, out)
    return 0 if summary["checks"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
