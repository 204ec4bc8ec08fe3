"""How good a path does each damage model give XAI-Gen, before any search? (issue 11)

For one configuration and seed: the damage tables of every model (plus the guide's floored
tables, ``max(guide,floor)`` and ``fill(guide,floor)``) and the single-layer truth on the held-out
half, as ``xaigen run`` computes them. For each table, XAI-Gen's refined Lagrangian path
(:mod:`xaigen.search.methods.xai_gen`); along it, the largest multiplier-energy saving whose
*measured* damage, the sum of the held-out single-layer loss increases of its layers (nats), stays
at or below each threshold. The held-out truth table itself, clipped at 0, gives the oracle's
path. No full evaluation is spent: this separates the quality of a guide from the luck of a search
(``benchmarks/oracle_guide.py`` runs the search itself with the validation half's measured table).

    python benchmarks/guide_paths.py --config configs/lenet5-fashion.toml --seed 0 [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_config, seed_parser  # noqa: E402

from xaigen import pipeline  # noqa: E402
from xaigen.search.methods.xai_gen import given_damage, lagrangian_path, refine_path  # noqa: E402
from xaigen.xai import spearman  # noqa: E402

THRESHOLDS = (0.005, 0.01, 0.02, 0.04)  # nats of summed single-layer loss increase


def path_savings(problem, damage: dict, truth: dict) -> dict:
    """Multiplier-energy reduction reached along the refined path of ``damage`` within each threshold."""
    exact, exact_pj = problem.exact_name, problem.exact_multiplier_energy_pj
    saving, table = given_damage(problem, damage)
    path = refine_path(lagrangian_path(saving, table, exact), saving, table)
    points = [(sum(saving[n][a[n]] for n in a), sum(truth[n].get(a[n], 0.0) for n in a if a[n] != exact))
              for a in path]
    return {f"{t:g}": exact_pj / (exact_pj - max(s for s, d in points if d <= t)) for t in THRESHOLDS} | {
        "path_length": len(path),
        "zero_damage_pairs": sum(1 for row in table.values() for m, v in row.items() if m != exact and v <= 0)}


def main() -> None:
    args = seed_parser(__doc__.splitlines()[0]).parse_args()
    cfg = run_config(args.config, args.seed)
    cfg = cfg.model_copy(update={"xai": cfg.xai.model_copy(update={"truth": True})})
    s = pipeline.setup(cfg)
    damages = pipeline.estimate_damage(cfg, s)
    held_out, _ = pipeline.measure_truth(cfg, s)
    tables = pipeline.estimator_tables(s, [], damages, pipeline.guide_damage(cfg, damages))
    other_mode = "fill" if cfg.xai.guide_floor_mode == "max" else "max"  # both ways of flooring the guide
    other = pipeline.guide_damage(cfg.model_copy(update={"xai": cfg.xai.model_copy(
        update={"guide_floor_mode": other_mode})}), damages)
    if other is not None:
        tables[other.model] = other.values
    tables["truth (oracle)"] = {n: {m: max(v, 0.0) for m, v in row.items()} for n, row in held_out.increase.items()}
    pairs = [(n, m) for n, row in held_out.increase.items() for m in row]
    rows = {}
    for name, table in tables.items():
        rows[name] = path_savings(s.prepared.problem, table, held_out.increase)
        rows[name]["pooled_spearman"] = spearman({f"{n}/{m}": table[n].get(m, 0.0) for n, m in pairs},
                                                 {f"{n}/{m}": held_out.increase[n][m] for n, m in pairs})
    report = {"config": args.config, "seed": args.seed, "thresholds_nats": list(THRESHOLDS), "estimators": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.config}, seed {args.seed}: multiplier-energy reduction along each guide's path while the summed "
          "held-out single-layer loss stays within (nats)")
    for name, r in rows.items():
        print(f"{name:24s} " + " ".join(f"@{t:g}: {r[f'{t:g}']:.2f}x" for t in THRESHOLDS)
              + f"  pooled Spearman {r['pooled_spearman']:.3f}, zero-damage pairs {r['zero_damage_pairs']}")


if __name__ == "__main__":
    main()
