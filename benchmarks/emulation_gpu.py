"""Emulation on a CUDA GPU: bit-exact against the CPU, timed against float32 on the same GPU.

    python benchmarks/emulation_gpu.py [--json] [--models lenet5 resnet20] [--multipliers ...] [--repeats 20]

For each model (random weights, input 3x32x32, batch 256) and multiplier the approximate model is
built once on the CPU and once moved to the GPU. Checked: the GPU's outputs equal the CPU's bit
for bit on the whole batch, and both equal the naive product-by-product reference on a sub-batch.
Per layer, on the inputs the GPU model feeds it, the integer accumulators on the GPU are compared
with the CPU's (whole batch) and with the naive reference (sub-batch): that is the contract; the
float outputs are compared too, and where they differ the first layer whose float output differs
is named (float epilogues may round differently on two devices).
Timed in round-robin order in this process (each call ends with ``torch.cuda.synchronize()``):
the float32 model with PyTorch's defaults (cuDNN on), the float32 model under xaigen's exact-kernel
flags (cuDNN and TF32 off: the kernels xaigen's float path itself uses), and xaigen on the GPU.
Layers whose plan is a CPU kernel (``gather``; ``int8`` is never planned for GPU weights) compute
on the CPU and move back: their rows say so in ``cpu_layers``.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import REPO, interleaved_times, machine_state, benchmark_catalogue  # noqa: E402
sys.path.insert(0, str(REPO))
from tests.emulation.reference import layer_inputs  # noqa: E402
from emulation import MODELS, NAIVE_BATCH, seeded_model, table_rank  # noqa: E402

from xaigen.emulation import approximable_layers, approximate  # noqa: E402
from xaigen.emulation.device import exact_float_kernels, float_kernels_exact  # noqa: E402

DEFAULT = ["exact_s8", "mul8s_1L2N", "mul8s_1KV8", "mul8s_1KVM", "mul8s_1KX5", "mul8s_1KVA", "drum_s8_k4",
           "mul8u_18UH+sm", "mitchell_s8"]


def _synced(function):
    def call():
        function()
        torch.cuda.synchronize()
    return call


def _exact_flags(function):
    def call():
        with exact_float_kernels(torch.device("cuda")):
            function()
    return call


def layer_checks(gpu, cpu, naive, x_gpu: torch.Tensor, sub: int) -> dict:
    """Per-layer accumulator equality (GPU vs CPU, GPU vs naive) and the first float difference."""
    layers = [approximable_layers(m) for m in (gpu, cpu, naive)]
    acc_cpu, acc_naive, first_float = True, True, None
    for name, inputs in layer_inputs(gpu, x_gpu).items():
        acc = layers[0][name].accumulators(inputs).cpu()
        acc_cpu &= bool(torch.equal(acc, layers[1][name].accumulators(inputs.cpu())))
        acc_naive &= bool(torch.equal(acc[:sub], layers[2][name].accumulators(inputs[:sub].cpu())))
        if first_float is None and not torch.equal(layers[0][name](inputs).cpu(), layers[1][name](inputs.cpu())):
            first_float = name
    return {"accumulators_equal_cpu": acc_cpu, "accumulators_equal_naive": acc_naive,
            "first_layer_float_output_differs": first_float}


def run(model_name: str, multiplier: str, catalogue, batch: int, seed: int, repeats: int) -> dict:
    model, x, ranges = seeded_model(model_name, batch, seed)
    cpu = approximate(model, multiplier, catalogue, ranges)
    gpu = approximate(model, multiplier, catalogue, ranges).to("cuda")
    naive = approximate(model, multiplier, catalogue, ranges, path="naive")
    model_gpu, x_gpu = model.to("cuda"), x.to("cuda")
    sub = x[: NAIVE_BATCH.get(model_name, 2)]
    with torch.no_grad():
        out_gpu = gpu(x_gpu).cpu()
        bit_exact_cpu = bool(torch.equal(out_gpu, cpu(x)))
        bit_exact_naive = bool(torch.equal(out_gpu[: len(sub)], naive(sub)))
        checks = layer_checks(gpu, cpu, naive, x_gpu, len(sub))
        max_diff = float((out_gpu - cpu(x)).abs().max())
        timing = interleaved_times({"float": _synced(lambda: model_gpu(x_gpu)),
                                    "float_exact_flags": _synced(_exact_flags(lambda: model_gpu(x_gpu))),
                                    "xaigen": _synced(lambda: gpu(x_gpu))}, repeats)
    plans = {name: layer.plan().path for name, layer in approximable_layers(gpu).items()}
    ms = {name: (round(t.min * 1e3, 3), round(t.median * 1e3, 3)) for name, t in timing.items()}
    return {
        "model": model_name, "multiplier": multiplier, "table_rank": table_rank(catalogue[multiplier]),
        "path": "+".join(sorted(set(plans.values()))),
        "cpu_layers": sorted(n for n, p in plans.items() if p in ("gather", "int8", "naive")),
        "batch": batch, "repeats": repeats,
        "float_ms_min_median": ms["float"], "float_exact_flags_ms_min_median": ms["float_exact_flags"],
        "xaigen_ms_min_median": ms["xaigen"],
        "ratio_vs_float": round(timing["float"].median / timing["xaigen"].median, 3),
        "ratio_vs_float_exact_flags": round(timing["float_exact_flags"].median / timing["xaigen"].median, 3),
        "bit_exact_vs_cpu": bit_exact_cpu, "bit_exact_vs_naive": bit_exact_naive, "max_abs_diff_vs_cpu": max_diff,
        **checks,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet20"], choices=sorted(MODELS))
    parser.add_argument("--multipliers", nargs="+", default=DEFAULT)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure", file=sys.stderr)
        return 2
    catalogue = benchmark_catalogue()
    header = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "float_kernels_exact": float_kernels_exact(torch.device("cuda")), "machine": machine_state()}
    print(json.dumps(header), flush=True)
    rows = []
    for model_name in args.models:
        for name in args.multipliers:
            try:
                row = run(model_name, name, catalogue, args.batch, args.seed, args.repeats)
            except Exception as error:  # one failing row must not cost the rest of a GPU lease
                row = {"model": model_name, "multiplier": name, "error": f"{type(error).__name__}: {error}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps({**header, "rows": rows}, indent=2))
    ok = all(r.get("accumulators_equal_cpu") and r.get("accumulators_equal_naive") for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
