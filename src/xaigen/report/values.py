"""How the report writes a value: a missing or undefined figure is a word, never "nan" or "None".

A figure measured over several seeds is a :class:`Spread` (mean ± sample standard deviation);
with one seed it stays a plain number.
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MISSING = "—"  # not applicable or nothing found (e.g. no choice within a budget)
NOT_MEASURED = "not measured"  # the run did not produce this figure


@dataclass(frozen=True)
class Spread:
    """A figure over seeds: mean, sample standard deviation (0 for one value), min, max, the count
    of runs that define it and of runs in all."""

    mean: float
    std: float
    low: float
    high: float
    n: int
    runs: int = 0  # 0: as many as n


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, NaN, infinite, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def over(runs: Iterable[Any], figure: Callable[[Any], Any]) -> Any:
    """``figure`` of each run: the value itself for one run, else a :class:`Spread` of the defined
    values (None when no run defines it). A getter that fails on a run (missing part) counts as missing."""
    values = []
    for run in runs:
        try:
            values.append(figure(run))
        except (AttributeError, KeyError, TypeError):
            values.append(None)
    if len(values) == 1:
        return values[0]
    defined = [v for v in (finite(x) for x in values) if v is not None]
    if not defined:
        return None
    return Spread(statistics.fmean(defined), statistics.stdev(defined) if len(defined) > 1 else 0.0,
                  min(defined), max(defined), len(defined), len(values))


def _number(value: float, kind: str, digits: int) -> str:
    if kind in ("points", "percent") and not math.isfinite(100 * value):
        return MISSING  # beyond float range once scaled: no figure a reader could use
    if kind == "ratio":
        return f"{value:.{digits}f}×"
    if kind == "points":  # a fraction shown in percentage points
        return f"{100 * value:.{digits}f}"
    if kind == "percent":
        return f"{100 * value:.{digits}f}%"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def show(value: Any, kind: str = "number", digits: int = 3, missing: str = MISSING) -> str:
    """Plain text of one value. ``kind``: number, ratio (×), points (fraction as percentage
    points), percent, int, flag (yes/no) or text. None, NaN and infinities read as ``missing``."""
    if isinstance(value, Spread):  # ± the sample std; the count only where some runs lack the figure
        same = value.low == value.high
        spread = "" if same else f" ± {_number(value.std, kind if kind != 'ratio' else 'number', digits)}"
        count = f" (n={value.n} of {value.runs})" if value.n < value.runs else ""
        return _number(value.mean, kind, digits) + spread + count
    if value is None:
        return missing
    if kind == "flag" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "text" or isinstance(value, str):
        return str(value) if str(value) else missing
    number = finite(value)
    return missing if number is None else _number(number, kind, digits)


def cell(value: Any, kind: str = "number", digits: int = 3, missing: str = MISSING) -> str:
    """:func:`show`, HTML-escaped."""
    return html.escape(show(value, kind, digits, missing))


SCALE = {"points": 100.0, "percent": 100.0}  # CSV numbers in the unit the column shows


def csv_value(value: Any, kind: str = "number") -> Any:
    """A value for a CSV cell in the column's unit (points and percent: x100), full precision;
    undefined as empty; a :class:`Spread` as its mean."""
    if isinstance(value, Spread):
        value = value.mean
    if value is None or isinstance(value, (str, bool)):
        return "" if value is None else value
    number = finite(value)
    if number is not None and kind == "int" and number.is_integer():
        return int(number)  # a count or a seed reads 3, not 3.0
    return "" if number is None else number * SCALE.get(kind, 1.0)
