"""Our analytical cycles vs SCALE-Sim 2.0.2 over varied layers, 3 dataflows, 2 memory regimes.

    python benchmarks/hardware_validation.py [--json]

``*_calc.cfg``: SCALE-Sim's CALC bandwidth mode (no stalls: the compute-bound regime).
``*_user.cfg``: 16 KiB buffers and 8 B/cycle per buffer (bandwidth-starved: SCALE-Sim stalls).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xaigen.hardware.validate import validate

HERE = Path(__file__).resolve().parent / "scalesim"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for config in sorted(HERE.glob("*.cfg")):
        for topology in sorted(HERE.glob("*.csv")):
            r = validate(topology, config)
            rows.append({"config": config.name, "topology": topology.name, "layers": len(r.layers),
                         "max_rel_error": r.max_rel_error,
                         "mean_rel_error": sum(x["rel_error"] for x in r.layers) / len(r.layers),
                         "speedup_vs_scalesim": r.speedup, "scalesim_seconds": r.scalesim_seconds})
            if not args.json:
                print(f"{config.name:12s} {topology.name:16s} layers {len(r.layers):2d}  max err "
                      f"{100 * r.max_rel_error:6.2f}%  mean err {100 * rows[-1]['mean_rel_error']:6.2f}%  "
                      f"SCALE-Sim {r.scalesim_seconds:5.2f} s  speed-up {r.speedup:,.0f}x", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
