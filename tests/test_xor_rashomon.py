"""The XOR Rashomon experiment and its figures in quick mode."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_experiment_and_figures(tmp_path):
    sim = _load(ROOT / "simulations" / "xor_rashomon.py")
    data = tmp_path / "sim"
    assert sim.main(["--quick", "--out", str(data), "--no-progress"]) == 0
    runs = sim.load_runs(data)
    assert len(runs) == 6 and {r["hidden"] for r in runs} == {2, 3, 4}
    for r in runs:
        assert r["dim"] == 4 * r["hidden"] + 1 and len(r["eigenvalues"]) == r["dim"]
        assert r["llc_lower"] == (r["dim"] - r["near_zero"]) / 2 and r["llc_upper"] == r["dim"] / 2
        if r["solved"]:
            # squared loss at zero residual: H = JᵀJ/n has rank ≤ n = 4 data points
            assert r["near_zero"] >= r["dim"] - 4 and r["num_negative"] == 0
    summary = json.loads((data / "xor_rashomon.json").read_text())
    for h, s in summary["widths"].items():
        assert sum(s["count_hist"]) == s["solved"] == sum(r["solved"] for r in runs if r["hidden"] == int(h))
    # resumable: a second call finds every run done and appends nothing
    lines = (data / "xor_rashomon_runs.jsonl").read_text().count("\n")
    assert sim.main(["--quick", "--out", str(data), "--no-progress"]) == 0
    assert (data / "xor_rashomon_runs.jsonl").read_text().count("\n") == lines
    with pytest.raises(ValueError, match="runs"):
        sim.main(["--quick", "--out", str(data), "--runs", "0"])

    fig = _load(ROOT / "paper_figures" / "fig_xor_rashomon.py")
    assert fig.QUICK is False  # minutes even small: out of the quick set, run by name
    out = tmp_path / "fig"
    assert fig.main(["--quick", "--out", str(out), "--data", str(data)]) == 0
    for name in ("xor_rashomon", "xor_landscape"):
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.pdf").exists()
    numbers = json.loads((out / "xor_rashomon_numbers.json").read_text())
    assert numbers["same_connects"] and numbers["same_max_loss"] < 1e-12
    assert not numbers["other_connects"]
    sl = np.load(out / "xor_landscape.npz")
    assert sl["slice_random"].shape == sl["slice_flat"].shape
