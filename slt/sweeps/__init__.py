"""Sweeps: grids of simulations and estimators on Dask distributed, with a resumable store.

A sweep calls a *task* once per cell of a grid (the product of named axes), each call with
the cell's values, the sweep's ``fixed`` settings and ``seed=`` derived from the cell, and
stores one record per cell as it finishes:

- :func:`run` runs the grid (a ``LocalCluster`` of one-thread worker processes by default, or
  any Dask scheduler: a cluster's address, dask-jobqueue on Slurm/PBS);
- :func:`load` gives the stored cells as a pandas DataFrame; :func:`load_dataset` as an
  xarray Dataset indexed by the grid axes;
- :func:`cell_seed` is the seed of one cell, so any cell can be rerun alone;
- ``slt sweep CONFIG.toml`` does the same from the shell (:mod:`slt.sweeps.cli`).

Rerunning a sweep with the same ``out`` skips the finished cells; a killed sweep loses only
the cells in flight.  Dask, pandas and pyarrow are imported on first use, never by
``import slt``.

Example
-------
>>> from slt import sweeps                                            # doctest: +SKIP
>>> out = sweeps.run("llc", {"potential": ["cusp", "x**2+y**4"], "nbeta": [1e3, 1e4]},
...                  out="sweeps/demo", fixed={"num_draws": 300})    # doctest: +SKIP
>>> sweeps.load(out).pivot(index="nbeta", columns="potential", values="llc")  # doctest: +SKIP
"""
from slt.sweeps.engine import SYNCHRONOUS, Cell, cell_key, cell_seed, cells, run
from slt.sweeps.registry import TASKS, register, resolve
from slt.sweeps.store import Store, load, load_dataset

__all__ = ["SYNCHRONOUS", "TASKS", "Cell", "Store", "cell_key", "cell_seed", "cells", "load", "load_dataset",
           "register", "resolve", "run"]
