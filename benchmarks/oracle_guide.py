"""How much hypervolume could a perfect damage model give XAI-Gen, and what does its climb add? (issue 11)

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

Hypervolume ratios are to the ablation's (of the same climb), per seed and as the ratio of the
means over seeds. ``--climbs gallop single`` runs every row under each ``[search] climb`` (rows
``<row> [<climb>]``); only rows under the climb the run was made with (runs written before the
option existed: ``single``) are checked against the stored run. Beside each hypervolume: each
budget's choice, its multiplier-energy reduction and its loss on the held-out half.

    python benchmarks/oracle_guide.py --runs <out>/<config> --seeds 0 1 2 [--climbs gallop single] [--json]
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
from xaigen.search.methods.xai_gen import CLIMBS


def _searched(cfg: RunConfig, s, method: str, damage: dict | None) -> dict:
    """``method`` run as ``xaigen run`` runs it, with ``damage`` as the guide's table: its
    hypervolume and, per budget, its choice's multiplier-energy reduction and held-out loss."""
    with tempfile.TemporaryDirectory() as out:  # a study-backed method would keep its trials here
        context = pipeline.search_context(cfg, s, Path(out), method, {}, damage)
        run = get_method(method).run(s.prepared.problem, pipeline.method_budget(cfg, method), context).stop()
    summaries = pipeline.summarize_methods(cfg, {method: run})
    pipeline.check_held_out(s, summaries)
    choices = {b: None if c is None else {"multiplier_energy_reduction": c["multiplier_energy_reduction"],
                                          "heldout_loss": c["heldout_loss"]}
               for b, c in summaries[method]["by_budget"].items()}
    return {"hypervolume": summaries[method]["hypervolume"], "choices": choices}


def _same(name: str, seed: int, new: float, stored: float) -> None:
    if not math.isclose(new, stored, rel_tol=1e-9, abs_tol=1e-12):
        sys.exit(f"seed {seed}: {name} hypervolume {new} is not the stored run's {stored}: not the same set-up")


def one_seed(stored: dict, seed: int, climbs: list[str] | None) -> dict[str, dict]:
    """Rows of one stored seed run: the stored XAI-Gen hypervolume, and per climb the ablation, the
    guide and the measured table recomputed."""
    config = stored["provenance"]["config"]
    own = config.get("search", {}).get("climb", "single")  # written before [search] climb: the single climb
    s, methods, damage = None, stored["methods"], stored["damage"]
    rows = {"xai-gen (stored)": {"hypervolume": methods["xai-gen"]["hypervolume"], "choices": {},
                                 "climb": own}}
    guide = (damage.get("tables") or {}).get(damage["guide"])
    for climb in climbs or [own]:
        cfg = RunConfig.model_validate({**config, "search": {**config.get("search", {}), "climb": climb}})
        s = s or pipeline.setup(cfg)  # the climb changes nothing the set-up makes
        tag = "" if climbs is None else f" [{climb}]"
        rows["error-model" + tag] = _searched(cfg, s, "error-model", None)
        if guide is not None:
            rows["guide" + tag] = _searched(cfg, s, "xai-gen", guide)
        rows["measured" + tag] = _searched(cfg, s, "xai-gen", damage["ceiling_table"])
        if climb == own:
            _same("error-model", seed, rows["error-model" + tag]["hypervolume"], methods["error-model"]["hypervolume"])
            if guide is not None:
                _same("xai-gen", seed, rows["guide" + tag]["hypervolume"], methods["xai-gen"]["hypervolume"])
    return rows


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


def _ablation(name: str, row: dict, climbs: list[str] | None) -> str | None:
    """The ``error-model`` row a row is compared with: the one under the same climb."""
    if " [" in name:
        return "error-model" + name[name.index(" ["):]
    if "climb" in row and climbs is not None:  # the stored run: its own climb, if it was run
        return f"error-model [{row['climb']}]" if row["climb"] in climbs else None
    return "error-model"


def _shared_climb(seed_rows: list[dict]) -> dict:
    """``{"climb": c}`` when every seed's row was made with the same climb ``c``, else nothing."""
    climbs = {row.get("climb") for row in seed_rows}
    return {"climb": climbs.pop()} if len(climbs) == 1 and None not in climbs else {}


def ratios(rows: dict[str, dict], climbs: list[str] | None) -> dict[str, float]:
    """Each row's hypervolume over its ablation's (same climb)."""
    out = {}
    for name, row in rows.items():
        base = _ablation(name, row, climbs)
        if base in rows:
            out[name] = row["hypervolume"] / rows[base]["hypervolume"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the directory holding seed-<k>/results.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--climbs", nargs="+", choices=CLIMBS, default=None,
                        help="run every row under each of these climbs (default: the run's own)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {seed: one_seed(_stored_run(Path(args.runs), seed), seed, args.climbs) for seed in args.seeds}
    names = [k for k in dict.fromkeys(k for r in rows.values() for k in r) if all(k in r for r in rows.values())]
    mean = {k: {"hypervolume": statistics.fmean(r[k]["hypervolume"] for r in rows.values()),
                **_shared_climb([r[k] for r in rows.values()])} for k in names}
    report = {"runs": args.runs, "seeds": args.seeds, "climbs": args.climbs, "rows": rows,
              "mean_hypervolume": {k: v["hypervolume"] for k, v in mean.items()},
              "over_error_model": {seed: ratios(r, args.climbs) for seed, r in rows.items()},
              "over_error_model_of_means": ratios(mean, args.climbs)}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for seed, r in rows.items():
        print(f"seed {seed}: hypervolume / error-model's: "
              + ", ".join(f"{k} {v:.3f}" for k, v in report["over_error_model"][seed].items()))
        for k, row in r.items():
            picks = ", ".join(f"{b}: {c['multiplier_energy_reduction']:.2f}x held-out loss {c['heldout_loss']:+.3f}"
                              for b, c in row["choices"].items() if c is not None)
            print(f"  {k}: hypervolume {row['hypervolume']:.4f}" + (f"; {picks}" if picks else ""))
    print("ratio of the means: " + ", ".join(f"{k} {v:.3f}" for k, v in report["over_error_model_of_means"].items()))


if __name__ == "__main__":
    main()
