"""A sweep started from a script: the README's example without the ``__main__`` guard is one clear error."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slt.sweeps import guard

pytest.importorskip("distributed")

MESSAGE = 'without an `if __name__ == "__main__":` guard'


def _run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_unguarded_readme_sweep_says_what_to_do(tmp_path):
    """Before the check: Dask's "Nanny failed to start" after a page of worker tracebacks."""
    proc = _run_script(tmp_path, """
        from slt import sweeps
        out = sweeps.run("rlct", {"K": ["x**2*y**4", "x**2+y**2"]}, out="grid", workers=1)
        print(sweeps.load(out))
    """)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: slt.sweeps.run was called at the top level of sweep.py") and MESSAGE in last
    assert "Nanny" not in proc.stderr and not (tmp_path / "grid").exists()  # refused before any worker or file


def test_unguarded_call_through_a_function_is_caught(tmp_path):
    proc = _run_script(tmp_path, """
        from slt import sweeps

        def main():
            sweeps.run("rlct", {"K": ["x**2*y**4"]}, out="grid", workers=1)

        main()
    """)
    assert proc.returncode != 0 and MESSAGE in proc.stderr.strip().splitlines()[-1]


def test_a_guard_the_check_misses_fails_in_the_worker_with_the_same_message(tmp_path):
    """A test on __name__ that is not the guard passes the parent's check; the worker's re-import
    then refuses to start a sweep, and the parent's error says to look at the guard."""
    proc = _run_script(tmp_path, """
        from slt import sweeps
        if __name__ != "some other name":
            sweeps.run("rlct", {"K": ["x**2*y**4"]}, out="grid", workers=1, progress=False)
    """)
    assert proc.returncode != 0
    assert MESSAGE in proc.stderr  # from the worker
    assert 'call slt.sweeps.run under `if __name__ == "__main__":`' in proc.stderr.strip().splitlines()[-1]


def test_guard_detection_reads_the_script(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import x\nx.run()\nif __name__ == '__main__':\n    x.run()\n    x.load()\n")
    assert not guard._guarded(script, 2)
    assert guard._guarded(script, 4) and guard._guarded(script, 5)
    assert guard._guarded(tmp_path / "missing.py", 2)  # unreadable: no false alarm


def test_no_check_outside_a_script_body():
    guard.check_main_guard()  # pytest's own __main__ body is not running a sweep: nothing raised
