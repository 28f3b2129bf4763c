"""The ``slt`` command: version, help texts with defaults, name checks."""
import argparse
import importlib
import re

import pytest

from slt import cli


class _Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def _parser(monkeypatch, command: str) -> argparse.ArgumentParser:
    """The parser a subcommand builds, captured at its parse_args call."""
    def capture(self, *args, **kwargs):
        raise _Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    module = importlib.import_module(cli.COMMANDS[command][0])
    with pytest.raises(_Captured) as info:
        module.main([])
    return info.value.parser


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"slt \d+\.\d+\S*", out), out
    assert "--version" in cli._usage()


# slt/sweeps/cli.py (another owner) still passes its module docstring, with reST markup, as the
# description, and --no-progress has no help: shown as XFAIL until fixed, then XPASS
_PENDING: dict[str, str] = {}


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.xfail(reason=_PENDING[c], strict=False))
                                     if c in _PENDING else c for c in sorted(cli.COMMANDS)])
def test_every_option_has_help_and_shows_its_default(monkeypatch, command):
    parser = _parser(monkeypatch, command)
    text = parser.format_help()
    assert "``" not in text and ":func:" not in text and ":mod:" not in text, text  # no reST markup
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert action.help, f"slt {command} {name} has no help"
        if action.option_strings and action.default is not argparse.SUPPRESS:
            shown = parser._get_formatter()._get_help_string(action)
            assert "default" in shown or "required" in shown, f"slt {command} {name}: no default shown"


def test_figures_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["figures", "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "(default: paper_figures/out)" in out


def test_figures_list_marks_only_the_quick_set(capsys):
    from slt import figures

    assert cli.main(["figures", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = figures.discover()
    assert len(lines) == len(found)
    for line in lines:
        name = line.split()[0]
        assert ("(quick set)" in line) == (getattr(figures.load(found[name]), "QUICK", False) is True)


@pytest.mark.parametrize("argv", [["simulate", "--quick", "--potential", "nosuchname"],
                                  ["llc", "nosuchname", "--nbeta", "1e4"]])
def test_unknown_potential_names_are_rejected(capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown potential name 'nosuchname'" in err and "min_crossing" in err and "cusp" in err


def test_llc_rejects_a_point_that_is_not_a_minimum(capsys):
    assert cli.main(["llc", "x**2 - y**2", "--nbeta", "1e4"]) == 2
    assert "not a local minimum" in capsys.readouterr().err
    assert cli.main(["llc", "x**2 + y**4", "--nbeta", "1e4", "--point", "0.5", "0"]) == 2
    assert "not a local minimum" in capsys.readouterr().err


def test_simulate_rejects_a_potential_unbounded_below(capsys):
    assert cli.main(["simulate", "--quick", "--potential", "log(x**2) + y**2"]) == 2
    assert "not bounded below" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["simulate", "llc"])
def test_list_potentials(capsys, command):
    assert cli.main([command, "--list-potentials"]) == 0
    out = capsys.readouterr().out
    for name in ("x2y2", "cusp", "min_crossing"):
        assert re.search(rf"^{re.escape(name)}\s", out, re.M)
    assert "λ = 5/12" in out
