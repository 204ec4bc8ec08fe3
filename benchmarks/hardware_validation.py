"""Our analytical cycles vs SCALE-Sim 2.0.2 over 12 varied layers, 3 dataflows, 3 memory regimes.

    python benchmarks/hardware_validation.py [--regime compute|starved|sweep|all] [--json]

``compute``: ``*_calc.cfg``, SCALE-Sim's CALC bandwidth mode (no stalls), 256 KiB buffers.
``starved``: ``*_user.cfg``, 16 KiB buffers and 8 B/cycle per buffer (SCALE-Sim stalls).
``sweep``: buffer sizes and bandwidths between the two (generated .cfg files, USER mode).
Run it under ``flock /tmp/xaigen-heavy.lock``: SCALE-Sim takes minutes for the sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

from xaigen.hardware.validate import validate

HERE = Path(__file__).resolve().parent / "scalesim"
TOPOLOGIES = ("varied_conv.csv", "varied_gemm.csv")
SWEEP = ((16, 32), (32, 8), (32, 32), (64, 16), (128, 8), (128, 64))  # (KiB per buffer, B/cycle)


def sweep_configs(workdir: Path) -> list[Path]:
    """USER-mode copies of ``*_user.cfg`` with the buffer sizes and bandwidths of :data:`SWEEP`."""
    paths = []
    for dataflow in ("ws", "os", "is"):
        template = (HERE / f"{dataflow}_user.cfg").read_text()
        for kib, bandwidth in SWEEP:
            text = re.sub(r"(SramSzkB:\s*)16", rf"\g<1>{kib}", template)
            text = text.replace("Bandwidth : 8", f"Bandwidth : {bandwidth}")
            text = text.replace(f"run_name = {dataflow}_user", f"run_name = {dataflow}_{kib}k_{bandwidth}bw")
            path = workdir / f"{dataflow}_{kib}k_{bandwidth}bw.cfg"
            path.write_text(text)
            paths.append(path)
    return paths


def configs(regime: str, workdir: Path) -> list[tuple[str, Path]]:
    chosen = []
    if regime in ("compute", "all"):
        chosen += [("compute", p) for p in sorted(HERE.glob("*_calc.cfg"))]
    if regime in ("starved", "all"):
        chosen += [("starved", p) for p in sorted(HERE.glob("*_user.cfg"))]
    if regime in ("sweep", "all"):
        chosen += [("sweep", p) for p in sweep_configs(workdir)]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--regime", choices=("compute", "starved", "sweep", "all"), default="all")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="xaigen-sweep-") as tmp:
        for regime, config in configs(args.regime, Path(tmp)):
            for topology in TOPOLOGIES:
                r = validate(HERE / topology, config)
                rows.append({"regime": regime, "config": config.name, "topology": topology, "layers": len(r.layers),
                             "max_rel_error": r.max_rel_error,
                             "mean_rel_error": sum(x["rel_error"] for x in r.layers) / len(r.layers),
                             "speedup_vs_scalesim": r.speedup, "scalesim_seconds": r.scalesim_seconds,
                             "our_seconds": r.our_seconds, "per_layer": r.layers})
                if not args.json:
                    print(f"{regime:8s} {config.name:18s} {topology:16s} layers {len(r.layers):2d}  max err "
                          f"{100 * r.max_rel_error:6.2f}%  mean err {100 * rows[-1]['mean_rel_error']:6.2f}%  "
                          f"SCALE-Sim {r.scalesim_seconds:5.2f} s  ours {1e3 * r.our_seconds:6.3f} ms  "
                          f"speed-up {r.speedup:,.0f}x", flush=True)
    summary = {}
    for regime in dict.fromkeys(r["regime"] for r in rows):
        mine = [r for r in rows if r["regime"] == regime]
        for dataflow in ("ws", "os", "is"):
            picked = [r for r in mine if r["config"].startswith(dataflow)]
            summary[f"{regime}/{dataflow}"] = {
                "max_rel_error": max(r["max_rel_error"] for r in picked),
                "speedup_vs_scalesim": sum(r["scalesim_seconds"] for r in picked) / sum(r["our_seconds"] for r in picked),
                "min_speedup_per_run": min(r["speedup_vs_scalesim"] for r in picked)}
    summary["load_average"] = os.getloadavg()
    if args.json:
        print(json.dumps({"summary": summary, "runs": rows}, indent=2))
    else:
        for key, value in summary.items():
            print(key, value)


if __name__ == "__main__":
    main()
