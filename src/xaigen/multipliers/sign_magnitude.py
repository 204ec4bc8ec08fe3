"""Unsigned circuits used in sign-magnitude: the circuit multiplies magnitudes, the sign comes after.

An unsigned 8x8 circuit ``P[x, y]`` (``x, y`` in 0..255) in a sign-magnitude datapath, on the
ordinary int8 codes ``a, w`` in [-128, 127] of symmetric quantization, computes

    T[a, w] = sign(a) * sign(w) * P[|a|, |w|]          (|-128| = 128 fits the unsigned operand)

The circuit sees the magnitudes; the product's sign is the XOR of the operand signs, applied to
the circuit's output (the accumulator adds or subtracts it). ``T`` is a signed product table on
the int8 codes, so it is an ordinary signed :class:`~xaigen.multipliers.Multiplier` and every
signed emulation path runs it unchanged and bit-exactly. Its rank is at most the circuit's:
``T = sum_r [sign(a) u_r(|a|)] [sign(w) v_r(|w|)]`` for ``P = sum_r u_r v_r^T``.

Naming rule: the sign-magnitude form of circuit ``NAME`` is ``NAME+sm`` (e.g. ``mul8u_17R6+sm``).
A catalogue resolves such a name on demand from its unsigned circuit.

Physical figures: power, area and delay are the unsigned circuit's. The sign logic (one XOR, and
an add/subtract accumulator instead of an add-only one) is not charged: it is a few gates beside
an 8x8 array, and the operands are held in sign-magnitude form, so no conversion is charged either.
The energy reference of a sign-magnitude layer is the *unsigned* exact multiplier
(:meth:`xaigen.multipliers.Catalogue.reference_exact`). With the exact unsigned circuit the
mapping is bit-identical to the exact signed multiplier: ``sign(a) sign(w) |a| |w| = a w``.

Error metrics are recomputed on the signed domain (uniform over the 65536 int8 code pairs) and
kept in :attr:`Multiplier.derivation`; the library's published metrics (unsigned domain) are not
carried over, as they describe other operands.

Limitation: magnitudes are at most 128, so the circuit's top operand bit is used only for -128
and the circuit's rows and columns 129..255 are never exercised. A 9-bit sign-magnitude scheme
(a sign plus a full 8-bit magnitude, |v| <= 255) would use the whole circuit but needs other
quantization codes; it is not built.
"""

from __future__ import annotations

import numpy as np

from xaigen.errors import InputError
from xaigen.multipliers.metrics import error_metrics
from xaigen.multipliers.multiplier import Derivation, Multiplier, operand_values, validate_name

SIGN_MAGNITUDE = "sign-magnitude"
SUFFIX = "+sm"


def sign_magnitude_name(circuit_name: str) -> str:
    """The catalogue name of the sign-magnitude form of the circuit ``circuit_name``."""
    return f"{circuit_name}{SUFFIX}"


def circuit_name_of(name: str) -> str | None:
    """The circuit a sign-magnitude name refers to, or None if ``name`` is not one."""
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) and len(name) > len(SUFFIX) else None


def sign_magnitude_table(unsigned_table: np.ndarray) -> np.ndarray:
    """``T[a_bits, w_bits] = sign(a) sign(w) P[|a|, |w|]`` as int32[256, 256], indexed by the
    two's complement bit patterns of the int8 codes (the signed table convention)."""
    p = np.asarray(unsigned_table, dtype=np.int64)
    v = operand_values(signed=True)  # value of each bit pattern, -128..127
    magnitude, sign = np.abs(v), np.sign(v)
    return (np.outer(sign, sign) * p[np.ix_(magnitude, magnitude)]).astype(np.int32)


def sign_magnitude(circuit: Multiplier) -> Multiplier:
    """The signed multiplier that runs the unsigned ``circuit`` in sign-magnitude (module docstring)."""
    if circuit.signed or not circuit.native:
        raise InputError(circuit.name, "only an unsigned circuit used as it is has a sign-magnitude form")
    name = validate_name(sign_magnitude_name(circuit.name))
    table = sign_magnitude_table(circuit.table)
    provisional = Multiplier(name, True, table, circuit.power_mw)
    derivation = Derivation(circuit.name, SIGN_MAGNITUDE, False, error_metrics(provisional).as_dict())
    return Multiplier(name, True, table, circuit.power_mw, circuit.area_um2, circuit.delay_ns, circuit.source,
                      f"{circuit.name} in sign-magnitude: sign(a) sign(w) P[|a|, |w|]", {}, derivation)
