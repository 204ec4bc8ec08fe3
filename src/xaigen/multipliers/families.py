"""Parametric approximate-multiplier families generated in code, with a first-order power model.

Families (each in a signed and an unsigned flavour):

* ``exact``       the exact array multiplier.
* ``trunc``       column truncation of the partial-product array: every partial-product bit
                  ``a_i b_j`` with ``i + j < c`` is dropped (c = number of dropped columns). For
                  signed operands the array is the Baugh-Wooley one, whose bits ``a_7 b_j`` and
                  ``a_i b_7`` (one index 7) carry negative weight.
* ``drum``        DRUM (Hashemi, Bahar, Reda, ICCAD 2015): each magnitude keeps only ``k`` bits
                  from its leading one, the lowest kept bit forced to 1 (unbiasing), then a
                  ``k x k`` exact multiply and a shift. Signed operands use sign-magnitude.
* ``mitchell``    Mitchell's logarithmic multiplier (IRE Trans. 1962): ``log2 x ~ n + f``, add,
                  piecewise-linear antilog. Signed operands use sign-magnitude.

Power model (an estimate, not a synthesis result; the assumptions, stated so that they can be
checked): an 8x8 array multiplier's dynamic power is dominated by its partial-product AND gates
and the full adders that reduce them, and both scale with the number of partial-product bits.
So ``P = P_exact * (kept partial-product bits / 64)`` for ``trunc``. DRUM keeps a ``k x k``
core (``k^2`` bits) and adds two leading-one detectors, two shifters and an output shifter,
modelled as a fixed 20% of the exact power. Mitchell replaces the array by two leading-one
detectors, one 14-bit adder and shifters, modelled as 30% of the exact power. ``P_exact`` is
calibrated to 0.425 mW (signed) / 0.391 mW (unsigned), the exact EvoApproxLib 8x8 circuits
(45 nm, ``mul8s_1KV6`` / ``mul8u_1JJQ``), and area scales the same way from 729.8 / 710.0 um^2.
Delay is left as the exact circuit's delay times the same factor, a coarse proxy.
"""

from __future__ import annotations

import numpy as np

from xaigen.multipliers.multiplier import Multiplier, operand_values

EXACT_POWER_MW = {True: 0.425, False: 0.391}
EXACT_AREA_UM2 = {True: 729.8, False: 710.0}
EXACT_DELAY_NS = {True: 1.43, False: 1.43}
DRUM_OVERHEAD = 0.20
MITCHELL_FRACTION = 0.30


def _kind(signed: bool) -> str:
    return "s8" if signed else "u8"


def _make(name: str, signed: bool, table: np.ndarray, fraction: float, description: str) -> Multiplier:
    return Multiplier(
        name=name,
        signed=signed,
        table=table,
        power_mw=round(EXACT_POWER_MW[signed] * fraction, 6),
        area_um2=round(EXACT_AREA_UM2[signed] * fraction, 3),
        delay_ns=round(EXACT_DELAY_NS[signed] * min(1.0, fraction + 0.2), 4),
        source="builtin",
        description=description,
    )


def _wrap_product(product: np.ndarray, signed: bool) -> np.ndarray:
    """Reduce to the 16-bit output word the circuit produces (two's complement if signed)."""
    word = product.astype(np.int64) & 0xFFFF
    if signed:
        word = np.where(word >= 2**15, word - 2**16, word)
    return word.astype(np.int32)


def exact(signed: bool) -> Multiplier:
    v = operand_values(signed)
    return _make(f"exact_{_kind(signed)}", signed, np.outer(v, v), 1.0, "exact 8x8 array multiplier")


def truncated(signed: bool, columns: int) -> Multiplier:
    """Array multiplier with the ``columns`` least-significant partial-product columns removed."""
    if not 1 <= columns <= 14:
        raise ValueError("columns must be in 1..14")
    codes = np.arange(256, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(8)) & 1  # [256, 8]
    v = operand_values(signed)
    product = np.outer(v, v)
    dropped = 0
    for i in range(8):
        for j in range(8):
            if i + j < columns:
                weight = 2 ** (i + j)
                if signed and (i == 7) != (j == 7):
                    weight = -weight
                product = product - weight * np.outer(bits[:, i], bits[:, j])
                dropped += 1
    return _make(
        f"trunc_{_kind(signed)}_c{columns}",
        signed,
        _wrap_product(product, signed),
        (64 - dropped) / 64,
        f"array multiplier, {columns} low partial-product columns truncated",
    )


def _magnitude_and_sign(signed: bool) -> tuple[np.ndarray, np.ndarray]:
    v = operand_values(signed)
    return np.abs(v), np.sign(v)


def _leading_one(x: np.ndarray) -> np.ndarray:
    """Index of the leading one of each positive integer (x > 0)."""
    return np.floor(np.log2(np.maximum(x, 1))).astype(np.int64)


def drum(signed: bool, k: int) -> Multiplier:
    """DRUM-k dynamic-range unbiased multiplier."""
    if not 2 <= k <= 8:
        raise ValueError("k must be in 2..8")
    mag, sign = _magnitude_and_sign(signed)

    def approx(x: np.ndarray) -> np.ndarray:
        lead = _leading_one(x)
        shift = np.maximum(lead - (k - 1), 0)
        kept = x >> shift
        kept = np.where(shift > 0, kept | 1, kept)  # unbiasing: force the lowest kept bit to 1
        return np.where(x > 0, kept << shift, 0)

    am = approx(mag)
    product = np.outer(am, am) * np.outer(sign, sign)
    return _make(
        f"drum_{_kind(signed)}_k{k}",
        signed,
        _wrap_product(product, signed),
        min(1.0, k * k / 64 + DRUM_OVERHEAD),
        f"DRUM dynamic-range unbiased multiplier, {k}-bit core",
    )


def mitchell(signed: bool) -> Multiplier:
    """Mitchell logarithmic multiplier, computed exactly in integers (no truncation)."""
    mag, sign = _magnitude_and_sign(signed)
    a = mag[:, None]
    b = mag[None, :]
    ka = _leading_one(a)
    kb = _leading_one(b)
    fa = (a - (1 << ka)) << kb  # fractional part of a, scaled by 2^(ka+kb)
    fb = (b - (1 << kb)) << ka
    base = 1 << (ka + kb)
    product = np.where(fa + fb < base, base + fa + fb, 2 * (fa + fb))
    product = np.where((a > 0) & (b > 0), product, 0) * np.outer(sign, sign)
    return _make(
        f"mitchell_{_kind(signed)}",
        signed,
        _wrap_product(product, signed),
        MITCHELL_FRACTION,
        "Mitchell logarithmic multiplier",
    )


def builtin_multipliers() -> list[Multiplier]:
    """Every built-in multiplier, in a stable order."""
    out: list[Multiplier] = []
    for signed in (True, False):
        out.append(exact(signed))
        out.extend(truncated(signed, c) for c in (4, 6, 8, 10))
        out.extend(drum(signed, k) for k in (3, 4, 5, 6))
        out.append(mitchell(signed))
    return out
