"""λ̂ on torch networks: deep linear networks against the exact λ (Aoyagi 2024), and λ̂ along
training for XOR and for a small CNN on scikit-learn's digits.

The deep-linear panel shows SGLD's λ̂ at the bridge's defaults, the estimator's exact value on
the same data (HMC), its n → ∞ value at the same nβ (HMC on the population loss), and
λ̂ + βν̂, which adds back the data term whose mean over data sets is −βν (ν ≈ λ here).

Run: ``python paper_figures/fig_nn_llc.py [--quick] [--out DIR]``; writes ``nn_llc.png/.pdf``
and the raw numbers ``nn_llc.npz``/``.json``.  Estimates whose run raised diagnostics warnings
(R-hat, ESS, trend; typical of ``--quick``) are drawn hollow and counted in the panel; a
negative λ̂ along training means the checkpoint is not yet a minimum, so it is no LLC.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from slt.errors import SLTWarning

#: not in the quick set: its quick run (minutes of torch sampling) does not pass its own
#: diagnostics; ``slt figures nn_llc --quick`` runs it small and marks those estimates
QUICK = False

DLN_QUICK = [((4, 3, 4), 1), ((5, 5, 5, 5), 2)]
DLN_FULL = [((4, 3, 4), 1), ((5, 5, 5, 5), 2), ((6, 6, 6), 3), ((10, 10, 10, 10), 3), ((20, 20, 20), 5),
            ((40, 40, 40), 10)]


def compute(quick: bool, out: Path) -> dict:
    import numpy as np
    import torch

    from slt.nn.dln import dln_llc, dln_reference_llc

    torch.set_num_threads(1)
    res: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SLTWarning)
        dln = [dln_llc(w, r, n=2000 if quick else 10000, num_draws=300 if quick else 2000,
                       num_burnin=150 if quick else None, thin=1 if quick else 2, seed=0) for w, r in (DLN_QUICK if quick else DLN_FULL)]
        res["dln_exact"] = np.array([e for _, e in dln])
        res["dln_llc"] = np.array([r.mean for r, _ in dln])
        res["dln_se"] = np.array([r.se for r, _ in dln])
        res["dln_corrected"] = np.array([r.corrected for r, _ in dln])
        res["dln_corrected_se"] = np.array([r.corrected_se for r, _ in dln])
        res["dln_arch"] = [f"{'-'.join(map(str, w))} r{k}" for w, k in (DLN_QUICK if quick else DLN_FULL)]
        ref_kw = dict(n=2000 if quick else 10000, num_draws=20 if quick else 100, num_burnin=20 if quick else 50,
                      leapfrog=100 if quick else 400, seed=0)
        for key, population in (("dln_reference", False), ("dln_population", True)):
            ref = [dln_reference_llc(w, r, population=population, **ref_kw)[0] for w, r in (DLN_QUICK if quick else DLN_FULL)]
            res[key] = np.array([r.mean for r in ref])
            res[f"{key}_se"] = np.array([r.se for r in ref])
    res["dln_flagged"] = np.array([bool(r.warnings) for r, _ in dln])
    res["dln_warnings"] = len(caught)

    epochs = 150 if quick else 2000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SLTWarning)
        traj, hist = _xor_trajectory(quick, epochs, out)
    res.update(xor_epochs=np.array(traj.keys), xor_llc=traj.llc, xor_se=traj.se, xor_train_loss=np.array(hist),
               xor_warnings=len(caught))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SLTWarning)
        traj, hist = _cnn_trajectory(quick, out)
    res.update(cnn_epochs=np.array(traj.keys), cnn_llc=traj.llc, cnn_se=traj.se, cnn_train_loss=np.array(hist),
               cnn_warnings=len(caught))
    return res


def _xor_trajectory(quick: bool, epochs: int, out: Path):
    import numpy as np
    import torch

    from slt.nn import data as D
    from slt.nn.trajectory import llc_along_training
    from slt.nn.models import xor_mlp

    return llc_along_training(
        xor_mlp(2, seed=0), D.xor_data(), loss_fn=torch.nn.functional.mse_loss, lr=0.02, epochs=epochs,
        checkpoint_epochs=sorted({0, *np.geomspace(1, epochs, 5 if quick else 12).astype(int).tolist()}),
        out=out / "xor_run", nbeta=100.0, gamma=100.0, num_chains=4, num_draws=100 if quick else 2000,
        num_burnin=50 if quick else 1000,
    )


def _cnn_trajectory(quick: bool, out: Path):
    import torch

    from slt.nn import data as D
    from slt.nn.trajectory import llc_along_training
    from slt.nn.models import small_cnn

    X, y = D.load_digits()
    if quick:
        X, y = X[:400], y[:400]
    epochs = 4 if quick else 40
    return llc_along_training(
        small_cnn(1, 10, width=4 if quick else 8, image_size=8, seed=0), (X, y),
        loss_fn=torch.nn.functional.cross_entropy, lr=1e-2 if quick else 3e-3, epochs=epochs,
        checkpoint_epochs=sorted({0, 1, epochs // 2, epochs} if quick else {0, 1, 2, 5, 10, 20, 40}),
        out=out / "digits_run", train_kwargs={"batch_size": 64}, gamma=100.0, num_chains=4,
        num_draws=40 if quick else 1000, num_burnin=20 if quick else 500, batch_size=64 if quick else 256,
    )


def _flag(ax, count: int, total: int, note: str = "") -> None:
    """Say above the panel, in red, how many diagnostics warnings its estimates raised."""
    if count:
        ax.set_title(ax.get_title(), pad=16)
        ax.text(0.5, 1.01, f"not converged: {count} diagnostics warnings over {total} estimates{note}",
                transform=ax.transAxes, va="bottom", ha="center", fontsize=6.5, color="#D55E00")


def plot(res: dict, out: Path) -> None:
    import numpy as np

    from slt.plotting import plain_log_ticks, pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    ax = axes[0]
    lam = np.asarray(res["dln_exact"])
    flagged = np.asarray(res.get("dln_flagged", np.zeros(lam.size, bool)), bool)
    for k, (key, fmt, label) in enumerate((("dln_llc", "o", "λ̂ (SGLD, auto)"), ("dln_reference", "x", "its exact value (HMC)"),
                                           ("dln_corrected", "s", "λ̂ + βν̂ (data term added back)"),
                                           ("dln_population", "+", "exact value, n → ∞ (same nβ)"))):
        se = np.asarray(res["dln_se" if key == "dln_llc" else f"{key}_se"])
        x, y = lam * (0.97 + 0.02 * k), np.asarray(res[key])  # side by side at each λ
        line = ax.errorbar(x, y, yerr=2 * se, fmt=fmt, label=label, mfc="none" if fmt == "s" else None, zorder=3)
        if key in ("dln_llc", "dln_corrected") and flagged.any():
            color = line[0].get_color()
            ax.plot(x[flagged], y[flagged], fmt, ms=9, mfc="white", mec=color, zorder=4)
    lim = [0, 1.1 * max(np.max(res["dln_exact"]), np.max(res["dln_llc"]))]
    ax.plot(lim, lim, "k--", lw=0.8, label="λ̂ = λ")
    ax.fill_between(lim, [0.9 * v for v in lim], [1.1 * v for v in lim], color="0.85", label="±10%")
    ax.set(xlabel="exact λ (Aoyagi 2024)", ylabel="λ̂ (γ = 1, nβ = n/log n)", title="deep linear networks")
    ax.legend(fontsize=6.5, loc="upper left")  # above the diagonal: no data there
    _flag(ax, int(res.get("dln_warnings", 0)), 3 * lam.size, " (hollow)")
    for key, title, ax in (("xor", "XOR 2-2-1 MLP", axes[1]), ("cnn", "CNN on digits", axes[2])):
        e = np.maximum(np.asarray(res[f"{key}_epochs"], float), 0.5)
        llc, se = np.asarray(res[f"{key}_llc"]), np.asarray(res[f"{key}_se"])
        ax.plot(e, llc, "-", color="0.6", lw=0.8, zorder=1)
        ok = llc >= 0
        ax.errorbar(e[ok], llc[ok], yerr=2 * se[ok], fmt="o", ms=4, label="λ̂ ± 2 se", zorder=3)
        if (~ok).any():
            ax.errorbar(e[~ok], llc[~ok], yerr=2 * se[~ok], fmt="o", ms=5, mfc="white", color="#D55E00",
                        label="λ̂ < 0: not yet a minimum", zorder=3)
        ax.set(xscale="log", xlabel="epoch (epoch 0 drawn at 0.5)", ylabel="λ̂ (γ = 100)", title=title)
        plain_log_ticks(ax.xaxis, e)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.legend(fontsize=6.5, loc="lower right")
        _flag(ax, int(res.get(f"{key}_warnings", 0)), e.size)
    save_figure(fig, out, "nn_llc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (minutes; estimates flagged if unconverged)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"), help="output folder")
    args = parser.parse_args(argv)
    from slt.io import save_json, save_npz

    out = Path(args.out)
    res = compute(args.quick, out)
    save_npz(out / "nn_llc.npz", **{k: v for k, v in res.items() if k != "dln_arch"})
    save_json(out / "nn_llc.json", res)
    plot(res, out)
    failed = sum(int(res[f"{k}_warnings"]) for k in ("dln", "xor", "cnn"))
    if failed:
        print(f"nn_llc: {failed} diagnostics warnings (unconverged estimates, drawn hollow and counted in the "
              f"figure){'; the full run (without --quick) takes hours' if args.quick else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
