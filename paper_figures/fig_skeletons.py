"""Skeletons on the Rashomon ridge (seed post 004): L1 fine-tuning, pruning, OOD similarity.

Figure ``skeletons``: (a) the models × models mean cosine similarity of softmax vectors on the
out-of-distribution set, in the post's layout (per pruning threshold a block: start 1's base
model and L1 fine-tunes, start 2's, the models trained from scratch with L1); (b) test-accuracy
retention against the threshold; (c) OOD similarity within a start and between the starts
against the threshold (the post's question: do the skeletons of the two starts converge?);
(d) Jaccard overlap of the surviving weights of the two starts, raw and after aligning hidden
units, against independent random masks; (e) loss barrier on the straight path between the
two starts' skeletons, raw and aligned, and (dashed) on the low-loss Rashomon path between them
(:func:`slt.nn.skeleton.path_barrier`, raw and aligned on weights); (f) the LLC of each skeleton (restricted to its
surviving weights) against the threshold, threshold 0 being the original, with the plain LLC
of the original and the near-zero Hessian counts (free block) beside the points.

The data come from ``simulations/skeletons.py`` (its output folder is read when it exists;
otherwise the experiment runs, in quick mode with ``--quick``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from slt.io import load_json, save_json
from slt.figures import figure_args, load_simulation
from slt.plotting import COLORS, pyplot, save_figure

QUICK = True
NAME = "skeletons"
ROOT = Path(__file__).resolve().parent.parent
LEGEND = dict(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=6, frameon=False)


def _simulation():
    return load_simulation("skeletons")


def experiment_data(quick: bool, out: Path, data_dir: str | None) -> tuple[dict, dict]:
    """(summary json, arrays) of the skeleton experiment, running the simulation if needed."""
    folder = Path(data_dir) if data_dir else (out / f"{NAME}_quick_runs" if quick else ROOT / "simulations" / "out" / NAME)
    if not (folder / f"{NAME}.json").exists():
        _simulation().main((["--quick"] if quick else []) + ["--out", str(folder), "--no-progress"])
    with np.load(folder / f"{NAME}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return load_json(folder / f"{NAME}.json"), arrays


def _codes(keys: list[str]) -> list[str]:
    """Short tick labels: "1·a" start 1, recipe a; "1·0" its base model; "S·1" from scratch."""
    ticks = []
    for k in keys:
        model = k.split("|")[0]
        if model.startswith("scratch"):
            ticks.append(f"S·{int(model[7:]) + 1}")
        else:
            start, rec = model.split("-")
            ticks.append(f"{int(start[1]) + 1}·{'0' if rec == 'base' else chr(ord('a') + int(rec[1:]))}")
    return ticks


def similarity_panel(ax, fig, data: dict, S: np.ndarray) -> None:
    keys, cfg = data["keys"], data["config"]
    ticks = _codes(keys)
    im = ax.imshow(S, cmap="magma", vmin=min(0.5, float(S.min())), vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, label="mean cosine similarity of softmax vectors")
    block = len(keys) // len(cfg["thresholds"])
    for b in range(1, len(cfg["thresholds"])):
        ax.axhline(b * block - 0.5, color="w", lw=0.8)
        ax.axvline(b * block - 0.5, color="w", lw=0.8)
    size = min(7.0, 250 / len(keys))
    ax.set_xticks(range(len(keys)), ticks, rotation=90, fontsize=size)
    ax.set_yticks(range(len(keys)), ticks, fontsize=size)
    top = ax.secondary_xaxis("top")
    top.set_xticks([(b + 0.5) * block - 0.5 for b in range(len(cfg["thresholds"]))],
                   ["unpruned" if t == 0 else f"|w| < {t:g} pruned" for t in cfg["thresholds"]], fontsize=6)
    recipes = "; ".join(f"{chr(ord('a') + i)}: L1 {a:g}×{e}ep" for i, (a, e) in enumerate(cfg["recipes"]))
    scratch = "; ".join(f"S·{i + 1}: L1 {a:g}×{e}ep from init" for i, (a, e) in enumerate(cfg["scratch"]))
    ax.set_xlabel(f"model (start·recipe)   0: trained, no L1; {recipes}; {scratch}", fontsize=5)
    ax.set_ylabel("model (start·recipe)")
    ax.set_title(f"(a) similarity on the OOD set ({data['ood'][0]})")


def line_panels(ax_b, ax_c, data: dict, arrays: dict) -> None:
    cfg, keys = data["config"], data["keys"]
    thr = np.array(cfg["thresholds"])
    block = len(keys) // thr.size
    ratio = np.array([m["accuracy_ratio"] for m in data["models"]]).reshape(thr.size, block)
    ticks = _codes(keys[:block])
    for j in range(block):
        color = COLORS[0] if ticks[j].startswith("1") else COLORS[1] if ticks[j].startswith("2") else COLORS[2]
        ax_b.plot(thr, ratio[:, j], "o-", color=color, alpha=0.7, ms=3,
                  label={"1·0": "start 1", "2·0": "start 2", "S·1": "from scratch"}.get(ticks[j]))
    ax_b.set_xlabel("pruning threshold on |w|")
    ax_b.set_ylabel("test accuracy / unpruned test accuracy")
    ax_b.set_title("(b) accuracy retention")
    ax_b.legend(**LEGEND)
    summ = data["summary"]
    for key, label, color, ls in (("ood_similarity_within_start", "OOD, within a start", COLORS[0], "-"),
                                  ("ood_similarity_between_starts", "OOD, between starts", COLORS[1], "-")):
        ax_c.plot(thr, [summ[f"{t:g}"][key] for t in thr], marker="o", color=color, ls=ls, label=label)
    starts = np.array([k[:2] for k in keys])
    logits = arrays.get(f"similarity_{data['ood'][0]}_logits")
    for name, M, marker, color in (("in distribution (softmax)", arrays["similarity_in_distribution"], "s", COLORS[2]),
                                   ("OOD logits (no softmax)", logits, "^", COLORS[3])):
        if M is None:
            continue
        between = []
        for t_i in range(thr.size):
            idx = np.arange(t_i * block, (t_i + 1) * block)
            idx = idx[np.isin(starts[idx], ["s0", "s1"])]
            between.append(M[np.ix_(idx, idx)][starts[idx][:, None] != starts[idx][None, :]].mean())
        ax_c.plot(thr, between, marker=marker, color=color, mfc="none", ls=":", label=f"{name}, between starts")
    ax_c.set_xlabel("pruning threshold on |w|")
    ax_c.set_ylabel("mean cosine similarity")
    ax_c.set_title("(c) do the two starts converge?")
    ax_c.legend(**LEGEND)


def pair_panels(ax_d, ax_e, data: dict) -> None:
    thr = np.array(data["config"]["thresholds"])
    pairs = data["pairs"]

    def mean(key):
        return [np.mean([p.get(key, np.nan) for p in pairs if p["threshold"] == t]) for t in thr]

    for key, label, color in (("jaccard_raw", "unaligned", COLORS[1]), ("jaccard_weights", "aligned on weights", COLORS[0]),
                              ("jaccard_activations", "aligned on activations", COLORS[2]),
                              ("jaccard_random", "random masks, same densities", "k")):
        ax_d.plot(thr, mean(key), "o-" if key != "jaccard_random" else ":", color=color, label=label)
    ax_d.set_xlabel("pruning threshold on |w|")
    ax_d.set_ylabel("Jaccard overlap of surviving weights")
    ax_d.set_title("(d) start 1 vs start 2, same recipe (mean)")
    ax_d.legend(**LEGEND)
    for key, label, color in (("barrier_raw", "unaligned", COLORS[1]), ("barrier_weights", "aligned on weights", COLORS[0]),
                              ("barrier_activations", "aligned on activations", COLORS[2])):
        ax_e.plot(thr, mean(key), "o-", color=color, label=label)
    if all("path_barrier_raw" in p for p in pairs):  # outputs written before the path was measured lack it
        for key, label, color in (("path_barrier_raw", "low-loss path, unaligned", COLORS[1]),
                                  ("path_barrier_weights", "low-loss path, aligned on weights", COLORS[0])):
            ax_e.plot(thr, mean(key), "s--", color=color, mfc="none", label=label)
    ax_e.set_xlabel("pruning threshold on |w|")
    ax_e.set_ylabel("max over path of L − linear interpolation")
    ax_e.set_title("(e) train-loss barrier: straight and low-loss paths")
    ax_e.legend(**LEGEND)


def llc_panel(ax, data: dict) -> None:
    llcs = data["llc"]
    models = sorted({r["model"] for r in llcs})
    for kind, model in sorted({(r.get("kind", "llc"), r["model"]) for r in llcs}):
        rs = sorted((r for r in llcs if r["model"] == model and r.get("kind", "llc") == kind), key=lambda r: r["threshold"])
        t = np.array([r["threshold"] for r in rs])
        color = COLORS[models.index(model) % len(COLORS)]
        what = "skeleton retrained without L1" if kind == "retrained" else "skeleton (restricted LLC)"
        ax.errorbar(t, [r["llc_mean"] for r in rs], yerr=[2 * r["llc_se"] for r in rs], fmt="o", capsize=2, ms=3,
                    color=color, ls="--" if kind == "retrained" else "-", mfc="none" if kind == "retrained" else color,
                    label=f"{model}: {what}")
        if kind == "retrained":
            continue
        full = [r for r in rs if r["llc_full_mean"] is not None]
        if full:
            ax.errorbar([-0.002], [full[0]["llc_full_mean"]], yerr=[2 * full[0]["llc_full_se"]], fmt="s",
                        color=color, mfc="none", capsize=2, label=f"{model}: original, all weights")
        for r in rs:
            if "near_zero_free" in r:
                ax.annotate(f"{r['near_zero_free']}/{r['free']}", (r["threshold"], r["llc_mean"]), fontsize=5,
                            xytext=(3, 3), textcoords="offset points", color=color)
    ax.set_xlabel("pruning threshold on |w| (0: unpruned)")
    ax.set_ylabel("LLC estimate (±2 se)")
    ax.set_title("(f) LLC of skeleton vs original\nlabels: near-zero eigenvalues / free weights")
    ax.legend(**{**LEGEND, "ncol": 1})


def density_panel(ax, data: dict) -> None:
    thr = np.array(data["config"]["thresholds"])
    keys = data["keys"]
    block = len(keys) // thr.size
    dens = np.array([m["density"] for m in data["models"]]).reshape(thr.size, block)
    ticks = _codes(keys[:block])
    for j in range(block):
        color = COLORS[0] if ticks[j].startswith("1") else COLORS[1] if ticks[j].startswith("2") else COLORS[2]
        ax.plot(thr, dens[:, j], marker="o", color=color, ms=3, alpha=0.7, ls="--" if ticks[j].endswith("0") else "-",
                label={"1·0": "start 1, no L1", "1·a": "start 1, L1", "2·0": "start 2, no L1", "2·a": "start 2, L1",
                       "S·1": "from scratch, L1"}.get(ticks[j]))
    ax.set_xlabel("pruning threshold on |w|")
    ax.set_ylabel("fraction of weights surviving")
    ax.set_title("(g) skeleton size")
    ax.legend(**LEGEND)


def main(argv=None) -> int:
    args = figure_args(argv, __doc__, __file__, data_help="folder with the simulation's output")
    out = Path(args.out)
    data, arrays = experiment_data(args.quick, out, args.data)
    plt = pyplot()
    fig = plt.figure(figsize=(19, 9.5))
    grid = fig.add_gridspec(2, 5, width_ratios=[1.25, 1.25, 1, 1, 1])
    similarity_panel(fig.add_subplot(grid[:, :2]), fig, data, arrays[f"similarity_{data['ood'][0]}"])
    line_panels(fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[0, 3]), data, arrays)
    pair_panels(fig.add_subplot(grid[1, 2]), fig.add_subplot(grid[1, 3]), data)
    llc_panel(fig.add_subplot(grid[0, 4]), data)
    density_panel(fig.add_subplot(grid[1, 4]), data)
    save_figure(fig, out, NAME)
    save_json(out / f"{NAME}_numbers.json", data["summary"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
