import numpy as np
import pytest

from xaigen.multipliers import builtin_multipliers, drum, exact, exact_table, mitchell, operand_values, truncated
from xaigen.multipliers.families import EXACT_POWER_MW


@pytest.mark.parametrize("signed", [True, False])
def test_exact_is_exact_and_calibrated(signed):
    m = exact(signed)
    assert m.is_exact
    v = operand_values(signed)
    assert m.multiply(v[3], v[200]) == v[3] * v[200]
    assert m.power_mw == EXACT_POWER_MW[signed]
    assert EXACT_POWER_MW[True] == 0.425


def test_signed_bit_pattern_indexing():
    t = exact_table(True)
    assert t[253, 2] == -6  # -3 * 2
    assert t[128, 128] == 16384  # -128 * -128


@pytest.mark.parametrize("signed", [True, False])
def test_truncation_drops_low_columns_only(signed):
    m = truncated(signed, 4)
    err = m.error_table
    v = operand_values(signed)
    # Products of operands whose low bits are all zero are unaffected.
    idx = [i for i in range(256) if i % 16 == 0]
    assert not err[np.ix_(idx, idx)].any()
    assert np.abs(err).max() <= sum(2 ** (i + j) for i in range(8) for j in range(8) if i + j < 4)
    assert m.power_mw == pytest.approx(EXACT_POWER_MW[signed] * (64 - 10) / 64, abs=1e-6)
    assert v.shape == (256,)


def test_drum_keeps_small_operands_exact():
    m = drum(True, 4)
    v = operand_values(True)
    small = np.flatnonzero(np.abs(v) < 16)
    assert not m.error_table[np.ix_(small, small)].any()
    assert m.error_table.any()


def test_mitchell_underestimates_and_is_exact_on_powers_of_two():
    m = mitchell(False)
    err = m.error_table
    assert (err <= 0).all()
    powers = [1, 2, 4, 8, 16, 32, 64, 128]
    assert not err[np.ix_(powers, np.arange(256))].any()


def test_builtin_names_unique_and_power_below_exact():
    ms = builtin_multipliers()
    assert len({m.name for m in ms}) == len(ms)
    for m in ms:
        assert 0 < m.power_mw <= EXACT_POWER_MW[m.signed]
