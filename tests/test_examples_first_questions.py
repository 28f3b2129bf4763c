"""The examples of a researcher's first questions run (--quick) and print the claims they make."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _claims(name: str, tmp_path: Path, *args: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", *args], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    claims = [line for line in proc.stdout.splitlines() if line.startswith("claim:")]
    assert claims and all(": yes" in c for c in claims), proc.stdout
    assert "None" not in proc.stdout and "nan" not in proc.stdout, proc.stdout  # short tables, never raw reprs
    return claims


def test_sweep_script_runs_as_a_script(tmp_path):
    """The sweep example, run as `python sweep_script.py`, starts a LocalCluster and stores its cells."""
    pytest.importorskip("distributed")
    claims = _claims("sweep_script.py", tmp_path, "--out", str(tmp_path / "grid"))
    assert any("every cell finished" in c for c in claims)
    assert len(list((tmp_path / "grid").rglob("*.parquet"))) == 1


@pytest.mark.slow
def test_llc_of_your_model_reports_convergence(tmp_path):
    pytest.importorskip("torch")
    claims = _claims("llc_of_your_model.py", tmp_path)
    assert any("singular" in c for c in claims) and any("flags what did not converge" in c for c in claims)


@pytest.mark.slow
def test_attention_heads_over_training(tmp_path):
    pytest.importorskip("torch")
    claims = _claims("attention_heads_over_training.py", tmp_path, "--out", str(tmp_path / "heads"))
    assert any("between 0 and half" in c for c in claims)
    assert (tmp_path / "heads" / "head_0").is_dir() and (tmp_path / "heads" / "head_1").is_dir()
