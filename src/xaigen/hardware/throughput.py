"""Latency, throughput and energy per inference as the batch grows (where the array idles).

A network's layers at batch ``b`` are its batch-1 layers with ``b`` times the output pixels
(``M = b * Ho * Wo`` for a convolution, ``M = b`` for a Linear layer) and ``b`` input maps; the
weights are the same. A larger batch fills the array's rows (ws/is stream more pixels per weight
load, os folds fill up) and amortizes weight traffic, so inferences per second rise and energy per
inference falls until the array is busy; latency of the whole batch grows. Per batch ``b``:

* latency [us]          = cycles(b) / f[MHz]
* inferences/s          = b * 1e6 / latency
* energy per inference  = E(b) / b   (pJ)
* utilization           = MACs(b) / (MAC units * cycles(b))
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from xaigen.errors import InputError
from xaigen.fileio import atomic_write
from xaigen.hardware.config import Accelerator
from xaigen.hardware.estimate import estimate_network
from xaigen.hardware.topology import Layer

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class BatchPoint:
    """One batch size on one accelerator (cycles, us, pJ)."""

    batch: int
    cycles: int
    latency_us: float
    inferences_per_s: float
    energy_per_inference_pj: float
    multiplier_energy_per_inference_pj: float
    static_energy_per_inference_pj: float
    utilization: float  # useful MACs / (all MAC units * cycles)

    def as_dict(self) -> dict:
        return asdict(self)


def with_batch(layer: Layer, batch: int) -> Layer:
    """``layer`` (traced or read at ``layer.batch``) at another batch size."""
    if layer.m % layer.batch:
        raise InputError(layer.name, f"M = {layer.m} is not a multiple of its batch {layer.batch}")
    return replace(layer, m=layer.m // layer.batch * batch, batch=batch)


def batch_sweep(layers: Sequence[Layer], accelerator: Accelerator, batches: Sequence[int] = DEFAULT_BATCHES,
                multiplier_mw: Mapping[str, float] | float | None = None) -> list[BatchPoint]:
    """Estimate the network at every batch size in ``batches``."""
    points = []
    for batch in batches:
        if batch < 1:
            raise InputError("batch sweep", f"batch sizes must be positive, got {batch}")
        net = estimate_network([with_batch(layer, batch) for layer in layers], accelerator, multiplier_mw)
        energy, cycles = net.energy_pj, net.cycles
        macs = sum(layer.macs for layer in net.layers)
        latency = cycles / accelerator.clock_mhz
        points.append(BatchPoint(batch, cycles, latency, batch * 1e6 / latency if cycles else math.inf,
                                 energy.total / batch, energy.multiplier / batch, energy.static / batch,
                                 macs / (accelerator.macs * cycles) if cycles else 0.0))
    return points


def plot_batch_sweep(points: Sequence[BatchPoint], path, title: str = ""):
    """Inferences/s and utilization (top), energy per inference (bottom) against the batch; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = [p.batch for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    top.plot(batches, [p.inferences_per_s for p in points], "o-", color="#1f77b4", label="inferences/s")
    top.set_yscale("log")
    top.set_ylabel("inferences / s")
    util = top.twinx()
    util.plot(batches, [100 * p.utilization for p in points], "s--", color="#d62728", label="utilization")
    util.set_ylabel("array utilization (%)", color="#d62728")
    util.set_ylim(0, 100)
    top.set_title(title)
    bottom.plot(batches, [p.energy_per_inference_pj / 1e6 for p in points], "o-", color="#2ca02c", label="total")
    bottom.plot(batches, [p.static_energy_per_inference_pj / 1e6 for p in points], "^:", color="#7f7f7f",
                label="of which leakage")
    bottom.plot(batches, [p.multiplier_energy_per_inference_pj / 1e6 for p in points], "v:", color="#ff7f0e",
                label="of which multipliers")
    bottom.set_yscale("log")
    bottom.set_ylabel("energy per inference (uJ)")
    bottom.set_xscale("log", base=2)
    bottom.set_xlabel("batch size")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))
