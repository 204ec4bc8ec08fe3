"""XAI-Gen's figures: energy saved at <=1%/<=2% loss and evaluations to reach NSGA-II's hypervolume.

    python benchmarks/xaigen_figures.py [--configs default configs/lenet5-fashion.toml ...]
                                        [--nsga2-factor 5] [--out runs/figures] [--json]

Every method gets the configured budget of full evaluations, except NSGA-II, which gets
``nsga2-factor`` times as many, so that "evaluations to reach NSGA-II's final hypervolume" means
something. The EvoApprox tables in ../shared join the catalogue when present.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import EVOAPPROX_NPZ  # noqa: E402

from xaigen.config import load_config  # noqa: E402
from xaigen.pipeline import run_pipeline  # noqa: E402
from xaigen.report.html import write_report  # noqa: E402


def figures(results: dict) -> dict:
    rows = {}
    for name, s in results["methods"].items():
        rows[name] = {
            "evaluations": s["evaluations"], "wall_s": round(s["wall_s"], 2), "hypervolume": round(s["hypervolume"], 5),
            **{f"mult_saving@{b}": (None if v is None else round(v["multiplier_energy_reduction"], 3))
               for b, v in s["by_budget"].items()},
            **{f"accel_saving@{b}": (None if v is None else round(v["energy_reduction"], 4))
               for b, v in s["by_budget"].items()},
            "to_reach_nsga2_hv": s.get("to_reach_nsga2_hypervolume"),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=["default"])
    parser.add_argument("--nsga2-factor", type=int, default=5)
    parser.add_argument("--out", default="runs/figures")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {}
    for spec in args.configs:
        cfg = load_config(None if spec == "default" else spec)
        files = cfg.multipliers.files + ([str(EVOAPPROX_NPZ)] if EVOAPPROX_NPZ.exists() else [])
        cfg = cfg.model_copy(update={
            "multipliers": cfg.multipliers.model_copy(update={"files": files}),
            "search": cfg.search.model_copy(update={"nsga2_budget": args.nsga2_factor * cfg.search.budget}),
        })
        name = Path(spec).stem
        out = Path(args.out) / name
        results = run_pipeline(cfg, out)
        write_report(results, out)
        rows = figures(results)
        report[name] = {"exact_accuracy": results["exact"]["accuracy"], "candidates": len(results["candidates"]),
                        "multiplier_share_of_energy": results["exact"]["multiplier_energy_pj"] / results["exact"]["energy_pj"],
                        "xai_spearman": {m: v["spearman_vs_sensitivity"] for m, v in results["xai"].items()},
                        "methods": rows}
        if not args.json:
            print(f"\n== {name}: exact accuracy {results['exact']['accuracy']:.4f}, {len(results['candidates'])} "
                  f"candidates, multipliers are {100 * report[name]['multiplier_share_of_energy']:.1f}% of energy")
            for method, r in rows.items():
                print(f"{method:20s} evals {r['evaluations']:4d}  {r['wall_s']:7.1f} s  HV {r['hypervolume']:.4f}  "
                      + "  ".join(f"{k} {v}" for k, v in r.items() if "saving" in k)
                      + f"  reach-NSGA2-HV {r['to_reach_nsga2_hv']}", flush=True)
            print("XAI spearman vs sensitivity:", report[name]["xai_spearman"], flush=True)
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
