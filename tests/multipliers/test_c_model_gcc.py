"""The C importer against the C compiler: every product of generated EvoApproxLib-style models.

The table convention is what the compiled function returns when called as ``f(a, b)``, ``a``
the row; models declared ``(B, A)`` (as EvoApproxLib often does) must not come out transposed.
Skipped when no ``gcc`` is installed.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import numpy as np
import pytest

from xaigen.multipliers import load_multipliers

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc not installed")

HARNESS = """
#include <stdint.h>
#include <stdio.h>
{model}
int main(void) {{
  for (int a = 0; a < 256; a++)
    for (int b = 0; b < 256; b++) {{
      int32_t v = ({word})({name}(({operand})a, ({operand})b));
      fwrite(&v, sizeof v, 1, stdout);
    }}
  return 0;
}}
"""


def _compiled_table(tmp_path, source: str, name: str, operand: str, signed: bool) -> np.ndarray:
    c_file, exe = tmp_path / f"{name}_harness.c", tmp_path / f"{name}_harness"
    word = "int16_t" if signed else "uint16_t"
    c_file.write_text(HARNESS.format(model=source, name=name, operand=operand, word=word))
    subprocess.run([GCC, "-O1", "-fwrapv", "-o", str(exe), str(c_file)], check=True, timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(out, dtype=np.int32).reshape(256, 256)


def _random_model(rng: random.Random, name: str, operand: str, params: tuple[str, str]) -> str:
    """Straight-line bit logic over both operands, deliberately asymmetric in them."""
    p1, p2 = params
    lines = [f"uint16_t {name}(const {operand} {p1}, const {operand} {p2})", "{", "  uint16_t P;"]
    names = [p1, p2]
    for i in range(40):
        x, y = rng.choice(names), rng.choice(names)
        k = rng.randrange(8)
        term = rng.choice([
            f"(({x} >> {k}) & 1) & (({y} >> {rng.randrange(8)}) & 1)", f"{x} ^ ({y} << {k % 3})",
            f"~{x} | {y}", f"(uint8_t)({x} + {y})", f"{x} - ({y} >> 1)", f"!{x} + ({y} & 0x{k:X}u)",
            f"(({x} & 0x0F) << 4) | ({y} >> 4)", f"-{x} & 0xFF",
        ])
        ctype = rng.choice(["uint8_t", "uint16_t", "int16_t"])
        lines.append(f"  {ctype} t{i} = {term};")
        names.append(f"t{i}")
    lines.append("  P = " + " + ".join(f"(t{i} << {i % 9})" for i in range(30, 40)) + f" + ({p1} << 8) + {p2};")
    lines += ["  return P;", "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed,operand,params,signed", [
    (1, "uint64_t", ("B", "A"), False),
    (2, "uint8_t", ("A", "B"), False),
    (3, "uint8_t", ("B", "A"), True),
    (4, "int8_t", ("y", "x"), True),
])
def test_every_product_matches_gcc(tmp_path, seed, operand, params, signed):
    name = f"mul8{'s' if signed else 'u'}_G{seed}"
    source = _random_model(random.Random(seed), name, operand, params)
    path = tmp_path / f"{name}.c"
    path.write_text(source)
    (imported,) = load_multipliers(path, power_mw=0.1)
    expected = _compiled_table(tmp_path, source, name, operand, signed)
    assert not np.array_equal(expected, expected.T), "the model must be asymmetric to test operand order"
    mismatches = np.argwhere(imported.table != expected)
    assert mismatches.size == 0, f"{len(mismatches)} products differ, first at {mismatches[0].tolist()}"


def test_evoapprox_b_a_declaration_is_not_transposed(tmp_path):
    """``mulXX(B, A)`` returning ``A`` alone: row index = first argument."""
    source = "uint16_t mul8u_FIRST(const uint64_t B, const uint64_t A) { return B + (A & 0); }\n"
    path = tmp_path / "mul8u_FIRST.c"
    path.write_text(source)
    (imported,) = load_multipliers(path, power_mw=0.1)
    assert np.array_equal(imported.table, _compiled_table(tmp_path, source, "mul8u_FIRST", "uint64_t", False))
    assert imported.table[5, 200] == 5
