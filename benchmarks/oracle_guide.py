"""How much hypervolume could a perfect damage model give XAI-Gen? (issue 11)

XAI-Gen and its ``error-model`` ablation run the same search; only the damage table differs. This
re-runs that search on stored seed runs of ``benchmarks/xaigen_figures.py`` (the configuration
each run recorded in its provenance: same seed, model and validation half) with three tables, at the run's budget of full evaluations:

* ``error-model``: the ablation's own table, recomputed (its hypervolume must equal the stored one:
  the check that the set-up is the run's);
* ``guide``: the stored guide table (``damage.tables``; skipped for runs written before tables were
  kept), which must reproduce the stored ``xai-gen`` hypervolume;
* ``measured``: the single-layer loss increases *measured* on the validation half (the run's
  ``damage.ceiling_table``, clipped at 0): what a damage model without estimation error would say.
  It is a reference, not a method: measuring it costs one full evaluation per (layer, multiplier)
  pair, far more than the search's budget.

If even ``measured`` stays below 1.05x the ablation's hypervolume, no damage model reaches issue
11's hypervolume target with this search on that setting.

    python benchmarks/oracle_guide.py --runs <out>/<config> --seeds 0 1 2 [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from xaigen import pipeline
from xaigen.config import RunConfig
from xaigen.search.methods.xai_gen import xai_gen


def _hypervolume(cfg, s, damage: dict | None) -> float:
    """XAI-Gen's hypervolume with ``damage`` (None: the error model alone) at the run's budget."""
    search = cfg.search
    run = xai_gen(s.prepared.problem, {}, s.prepared.histograms, search.budget, search.loss_budgets,
                  use_relevance=damage is not None, damage=damage, repairs=search.path_repairs)
    return pipeline.summarize_methods(cfg, {"m": run.stop()})["m"]["hypervolume"]


def one_seed(stored: dict, seed: int) -> dict:
    cfg = RunConfig.model_validate(stored["provenance"]["config"])
    s = pipeline.setup(cfg)
    if abs(s.prepared.problem.exact_accuracy - stored["exact"]["accuracy"]) > 1e-12:
        sys.exit(f"seed {seed}: this set-up's exact accuracy {s.prepared.problem.exact_accuracy} is not the "
                 f"stored run's {stored['exact']['accuracy']}: not the same problem")
    damage = stored["damage"]
    measured = {n: {m: max(v, 0.0) for m, v in row.items()} for n, row in damage["ceiling_table"].items()}
    row = {"stored/xai-gen": stored["methods"]["xai-gen"]["hypervolume"],
           "stored/error-model": stored["methods"]["error-model"]["hypervolume"],
           "error-model": _hypervolume(cfg, s, None), "measured": _hypervolume(cfg, s, measured)}
    guide = (damage.get("tables") or {}).get(damage["guide"])
    if guide is not None:
        row["guide"] = _hypervolume(cfg, s, guide)
    row.update({f"{k}/error-model": v / row["stored/error-model"] for k, v in list(row.items())
                if not k.startswith("stored/error")})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the directory holding seed-<k>/results.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {}
    for seed in args.seeds:
        path = Path(args.runs) / f"seed-{seed}" / "results.json"
        if not path.exists():
            sys.exit(f"{path}: no stored run for seed {seed}")
        rows[seed] = one_seed(json.loads(path.read_text()), seed)
    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    mean = {k: statistics.fmean(r[k] for r in rows.values() if k in r) for k in keys}
    report = {"runs": args.runs, "per_seed": rows, "mean": mean,
              "measured_over_error_model_of_means": mean["measured"] / mean["stored/error-model"]}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for seed, r in rows.items():
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items()))
    print("mean: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))


if __name__ == "__main__":
    main()
