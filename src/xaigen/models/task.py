"""What a model is scored on: a metric (higher is better) and a differentiable loss.

The default is classification: top-1 accuracy and cross-entropy on integer labels. A user's task
(``[task] metric = "file.py:function"``, ``loss = "..."``) brings its own:

* ``metric(outputs, targets) -> float``: over the whole evaluation set at once, higher is better
  (e.g. accuracy, negative MSE, mAP); "accuracy" and "loss budget" in xaigen's results then mean
  this metric and differences of it;
* ``loss(outputs, targets) -> scalar tensor``: the batch mean, differentiable (training and
  fine-tuning minimise it; the sensitivity ground truth measures its increase).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Metric = Callable[[torch.Tensor, torch.Tensor], float]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def top1_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float((outputs.argmax(1) == targets).sum()) / len(targets)


@dataclass(frozen=True)
class Task:
    name: str
    metric: Metric
    loss: Loss
    class_labels: bool  # targets are integer classes (XAI attributes the true class)

    def score(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
        """``(metric, mean loss)`` of outputs for the whole set."""
        return float(self.metric(outputs, targets)), float(self.loss(outputs, targets))


CLASSIFICATION = Task("classification", top1_accuracy, nn.functional.cross_entropy, True)


def load_task(metric: str | None, loss: str | None) -> Task:
    """The user's task from ``module:function`` names (both or neither), else classification."""
    from xaigen.errors import InputError
    from xaigen.models.user import load_factory

    if metric is None and loss is None:
        return CLASSIFICATION
    if metric is None or loss is None:
        raise InputError("task", "give both metric and loss (module:function each), or neither")
    return Task(f"{metric} / {loss}", load_factory(metric, "task.metric"), load_factory(loss, "task.loss"), False)
