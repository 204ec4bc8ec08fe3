"""``xaigen nas`` from the command line: nas.json and nas.html, and the same search as before the
refactoring (the trials of the golden file)."""

import json
import re

from typer.testing import CliRunner

from tests.golden import load_golden
from tests.golden.compare import differences
from xaigen.cli import app

GOLDEN_NAS = {"nas": {"trials": 2, "epochs": 2, "xaigen_budget": 3}}


def test_nas_command_writes_results_and_report_and_searches_as_before(tmp_path):
    config = tmp_path / "nas.toml"
    config.write_text("[nas]\ntrials = 2\nepochs = 2\nxaigen_budget = 3\n")
    result = CliRunner().invoke(app, ["nas", "--config", str(config), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    nas = json.loads((tmp_path / "out" / "nas.json").read_text())
    page = (tmp_path / "out" / "nas.html").read_text()
    assert "data:image/png;base64," in page and not re.search(r"\b(nan|None)\b", page, re.IGNORECASE)
    for method in ("xai-nas", "evo-joint", "two-stage"):
        assert f"{method}:" in result.output  # the summary line per method
    golden = load_golden("nas_2trials")  # skips on a CPU kind without one, after the checks above
    # the same trials, summaries and choices as before; provenance was added (issue 15)
    assert differences(golden, nas, added={"provenance"}) == []
