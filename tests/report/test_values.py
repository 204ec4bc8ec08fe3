"""How values read in a report: a missing or undefined figure is a word, never "nan" or "None"."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xaigen.report.tables import Column, Table
from xaigen.report.values import MISSING, Spread, csv_value, over, show


def test_zero_is_a_number_not_missing():
    """The old report wrote `value or float('nan')`: a Spearman of exactly 0.0 read "nan"."""
    assert show(0.0) == "0.000"
    assert show(0, "ratio", 2) == "0.00×"
    assert show(0.0, "points", 1) == "0.0"


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, "", [1]])
def test_undefined_values_read_as_a_word(value):
    assert show(value) == MISSING
    assert show(value, missing="not measured") == "not measured"


@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9),
                 st.booleans(), st.text(max_size=5)))
def test_no_value_reads_nan_or_none(value):
    for kind in ("number", "ratio", "points", "percent", "int", "flag"):
        text = show(value, kind)
        if not isinstance(value, str):
            assert text.lower() not in ("nan", "none", "inf", "-inf") and "nan" not in text.lower()


def test_one_run_gives_the_value_several_give_mean_and_spread():
    assert over([{"a": 2.0}], lambda r: r["a"]) == 2.0
    spread = over([{"a": 1.0}, {"a": 3.0}, {}], lambda r: r["a"])  # a run without the figure counts as missing
    assert isinstance(spread, Spread) and (spread.mean, spread.n, spread.low, spread.high) == (2.0, 2, 1.0, 3.0)
    assert spread.std == pytest.approx(2**0.5)
    assert show(spread, "ratio", 2) == "2.00× ± 1.41 (n=2 of 3)"
    assert show(over([{"a": 1.0}, {"a": 3.0}], lambda r: r["a"])) == "2.000 ± 1.414"
    assert show(over([{"a": 5}, {"a": 5}], lambda r: r["a"]), "int") == "5"  # the same in every run
    assert over([{}, {}], lambda r: r["a"]) is None


def test_table_csv_keeps_precision_leaves_undefined_empty_and_adds_std_columns():
    table = Table("t", [Column("name", "text"), Column("value"), Column("spread"), Column("loss (points)", "points"),
                        Column("accuracy", "percent")],
                  [["a", 1 / 3, Spread(2.0, 0.5, 1.5, 2.5, 2), Spread(0.01, 0.002, 0.008, 0.012, 2), 0.5],
                   ["b", math.nan, 4.0, None, None]])
    lines = table.csv().splitlines()
    assert lines[0] == "name,value,spread,spread std,loss (points),loss (points) std,accuracy (%)"
    assert lines[1] == f"a,{1 / 3!r},2.0,0.5,1.0,0.2,50.0"  # in the unit the page shows
    assert lines[2] == "b,,4.0,,,,"
    assert csv_value(None) == "" and csv_value(True) is True
    page = table.html()
    assert 'id="table-t"' in page and "0.333" in page and MISSING in page and "nan" not in page
