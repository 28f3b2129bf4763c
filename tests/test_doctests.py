"""The docstring examples of every slt module, run by the default test run (one test per module).

An example must print what its docstring says and raise no :class:`slt.errors.SLTWarning`
(a warning is turned into an error, so the example fails).  Modules that need torch are skipped
when it is absent (``import slt`` itself never needs it).  :data:`EXCLUDED` names the examples
that fail today in files this test may not fix, each with its failure; remove an entry with
its fix.
"""
from __future__ import annotations

import doctest
import importlib
import io
import warnings
from pathlib import Path

import pytest

import slt
from slt.errors import SLTWarning

ROOT = Path(slt.__file__).resolve().parent

# docstring example (DocTest name) -> how it fails today
EXCLUDED: dict[str, str] = {}


def module_names() -> list[str]:
    """Every module of the package with an example, from the files (nothing imported to list them)."""
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_or_skip(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "torch":
            pytest.skip(f"{name} needs torch")
        raise


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples(name: str):
    module = import_or_skip(name)
    found = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests = [t for t in found if t.examples and t.name not in EXCLUDED]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SLTWarning)
        for test in tests:
            runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_excluded_examples_exist():
    """An entry of EXCLUDED names a real example (a renamed function must not hide a new one)."""
    if not EXCLUDED:
        pytest.skip("no example is excluded")
    for name in EXCLUDED:
        module = import_or_skip(name.rsplit(".", 1)[0])
        assert any(t.name == name and t.examples for t in doctest.DocTestFinder().find(module)), name
