"""Short printed summaries: numbers to a few significant digits with units, and small tables.

Scripts (``simulations/``, ``paper_figures/``, ``examples/``) print their results through
these helpers, so every printout reads the same way: 3–4 significant digits, a value with its
standard error rounded to the error's second digit, units in the column headers, and
"not computed" (never ``None`` or ``nan``) for a value a run did not produce.

Example
-------
>>> print(table([{"h": 2, "kl": 72.31234, "llc": None}, {"h": 8, "kl": 85.9, "llc": 1.98765}],
...             [Column("h"), Column("kl", "KL", "nats"), Column("llc", "LLC")]))
h  KL (nats)  LLC
2  72.31      not computed
8  85.90      1.988
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["MISSING", "Column", "number", "quantity", "table"]

MISSING = "not computed"


def _real(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, nan, inf, a non-number)."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def number(value: Any, *, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits (trailing zeros kept; |x| ≥ 10^digits whole up to
    1e7; very small or large values in scientific notation, as Python's ``g`` format); integers
    whole; :data:`MISSING` for None or a non-finite value; strings as they are, booleans yes / no.

    >>> number(162.2354736428447), number(4.333333333333333, digits=3), number(None), number(2.5e-6)
    ('162.2', '4.33', 'not computed', '2.500e-06')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = _real(value)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    if 10 ** digits <= abs(v) < 1e7:
        return f"{v:.0f}"
    text = f"{v:#.{digits}g}"  # "#": keep trailing zeros, so every number shows its digits
    return text[:-1] if text.endswith(".") else text


def quantity(value: Any, unit: str = "", *, se: Any = None, digits: int = 4) -> str:
    """A value with its unit; with a standard error ``se`` the value is rounded to the second
    significant digit of se, which follows after a plus-minus sign (a missing or zero se is left
    out): 0.748912 with se 0.0061873 reads 0.7489, then 0.0062.

    >>> quantity(162.2354736428447, "nats"), quantity(None, "nats"), quantity(0.748912, se=0.0061873)[:6]
    ('162.2 nats', 'not computed', '0.7489')
    """
    v, s = _real(value), _real(se)
    if v is None:
        return MISSING
    if s is None or s <= 0:
        text = number(v, digits=digits)
    else:
        decimals = max(0, 1 - math.floor(math.log10(s)))
        text = f"{v:.{decimals}f} ± {s:.{decimals}f}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class Column:
    """One column of :func:`table`: the row key, its header (default: the key), a unit shown in
    the header, the key of a standard error shown beside the value, and significant digits."""

    key: str
    header: str | None = None
    unit: str = ""
    se: str | None = None
    digits: int = 4

    def title(self) -> str:
        name = self.header or self.key
        return f"{name} ({self.unit})" if self.unit else name

    def cell(self, row: Mapping[str, Any]) -> str:
        value = row.get(self.key)
        if self.se is not None:
            return quantity(value, se=row.get(self.se), digits=self.digits)
        return number(value, digits=self.digits)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column | str], *, title: str | None = None,
          indent: str = "") -> str:
    """Rows (dicts) as a left-aligned plain-text table, two spaces between columns; a column is a
    :class:`Column` or a row key.  An optional ``title`` line comes first.

    >>> print(table([{"k": 1, "ratio": 1.00312}], ["k", Column("ratio", digits=3)], title="junction"))
    junction
    k  ratio
    1  1.00
    """
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    cells = [[c.title() for c in cols]] + [[c.cell(r) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    lines = [indent + "  ".join(t.ljust(w) for t, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(([title] if title else []) + lines)
