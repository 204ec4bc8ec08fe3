"""`xaigen hw estimate` and `xaigen hw topology` on a user's model file."""

import json
from pathlib import Path

from typer.testing import CliRunner

from xaigen.cli import app
from xaigen.hardware import read_topology_csv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_network.py"


def test_estimate_and_export_a_user_model(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["hw", "estimate", "--model", f"{EXAMPLE}:build", "--input-shape", "1,8,8", "--json"])
    assert result.exit_code == 0, result.output
    layers = {row["name"] for row in json.loads(result.output)["layers"]}
    assert {"stem", "depthwise", "head"} <= layers
    result = runner.invoke(app, ["hw", "topology", str(tmp_path / "t.csv"), "--model", f"{EXAMPLE}:build",
                                 "--input-shape", "1,8,8"])
    assert result.exit_code == 0, result.output
    exported = read_topology_csv(tmp_path / "t.csv")
    assert sum(layer.macs for layer in exported) > 0 and any(layer.name.startswith("depthwise") for layer in exported)


def test_a_user_model_needs_its_input_shape():
    result = CliRunner().invoke(app, ["hw", "estimate", "--model", f"{EXAMPLE}:build"])
    assert result.exit_code == 2 and "--input-shape" in result.output
