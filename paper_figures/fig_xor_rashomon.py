"""Rashomon dimension of XOR networks (seed post 000) and the loss landscape around a minimum.

Figure ``xor_rashomon``: (a) histograms of near-zero Hessian eigenvalue counts per width
(solved runs, threshold stated), (b) the count against the threshold (median over runs),
(c) full spectra of the most common minima against the maximum-count minima, (d) the LLC
estimate per run against the bounds rank(H)/2 ≤ λ ≤ d/2.
Figure ``xor_landscape``: (e) a path in the zero eigenspace between two minima of one zero
set and the attempt between minima of two runs, (f, g) loss slices along random
filter-normalised and along the two lowest-eigenvalue directions, (h) t-SNE of random
perturbations coloured by loss.

The per-run data come from ``simulations/xor_rashomon.py`` (its output folder is read when
it exists; otherwise the experiment is run, in quick mode with ``--quick``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from slt.io import load_json, save_json, save_npz
from slt.nn import landscape as ls
from slt.nn.data import xor_data
from slt.nn.hessian import DEFAULT_RTOL, spectrum
from slt.nn.models import gaussian_nll, train, xor_mlp
from slt.figures import figure_args, load_simulation
from slt.plotting import COLORS, heatmap, integer_ticks, pyplot, save_figure

QUICK = False  # training the networks takes minutes; `slt figures xor_rashomon --quick` runs it small
NAME = "xor_rashomon"
ROOT = Path(__file__).resolve().parent.parent


def _simulation():
    return load_simulation("xor_rashomon")


def experiment_data(quick: bool, out: Path, data_dir: str | None):
    """(runs, summary) of the XOR experiment: from ``data_dir`` (default: the simulation's
    output folder in full mode), running the simulation there first if needed."""
    sim = _simulation()
    folder = Path(data_dir) if data_dir else (out / f"{NAME}_quick_runs" if quick else ROOT / "simulations" / "out" / NAME)
    if not (folder / f"{NAME}.json").exists():
        sim.main((["--quick"] if quick else []) + ["--out", str(folder), "--no-progress"])
    return sim.load_runs(folder), load_json(folder / f"{NAME}.json")


def rashomon_figure(runs, summary, out: Path) -> dict:
    plt = pyplot()
    widths = sorted(int(h) for h in summary["widths"])
    solved = [r for r in runs if r["solved"]]
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    a = ax[0, 0]
    used = []  # offsets with at least one run, to fit the x-range to the data
    for i, h in enumerate(widths):
        s = summary["widths"][str(h)]
        hist = np.array(s["count_hist"], dtype=float)
        x = np.arange(hist.size) - (s["dim"] - 4)  # count relative to d − 4 (rank 4 = #data points)
        used += x[hist > 0].tolist()
        a.bar(x + 0.8 * (i / len(widths) - 0.4), hist, width=0.8 / len(widths), color=COLORS[i % len(COLORS)],
              label=f"h={h} (d={s['dim']}), {s['solved']}/{s['runs']} solved")
    a.set_xlabel("near-zero count − (d − 4)")
    a.set_ylabel("runs")
    if used:
        a.set_xlim(min(used) - 1.5, max(used) + 1.5)
    integer_ticks(a.xaxis)
    integer_ticks(a.yaxis)
    a.set_title(f"near-zero eigenvalues: |λ| ≤ max({DEFAULT_RTOL:g}·λmax, d·ε·λmax)")
    a.legend(fontsize=6)
    b = ax[0, 1]
    rtols = np.array(summary["rtols"])
    for i, h in enumerate(widths):
        s = summary["widths"][str(h)]
        if s["median_count_curve"] is not None:
            b.semilogx(rtols, np.array(s["median_count_curve"]) / s["dim"], color=COLORS[i % len(COLORS)], label=f"h={h}")
    b.axvline(DEFAULT_RTOL, color="k", ls=":", label="threshold used")
    b.set_xlabel("relative threshold rtol")
    b.set_ylabel("median near-zero count / d")
    b.set_title("sensitivity of the count to the threshold")
    b.legend(fontsize=6)
    c = ax[1, 0]
    h = max(widths, key=lambda w: (len({r["near_zero"] for r in solved if r["hidden"] == w}), w))
    group = [r for r in solved if r["hidden"] == h]
    spectra = {}
    if group:
        mode = summary["widths"][str(h)]["mode_count"]
        top = summary["widths"][str(h)]["max_count"]
        for label, count, color, ls_ in (("most common", mode, COLORS[0], "-"), ("maximum count", top, COLORS[1], "--")):
            rows = [np.sort(np.abs(r["eigenvalues"]))[::-1] for r in group if r["near_zero"] == count]
            spectra[label] = np.array(rows)
            for j, lam in enumerate(rows[:30]):
                c.semilogy(np.arange(1, lam.size + 1), np.maximum(lam, 1e-18), color=color, ls=ls_, alpha=0.4,
                           label=f"{label}: count {count} ({len(rows)} runs)" if j == 0 else None)
        c.axhline(np.median([r["threshold"] for r in group]), color="k", ls=":", label="threshold (median)")
    c.set_xlabel("eigenvalue index (by |λ|)")
    c.set_ylabel("|λ|")
    c.set_title(f"full spectra, h={h}")
    c.legend(fontsize=6)
    d = ax[1, 1]
    with_llc = [r for r in solved if r["llc_mean"] is not None]
    for i, h in enumerate(widths):
        rs = [r for r in with_llc if r["hidden"] == h]
        if rs:
            shift = 0.06 * (i - (len(widths) - 1) / 2)  # side by side: the ranks coincide
            d.errorbar([r["llc_lower"] + shift for r in rs], [r["llc_mean"] for r in rs], yerr=[2 * r["llc_se"] for r in rs],
                       fmt="o", ms=3, alpha=0.5, color=COLORS[i % len(COLORS)], label=f"h={h}, d/2={rs[0]['llc_upper']:g}")
    xs = [r["llc_lower"] for r in with_llc] or [0.0, 1.0]
    lo = np.array([max(0.0, min(xs) - 1.0), max(xs) + 1.0])
    d.plot(lo, lo, "k:", label="λ = rank/2 (lower bound)")
    d.set_xlim(*lo)
    d.set_xlabel("rank(H)/2 (widths side by side)")
    d.set_ylabel("LLC estimate (±2 SE)")
    d.set_title("LLC against rank(H)/2 ≤ λ ≤ d/2" + ("" if with_llc else " (no LLC estimator)"))
    d.legend(fontsize=6)
    save_figure(fig, out, NAME)
    save_npz(out / f"{NAME}_spectra.npz", **{k.replace(" ", "_"): v for k, v in spectra.items()})
    return {"spectra_width": h}


def landscape_figure(quick: bool, out: Path) -> dict:
    plt = pyplot()
    data = xor_data()
    models = []
    for seed in (2, 3):
        m = xor_mlp(3, seed=seed)
        train(m, data, loss_fn=gaussian_nll, lr=0.05, epochs=800 if quick else 2000, seed=seed)
        models.append(m)
    m = models[0]
    sp = spectrum(m, data, gaussian_nll)
    # a second point of the same zero set: walk in the null space towards a random offset
    rng = np.random.default_rng(0)
    w = ls.flatten_parameters(m)
    steps = 8 if quick else 60
    far = ls.rashomon_path(m, data, gaussian_nll, w + rng.standard_normal(w.size), step_size=0.05, max_steps=steps)
    same = ls.rashomon_path(m, data, gaussian_nll, far.points[-1], step_size=0.05, max_steps=4 * steps)
    other = ls.rashomon_path(m, data, gaussian_nll, models[1], step_size=0.05, max_steps=2 * steps)
    num = 21 if quick else 61
    rnd = np.stack([ls.filter_normalized_direction(m, seed=s) for s in (1, 2)])
    rnd /= np.linalg.norm(rnd, axis=1, keepdims=True)
    sl_rand = ls.loss_slice(m, data, gaussian_nll, rnd, extent=1.0, num=num)
    sl_flat = ls.loss_slice(m, data, gaussian_nll, sp.eigenvectors[:, :2].T, extent=1.0, num=num)
    emb = ls.perturbation_embedding(m, data, gaussian_nll, num_samples=80 if quick else 1000, radius=1.0,
                                    perplexity=15 if quick else 30, seed=0)
    fig, ax = plt.subplots(1, 4, figsize=(16, 4.4))
    a = ax[0]
    for path, label, color in ((same, "same zero set", COLORS[0]), (other, "minimum of another run", COLORS[1])):
        a.semilogy(path.distances, color=color, label=f"{label}: distance ({'connects' if path.connected else path.reason})")
        a.semilogy(np.maximum(path.losses, 1e-32), color=color, ls=":", label=f"{label}: loss")
    a.set_xlabel("step")
    a.set_ylabel("distance to the target; loss")
    a.set_title("zero-eigenspace paths (h=3)")
    a.legend(fontsize=6, loc="upper left", bbox_to_anchor=(0.0, -0.18), ncol=1, frameon=False)
    vmax = float(np.quantile(sl_rand.losses, 0.95))
    for axis, sl, title, (u, v) in ((ax[1], sl_rand, "random filter-normalised directions", ("d₁", "d₂")),
                                    (ax[2], sl_flat, "two lowest-eigenvalue directions", ("v₁", "v₂"))):
        heatmap(axis, sl.losses, [-1, 1, -1, 1], xlabel=f"step along {u}", ylabel=f"step along {v}",
                cbar_label="loss", vmin=0, vmax=vmax, cmap="magma")
        axis.set_aspect("equal")
        axis.set_title(title)
    sc = ax[3].scatter(emb.embedding[:, 0], emb.embedding[:, 1], c=np.log10(emb.losses + 1e-16), s=5, cmap="viridis")
    fig.colorbar(sc, ax=ax[3], fraction=0.046, label="log₁₀ loss")
    ax[3].set(xlabel="t-SNE 1", ylabel="t-SNE 2", title="t-SNE of random perturbations (r ≤ 1)")
    save_figure(fig, out, "xor_landscape")
    save_npz(out / "xor_landscape.npz", same_points=same.points, same_losses=same.losses, other_points=other.points,
             other_losses=other.losses, slice_random=sl_rand.losses, slice_flat=sl_flat.losses,
             slice_coords=sl_rand.alphas, tsne=emb.embedding, tsne_losses=emb.losses, eigenvalues=sp.eigenvalues)
    return {"same_connects": same.connected, "same_reason": same.reason, "same_max_loss": float(same.losses.max()),
            "other_connects": other.connected, "other_reason": other.reason,
            "flat_slice_mean_loss": float(sl_flat.losses.mean()), "random_slice_mean_loss": float(sl_rand.losses.mean()),
            "fraction_perturbations_below_1e-4": float(np.mean(emb.losses < 1e-4))}


def main(argv=None) -> int:
    args = figure_args(argv, __doc__, __file__, data_help="folder with the simulation's output")
    torch.set_num_threads(1)
    out = Path(args.out)
    runs, summary = experiment_data(args.quick, out, args.data)
    numbers = rashomon_figure(runs, summary, out)
    numbers.update(landscape_figure(args.quick, out))
    save_json(out / f"{NAME}_numbers.json", numbers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
