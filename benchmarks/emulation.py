"""Emulation speed: float32 vs naive gather vs xaigen approximate inference, interleaved in ONE run.

    python benchmarks/emulation.py [--json] [--models lenet5 resnet20] [--multipliers ...] [--repeats 7]

For each model (random weights, CIFAR-shaped input 3x32x32, batch 256, 2 threads) and each
multiplier, the float32 PyTorch model, xaigen and the naive PyTorch gather (every product looked
up; on a sub-batch because it is ~1000x slower) are timed in round-robin order in this process, so
a change of machine load hits all three alike. Reported: min and median images/s of each, the
ratios (``ratio_vs_float`` = xaigen / float from the medians, ``ratio_vs_float_min`` from the
minima; ``ratio_vs_float_channels_last`` against the same float model run channels-last, often
faster than the default layout on CPUs), the kernel path of the layers, the table's rank, and whether xaigen's outputs equal the
naive reference bit for bit. The machine load and thread-pool sizes are printed first.

A model with BatchNorm (ResNet) is also timed as an int8 deployment runs it: every conv -> BatchNorm
pair folded into the conv before quantizing (``[quantization] fold_batchnorm = true``,
:func:`xaigen.emulation.folding.fold_batchnorm`), so no float BatchNorm runs between the int8
layers. ``ratio_folded_vs_float`` compares that emulation with the float model as given, and
``ratio_folded_vs_float_folded`` with the float model folded the same way (the fair pair: both
without BatchNorm); ``folded_bit_exact`` checks the folded emulation against the naive reference of
the same folded model. For a model without foldable pairs (LeNet-5) these fields are ``None``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import numba
import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import EVOAPPROX_NPZ, benchmark_catalogue, interleaved_times, machine_state  # noqa: E402

from xaigen.emulation import approximable_layers, approximate, calibrate  # noqa: E402
from xaigen.emulation.factorization import low_rank_factors  # noqa: E402
from xaigen.emulation.folding import fold_batchnorm  # noqa: E402
from xaigen.emulation.tables import value_ordered_table  # noqa: E402
from xaigen.models import lenet5, resnet  # noqa: E402

MODELS = {"lenet5": lambda: lenet5(3, 10, 32), "resnet20": lambda: resnet(20, 3, 10), "resnet8": lambda: resnet(8, 3, 10)}
EVO_DEFAULT = ["mul8s_1KV6", "mul8s_1L2N", "mul8s_1KVM", "exact_s8", "mul8s_1KV8", "mul8s_1KX5", "mul8s_1KVA",
               "mitchell_s8", "mul8u_DG8", "mul8u_L93"]  # ranks 1, 3, 4, 5 (every signed rank) and three gathers
BUILTIN_DEFAULT = ["exact_s8", "drum_s8_k4", "trunc_s8_c6", "mitchell_s8"]
MIN_SAMPLE_MS = 0.0  # one call per sample, as in every recorded run; see common.interleaved_times
NAIVE_BATCH = {"lenet5": 16, "resnet20": 2, "resnet8": 4}


def table_rank(multiplier) -> int:
    """Rank of the factorization xaigen uses, or the numerical rank of the table (gather path)."""
    factors = low_rank_factors(multiplier)
    if factors is not None:
        return factors.rank
    return int(np.linalg.matrix_rank(value_ordered_table(multiplier).astype(np.float64)))


def seeded_model(model_name: str, batch: int, seed: int) -> tuple[torch.nn.Module, torch.Tensor, dict]:
    """The benchmark's float model (random weights from ``seed``, eval mode), its input batch
    (3x32x32) and the input ranges calibrated on that batch: what every emulation benchmark times."""
    torch.manual_seed(seed)
    model = MODELS[model_name]().eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        model(x)  # random BN statistics are fine: they stay the same for every variant
    return model, x, calibrate(model, x)


def _ips(batch: int, timing) -> tuple[float, float]:
    return batch / timing.min, batch / timing.median


def _bit_exact(fast, naive, x, sub) -> bool:
    """xaigen's outputs equal the naive reference's on ``sub``, alone and as the first rows of batch ``x``."""
    want = naive(sub)
    return bool(torch.equal(fast(sub), want)) and bool(torch.equal(fast(x)[: len(sub)], want))


def _folded_variants(model, multiplier: str, catalogue, ranges) -> dict:
    """The float model and its emulation with every conv -> BatchNorm pair folded (empty without pairs)."""
    folding = fold_batchnorm(model)
    if not folding.folded:
        return {}
    return {"float": folding.model, "fast": approximate(model, multiplier, catalogue, ranges, fold_batchnorm=True),
            "naive": approximate(model, multiplier, catalogue, ranges, path="naive", fold_batchnorm=True),
            "pairs": len(folding.folded)}


def _folded_fields(folded: dict, timing, batch: int, sub, x) -> dict:
    if not folded:
        return {"folded_bn_pairs": 0, "xaigen_folded_ips_median": None, "float_folded_ips_median": None,
                "ratio_folded_vs_float": None, "ratio_folded_vs_float_folded": None, "folded_bit_exact": None}
    fast = timing["xaigen_folded"].median
    with torch.no_grad():
        exact = _bit_exact(folded["fast"], folded["naive"], x, sub)
    return {"folded_bn_pairs": folded["pairs"], "xaigen_folded_ips_median": round(batch / fast, 1),
            "float_folded_ips_median": round(batch / timing["float_folded"].median, 1),
            "ratio_folded_vs_float": round(timing["float"].median / fast, 3),
            "ratio_folded_vs_float_folded": round(timing["float_folded"].median / fast, 3),
            "folded_bit_exact": exact}


def run(model_name: str, multiplier: str, catalogue, batch: int, seed: int, repeats: int,
        min_sample_s: float = 0.0) -> dict:
    model, x, ranges = seeded_model(model_name, batch, seed)
    fast = approximate(model, multiplier, catalogue, ranges)
    naive = approximate(model, multiplier, catalogue, ranges, path="naive")
    folded = _folded_variants(model, multiplier, catalogue, ranges)
    sub = x[: NAIVE_BATCH.get(model_name, 2)]
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    funcs = {"float": lambda: model(x), "xaigen": lambda: fast(x),
             "float_channels_last": lambda: model_cl(x_cl), "naive": lambda: naive(sub)}
    if folded:
        funcs.update({"float_folded": lambda: folded["float"](x), "xaigen_folded": lambda: folded["fast"](x)})
    with torch.no_grad():
        timing = interleaved_times(funcs, repeats, min_sample_s)
        bit_exact = _bit_exact(fast, naive, x, sub)
    paths = sorted({layer.last_path for layer in approximable_layers(fast).values()})  # as the timed runs ran
    (f_min, f_med), (a_min, a_med) = _ips(batch, timing["float"]), _ips(batch, timing["xaigen"])
    n_min, n_med = _ips(len(sub), timing["naive"])
    return {
        "model": model_name, "multiplier": multiplier, "table_rank": table_rank(catalogue[multiplier]),
        "path": "+".join(paths), "batch": batch, "repeats": repeats,
        "calls_per_sample": {name: t.calls for name, t in timing.items()},
        "float_ips_min_time": round(f_min, 1), "float_ips_median": round(f_med, 1),
        "xaigen_ips_min_time": round(a_min, 1), "xaigen_ips_median": round(a_med, 1),
        "naive_ips_median": round(n_med, 2),
        "float_channels_last_ips_median": round(len(x) / timing["float_channels_last"].median, 1),
        "ratio_vs_float_channels_last": round(timing["float_channels_last"].median / timing["xaigen"].median, 3),
        "ratio_vs_float": round(a_med / f_med, 3), "ratio_vs_float_min": round(a_min / f_min, 3),
        "ratio_vs_naive": round(a_med / n_med, 1), "bit_exact": bit_exact,
        **_folded_fields(folded, timing, batch, sub, x),
    }


def _print_row(row: dict) -> None:
    print(f"{row['model']:9s} {row['multiplier']:12s} r{row['table_rank']:<3d} {row['path']:18s} "
          f"float {row['float_ips_median']:8.1f} | xaigen {row['xaigen_ips_median']:8.1f} img/s (median) | "
          f"x{row['ratio_vs_float']:.3f} of float (min-time x{row['ratio_vs_float_min']:.3f}) | "
          f"x{row['ratio_vs_float_channels_last']:.3f} of channels-last float | "
          f"naive {row['naive_ips_median']:7.2f}, x{row['ratio_vs_naive']:.0f} | bit-exact {row['bit_exact']}",
          flush=True)
    if row["folded_bn_pairs"]:
        print(f"{'':27s} BatchNorm folded ({row['folded_bn_pairs']} pairs): "
              f"xaigen {row['xaigen_folded_ips_median']:8.1f} img/s | x{row['ratio_folded_vs_float']:.3f} of float | "
              f"x{row['ratio_folded_vs_float_folded']:.3f} of folded float | bit-exact {row['folded_bit_exact']}",
              flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet20"], choices=sorted(MODELS))
    parser.add_argument("--multipliers", nargs="+")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-sample-ms", type=float, default=MIN_SAMPLE_MS,
                        help="each timed sample repeats a call until it lasts this long (0: one call per sample)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    catalogue = benchmark_catalogue()
    names = args.multipliers or (EVO_DEFAULT if EVOAPPROX_NPZ.exists() else BUILTIN_DEFAULT)
    start_state = machine_state()
    if not args.json:
        print(f"machine at start: {start_state}", flush=True)
    rows = []
    for model_name in args.models:
        for name in names:
            row = run(model_name, name, catalogue, args.batch, args.seed, args.repeats, args.min_sample_ms / 1000)
            row["loadavg"] = machine_state()["loadavg"]
            rows.append(row)
            if not args.json:
                _print_row(row)
    end_state = machine_state()
    if args.json:
        print(json.dumps({"machine_start": start_state, "machine_end": end_state, "rows": rows}, indent=2))
    else:
        print(f"machine at end: {end_state}")
    return 0 if all(r["bit_exact"] and r["folded_bit_exact"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
