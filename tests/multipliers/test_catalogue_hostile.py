"""The catalogue at its boundary: usable power, all-or-nothing imports, validated entries."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xaigen.errors import InputError
from xaigen.multipliers import (
    Catalogue,
    Multiplier,
    exact_table,
    implausibility,
    import_multipliers,
    load_multipliers,
    truncated,
    user_catalogue_dir,
)


def _m(name: str, power: float, signed: bool = False) -> Multiplier:
    return Multiplier(name, signed, exact_table(signed), power)


def test_usable_power_excludes_zero_and_nan_power(evoapprox, catalogue):
    assert evoapprox["mul8u_TD3"].power_mw == 0.0 and not evoapprox["mul8u_TD3"].has_usable_power
    usable, unusable = catalogue.usable([m.name for m in catalogue if not m.signed])
    assert unusable == ["mul8u_TD3"]
    assert all(math.log(catalogue[n].power_mw) < 0 for n in usable)  # log() is defined for every usable one
    cat = Catalogue([_m("nan", float("nan")), _m("inf", float("inf")), _m("ok", 0.1)])
    assert cat.usable() == (["ok"], ["nan", "inf"])


def test_exact_prefers_a_usable_power():
    cat = Catalogue([_m("no_power", float("nan")), _m("with_power", 0.39)])
    assert cat.exact(False).name == "with_power"


def test_import_is_all_or_nothing_and_reports_replacements(tmp_path):
    first = import_multipliers([_m("a", 0.1), _m("b", 0.2)])
    assert first.replaced == [] and sorted(p.name for p in user_catalogue_dir().iterdir()) == ["a.npz", "b.npz"]
    with pytest.raises(InputError, match="built-in"):
        import_multipliers([_m("c", 0.1), _m("exact_u8", 0.1)])
    with pytest.raises(InputError, match="invalid multiplier name"):
        import_multipliers([_m("d", 0.1), _m("bad\n", 0.1)])
    assert sorted(p.name for p in user_catalogue_dir().iterdir()) == ["a.npz", "b.npz"]
    again = import_multipliers([_m("b", 0.3), _m("e", 0.1)])
    assert again.replaced == ["b"] and Catalogue.default()["b"].power_mw == 0.3


def test_catalogue_never_lets_a_file_shadow_a_builtin():
    cat = Catalogue.default(include_user=False)
    with pytest.raises(InputError, match="built-in"):
        cat.add(_m("exact_u8", 0.001), replace=True)


@pytest.mark.parametrize("meta,problem", [
    ({"name": "x", "signed": "false", "power_mw": 0.1}, "'signed' must be true or false"),
    ({"name": "x", "signed": False, "power_mw": -1}, "'power_mw' must be a finite non-negative number"),
    ({"name": "other", "signed": False, "power_mw": 0.1}, "does not match the file name"),
    ("not an object", "its name does not match"),
])
def test_bad_saved_entries_are_skipped(meta, problem):
    directory = user_catalogue_dir()
    directory.mkdir(parents=True)
    np.savez(directory / "x.npz", table=exact_table(False), meta=np.array(json.dumps(meta)))
    seen = []
    cat = Catalogue.default(warn=seen.append)
    assert "x" not in cat and len(cat.skipped) == 1 and problem in str(cat.skipped[0]) and problem in seen[0]


def test_npz_member_with_object_dtype_is_refused_before_reading(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, mul8u_O=np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="holds Python objects"):
        load_multipliers(path)


def test_implausibility_threshold():
    assert implausibility(truncated(False, 8)) is None
    wrong_endian = Multiplier("w", False, exact_table(False).astype(">u2").view("<u2").astype(np.int64), 0.1)
    assert "implausible" in implausibility(wrong_endian)


def test_npz_bomb_member_is_read_only_as_far_as_its_header_says(tmp_path):
    """A valid table header followed by 64 MiB of compressed zeros: refused after 512 KiB + 1 byte."""
    import io
    import time
    import tracemalloc
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (256, 256)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("mul8u_B.npy", "w") as member:
        member.write(header.getvalue())
        for _ in range(64):
            member.write(bytes(2**20))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError, match="has data after the 524288 bytes"):
            load_multipliers(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 30 and peak < 16 * 2**20


@pytest.mark.parametrize("sidecar,problem", [
    ('{"mine": {"signed": false, "power_mw": 1e400}}', "'power_mw' must be a finite non-negative number"),
    ('{"mine": {"signed": false, "power_mw": Infinity}}', "Infinity is not a JSON number"),
    ('{"mine": {"signed": false, "mae": "low"}}', "'mae' must be a finite non-negative number"),
    ('{"mine": {"signed": 0}}', "'signed' must be true or false, got 0"),
])
def test_sidecar_figures_are_strict(tmp_path, sidecar, problem):
    np.savez(tmp_path / "lib.npz", mine=exact_table(False))
    (tmp_path / "lib.json").write_text(sidecar)
    with pytest.raises(InputError, match=problem):
        load_multipliers(tmp_path / "lib.npz")


def test_entry_saved_by_the_previous_version_with_nan_power_still_loads():
    directory = user_catalogue_dir()
    directory.mkdir(parents=True)
    meta = {"name": "old", "signed": False, "power_mw": float("nan"), "area_um2": None, "delay_ns": None,
            "source": "x.npy", "description": "imported", "published": {}}
    np.savez(directory / "old.npz", table=exact_table(False), meta=np.array(json.dumps(meta)))
    cat = Catalogue.default()
    assert not cat.skipped and math.isnan(cat["old"].power_mw) and not cat["old"].has_usable_power
