"""Candidate building: the unsigned mapping, exclusions, and circuits without a usable power."""

import logging

import pytest

from xaigen.config import config_from_dict
from xaigen.context import build_catalogue, choose_probe, excluded
from xaigen.errors import InputError


def _candidates(multipliers: dict, mapping: str | None = None):
    quantization = {"unsigned_mapping": mapping} if mapping else {}
    return build_catalogue(config_from_dict({"multipliers": multipliers, "quantization": quantization}))


def test_sign_magnitude_is_the_default_for_unsigned_candidates():
    catalogue, names = _candidates({"candidates": "unsigned"})
    assert names and all(n.endswith("+sm") for n in names)
    assert all(catalogue[n].signed and catalogue[n].derivation.mapping == "sign-magnitude" for n in names)
    assert "mul8u_17R6+sm" in names and "exact_u8+sm" in names


def test_all_offers_signed_and_sign_magnitude_unsigned_circuits_together():
    catalogue, names = _candidates({"candidates": "all"})
    native_signed = [n for n in names if catalogue[n].native]
    forms = [n for n in names if not catalogue[n].native]
    assert native_signed and forms and all(catalogue[n].signed for n in names)  # one quantization: int8 codes
    assert len(forms) == len([m for m in catalogue if m.native and not m.signed and m.has_usable_power])


def test_offset_mapping_keeps_the_uint8_circuits():
    catalogue, names = _candidates({"candidates": "unsigned"}, "offset")
    assert names and all(not catalogue[n].signed and catalogue[n].native for n in names)


def test_a_named_unsigned_circuit_runs_in_the_configured_mapping():
    _, names = _candidates({"candidates": ["mul8u_17R6", "exact_s8", "mul8u_T83+sm"]})
    assert names == ["mul8u_17R6+sm", "exact_s8", "mul8u_T83+sm"]
    _, names = _candidates({"candidates": ["mul8u_17R6", "mul8u_T83+sm"]}, "offset")
    assert names == ["mul8u_17R6", "mul8u_T83+sm"]


def test_excluding_a_circuit_excludes_its_sign_magnitude_form():
    _, names = _candidates({"candidates": "unsigned", "exclude": ["mul8u_17R6", "mul8u_T83+sm"]})
    assert "mul8u_17R6+sm" not in names and "mul8u_T83+sm" not in names and "mul8u_18UH+sm" in names
    config = config_from_dict({"multipliers": {"candidates": "unsigned", "exclude": ["mul8u_17R6"]}})
    catalogue, _ = build_catalogue(config)
    assert excluded(config, catalogue, "mul8u_17R6+sm")  # the reason the report gives for leaving it out
    assert not excluded(config, catalogue, "mul8u_18UH+sm")


def test_power_zero_circuits_are_left_out_with_a_message(caplog):
    with caplog.at_level(logging.WARNING, logger="xaigen"):
        _, names = _candidates({"candidates": "all"})
    assert "mul8u_TD3+sm" not in names
    assert "no usable power figure" in caplog.text and "mul8u_TD3+sm" in caplog.text
    with pytest.raises(InputError, match="no candidate multiplier with a usable power"):
        _candidates({"candidates": ["mul8u_TD3"]})


def test_probe_is_half_of_its_own_reference():
    config = config_from_dict({"multipliers": {"candidates": "unsigned"}})
    catalogue, names = build_catalogue(config)
    probe = catalogue[choose_probe(config, catalogue, names)]
    assert 0.35 < probe.power_mw / catalogue.reference_exact(probe).power_mw < 0.65


def test_what_a_typo_would_hide_is_said(caplog, tmp_path):
    """Nothing silent: an exclusion that names no multiplier, a run file that replaces a known
    multiplier, and an unknown candidate or probe name the field they came from."""
    import numpy as np

    from xaigen.multipliers import exact_table

    np.save(tmp_path / "mul8s_1L2N.npy", exact_table(True))  # the shipped circuit's name
    with caplog.at_level(logging.WARNING, logger="xaigen"):
        _candidates({"exclude": ["mul8s_NOPE", "mul8u_T83+sm", "exact_s8+sm"],
                     "files": [str(tmp_path / "mul8s_1L2N.npy")]})
    # the +sm form of an unsigned circuit is known; a signed circuit has none
    assert "multipliers.exclude: no multiplier is called mul8s_NOPE, exact_s8+sm;" in caplog.text
    assert "mul8s_1L2N from" in caplog.text and "replaces the one already known" in caplog.text
    with pytest.raises(InputError, match=r"^multipliers.candidates: mul8s_NOPE: unknown multiplier"):
        _candidates({"candidates": ["exact_s8", "mul8s_NOPE"]})
    config = config_from_dict({"multipliers": {"probe": "mul8s_NOPE"}})
    catalogue, names = build_catalogue(config)
    with pytest.raises(InputError, match=r"^multipliers.probe: mul8s_NOPE: unknown multiplier"):
        choose_probe(config, catalogue, names)


def test_a_sign_magnitude_name_cannot_be_imported(tmp_path):
    """``NAME+sm`` is the form xaigen derives from the shipped unsigned circuit: a file may not take it."""
    import numpy as np

    from xaigen.multipliers import exact_table

    np.save(tmp_path / "mul8u_2NDH+sm.npy", exact_table(False))
    with pytest.raises(InputError, match=r"names ending in \+sm are kept"):
        _candidates({"candidates": "unsigned", "files": [str(tmp_path / "mul8u_2NDH+sm.npy")]})


def test_a_test_set_too_small_to_halve_is_refused_before_training():
    from xaigen.context import load_data

    with pytest.raises(InputError, match=r"^data.test_limit: 1 test example\(s\): at least 2"):
        load_data(config_from_dict({"data": {"test_limit": 1}}))
