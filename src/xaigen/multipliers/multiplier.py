"""The 8x8 approximate multiplier: a product table plus its physical figures.

Indexing convention (the same as EvoApproxLib tables and ``xaigen multipliers export``):
``table[a_bits, b_bits]`` is the circuit's output for the raw 8-bit operand patterns. For a signed
multiplier a pattern is the two's complement of the operand (-3 is index 253) and the output is
the signed product; for an unsigned one index = value and the output is the unsigned product.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from xaigen.errors import InputError

SIGNED_PRODUCT_RANGE = (-(2**15), 2**15 - 1)
UNSIGNED_PRODUCT_RANGE = (0, 2**16 - 1)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


def validate_name(name: object, source: str = "name") -> str:
    """``name`` if it is a valid catalogue name (also a safe file name), else :class:`InputError`."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InputError(source, f"invalid multiplier name {name!r}: 1-100 letters, digits, _ . + -, "
                         "starting with a letter or digit")
    return name


def finite_or_none(value: float | None) -> float | None:
    """``value`` unless it is None, NaN or infinite (JSON has no NaN: unknown figures are null)."""
    return value if value is not None and math.isfinite(value) else None


def operand_values(signed: bool) -> np.ndarray:
    """Operand value for each of the 256 bit patterns (int64[256])."""
    codes = np.arange(256, dtype=np.int64)
    return np.where(codes >= 128, codes - 256, codes) if signed else codes


def exact_table(signed: bool) -> np.ndarray:
    """The exact product table (int32[256, 256]) in the indexing convention above."""
    v = operand_values(signed)
    return np.outer(v, v).astype(np.int32)


@dataclass(frozen=True)
class Derivation:
    """How a multiplier was derived from another circuit of the catalogue (see
    :mod:`xaigen.multipliers.sign_magnitude`).

    Attributes:
        circuit: catalogue name of the physical circuit (its power, area and delay are this one's).
        mapping: how operands reach that circuit (``"sign-magnitude"``).
        circuit_signed: the physical circuit's own signedness; it picks the exact multiplier that
            is this multiplier's energy reference (:meth:`Catalogue.reference_exact`).
        metrics: uniform error metrics recomputed on this multiplier's own (signed) operand domain.
        reference_exact: name of the exact circuit it is compared with, as the catalogue that
            derived it resolved it (None until a catalogue does).
    """

    circuit: str
    mapping: str
    circuit_signed: bool
    metrics: dict = field(default_factory=dict)
    reference_exact: str | None = None

    def as_dict(self) -> dict:
        return {"circuit": self.circuit, "mapping": self.mapping, "circuit_signed": self.circuit_signed,
                "metrics": dict(self.metrics), "reference_exact": self.reference_exact}


@dataclass(frozen=True, eq=False)
class Multiplier:
    """An 8-bit multiplier circuit.

    Attributes:
        name: unique catalogue name.
        signed: two's complement operands (True) or unsigned operands (False).
        table: int32[256, 256] product table, see the module docstring for the indexing.
        power_mw: power of one multiplier instance (mW), at the characterisation clock.
        area_um2: cell area (um^2).
        delay_ns: critical-path delay (ns).
        source: where the circuit came from (``builtin:...``, a file path, ``evoapprox``...).
        description: one line for humans.
        derivation: None for a circuit used as it is; how it maps another circuit otherwise.
    """

    name: str
    signed: bool
    table: np.ndarray
    power_mw: float
    area_um2: float | None = None
    delay_ns: float | None = None
    source: str = "builtin"
    description: str = ""
    published: dict = field(default_factory=dict)
    derivation: Derivation | None = None

    def __post_init__(self) -> None:
        table = np.ascontiguousarray(self.table, dtype=np.int32)
        table.setflags(write=False)
        object.__setattr__(self, "table", table)

    @property
    def values(self) -> np.ndarray:
        """Operand value of each bit pattern (int64[256])."""
        return operand_values(self.signed)

    @property
    def error_table(self) -> np.ndarray:
        """``table - exact`` as int64[256, 256]."""
        v = self.values
        return self.table.astype(np.int64) - np.outer(v, v)

    @property
    def has_usable_power(self) -> bool:
        """Whether ``power_mw`` is a finite positive figure that energy ratios and logs can use.

        False for a table imported without power (NaN) and for a circuit published at 0 mW
        (e.g. ``mul8u_TD3``, a constant-0 output): such a circuit cannot be a search candidate.
        """
        return math.isfinite(self.power_mw) and self.power_mw > 0

    @property
    def native(self) -> bool:
        """Whether this is a circuit used as it is (not derived from another one)."""
        return self.derivation is None

    @property
    def circuit_signed(self) -> bool:
        """Signedness of the physical circuit: ``signed`` unless derived (a sign-magnitude form
        is signed on its operands but runs an unsigned circuit)."""
        return self.signed if self.derivation is None else self.derivation.circuit_signed

    @property
    def is_exact(self) -> bool:
        return not np.any(self.error_table)

    def multiply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Approximate products of operand *values* ``a`` and ``b`` (broadcast, int64)."""
        a = np.asarray(a, dtype=np.int64) & 0xFF
        b = np.asarray(b, dtype=np.int64) & 0xFF
        return self.table[a, b].astype(np.int64)

    def summary(self) -> dict:
        """Plain-data description (no table) for listings and JSON; unknown figures are None.
        A derived multiplier also says what it is derived from (``derived``)."""
        out = {
            "name": self.name,
            "signed": self.signed,
            "power_mw": finite_or_none(self.power_mw),
            "area_um2": finite_or_none(self.area_um2),
            "delay_ns": finite_or_none(self.delay_ns),
            "source": self.source,
            "description": self.description,
        }
        if self.derivation is not None:
            out["derived"] = self.derivation.as_dict()
        return out
