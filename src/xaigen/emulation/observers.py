"""Range observers for activation calibration: min/max, percentile and MSE-optimal clipping.

Every observer returns the range ``[low, high]`` from which
:func:`~xaigen.emulation.quantization.activation_params` derives the scale (and zero-point):

* ``minmax``: the observed extremes (no clipping; an outlier stretches the step for everyone);
* ``percentile``: the 0.01 % and 99.99 % quantiles of the observed values (clips rare outliers);
* ``mse``: the range ``r * [min, max]`` (``r`` on a grid of 40 steps from 1 down to 0.2) that
  minimises the mean squared error ``E[(x - s * clamp(round(x / s)))^2]`` of symmetric signed int8
  quantization (the exact multiplier's code range) over the observed values.

Percentile and MSE work on a bounded uniform sample of the values (at most ``SAMPLE_PER_BATCH``
per batch, ``SAMPLE_LIMIT`` in all, drawn with a fixed seed), so calibration memory stays small
and the result is reproducible.
"""

from __future__ import annotations

import torch

from xaigen.emulation.quantization import activation_params, fake_quantize
from xaigen.errors import InputError

OBSERVERS = ("minmax", "percentile", "mse")
SAMPLE_PER_BATCH = 1 << 15
SAMPLE_LIMIT = 1 << 20
PERCENTILE = 99.99
MSE_RATIOS = torch.linspace(1.0, 0.2, 40)


class RangeObserver:
    """Accumulates what a site's operand takes over the calibration batches."""

    def __init__(self, kind: str = "minmax", seed: int = 0):
        if kind not in OBSERVERS:
            raise InputError("calibration.observer", f"unknown observer '{kind}'; expected {', '.join(OBSERVERS)}")
        self.kind = kind
        self.low, self.high = float("inf"), float("-inf")
        self.samples: list[torch.Tensor] = []
        self.sampled = 0
        self.generator = torch.Generator().manual_seed(seed)

    def observe(self, x: torch.Tensor) -> None:
        x = x.detach()
        self.low, self.high = min(self.low, float(x.min())), max(self.high, float(x.max()))
        if self.kind == "minmax" or self.sampled >= SAMPLE_LIMIT:
            return
        flat = x.reshape(-1).to(torch.float32)
        if flat.numel() > SAMPLE_PER_BATCH:
            flat = flat[torch.randint(flat.numel(), (SAMPLE_PER_BATCH,), generator=self.generator)]
        self.samples.append(flat)
        self.sampled += flat.numel()

    def range(self) -> tuple[float, float]:
        if self.kind == "minmax" or not self.samples:
            return self.low, self.high
        values = torch.cat(self.samples)
        if self.kind == "percentile":
            low = float(torch.quantile(values.double(), (100 - PERCENTILE) / 100))
            high = float(torch.quantile(values.double(), PERCENTILE / 100))
            return min(low, 0.0), max(high, 0.0)
        return mse_range(values, self.low, self.high)


def mse_range(values: torch.Tensor, low: float, high: float) -> tuple[float, float]:
    """The clipped range ``r * [low, high]`` of least signed-int8 quantization MSE on ``values``."""
    best, best_error = (low, high), float("inf")
    for ratio in MSE_RATIOS.tolist():
        candidate = (ratio * min(low, 0.0), ratio * max(high, 0.0))
        error = float(((fake_quantize(values, activation_params(*candidate, True)) - values) ** 2).mean())
        if error < best_error:
            best, best_error = candidate, error
    return best
