"""slt.report: numbers to a few significant digits with units, tables, never None."""
import math

import numpy as np

from slt.report import MISSING, Column, number, quantity, table


def test_number_keeps_a_few_significant_digits():
    assert number(162.2354736428447) == "162.2"
    assert number(4.333333333333333, digits=3) == "4.33"
    assert number(0.0694) == "0.06940" and number(1.0) == "1.000" and number(10.0) == "10.00"
    assert number(123456.7) == "123457" and number(2.5e-6) == "2.500e-06" and number(3.2e9) == "3.200e+09"
    assert number(7) == "7" and number(np.int64(719)) == "719" and number(np.float32(0.5)) == "0.5000"
    assert number(True) == "yes" and number("ok") == "ok" and number(0.0) == "0"


def test_missing_values_are_said_never_printed_as_none():
    for missing in (None, math.nan, np.nan, math.inf, np.float64("nan")):
        assert number(missing) == MISSING == quantity(missing, "nats") == "not computed"


def test_quantity_rounds_the_value_to_its_standard_error():
    assert quantity(0.748912, se=0.0061873) == "0.7489 ± 0.0062"
    assert quantity(2.538, se=0.067) == "2.538 ± 0.067"
    assert quantity(162.2354, se=25.3) == "162 ± 25"
    assert quantity(162.2354736428447, "nats") == "162.2 nats"
    assert quantity(1.5, se=None) == quantity(1.5, se=0.0) == quantity(1.5, se=math.nan) == "1.500"


def test_table_has_units_in_headers_and_aligned_columns():
    rows = [{"h": 2, "kl": 162.2354736428447, "rank": 4.333333333333333, "llc": None},
            {"h": 8, "kl": 85.9, "rank": 4.0, "llc": 1.98765, "se": 0.1234}]
    text = table(rows, [Column("h", "XOR h"), Column("kl", "KL", "nats"), Column("rank", "Hessian rank", digits=3),
                        Column("llc", "LLC", se="se")], title="pushforward KL")
    assert text.splitlines() == [
        "pushforward KL",
        "XOR h  KL (nats)  Hessian rank  LLC",
        "2      162.2      4.33          not computed",
        "8      85.90      4.00          1.99 ± 0.12",
    ]
    assert "None" not in text and "162.235" not in text
