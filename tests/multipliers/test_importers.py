import json

import numpy as np
import pytest

from xaigen.errors import InputError
from xaigen.multipliers import Catalogue, load_multipliers, save_multiplier, truncated


def _evoapprox_style_c(name: str, columns: int, power: float) -> str:
    """An EvoApproxLib-style straight-line C model of a truncated unsigned array multiplier."""
    lines = [f"// PDK45_PWR = {power} mW", "// PDK45_AREA = 321.5 um2", "// PDK45_DELAY = 1.11 ns",
             "#include <stdint.h>", f"uint16_t {name}(uint8_t B, uint8_t A)", "{", "  uint16_t P, O;"]
    terms = []
    for i in range(8):
        for j in range(8):
            if i + j >= columns:
                lines.append(f"  uint8_t S_{i}_{j} = (((A >> {i}) & 1) & ((B >> {j}) & 1));")
                terms.append((i + j, f"S_{i}_{j}"))
    lines.append("  O = 0;")
    for shift, var in terms:
        lines.append(f"  O += ((uint16_t){var}) << {shift};")  # ripple sums written as additions
    lines += ["  P = O;", "  return P;", "}"]
    return "\n".join(lines) + "\n"


def test_c_model_evaluates_without_compiler(tmp_path):
    path = tmp_path / "mul8u_TEST.c"
    path.write_text(_evoapprox_style_c("mul8u_TEST", 5, 0.25))
    (m,) = load_multipliers(path)
    assert m.name == "mul8u_TEST" and not m.signed
    assert np.array_equal(m.table, truncated(False, 5).table)
    assert m.power_mw == 0.25 and m.area_um2 == 321.5 and m.delay_ns == 1.11


def test_c_model_operators_and_casts(tmp_path):
    path = tmp_path / "mul8s_OPS.c"
    path.write_text("""
int16_t mul8s_OPS(int8_t A, int8_t B) {
  int16_t P;
  uint8_t x = (A ^ B) | ~A;  /* comment */
  P = (A << 1) - B;
  P ^= x & 0x0Fu;
  P = P + !A;
  return P;
}
""")
    (m,) = load_multipliers(path)
    a = np.arange(256)[:, None]
    b = np.arange(256)[None, :]
    av = np.where(a >= 128, a - 256, a)
    bv = np.where(b >= 128, b - 256, b)
    x = ((av ^ bv) | ~av) & 0xFF
    p = ((av << 1) - bv) ^ (x & 0x0F)
    p = p + (av == 0)
    expected = ((p + 2**15) % 2**16) - 2**15
    assert np.array_equal(m.table, np.broadcast_to(expected, (256, 256)))


@pytest.mark.parametrize("body,problem", [
    ("int16_t mul8s_X(int8_t A, int8_t B) { int16_t P; P = A * B; return P; }", "unsupported C syntax"),
    ("int16_t mul8s_X(int8_t A, int8_t B) { int16_t P; if (A) P = 1; return P; }", "unsupported"),
    ("int16_t mul8s_X(int8_t A, int8_t B) { int16_t P; P = Q; return P; }", "before it is assigned"),
    ("int main() { return 0; }", "no function"),
])
def test_c_model_rejects_unsupported_syntax(tmp_path, body, problem):
    path = tmp_path / "bad.c"
    path.write_text(body)
    with pytest.raises(InputError, match=problem) as info:
        load_multipliers(path)
    assert str(path) in str(info.value)


def test_bin_roundtrip_signed(tmp_path):
    m = truncated(True, 6)
    path = tmp_path / "mul8s_T6.bin"
    (m.table.astype(np.int64) & 0xFFFF).astype("<u2").tofile(path)
    (loaded,) = load_multipliers(path, power_mw=0.3)
    assert loaded.signed and np.array_equal(loaded.table, m.table) and loaded.power_mw == 0.3


def test_npy_needs_signedness(tmp_path):
    path = tmp_path / "table.npy"
    np.save(path, truncated(False, 4).table)
    with pytest.raises(InputError, match="signed"):
        load_multipliers(path)
    (m,) = load_multipliers(path, signed=False)
    assert m.name == "table"


def test_npz_with_sidecar(tmp_path):
    path = tmp_path / "lib.npz"
    np.savez(path, mul8u_A=truncated(False, 2).table, mine=truncated(False, 3).table)
    (tmp_path / "lib.json").write_text(json.dumps({"mine": {"signed": False, "power_mw": 0.2}}))
    ms = {m.name: m for m in load_multipliers(path)}
    assert ms["mine"].power_mw == 0.2 and not ms["mul8u_A"].signed


@pytest.mark.parametrize("content,problem", [
    (b"\x00" * 100, "bytes, expected 131072"),
])
def test_bad_bin(tmp_path, content, problem):
    path = tmp_path / "mul8u_bad.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem):
        load_multipliers(path)


def test_out_of_range_products(tmp_path):
    path = tmp_path / "mul8s_big.npy"
    table = np.zeros((256, 256), np.int64)
    table[3, 4] = 70000
    np.save(path, table)
    with pytest.raises(InputError, match=r"70000 at \[3, 4\]"):
        load_multipliers(path)


def test_user_catalogue_persists(tmp_path):
    m = load_multipliers_from_table(tmp_path)
    save_multiplier(m)
    cat = Catalogue.default()
    assert "mul8u_SAVED" in cat and np.array_equal(cat["mul8u_SAVED"].table, m.table)


def load_multipliers_from_table(tmp_path):
    path = tmp_path / "mul8u_SAVED.npy"
    np.save(path, truncated(False, 7).table)
    return load_multipliers(path, power_mw=0.1)[0]


def test_shared_evoapprox_loads(evoapprox):
    assert len(evoapprox) == 50
    assert sum(m.signed for m in evoapprox.values()) == 13
    assert evoapprox["mul8s_1KV6"].is_exact and evoapprox["mul8u_1JJQ"].is_exact
    assert evoapprox["mul8s_1L12"].power_mw == pytest.approx(0.052)
