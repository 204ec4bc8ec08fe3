"""Rewrite the golden files from the current code: ``python -m tests.golden.make``."""

import json
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

if __name__ == "__main__":
    os.environ["XAIGEN_HOME"] = tempfile.mkdtemp()
    from xaigen.config import config_from_dict
    from xaigen.nas import run_nas
    from xaigen.pipeline import run_pipeline

    from tests.nas.test_nas_command import GOLDEN_NAS
    from tests.test_pipeline import TINY

    results = run_pipeline(config_from_dict(TINY), Path(tempfile.mkdtemp()))
    results.pop("provenance", None)  # the machine, versions and date: not behaviour
    (HERE / "run_tiny.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    results = run_nas(config_from_dict(GOLDEN_NAS), Path(tempfile.mkdtemp()))
    results.pop("provenance", None)
    (HERE / "nas_2trials.json").write_text(json.dumps(results, indent=1, sort_keys=True))
