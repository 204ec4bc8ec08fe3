"""Read multipliers from files users already have.

* ``.c``    EvoApproxLib behavioural model (see :mod:`xaigen.multipliers.c_model`).
* ``.npy``  one int[256, 256] table in the catalogue's indexing.
* ``.npz``  one or more named tables (e.g. ``evoapprox8.npz``); a sidecar ``<stem>.json`` with
            per-name ``signed``/``power_mw``/``area_um2``/``delay_ns`` is read when present.
* ``.bin``  TFApprox/ALWANN raw 256x256 little-endian uint16 products (65,536 x 2 bytes),
            indexed ``[a_bits * 256 + b_bits]``; for signed circuits the word is two's complement.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.multipliers.c_model import load_c_model
from xaigen.multipliers.multiplier import (
    SIGNED_PRODUCT_RANGE,
    UNSIGNED_PRODUCT_RANGE,
    Multiplier,
)

SUPPORTED_SUFFIXES = (".c", ".npy", ".npz", ".bin")


def _signed_from_name(name: str) -> bool | None:
    m = re.match(r"mul\d+([su])_", name)
    return (m.group(1) == "s") if m else None


def validate_table(table: np.ndarray, signed: bool, source: str, where: str | None = None) -> np.ndarray:
    """Check shape, integrality and the product range; return int32[256, 256]."""
    arr = np.asarray(table)
    if arr.shape != (256, 256):
        raise InputError(source, f"table has shape {arr.shape}, expected (256, 256)", where)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(source, f"table has dtype {arr.dtype}, expected integers", where)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError(source, "table has non-integer or non-finite values", where)
    lo, hi = SIGNED_PRODUCT_RANGE if signed else UNSIGNED_PRODUCT_RANGE
    wide = arr.astype(np.float64)
    if wide.min() < lo or wide.max() > hi:
        bad = np.unravel_index(np.argmax((wide < lo) | (wide > hi)), arr.shape)
        kind = "signed" if signed else "unsigned"
        raise InputError(
            source,
            f"product {int(wide[bad])} at [{bad[0]}, {bad[1]}] is outside the {kind} 16-bit range [{lo}, {hi}]",
            where,
        )
    return arr.astype(np.int32)


def _sidecar(path: Path) -> dict:
    side = path.with_suffix(".json")
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(side, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(side, "expected an object mapping multiplier names to metadata")
    return data


def _number(meta: dict, key: str, source: str, name: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError(source, f"'{key}' must be a non-negative number, got {value!r}", name)
    return float(value)


def _build(name: str, table: np.ndarray, signed: bool | None, meta: dict, source: str, where: str | None) -> Multiplier:
    if signed is None:
        signed = meta.get("signed", _signed_from_name(name))
    if signed is None:
        raise InputError(
            source, f"cannot tell whether '{name}' is signed: pass --signed/--unsigned or name it mul8s_/mul8u_", where
        )
    power = _number(meta, "power_mw", source, name)
    return Multiplier(
        name=name,
        signed=bool(signed),
        table=validate_table(table, bool(signed), source, where),
        power_mw=power if power is not None else float("nan"),
        area_um2=_number(meta, "area_um2", source, name),
        delay_ns=_number(meta, "delay_ns", source, name),
        source=source,
        description=str(meta.get("description", "imported")),
        published={k: meta[k] for k in ("mae", "wce", "mse", "ep_pct") if k in meta},
    )


def load_multipliers(
    path: str | Path,
    name: str | None = None,
    signed: bool | None = None,
    power_mw: float | None = None,
) -> list[Multiplier]:
    """Load every multiplier in ``path``; ``name``/``signed``/``power_mw`` override the file's."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(path, f"unsupported file type '{suffix}', expected one of {', '.join(SUPPORTED_SUFFIXES)}")
    override = {"power_mw": power_mw} if power_mw is not None else {}

    if suffix == ".c":
        model = load_c_model(path)
        meta = {"power_mw": model.power_mw, "area_um2": model.area_um2, "delay_ns": model.delay_ns,
                "description": f"EvoApproxLib C model {model.name}", **model.published, **override}
        is_signed = model.signed if signed is None else signed
        return [_build(name or model.name, model.table, is_signed, meta, source, None)]

    if suffix == ".bin":
        raw = path.read_bytes()
        if len(raw) != 256 * 256 * 2:
            raise InputError(path, f"has {len(raw)} bytes, expected 131072 (256x256 uint16)")
        words = np.frombuffer(raw, dtype="<u2").astype(np.int64).reshape(256, 256)
        mname = name or path.stem
        is_signed = signed if signed is not None else _signed_from_name(mname)
        if is_signed:
            words = np.where(words >= 2**15, words - 2**16, words)
        return [_build(mname, words, is_signed, override, source, None)]

    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(path, f"not a readable {suffix} file ({exc})") from None
    if suffix == ".npy":
        mname = name or path.stem
        return [_build(mname, loaded, signed, override, source, None)]

    side = _sidecar(path)
    with loaded:
        keys = list(loaded.files)
        if not keys:
            raise InputError(path, "contains no arrays")
        if name is not None and len(keys) > 1:
            raise InputError(path, f"holds {len(keys)} tables; --name applies to single-table files only")
        out = []
        for key in keys:
            try:
                table = loaded[key]
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                raise InputError(path, f"array '{key}' cannot be read ({exc})") from None
            meta = side.get(key, {})
            if not isinstance(meta, dict):
                raise InputError(path.with_suffix(".json"), "expected an object of metadata", key)
            out.append(_build(name or key, table, signed, {**meta, **override}, source, key))
    return out
