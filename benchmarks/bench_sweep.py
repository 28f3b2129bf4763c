"""Cost of running a grid through ``slt.sweeps`` (Dask distributed + the Parquet store).

Two measurements, in the same run:

1. Overhead per cell: the same short cells (a fixed amount of pure-Python work each) as a
   plain loop calling the task, as a sweep in this process (``scheduler="synchronous"``: the
   store's cost alone) and as a sweep on a one-worker LocalCluster (the Dask path: scheduling,
   pickling, the client writing each record).  Reported: seconds per cell of each, the Dask
   path's extra time per cell and its ratio to the plain loop.  Cluster start-up and each
   sweep's fixed cost (manifest, provenance, listing the store: the time of a rerun that finds
   every cell done) are not counted.
2. Speed-up: CPU-bound cells on a LocalCluster of 2 workers against 1 worker (wall time of the
   sweep, cluster already started).  On a machine whose cores are shared the speed-up is below 2.

Usage: python benchmarks/bench_sweep.py [--quick] [--rounds 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

TASK = f"{Path(__file__).resolve()}:spin"


def spin(*, i: int, seed: int, work: int) -> dict:
    """``work`` iterations of integer arithmetic (pure Python: CPU-bound, holds the GIL)."""
    acc = seed % 1000 + i
    for k in range(work):
        acc = (acc * 1103515245 + k) % 2147483648
    return {"acc": acc}


def _time_sweep(grid: dict, work: int, out: Path, scheduler) -> float:
    """Seconds of a sweep less its fixed cost (manifest, provenance, listing the store),
    measured as the time of rerunning the finished sweep (which runs no cell)."""
    from slt import sweeps

    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        sweeps.run(TASK, grid, out=out, fixed={"work": work}, scheduler=scheduler, progress=False)
        times.append(time.perf_counter() - t0)
    return times[0] - times[1]


def _cluster(n: int):
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.submit(spin, i=0, seed=0, work=1).result()  # workers up and the task path warm
    return cluster, client, time.perf_counter() - t0


def _plain(grid: dict, work: int) -> float:
    from slt.sweeps import cell_seed

    t0 = time.perf_counter()
    for i in grid["i"]:
        spin(i=i, seed=cell_seed({"i": i}), work=work)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter cells (seconds)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"))
    args = ap.parse_args(argv)
    n_short, short_work = (40, 20_000) if args.quick else (200, 50_000)
    n_long, long_work = (4, 2_000_000) if args.quick else (8, 10_000_000)
    short = {"i": list(range(n_short))}
    long = {"i": list(range(n_long))}
    res: dict = {"short_cells": n_short, "short_work": short_work, "long_cells": n_long, "long_work": long_work,
                 "rounds": args.rounds}
    times: dict[str, list[float]] = {}
    cluster1, client1, res["startup_1_worker_s"] = _cluster(1)
    cluster2, client2, res["startup_2_workers_s"] = _cluster(2)
    try:
        for r in range(args.rounds):  # interleaved, so that a busy spell on a shared machine hits all alike
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                for name, fn in (("plain_loop_s", lambda: _plain(short, short_work)),
                                 ("synchronous_sweep_s", lambda: _time_sweep(short, short_work, tmp / "s", "synchronous")),
                                 ("dask_1_worker_short_s", lambda: _time_sweep(short, short_work, tmp / "d", client1)),
                                 ("dask_1_worker_long_s", lambda: _time_sweep(long, long_work, tmp / "l1", client1)),
                                 ("dask_2_workers_long_s", lambda: _time_sweep(long, long_work, tmp / "l2", client2))):
                    times.setdefault(name, []).append(fn())
    finally:
        for client, cluster in ((client1, cluster1), (client2, cluster2)):
            client.close()
            cluster.close()
    res.update({name: min(ts) for name, ts in times.items()})
    res["all_rounds"] = times
    per = {k: res[k] / n_short for k in ("plain_loop_s", "synchronous_sweep_s", "dask_1_worker_short_s")}
    res["overhead_per_cell_store_s"] = per["synchronous_sweep_s"] - per["plain_loop_s"]
    res["overhead_per_cell_dask_s"] = per["dask_1_worker_short_s"] - per["plain_loop_s"]
    res["ratio_dask_to_plain"] = res["dask_1_worker_short_s"] / res["plain_loop_s"]
    res["speedup_2_over_1"] = res["dask_1_worker_long_s"] / res["dask_2_workers_long_s"]
    print(f"short cells ({n_short} × {short_work} iterations), seconds per cell:")
    print(f"  plain loop           {per['plain_loop_s'] * 1e3:9.2f} ms")
    print(f"  sweep, synchronous   {per['synchronous_sweep_s'] * 1e3:9.2f} ms  (store overhead "
          f"{res['overhead_per_cell_store_s'] * 1e3:.2f} ms/cell)")
    print(f"  sweep, Dask 1 worker {per['dask_1_worker_short_s'] * 1e3:9.2f} ms  (overhead "
          f"{res['overhead_per_cell_dask_s'] * 1e3:.2f} ms/cell; ratio to plain loop {res['ratio_dask_to_plain']:.2f})")
    print(f"CPU-bound cells ({n_long} × {long_work} iterations): 1 worker {res['dask_1_worker_long_s']:.2f} s, "
          f"2 workers {res['dask_2_workers_long_s']:.2f} s, speed-up {res['speedup_2_over_1']:.2f}")
    print(f"LocalCluster start-up (not counted above): 1 worker {res['startup_1_worker_s']:.1f} s, "
          f"2 workers {res['startup_2_workers_s']:.1f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sweep.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
