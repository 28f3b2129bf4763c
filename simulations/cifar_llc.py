"""LLC along training of a small CNN on CIFAR-10 (local copy) or scikit-learn's digits.

CIFAR-10 is read from the official python batches in ``--data-dir`` (or ``$SLT_DATA``); it is
never downloaded. Without a directory the run uses ``load_digits``; ``--fake`` writes random
batches in the official format first (to exercise the pipeline end to end).

Run: ``python simulations/cifar_llc.py [--quick] [--out DIR] [--data-dir DIR | --fake | --digits]``
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from slt.report import Column, table


def run(quick: bool, out: Path, source: str, data_dir: str | None = None, seed: int = 0, device=None) -> dict:
    import numpy as np
    import torch

    from slt.io import save_json, save_npz
    from slt.nn import data as D
    from slt.nn.trajectory import llc_along_training
    from slt.nn.models import small_cnn

    torch.set_num_threads(1)
    if source == "fake":
        data_dir = str(out / "fake_cifar10")
        D.write_fake_cifar10(data_dir, per_batch=40 if quick else 200, seed=seed)
    if source in ("cifar", "fake"):
        X, y = D.load_cifar10(data_dir, limit=200 if quick else None)
        model = small_cnn(3, 10, width=4 if quick else 16, seed=seed)
    else:
        X, y = D.load_digits()
        if quick:
            X, y = X[:600], y[:600]
        model = small_cnn(1, 10, width=4 if quick else 8, image_size=8, seed=seed)
    epochs = 6 if quick else 60
    ckpt = sorted({0, 1, 2, epochs // 2, epochs} if quick else set(np.geomspace(1, epochs, 8).astype(int)) | {0})
    traj, history = llc_along_training(
        model, (X, y), loss_fn=torch.nn.functional.cross_entropy, lr=1e-2 if quick else 3e-3, epochs=epochs,
        checkpoint_epochs=ckpt, out=out / source, seed=seed, train_kwargs={"batch_size": 64},
        gamma=100.0, num_chains=4, num_draws=40 if quick else 1000, num_burnin=20 if quick else 500,
        batch_size=32 if quick else 256, device=device,
    )
    result = {"epochs": np.array(traj.keys), "llc": traj.llc, "se": traj.se, "loss": traj.init_loss,
              "train_loss": history, "source": source, "n": int(X.shape[0]),
              "params": sum(p.numel() for p in model.parameters())}
    save_npz(out / f"{source}_llc.npz", **{k: v for k, v in result.items() if k != "source"})
    save_json(out / f"{source}_llc.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="simulations/out/cifar_llc")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--data-dir", default=None, help="CIFAR-10 python batches (default $SLT_DATA)")
    g.add_argument("--fake", action="store_true", help="generate random batches in the CIFAR-10 format")
    g.add_argument("--digits", action="store_true", help="use scikit-learn's digits")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or os.environ.get("SLT_DATA")
    source = "fake" if args.fake else "digits" if args.digits or not data_dir else "cifar"
    if source == "digits" and not args.digits:
        print("no CIFAR-10 directory (--data-dir / SLT_DATA): using scikit-learn's digits")
    res = run(args.quick, Path(args.out), source, data_dir, device=args.device)
    rows = [{"epoch": e, "llc": l, "se": s} for e, l, s in zip(res["epochs"], res["llc"], res["se"])]
    print(table(rows, [Column("epoch"), Column("llc", "LLC", se="se")], title="LLC over training"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
