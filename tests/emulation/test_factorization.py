"""Exact integer factors of product tables, and their store under the cache directory
($XAIGEN_CACHE, else $XAIGEN_HOME/cache) in factors/:
a new process reads the factors back instead of reducing the lattice again, and a damaged file
is recomputed, never trusted."""

import numpy as np
import pytest

from xaigen.emulation import factorization
from xaigen.multipliers import builtin_multipliers, operand_values

NAMES = ["exact_s8", "drum_s8_k4", "trunc_u8_c8", "mitchell_s8"]  # ranks 1, 1, 7 and over the limit


@pytest.fixture
def tables(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIGEN_CACHE", str(tmp_path / "cache"))
    by_name = {m.name: m for m in builtin_multipliers()}
    factorization._factors_cached.cache_clear()
    yield [by_name[name] for name in NAMES]
    factorization._factors_cached.cache_clear()


def _reproduces(factors, multiplier) -> bool:
    values = operand_values(multiplier.signed)
    order = np.argsort(values)
    return np.array_equal(factors.u @ factors.v.T, multiplier.table.astype(np.int64)[np.ix_(order, order)])


def _as_arrays(factors):
    return None if factors is None else (factors.u.tolist(), factors.v.tolist(), factors.vmin)


def test_a_new_process_reads_the_stored_factors_without_factorizing(tables, monkeypatch):
    computed = [factorization.low_rank_factors(m) for m in tables]
    assert [f is None for f in computed] == [False, False, False, True]
    assert all(_reproduces(f, m) for f, m in zip(computed, tables) if f is not None)
    factorization._factors_cached.cache_clear()  # as in a new process

    def fail(*args):
        raise AssertionError("factorized again")

    monkeypatch.setattr(factorization, "_factorize", fail)
    stored = [factorization.low_rank_factors(m) for m in tables]
    assert [_as_arrays(f) for f in stored] == [_as_arrays(f) for f in computed]


@pytest.mark.parametrize("damage", ["one entry", "truncated", "not a zip", "an array"])
def test_a_damaged_file_is_recomputed(tables, damage):
    multiplier = tables[2]
    expected = factorization.low_rank_factors(multiplier)
    path = factorization._cache_file(multiplier.signed, multiplier.table.tobytes(), factorization.DEFAULT_MAX_RANK)
    if damage == "one entry":
        u = expected.u.copy()
        u[7, 1] += 1
        np.savez(path, rank_exceeds=False, u=u, v=expected.v)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "an array":
        with path.open("wb") as handle:
            np.save(handle, expected.u)
    else:
        path.write_text("garbage")
    factorization._factors_cached.cache_clear()
    again = factorization.low_rank_factors(multiplier)
    assert _as_arrays(again) == _as_arrays(expected)
    factorization._factors_cached.cache_clear()  # the file was written again, whole
    assert _as_arrays(factorization._load_factors(path, multiplier.signed, multiplier.table.tobytes())) \
        == _as_arrays(expected)


def test_a_home_that_cannot_be_written_still_gets_its_factors(tables, tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    monkeypatch.setenv("XAIGEN_CACHE", str(blocked / "cache"))  # cannot be made below a file
    factors = factorization.low_rank_factors(tables[1])
    assert factors is not None and _reproduces(factors, tables[1])
    assert not list(tmp_path.glob("**/*.tmp"))


def test_the_cache_lies_under_the_home_unless_xaigen_cache_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv("XAIGEN_CACHE", raising=False)
    monkeypatch.setenv("XAIGEN_HOME", str(tmp_path / "home"))
    assert factorization._cache_file(True, b"", 12).parent == tmp_path / "home" / "cache" / "factors"
    monkeypatch.setenv("XAIGEN_CACHE", str(tmp_path / "elsewhere"))
    assert factorization._cache_file(True, b"", 12).parent == tmp_path / "elsewhere" / "factors"
