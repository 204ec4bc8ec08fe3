"""Read multipliers from files users already have.

* ``.c``    EvoApproxLib behavioural model (see :mod:`xaigen.multipliers.c_model`).
* ``.npy``  one int[256, 256] table in the catalogue's indexing.
* ``.npz``  one or more named tables (e.g. ``evoapprox8.npz``); a sidecar ``<stem>.json`` with
            per-name ``signed`` (true/false) / ``power_mw`` / ``area_um2`` / ``delay_ns`` is read
            when present.
* ``.bin``  TFApprox/ALWANN raw 256x256 little-endian uint16 products (65,536 x 2 bytes),
            indexed ``[a_bits * 256 + b_bits]``; for signed circuits the word is two's complement.

Loading is all-or-nothing: every table, name and figure is validated before anything is
returned, and no header is trusted before its shape is checked (:mod:`.npyfile`). Figures are
finite and non-negative (mW, um^2, ns). A table worse than a constant-0 output is loaded but
reported through ``warn`` (a byte-swapped ``.bin`` is named as such).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.fileio import loads_json_input, require_file
from xaigen.multipliers.c_model import load_c_model
from xaigen.multipliers.metrics import error_metrics, implausibility
from xaigen.multipliers.multiplier import (
    SIGNED_PRODUCT_RANGE,
    UNSIGNED_PRODUCT_RANGE,
    Multiplier,
    validate_name,
)
from xaigen.multipliers.npyfile import npz_members, read_npy

SUPPORTED_SUFFIXES = (".c", ".npy", ".npz", ".bin")
MAX_SIDECAR_BYTES = 16 * 2**20
Warn = Callable[[str], None]


def _log_warning(message: str) -> None:
    logging.getLogger("xaigen").warning(message)


def _signed_from_name(name: str) -> bool | None:
    m = re.match(r"mul\d+([su])_", name)
    return (m.group(1) == "s") if m else None


def table_header_problem(shape: tuple, dtype: np.dtype) -> str | None:
    """Why a stored array cannot be a product table, judged from its header alone."""
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        return f"table has dtype {dtype}, expected integers"
    if tuple(shape) != (256, 256):
        return f"table has shape {tuple(shape)}, expected (256, 256)"
    return None


def validate_table(table: np.ndarray, signed: bool, source: str, where: str | None = None) -> np.ndarray:
    """Check shape, integrality and the product range; return int32[256, 256]."""
    arr = np.asarray(table)
    problem = table_header_problem(arr.shape, arr.dtype)
    if problem:
        raise InputError(source, problem, where)
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


def _reject_constant(token: str):
    raise ValueError(f"{token} is not a JSON number")


def _sidecar(path: Path) -> dict:
    side = path.with_suffix(".json")
    if not side.exists() and not side.is_symlink():
        return {}
    require_file(side)
    if side.stat().st_size > MAX_SIDECAR_BYTES:
        raise InputError(side, f"is larger than {MAX_SIDECAR_BYTES} bytes; not a metadata sidecar")
    try:
        data = loads_json_input(side.read_text(encoding="utf-8-sig"), parse_constant=_reject_constant)
    except OSError as exc:
        raise InputError(side, f"cannot read ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(side, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(side, "not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise InputError(side, "expected an object mapping multiplier names to metadata")
    return data


def _number(meta: dict, key: str, source: str, name: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(source, f"'{key}' must be a finite non-negative number, got {value!r}", name)
    return float(value)


def _signedness(name: str, signed: bool | None, meta: dict, source: str, where: str | None) -> bool:
    if signed is None and "signed" in meta:
        signed = meta["signed"]
        if not isinstance(signed, bool):
            raise InputError(source, f"'signed' must be true or false, got {signed!r}", where or name)
    if signed is None:
        signed = _signed_from_name(name)
    if signed is None:
        raise InputError(
            source, f"cannot tell whether '{name}' is signed: pass --signed/--unsigned or name it mul8s_/mul8u_", where
        )
    return signed


def _build(name: str, table: np.ndarray, signed: bool | None, meta: dict, source: str, where: str | None) -> Multiplier:
    validate_name(name, f"{source}:{where}" if where else source)
    signed = _signedness(name, signed, meta, source, where)
    power = _number(meta, "power_mw", source, name)
    published = {k: _number(meta, k, source, name) for k in ("mae", "wce", "mse", "ep_pct") if k in meta}
    description = meta.get("description", "imported")
    if not isinstance(description, str):
        raise InputError(source, f"'description' must be a string, got {description!r}", name)
    return Multiplier(
        name=name,
        signed=signed,
        table=validate_table(table, signed, source, where),
        power_mw=power if power is not None else float("nan"),
        area_um2=_number(meta, "area_um2", source, name),
        delay_ns=_number(meta, "delay_ns", source, name),
        source=source,
        description=description[:500],
        published={k: v for k, v in published.items() if v is not None},
    )


def _from_c(path: Path, name: str | None, signed: bool | None, override: dict) -> list[Multiplier]:
    model = load_c_model(path)
    meta = {"power_mw": model.power_mw, "area_um2": model.area_um2, "delay_ns": model.delay_ns,
            "description": f"EvoApproxLib C model {model.name}", **model.published, **override}
    is_signed = model.signed if signed is None else signed
    return [_build(name if name is not None else model.name, model.table, is_signed, meta, str(path), None)]


def _from_bin(path: Path, name: str | None, signed: bool | None, override: dict, warn: Warn) -> list[Multiplier]:
    raw = path.read_bytes() if path.stat().st_size == 256 * 256 * 2 else b""
    if len(raw) != 256 * 256 * 2:
        raise InputError(path, f"has {path.stat().st_size} bytes, expected 131072 (256x256 uint16)")
    mname = name if name is not None else path.stem
    is_signed = _signedness(mname, signed, {}, str(path), None)

    def words(byteorder: str) -> np.ndarray:
        w = np.frombuffer(raw, dtype=f"{byteorder}u2").astype(np.int64).reshape(256, 256)
        return np.where(w >= 2**15, w - 2**16, w) if is_signed else w

    m = _build(mname, words("<"), is_signed, override, str(path), None)
    problem = implausibility(m)
    if problem:
        swapped = Multiplier(mname, is_signed, words(">"), float("nan"))
        mae, swapped_mae = error_metrics(m).mae, error_metrics(swapped).mae
        if swapped_mae < mae / 10:
            problem = (f"looks big-endian: read as little-endian (TFApprox's layout) its MAE is {mae:.0f}, "
                       f"byte-swapped it would be {swapped_mae:.0f}; re-export it little-endian")
        warn(f"{path}: {mname}: {problem}")
    return [m]


def _from_npz(path: Path, name: str | None, signed: bool | None, override: dict, warn: Warn) -> list[Multiplier]:
    side = _sidecar(path)
    members = list(npz_members(path, table_header_problem))
    if not members:
        raise InputError(path, "contains no arrays")
    if name is not None and len(members) > 1:
        raise InputError(path, f"holds {len(members)} tables; --name applies to single-table files only")
    unmatched = sorted(set(side) - {key for key, _ in members})
    if unmatched:  # said, not silent: a typo in a name would drop that table's power and metrics
        warn(f"{path.with_suffix('.json')}: no table called {', '.join(unmatched)} in {path.name}; "
             "that metadata is ignored")
    out = []
    for key, table in members:
        meta = side.get(key, {})
        if not isinstance(meta, dict):
            raise InputError(path.with_suffix(".json"), "expected an object of metadata", key)
        out.append(_build(name if name is not None else key, table, signed, {**meta, **override}, str(path), key))
    return out


def load_multipliers(
    path: str | Path,
    name: str | None = None,
    signed: bool | None = None,
    power_mw: float | None = None,
    warn: Warn | None = None,
) -> list[Multiplier]:
    """Load every multiplier in ``path``; ``name``/``signed``/``power_mw`` override the file's.

    Raises :class:`InputError` for the first problem, before returning anything. Implausible
    tables are returned and reported through ``warn`` (default: the ``xaigen`` logger).
    """
    path = require_file(path)
    warn = warn or _log_warning
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(path, f"unsupported file type '{suffix}', expected one of {', '.join(SUPPORTED_SUFFIXES)}")
    if name is not None:
        validate_name(name, "--name")
    if power_mw is not None and not (math.isfinite(power_mw) and power_mw >= 0):
        raise InputError("--power-mw", f"must be a finite non-negative number (mW), got {power_mw!r}")
    override = {"power_mw": power_mw} if power_mw is not None else {}
    if suffix == ".c":
        loaded = _from_c(path, name, signed, override)
    elif suffix == ".bin":
        loaded = _from_bin(path, name, signed, override, warn)
    elif suffix == ".npy":
        table = read_npy(path, table_header_problem)
        loaded = [_build(name if name is not None else path.stem, table, signed, override, str(path), None)]
    else:
        loaded = _from_npz(path, name, signed, override, warn)
    names = [m.name for m in loaded]
    if len(set(names)) != len(names):
        raise InputError(path, "holds two tables of the same name")
    for m in loaded if suffix != ".bin" else []:  # .bin files warned above, byte order included
        problem = implausibility(m)
        if problem:
            warn(f"{path}: {m.name}: {problem}")
    return loaded
