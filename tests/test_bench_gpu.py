"""benchmarks/bench_gpu.py --device cpu --quick: every section's code path, peers skipped."""
from __future__ import annotations

import importlib.util
import sys
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return load_bench()


def test_quick_cpu_run_writes_every_section(bench, tmp_path, capsys):
    assert bench.main(["--device", "cpu", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "bench_gpu.json").read_text())
    assert res["mode"] == "quick" and res["environment"]["device"] == "cpu"
    for name in ("mlp", "cnn", "dln"):
        row = res["throughput"][name]
        assert "error" not in row, row
        slt = row["slt"]
        assert slt["chain_steps_per_s"] > 0 and math.isfinite(slt["mean"]) and not slt["dropped_keywords"]
        assert slt["step_size"] == row["step_size"] and slt["device"] == "cpu"
        assert row["slt_syncs_per_step"] is None  # counted on CUDA only
        assert row["devinterp"] == {"skipped": "--quick"} and row["canonical-interp"] == {"skipped": "--quick"}
    big = res["largest"]["result"]
    assert big["params"] == 144 and big["lambda"] > 0 and big["peak_rss_bytes"] > 0
    assert 0 < big["mean"] < big["params"] / 2 and big["se"] > 0  # between 0 and the regular d/2
    assert big["relative_error"] == pytest.approx(big["mean"] / big["lambda"] - 1, rel=1e-12)
    assert big["corrected"] > big["mean"]  # λ̂ + βν̂ adds the (positive) data term back
    assert big["relative_error_corrected"] == pytest.approx(big["corrected"] / big["lambda"] - 1, rel=1e-12)
    dt = res["dtype"]
    for name in ("float64", "float32", "bfloat16"):
        assert "error" not in dt[name], dt[name]
        assert dt[name]["step_size"] == dt["step_size"] and dt[name]["nbeta"] == dt["nbeta"]
    assert "[1] mlp" in out and "[2] largest DLN" in out and "[3] bfloat16" in out


def test_problems_are_reproducible_and_dln_has_aoyagi_lambda(bench):
    import torch

    for name, spec in bench.PROBLEMS["quick"].items():  # the peers rebuild the problem in another process
        a, b = (bench.build_problem(name, spec, "cpu") for _ in range(2))
        torch.manual_seed(len(name))  # the global RNG must not matter
        c = bench.build_problem(name, spec, "cpu")
        assert all(torch.equal(a.X, o.X) and torch.equal(a.y, o.y) for o in (b, c)), name
        assert all(torch.equal(u, v) for u, v in zip(a.model.parameters(), c.model.parameters())), name
    a = bench.build_problem("dln", bench.PROBLEMS["quick"]["dln"], "cpu")
    assert a.lam == 11.0 and a.dim == 75
    cnn = bench.build_problem("cnn", bench.PROBLEMS["quick"]["cnn"], "cpu")
    assert cnn.loss == "ce" and cnn.y.dtype == torch.int64 and cnn.X.shape[1:] == (3, 8, 8)
    low = bench.cast(a, torch.bfloat16)
    assert low.X.dtype == torch.bfloat16 and next(low.model.parameters()).dtype == torch.bfloat16
    assert next(a.model.parameters()).dtype == torch.float32  # the original is untouched


def test_helpers(bench):
    kept, dropped = bench.llc_kwargs(num_chains=2, no_such_keyword=1)
    assert kept == {"num_chains": 2} and dropped == ["no_such_keyword"]
    assert bench.syncs_per_step(None, "cpu", chains=1, draws=1, step=1.0) is None
    assert bench.guard(lambda: 1 / 0)["error"].startswith("ZeroDivisionError")
    p = bench.build_problem("dln", bench.PROBLEMS["quick"]["dln"], "cpu")
    from slt.errors import SLTWarning

    with pytest.warns(SLTWarning):  # its probes run 10 and 30 draws of a 1e-12 step: the diagnostics complain
        fit = bench.fit_steps(p, "cpu", chains=2, burnin=1000, draws=1000, budget=1e-9)  # no time: the floor
    assert fit["burnin"] == 0 and fit["draws"] == 8 and fit["probe_seconds_per_step"] > 0
    if not bench.torch.cuda.is_available():
        assert bench.main(["--device", "cuda"]) == 2  # says so instead of failing half-way
