"""Calibration overhead of call-site tracing: calibrate() vs plain float forwards over the same batches
(ResNet-20, 512 CIFAR-sized random inputs, batch 256, 2 threads; 5 interleaved repeats, min and median).

    PYTHONPATH=src python benchmarks/calibration_overhead.py
"""
import os, statistics, time, torch
from xaigen.models import build_model
from xaigen.emulation import calibrate
torch.set_num_threads(2)
torch.manual_seed(0)
model = build_model("resnet20", 3, 10, 32).eval()
x = torch.randn(512, 3, 32, 32)
def plain():
    with torch.no_grad():
        for s in range(0, len(x), 256):
            model(x[s:s + 256])
def traced():
    calibrate(model, x, batch_size=256)
plain(); traced()
t = {"plain": [], "calibrate": []}
for _ in range(5):
    for name, f in (("plain", plain), ("calibrate", traced)):
        start = time.perf_counter(); f(); t[name].append(time.perf_counter() - start)
print("load", os.getloadavg())
for k, v in t.items(): print(k, "min %.3f s median %.3f s" % (min(v), statistics.median(v)))
print("ratio calibrate/plain: min %.2f median %.2f" % (min(t["calibrate"]) / min(t["plain"]), statistics.median(t["calibrate"]) / statistics.median(t["plain"])))
