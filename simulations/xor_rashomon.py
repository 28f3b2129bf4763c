"""Rashomon dimension of XOR networks (seed post 000): train 2-h-1 tanh networks from many
initialisations, and at every minimum record the full float64 Hessian spectrum, the number
of near-zero eigenvalues (rule of :func:`slt.nn.hessian.near_zero_count`), its sensitivity
curve, the log basin volume and an LLC estimate next to the bounds rank(H)/2 ≤ λ ≤ d/2.

    python simulations/xor_rashomon.py [--quick] [--out DIR] [--runs N] [--workers N] [--scheduler ADDRESS]

The runs are a sweep (:mod:`slt.sweeps`, task ``xor_rashomon``) over width × run number, each
run's initialisation seeded from its cell: stored in ``DIR/xor_rashomon_sweep`` as each run
finishes (resumable: rerun the same command after an interruption), exported to
``DIR/xor_rashomon_runs.jsonl`` and summarised in ``DIR/xor_rashomon.json`` / ``.npz``.  Runs go
to a Dask LocalCluster (one process per core) by default, to an existing cluster with
``--scheduler``; ``--quick`` runs in this process unless ``--workers``/``--scheduler`` is given.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from slt import sweeps
from slt.io import ResumableLog, save_json, save_npz
from slt.nn.hessian import DEFAULT_RTOL
from slt.report import Column, table
from slt.io import atomic_write
from slt.sweeps.store import jsonable
from slt.sweeps.tasks import XOR_LLC as LLC, XOR_RTOLS as RTOLS, XOR_SOLVED as SOLVED

NAME = "xor_rashomon"
CONFIG = {
    "full": {"widths": list(range(2, 9)), "runs": 150, "epochs": 2000, "lr": 0.05, "llc_draws": 500},
    "quick": {"widths": [2, 3, 4], "runs": 2, "epochs": 800, "lr": 0.05, "llc_draws": 100},
}
FIELDS = ("hidden", "run", "seed", "dim", "loss", "solved", "eigenvalues", "near_zero", "threshold", "num_negative",
          "log_volume", "count_curve", "llc_lower", "llc_upper", "llc_mean", "llc_se")


def load_runs(out: Path) -> list[dict]:
    """All finished runs in ``out`` (one dict per run, from the sweep's store), by width and run."""
    store = sweeps.Store(Path(out) / f"{NAME}_sweep")
    if not store.manifest_path.exists():  # a folder written before the sweep: its JSON lines
        return list({r["key"]: r for r in ResumableLog(Path(out) / f"{NAME}_runs.jsonl").records()}.values())
    runs = [{k: r[k] for k in FIELDS} for r in store.records() if r["status"] == "ok"]
    for r in runs:
        r["key"] = f"{r['hidden']}-{r['run']}"
    return sorted(runs, key=lambda r: (r["hidden"], r["run"]))


def _export_jsonl(path: Path, runs: list[dict]) -> None:
    """Every run as one JSON line (rewritten atomically, for tools that read JSON lines)."""
    text = "".join(json.dumps(jsonable(r)) + "\n" for r in runs)
    atomic_write(path, text.encode())


def summarise(runs: list[dict]) -> dict:
    """Per width: histogram of near-zero counts over solved runs, solved fraction, LLC and
    log-volume summaries, the median sensitivity curve."""
    out = {}
    for h in sorted({r["hidden"] for r in runs}):
        rs = [r for r in runs if r["hidden"] == h]
        ok = [r for r in rs if r["solved"]]
        counts = np.array([r["near_zero"] for r in ok], dtype=int)
        llc = np.array([r["llc_mean"] for r in ok if r["llc_mean"] is not None], dtype=float)
        d = rs[0]["dim"]
        out[str(h)] = {
            "dim": d, "runs": len(rs), "solved": len(ok),
            "count_values": np.arange(d + 1), "count_hist": np.bincount(counts, minlength=d + 1),
            "mode_count": int(np.bincount(counts).argmax()) if counts.size else None,
            "max_count": int(counts.max()) if counts.size else None,
            "llc_mean_over_runs": float(llc.mean()) if llc.size else None,
            "llc_sd_over_runs": float(llc.std(ddof=1)) if llc.size > 1 else None,
            "log_volume_median": float(np.median([r["log_volume"] for r in ok])) if ok else None,
            "median_count_curve": np.median([r["count_curve"] for r in ok], axis=0) if ok else None,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few runs for three widths (seconds)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / NAME))
    ap.add_argument("--runs", type=int, default=None, help="runs per width (default 150; quick 2)")
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster processes (default: cores)")
    ap.add_argument("--scheduler", default=None, help="a Dask scheduler address, or 'synchronous'")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = dict(CONFIG["quick" if args.quick else "full"])
    if args.runs is not None:
        if args.runs < 1:
            raise ValueError(f"--runs={args.runs}; must be >= 1")
        cfg["runs"] = args.runs
    out = Path(args.out)
    scheduler = args.scheduler
    if scheduler is None and args.quick and args.workers is None:
        scheduler = sweeps.SYNCHRONOUS
    if scheduler == sweeps.SYNCHRONOUS:  # workers get one thread from the cluster's environment
        import torch

        torch.set_num_threads(1)
    t0 = time.time()
    grid = {"hidden": cfg["widths"], "run": list(range(cfg["runs"]))}
    fixed = {k: cfg[k] for k in ("epochs", "lr", "llc_draws")}
    sweeps.run("xor_rashomon", grid, out=out / f"{NAME}_sweep", fixed=fixed, workers=args.workers,
               scheduler=scheduler, progress=not (args.no_progress or args.quick))
    runs = [r for r in load_runs(out) if r["hidden"] in cfg["widths"] and r["run"] < cfg["runs"]]
    _export_jsonl(out / f"{NAME}_runs.jsonl", runs)
    summary = {
        "config": cfg, "llc": LLC, "llc_available": True, "rtol": DEFAULT_RTOL,
        "rtols": RTOLS, "solved_below": SOLVED, "seconds_this_call": time.time() - t0, "widths": summarise(runs),
    }
    save_json(out / f"{NAME}.json", summary)
    save_npz(out / f"{NAME}.npz", hidden=np.array([r["hidden"] for r in runs]),
             run=np.array([r["run"] for r in runs]), seed=np.array([r["seed"] for r in runs]),
             loss=np.array([r["loss"] for r in runs]),
             near_zero=np.array([r["near_zero"] for r in runs]), log_volume=np.array([r["log_volume"] for r in runs]),
             llc_mean=np.array([np.nan if r["llc_mean"] is None else r["llc_mean"] for r in runs]),
             llc_se=np.array([np.nan if r["llc_se"] is None else r["llc_se"] for r in runs]), rtols=RTOLS)
    rows = [{"h": h, **s, "solved_of": f"{s['solved']}/{s['runs']}",
             "counts": " ".join(f"{c}:{n}" for c, n in enumerate(s["count_hist"]) if n) or "none"}
            for h, s in summary["widths"].items()]
    print(table(rows, [Column("h"), Column("dim", "d"), Column("solved_of", "solved"),
                       Column("counts", "near-zero eigenvalues (count:runs)"), Column("llc_mean_over_runs", "LLC"),
                       Column("log_volume_median", "median log volume")], title="XOR Rashomon sets per width"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
