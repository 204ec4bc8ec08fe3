"""From a trained float model to an :class:`AssignmentProblem` (shared by ``run`` and ``nas``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from xaigen.emulation import (
    Coverage,
    EmulationOptions,
    calibrate,
    coverage,
    operand_histograms,
    set_assignment,
    tune_weights,
)
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
    coverage: Coverage | None = None  # share of the model's MACs that the search can approximate
    options: EmulationOptions = EmulationOptions()  # how approx_model (and every fine-tuned copy) is made


def prepare(model: torch.nn.Module, x_calibration: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
            catalogue: Catalogue, candidates: Sequence[str], accelerator: Accelerator, batch: int = 1, *,
            options: EmulationOptions = EmulationOptions(), task: Task = CLASSIFICATION, observer: str = "minmax",
            budget_margin_se: float = 0.0) -> Prepared:
    """Calibrate, quantize (all exact), trace the hardware layers and record operand histograms
    for each signedness among the candidates. ``options.exact_layers`` (names or fnmatch patterns)
    stay on the exact multiplier and out of the search; their energy and that of sites no
    multiplier can take (an LSTM) is charged at exact power. With ``options.weight_tuning`` the
    returned options carry the activation histograms the tuning uses. ``budget_margin_se``: see
    :class:`AssignmentProblem`."""
    calibration = calibrate(model, x_calibration, observer=observer)
    ax = options.approximate(model, None, catalogue, calibration)
    hw_layers = layers_from_model(model, tuple(x_calibration.shape[1:]), batch)
    histograms: dict = {}
    for signed in sorted({catalogue[n].signed for n in candidates}):
        set_assignment(ax, catalogue.exact(signed).name, catalogue)
        for name, (a, w) in operand_histograms(ax, x_calibration).items():
            histograms.setdefault(name, {})[signed] = (a.numpy(), w.numpy())
    set_assignment(ax, None, catalogue)
    if options.weight_tuning:  # every approximate copy tunes its weights to these activations
        options = replace(options, tuning_histograms={n: {s: a for s, (a, _) in h.items()} for n, h in histograms.items()})
        tune_weights(ax, options.tuning_histograms)
    problem = AssignmentProblem(ax, x_val, y_val, catalogue, candidates, hw_layers, accelerator, task,
                                budget_margin_se)
    covered = coverage(model, x_calibration[:1], options.exact_layers)
    return Prepared(problem, ax, calibration, hw_layers, histograms, covered, options)
