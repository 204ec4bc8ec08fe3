"""Exact integer low-rank factorization of a multiplier's product table.

For many approximate multipliers the product table itself has a small rank R:

    T[a, w] = sum_{r=1..R} u_r(a) v_r(w)                           (exactly, in integers)

Measured: the exact table has R = 1 (``u = a``, ``v = w``); DRUM-k has R = 1 (``u = v = drum(x)``);
of the 13 signed EvoApproxLib 8x8 circuits, 7 have R = 1 and all have R <= 5; truncated arrays
R <= 7. Either ``T`` is factorized directly, or its error ``E = T - a*w`` (rank R_E) is and the
exact product is prepended (R = 1 + R_E); the smaller rank wins. An approximate layer's
accumulator ``sum_k T[a_k, w_k]`` is then ONE ordinary convolution/matmul over ``R`` stacked
channels ``[u_1(a), ..., u_R(a)]`` against ``[v_1(w), ..., v_R(w)]`` — for a rank-1 circuit this
costs the same as the exact float layer.
Ordinary float GEMMs are exact on integers while every partial sum stays below the mantissa
limit (2^24 for float32, 2^53 for float64); :func:`accumulation_bound` gives the worst case for
given weights, so the kernel can prove exactness before using a float path.

The factors must be *integers* (real SVD factors would not be exact): they come from an integer
row-echelon basis of E (the Hermite-normal-form idea, Euclid's algorithm on each pivot column),
so every row of E is an integer combination ``E = C B`` of the R basis rows.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from xaigen.multipliers.catalogue import cache_dir
from xaigen.multipliers.multiplier import Multiplier, operand_values

LOG = logging.getLogger("xaigen")

DEFAULT_MAX_RANK = 12  # beyond this the stacked conv costs more than the gather kernel


@dataclass(frozen=True)
class LowRankFactors:
    """``T[i, j] = sum_r u[i, r] * v[j, r]`` over *value-ordered* indices.

    Row ``i`` of ``u``/``v`` is the operand value ``vmin + i`` (``vmin`` = -128 signed, 0 unsigned),
    so ``i = value - vmin`` maps quantized values straight to factor rows.
    """

    u: np.ndarray  # int64[256, R]
    v: np.ndarray  # int64[256, R]
    vmin: int

    @property
    def rank(self) -> int:
        return self.u.shape[1]

    @cached_property  # asked on every forward: computed once per factorization
    def is_identity(self) -> bool:
        """True when ``T[a, w] = a * w`` with ``u = a`` and ``v = w`` (no lookup needed)."""
        vals = np.arange(256) + self.vmin
        return self.rank == 1 and np.array_equal(self.u[:, 0], vals) and np.array_equal(self.v[:, 0], vals)

    @cached_property
    def input_bound(self) -> float:
        """The largest ``|u[i, r]|``: the bound on a stacked input the exactness checks need."""
        return float(np.abs(self.u).max()) if self.u.size else 0.0


def _integer_row_basis(matrix: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Echelon basis (pivot column, row) of the integer row lattice of ``matrix``."""
    rows = [r.astype(object) for r in matrix if np.any(r)]
    basis: list[tuple[int, np.ndarray]] = []
    for col in range(matrix.shape[1]):
        if not rows:
            break
        live = [r for r in rows if r[col] != 0]
        rest = [r for r in rows if r[col] == 0]
        if not live:
            continue
        while len(live) > 1:  # Euclid's algorithm down the pivot column
            live.sort(key=lambda r: abs(r[col]))
            pivot, survivors = live[0], [live[0]]
            for r in live[1:]:
                reduced = r - (r[col] // pivot[col]) * pivot
                if reduced[col] != 0:
                    survivors.append(reduced)
                elif np.any(reduced):
                    rest.append(reduced)
            live = survivors
        row = live[0] if live[0][col] > 0 else -live[0]
        basis.append((col, row))
        rows = rest
    return basis


def integer_factorization(error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer ``C`` (n x R) and ``B`` (R x m) with ``C @ B == error`` exactly."""
    basis = _integer_row_basis(error)
    if not basis:
        return np.zeros((error.shape[0], 0), np.int64), np.zeros((0, error.shape[1]), np.int64)
    b = np.array([row for _, row in basis], dtype=object)
    c = np.zeros((error.shape[0], len(basis)), dtype=object)
    for i, e in enumerate(error.astype(object)):
        residual = e.copy()
        for j, (pivot, row) in enumerate(basis):
            q, rem = divmod(residual[pivot], row[pivot])
            if rem:
                raise ArithmeticError("row not in the integer lattice (internal error)")
            c[i, j] = q
            residual = residual - q * row
        if np.any(residual):
            raise ArithmeticError("basis does not span the row (internal error)")
    if max(abs(int(x)) for x in np.concatenate([c.ravel(), b.ravel()])) >= 2**62:
        raise OverflowError("factor entries too large for int64")
    return c.astype(np.int64), b.astype(np.int64)


def _cost(u: np.ndarray, v: np.ndarray) -> int:
    return int((np.abs(u).max(axis=0) * np.abs(v).max(axis=0)).sum()) if u.size else 0


def _best_side(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer ``u, v`` with ``u @ v.T == matrix``; the lattice basis goes on the side that keeps
    the factor magnitudes (and so the float accumulation bound) smaller. None when both sides'
    entries outgrow int64 (such factors could not be accumulated exactly anyway)."""
    sides = []
    for transposed in (False, True):
        try:
            c, b = integer_factorization(matrix.T if transposed else matrix)
        except OverflowError:
            continue
        sides.append((b.T, c) if transposed else (c, b.T))
    return min(sides, key=lambda uv: _cost(*uv)) if sides else None  # a tie keeps the untransposed side


def _value_ordered(signed: bool, table_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The table as int64[256, 256] over value-ordered indices (index i <-> value vmin + i), and
    the operand values in that order."""
    values = operand_values(signed)
    order = np.argsort(values)
    table = np.frombuffer(table_bytes, dtype=np.int32).reshape(256, 256).astype(np.int64)
    return table[np.ix_(order, order)], values[order]


def _factorize(signed: bool, table_bytes: bytes, max_rank: int) -> LowRankFactors | None:
    t, vals = _value_ordered(signed, table_bytes)
    error = t - np.outer(vals, vals)
    candidates = []  # on a tie, the first wins: a*w plus error factors keeps exact tables lookup-free
    if np.linalg.matrix_rank(error.astype(np.float64)) < max_rank:
        if (err := _best_side(error)) is not None:
            err_u, err_v = err
            candidates.append((np.concatenate([vals[:, None], err_u], axis=1),
                               np.concatenate([vals[:, None], err_v], axis=1)))
    if np.linalg.matrix_rank(t.astype(np.float64)) <= max_rank and (whole := _best_side(t)) is not None:
        candidates.append(whole)  # T itself
    if not candidates:
        return None
    u, v = min(candidates, key=lambda uv: (uv[0].shape[1], _cost(*uv)))
    if not np.array_equal(u @ v.T, t):
        raise ArithmeticError("factorization check failed (internal error)")
    return LowRankFactors(u=u, v=v, vmin=int(vals[0]))


@lru_cache(maxsize=256)
def _factors_cached(signed: bool, table_bytes: bytes, max_rank: int) -> LowRankFactors | None:
    """:func:`_factorize`, kept on disk as well: the lattice reduction runs on Python integers and
    takes up to a second per table, which every new process (a resumed or a second worker's run)
    would pay again for every candidate. Kept under :func:`~xaigen.multipliers.catalogue.cache_dir`."""
    path = _cache_file(signed, table_bytes, max_rank)
    stored = _load_factors(path, signed, table_bytes)
    if stored is not _NOT_STORED:
        return stored
    factors = _factorize(signed, table_bytes, max_rank)
    _store_factors(path, factors)
    return factors


FACTORS_FORMAT = 1  # bump whenever _factorize may return other factors: older files are then ignored
_NOT_STORED = object()


def _cache_file(signed: bool, table_bytes: bytes, max_rank: int) -> Path:
    key = f"{FACTORS_FORMAT}|{int(signed)}|{max_rank}|".encode() + table_bytes
    return cache_dir() / "factors" / f"{hashlib.sha256(key).hexdigest()[:40]}.npz"


def _load_factors(path: Path, signed: bool, table_bytes: bytes):
    """The stored factors (None: the rank exceeds the limit), or ``_NOT_STORED`` when there is no
    file or it does not reproduce the table exactly (a damaged file is recomputed, never trusted)."""
    try:
        with np.load(path) as stored:
            if bool(stored["rank_exceeds"]):
                return None  # only speed depends on it: the gather path is exact too
            u, v = stored["u"], stored["v"]
    except (OSError, KeyError, ValueError, TypeError, AttributeError, EOFError, zipfile.BadZipFile):
        return _NOT_STORED
    t, vals = _value_ordered(signed, table_bytes)
    if (u.dtype != np.int64 or v.dtype != np.int64 or u.ndim != 2 or u.shape != v.shape or u.shape[0] != 256
            or not np.array_equal(u @ v.T, t)):
        LOG.debug("ignored damaged factor file %s", path)
        return _NOT_STORED
    return LowRankFactors(u=u, v=v, vmin=int(vals[0]))


def _store_factors(path: Path, factors: LowRankFactors | None) -> None:
    """Write atomically (a killed process leaves no half file); a home that cannot be written only
    costs the factorization again next time."""
    empty = np.zeros((256, 0), np.int64)
    partial = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            partial = Path(handle.name)
            np.savez(handle, rank_exceeds=factors is None, u=empty if factors is None else factors.u,
                     v=empty if factors is None else factors.v)
        os.replace(partial, path)
    except OSError as error:
        if partial is not None:
            partial.unlink(missing_ok=True)
        LOG.debug("factors not stored at %s: %s", path, error)


def low_rank_factors(multiplier: Multiplier, max_rank: int = DEFAULT_MAX_RANK) -> LowRankFactors | None:
    """Exact integer factors of ``multiplier``'s table, or None if its rank exceeds ``max_rank``."""
    return _factors_cached(multiplier.signed, multiplier.table.tobytes(), max_rank)


def _bound_per_code(factors: LowRankFactors) -> np.ndarray:
    """``sum_r max_a |u_r(a)| |v_r(w)|`` for every second-operand code ``w``, as exact Python
    integers: lattice factors can reach 1e16, and an int64 product would wrap to a small, wrong
    bound and let an inexact float path through."""
    u_max = np.abs(factors.u).max(axis=0).astype(object)
    return np.abs(factors.v).astype(object) @ u_max


def any_operand_bound(factors: LowRankFactors, fan_in: int) -> int:
    """Largest possible partial sum of one output's stacked dot product over ``fan_in`` products
    when neither operand is known in advance (activation x activation)."""
    return fan_in * int(max(_bound_per_code(factors)))


def accumulation_bound(weight_index: np.ndarray, factors: LowRankFactors) -> int:
    """Largest possible partial sum, over any inputs, of one output's stacked dot product.

    ``weight_index`` is int[Cout, ...] of value-ordered weight indices. Every partial sum of
    ``sum_{k,r} u_r(a_k) v_r(w_k)`` is bounded by ``sum_{k,r} max_a |u_r(a)| |v_r(w_k)|``.
    """
    per_code = _bound_per_code(factors)
    flat = weight_index.reshape(weight_index.shape[0], -1)
    if not flat.size:
        return 0
    if max(per_code) * flat.shape[1] < 2**62:  # the common case: int64 is exact and fast
        return int(per_code.astype(np.int64)[flat].sum(axis=1).max())
    return int(max(sum(per_code[i] for i in row) for row in flat.tolist()))
