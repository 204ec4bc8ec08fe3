"""Rewrite this CPU kind's golden files from the current code: ``python -m tests.golden.make``
(see :mod:`tests.golden` for why they are kept per CPU kind)."""

import json
import os
import tempfile
from pathlib import Path

import torch

from tests.golden import golden_file

if __name__ == "__main__":
    os.environ["XAIGEN_HOME"] = tempfile.mkdtemp()
    torch.set_num_threads(2)  # as the tests run (tests/conftest.py)
    from xaigen.config import config_from_dict
    from xaigen.nas import run_nas
    from xaigen.pipeline import run_pipeline

    from tests.nas.test_nas_command import GOLDEN_NAS
    from tests.test_pipeline import TINY

    results = run_pipeline(config_from_dict(TINY), Path(tempfile.mkdtemp()))
    results.pop("provenance", None)  # the machine, versions and date: not behaviour
    golden_file("run_tiny").write_text(json.dumps(results, indent=1, sort_keys=True))
    results = run_nas(config_from_dict(GOLDEN_NAS), Path(tempfile.mkdtemp()))
    results.pop("provenance", None)
    golden_file("nas_2trials").write_text(json.dumps(results, indent=1, sort_keys=True))
