"""Helpers shared by the benchmarks: honest timing and the multiplier catalogue with EvoApprox data."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVOAPPROX_NPZ = Path(os.environ.get("XAIGEN_EVOAPPROX", REPO / "src" / "xaigen" / "multipliers" / "data" / "evoapprox8.npz"))


@dataclass(frozen=True)
class Timing:
    """Wall times (s) of repeated calls of one function."""

    times: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def best_time(func, repeats: int = 3) -> float:
    """Best wall time (s) of ``repeats`` calls after one warm-up call."""
    return interleaved_times({"f": func}, repeats)["f"].min


def interleaved_times(funcs: Mapping[str, Callable[[], object]], repeats: int = 5) -> dict[str, Timing]:
    """Time several functions in round-robin order, in one process.

    Every function is called once to warm up, then ``repeats`` rounds call each once in turn, so a
    change of machine load during the run hits every function alike and their ratios stay fair.
    """
    for func in funcs.values():
        func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: Timing(tuple(t)) for name, t in times.items()}


def machine_state() -> dict:
    """Load averages (1, 5, 15 min), CPU count and the thread pools' sizes, for the record."""
    import numba
    import torch

    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "numba_threads": numba.get_num_threads(), "torch": torch.__version__,
        "quantized_engine": torch.backends.quantized.engine,
    }


def benchmark_catalogue():
    """Built-ins plus the 50 EvoApprox circuits shipped with xaigen (no user imports)."""
    from xaigen.multipliers import Catalogue

    return Catalogue.default(include_user=False)
