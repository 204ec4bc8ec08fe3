"""Which of a layer's exact kernel paths is faster, measured once per geometry.

Two plans of one layer can both be exact (the int8 lowering and the float low-rank convolution of
the same factors give the same integers), so choosing between them changes speed, never a bit. Which
one is faster depends on the CPU and the layer: on CPUs without VNNI (AMD Zen 3, AVX2) oneDNN's int8
convolution wins on most convolutions while ``torch._int_mm`` is several times slower than a float
matmul (LeNet-5's ``fc1`` at batch 256: 9.9 ms against 1.5 ms). Like ``torch.backends.cudnn.benchmark``,
:func:`faster_path` times the candidates on the first call of a geometry (one warm-up call each,
then ``repeats`` interleaved calls; the least time wins) and remembers the answer for the process.

The key is the caller's: everything the speed depends on (layer kind and shapes, input shape, the
plans' operand shapes, thread count), never the weight values, so a search that swaps multipliers
of the same structure measures once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Mapping

import torch

LOG = logging.getLogger("xaigen")
_FASTER: dict[Hashable, str] = {}


def known_choice(key: Hashable) -> str | None:
    """The path measured faster for ``key`` earlier in this process, or None."""
    return _FASTER.get(key)


def faster_path(key: Hashable, runs: Mapping[str, Callable[[], torch.Tensor]],
                repeats: int = 3) -> tuple[str, dict[str, torch.Tensor]]:
    """Time every run (one warm-up call each, then ``repeats`` interleaved calls), remember the one
    with the least time for ``key`` and return its name with every run's last output."""
    outputs = {name: run() for name, run in runs.items()}  # warm-up: packs weights, checks geometries
    best_s = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            outputs[name] = run()
            best_s[name] = min(best_s[name], time.perf_counter() - start)
    choice = min(best_s, key=best_s.__getitem__)
    _FASTER[key] = choice
    LOG.debug("path timing %s: %s", key, {name: f"{s * 1e3:.2f} ms" for name, s in best_s.items()})
    return choice, outputs


def remember(key: Hashable, path: str) -> None:
    """Record ``path`` as the choice for ``key`` without timing (a path that must be taken)."""
    _FASTER[key] = path


def clear() -> None:
    """Forget every measured choice (tests; after changing the thread count the key differs anyway)."""
    _FASTER.clear()
