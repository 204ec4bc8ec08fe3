"""XAI-NAS vs the evolutionary joint NAS and the two-stage NAS, same time budget, several seeds.

    python benchmarks/nas_figures.py [--minutes 1.5] [--seeds 0 1 2] [--out runs/nas-bench] [--json]

Prints, per seed and method: trials, hypervolume, lowest energy within 1%/2% of the best exact
accuracy found; then XAI-NAS's energy-efficiency gain (baseline energy / XAI-NAS energy at the
same accuracy budget) and search-time ratio (baseline time / XAI-NAS time to reach the
baseline's final hypervolume), and writes a hypervolume-vs-time plot.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import extra_multiplier_files  # noqa: E402

from xaigen.config import config_from_dict  # noqa: E402
from xaigen.nas import run_nas  # noqa: E402
from xaigen.report.nas import write_nas_report  # noqa: E402
from xaigen.report.plots import METHOD_COLOURS, save_figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/nas-bench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = extra_multiplier_files()
    results = {}
    for seed in args.seeds:
        cfg = config_from_dict({"search": {"seed": seed}, "multipliers": {"files": files, "exclude": ["mitchell_s8"]},
                                "nas": {"budget_minutes": args.minutes}})
        out = Path(args.out) / f"seed{seed}"
        r = run_nas(cfg, out)
        write_nas_report(r, out)
        results[seed] = r
        if not args.json:
            print(f"\n== seed {seed}: best exact accuracy {r['reference_accuracy']:.4f}")
            for m, s in r["methods"].items():
                best = {b: (None if v is None else round(v["energy_pj"] / 1e6, 3)) for b, v in s["by_budget"].items()}
                print(f"{m:10s} trials {s['trials']:3d}  {s['wall_s']:6.1f} s  HV {s['hypervolume']:.4f}  "
                      f"lowest energy (uJ) within loss {best}")
            for other, ratio in r["xai_nas_vs"].items():
                print(f"xai-nas vs {other}: " + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in ratio.items()), flush=True)
    summary = {}
    for other in ("evo-joint", "two-stage"):
        for key in ("energy_efficiency_gain@0.01", "energy_efficiency_gain@0.02", "search_time_ratio"):
            values = [r["xai_nas_vs"][other][key] for r in results.values() if r["xai_nas_vs"][other][key] is not None]
            summary[f"vs {other}: {key}"] = {"values": values, "median": statistics.median(values) if values else None,
                                              "seeds_with_value": len(values)}
    fig, axes = __import__("matplotlib.pyplot").pyplot.subplots(1, len(results), figsize=(5 * len(results), 3.5),
                                                                squeeze=False)
    for ax, (seed, r) in zip(axes[0], results.items()):
        for i, (m, s) in enumerate(sorted(r["methods"].items())):
            ax.step(s["elapsed_curve"], s["hypervolume_curve"], where="post",
                    color=METHOD_COLOURS[i], label=m)
        ax.set_title(f"seed {seed}")
        ax.set_xlabel("search time (s)")
        ax.set_ylabel("hypervolume")
        ax.legend(fontsize=7)
    save_figure(fig, Path(args.out) / "hypervolume_vs_time.png")
    if args.json:
        print(json.dumps({"summary": summary, "per_seed": {s: r["xai_nas_vs"] for s, r in results.items()}}, indent=2))
    else:
        print("\nsummary over seeds:")
        for k, v in summary.items():
            print(f"  {k}: median {v['median']}, values {[round(x, 3) for x in v['values']]}")


if __name__ == "__main__":
    main()
