"""Matplotlib figures for reports (PNG, and SVG for papers; written atomically). Headless: the Agg backend.

SVG text stays text (``svg.fonttype = none``, editable in a vector editor) and the files are
reproducible (fixed id salt, no date in the metadata).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "xaigen"})

from xaigen.fileio import atomic_write  # noqa: E402

PART_COLOURS = {"multiplier": "#d62728", "accumulator": "#ff7f0e", "buffer": "#2ca02c", "dram": "#1f77b4",
                "static": "#7f7f7f"}
METHOD_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]


def save_figure(fig, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def save_figure_files(fig, folder: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``fig`` as ``<folder>/<stem>.png`` (110 dpi) and ``<folder>/<stem>.svg`` (vector)."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    folder = Path(folder)
    return (atomic_write(folder / f"{stem}.png", lambda tmp: tmp.write_bytes(png.getvalue())),
            atomic_write(folder / f"{stem}.svg", lambda tmp: tmp.write_bytes(svg.getvalue())))


def plot_network_energy(estimate: dict, path: str | Path, title: str = "") -> Path:
    """Energy per layer stacked by part (uJ) and utilization per layer, from ``NetworkEstimate.as_dict()``."""
    layers = estimate["layers"]
    names = [layer["name"] for layer in layers]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6, 0.45 * len(names) + 2), 6), sharex=True)
    base = [0.0] * len(names)
    for part, colour in PART_COLOURS.items():
        values = [layer["energy_pj"][part] / 1e6 for layer in layers]
        top.bar(names, values, bottom=base, color=colour, label=part)
        base = [b + v for b, v in zip(base, values)]
    top.set_ylabel("energy (uJ)")
    top.legend(fontsize=8, ncol=5)
    top.set_title(title or f"{estimate['accelerator']}: energy and utilization per layer")
    bottom.bar(names, [100 * layer["utilization"] for layer in layers], color="#444444")
    bottom.set_ylabel("utilization (%)")
    bottom.tick_params(axis="x", rotation=70, labelsize=7)
    return save_figure(fig, path)
