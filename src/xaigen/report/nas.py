"""The NAS report section: fronts and hypervolume over search time, as ``nas.html`` + PNGs."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt

from xaigen.fileio import atomic_write_text
from xaigen.report.html import embed_png
from xaigen.report.plots import METHOD_COLOURS, save_figure


def write_nas_report(result: dict, out: Path) -> Path:
    out = Path(out)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (method, s) in enumerate(sorted(result["methods"].items())):
        colour = METHOD_COLOURS[i % len(METHOD_COLOURS)]
        front = s["front"]
        left.step([p["energy_ratio"] for p in front], [100 * p["loss"] for p in front], where="post", color=colour,
                  label=f"{method} ({s['trials']} trials)")
        right.step(s["elapsed_curve"], s["hypervolume_curve"], where="post", color=colour,
                   label=method)
    left.set_xlabel("energy / largest architecture's exact energy")
    left.set_ylabel("loss vs best exact accuracy (points)")
    left.legend(fontsize=8)
    right.set_xlabel("search time (s)")
    right.set_ylabel("hypervolume")
    right.legend(fontsize=8)
    png = save_figure(fig, out / "nas_fronts.png")
    rows = []
    for method, s in sorted(result["methods"].items()):
        cells = [method, s["trials"], f"{s['wall_s']:.0f}", f"{s['hypervolume']:.4f}"]
        for b, best in s["by_budget"].items():
            cells.append("-" if best is None else f"{best['energy_pj'] / 1e6:.3f}")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    budgets = list(next(iter(result["methods"].values()))["by_budget"]) if result["methods"] else []
    head = "".join(f"<th>{h}</th>" for h in ["method", "trials", "time s", "HV"] +
                   [f"lowest energy uJ within {b} of best accuracy" for b in budgets])
    ratios = "".join(
        f"<tr><td>{html.escape(other)}</td>" + "".join(
            f"<td>{'-' if v is None else f'{v:.3f}'}</td>" for v in r.values()) + "</tr>"
        for other, r in result.get("xai_nas_vs", {}).items())
    ratio_head = "".join(f"<th>{html.escape(k)}</th>" for k in
                         (next(iter(result.get("xai_nas_vs", {}).values()), {}) or {}).keys())
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>xaigen NAS</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 8px}}img{{max-width:100%}}</style></head><body>
<h1>XAI-NAS vs NAS baselines ({html.escape(result['dataset'])}, {html.escape(result['accelerator'])}, seed {result['seed']})</h1>
<p>Best exact accuracy found by any method: {result['reference_accuracy']:.4f}.</p>
<table><tr>{head}</tr>{''.join(rows)}</table>
<h2>XAI-NAS relative to each baseline</h2><table><tr><th>baseline</th>{ratio_head}</tr>{ratios}</table>
{embed_png(png)}
</body></html>
"""
    return atomic_write_text(out / "nas.html", page)
