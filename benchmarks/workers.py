"""Speed-up of the NSGA-II search with 2 worker processes sharing one Optuna storage.

    python benchmarks/workers.py [--config configs/lenet5-fashion.toml] [--budget 60]

Runs `xaigen run` with only the NSGA-II method, once with 1 worker and once with 2, in separate
output directories (so separate SQLite studies), and prints the wall time of the search step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from xaigen.config import load_config
from xaigen.pipeline import run_pipeline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/lenet5-fashion.toml")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--out", default="runs/workers-bench")
    args = parser.parse_args()
    base = load_config(args.config)
    cfg = base.model_copy(update={
        "search": base.search.model_copy(update={"budget": args.budget, "methods": ["nsga2"]}),
        "xai": base.xai.model_copy(update={"methods": ["noise_sensitivity"], "guide": "noise_sensitivity"})})
    times = {}
    for workers in (1, 2):
        out = Path(args.out) / f"w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        results = run_pipeline(cfg, out, workers=workers)
        times[workers] = {"total_s": time.perf_counter() - start, "nsga2_s": results["methods"]["nsga2"]["wall_s"],
                          "evaluations": results["methods"]["nsga2"]["evaluations"]}
        print(f"workers={workers}: NSGA-II {times[workers]['nsga2_s']:.1f} s "
              f"({times[workers]['evaluations']} distinct evaluations), whole run {times[workers]['total_s']:.1f} s",
              flush=True)
    print(json.dumps({"speedup_nsga2": times[1]["nsga2_s"] / times[2]["nsga2_s"], "times": times}, indent=2))


if __name__ == "__main__":
    main()
