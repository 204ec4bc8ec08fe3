"""Where an approximate model's forward spends its time, next to the float model's.

    python benchmarks/emulation_profile.py [--model resnet20] [--multiplier mul8s_1KVA] [--repeats 5] [--json]

The model of ``benchmarks/emulation.py`` (random weights, batch 256, 2 threads) runs ``repeats``
forwards under ``cProfile`` (the C front end and the thread pool are invisible to
``torch.profiler``, so Python's profiler is the one that sees every part). Reported per forward,
in ms: the whole forward, the quantize-and-lookup front end (``lookup_conv_input`` and
``lookup_rows``, border fill and thread hand-off included), the int8 convolution and matmul, the
float low-rank and gather kernels where a layer takes them, and the float ops between the
approximate layers (batch norm, ReLU, the rest); the float model's forward under the same
profiler, with its convolutions, batch norm and ReLU; the minor page faults per forward of each;
then both forwards timed interleaved (medians). The machine load is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import sys

import numba
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import benchmark_catalogue, interleaved_times, machine_state  # noqa: E402
from emulation import MODELS, seeded_model, table_rank  # noqa: E402

from xaigen.emulation import approximable_layers, approximate  # noqa: E402

# part -> the functions whose cumulative time it is (cProfile's (file suffix, function name))
PARTS = {
    "front_end": [("frontend.py", "lookup_conv_input"), ("frontend.py", "lookup_rows"), ("gather.py", "quantize_pad")],
    "int8_conv": [("int8.py", "conv2d")],
    "int8_matmul": [("int8.py", "linear")],
    "direct_conv": [("direct.py", "conv2d")],  # its own front end included
    "gather": [("gather.py", "conv2d")],
    "batch_norm": [("~", "<built-in method torch.batch_norm>")],
    "relu": [("~", "<built-in method torch.relu>")],
}
# the float model's parts, for comparison: its convolutions are what the int8 convolution replaces
FLOAT_PARTS = {
    "conv": [("~", "<built-in method torch.conv2d>")],
    "batch_norm": PARTS["batch_norm"],
    "relu": PARTS["relu"],
}


def _part_times(stats: pstats.Stats, forwards: int, parts: dict = PARTS) -> dict[str, float]:
    """Cumulative ms per forward of each part's functions (nested calls of one part counted once)."""
    out = {}
    for part, functions in parts.items():  # stats.stats: (file, line, name) -> (calls, ..., tottime, cumtime, callers)
        total = sum(cumulative for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items()
                    if any(path.endswith(suffix) and name == function for suffix, function in functions))
        out[part] = round(1e3 * total / forwards, 1)
    return out


def _profiled(forward, repeats: int) -> tuple[pstats.Stats, float]:
    """``repeats`` calls of ``forward`` under cProfile, and the minor page faults per call (memory
    the process had to get back from the kernel, e.g. after glibc returned a freed tensor)."""
    profiler = cProfile.Profile()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    profiler.enable()
    for _ in range(repeats):
        forward()
    profiler.disable()
    return pstats.Stats(profiler), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / repeats


def profile(model_name: str, multiplier: str, batch: int, repeats: int, seed: int) -> dict:
    model, x, ranges = seeded_model(model_name, batch, seed)
    catalogue = benchmark_catalogue()
    with torch.no_grad():
        fast = approximate(model, multiplier, catalogue, ranges)
        timing = interleaved_times({"float": lambda: model(x), "xaigen": lambda: fast(x)}, repeats)
        stats, faults = _profiled(lambda: fast(x), repeats)
        float_stats, float_faults = _profiled(lambda: model(x), repeats)
    parts = _part_times(stats, repeats)
    paths = sorted({layer.last_path for layer in approximable_layers(fast).values()})
    return {"model": model_name, "multiplier": multiplier, "table_rank": table_rank(catalogue[multiplier]),
            "paths": paths, "batch": batch, "repeats": repeats,
            "profiled_forward_ms": round(1e3 * stats.total_tt / repeats, 1), "parts_ms": parts,
            "float_profiled_forward_ms": round(1e3 * float_stats.total_tt / repeats, 1),
            "float_parts_ms": _part_times(float_stats, repeats, FLOAT_PARTS),
            "minor_page_faults_per_forward": round(faults), "float_minor_page_faults_per_forward": round(float_faults),
            "xaigen_forward_ms_median": round(1e3 * timing["xaigen"].median, 1),
            "float_forward_ms_median": round(1e3 * timing["float"].median, 1),
            "ratio_vs_float": round(timing["float"].median / timing["xaigen"].median, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20", choices=sorted(MODELS))
    parser.add_argument("--multiplier", nargs="+", default=["mul8s_1KVA"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    start = machine_state()
    rows = [profile(args.model, name, args.batch, args.repeats, args.seed) for name in args.multiplier]
    result = {"machine_start": start, "machine_end": machine_state(), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine at start: {start}")
    for row in rows:
        print(f"{row['model']} {row['multiplier']} (rank {row['table_rank']}, paths {'+'.join(row['paths'])}): "
              f"forward {row['xaigen_forward_ms_median']} ms (float {row['float_forward_ms_median']} ms, "
              f"x{row['ratio_vs_float']} of float); under cProfile {row['profiled_forward_ms']} ms, of which "
              + ", ".join(f"{k} {v}" for k, v in row["parts_ms"].items())
              + f"; the float model under cProfile {row['float_profiled_forward_ms']} ms, of which "
              + ", ".join(f"{k} {v}" for k, v in row["float_parts_ms"].items())
              + f"; minor page faults per forward {row['minor_page_faults_per_forward']} "
              f"(float {row['float_minor_page_faults_per_forward']})")
    print(f"machine at end: {result['machine_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
