"""Sign-magnitude forms: table, naming, figures, provenance and the exact reference rule."""

import numpy as np
import pytest

from xaigen.errors import InputError
from xaigen.multipliers import Catalogue, error_metrics, sign_magnitude, sign_magnitude_table
from xaigen.multipliers.sign_magnitude import circuit_name_of


@pytest.fixture(scope="module")
def cat():
    return Catalogue.default(include_user=False)


def test_table_is_sign_times_unsigned_product_of_magnitudes(cat):
    p = cat["mul8u_17R6"].table
    t = sign_magnitude_table(p)
    for a in (-128, -127, -5, -1, 0, 1, 7, 127):
        for w in (-128, -100, -1, 0, 3, 127):
            want = int(np.sign(a) * np.sign(w)) * int(p[abs(a), abs(w)])
            assert t[a & 0xFF, w & 0xFF] == want, (a, w)


def test_exact_unsigned_in_sign_magnitude_is_the_signed_exact(cat):
    """sign(a) sign(w) |a| |w| = a w: bit-identical tables."""
    for name in ("exact_u8", "mul8u_1JJQ"):
        m = cat[f"{name}+sm"]
        assert m.signed and m.is_exact and np.array_equal(m.table, cat["exact_s8"].table)


@pytest.mark.parametrize("circuit", ["mul8u_17R6", "mul8u_DG8", "trunc_u8_c8", "mul8u_18UH"])
def test_rank_is_at_most_the_circuits(cat, circuit):
    p = cat[circuit].table.astype(np.float64)
    t = cat[f"{circuit}+sm"].table.astype(np.float64)
    assert np.linalg.matrix_rank(t) <= np.linalg.matrix_rank(p)


def test_figures_provenance_and_signed_domain_metrics(cat):
    u, m = cat["mul8u_17R6"], cat["mul8u_17R6+sm"]
    assert m.name == "mul8u_17R6+sm" and m.signed and not m.native and not m.circuit_signed
    assert (m.power_mw, m.area_um2, m.delay_ns) == (u.power_mw, u.area_um2, u.delay_ns)
    assert m.derivation.circuit == "mul8u_17R6" and m.derivation.mapping == "sign-magnitude"
    assert m.derivation.metrics == error_metrics(m).as_dict()
    assert m.derivation.metrics != error_metrics(u).as_dict()  # recomputed, not copied from the unsigned domain
    assert m.published == {}  # the library's figures describe unsigned operands
    assert m.summary()["derived"]["circuit"] == "mul8u_17R6"
    assert m.summary()["derived"]["reference_exact"] == "exact_u8"  # recorded where it was derived
    assert "derived" not in u.summary()


def test_reference_exact_follows_the_circuits_signedness(cat):
    assert cat.reference_exact("mul8u_17R6+sm").name == "exact_u8"
    assert cat.reference_exact("mul8u_17R6").name == "exact_u8"
    assert cat.reference_exact("mul8s_1L2N").name == "exact_s8"
    assert cat.reference_exact("exact_u8+sm").power_mw == pytest.approx(0.391)
    assert cat.reference_exact("exact_s8").power_mw == pytest.approx(0.425)


def test_signed_exact_is_never_a_derived_form(cat):
    """exact_u8+sm is exact, signed and cheaper than exact_s8, yet the signed exact circuit (the
    default of every unassigned layer) stays the native one."""
    assert cat["exact_u8+sm"].power_mw < cat["exact_s8"].power_mw
    assert cat.exact(True).name == "exact_s8" and cat.exact(False).name == "exact_u8"


def test_names_resolve_only_for_unsigned_native_circuits(cat):
    assert circuit_name_of("mul8u_T83+sm") == "mul8u_T83" and circuit_name_of("+sm") is None
    assert circuit_name_of("mul8u_T83") is None
    for bad in ("exact_s8+sm", "nope+sm", "mul8u_T83+sm+sm"):
        with pytest.raises(InputError, match="unknown multiplier"):
            cat[bad]
    with pytest.raises(InputError, match="only an unsigned circuit"):
        sign_magnitude(cat["exact_s8"])
    fresh = Catalogue.default(include_user=False)
    assert "mul8u_T83+sm" not in fresh
    assert fresh["mul8u_T83+sm"].derivation.circuit == "mul8u_T83"  # derived on demand, then kept
    assert "mul8u_T83+sm" in fresh and "mul8u_T83+sm" in [m.name for m in fresh]


def test_power_zero_circuit_has_an_unusable_form(cat):
    assert not cat["mul8u_TD3+sm"].has_usable_power
    assert cat.usable(["mul8u_TD3+sm", "mul8u_T83+sm"]) == (["mul8u_T83+sm"], ["mul8u_TD3+sm"])
