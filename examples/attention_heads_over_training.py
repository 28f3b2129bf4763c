"""Restricted LLCs of each attention head over training checkpoints (a few minutes on one core).

    python examples/attention_heads_over_training.py [--quick] [--out DIR]

A one-layer attention model (embedding, `nn.MultiheadAttention` with two heads, read-out) learns
a + b mod p.  Checkpoints are kept during training; at each, `slt.nn.llc_trajectory` estimates
the LLC restricted to one head: its rows of the query, key and value projections and its
columns of the output projection, every other weight held at the checkpoint (`restrict=` takes
a callable returning a mask per parameter).  Each head's trajectory is a resumable sweep under
`DIR` (rerunning skips finished checkpoints).  A restricted LLC counts the directions of that
head the data pins down, so it lies between 0 and half the head's coordinate count.
"""
import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import slt.nn
from slt.report import Column, table

HEADS = 2


class AttentionAdder(nn.Module):
    def __init__(self, p: int, d: int):
        super().__init__()
        self.emb = nn.Embedding(p, d)
        self.att = nn.MultiheadAttention(d, HEADS, batch_first=True)
        self.out = nn.Linear(d, p)

    def forward(self, x):
        h = self.emb(x)
        a, _ = self.att(h, h, h)
        return self.out(a[:, -1] + h[:, -1])


@dataclass(frozen=True)
class Head:
    """``restrict=`` mask of head ``index``: its q, k, v rows of ``att.in_proj_*`` and its columns
    of ``att.out_proj.weight`` (nn.MultiheadAttention stacks q, k, v; head h owns rows h·dh … (h+1)·dh)."""

    index: int
    d: int

    def __call__(self, name: str, param: torch.Tensor) -> torch.Tensor:
        dh = self.d // HEADS
        own = slice(self.index * dh, (self.index + 1) * dh)
        mask = torch.zeros(param.shape, dtype=torch.bool)
        if name in ("att.in_proj_weight", "att.in_proj_bias"):
            for block in range(3):  # q, k, v
                mask[block * self.d:(block + 1) * self.d][own] = True
        elif name == "att.out_proj.weight":
            mask[:, own] = True
        return mask


def train(p: int, d: int, epochs: int, keep: list[int]) -> tuple[dict[int, dict], dict[int, float], tuple]:
    """Full-batch AdamW on half of the p² sums; the state dicts and train accuracies at ``keep``."""
    pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    labels = (pairs[:, 0] + pairs[:, 1]) % p
    part = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(0))[: len(pairs) // 2]
    X, y = pairs[part], labels[part]
    torch.manual_seed(0)
    model = AttentionAdder(p, d)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)
    states, accuracy = {}, {}
    for epoch in range(epochs + 1):
        if epoch in keep:
            with torch.no_grad():
                states[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
                accuracy[epoch] = float((model(X).argmax(1) == y).float().mean())
        loss = nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return states, accuracy, (X, y)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller table, fewer epochs and draws (seconds)")
    ap.add_argument("--out", default=None, help="folder of the per-head sweeps (default: a temporary one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    p, d, epochs = (5, 8, 150) if args.quick else (11, 16, 1500)
    keep = [0, epochs // 10, epochs // 3, epochs]
    states, accuracy, data = train(p, d, epochs, keep)
    settings = dict(gamma=100.0, num_draws=60 if args.quick else 400, num_burnin=200 if args.quick else 2000,
                    fluctuation_points=0, seed=0, progress=False)
    out = Path(args.out or tempfile.mkdtemp(prefix="slt-heads-"))
    llc, se = {}, {}
    for h in range(HEADS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short runs warn; the table shows the se
            traj = slt.nn.llc_trajectory(states, data, loss_fn=nn.functional.cross_entropy, model=AttentionAdder(p, d),
                                         restrict=Head(h, d), out=out / f"head_{h}", **settings)
        llc[h], se[h] = traj.llc, traj.se
    size = int(sum(int(Head(0, d)(n, w).sum()) for n, w in AttentionAdder(p, d).named_parameters()))
    rows = [{"epoch": e, "acc": accuracy[e], **{f"llc{h}": llc[h][i] for h in range(HEADS)},
             **{f"se{h}": se[h][i] for h in range(HEADS)}} for i, e in enumerate(keep)]
    print(table(rows, [Column("epoch"), Column("acc", "train accuracy", digits=3),
                       *[Column(f"llc{h}", f"LLC head {h}", se=f"se{h}") for h in range(HEADS)]],
                title=f"a + b mod {p}, d = {d}, {HEADS} heads of {size} coordinates each ({time.time() - t0:.0f} s)"))
    print(f"sweeps stored in {out}")
    values = np.array([llc[h] for h in range(HEADS)])
    errors = np.array([se[h] for h in range(HEADS)])
    inside = bool(np.all(values - 3 * errors < size / 2) and np.all(values + 3 * errors > 0))
    print(f"claim: every head's restricted LLC lies between 0 and half its {size} coordinates (within 3 se): "
          f"{'yes' if inside else 'NO'}")
    print(f"claim: training reached full train accuracy: {'yes' if accuracy[epochs] == 1.0 else 'NO'} "
          f"({accuracy[epochs]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
