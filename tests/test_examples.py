"""The examples print the claims they make; these tests hold them to it."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, timeout: float) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=timeout,
                          cwd=EXAMPLES.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _claims(out: str) -> list[str]:
    claims = [line for line in out.splitlines() if line.startswith("claim:")]
    assert claims, out
    return claims


def test_every_example_states_checkable_claims_and_names_its_sampler():
    for path in sorted(EXAMPLES.glob("*.py")):
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source)) or ""
        assert "claim:" in source, path.name
        for sampler in re.findall(r'sampling\.run\(\w+, "(\w+)"', source):
            assert sampler.upper() in doc.upper(), f"{path.name}: docstring does not name its sampler {sampler}"


def test_singular_vs_gibbs_shows_the_difference():
    out = _run("singular_vs_gibbs.py", timeout=600)
    claims = _claims(out)
    assert all(": yes" in c for c in claims), out
    walkers, exact, regular = (float(re.search(rf"{k}\s+([0-9.]+)", out).group(1))
                               for k in ("MALA walkers", "exact Gibbs", "regular view"))
    assert abs(regular / exact - 1) > 0.2 and abs(walkers / exact - 1) < 0.05, out


@pytest.mark.slow
def test_network_llc_vs_exact_prints_progress_and_its_claims():
    pytest.importorskip("torch")
    out = _run("network_llc_vs_exact.py", timeout=1800)
    assert "[1/2]" in out and "[2/2]" in out
    assert all(": yes" in c for c in _claims(out)), out
