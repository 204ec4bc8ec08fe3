"""How much hypervolume could a perfect damage model give XAI-Gen? (issue 11)

XAI-Gen and its ``error-model`` ablation run the same search; only the damage table differs. This
re-runs that search on stored seed runs of ``benchmarks/xaigen_figures.py`` (the configuration
each run recorded in its provenance: same seed, model and validation half), through the same
plug-ins and search context the run used, at the run's budget of full evaluations, with:

* ``error-model``: the ablation, recomputed; it must equal the stored hypervolume (else the script
  stops: the set-up is not the run's);
* ``guide``: XAI-Gen with the stored guide table (``damage.tables``); it must equal the stored
  ``xai-gen`` hypervolume (runs written before tables were kept skip this row);
* ``measured``: XAI-Gen with the single-layer loss increases *measured* on the validation half
  (the run's ``damage.ceiling_table``; XAI-Gen reads values <= 0 as 0), the half every evaluation
  of the search is measured on: what a damage model without estimation error would say. It is a
  reference, not a method: measuring it costs one full evaluation per (layer, multiplier) pair, far
  more than the search's budget. (``benchmarks/guide_paths.py``'s oracle is the *held-out* table.)

Hypervolume ratios are to the ablation's, per seed and as the ratio of the means over seeds.

    python benchmarks/oracle_guide.py --runs <out>/<config> --seeds 0 1 2 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

from xaigen import pipeline
from xaigen.config import RunConfig
from xaigen.search import get_method


def _hypervolume(cfg: RunConfig, s, method: str, damage: dict | None) -> float:
    """The hypervolume of ``method`` run as ``xaigen run`` runs it, with ``damage`` as the guide's table."""
    with tempfile.TemporaryDirectory() as out:  # a study-backed method would keep its trials here
        context = pipeline.search_context(cfg, s, Path(out), method, {}, damage)
        run = get_method(method).run(s.prepared.problem, pipeline.method_budget(cfg, method), context).stop()
    return pipeline.summarize_methods(cfg, {method: run})[method]["hypervolume"]


def _same(name: str, seed: int, new: float, stored: float) -> None:
    if not math.isclose(new, stored, rel_tol=1e-9, abs_tol=1e-12):
        sys.exit(f"seed {seed}: {name} hypervolume {new} is not the stored run's {stored}: not the same set-up")


def one_seed(stored: dict, seed: int) -> dict[str, float]:
    """Hypervolumes of one stored seed run: stored, recomputed and with the measured table."""
    cfg = RunConfig.model_validate(stored["provenance"]["config"])
    s = pipeline.setup(cfg)
    methods, damage = stored["methods"], stored["damage"]
    row = {"error-model": _hypervolume(cfg, s, "error-model", None),
           "xai-gen (stored)": methods["xai-gen"]["hypervolume"]}
    _same("error-model", seed, row["error-model"], methods["error-model"]["hypervolume"])
    guide = (damage.get("tables") or {}).get(damage["guide"])
    if guide is not None:
        row["guide"] = _hypervolume(cfg, s, "xai-gen", guide)
        _same("xai-gen", seed, row["guide"], row["xai-gen (stored)"])
    row["measured"] = _hypervolume(cfg, s, "xai-gen", damage["ceiling_table"])
    return row


def _stored_run(runs: Path, seed: int) -> dict:
    """One seed's results.json, with one clear line and exit 2 if it cannot serve."""
    path = runs / f"seed-{seed}" / "results.json"
    if not path.exists():
        sys.exit(f"{path}: no stored run for seed {seed}")
    stored = json.loads(path.read_text())
    missing = [k for k in ("xai-gen", "error-model") if k not in stored["methods"]]
    if missing or not stored.get("damage") or "config" not in (stored.get("provenance") or {}):
        sys.exit(f"{path}: needs the methods xai-gen and error-model, [xai] truth on and a recorded configuration")
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the directory holding seed-<k>/results.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {seed: one_seed(_stored_run(Path(args.runs), seed), seed) for seed in args.seeds}
    names = list(dict.fromkeys(k for r in rows.values() for k in r))
    mean = {k: statistics.fmean(r[k] for r in rows.values()) for k in names if all(k in r for r in rows.values())}
    report = {"runs": args.runs, "seeds": args.seeds, "hypervolume": rows, "mean_hypervolume": mean,
              "over_error_model": {seed: {k: v / r["error-model"] for k, v in r.items()} for seed, r in rows.items()},
              "over_error_model_of_means": {k: v / mean["error-model"] for k, v in mean.items()}}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for seed, ratios in report["over_error_model"].items():
        print(f"seed {seed}: hypervolume / error-model's: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    print("ratio of the means: " + ", ".join(f"{k} {v:.3f}" for k, v in report["over_error_model_of_means"].items()))


if __name__ == "__main__":
    main()
