"""Whole-model emulation: calibrate, swap in approximate layers, re-assign multipliers, fine-tune.

Typical use::

    ranges = calibrate(model, x_calibration)                     # float model, once
    ax = approximate(model, {"conv1": "mul8s_1KV8"}, catalogue, ranges)
    set_assignment(ax, {"conv1": "exact_s8", "fc": "mul8s_1L2J"}, catalogue)   # cheap re-target
    accuracy(ax, x_test, y_test)

Layers not named in an assignment use the catalogue's exact signed multiplier, so an empty
assignment is plain int8 quantized inference.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from xaigen.emulation.layers import ApproxConv2d, ApproxLayer, ApproxLinear
from xaigen.errors import InputError
from xaigen.models.task import CLASSIFICATION, Task
from xaigen.models.training import fit
from xaigen.multipliers.catalogue import Catalogue
from xaigen.multipliers.multiplier import Multiplier

Assignment = Mapping[str, str]
APPROXIMABLE = (nn.Conv2d, nn.Linear)


def approximable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Conv2d/Linear (or already-approximate) layers by qualified name, in forward-definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (*APPROXIMABLE, ApproxLayer))}


def _batches(x: torch.Tensor, batch_size: int):
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


@torch.no_grad()
def calibrate(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> dict[str, tuple[float, float]]:
    """Observed (min, max) of every approximable layer's input over ``inputs`` (float model)."""
    ranges: dict[str, list[float]] = {}
    hooks = []
    for name, layer in approximable_layers(model).items():
        def hook(_module, args, name=name):
            x = args[0]
            low, high = float(x.min()), float(x.max())
            old = ranges.get(name)
            ranges[name] = [min(low, old[0]), max(high, old[1])] if old else [low, high]
        hooks.append(layer.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for batch in _batches(inputs, batch_size):
            model(batch)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {name: (lo, hi) for name, (lo, hi) in ranges.items()}


def _resolve(assignment: Assignment | str | None, layer_names: list[str], catalogue: Catalogue) -> dict[str, Multiplier]:
    default = catalogue.exact(signed=True)
    if assignment is None:
        assignment = {}
    if isinstance(assignment, str):
        assignment = {name: assignment for name in layer_names}
    unknown = sorted(set(assignment) - set(layer_names))
    if unknown:
        raise InputError("assignment", f"unknown layer(s) {', '.join(unknown)}; the model has {', '.join(layer_names)}")
    return {name: catalogue[assignment[name]] if name in assignment else default for name in layer_names}


def approximate(model: nn.Module, assignment: Assignment | str | None, catalogue: Catalogue,
                calibration: Mapping[str, tuple[float, float]], per_channel: bool = True,
                path: str = "auto") -> nn.Module:
    """A copy of ``model`` whose Conv2d/Linear layers multiply through their assigned tables.

    Args:
        model: a float PyTorch model (left unchanged).
        assignment: layer name -> multiplier name, or one multiplier name for every layer.
        catalogue: where multiplier names are looked up.
        calibration: input (min, max) per layer, from :func:`calibrate`.
        per_channel: per-output-channel weight scales (else one scale per tensor).
        path: kernel choice, ``auto`` (fastest exact path), ``gather`` or ``naive``.
    """
    ax = copy.deepcopy(model).eval()
    names = list(approximable_layers(ax))
    chosen = _resolve(assignment, names, catalogue)
    missing = [n for n in names if n not in calibration]
    if missing:
        raise InputError("calibration", f"has no range for layer(s) {', '.join(missing)}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = ax.get_submodule(parent_name) if parent_name else ax
        original = getattr(parent, child)
        cls = ApproxConv2d if isinstance(original, nn.Conv2d) else ApproxLinear
        setattr(parent, child, cls(original, calibration[name], chosen[name], per_channel, path))
    return ax


def set_assignment(approx_model: nn.Module, assignment: Assignment | str | None, catalogue: Catalogue) -> None:
    """Re-target an approximate model in place (cheap: kernel plans are rebuilt lazily)."""
    layers = approximable_layers(approx_model)
    for name, multiplier in _resolve(assignment, list(layers), catalogue).items():
        layers[name].set_multiplier(multiplier)


def current_assignment(approx_model: nn.Module) -> dict[str, str]:
    """Layer name -> multiplier name of an approximate model."""
    return {name: layer.multiplier.name for name, layer in approximable_layers(approx_model).items()}


@torch.no_grad()
def operand_histograms(approx_model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> dict[str, tuple]:
    """Per layer: (activation histogram, weight histogram), int64[256] each, by bit pattern.

    The activation histogram counts the codes of the layer's input, each element once (padding
    is not counted).

    Feed to :func:`xaigen.multipliers.joint_distribution` to rank multipliers on the operands a
    layer really sees.
    """
    layers = approximable_layers(approx_model)
    for layer in layers.values():
        layer.activation_histogram.zero_()
        layer.record_histograms = True
    try:
        for batch in _batches(inputs, batch_size):
            approx_model(batch)
    finally:
        for layer in layers.values():
            layer.record_histograms = False
    return {name: (layer.activation_histogram.clone(), layer.weight_histogram()) for name, layer in layers.items()}


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class predictions (int64[N]) in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(b).argmax(dim=1) for b in _batches(inputs, batch_size)])
    finally:
        model.train(was_training)


@torch.no_grad()
def accuracy_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512,
                      task: Task = CLASSIFICATION) -> tuple[float, float]:
    """The task's metric ("accuracy": top-1 in [0, 1] by default) and mean loss (cross-entropy by
    default) of ``model`` on (x, y): the one place that scores a model."""
    if task is not CLASSIFICATION:
        outputs = torch.cat([model(x[start : start + batch_size]) for start in range(0, len(x), batch_size)])
        return task.score(outputs, y)
    correct, loss = 0, 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        yb = y[start : start + batch_size]
        correct += int((logits.argmax(1) == yb).sum())
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    return correct / len(x), loss / len(x)


def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1]."""
    return accuracy_and_loss(model, inputs, labels, batch_size)[0]


def finetune(approx_model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, epochs: int = 2,
             lr: float = 1e-3, batch_size: int = 64, seed: int = 0, task: Task = CLASSIFICATION) -> list[float]:
    """Approximation-aware fine-tuning with a straight-through estimator; returns loss per epoch.

    Forward values are the bit-exact approximate outputs; gradients are those of the
    fake-quantized float layers, so the weights learn to compensate the multipliers' error.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(approx_model.parameters(), lr=lr)
    approx_model.train()
    for module in approx_model.modules():  # keep the calibrated statistics of batch-norm layers
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        return fit(approx_model, inputs, labels, optimizer, epochs, batch_size, generator, loss_fn=task.loss)
    finally:
        approx_model.eval()
