"""Hostile C files fail (or load) within seconds, in bounded memory, with one InputError."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from xaigen.errors import InputError
from xaigen.multipliers import load_multipliers
from xaigen.multipliers.c_model import MAX_OPERATIONS

HEAD = "uint16_t mul8u_H(uint8_t A, uint8_t B)\n{\n  uint16_t P;\n"


LIMIT_S = 60  # catches quadratic or worse blow-ups (minutes to hours), not a timing: a loaded 2-core machine took > 10 s


def _load_within(path, seconds: float = LIMIT_S):
    start = time.perf_counter()
    try:
        return load_multipliers(path, power_mw=0.1)
    finally:
        assert time.perf_counter() - start < seconds, "took too long"


@pytest.mark.parametrize("text,problem", [
    ("// PDK45_PWR = 0.4 mW\n" + "\n" * 40_000 + HEAD + "  P = A;\n  return P;\n}\n", None),
    ("/* MAE = 1\n" + "  \n" * 40_000 + "*/\n" + HEAD + "  P = A;\n  return P;\n}\n", None),
    (HEAD + "/*" * 50_000 + "\n  return P;\n}\n", "unterminated /\\* comment"),
    (HEAD + "  P = A" + " + A" * 120_000 + ";\n  return P;\n}\n", "more than 50000 operators"),
    (HEAD + "  P = " + "-" * 200_000 + "A;\n  return P;\n}\n", "more than 50000 operators"),
    (HEAD + "  P = " + "~" * 200_000 + "A;\n  return P;\n}\n", "more than 50000 operators"),
    (HEAD + "  P = " + "(" * 20_000 + "A" + ")" * 20_000 + ";\n  return P;\n}\n", None),
    (HEAD + "  P = " + "(A + " * 1000 + "A" + ")" * 1000 + ";\n  return P;\n}\n", None),
    (HEAD + "  P = " + "((A + B) + " * 1000 + "A" + ")" * 1000 + ";\n  return P;\n}\n", "nested too deeply"),
    ("// PDK45_PWR = 1.2.3 mW\n" + HEAD + "  P = A;\n  return P;\n}\n", r"line 1: 'PDK45_PWR = 1.2.3 mW'"),
    ("// PDK45_AREA = 1e999 um2\n" + HEAD + "  P = A;\n  return P;\n}\n", "is not a finite number"),
])
def test_hostile_c_files(tmp_path, text, problem):
    path = tmp_path / "mul8u_H.c"
    path.write_text(text)
    if problem is None:
        (m,) = _load_within(path)
        assert m.table.shape == (256, 256)
    else:
        with pytest.raises(InputError, match=problem):
            _load_within(path)


def test_temporaries_are_freed_after_last_use(tmp_path):
    """A chain of 10,000 assignments, each used once: peak memory is a few arrays, not 10,000."""
    lines = [HEAD, "  uint16_t t0 = A;"]
    lines += [f"  uint16_t t{i} = t{i - 1} ^ B;" for i in range(1, 10_000)]
    lines += ["  P = t9999;", "  return P;", "}"]
    path = tmp_path / "mul8u_H.c"
    path.write_text("\n".join(lines))
    tracemalloc.start()
    try:
        (m,) = _load_within(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # keeping every temporary: 5,000 MiB
    a, b = np.arange(256)[:, None], np.arange(256)[None, :]
    assert np.array_equal(m.table, np.broadcast_to(a ^ (b * (10_000 % 2 == 0)), (256, 256)))


def test_too_many_live_temporaries_are_refused(tmp_path):
    lines = [HEAD] + [f"  uint16_t t{i} = A + {i};" for i in range(2000)]
    lines += ["  P = " + " | ".join(f"t{i}" for i in range(2000)) + ";", "  return P;", "}"]
    path = tmp_path / "mul8u_H.c"
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match="live variables"):
        _load_within(path)


def test_operation_budget_constant_is_what_the_message_says():
    assert MAX_OPERATIONS == 50_000
