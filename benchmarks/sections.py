"""Sections of ``benchmarks/VALIDATION.md`` that one benchmark owns, between HTML comment markers.

``put_section(report, key, lines)`` replaces the block between ``<!-- key: begin -->`` and
``<!-- key: end -->``, or inserts it before the closing note on earlier figures (or at the end),
so that each script rewrites its own section and leaves the others (``validation.py`` keeps every
section it does not write).
"""
from __future__ import annotations

from pathlib import Path

FOOTER = "Figures measured at earlier stops"


def markers(key: str) -> tuple[str, str]:
    return f"<!-- {key}: begin -->", f"<!-- {key}: end -->"


def put_section(report: Path, key: str, lines: list[str]) -> None:
    """Write ``lines`` as the section ``key`` of ``report`` (see the module docstring)."""
    begin, end = markers(key)
    block = "\n".join([begin, *lines, end])
    text = report.read_text() if report.exists() else ""
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    elif FOOTER in text:
        i = text.index(FOOTER)
        text = text[:i] + block + "\n\n" + text[i:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    report.write_text(text)
