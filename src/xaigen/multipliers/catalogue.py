"""The multiplier catalogue: built-in families plus the user's imported circuits.

Imported multipliers persist as one ``<name>.npz`` each (the int32 table and a JSON metadata
string) under ``$XAIGEN_HOME/multipliers`` (default ``~/.xaigen/multipliers``).

Rules at this boundary: an import is all-or-nothing (every file is written to a temporary
first, then all are renamed; any failure, a full disk included, leaves the catalogue as it
was); a built-in name is never shadowed; replacing an imported entry is reported. Every stored
entry is validated when the catalogue is loaded: a bad one is skipped with a warning, so one
damaged file never breaks every command.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.fileio import atomic_write, require_file
from xaigen.multipliers.families import builtin_multipliers
from xaigen.multipliers.importers import _build, table_header_problem
from xaigen.multipliers.multiplier import Multiplier, finite_or_none, validate_name
from xaigen.multipliers.npyfile import npz_members
from xaigen.multipliers.sign_magnitude import SUFFIX, circuit_name_of, sign_magnitude

MAX_ENTRY_BYTES = 4 * 2**20  # a stored entry is ~260 KiB; anything far larger is not one of ours


def xaigen_home() -> Path:
    """Root of the user's xaigen data (``$XAIGEN_HOME`` or ``~/.xaigen``)."""
    return Path(os.environ.get("XAIGEN_HOME", Path.home() / ".xaigen"))


def cache_dir() -> Path:
    """Where data that can always be recomputed is kept (``$XAIGEN_CACHE``, else
    ``$XAIGEN_HOME/cache``): one cache can serve several homes, e.g. the tests' or a cluster's."""
    return Path(os.environ.get("XAIGEN_CACHE") or xaigen_home() / "cache")


def user_catalogue_dir() -> Path:
    return xaigen_home() / "multipliers"


@functools.lru_cache(maxsize=1)
def builtin_names() -> frozenset[str]:
    """Names of the built-in multipliers, which imports may not shadow."""
    return frozenset(m.name for m in builtin_multipliers())


def _entry_bytes(multiplier: Multiplier) -> bytes:
    published = {k: finite_or_none(v) for k, v in multiplier.published.items()}
    meta = multiplier.summary() | {"published": {k: v for k, v in published.items() if v is not None}}
    buffer = io.BytesIO()
    np.savez(buffer, table=multiplier.table, meta=np.array(json.dumps(meta, allow_nan=False)))
    return buffer.getvalue()


def save_multiplier(multiplier: Multiplier, directory: Path | None = None) -> Path:
    """Persist ``multiplier`` atomically as ``<directory>/<name>.npz``."""
    validate_name(multiplier.name)
    directory = directory or user_catalogue_dir()
    data = _entry_bytes(multiplier)
    return atomic_write(directory / f"{multiplier.name}.npz", lambda tmp: tmp.write_bytes(data))


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the files written, the names that replaced earlier imports, and those
    that take the place of an EvoApprox circuit shipped with xaigen (from then on, in every run)."""

    paths: list[Path]
    replaced: list[str]
    shadows_shipped: list[str] = field(default_factory=list)


def import_multipliers(multipliers: list[Multiplier], directory: Path | None = None) -> ImportResult:
    """Persist all of ``multipliers`` or none of them.

    Refuses built-in names and duplicate names before writing; writes every entry to a
    temporary file in ``directory``, then renames them all. If any write fails (disk full,
    permissions) the temporaries are removed and earlier entries are untouched.
    """
    directory = directory or user_catalogue_dir()
    names = [validate_name(m.name) for m in multipliers]
    shadowed = sorted(set(names) & builtin_names())
    if shadowed:
        raise InputError(shadowed[0], "is a built-in multiplier and cannot be replaced; import it under another --name")
    if len(set(names)) != len(names):
        raise InputError(names[0], "the import holds two multipliers of this name")
    targets = [directory / f"{name}.npz" for name in names]
    replaced = [name for name, path in zip(names, targets) if path.exists() or path.is_symlink()]
    staged: list[Path] = []
    try:
        for m, target in zip(multipliers, targets):
            data = _entry_bytes(m)
            staged.append(atomic_write(target.with_name(f".{target.name}.staged"), lambda tmp: tmp.write_bytes(data)))
        for stage, target in zip(staged, targets):
            os.replace(stage, target)  # renames within one directory: no data is written any more
    except OSError as exc:
        raise InputError(directory, f"cannot write ({exc.strerror or exc})") from None
    finally:
        for stage in staged:
            stage.unlink(missing_ok=True)
    shipped = {m.name for m in packaged_multipliers()}
    return ImportResult(targets, replaced, [name for name in names if name in shipped])


def _load_saved(path: Path) -> Multiplier:
    """A stored entry, validated like any import (name, figures, table)."""
    require_file(path)
    if path.stat().st_size > MAX_ENTRY_BYTES:
        raise InputError(path, f"corrupted catalogue entry (larger than {MAX_ENTRY_BYTES} bytes); delete it")

    def check(shape: tuple, dtype: np.dtype) -> str | None:
        if dtype.kind == "U" and shape == ():
            return None if dtype.itemsize <= 2**20 else "metadata is too large"
        return table_header_problem(shape, dtype)

    members = dict(npz_members(path, check))
    if set(members) != {"table", "meta"} or members["meta"].dtype.kind != "U":
        raise InputError(path, "corrupted catalogue entry (expected members 'table' and 'meta'); "
                         "re-import or delete it")
    try:
        meta = json.loads(str(members["meta"]))
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"corrupted catalogue entry (metadata: {exc}); re-import or delete it") from None
    if not isinstance(meta, dict) or meta.get("name") != path.stem:
        raise InputError(path, "corrupted catalogue entry (its name does not match the file name); re-import it")
    published = meta.get("published") or {}
    if not isinstance(published, dict):
        raise InputError(path, "corrupted catalogue entry ('published' is not an object)")
    # Entries written before figures were checked hold NaN for "unknown": read it as unknown.
    fields = {k: meta[k] for k in ("signed", "power_mw", "area_um2", "delay_ns", "description")
              if meta.get(k) is not None and not (isinstance(meta[k], float) and math.isnan(meta[k]))}
    m = _build(path.stem, members["table"], None, {**published, **fields}, str(path), None)
    source = meta.get("source")
    return Multiplier(m.name, m.signed, m.table, m.power_mw, m.area_um2, m.delay_ns,
                      source if isinstance(source, str) else str(path), m.description, m.published)


def _log_warning(message: str) -> None:
    logging.getLogger("xaigen").warning(message)


PACKAGED_TABLES = Path(__file__).parent / "data" / "evoapprox8.npz"


@functools.lru_cache(maxsize=1)
def packaged_multipliers() -> tuple[Multiplier, ...]:
    """The EvoApproxLib 8x8 circuits shipped in ``multipliers/data`` (MIT; see its README)."""
    from xaigen.multipliers.importers import load_multipliers

    shipped = load_multipliers(PACKAGED_TABLES, warn=lambda _message: None)  # known data: no plausibility notes
    # A source that names the data, not this checkout's path (results are compared across machines).
    return tuple(dataclasses.replace(m, source="EvoApproxLib 8x8, shipped with xaigen") for m in shipped)


class Catalogue:
    """A name -> :class:`Multiplier` mapping with validation at the boundary.

    ``skipped`` lists the user entries that :meth:`default` could not load (each an
    :class:`InputError` naming the file and the problem).
    """

    def __init__(self, multipliers: Iterable[Multiplier] = ()):
        self._by_name: dict[str, Multiplier] = {}
        self._protected: set[str] = set()
        self.skipped: list[InputError] = []
        for m in multipliers:
            self.add(m)

    @classmethod
    def default(cls, include_user: bool = True, warn: Callable[[str], None] | None = None,
                include_packaged: bool = True) -> Catalogue:
        """Built-in multipliers, the 50 EvoApproxLib 8x8 circuits shipped with xaigen, and
        (optionally) every valid entry of the user catalogue.

        A user entry that fails validation, or that has a built-in's name, is skipped and reported
        through ``warn`` (default: the ``xaigen`` logger) and in :attr:`skipped`. A user entry may
        replace a shipped EvoApprox circuit of the same name (e.g. the same pack imported again).
        """
        cat = cls(builtin_multipliers())
        cat._protected = set(cat._by_name)
        for m in packaged_multipliers() if include_packaged else ():
            cat.add(m)
        directory = user_catalogue_dir()
        for path in sorted(directory.glob("*.npz")) if include_user and directory.is_dir() else []:
            try:
                m = _load_saved(path)
                cat.add(m, replace=True)
            except InputError as exc:
                cat.skipped.append(exc)
                (warn or _log_warning)(f"skipped catalogue entry {exc}")
        return cat

    def add(self, multiplier: Multiplier, replace: bool = False) -> None:
        """Add ``multiplier``; ``replace`` allows replacing an earlier non-built-in of the same name."""
        name = multiplier.name
        if name in self._protected:
            raise InputError(name, "is a built-in multiplier and cannot be replaced; use another name")
        if name in self._by_name and not replace:
            raise InputError(name, "a multiplier of this name is already in the catalogue")
        if circuit_name_of(name) is not None and multiplier.derivation is None:
            raise InputError(name, f"names ending in {SUFFIX} are kept for the sign-magnitude forms xaigen derives; "
                                   "use another name")
        self._by_name[name] = multiplier

    def __getitem__(self, name: str) -> Multiplier:
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            derived = self._derive(name)
            if derived is not None:
                return derived
            close = [n for n in self._by_name if str(name).lower() in n.lower()][:5] if name else []
            hint = f"; did you mean {', '.join(close)}?" if close else "; see 'xaigen multipliers list'"
            raise InputError(repr(name) if not isinstance(name, str) else name, f"unknown multiplier{hint}") from None

    def _derive(self, name: object) -> Multiplier | None:
        """The sign-magnitude form ``NAME+sm`` of an unsigned circuit ``NAME`` in the catalogue,
        derived on first use and kept; None if ``name`` is not such a name."""
        base = self._derivable_from(name)
        if base is None:
            return None
        derived = sign_magnitude(base)
        reference = self.exact(derived.circuit_signed).name  # the rule of reference_exact, recorded
        derived = dataclasses.replace(derived, derivation=dataclasses.replace(derived.derivation,
                                                                               reference_exact=reference))
        self._by_name[derived.name] = derived
        return derived

    def _derivable_from(self, name: object) -> Multiplier | None:
        """The native unsigned circuit whose sign-magnitude form ``name`` names, else None."""
        circuit = circuit_name_of(name) if isinstance(name, str) else None
        base = self._by_name.get(circuit) if circuit is not None else None
        return None if base is None or base.signed or not base.native else base

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def knows(self, name: object) -> bool:
        """Whether ``catalogue[name]`` finds a multiplier: one held, or a sign-magnitude form it
        derives on first use (``in`` answers for the held ones only)."""
        return name in self._by_name or self._derivable_from(name) is not None

    def __iter__(self) -> Iterator[Multiplier]:
        return iter(list(self._by_name.values()))  # a snapshot: a lookup may derive (add) a form

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def usable(self, names: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
        """``(usable, unusable)``: the names whose multiplier has a usable power figure (finite,
        > 0 mW; see :attr:`Multiplier.has_usable_power`) and those that have none."""
        names = self.names() if names is None else list(names)
        usable = [n for n in names if self[n].has_usable_power]
        return usable, [n for n in names if n not in set(usable)]

    def exact(self, signed: bool) -> Multiplier:
        """The lowest-power exact circuit of the given signedness, used as it is (never a derived
        form such as a sign-magnitude one), with a usable power if any."""
        candidates = [m for m in self if m.native and m.signed == signed and m.is_exact]
        if not candidates:
            raise InputError("catalogue", f"has no exact {'signed' if signed else 'unsigned'} multiplier")
        usable = [m for m in candidates if m.has_usable_power] or candidates
        return min(usable, key=lambda m: (m.power_mw, m.name))

    def reference_exact(self, multiplier: Multiplier | str) -> Multiplier:
        """The energy reference of a layer that runs ``multiplier``: the exact circuit of the same
        signedness as its physical circuit (:attr:`Multiplier.circuit_signed`).

        The one place of this rule: a signed circuit is compared with the signed exact multiplier
        (``exact_s8``, 0.425 mW), an unsigned one, sign-magnitude forms included, with the unsigned
        exact one (``exact_u8``, 0.391 mW); so the unsigned exact circuit saves exactly 1.00x.
        """
        m = self[multiplier] if isinstance(multiplier, str) else multiplier
        return self.exact(m.circuit_signed)
