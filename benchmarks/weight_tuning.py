"""What does ALWANN weight tuning buy without retraining? (issue 12)

For one configuration and seed, every candidate multiplier in every layer at once (uniform), with
``[quantization] weight_tuning`` off and on: accuracy and cross-entropy on the held-out half of the
test set (the half no search sees). The model, data split and calibration are the run's.

    python benchmarks/weight_tuning.py --config configs/lenet5-fashion.toml --seed 0 [--json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_config, seed_parser  # noqa: E402

from xaigen import pipeline  # noqa: E402
from xaigen.emulation import accuracy_and_loss, set_assignment  # noqa: E402


def uniform_scores(cfg, tuning: bool) -> tuple[dict, str]:
    """Held-out (accuracy, loss) per candidate, every searchable layer on it; and the exact's name."""
    q = cfg.quantization.model_copy(update={"weight_tuning": tuning})
    s = pipeline.setup(cfg.model_copy(update={"quantization": q}))
    model, out = s.prepared.approx_model, {}
    for name in s.candidates:
        set_assignment(model, name, s.catalogue)
        out[name] = accuracy_and_loss(model, *s.test, task=s.task)
    set_assignment(model, None, s.catalogue)
    return out, s.prepared.problem.exact_name


def main() -> None:
    args = seed_parser(__doc__.splitlines()[0]).parse_args()
    cfg = run_config(args.config, args.seed)
    plain, exact = uniform_scores(cfg, False)
    tuned, _ = uniform_scores(cfg, True)
    rows = {n: {"accuracy_plain": plain[n][0], "accuracy_tuned": tuned[n][0],
                "loss_plain": plain[n][1], "loss_tuned": tuned[n][1]} for n in plain}
    better = sum(r["accuracy_tuned"] > r["accuracy_plain"] for r in rows.values())
    worse = sum(r["accuracy_tuned"] < r["accuracy_plain"] for r in rows.values())
    report = {"config": args.config, "seed": args.seed, "exact": exact, "rows": rows,
              "tuned_better": better, "tuned_worse": worse}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{args.config}, seed {args.seed}: uniform assignment, held-out accuracy (loss) plain -> tuned")
    for n, r in rows.items():
        print(f"{n:18s} {100 * r['accuracy_plain']:6.2f}% ({r['loss_plain']:.3f}) -> "
              f"{100 * r['accuracy_tuned']:6.2f}% ({r['loss_tuned']:.3f})")
    print(f"tuning raised accuracy for {better}, lowered it for {worse} of {len(rows)} candidates")


if __name__ == "__main__":
    main()
