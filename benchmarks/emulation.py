"""Emulation speed: exact float32 vs naive gather vs xaigen approximate inference, in ONE run.

    python benchmarks/emulation.py [--json] [--models lenet5 resnet20] [--multipliers ...]

For each model (random weights, CIFAR-shaped input 3x32x32, batch 256, 2 threads) and each
multiplier, prints images/s of: the float32 PyTorch model, the naive PyTorch gather (every
product looked up; measured on a sub-batch because it is ~1000x slower) and xaigen; the ratios;
the kernel path of each layer; and whether xaigen's outputs equal the naive reference bit for bit.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import EVOAPPROX_NPZ, benchmark_catalogue, best_time  # noqa: E402

from xaigen.emulation import approximable_layers, approximate, calibrate  # noqa: E402
from xaigen.models import lenet5, resnet  # noqa: E402

MODELS = {"lenet5": lambda: lenet5(3, 10, 32), "resnet20": lambda: resnet(20, 3, 10), "resnet8": lambda: resnet(8, 3, 10)}
EVO_DEFAULT = ["mul8s_1KV6", "mul8s_1L2N", "mul8s_1KV8", "mul8s_1KX5", "mitchell_s8"]
BUILTIN_DEFAULT = ["exact_s8", "drum_s8_k4", "trunc_s8_c6", "mitchell_s8"]
NAIVE_BATCH = {"lenet5": 16, "resnet20": 2, "resnet8": 4}


def run(model_name: str, multiplier: str, catalogue, batch: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = MODELS[model_name]().eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        model(x)  # random BN statistics are fine: they stay the same for every variant
    ranges = calibrate(model, x)
    fast = approximate(model, multiplier, catalogue, ranges)
    naive = approximate(model, multiplier, catalogue, ranges, path="naive")
    sub = x[: NAIVE_BATCH.get(model_name, 2)]
    with torch.no_grad():
        float_s = best_time(lambda: model(x))
        approx_s = best_time(lambda: fast(x))
        naive_s = best_time(lambda: naive(sub), repeats=1)
        bit_exact = bool(torch.equal(fast(sub), naive(sub)))
    paths = sorted({layer.plan().path for layer in approximable_layers(fast).values()})
    float_ips, approx_ips, naive_ips = batch / float_s, batch / approx_s, len(sub) / naive_s
    return {
        "model": model_name, "multiplier": multiplier, "batch": batch, "paths": paths,
        "float_ips": round(float_ips, 1), "naive_ips": round(naive_ips, 2), "approx_ips": round(approx_ips, 1),
        "ratio_vs_float": round(approx_ips / float_ips, 3), "ratio_vs_naive": round(approx_ips / naive_ips, 1),
        "bit_exact": bit_exact,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet20"], choices=sorted(MODELS))
    parser.add_argument("--multipliers", nargs="+")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    catalogue = benchmark_catalogue()
    names = args.multipliers or (EVO_DEFAULT if EVOAPPROX_NPZ.exists() else BUILTIN_DEFAULT)
    rows = []
    for model_name in args.models:
        for name in names:
            row = run(model_name, name, catalogue, args.batch, args.seed)
            rows.append(row)
            if not args.json:
                print(f"{row['model']:9s} {row['multiplier']:12s} float {row['float_ips']:8.1f} img/s | "
                      f"naive {row['naive_ips']:7.2f} | xaigen {row['approx_ips']:8.1f} | "
                      f"x{row['ratio_vs_float']:.3f} of float, x{row['ratio_vs_naive']:.0f} naive | "
                      f"bit-exact {row['bit_exact']} | {','.join(row['paths'])}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
