"""The multiplier catalogue: built-in families plus the user's imported circuits.

Imported multipliers persist as one ``<name>.npz`` each (the int32 table and a JSON metadata
string) under ``$XAIGEN_HOME/multipliers`` (default ``~/.xaigen/multipliers``).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.fileio import atomic_write
from xaigen.multipliers.families import builtin_multipliers
from xaigen.multipliers.multiplier import Multiplier

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


def xaigen_home() -> Path:
    """Root of the user's xaigen data (``$XAIGEN_HOME`` or ``~/.xaigen``)."""
    return Path(os.environ.get("XAIGEN_HOME", Path.home() / ".xaigen"))


def user_catalogue_dir() -> Path:
    return xaigen_home() / "multipliers"


def save_multiplier(multiplier: Multiplier, directory: Path | None = None) -> Path:
    """Persist ``multiplier`` atomically as ``<directory>/<name>.npz``."""
    if not _NAME_RE.match(multiplier.name):
        raise InputError(multiplier.name, "invalid multiplier name (letters, digits, _ . + - only)")
    directory = directory or user_catalogue_dir()
    meta = multiplier.summary() | {"published": multiplier.published}
    buffer = io.BytesIO()
    np.savez(buffer, table=multiplier.table, meta=np.array(json.dumps(meta)))
    return atomic_write(directory / f"{multiplier.name}.npz", lambda tmp: tmp.write_bytes(buffer.getvalue()))


def _load_saved(path: Path) -> Multiplier:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            table = data["table"]
        return Multiplier(
            name=meta["name"], signed=bool(meta["signed"]), table=table,
            power_mw=float(meta["power_mw"]) if meta.get("power_mw") is not None else float("nan"),
            area_um2=meta.get("area_um2"), delay_ns=meta.get("delay_ns"),
            source=meta.get("source", str(path)), description=meta.get("description", ""),
            published=meta.get("published", {}),
        )
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InputError(path, f"corrupted catalogue entry ({exc}); re-import or delete it") from None


PACKAGED_TABLES = Path(__file__).parent / "data" / "evoapprox8.npz"


@functools.lru_cache(maxsize=1)
def packaged_multipliers() -> tuple[Multiplier, ...]:
    """The EvoApproxLib 8x8 circuits shipped in ``multipliers/data`` (MIT; see its README)."""
    from xaigen.multipliers.importers import load_multipliers

    return tuple(load_multipliers(PACKAGED_TABLES))


class Catalogue:
    """A name -> :class:`Multiplier` mapping with validation at the boundary."""

    def __init__(self, multipliers: Iterable[Multiplier] = ()):
        self._by_name: dict[str, Multiplier] = {}
        for m in multipliers:
            self.add(m)

    @classmethod
    def default(cls, include_user: bool = True, include_packaged: bool = True) -> Catalogue:
        """Built-in multipliers, the 50 EvoApproxLib 8x8 circuits shipped with xaigen, and
        (optionally) everything imported into the user catalogue."""
        cat = cls(builtin_multipliers())
        if include_packaged:
            for m in packaged_multipliers():
                cat.add(m)
        if include_user:
            directory = user_catalogue_dir()
            for path in sorted(directory.glob("*.npz")) if directory.is_dir() else []:
                cat.add(_load_saved(path), replace=True)
        return cat

    def add(self, multiplier: Multiplier, replace: bool = False) -> None:
        if multiplier.name in self._by_name and not replace:
            raise InputError(multiplier.name, "a multiplier of this name is already in the catalogue")
        self._by_name[multiplier.name] = multiplier

    def __getitem__(self, name: str) -> Multiplier:
        try:
            return self._by_name[name]
        except KeyError:
            close = [n for n in self._by_name if name.lower() in n.lower()][:5]
            hint = f"; did you mean {', '.join(close)}?" if close else "; see 'xaigen multipliers list'"
            raise InputError(name, f"unknown multiplier{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Multiplier]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def subset(self, names: Iterable[str]) -> Catalogue:
        return Catalogue(self[n] for n in names)

    def exact(self, signed: bool) -> Multiplier:
        """The lowest-power exact multiplier of the given signedness."""
        candidates = [m for m in self if m.signed == signed and m.is_exact]
        if not candidates:
            raise InputError("catalogue", f"has no exact {'signed' if signed else 'unsigned'} multiplier")
        return min(candidates, key=lambda m: (m.power_mw, m.name))
