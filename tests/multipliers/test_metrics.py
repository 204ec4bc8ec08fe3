import json

import numpy as np
import pytest

from tests.conftest import EVOAPPROX_NPZ
from xaigen.multipliers import error_metrics, exact, joint_distribution, truncated


def test_exact_has_no_error():
    e = error_metrics(exact(True))
    assert e.mae == e.wce == e.mse == e.ep == e.bias == 0


def test_uniform_metrics_match_published_measurements(evoapprox):
    meta = json.loads(EVOAPPROX_NPZ.with_suffix(".json").read_text())
    for name, m in evoapprox.items():
        e = error_metrics(m)
        assert e.mae == pytest.approx(meta[name]["measured_mae"], rel=1e-9, abs=1e-9), name
        assert e.wce == meta[name]["measured_wce"], name


def test_distribution_changes_the_ranking():
    m = truncated(True, 6)
    hist = np.zeros(256)
    hist[[0, 64, 128]] = 1  # operands whose six low bits are zero: truncation costs nothing
    e = error_metrics(m, joint_distribution(hist, hist))
    assert e.mae == 0 and e.ep == 0
    assert error_metrics(m).mae > 0


def test_distribution_validated():
    with pytest.raises(ValueError):
        joint_distribution(np.zeros(256), np.ones(256))
