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


def _readme_blocks() -> list[str]:
    text = (EXAMPLES.parent / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_tour_prints_what_the_readme_says(capsys):
    """The tour's simulation block ends with a comment of what it prints: it must print that."""
    blocks = [b for b in _readme_blocks() if "sampling.run(" in b and "\n# " in b]
    assert blocks, "the README's tour has no simulation block with its printed output"
    code, printed = blocks[0].rsplit("\n# ", 1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == printed.strip()


def test_readme_rlct_block_prints_what_the_readme_says(capsys):
    block = next(b for b in _readme_blocks() if "deep_linear_network(" in b)
    exec(compile(block, "README.md", "exec"), {})
    expected = re.search(r"print\(res\.lam, res\.m\)\s+# (\S+ \S+)", block).group(1)
    assert capsys.readouterr().out.strip() == expected
