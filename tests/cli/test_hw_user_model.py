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


def test_estimate_compares_each_layer_with_the_exact_circuit_of_its_signedness(tmp_path):
    """The unsigned exact circuit in sign-magnitude saves nothing against its own reference; a signed
    circuit is compared with the signed exact one."""
    def reduction(assignment: dict) -> float:
        (tmp_path / "a.json").write_text(json.dumps(assignment))
        result = CliRunner().invoke(app, ["hw", "estimate", "--model", "lenet5", "--assignment",
                                          str(tmp_path / "a.json"), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["reduction_vs_exact"]["multiplier_energy_reduction"]

    assert reduction({"conv1": "exact_u8+sm"}) == 1.0
    assert reduction({"conv1": "exact_s8"}) == 1.0
    assert reduction({"conv1": "mul8u_18UH+sm"}) > 1.0
