"""Run SCALE-Sim (the reference) on the same layers and configuration, and compare cycles.

SCALE-Sim v2 simulates one array; we compare its per-layer "Total Cycles" with our single-pod
estimate (``pods = 1``): the closed form when the configuration leaves the bandwidth to SCALE-Sim
(CALC mode, compute-bound), the closed form plus :mod:`xaigen.hardware.starved`'s stalls when it
gives one (USER mode). Depthwise (``DP``) layers, which SCALE-Sim splits into one layer per
channel, are summed. Timings: our estimate is repeated ``repeats`` times after a warm-up call (the
compiled kernels load once per process); SCALE-Sim runs once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from xaigen.errors import InputError
from xaigen.fileio import require_file
from xaigen.hardware.config import read_scalesim_cfg
from xaigen.hardware.estimate import estimate_layer
from xaigen.hardware.topology import read_topology_csv


@dataclass(frozen=True)
class ValidationResult:
    layers: list[dict]  # name, cycles, scalesim_cycles, rel_error
    max_rel_error: float
    our_seconds: float
    scalesim_seconds: float

    @property
    def speedup(self) -> float:
        return self.scalesim_seconds / self.our_seconds if self.our_seconds else float("inf")

    def as_dict(self) -> dict:
        return {"layers": self.layers, "max_rel_error": self.max_rel_error, "speedup_vs_scalesim": self.speedup,
                "our_seconds": self.our_seconds, "scalesim_seconds": self.scalesim_seconds}


def run_scalesim(topology: Path, config: Path, gemm: bool) -> list[tuple[str, int]]:
    """(layer id, Total Cycles) per SCALE-Sim layer, run quietly in a temporary directory."""
    from scalesim.scale_sim import scalesim

    workdir = Path(tempfile.mkdtemp(prefix="xaigen-scalesim-"))
    try:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                sim = scalesim(save_disk_space=True, verbose=False, config=str(config), topology=str(topology),
                               input_type_gemm=gemm)
                sim.run_scale(top_path=str(workdir))
        except (Exception, SystemExit) as exc:  # SCALE-Sim's own failures: say so in one line
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise InputError(config, f"SCALE-Sim could not simulate it ({type(exc).__name__}: {detail})") from None
        reports = list(workdir.glob("*/COMPUTE_REPORT.csv"))
        if not reports:
            raise InputError(config, "SCALE-Sim produced no COMPUTE_REPORT.csv")
        with reports[0].open() as f:
            rows = list(csv.reader(f))[1:]
        return [(r[0].strip(), int(float(r[1]))) for r in rows if r]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def validate(topology: str | Path, config: str | Path, repeats: int = 200) -> ValidationResult:
    """Compare our cycles with SCALE-Sim's for every layer of ``topology`` on ``config``."""
    topology, config = require_file(topology), require_file(config)
    accelerator = read_scalesim_cfg(config)
    layers = read_topology_csv(topology)
    gemm = layers[0].ifmap_h is None

    ours = [estimate_layer(layer, accelerator).cycles for layer in layers]  # warm-up: compiled kernels load
    start = time.perf_counter()
    for _ in range(repeats):
        ours = [estimate_layer(layer, accelerator).cycles for layer in layers]
    our_seconds = (time.perf_counter() - start) / repeats

    start = time.perf_counter()
    theirs = run_scalesim(topology, config, gemm)
    scalesim_seconds = time.perf_counter() - start

    per_layer = [layer.groups for layer in layers]
    if sum(per_layer) != len(theirs):
        raise InputError(topology, f"SCALE-Sim ran {len(theirs)} layers, expected {sum(per_layer)}")
    rows, index = [], 0
    for layer, cycles, count in zip(layers, ours, per_layer):
        reference = sum(c for _, c in theirs[index : index + count])
        index += count
        rows.append({"name": layer.name, "cycles": cycles, "scalesim_cycles": reference,
                     "rel_error": abs(cycles - reference) / reference if reference else 0.0})
    return ValidationResult(rows, max(r["rel_error"] for r in rows), our_seconds, scalesim_seconds)
