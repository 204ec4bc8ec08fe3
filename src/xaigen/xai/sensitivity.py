"""Measured per-layer sensitivity: the ground truth that relevance scores are checked against.

For each layer ``l``, only ``l`` uses the probe multiplier (every other layer stays exact int8);
the sensitivity is the accuracy drop and the cross-entropy increase on the evaluation data,
relative to the all-exact int8 model. Cross-entropy separates layers that the (coarse, often tied)
accuracy cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from xaigen.emulation import accuracy_and_loss, approximable_layers, set_assignment
from xaigen.models.task import CLASSIFICATION, Task
from xaigen.multipliers import Catalogue


@dataclass(frozen=True)
class Sensitivity:
    probe: str
    accuracy_drop: dict[str, float]
    loss_increase: dict[str, float]


def layer_sensitivity(approx_model: nn.Module, x: torch.Tensor, y: torch.Tensor, catalogue: Catalogue,
                      probe: str, advance=None, task: Task = CLASSIFICATION) -> Sensitivity:
    """Sensitivity of each layer to ``probe``; leaves ``approx_model`` all-exact afterwards."""
    names = list(approximable_layers(approx_model))
    set_assignment(approx_model, None, catalogue)
    base_accuracy, base_loss = accuracy_and_loss(approx_model, x, y, task=task)
    drop, increase = {}, {}
    for name in names:
        set_assignment(approx_model, {name: probe}, catalogue)
        accuracy, loss = accuracy_and_loss(approx_model, x, y, task=task)
        drop[name], increase[name] = base_accuracy - accuracy, loss - base_loss
        if advance:
            advance()
    set_assignment(approx_model, None, catalogue)
    return Sensitivity(probe, drop, increase)


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    """Spearman rank correlation of two scores over their common keys (average ranks for ties)."""
    from scipy.stats import spearmanr

    keys = sorted(set(a) & set(b))
    if len(keys) < 3:
        return float("nan")
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)
