"""F_n against log n: thermodynamic integration, exact quadrature and the asymptotic formula.

Toy model V = x² + y⁴ (λ = 3/4, m = 1) as the loss, Gaussian prior N(0, I); F_n by
thermodynamic integration (± 2 se), the exact F_n by quadrature, and
n L_n(w₀) + λ log n − (m − 1) log log n + c (c fitted at the largest n), with the slope
fitted to the exact values printed in the legend.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from slt import potentials as P
from slt.estimators import exact_free_energy, fit_lambda, free_energy
from slt.io import save_npz
from slt.plotting import COLORS, pyplot, save_figure
from slt.report import number, quantity

QUICK = True  # quick run: seconds, and it passes its own diagnostics
NAME = "free_energy"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    V = P.sum_of_monomials([1, 2])
    lam, m = float(V.lam), V.m
    ns = np.array([1e2, 1e3]) if args.quick else np.array([1e2, 1e3, 1e4, 1e5])
    kw = dict(num_betas=12, num_chains=32, num_draws=300, num_burnin=1000) if args.quick else \
        dict(num_betas=32, num_chains=64, num_draws=2000, num_burnin=4000)
    ti = [free_energy(V, n=n, gamma=1.0, seed=i, **kw) for i, n in enumerate(ns)]
    exact = np.array([exact_free_energy(V, n, gamma=1.0) for n in ns])
    val, se = np.array([r.value for r in ti]), np.array([r.se for r in ti])
    fit_exact, fit_ti = fit_lambda(ns, exact), fit_lambda(ns, val, se=se)
    save_npz(Path(args.out) / f"{NAME}.npz", n=ns, ti=val, ti_se=se, exact=exact,
             slope_exact=fit_exact.lam, slope_ti=fit_ti.lam, lam=lam, m=m)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    logn = np.log(ns)
    grid = np.linspace(logn[0], logn[-1], 100)
    asym = lambda t: lam * t - (m - 1) * np.log(t)  # noqa: E731  (n L_n(w₀) = 0 here)
    c = exact[-1] - asym(logn[-1])
    ax.plot(grid, asym(grid) + c, color="0.5", lw=1, label=r"$\lambda \log n - (m-1) \log\log n + c$")
    ax.plot(logn, exact, "s", mfc="none", ms=7, color=COLORS[1], zorder=4, label=f"exact (slope {fit_exact.lam:.3f})")
    ax.errorbar(logn, val, yerr=2 * se, fmt="o", color=COLORS[0], ms=3,
                label=f"thermodynamic integration (slope {fit_ti.lam:.3f} ± {fit_ti.lam_se:.3f})")
    ax.set_xlabel(r"$\log n$")
    ax.set_ylabel(r"free energy $F_n$")
    ax.set_title(f"V = x² + y⁴, λ = {lam:g}, m = {m}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    save_figure(fig, args.out, NAME)
    print(f"F_n slope in log n: exact {number(fit_exact.lam)}, TI {quantity(fit_ti.lam, se=fit_ti.lam_se)} "
          f"(λ = {lam}); largest |TI/exact − 1| {number(np.max(np.abs(val / exact - 1)), digits=3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
