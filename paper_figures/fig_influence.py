"""Per-token susceptibilities and Bayesian influence on a tiny language model with an induction pattern.

Figure ``influence``: (a) the trained model's loss per target position on the training and the
held-out sequences (the second half is predicted by the repeat); (b) the susceptibility χ of each
component (attention layers, embeddings, read-out) to each held-out token, the induction-predicted
tokens against the rest, with the difference of their means in se; (c) the per-token BIF of every
training token on the held-out loss of the induction-predicted tokens against its BIF on the
held-out loss of the other tokens.

The data come from ``simulations/influence.py`` (its output folder is read when it exists;
otherwise the experiment is run there, small with ``--quick``); the figure regenerates from
``influence.json`` alone.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from slt.figures import load_simulation
from slt.io import load_json
from slt.plotting import COLORS, pyplot, save_figure

QUICK = False  # training the model and sampling five runs takes minutes even small on two cores
NAME = "influence"
ROOT = Path(__file__).resolve().parent.parent


def experiment_data(quick: bool, out: Path, data_dir: str | None) -> dict:
    """The simulation's result, running it first when its folder has none."""
    folder = Path(data_dir) if data_dir else (out / f"{NAME}_quick_run" if quick else ROOT / "simulations" / "out" / NAME)
    if not (folder / f"{NAME}.json").exists():
        load_simulation(NAME).main((["--quick"] if quick else []) + ["--out", str(folder), "--no-figure"])
    return load_json(folder / f"{NAME}.json")


def plot(result: dict, out: Path) -> list[Path]:
    plt = pyplot()
    mask = np.asarray(result["induction_mask"], dtype=bool)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1, 1.4, 1]})
    a = ax[0]
    pos = np.arange(mask.size)
    a.plot(pos, result["train_loss_per_position"], "o-", color=COLORS[0], label="training sequences")
    a.plot(pos, result["query_loss_per_position"], "s--", color=COLORS[1], label="held-out sequences")
    a.axhline(np.log(result["config"]["vocab"]), color="0.5", lw=0.8, ls=":", label="log V (chance)")
    a.axvspan(mask.argmax() - 0.5, mask.size - 0.5, color="0.92", zorder=0)
    a.set_xlabel("target position t (shaded: predicted by the repeat)")
    a.set_ylabel("cross-entropy")
    a.set_title("(a) the trained model", fontsize=9)
    a.legend(fontsize=7, loc="center left")
    b = ax[1]
    chi = np.asarray(result["chi"])  # (query, token, component)
    comps = result["components"]
    rng = np.random.default_rng(0)
    for i, c in enumerate(comps):
        for group, sel, color in (("induction", mask, COLORS[1]), ("other", ~mask, COLORS[0])):
            v = chi[:, sel, i].ravel()
            off = -0.18 if group == "induction" else 0.18
            b.scatter(i + off + 0.08 * rng.standard_normal(v.size), v, s=6, alpha=0.5, color=color,
                      label=f"{group} tokens" if i == 0 else None)
        s = result["separation"][c]
        b.annotate(f"Δ = {s['difference']:+.2g}\n({s['z']:+.0f} se)", (i, 1.0), xycoords=("data", "axes fraction"),
                   ha="center", va="top", fontsize=7)
    b.axhline(0, color="0.5", lw=0.8)
    b.set_xticks(range(len(comps)), comps, fontsize=8)
    b.set_ylabel("χ per held-out token")
    b.set_title(r"(b) susceptibilities $\chi = -\mathrm{Cov}_C[\phi_C, \ell_{xy} - L]$", fontsize=9)
    top = np.abs(chi).max()
    b.set_ylim(-1.1 * top, 1.45 * top)  # room above the data for the annotations
    b.legend(fontsize=7, loc="lower left")
    c = ax[2]
    bif = np.asarray(result["bif"])  # (sample, token, 2)
    for group, sel, color in (("induction", mask, COLORS[1]), ("other", ~mask, COLORS[0])):
        c.scatter(bif[:, sel, 0].ravel(), bif[:, sel, 1].ravel(), s=5, alpha=0.4, color=color,
                  label=f"{group} training tokens")
    c.axhline(0, color="0.5", lw=0.8)
    c.axvline(0, color="0.5", lw=0.8)
    c.set_xlabel("BIF on the held-out loss of induction tokens")
    c.set_ylabel("BIF on the held-out loss of other tokens")
    c.set_title(r"(c) per-token Bayesian influence $-\mathrm{Cov}(\ell_i, \phi)$", fontsize=9)
    c.legend(fontsize=7, loc="best")
    cfg = result["config"]
    fig.suptitle(f"attention-only transformer ({cfg['parameters']} weights), repeated sequences of {cfg['vocab']} "
                 f"tokens; nβ = {cfg['nbeta']:g}, γ = {cfg['gamma']:g}, {cfg['num_chains']} chains × "
                 f"{cfg['num_draws']} draws", fontsize=9)
    return save_figure(fig, out, NAME)


def check(result: dict) -> list[str]:
    """What must hold for the figure to show what it claims: finite values and R-hat."""
    problems = []
    if not np.all(np.isfinite(np.asarray(result["chi"]))):
        problems.append("non-finite susceptibilities")
    bad = {k: v for k, v in result["rhat"].items() if not v < 1.2}
    if bad:
        problems.append(f"R-hat above 1.2: {bad}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the simulation's quick run")
    parser.add_argument("--out", default=str(ROOT / "paper_figures" / "out"), help="output folder")
    parser.add_argument("--data", default=None, help="folder with influence.json (default: the simulation's)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    result = experiment_data(args.quick, out, args.data)
    paths = plot(result, out)
    problems = check(result)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    for p in problems:
        print(f"check failed: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
