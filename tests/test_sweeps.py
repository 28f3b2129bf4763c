"""slt.sweeps: grids on a real Dask LocalCluster, the resumable store, kill and resume, the CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from slt import sweeps
from slt.errors import SLTWarning
from slt.sweeps.cli import main as sweep_main, read_config

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
TASK = f"{HERE}:square"
TIMING = ["seconds", "started", "finished", "worker"]


def square(*, x: int, y: str = "a", seed: int, delay: float = 0.0, fail: list | None = None) -> dict:
    """A test task: outputs from the cell and its seed; raises at the cell ``fail``."""
    time.sleep(delay)
    if fail is not None and [x, y] == list(fail):
        raise RuntimeError(f"boom at x={x}, y={y}")
    rng = np.random.default_rng(seed)
    return {"z": x * x, "u": float(rng.random()), "arr": rng.random((2, 3)), "label": f"{y}{x}",
            "ok": True, "vec": np.arange(x)}


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster (2 worker processes, 1 thread each) shared by the module's tests."""
    distributed = pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a cell that kills its worker fails at once
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
            yield lc.scheduler_address


def _results(df):
    """The frame without timings (which differ between runs)."""
    return df.drop(columns=TIMING)


def _assert_same(a, b):
    a, b = _results(a), _results(b)
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        for u, v in zip(a[col], b[col]):
            if isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            elif isinstance(u, str) and col == "error":
                assert u.splitlines()[-1] == v.splitlines()[-1]
            else:
                assert u == v or (u != u and v != v), (col, u, v)


def test_grid_on_local_cluster_records_failures_and_resumes(cluster, tmp_path):
    grid = {"x": [1, 2, 3], "y": ["a", "b"]}
    fixed = {"fail": [3, "b"]}
    out = sweeps.run(TASK, grid, out=tmp_path / "s", fixed=fixed, scheduler=cluster, progress=False)
    df = sweeps.load(out)
    assert list(df.columns[:4]) == ["x", "y", "seed", "status"]
    assert [(x, y) for x, y in zip(df.x, df.y)] == [(1, "a"), (1, "b"), (2, "a"), (2, "b"), (3, "a"), (3, "b")]
    assert list(df.status) == ["ok"] * 5 + ["error"]
    assert "RuntimeError: boom at x=3, y=b" in df.error.iloc[5] and df.error.iloc[:5].isna().all()
    ok = df[df.status == "ok"]
    assert list(ok.z) == [1, 1, 4, 4, 9] and list(ok.label) == ["a1", "b1", "a2", "b2", "a3"]
    assert all(s == sweeps.cell_seed({"x": x, "y": y}) for x, y, s in zip(df.x, df.y, df.seed))
    for seed, u, arr, vec, x in zip(ok.seed, ok.u, ok.arr, ok.vec, ok.x):  # the task's own seed reached it
        rng = np.random.default_rng(seed)
        assert u == rng.random() and arr.shape == (2, 3) and np.array_equal(arr, rng.random((2, 3)))
        assert np.array_equal(vec, np.arange(x))
    assert len({w for w in ok.worker}) >= 1 and (df.seconds >= 0).all()
    # rerun: finished cells are skipped (their records untouched), the failed one runs again
    started = dict(zip(df.key, df.started))
    sweeps.run(TASK, grid, out=out, fixed=fixed, scheduler=cluster, progress=False)
    again = sweeps.load(out)
    assert [k for k, s in zip(again.key, again.started) if s != started[k]] == [df.key.iloc[5]]
    # the same sweep in this process, without Dask, stores the same results (seeds from the cell)
    local = sweeps.run(TASK, grid, out=tmp_path / "sync", fixed=fixed, scheduler="synchronous", progress=False)
    _assert_same(sweeps.load(local), again)
    ds = sweeps.load_dataset(out)
    assert ds["z"].dims == ("x", "y") and ds["arr"].shape == (3, 2, 2, 3)
    assert ds["z"].sel(x=2, y="b") == 4 and np.isnan(ds["z"].sel(x=3, y="b"))
    assert int(ds["seed"].sel(x=3, y="b")) == sweeps.cell_seed({"x": 3, "y": "b"})  # known for every cell


def die(*, x: int, seed: int) -> dict:
    """Kills its worker process at x = 2."""
    if x == 2:
        os._exit(1)
    return {"x2": 2 * x}


def test_a_killed_worker_loses_only_its_cell(cluster, tmp_path):
    out = sweeps.run(f"{HERE}:die", {"x": [1, 2, 3]}, out=tmp_path / "d", scheduler=cluster, progress=False)
    df = sweeps.load(out)
    assert df.status[1] == "error" and "KilledWorker" in df.error[1]
    for status, error in zip(df.status[[0, 2]], df.error[[0, 2]]):  # ok, or lost in flight on that worker
        assert status == "ok" or "KilledWorker" in error
    sweeps.run(f"{HERE}:die", {"x": [1, 3]}, out=out, scheduler=cluster, progress=False)
    df = sweeps.load(out)  # x = 2, no longer in the grid, comes last
    assert list(zip(df.x, df.status)) == [(1, "ok"), (3, "ok"), (2, "error")] and list(df.x2[:2]) == [2, 6]


def _config(tmp_path: Path, out: str, **extra) -> Path:
    lines = [f'task = "{TASK}"', f'out = "{out}"', "workers = 2", *[f"{k} = {v}" for k, v in extra.items()],
             "[grid]", "x = [1, 2, 3, 4, 5]", 'y = ["a", "b"]', "[fixed]", "delay = 0.2"]
    path = tmp_path / f"{out}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_killed_sweep_resumes_to_the_store_of_an_uninterrupted_run(cluster, tmp_path):
    config = _config(tmp_path, "killed")
    cells = tmp_path / "killed" / "cells"
    proc = subprocess.Popen([sys.executable, "-m", "slt.cli", "sweep", str(config), "--no-progress"],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while len(list(cells.glob("*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its LocalCluster's workers, mid-way
        proc.wait()
    stored = sorted(p.name for p in cells.glob("*.parquet"))
    assert 3 <= len(stored) < 10, stored
    before = sweeps.load(tmp_path / "killed")
    assert (before.status == "ok").all()
    (cells / ".torn.parquet.123.tmp").write_bytes(b"PAR1 half a file")  # what a kill mid-write leaves
    cfg = read_config(config)
    sweeps.run(cfg["task"], cfg["grid"], out=cfg["out"], fixed=cfg["fixed"], scheduler=cluster, progress=False)
    resumed = sweeps.load(tmp_path / "killed")
    assert not list(cells.glob(".*.tmp")) and len(resumed) == 10
    kept = resumed.set_index("key").loc[before.key]
    assert list(kept.started) == list(before.started)  # cells stored before the kill were not rerun
    fresh = sweeps.run(cfg["task"], cfg["grid"], out=tmp_path / "fresh", fixed=cfg["fixed"], scheduler=cluster,
                       progress=False)
    _assert_same(resumed, sweeps.load(fresh))


def test_cli_synchronous_reports_failures(tmp_path, capsys):
    config = _config(tmp_path, "cli")
    text = config.read_text().replace("delay = 0.2", 'delay = 0.0\nfail = [2, "a"]')
    config.write_text(text.replace("x = [1, 2, 3, 4, 5]", "x = [1, 2]"))
    assert sweep_main([str(config), "--scheduler", "synchronous", "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "4 cells stored, 1 failed" in printed and "boom at x=2" in printed
    manifest = sweeps.Store(tmp_path / "cli").manifest()
    assert manifest["task"] == TASK and manifest["grid"] == {"x": [1, 2], "y": ["a", "b"]}
    assert manifest["fixed"] == {"delay": 0.0, "fail": [2, "a"]}
    prov = manifest["runs"][0]
    assert prov["slt"] and prov["python"] and "numba" in prov["versions"] and "torch" in prov["versions"]
    assert "git_commit" in prov
    from slt.sweeps.cli import start_cluster

    with pytest.raises(ValueError, match="'kubernetes'"):
        start_cluster({"kind": "kubernetes"})
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="dask-jobqueue"):
            start_cluster({"kind": "slurm", "cores": 1, "memory": "1GB"})
    (tmp_path / "bad.toml").write_text('task = "rlct"\nout = "x"\ngrid = {K = ["x**2"]}\nworkerz = 2\n')
    with pytest.raises(ValueError, match="unknown keys"):
        read_config(tmp_path / "bad.toml")
    assert sweep_main([str(tmp_path / "bad.toml")]) == 2 and "workerz" in capsys.readouterr().err
    assert sweep_main([str(tmp_path / "missing.toml")]) == 2 and "missing.toml" in capsys.readouterr().err


def test_arguments_are_checked(tmp_path):
    run = sweeps.run
    with pytest.raises(ValueError, match="'seed' is reserved"):
        run(TASK, {"seed": [1, 2]}, out=tmp_path / "a", scheduler="synchronous")
    with pytest.raises(ValueError, match="'x' has no values"):
        run(TASK, {"x": []}, out=tmp_path / "a", scheduler="synchronous")
    with pytest.raises(ValueError, match="repeats a value"):
        run(TASK, {"x": [1, 1]}, out=tmp_path / "a", scheduler="synchronous")
    with pytest.raises(ValueError, match="both a grid axis and a fixed"):
        run(TASK, {"x": [1]}, out=tmp_path / "a", fixed={"x": 2}, scheduler="synchronous")
    with pytest.raises(ValueError, match="'seed' is not allowed"):
        run(TASK, {"x": [1]}, out=tmp_path / "a", fixed={"seed": 2}, scheduler="synchronous")
    with pytest.raises(ValueError, match="nosuch.py"):
        run("nosuch.py:f", {"x": [1]}, out=tmp_path / "a", scheduler="synchronous")
    with pytest.raises(ValueError, match="'not a spec'"):
        run("not a spec", {"x": [1]}, out=tmp_path / "a", scheduler="synchronous")
    with pytest.raises(ValueError, match="workers=0"):
        run(TASK, {"x": [1]}, out=tmp_path / "w", workers=0)
    with pytest.raises(ValueError, match="not a sweep store"):
        sweeps.load(tmp_path / "missing")
    run(TASK, {"x": [1]}, out=tmp_path / "b", fixed={"delay": 0.0}, scheduler="synchronous", progress=False)
    with pytest.raises(ValueError, match="delay"):  # another sweep's store
        run(TASK, {"x": [1]}, out=tmp_path / "b", fixed={"delay": 1.0}, scheduler="synchronous")
    # the grid may grow: old cells are kept, new ones run
    run(TASK, {"x": [1, 2]}, out=tmp_path / "b", fixed={"delay": 0.0}, scheduler="synchronous", progress=False)
    assert list(sweeps.load(tmp_path / "b").x) == [1, 2]


def flaky(*, x: int, seed: int, marker: str) -> dict:
    """Fails the first time it runs for ``x``, works after."""
    path = Path(marker) / f"{x}"
    if not path.exists():
        path.touch()
        raise OSError(f"transient failure at x={x}")
    return {"x2": 2 * x}


def test_failed_cells_run_again_and_empty_files_are_redone(tmp_path):
    task, grid, fixed = f"{HERE}:flaky", {"x": [1, 2]}, {"marker": str(tmp_path)}
    out = sweeps.run(task, grid, out=tmp_path / "f", fixed=fixed, scheduler="synchronous", progress=False)
    assert list(sweeps.load(out).status) == ["error", "error"]
    sweeps.run(task, grid, out=out, fixed=fixed, scheduler="synchronous", progress=False)
    df = sweeps.load(out)
    assert list(df.status) == ["ok", "ok"] and list(df.x2) == [2, 4]
    assert sorted(p.name for p in (out / "cells").iterdir()) == sorted(f"{k}.parquet" for k in df.key)
    (out / "cells" / f"{df.key[0]}.parquet").write_bytes(b"")  # what a power loss can leave
    with pytest.warns(UserWarning, match="unreadable"):
        assert len(sweeps.load(out)) == 1
    sweeps.run(task, grid, out=out, fixed=fixed, scheduler="synchronous", progress=False)
    assert list(sweeps.load(out).x2) == [2, 4]


def test_cell_seeds_come_from_the_cell_only():
    a = sweeps.cell_seed({"x": 1, "y": "a"})
    assert a == sweeps.cell_seed({"y": "a", "x": 1}) and 0 <= a < 2**63
    grid = {"x": list(range(20)), "y": ["a", "b", "c"]}
    seeds = [c.seed for c in sweeps.cells(grid)]
    assert len(set(seeds)) == 60 and seeds[0] == sweeps.cell_seed({"x": 0, "y": "a"})
    assert [c.seed for c in sweeps.cells({"y": ["c", "b", "a"], "x": grid["x"][::-1]})][::-1] == \
        [c.seed for c in sweeps.cells({"y": ["a", "b", "c"], "x": grid["x"]})]


def test_store_files_keep_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = sweeps.run(TASK, {"x": [1]}, out=tmp_path / "u", scheduler="synchronous", progress=False)
    finally:
        os.umask(old)
    files = [out / "manifest.json", *(out / "cells").glob("*.parquet")]
    assert len(files) == 2 and all(f.stat().st_mode & 0o777 == 0o640 for f in files)


def test_outputs_are_checked(tmp_path):
    from slt.sweeps.engine import normalise_outputs

    out = normalise_outputs({"a": np.float32(1.5), "b": np.array(2), "c": [1, 2], "s": "x", "n": None}, set())
    assert out["a"] == 1.5 and type(out["a"]) is float and out["b"] == 2 and type(out["b"]) is int
    assert np.array_equal(out["c"], [1, 2]) and out["s"] == "x" and out["n"] is None
    with pytest.raises(TypeError, match="dict of outputs"):
        normalise_outputs([1, 2], set())
    assert normalise_outputs({"x": 1, "seed": 2}, {"x", "seed"}) == {"x_out": 1, "seed_out": 2}
    with pytest.raises(ValueError, match="3"):
        normalise_outputs({3: 1}, set())
    with pytest.raises(TypeError, match="'d'"):
        normalise_outputs({"d": {"nested": 1}}, set())


def test_registered_tasks_resolve():
    assert set(sweeps.TASKS) >= {"llc", "nn_llc", "dln_llc", "xor_rashomon", "llc_validation", "rlct"}
    out = sweeps.resolve("rlct")(K="x**2*y**4", seed=0)
    assert out["lam"] == 0.25 and out["m"] == 1
    sweeps.register("my_square", TASK)
    assert sweeps.resolve("my_square") is sweeps.resolve(TASK)
    with pytest.raises(ValueError, match="'bad name'"):
        sweeps.register("bad name", TASK)


def test_registered_tasks_wrap_the_public_estimators(tmp_path):
    """"llc" calls slt.estimators.estimate_llc, "nn_llc" slt.nn.estimate_llc, through a sweep."""
    out = sweeps.run("llc", {"nbeta": [1e3]}, out=tmp_path / "llc", scheduler="synchronous", progress=False,
                     fixed={"potential": "x2+y4", "num_chains": 4, "num_draws": 100, "step_size": 1e-4,
                            "num_burnin": 200})
    row = sweeps.load(out).iloc[0]
    assert row.status == "ok", row.error
    assert row.lam == 0.75 and row.nbeta == row.nbeta_out == 1e3 and row.per_chain.shape == (4,)
    # the exact finite-nβ value (quadrature) within 4 se, and the wrapped door's own numbers
    assert abs(row.llc - row.exact) < 4 * row.se and abs(row.exact - 0.75) < 0.01
    from slt import potentials
    from slt.estimators import estimate_llc

    with pytest.warns(SLTWarning):  # 100 draws: the task records what the door says
        direct = estimate_llc(potentials.resolve("x2+y4"), nbeta=1e3, num_chains=4, num_draws=100, step_size=1e-4,
                              num_burnin=200, seed=int(row.seed))
    assert (row.llc, row.se) == (direct.mean, direct.se) and row.warnings == "\n".join(direct.warnings)
    pytest.importorskip("torch")
    settings = {"nbeta": 100.0, "num_chains": 2, "num_draws": 20, "num_burnin": 20, "step_size": 1e-4}
    out = sweeps.run("nn_llc", {"gamma": [10.0]}, out=tmp_path / "nn", scheduler="synchronous", progress=False,
                     fixed={"model": "xor_mlp", "model_kwargs": {"hidden": 2}, "data": "xor_data",
                            "train": {"lr": 0.05, "epochs": 50}, **settings})
    row = sweeps.load(out).iloc[0]
    assert row.status == "ok", row.error
    assert row.gamma == row.gamma_out == 10.0 and row.per_chain.shape == (2,)
    from slt.nn import estimate_llc as nn_llc
    from slt.nn.data import xor_data
    from slt.nn.models import gaussian_nll, train, xor_mlp

    net, data = xor_mlp(hidden=2, seed=int(row.seed)), xor_data()
    history = train(net, data, loss_fn=gaussian_nll, seed=int(row.seed), lr=0.05, epochs=50)
    with pytest.warns(SLTWarning):  # 20 draws
        direct = nn_llc(net, data, loss_fn=gaussian_nll, gamma=10.0, seed=int(row.seed), **settings)
    assert row.train_loss == float(history[-1]) > 0 and (row.llc, row.se) == (direct.mean, direct.se)
