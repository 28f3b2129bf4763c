"""Per-token susceptibilities and Bayesian influence on a tiny language model with an induction pattern.

The published qualitative result reproduced (Baker, Wang, Hoogland & Murfet 2025, arXiv:2504.18274,
§5: per-token susceptibilities of attention heads separate the tokens an induction pattern predicts
from the rest; "Embryology of a language model", arXiv:2508.00331): a two-layer attention-only
transformer is trained on synthetic sequences whose second half repeats the first (tokens drawn
uniformly from a small vocabulary), so every target in the second half is predicted by an
induction pattern ([A][B] … [A] → [B]) and the first half's targets are not predictable at all.
Then, on held-out sequences:

- χ_xy^C = −Cov_C[φ_C, ℓ_xy − L] per query token and component C (each attention layer, the
  embeddings, the read-out; :func:`slt.nn.susceptibilities`, each C its own restricted run);
- the per-token BIF of every training token on two observables, the mean held-out loss of the
  induction-predicted tokens and of the others (:func:`slt.nn.bif` with a callable query).

The run reports, per component, the mean χ of the induction-predicted tokens and of the rest,
their difference in units of its standard error (between-chain se of the per-chain difference), and
the same for the BIF.  Writes ``influence.json``, ``influence_susceptibilities.nc`` /
``influence_bif.nc`` (xarray, dims chain, sample, token) and ``influence.png``.

Run: ``python simulations/influence.py [--quick] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from slt.report import Column, table

VOCAB, HALF = 6, 5  # tokens, length of the repeated half
COMPONENTS = {"layer 0 attention": "att.0.*", "layer 1 attention": "att.1.*", "embeddings": ["emb.*", "pos"],
              "read-out": "out.*"}


def build(seed: int, d: int = 12, heads: int = 2, layers: int = 2):
    """A causal attention-only transformer: token + position embeddings, residual attention layers
    (positions for whole sequences of 2H tokens, as devinterp feeds them; training uses 2H − 1)."""
    import torch
    from torch import nn

    seq = 2 * HALF

    class AttentionOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(VOCAB, d)
            self.pos = nn.Parameter(0.1 * torch.randn(seq, d))
            self.att = nn.ModuleList([nn.MultiheadAttention(d, heads, batch_first=True) for _ in range(layers)])
            self.out = nn.Linear(d, VOCAB)
            self.register_buffer("mask", torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1))

        def forward(self, x):
            t = x.shape[1]
            h = self.emb(x) + self.pos[:t]
            for a in self.att:
                h = h + a(h, h, h, attn_mask=self.mask[:t, :t], need_weights=False)[0]
            return self.out(h)

    torch.manual_seed(seed)
    return AttentionOnly()


def sequences(n: int, seed: int):
    """(X, Y): n sequences [a_1 … a_H a_1 … a_H], inputs the first 2H − 1 tokens, targets the next."""
    import torch

    g = torch.Generator().manual_seed(seed)
    first = torch.randint(0, VOCAB, (n, HALF), generator=g)
    s = torch.cat([first, first], dim=1)
    return s[:, :-1], s[:, 1:]


def token_ce(outputs, targets):
    """Mean next-token cross-entropy over every token (the mean of the per-token losses)."""
    from torch import nn

    return nn.functional.cross_entropy(outputs.reshape(-1, VOCAB), targets.reshape(-1))


def induction_mask() -> np.ndarray:
    """(seq,) True where the target is predicted by the repeat: target positions t ≥ H − 1."""
    return np.arange(2 * HALF - 1) >= HALF - 1


def train(model, data, steps: int, seed: int, batch: int = 64) -> list[float]:
    """Adam (lr 0.01) on minibatches of ``batch`` sequences; the loss per position afterwards."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X, Y = data
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(0, X.shape[0], (batch,), generator=g)
        opt.zero_grad()
        token_ce(model(X[rows]), Y[rows]).backward()
        opt.step()
    return per_position_loss(model.eval(), data)


def per_position_loss(model, data) -> list[float]:
    import torch

    X, Y = data
    with torch.no_grad():
        out = torch.nn.functional.cross_entropy(model(X).reshape(-1, VOCAB), Y.reshape(-1), reduction="none")
    return out.reshape(Y.shape).mean(0).tolist()


def separation(per_chain: np.ndarray, mask: np.ndarray) -> dict:
    """Mean over induction-predicted tokens minus mean over the rest, per chain → mean, se, z.

    ``per_chain``: (chains, sample, token); ``mask`` (token,)."""
    diff = per_chain[:, :, mask].mean(axis=(1, 2)) - per_chain[:, :, ~mask].mean(axis=(1, 2))
    mean, se = float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))
    return {"induction": float(per_chain[:, :, mask].mean()), "other": float(per_chain[:, :, ~mask].mean()),
            "difference": mean, "se": se, "z": mean / se if se > 0 else math.inf}


def run(quick: bool, out: Path, seed: int = 0) -> dict:
    import torch

    import slt.nn
    from slt.io import save_json

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    n, n_query, steps = (128, 8, 300) if quick else (512, 16, 1500)
    data, query = sequences(n, seed), sequences(n_query, seed + 1)
    model = build(seed)
    train_loss = train(model, data, steps, seed)
    query_loss = per_position_loss(model, query)
    mask = induction_mask()
    sampling = dict(loss_fn=token_ce, nbeta=100.0, gamma=100.0, seed=seed, batch_size=64,
                    num_chains=4 if quick else 8, num_draws=150 if quick else 200, num_burnin=400 if quick else 800,
                    fluctuation_points=0, progress=False)
    chi = slt.nn.susceptibilities(model, data, query=query, components=COMPONENTS, per="token", **sampling)
    Xq, Yq = query
    ind = torch.as_tensor(mask)

    def query_losses(module):  # the held-out loss of the induction-predicted tokens, and of the rest
        tok = torch.nn.functional.cross_entropy(module(Xq).reshape(-1, VOCAB), Yq.reshape(-1), reduction="none")
        tok = tok.reshape(Yq.shape)
        return torch.stack([tok[:, ind].mean(), tok[:, ~ind].mean()])

    influence = slt.nn.bif(model, data, query=query_losses, per="token", **sampling)
    chi.to_netcdf(out / "influence_susceptibilities.nc")
    influence.to_netcdf(out / "influence_bif.nc")
    seq = 2 * HALF - 1
    chains = chi.per_chain.reshape(chi.num_chains, n_query, seq, len(COMPONENTS))
    result = {
        "config": {"vocab": VOCAB, "half": HALF, "n": n, "n_query": n_query, "train_steps": steps, "quick": quick,
                   **{k: v for k, v in sampling.items() if k not in ("loss_fn", "progress")},
                   "parameters": int(sum(p.numel() for p in model.parameters()))},
        "train_loss_per_position": train_loss, "query_loss_per_position": query_loss,
        "induction_mask": mask.tolist(), "components": list(COMPONENTS),
        "chi": chi.values.reshape(n_query, seq, -1).tolist(), "chi_se": chi.se.reshape(n_query, seq, -1).tolist(),
        "separation": {c: separation(chains[..., i], mask) for i, c in enumerate(COMPONENTS)},
        "bif": influence.values.reshape(n, seq, 2).tolist(), "bif_se": influence.se.reshape(n, seq, 2).tolist(),
        "bif_separation": {name: separation(influence.per_chain.reshape(-1, n, seq, 2)[..., j], mask)
                           for j, name in enumerate(("induction query loss", "other query loss"))},
        "rhat": {c: r.rhat for c, r in zip(COMPONENTS, chi.runs)} | {"bif": influence.runs[0].rhat},
        "llc": {c: r.mean for c, r in zip(COMPONENTS, chi.runs)},
        "seconds": time.perf_counter() - started,
    }
    save_json(out / "influence.json", result)
    return result


def summary_table(result: dict) -> str:
    rows = [{"component": c, **s} for c, s in result["separation"].items()]
    rows += [{"component": f"BIF on {c}", **s} for c, s in result["bif_separation"].items()]
    return table(rows, [Column("component"), Column("induction", "mean (induction)", digits=3),
                        Column("other", "mean (other)", digits=3), Column("difference", digits=3),
                        Column("se", digits=2), Column("z", digits=1)],
                 title="per-token susceptibilities χ and BIF: induction-predicted tokens against the rest")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 sequences, 300 training steps, short chains")
    parser.add_argument("--out", default="simulations/out/influence", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="data, initialisation and chains")
    parser.add_argument("--no-figure", action="store_true", help="write the data only")
    args = parser.parse_args(argv)
    result = run(args.quick, Path(args.out), args.seed)
    print(summary_table(result))
    print(f"R-hat of the loss traces: {', '.join(f'{k} {v:.3f}' for k, v in result['rhat'].items())}; "
          f"{result['seconds']:.0f} s")
    if not args.no_figure:
        from slt.figures import figures_dir, load

        load(figures_dir() / "fig_influence.py").plot(result, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
