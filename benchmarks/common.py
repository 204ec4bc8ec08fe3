"""Helpers shared by the benchmarks: timing and the multiplier catalogue with EvoApprox data."""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVOAPPROX_NPZ = Path(os.environ.get("XAIGEN_EVOAPPROX", REPO.parent / "shared" / "evoapprox8" / "evoapprox8.npz"))


def best_time(func, repeats: int = 3) -> float:
    """Best wall time (s) of ``repeats`` calls after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def benchmark_catalogue():
    """Built-ins plus the 50 EvoApprox circuits when ../shared is present."""
    from xaigen.multipliers import Catalogue, load_multipliers

    cat = Catalogue.default(include_user=False)
    if EVOAPPROX_NPZ.exists():
        for m in load_multipliers(EVOAPPROX_NPZ):
            cat.add(m)
    return cat
