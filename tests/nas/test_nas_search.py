"""A tiny NAS: every method runs, nas.json holds what the issue asks, and a resumed study continues."""

import json

import pytest

from xaigen.config import config_from_dict
from xaigen.nas import run_nas

TINY = {"nas": {"trials": 2, "budget_minutes": None, "epochs": 1, "xaigen_budget": 3},
        "multipliers": {"candidates": ["exact_s8", "drum_s8_k4", "drum_s8_k5", "trunc_s8_c8"]}}


@pytest.mark.slow
def test_tiny_nas_and_resume(tmp_path):
    first = run_nas(config_from_dict(TINY), tmp_path)
    on_disk = json.loads((tmp_path / "nas.json").read_text())
    assert on_disk["methods"].keys() == {"xai-nas", "evo-joint", "two-stage"}
    for method, s in on_disk["methods"].items():
        assert s["trials"] >= 2
        assert set(s) >= {"front", "hypervolume", "hypervolume_curve", "wall_s", "best_within", "by_budget", "elapsed_curve"}
        assert set(s["best_within"]) == set(s["by_budget"]) == {"0.01", "0.02"}
    assert set(on_disk["xai_nas_vs"]) == {"evo-joint", "two-stage"}
    bigger = config_from_dict({**TINY, "nas": {**TINY["nas"], "trials": 3}})
    second = run_nas(bigger, tmp_path)  # resumes from nas.db: only the third trial is new
    for method in ("xai-nas", "evo-joint"):
        old, new = first["trials"][method], second["trials"][method]
        assert len(new) == 3
        assert [t["params"] for t in new[:2]] == [t["params"] for t in old]
        assert [t["accuracy"] for t in new[:2]] == [t["accuracy"] for t in old]


@pytest.mark.slow
def test_two_nas_workers_share_the_study(tmp_path):
    config = config_from_dict({**TINY, "nas": {**TINY["nas"], "methods": ["xai-nas"], "trials": 3}})
    result = run_nas(config, tmp_path, workers=2)
    assert 3 <= result["methods"]["xai-nas"]["trials"] <= 4  # both workers may start the last trial
    assert result["workers"] == 2
