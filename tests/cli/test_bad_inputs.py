"""Every bad input gives exit code 2, one line naming the input, no traceback, no output file."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xaigen.cli import app

BAD = Path(__file__).resolve().parents[1] / "bad_inputs"
REPO = BAD.parents[1]

# (arguments, text the one-line error must contain)
CASES = [
    (["multipliers", "import", BAD / "truncated.bin"], "has 1000 bytes, expected 131072"),
    (["multipliers", "import", BAD / "oversized.bin"], "has 131074 bytes"),
    (["multipliers", "import", BAD / "strings.npy", "--signed"], "expected integers"),
    (["multipliers", "import", BAD / "wrong_shape.npy", "--signed"], "shape (16, 16), expected (256, 256)"),
    (["multipliers", "import", BAD / "mul8s_out_of_range.npy"], "99999 at [7, 9] is outside"),
    (["multipliers", "import", BAD / "not_a_zip.npz"], "not a readable .npz file"),
    (["multipliers", "import", BAD / "mul8s_times.c"], "line 4: unsupported C syntax 'A * B'"),
    (["multipliers", "import", BAD / "mul8s_loop.c"], "unsupported"),
    (["multipliers", "import", BAD / "missing.c"], "no such file"),
    (["multipliers", "show", "mul8s_NOPE"], "unknown multiplier"),
    (["multipliers", "export", "mul8s_NOPE", "OUT/x.npy"], "unknown multiplier"),
    (["multipliers", "export", "exact_s8", "OUT/x.txt"], "output must end in .npy"),
    (["run", "--config", BAD / "unknown_key.toml"], "search.budgett: unknown key"),
    (["run", "--config", BAD / "wrong_type.toml"], "model.epochs"),
    (["run", "--config", BAD / "negative_size.toml"], "hardware.batch: Input should be greater than 0"),
    (["run", "--config", BAD / "unknown_model.toml"], "unknown model 'vgg99'"),
    (["run", "--config", BAD / "bad_toml.toml"], "not valid TOML"),
    (["run", "--config", BAD / "missing.toml"], "no such file"),
    (["run", "--config", BAD / "unknown_preset.toml"], "tpu-v9: unknown accelerator"),
    (["run", "--config", BAD / "unknown_multiplier.toml"], "mul8s_NOPE: unknown multiplier"),
    (["run", "--config", BAD / "fashion_truncated.toml"], "train-images-idx3-ubyte:data: has"),
    (["run", "--config", BAD / "cifar_bad.toml"], "not a CIFAR-10 python pickle batch"),
    (["run", "--out", BAD / "README.md" / "sub"], "is not a directory"),
    (["hw", "estimate", "--topology", BAD / "missing_columns.csv"], "line 2: expected at least 8 columns"),
    (["hw", "estimate", "--topology", BAD / "non_numeric.csv"], "line 2: column 'N': 'many' is not an integer"),
    (["hw", "estimate", "--model", "vgg99"], "unknown model 'vgg99'"),
    (["hw", "estimate", "--model", "lenet5", "--accelerator", "tpu-v9"], "unknown accelerator"),
    (["hw", "estimate", "--model", "lenet5", "--config", BAD / "bad_dataflow.cfg"], "'dataflow' must be one of"),
    (["hw", "estimate", "--model", "lenet5", "--config", BAD / "negative_array.cfg"], "'ArrayHeight' must be positive"),
    (["hw", "estimate", "--model", "small-cnn", "--assignment", BAD / "unknown_layer_assignment.json"],
     "unknown layer(s) conv9"),
    (["hw", "estimate", "--model", "small-cnn", "--assignment", BAD / "unknown_multiplier_assignment.json"],
     ":conv1: unknown multiplier"),
    (["hw", "estimate", "--model", "small-cnn", "--assignment", BAD / "not_json.json"], "not valid JSON"),
    (["hw", "validate", "--topology", BAD / "missing_columns.csv", "--config", BAD / "bad_dataflow.cfg"],
     "'dataflow' must be one of"),
]


@pytest.mark.parametrize("args,expected", CASES, ids=lambda v: " ".join(map(str, v)) if isinstance(v, list) else None)
def test_bad_input(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(REPO)
    args = [str(a).replace("OUT", str(tmp_path / "out")) for a in args]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    # Progress bars may precede it; the error is one line, the last one.
    errors = [line for line in result.stderr.splitlines() if line.startswith("xaigen: error: ")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    for name in ("results.json", "report.html", "x.npy", "x.txt"):
        assert not (tmp_path / "out" / name).exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_real_process_exit_code(tmp_path):
    """The installed entry point, not just the in-process runner, exits 2 without a traceback."""
    proc = subprocess.run([sys.executable, "-m", "xaigen.cli", "multipliers", "import", str(BAD / "truncated.bin")],
                          capture_output=True, text=True, env={"XAIGEN_HOME": str(tmp_path), "PATH": "/usr/bin"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
