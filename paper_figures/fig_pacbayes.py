"""PAC-Bayes and the KL "true name" of compression, against the free energy (issue 21).

(a) KL(Q_β‖φ) of the tempered posterior against log nβ: quadrature for x² + y⁴ (λ = 3/4) and
(x² + y²)/2 (λ = 1), thermodynamic integration (± 2 se), slopes in the legend.
(b) XOR, 2-h-1 tanh: KL between Gaussian fits of the trained and the initial weights over
random starts (the seed post's Q and P) against width, with the parameter count d, the Hessian
rank d − (Rashomon dimension) and 2λ̂.  (c) The same KL on digits (64-h-10 MLPs) with d.
(d) Digits risk certificates per width (data-dependent prior, δ = 0.025, δ' = 0.01) with the
Monte Carlo empirical-risk bound and the test error of Q.

The data come from ``simulations/pacbayes.py`` (its output folder is read when it exists;
otherwise the experiment is run, in quick mode with ``--quick``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from slt.io import load_json
from slt.figures import figure_args, load_simulation
from slt.plotting import COLORS, integer_ticks, pyplot, save_figure

QUICK = True
NAME = "pacbayes"
ROOT = Path(__file__).resolve().parent.parent


def _simulation():
    return load_simulation("pacbayes")


def experiment_data(quick: bool, out: Path, data_dir: str | None) -> dict:
    """The simulation's summary, running it first (quick or full) if its folder has none."""
    folder = Path(data_dir) if data_dir else (out / f"{NAME}_quick_runs" if quick else ROOT / "simulations" / "out" / NAME)
    if not (folder / f"{NAME}.json").exists():
        _simulation().main((["--quick"] if quick else []) + ["--out", str(folder), "--no-progress"])
    return load_json(folder / f"{NAME}.json")


def _legend(ax, ncol: int = 1) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, fontsize=7, frameon=False)


def panel_theory(ax, theory: dict) -> None:
    for i, (name, rec) in enumerate(theory.items()):
        x = np.log(rec["nbeta"])
        ax.plot(x, rec["exact"], "s-", mfc="none", color=COLORS[i], ms=4, lw=1,
                label=f"{name}: quadrature, slope {rec['slope_exact']:.3f} (λ = {rec['lam']:g})")
        if rec.get("ti") is not None:
            label = "TI ± 2 se" + (f", slope {rec['slope_ti']:.3f} ± {rec['slope_ti_se']:.3f}" if "slope_ti" in rec else "")
            ax.errorbar(np.log(rec["ti_nbeta"]), rec["ti"], yerr=2 * np.asarray(rec["ti_se"]), fmt="o", ms=3,
                        color=COLORS[i], label=f"{name}: {label}")
    ax.set_xlabel("log nβ")
    ax.set_ylabel("KL(Q_β ‖ φ)  [nats]")
    ax.set_title("(a) tempered posterior: KL grows like λ log nβ", fontsize=9)
    _legend(ax)


def panel_xor(ax, xor: dict) -> None:
    h = np.array([int(k) for k in xor])
    get = lambda key: np.array([np.nan if v.get(key) is None else v[key] for v in xor.values()], dtype=float)  # noqa: E731
    ax.plot(h, get("pushforward_kl"), "o-", color=COLORS[0], label="KL(fit(trained) ‖ fit(init))")
    ax.plot(h, get("dim"), "--", color="0.5", label="d (parameters)")
    ax.plot(h, get("rank_mean"), "s-", color=COLORS[1], label="Hessian rank = d − Rashomon dim")
    llc = get("llc_mean")
    if np.any(np.isfinite(llc)):
        ax.plot(h, 2 * llc, "^-", color=COLORS[2], label="2 λ̂ (LLC)")
    integer_ticks(ax.xaxis)
    ax.set_xlabel("hidden width h (XOR, 2-h-1 tanh)")
    ax.set_ylabel("nats / parameter count")
    ax.set_yscale("log")
    ax.set_title("(b) XOR: pushforward KL vs Rashomon count", fontsize=9)
    _legend(ax, ncol=2)


def panel_digits(ax, digits: dict) -> None:
    h = np.array([int(k) for k in digits])
    kl = np.array([np.nan if v["pushforward_kl"] is None else v["pushforward_kl"] for v in digits.values()])
    ax.plot(h, kl, "o-", color=COLORS[0], label="KL(fit(trained) ‖ fit(init))")
    ax.plot(h, [v["dim"] for v in digits.values()], "--", color="0.5", label="d (parameters)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden width h (digits, 64-h-10 MLP)")
    ax.set_ylabel("nats / parameter count")
    ax.set_title("(c) digits: pushforward KL vs width", fontsize=9)
    _legend(ax, ncol=2)


def panel_certificates(ax, certs: dict) -> None:
    h = np.array([int(k) for k in certs])
    c = list(certs.values())
    ax.plot(h, [r["risk_bound"] for r in c], "o-", color=COLORS[1], label="risk bound (Maurer–Seeger)")
    ax.plot(h, [r["emp_risk_bound"] for r in c], "s--", color=COLORS[4], label="empirical-risk bound (MC)")
    ax.plot(h, [r["test_error_Q"] for r in c], "^-", color=COLORS[0], label="test error of Q")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, max(0.3, 1.1 * max(r["risk_bound"] for r in c)))
    ax.set_xlabel("hidden width h (digits, 64-h-10 MLP)")
    ax.set_ylabel("0-1 error")
    m, n = c[0]["num_samples"], c[0]["n"]
    ax.set_title(f"(d) certificates: n = {n}, m = {m}, δ = {c[0]['delta']:g}", fontsize=9)
    _legend(ax)


def main(argv: list[str] | None = None) -> int:
    args = figure_args(argv, __doc__, __file__, data_help="folder of simulations/pacbayes.py output to plot")
    out = Path(args.out)
    s = experiment_data(args.quick, out, args.data)
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 8.0))
    panel_theory(axes[0, 0], s["theory"])
    panel_xor(axes[0, 1], s["xor"])
    panel_digits(axes[1, 0], s["digits"])
    panel_certificates(axes[1, 1], s["certificates"])
    save_figure(fig, out, NAME)  # the simulation printed its summary (simulations/pacbayes.py report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
