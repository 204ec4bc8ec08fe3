"""Your own network and data in `xaigen run`: a model file, a checkpoint, .npz / image-folder /
factory data; every user mistake is one line and exit 2."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xaigen.cli import app

SIMPLE_MODEL = '''
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 64, num_classes)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))

def build(in_channels, num_classes):
    return Net(in_channels, num_classes)

def broken():
    raise RuntimeError("no GPU here")

def wrong_width(in_channels):
    return Net(in_channels, 3)  # the data has 10 classes

class FirstTen(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10]

def no_parameters():
    return FirstTen()
'''
# Few candidates, one damage model and no truth table: these tests are about the user's files.
FEW = '[multipliers]\ncandidates = ["exact_s8", "trunc_s8_c6", "drum_s8_k4", "mul8s_1L2N"]\n'
FAST = ("[xai]\nsamples = 16\nsteps = 2\ndamage = [\"ig_delta\"]\ntruth = false\n[search]\nbudget = 6\n"
        "methods = [\"uniform\", \"xai-gen\"]\n" + FEW)


@pytest.fixture()
def user_files(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.images[:, None] / 16.0).astype(np.float32), digits.target
    np.savez(tmp_path / "data.npz", x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:])
    (tmp_path / "net.py").write_text(SIMPLE_MODEL)
    return tmp_path


def _run(tmp_path, toml: str):
    (tmp_path / "c.toml").write_text(toml)
    return CliRunner().invoke(app, ["run", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "-q"])


def _one_line_error(result, text):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.output, result.output


def test_user_model_file_and_npz_data_end_to_end(user_files):
    toml = (f'[data]\nname = "npz"\npath = "{user_files / "data.npz"}"\n[model]\nsource = "{user_files / "net.py"}:build"\n'
            f"input_shape = [1, 8, 8]\nepochs = 3\n" + FAST)
    result = _run(user_files, toml)
    assert result.exit_code == 0, result.output
    results = json.loads((user_files / "out" / "results.json").read_text())
    assert results["model"].endswith("net.py:build") and results["dataset"] == "npz:data.npz"
    assert results["exact"]["accuracy"] > 0.8  # trained on the user's data
    assert set(results["sensitivity"]["loss_increase"]) == {"conv", "fc"}


def test_a_checkpoint_is_evaluated_as_it_is(user_files):
    import importlib.util

    spec = importlib.util.spec_from_file_location("net_for_test", user_files / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.build(1, 10).state_dict(), user_files / "w.pt")  # untrained: about chance accuracy
    toml = (f'[data]\nname = "npz"\npath = "{user_files / "data.npz"}"\n[model]\nsource = "{user_files / "net.py"}:build"\n'
            f'checkpoint = "{user_files / "w.pt"}"\n' + FAST)
    assert _run(user_files, toml).exit_code == 0
    assert json.loads((user_files / "out" / "results.json").read_text())["exact"]["accuracy"] < 0.4


@pytest.mark.parametrize("model, data, text", [
    ('source = "{d}/net.py:broken"', "", "raised RuntimeError: no GPU here"),
    ('source = "{d}/net.py:nothing"', "", "has no callable 'nothing'"),
    ('source = "{d}/missing.py:build"', "", "missing.py: no such file"),
    ('source = "{d}/net.py:build"\ncheckpoint = "{d}/other.pt"', "", "does not match the model"),
    ('source = "{d}/net.py:build"\ninput_shape = [3, 8, 8]', "", "model.input_shape is [3, 8, 8]"),
    ('source = "{d}/net.py:build"', "bad_labels", "labels must be in [0, 3)"),
    ('source = "{d}/net.py:build"', "nan", "NaN"),
    ('source = "{d}/net.py:build"', "wrong_shape", "cannot take the data's samples of shape [1, 6, 6]"),
    ('source = "{d}/net.py:build"', "missing_array", "missing array(s) y_test"),
    ('source = "{d}/net.py:build"', "test_label_beyond", "test label 5 is beyond every training label (0..2)"),
    ('source = "{d}/net.py:build"', "huge_label", "more than 100000"),
    ('source = "{d}/net.py:wrong_width"', "", "output is [2, 3] for 2 samples"),
    ('source = "{d}/net.py:no_parameters"', "", "no trainable parameters"),
    ('source = "{d}/exits.py:build"', "", "cannot import"),
    # A built-in model loads its checkpoint too (it was once ignored: the run used untrained weights).
    ('name = "small-cnn"\ncheckpoint = "{d}/other.pt"', "", "does not match the model"),
    ('name = "small-cnn"', "flat", "small-cnn takes images [C, H, W]"),
])
def test_user_mistakes_are_one_line_errors(user_files, model, data, text):
    torch.save(torch.nn.Linear(3, 3).state_dict(), user_files / "other.pt")
    x = np.zeros((30, 1, 8, 8), np.float32)
    y = np.arange(30) % 3
    variants = {"bad_labels": dict(x_train=x, y_train=y, x_test=x, y_test=y - 1),
                "nan": dict(x_train=x + np.nan, y_train=y, x_test=x, y_test=y),
                "wrong_shape": dict(x_train=x[:, :, :6, :6], y_train=y, x_test=x[:, :, :6, :6], y_test=y),
                "missing_array": dict(x_train=x, y_train=y, x_test=x),
                "test_label_beyond": dict(x_train=x, y_train=y, x_test=x, y_test=y + 3),
                "huge_label": dict(x_train=x, y_train=y * 10**12, x_test=x, y_test=y),
                "flat": dict(x_train=x.reshape(30, 64), y_train=y, x_test=x.reshape(30, 64), y_test=y)}
    (user_files / "exits.py").write_text("import sys\nsys.exit(3)\n")
    path = user_files / "data.npz"
    if data:
        np.savez(user_files / "bad.npz", **variants[data])
        path = user_files / "bad.npz"
    toml = f'[data]\nname = "npz"\npath = "{path}"\n[model]\n{model.format(d=user_files)}\nepochs = 1\n' + FAST
    _one_line_error(_run(user_files, toml), text)
    assert not (user_files / "out" / "results.json").exists()


def test_image_folder_and_dataset_factory(tmp_path):
    from PIL import Image

    from xaigen.data.user import load_from_factory, load_image_folder

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / "img" / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)).save(tmp_path / "img" / split / cls / f"{i}.png")
    data = load_image_folder(tmp_path / "img")
    assert tuple(data.x_train.shape) == (8, 3, 6, 5) and data.num_classes == 2
    assert data.y_train.tolist() == [0] * 4 + [1] * 4
    assert abs(float(data.x_train.mean())) < 1e-5  # normalised over the training images
    (tmp_path / "ds.py").write_text(
        "import torch\nfrom torch.utils.data import TensorDataset\n"
        "def load():\n    x = torch.randn(10, 2, 4)\n    y = torch.arange(10) % 2\n"
        "    return TensorDataset(x, y), TensorDataset(x[:4], y[:4])\n")
    data = load_from_factory(f"{tmp_path / 'ds.py'}:load")
    assert tuple(data.x_test.shape) == (4, 2, 4) and data.num_classes == 2


def test_a_users_task_metric_and_loss_replace_accuracy_and_cross_entropy(tmp_path):
    """Regression on float targets: the metric is negative MSE, the loss MSE."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 1, 8, 8)).astype(np.float32)
    y = x[:, 0, :4].mean(axis=(1, 2), keepdims=False)[:, None].astype(np.float32)  # one output
    np.savez(tmp_path / "reg.npz", x_train=x[:400], y_train=y[:400], x_test=x[400:], y_test=y[400:])
    (tmp_path / "net.py").write_text(SIMPLE_MODEL)
    (tmp_path / "task.py").write_text(
        "import torch.nn.functional as F\n"
        "def neg_mse(outputs, targets):\n    return -float(F.mse_loss(outputs, targets))\n"
        "def mse(outputs, targets):\n    return F.mse_loss(outputs, targets)\n")
    toml = (f'[data]\nname = "npz"\npath = "{tmp_path / "reg.npz"}"\n'
            f'[model]\nsource = "{tmp_path / "net.py"}:build"\nepochs = 3\n'
            f'[task]\nmetric = "{tmp_path / "task.py"}:neg_mse"\nloss = "{tmp_path / "task.py"}:mse"\n'
            '[xai]\nsamples = 16\nsteps = 2\nmethods = ["gradient_x_activation"]\nguide = "gradient_x_activation"\n'
            'damage = []\ntruth = false\n[search]\nbudget = 5\nmethods = ["uniform"]\n' + FEW)
    result = _run(tmp_path, toml)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    exact = results["exact"]
    assert -0.5 < exact["accuracy"] <= 0  # a negative MSE
    assert exact["test_accuracy"] <= 0


def test_the_example_network_is_fully_covered_and_an_lstm_is_counted(tmp_path):
    """examples/my_network.py (depthwise conv, BatchNorm, functional conv, residual add,
    MultiheadAttention) through `xaigen run` on .npz data: coverage 1.0; with an LSTM, coverage
    below 1 and the LSTM's MACs in the energy, said on stderr."""
    import sys

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "examples"))
    try:
        from my_network import make_data
    finally:
        sys.path.pop(0)
    make_data(str(tmp_path / "digits.npz"))
    base = (f'[data]\nname = "npz"\npath = "{tmp_path / "digits.npz"}"\n[model]\nepochs = 1\n'
            '[xai]\nsamples = 8\nsteps = 2\ndamage = ["ig_delta"]\ntruth = false\n[search]\nbudget = 4\n'
            'methods = ["uniform"]\n' + FEW)
    energies = {}
    for factory, out in (("build", "a"), ("build_with_lstm", "b")):
        toml = base.replace("[model]\n", f'[model]\nsource = "{repo / "examples" / "my_network.py"}:{factory}"\n')
        (tmp_path / f"{out}.toml").write_text(toml)
        result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / f"{out}.toml"), "--out",
                                          str(tmp_path / out), "-q"])
        assert result.exit_code == 0, result.output
        results = json.loads((tmp_path / out / "results.json").read_text())
        energies[factory] = results["exact"]["energy_pj"]
        if factory == "build":
            assert results["coverage"] == 1.0
            assert {"conv2d#0", "attn.out_proj", "attn:matmul#0"} <= set(results["sensitivity"]["loss_increase"])
        else:
            assert results["coverage"] < 1
            (left,) = results["coverage_detail"]["not_approximated"]
            assert left["op"] == "lstm" and left["macs"] > 0
    assert energies["build_with_lstm"] > energies["build"]  # the LSTM's MACs are charged
