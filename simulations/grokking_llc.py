"""LLC and per-component (restricted) LLC over the training of a small transformer on modular addition.

The grokking setting (Power et al. 2022): a one-layer attention model learns a + b mod p from a
fraction of the table with weight decay; test accuracy rises long after training accuracy.  At
log-spaced checkpoints the LLC of the whole network and, restricted to one component at a time
(``restrict=``: embedding, attention, read-out; the rest held at the checkpoint), the LLC of each
part (:func:`slt.nn.llc_trajectory`: a sweep over the checkpoints per component, stored in
``DIR/llc_<component>/`` as each finishes, so an interrupted run resumes).  Writes
``grokking_llc.json``/``.npz`` and ``grokking_llc.png``.

Run: ``python simulations/grokking_llc.py [--quick] [--out DIR] [--workers N]`` (``--workers``
above 1: a Dask LocalCluster of that many processes per component)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from slt.report import Column, table

COMPONENTS = {"all": None, "embedding": "emb.*", "attention": "att.*", "read-out": "out.*"}


def build(p: int, d: int, seed: int):
    import torch
    from torch import nn

    class AttentionAdder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(p, d)
            self.att = nn.MultiheadAttention(d, 4, batch_first=True)
            self.out = nn.Linear(d, p)

        def forward(self, x):
            h = self.emb(x)
            a, _ = self.att(h, h, h)
            return self.out(a[:, -1] + h[:, -1])

    torch.manual_seed(seed)
    return AttentionAdder()


def train(model, data, test, *, epochs: int, checkpoints: list[int], out: Path, seed: int) -> dict:
    """Full-batch AdamW (weight decay 1) with checkpoints saved to ``out``; reloads them when present."""
    import torch
    from torch import nn

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)
    (X, y), (Xt, yt) = data, test
    history = {"epoch": [], "train_acc": [], "test_acc": [], "train_loss": []}
    for epoch in range(epochs + 1):
        if epoch in checkpoints:
            with torch.no_grad():
                model.eval()
                history["epoch"].append(epoch)
                history["train_acc"].append(float((model(X).argmax(1) == y).float().mean()))
                history["test_acc"].append(float((model(Xt).argmax(1) == yt).float().mean()))
                history["train_loss"].append(float(nn.functional.cross_entropy(model(X), y)))
            torch.save(model.state_dict(), out / f"epoch_{epoch:06d}.pt")
        if epoch == epochs:
            break
        model.train()
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return history


def run(quick: bool, out: Path, seed: int = 0, workers: int = 1) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from slt.io import save_json, save_npz
    from slt.nn import llc_trajectory

    torch.set_num_threads(1)
    p, d = (7, 8) if quick else (23, 16)
    epochs = 300 if quick else 4000
    checkpoints = sorted({0, *np.unique(np.geomspace(1, epochs, 5 if quick else 12).astype(int)).tolist()})
    pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    labels = (pairs[:, 0] + pairs[:, 1]) % p
    perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    cut = int(0.5 * len(pairs))
    data, test = (pairs[perm[:cut]], labels[perm[:cut]]), (pairs[perm[cut:]], labels[perm[cut:]])
    model = build(p, d, seed)
    ckpt_dir = out / "checkpoints"
    history = train(model, data, test, epochs=epochs, checkpoints=checkpoints, out=ckpt_dir, seed=seed)
    ckpts = {e: ckpt_dir / f"epoch_{e:06d}.pt" for e in checkpoints}
    kw = dict(loss_fn=nn.functional.cross_entropy, model=build(p, d, seed), seed=seed, gamma=100.0,
              num_draws=100 if quick else 400, num_burnin=500 if quick else 5000, fluctuation_points=0)
    result = {**history, "p": p, "d": d, "gamma": 100.0}
    for name, pattern in COMPONENTS.items():
        traj = llc_trajectory(ckpts, data, out=out / f"llc_{name.replace('-', '_')}", restrict=pattern,
                              workers=workers, **kw)
        result[f"llc_{name}"], result[f"se_{name}"] = traj.llc.tolist(), traj.se.tolist()
    save_json(out / "grokking_llc.json", result)
    save_npz(out / "grokking_llc.npz", **{k: np.asarray(v) for k, v in result.items()})
    figure(result, out)
    return result


def figure(result: dict, out: Path) -> None:
    import numpy as np

    from slt.plotting import COLORS, pyplot, save_figure

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.6), sharex=True)
    epochs = np.maximum(np.asarray(result["epoch"]), 0.5)  # epoch 0 on the log axis
    top.plot(epochs, result["train_acc"], "o-", color=COLORS[0], label="train")
    top.plot(epochs, result["test_acc"], "s-", color=COLORS[1], label="test")
    top.set_ylabel("accuracy")
    top.legend(loc="center left", fontsize=8)
    for i, name in enumerate(COMPONENTS):
        bottom.errorbar(epochs, result[f"llc_{name}"], yerr=2 * np.asarray(result[f"se_{name}"]), fmt="o-",
                        ms=3, color=COLORS[i % len(COLORS)], label=name)
    bottom.set_xscale("log")
    bottom.set_xlabel("training epoch (0 plotted at 0.5)")
    bottom.set_ylabel("λ̂ (± 2 se)")
    bottom.legend(loc="upper left", fontsize=7, ncol=2)
    fig.suptitle(f"a + b mod {result['p']}: LLC of the network and of each component (γ = {result['gamma']:g})",
                 fontsize=9)
    save_figure(fig, out, "grokking_llc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 7-token table, 300 epochs, short chains")
    parser.add_argument("--out", default="simulations/out/grokking_llc", help="output folder (resumable)")
    parser.add_argument("--seed", type=int, default=0, help="data split, initialisation and chains")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes per component's sweep (default 1: in this process, no cluster)")
    args = parser.parse_args(argv)
    result = run(args.quick, Path(args.out), args.seed, args.workers)
    rows = [{"epoch": e, "train": result["train_acc"][i], "test": result["test_acc"][i],
             **{k: result[f"llc_{k}"][i] for k in COMPONENTS}} for i, e in enumerate(result["epoch"])]
    print(table(rows, [Column("epoch"), Column("train", "train acc.", digits=3), Column("test", "test acc.", digits=3),
                       *[Column(k, f"LLC {k}", digits=3) for k in COMPONENTS]], title="LLC per component over training"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
