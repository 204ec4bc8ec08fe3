"""Which images should the damage models see: training images or the search's validation half? (issue 11)

For one configuration and seed, as ``xaigen run`` sets it up: the single-layer truth ``S[l, m]`` on
the held-out half, and against it (pooled and per-strong-probe Spearman, :mod:`xaigen.xai.truth`):

* the same single-layer table *measured* on the validation half (the split-half ceiling) and on as
  many training images (the model was fitted to those: does its loss move the same way there?);
* the guide's damage model, its floor and the floored guide (by default ``ig_delta``, ``fisher``
  and ``fill(ig_delta,fisher)``; ``max(ig_delta,fisher)`` with ``[xai] guide_floor_mode = "max"``),
  each on ``[xai] samples`` images of either source (``[xai] data = "train" | "validation"``).

The held-out half is never an input. No search runs.

    python benchmarks/xai_data.py --config configs/lenet5-fashion.toml --seed 0 [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_config, seed_parser  # noqa: E402

from xaigen import pipeline  # noqa: E402
from xaigen.xai.truth import per_probe_spearman, pooled_spearman, single_layer_table, strong_probes  # noqa: E402


def damage_on(cfg, s, source: str) -> dict[str, dict]:
    """The guide's damage model, its floor and the floored guide table (``fill(guide,floor)`` or
    ``max(guide,floor)``: ``[xai] guide_floor_mode``), as ``xaigen run`` makes them, on ``[xai]
    samples`` images of ``source``."""
    xai = cfg.xai.model_copy(update={"data": source, "damage": [cfg.xai.guide]})  # a run adds the floor itself
    cfg = cfg.model_copy(update={"xai": xai})
    damages = pipeline.estimate_damage(cfg, s)
    guide = pipeline.guide_damage(cfg, damages)  # None for a relevance guide
    tables = {d.model: d.values for d in [*damages, *([guide] if guide else [])]}
    return {f"{source} {cfg.xai.samples}: {name}": table for name, table in tables.items()}


def main() -> None:
    args = seed_parser(__doc__.splitlines()[0]).parse_args()
    cfg = run_config(args.config, args.seed)
    cfg = cfg.model_copy(update={"xai": cfg.xai.model_copy(update={"truth": True})})
    s = pipeline.setup(cfg)
    n = len(s.val[0])
    held_out, validation = pipeline.measure_truth(cfg, s)
    tables = {f"validation {n}: measured (ceiling)": validation.increase,
              f"train {n}: measured": single_layer_table(s.prepared.approx_model, s.data.x_train[:n],
                                                         s.data.y_train[:n], s.catalogue, s.candidates).increase}
    for source in ("train", "validation"):
        tables |= damage_on(cfg, s, source)
    probes = strong_probes(held_out)
    rows = {name: {"pooled_spearman": pooled_spearman(t, held_out),
                   "per_probe_spearman": per_probe_spearman(t, held_out, probes)} for name, t in tables.items()}
    report = {"config": args.config, "seed": args.seed, "held_out_images": len(s.test[0]), "strong_probes": probes,
              "estimators": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.config}, seed {args.seed}: against the held-out single-layer truth ({len(s.test[0])} images)")
    for name, row in rows.items():
        print(f"  {name:42s}", "  ".join(f"{k.split('_spearman')[0]} {'n/a' if v is None else f'{v:.3f}'}"
                                         for k, v in row.items()))


if __name__ == "__main__":
    main()
