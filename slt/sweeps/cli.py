"""``slt sweep CONFIG.toml``: run a sweep described by a TOML file.

The config names the task, the grid, the fixed settings and the store::

    task = "llc"                      # registered name, "module:function" or "file.py:function"
    out = "sweeps/llc_grid"           # relative to the config file's folder
    workers = 4                       # optional: LocalCluster processes (default: cores)
    # scheduler = "tcp://10.0.0.5:8786"   # optional: an existing Dask scheduler

    [grid]                            # the product of these axes is the sweep
    potential = ["cusp", "x**2 + y**4"]
    nbeta = [1e3, 1e4, 1e5]

    [fixed]                           # passed to every cell
    num_draws = 500

    # [cluster]                       # optional: start a dask-jobqueue cluster instead
    # kind = "slurm"                  # slurm, pbs, sge, lsf, htcondor (or "local")
    # jobs = 10                       # how many jobs to scale to
    # cores = 8                       # the rest goes to the cluster class
    # memory = "16GB"

``--scheduler ADDRESS`` and ``--workers N`` override the file; ``--scheduler synchronous``
runs in this process.  Rerunning the same command resumes.  Exit status 0 when every cell
of the grid is stored with status "ok", 1 when some failed (their errors are in the store).

Example
-------
>>> main(["sweeps/llc.toml", "--workers", "2"])          # doctest: +SKIP
0
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

CLUSTERS = {
    "local": "distributed:LocalCluster",
    "slurm": "dask_jobqueue:SLURMCluster",
    "pbs": "dask_jobqueue:PBSCluster",
    "sge": "dask_jobqueue:SGECluster",
    "lsf": "dask_jobqueue:LSFCluster",
    "htcondor": "dask_jobqueue:HTCondorCluster",
}
KEYS = {"task", "out", "grid", "fixed", "workers", "scheduler", "cluster", "progress"}


def read_config(path: str | Path) -> dict[str, Any]:
    """The parsed config with ``out`` resolved against the file's folder; ``ValueError`` naming
    a missing or unknown key."""
    path = Path(path)
    with path.open("rb") as fh:
        config = tomllib.load(fh)
    unknown = set(config) - KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected some of {sorted(KEYS)}")
    for key in ("task", "grid", "out"):
        if key not in config:
            raise ValueError(f"{path}: missing key {key!r}")
    config["out"] = str((path.parent / config["out"]).resolve())
    return config


def start_cluster(spec: dict[str, Any]):
    """A cluster from the config's ``[cluster]`` table (dask-jobqueue for batch systems),
    scaled to ``jobs`` jobs (or ``workers`` for ``kind = "local"``)."""
    import importlib

    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in CLUSTERS:
        raise ValueError(f"cluster kind={kind!r}; expected one of {', '.join(CLUSTERS)}")
    module, _, name = CLUSTERS[kind].partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError:
        raise ValueError(f"cluster kind={kind!r} needs {module} (pip install dask-jobqueue)") from None
    jobs = spec.pop("jobs", None)
    cluster = cls(**spec)
    if jobs is not None:
        cluster.scale(jobs=int(jobs)) if kind != "local" else cluster.scale(int(jobs))
    return cluster


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``slt sweep``."""
    from slt.cli import HelpFormatter
    from slt.sweeps import load, run

    description = __doc__.split("Example")[0].replace("``", "").replace("::", ":")
    ap = argparse.ArgumentParser(prog="slt sweep", description=description, formatter_class=HelpFormatter)
    ap.add_argument("config", help="TOML file with task, grid, fixed, out")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler, or 'synchronous' "
                    "(default: the config's, else a new LocalCluster)")
    ap.add_argument("--workers", type=int, help="LocalCluster worker processes (default: cores)")
    ap.add_argument("--out", help="store directory (default: the config's out)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar over the cells")
    args = ap.parse_args(argv)
    try:
        config = read_config(args.config)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"slt sweep: {exc}", file=sys.stderr)
        return 2
    out = args.out or config["out"]
    scheduler = args.scheduler or config.get("scheduler")
    cluster = None
    if scheduler is None and "cluster" in config:
        cluster = scheduler = start_cluster(config["cluster"])
    try:
        run(config["task"], config["grid"], out=out, fixed=config.get("fixed"),
            workers=args.workers or config.get("workers"), scheduler=scheduler,
            progress=not args.no_progress and config.get("progress", True))
    finally:
        if cluster is not None:
            cluster.close()
    df = load(out)
    failed = df[df.status != "ok"]
    print(f"sweep {out}: {len(df)} cells stored, {len(failed)} failed")
    for _, row in failed.head(5).iterrows():
        last = (row["error"] or "").strip().splitlines()[-1:] or [""]
        print(f"  failed {dict((a, row[a]) for a in config['grid'])}: {last[0]}")
    return 1 if len(failed) else 0
