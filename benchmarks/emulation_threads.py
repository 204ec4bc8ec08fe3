"""Where the C kernels run their threads: torch's own OpenMP workers or a Python pool, A/B in ONE run.

    python benchmarks/emulation_threads.py [--models resnet20 lenet5] [--multipliers ...] [--repeats 9]

The model of ``benchmarks/emulation.py`` (random weights, batch 256, 2 threads) runs, interleaved
in this process: the float32 model, xaigen with its C kernels on torch's OpenMP threads
(``xaigen.emulation.native.run_kernel``, the default where the library shares torch's runtime) and
xaigen with the same kernels on a Python thread pool (``native.USE_OPENMP = False``, the only way
before). Both give the same bits (checked here). Printed: min and median ms per forward of each,
each sample ``--min-sample-ms`` of back-to-back calls, and the machine load.
"""

from __future__ import annotations

import argparse
import sys

import numba
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import benchmark_catalogue, interleaved_times, machine_state  # noqa: E402
from emulation import MODELS, seeded_model  # noqa: E402

from xaigen.emulation import approximate, native  # noqa: E402


def _with_openmp(flag: bool, func):
    def run():
        native.USE_OPENMP = flag
        try:
            return func()
        finally:
            native.USE_OPENMP = True
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet20", "lenet5"], choices=sorted(MODELS))
    parser.add_argument("--multipliers", nargs="+", default=["mul8s_1KVA", "mul8s_1KV8", "mitchell_s8"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--min-sample-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    if not native.shares_torch_openmp():
        print("the C kernels do not share torch's OpenMP runtime here: nothing to compare")
        return 1
    catalogue = benchmark_catalogue()
    print(f"machine at start: {machine_state()}", flush=True)
    for model_name in args.models:
        for name in args.multipliers:
            model, x, ranges = seeded_model(model_name, 256, 0)
            with torch.no_grad():
                fast = approximate(model, name, catalogue, ranges)
                funcs = {"float": lambda: model(x), "openmp": _with_openmp(True, lambda: fast(x)),
                         "pool": _with_openmp(False, lambda: fast(x))}
                same = torch.equal(funcs["openmp"](), funcs["pool"]())
                timing = interleaved_times(funcs, args.repeats, args.min_sample_ms / 1000)
            cells = " | ".join(f"{k} {t.min * 1e3:7.2f} / {t.median * 1e3:7.2f}" for k, t in timing.items())
            print(f"{model_name:9s} {name:12s} ms per forward, min / median: {cells} | "
                  f"pool / openmp median x{timing['pool'].median / timing['openmp'].median:.3f} | same bits {same}",
                  flush=True)
    print(f"machine at end: {machine_state()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
