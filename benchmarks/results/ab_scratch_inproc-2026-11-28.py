"""In-process A/B of the front end's scratch buffer (see emulation-2026-11-28-amd-avx512vnni-ab-scratch-inprocess.txt)."""
import os
import sys

import torch
sys.path.insert(0, "benchmarks")  # run from the repository root
from common import benchmark_catalogue, interleaved_times
from xaigen.emulation import approximate, calibrate, kernels, frontend
from xaigen.models import resnet
torch.set_num_threads(2)
orig = frontend.lookup_conv_input
fresh = lambda *a, scratch=False: orig(*a, scratch=False)
torch.manual_seed(0)
model = resnet(20, 3, 10).eval()
x = torch.randn(256, 3, 32, 32)
with torch.no_grad(): model(x)
ranges = calibrate(model, x)
for mult in sys.argv[1:]:
    fast = approximate(model, mult, benchmark_catalogue(), ranges)
    def run_with(f):
        kernels.lookup_conv_input = f
        fast(x)
    with torch.no_grad():
        t = interleaved_times({"fresh": lambda: run_with(fresh), "float": lambda: model(x), "scratch": lambda: run_with(orig)}, 15)
    print(mult, {k: (round(v.min*1e3,1), round(v.median*1e3,1)) for k, v in t.items()}, "load", os.getloadavg()[0], flush=True)
