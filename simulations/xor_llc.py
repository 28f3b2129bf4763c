"""Train a 2-h-1 MLP on XOR, checkpoint along training and estimate the LLC at each checkpoint.

Run: ``python simulations/xor_llc.py [--quick] [--out DIR]``; writes ``xor_llc.npz``/``.json``
(resumable: each checkpoint's λ̂ is stored in the sweep ``DIR/xor/llc_sweep`` as it finishes).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from slt.report import Column, table


def run(quick: bool, out: Path, hidden: int = 2, seed: int = 0) -> dict:
    import numpy as np
    import torch

    from slt.io import save_json, save_npz
    from slt.nn.data import xor_data
    from slt.nn.trajectory import llc_along_training
    from slt.nn.models import xor_mlp

    torch.set_num_threads(1)
    epochs = 200 if quick else 2000
    ckpt_epochs = np.unique(np.geomspace(1, epochs, 6 if quick else 15).astype(int)).tolist()
    model = xor_mlp(hidden, seed=seed)
    traj, history = llc_along_training(
        model, xor_data(), loss_fn=torch.nn.functional.mse_loss, lr=0.02, epochs=epochs,
        checkpoint_epochs=[0] + ckpt_epochs, out=out / "xor", seed=seed,
        nbeta=100.0, gamma=100.0, num_chains=4, num_draws=200 if quick else 2000,
        num_burnin=100 if quick else 1000, sampler="sgld", step_size="curvature", thin=1, richardson=False,
    )
    data = {"epochs": np.array(traj.keys), "llc": traj.llc, "se": traj.se, "loss": traj.init_loss,
            "train_loss": history, "hidden": hidden, "nbeta": 100.0, "gamma": 100.0}
    save_npz(out / "xor_llc.npz", **data)
    save_json(out / "xor_llc.json", data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="simulations/out/xor_llc")
    parser.add_argument("--hidden", type=int, default=2)
    args = parser.parse_args(argv)
    data = run(args.quick, Path(args.out), args.hidden)
    rows = [{"epoch": e, "llc": l, "se": s} for e, l, s in zip(data["epochs"], data["llc"], data["se"])]
    print(table(rows, [Column("epoch"), Column("llc", "LLC", se="se")], title="LLC over training"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
