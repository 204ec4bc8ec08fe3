"""From a trained float model to an :class:`AssignmentProblem` (shared by ``run`` and ``nas``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xaigen.emulation import approximate, calibrate, operand_histograms, set_assignment
from xaigen.hardware import Accelerator, Layer, layers_from_model
from xaigen.models.task import CLASSIFICATION, Task
from xaigen.multipliers import Catalogue
from xaigen.search.problem import AssignmentProblem


@dataclass
class Prepared:
    """A quantized model ready for assignment search, with what XAI-Gen needs to know about it."""

    problem: AssignmentProblem
    approx_model: torch.nn.Module
    calibration: dict
    hw_layers: list[Layer]
    histograms: dict  # layer -> {signed: (activation_hist, weight_hist)}


def prepare(model: torch.nn.Module, x_calibration: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
            catalogue: Catalogue, candidates: Sequence[str], accelerator: Accelerator, batch: int = 1,
            per_channel: bool = True, task: Task = CLASSIFICATION) -> Prepared:
    """Calibrate, quantize (all exact), trace the hardware layers and record operand histograms
    for each signedness among the candidates."""
    calibration = calibrate(model, x_calibration)
    ax = approximate(model, None, catalogue, calibration, per_channel=per_channel)
    hw_layers = layers_from_model(model, tuple(x_calibration.shape[1:]), batch)
    histograms: dict = {}
    for signed in sorted({catalogue[n].signed for n in candidates}):
        set_assignment(ax, catalogue.exact(signed).name, catalogue)
        for name, (a, w) in operand_histograms(ax, x_calibration).items():
            histograms.setdefault(name, {})[signed] = (a.numpy(), w.numpy())
    set_assignment(ax, None, catalogue)
    problem = AssignmentProblem(ax, x_val, y_val, catalogue, candidates, hw_layers, accelerator, task)
    return Prepared(problem, ax, calibration, hw_layers, histograms)
