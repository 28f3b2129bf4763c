"""λ̂ against λ for the validation suite, with the exact finite-nβ targets.

Each model: the exact λ (diagonal), the exact value the estimator converges to at that nβ
and γ (quadrature; open marker) and λ̂ ± 2 se (filled).  For the devinterp regression
models the value devinterp 2.0.1 reports is shown as a cross.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from slt.estimators.validation import potential_cases, regression_cases, run_case
from slt.io import save_json
from slt.plotting import COLORS, pyplot, save_figure

QUICK = True  # quick run: seconds, and it passes its own diagnostics
NAME = "llc_validation"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    extra = dict(num_chains=16, num_draws=300, num_burnin=1000, thin=1) if args.quick else {}
    rows = [run_case(c, seed=0, **extra) for c in potential_cases(args.quick) + regression_cases(args.quick)]
    save_json(Path(args.out) / f"{NAME}.json", rows)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    lam = np.array([r["lam"] for r in rows])
    for i, r in enumerate(rows):
        c = COLORS[i % len(COLORS)]
        target = r["exact_empirical"] if r["exact_empirical"] is not None else r["exact_population"]
        jitter = 1 + 0.03 * (i % 3 - 1)
        x = r["lam"] * jitter
        ax.errorbar(x, r["llc"], yerr=2 * r["se"], fmt="o", color=c, ms=4, label=f"{r['model'][:22]} nβ={r['nbeta']:.3g}")
        if target is not None:
            ax.plot(x, target, "o", mfc="none", color=c, ms=8)
        if r["devinterp"] is not None:
            ax.plot(x, r["devinterp"], "x", color=c, ms=6)
    lim = [0, max(lam.max(), max(r["llc"] for r in rows)) * 1.15]
    ax.plot(lim, lim, color="0.5", lw=0.8)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("exact λ")
    ax.set_ylabel("λ̂")
    ax.legend(fontsize=6, loc="upper left", title="filled ±2 se: λ̂; open: exact target; ×: devinterp",
              title_fontsize=6)
    save_figure(fig, args.out, NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
