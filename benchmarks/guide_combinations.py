"""How would other ways of combining ``ig_delta`` with its ``fisher`` floor rank the truth? (issue 11)

Reads stored seed runs of ``benchmarks/xaigen_figures.py`` (``<runs>/seed-<k>/results.json``, which
keep every estimator's damage table and the held-out single-layer truth) and scores, without
running anything, the guide's table under each combination against that truth: the per-probe
Spearman (layer ranking per strong probe, averaged) and the pooled Spearman, as ``results.json``
computes them (:mod:`xaigen.xai.truth`). Combinations: ``ig_delta`` and ``fisher`` alone, ``fill``
(the default floor mode, :func:`~xaigen.xai.damage.filled`), ``max``
(:func:`~xaigen.xai.damage.floored`) and ``mean`` (``(max(ig_delta, 0) + fisher) / 2``, not a mode of
xaigen). The Pearson over evaluated assignments and the search figures need the runs themselves
(``results.json`` keeps no assignment of a non-chosen evaluation), so a combination's effect on the
search is not measured here. Choosing a combination by these figures on the same seeds that measure
it is a post-hoc choice: a lead, not a result.

    python benchmarks/guide_combinations.py --runs <out>/<config> --seeds 0 1 2 [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from xaigen.xai.damage import filled, floored
from xaigen.xai.truth import TruthTable, per_probe_spearman, pooled_spearman, strong_probes


def combinations(tables: dict) -> dict[str, dict]:
    """The guide's table under each combination of ``ig_delta`` and ``fisher`` (layer -> multiplier -> nats)."""
    ig, fisher = tables["ig_delta"], tables["fisher"]
    mean = {n: {m: 0.5 * (max(v, 0.0) + fisher[n][m]) for m, v in row.items()} for n, row in ig.items()}
    return {"ig_delta": ig, "fisher": fisher, "fill": filled(ig, fisher), "max": floored(ig, fisher), "mean": mean}


def scores(results: dict) -> dict[str, dict]:
    """Per combination: per-probe and pooled Spearman against the run's held-out truth."""
    damage = results["damage"]
    truth = TruthTable(damage["truth"], damage["truth_se"])
    probes = strong_probes(truth)
    return {name: {"per_probe_spearman": per_probe_spearman(table, truth, probes),
                   "pooled_spearman": pooled_spearman(table, truth)}
            for name, table in combinations(damage["tables"]).items()}


def _mean(values: list) -> float | None:
    defined = [v for v in values if v is not None]
    return statistics.fmean(defined) if defined else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="<out>/<config> of benchmarks/xaigen_figures.py")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    paths = {k: Path(args.runs) / f"seed-{k}" / "results.json" for k in args.seeds}
    missing = [k for k, p in paths.items() if not p.exists()]
    if missing:
        sys.exit(f"{args.runs}: no seed-<k>/results.json for seeds {missing}")
    per_seed = {k: scores(json.loads(p.read_text())) for k, p in paths.items()}
    names = list(next(iter(per_seed.values())))
    means = {name: {figure: _mean([per_seed[k][name][figure] for k in args.seeds])
                    for figure in ("per_probe_spearman", "pooled_spearman")} for name in names}
    if args.json:
        print(json.dumps({"runs": args.runs, "seeds": args.seeds, "mean": means, "per_seed": per_seed}, indent=2))
        return
    for name, f in means.items():
        print(f"{name:10s} per-probe Spearman {f['per_probe_spearman']:.3f}   pooled {f['pooled_spearman']:.3f}")


if __name__ == "__main__":
    main()
