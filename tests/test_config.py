from pathlib import Path

import pytest

from xaigen.config import RunConfig, load_config
from xaigen.errors import InputError


def test_default():
    assert load_config(None) == RunConfig()
    assert RunConfig().hardware.accelerator == "tpu-v4"


@pytest.mark.parametrize("text,where,problem", [
    ("[search]\nbudgett = 3\n", "search.budgett", "unknown key"),
    ("[search]\nbudget = 'many'\n", "search.budget", "valid integer"),
    ("[search]\nbudget = -1\n", "search.budget", "greater than 0"),
    ("[data]\nname = 'imagenet'\n", "data.name", "unknown data set 'imagenet'"),
    ("[search]\nloss_budgets = [2.0]\n", "search.loss_budgets", "fractions"),
    ("[search\n", None, "not valid TOML"),
    ("[data]\npath = 'mine.npz'\n", "data", "data set 'digits' does not read path"),
    ("[data]\nname = 'npz'\npath = 'a.npz'\ndir = 'x'\n", "data", "data set 'npz' does not read dir"),
    ("[xai]\nmethods = ['lrp']\nguide = 'deeplift'\n", "xai", "must be one of the methods"),
    ("[xai]\nguide_floor = 'lrp'\n", "xai", "guide_floor 'lrp' must be one of the damage models"),
    ("[xai]\ndata = 'test'\n", "xai.data", "'validation' or 'train'"),
    ("[xai]\nguide_floor_mode = 'min'\n", "xai.guide_floor_mode", "'max' or 'fill'"),
    ("[quantization]\nunsigned_mapping = 'twos'\n", "quantization.unsigned_mapping", "'sign-magnitude' or 'offset'"),
    ("[quantization]\nunsigned_mapping = 1\n", "quantization.unsigned_mapping", "'sign-magnitude' or 'offset'"),
    ("[finetune]\ndistill = 1.5\n", "finetune.distill", "less than or equal to 1"),
    ("[finetune]\ndistill = 0.5\n[task]\nmetric = 'm.py:f'\nloss = 'm.py:g'\n", None, "distill needs the default"),
])
def test_bad_config(tmp_path, text, where, problem):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and problem in message
    if where:
        assert where in message


def test_unsigned_mapping_defaults_to_sign_magnitude(tmp_path):
    assert RunConfig().quantization.unsigned_mapping == "sign-magnitude"
    path = tmp_path / "c.toml"
    path.write_text("[quantization]\nunsigned_mapping = 'offset'\n")
    assert load_config(path).quantization.unsigned_mapping == "offset"


REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "configs").glob("*.toml")) + sorted((REPO / "benchmarks" / "results").glob("*.toml"))


def test_default_toml_lists_the_defaults():
    assert load_config(REPO / "configs" / "default.toml") == RunConfig()


def test_toml_with_a_byte_order_mark_deep_nesting_or_a_directory(tmp_path):
    from xaigen.config import load_config
    from xaigen.errors import InputError

    (tmp_path / "bom.toml").write_bytes("\ufeff[search]\nbudget = 7\n".encode())
    assert load_config(tmp_path / "bom.toml").search.budget == 7
    (tmp_path / "deep.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(tmp_path / "deep.toml")
    with pytest.raises(InputError, match="is a directory"):
        load_config(tmp_path)


def test_guide_floor_none_turns_it_off(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[xai]\ndamage = ['ig_delta']\nguide_floor = 'none'\n")
    assert load_config(path).xai.guide_floor is None and load_config(path).xai.damage_to_run == ["ig_delta"]


def test_the_guide_floor_is_computed_where_the_guide_needs_it(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[xai]\ndamage = ['ig_delta']\n")
    assert load_config(path).xai.damage_to_run == ["ig_delta", "fisher"]
    path.write_text("[xai]\nmethods = ['lrp']\nguide = 'lrp'\ndamage = []\n")  # a relevance guide: no floor
    assert load_config(path).xai.damage_to_run == []


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_and_experiment_file_loads(path):
    """A preset or an experiment file the README quotes must still be a valid configuration."""
    assert isinstance(load_config(path), RunConfig)
