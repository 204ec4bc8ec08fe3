"""Helpers shared by the benchmarks: honest timing and the multiplier catalogue with EvoApprox data."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVOAPPROX_NPZ = REPO / "src" / "xaigen" / "multipliers" / "data" / "evoapprox8.npz"  # in every catalogue already


def extra_multiplier_files() -> list[str]:
    """Multiplier files the run benchmarks add to a configuration: ``XAIGEN_EVOAPPROX`` when set
    (another pack). The shipped circuits need none: every catalogue holds them, and re-adding
    their file would only say 50 times that it replaces them."""
    other = os.environ.get("XAIGEN_EVOAPPROX")
    return [other] if other else []


@dataclass(frozen=True)
class Timing:
    """Wall times (s) per call of one function: one per sample, each sample ``calls`` calls in a row."""

    times: tuple[float, ...]
    calls: int = 1

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def best_time(func, repeats: int = 3) -> float:
    """Best wall time (s) of ``repeats`` calls after one warm-up call."""
    return interleaved_times({"f": func}, repeats)["f"].min


def interleaved_times(funcs: Mapping[str, Callable[[], object]], repeats: int = 5,
                      min_sample_s: float = 0.0) -> dict[str, Timing]:
    """Time several functions in round-robin order, in one process.

    Every function is called once to warm up, then ``repeats`` rounds take one sample of each in
    turn, so a change of machine load during the run hits every function alike and their ratios
    stay fair. A sample is ``calls`` calls in a row, timed together and divided by ``calls``, with
    ``calls`` the fewest whose time reaches ``min_sample_s`` (from a second, timed warm-up call;
    1 when ``min_sample_s`` is 0): the steady throughput of back-to-back calls, as when a model
    runs over a data set batch after batch, rather than one call that starts with the caches and
    allocator state the previous function left.
    """
    calls = {}
    for name, func in funcs.items():
        func()
        start = time.perf_counter()
        if min_sample_s > 0:
            func()
        calls[name] = max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                func()
            times[name].append((time.perf_counter() - start) / calls[name])
    return {name: Timing(tuple(t), calls[name]) for name, t in times.items()}


def machine_state() -> dict:
    """Load averages (1, 5, 15 min), CPU count, the thread pools' sizes, the CPU kind and how its
    int8 conv adds products (``exact`` / ``int16-pairs``, see ``xaigen.emulation.int8``), for the record."""
    import numba
    import torch

    from xaigen.emulation.int8 import int8_conv_mode
    from xaigen.provenance import machine

    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
        "numba_threads": numba.get_num_threads(), "torch": torch.__version__,
        "quantized_engine": torch.backends.quantized.engine, "cpu": machine()["cpu"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "int8_conv_mode": int8_conv_mode(),
    }


def benchmark_catalogue():
    """Built-ins plus the 50 EvoApprox circuits shipped with xaigen (no user imports)."""
    from xaigen.multipliers import Catalogue

    return Catalogue.default(include_user=False)


def run_config(spec: str, seed: int | None = None):
    """The ``xaigen run`` configuration ``spec`` ('default' or a TOML path) with
    :func:`extra_multiplier_files` among its multiplier files; with ``seed``, that one seed and no repeats."""
    from xaigen.config import load_config

    cfg = load_config(None if spec == "default" else spec)
    files = cfg.multipliers.files + extra_multiplier_files()
    search = cfg.search if seed is None else cfg.search.model_copy(update={"seed": seed, "seeds": None})
    return cfg.model_copy(update={"multipliers": cfg.multipliers.model_copy(update={"files": files}), "search": search})


def seed_parser(description: str):
    """The arguments of a one-configuration, one-seed benchmark: ``--config``, ``--seed``, ``--json``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    return parser
