"""benchmarks/bench_llc_vs_devinterp.py --quick: the MLP and the attention model through slt
(vmapped and looped), the peers skipped, the JSON and the table written."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_llc_vs_devinterp",
                                                  ROOT / "benchmarks" / "bench_llc_vs_devinterp.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_covers_mlp_and_attention(tmp_path, capsys):
    import torch

    bench = load_bench()
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "bench_llc_vs_devinterp.json").read_text())
    assert res["models"] == ["mlp", "attention"] and res["peers"]["canonical"] == {"skipped": "--quick"}
    for name in ("mlp", "attention"):
        tools = res[name]["tools"]
        for tool in ("slt vmap", "slt loop"):
            row = tools[tool]
            assert "error" not in row, row
            assert row["draws_chains_per_s"] > 0 and math.isfinite(row["mean"]) and math.isfinite(row["se"])
        assert tools["slt loop"]["mean"] == pytest.approx(tools["slt vmap"]["mean"], rel=1e-4, abs=1e-4)
        assert tools["devinterp 2.0.1"] == {"skipped": "--quick"}
        assert tools["canonical-interp 0.1.5"] == {"skipped": "--quick"}
        assert f"\n{name}: " in out
    assert "math attention kernel" in res["attention"]["tools"]["slt vmap"]["attention"]
    # the peers rebuild the trained attention model from the saved weights and the seeds
    spec = res["attention"]["settings"]
    a, b = bench.build_problem(spec), bench.build_problem(spec)
    with torch.no_grad():
        assert torch.equal(a[0](a[1]), b[0](b[1])) and torch.equal(a[2], b[2])
    stats = bench.chain_stats([1.0, 3.0])
    assert (stats["mean"], stats["std"], stats["se"], stats["se_chains"]) == pytest.approx((2.0, math.sqrt(2), 1, 1))
