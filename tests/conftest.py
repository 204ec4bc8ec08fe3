"""Shared fixtures. The EvoApprox tables shipped in the package are test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
EVOAPPROX_NPZ = Path(os.environ.get("XAIGEN_EVOAPPROX", REPO / "src" / "xaigen" / "multipliers" / "data" / "evoapprox8.npz"))

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty user catalogue."""
    monkeypatch.setenv("XAIGEN_HOME", str(tmp_path / "xaigen-home"))


@pytest.fixture(autouse=True, scope="session")
def shared_cache(tmp_path_factory):
    """One cache of recomputable data (factors of product tables) for the whole session, so the
    processes the tests start do not factorize every table again; its own tests use their own."""
    with pytest.MonkeyPatch.context() as session_env:
        session_env.setenv("XAIGEN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def evoapprox():
    """All 50 EvoApproxLib 8x8 multipliers, by name."""
    if not EVOAPPROX_NPZ.exists():
        pytest.skip(f"EvoApprox data not found at {EVOAPPROX_NPZ}")
    from xaigen.multipliers import load_multipliers

    return {m.name: m for m in load_multipliers(EVOAPPROX_NPZ)}


@pytest.fixture(scope="session")
def catalogue(evoapprox):
    from xaigen.multipliers import Catalogue

    return Catalogue.default(include_user=False)


@pytest.fixture(scope="session")
def digits_trained():
    """The small CNN trained 4 epochs on digits, its calibration (256 training images) and the
    built-in catalogue: the shared starting point of the search, retraining and damage tests.
    Tests must not change the model (``approximate`` works on a copy)."""
    from types import SimpleNamespace

    from xaigen.data import load_digits
    from xaigen.emulation import calibrate
    from xaigen.models import TrainConfig, small_cnn, train
    from xaigen.multipliers import Catalogue

    data = load_digits()
    torch.manual_seed(0)
    model = small_cnn()
    train(model, data.x_train, data.y_train, TrainConfig(epochs=4))
    model.eval()
    return SimpleNamespace(data=data, model=model, calibration=calibrate(model, data.x_train[:256]),
                           catalogue=Catalogue.default(include_user=False))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny ``xaigen run`` (tests.test_pipeline.TINY) with its report, shared by the pipeline
    and report tests: (output directory, results as plain data)."""
    from tests.test_pipeline import TINY
    from xaigen.config import config_from_dict
    from xaigen.pipeline import run_pipeline
    from xaigen.report.html import write_report

    before = os.environ.get("XAIGEN_HOME")
    os.environ["XAIGEN_HOME"] = str(tmp_path_factory.mktemp("home"))
    try:
        out = tmp_path_factory.mktemp("run")
        results = run_pipeline(config_from_dict(TINY), out)
        write_report(results, out)
    finally:
        if before is None:
            os.environ.pop("XAIGEN_HOME", None)
        else:
            os.environ["XAIGEN_HOME"] = before
    return out, results
