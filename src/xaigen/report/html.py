"""A self-contained HTML report (plots embedded as base64 PNG) from ``results.json`` data."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib.pyplot as plt

from xaigen.fileio import atomic_write_text
from xaigen.report.plots import METHOD_COLOURS, plot_network_energy, save_figure


def plot_pareto(results: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, s) in enumerate(sorted(results["methods"].items())):
        colour = METHOD_COLOURS[i % len(METHOD_COLOURS)]
        pts = s["points"]
        ax.scatter([p["energy_ratio"] for p in pts], [100 * p["loss"] for p in pts], s=10, alpha=0.35, color=colour)
        front = s["front"]
        ax.step([p["energy_ratio"] for p in front], [100 * p["loss"] for p in front], where="post", color=colour,
                label=f"{name} (HV {s['hypervolume']:.3f}, {s['evaluations']} evals)")
    for b in results["loss_budgets"]:
        ax.axhline(100 * b, color="#999999", lw=0.8, ls="--")
    ax.set_xlabel("multiplier energy / exact")
    ax.set_ylabel("accuracy loss (percentage points)")
    ax.set_ylim(-1, max(10, 100 * max(results["loss_budgets"]) * 3))
    ax.legend(fontsize=7)
    ax.set_title(f"{results['model']} on {results['dataset']}, {results['accelerator']}")
    return save_figure(fig, path)


def plot_hypervolume(results: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, (name, s) in enumerate(sorted(results["methods"].items())):
        ax.plot(range(1, len(s["hypervolume_curve"]) + 1), s["hypervolume_curve"],
                color=METHOD_COLOURS[i % len(METHOD_COLOURS)], label=name)
    ax.set_xlabel("full evaluations")
    ax.set_ylabel("hypervolume")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_relevance(results: dict, path: Path) -> Path:
    layers = list(results["sensitivity"]["loss_increase"])
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(layers) + 2), 4))
    methods = [m for m, v in results["xai"].items() if v["scores"]]
    width = 0.8 / (len(methods) + 1)
    sens = [max(results["sensitivity"]["loss_increase"][n], 0.0) for n in layers]
    total = sum(sens) or 1.0
    for i, m in enumerate(methods):
        ax.bar([j + i * width for j in range(len(layers))], [results["xai"][m]["scores"].get(n, 0) for n in layers],
               width, label=f"{m} (rho {results['xai'][m]['spearman_vs_sensitivity'] or float('nan'):.2f})",
               color=METHOD_COLOURS[i % len(METHOD_COLOURS)])
    ax.bar([j + len(methods) * width for j in range(len(layers))], [s / total for s in sens], width,
           label=f"measured sensitivity ({results['sensitivity']['probe']})", color="black")
    ax.set_xticks([j + 0.4 for j in range(len(layers))], layers, rotation=60, fontsize=7)
    ax.set_ylabel("normalised score")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def embed_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def write_report(results: dict, out: Path) -> Path:
    """Write the PNG plots and ``report.html`` into ``out``; returns the HTML path."""
    out = Path(out)
    plots = {
        "pareto": plot_pareto(results, out / "pareto.png"),
        "hypervolume": plot_hypervolume(results, out / "hypervolume.png"),
        "relevance": plot_relevance(results, out / "relevance.png"),
        "energy": plot_network_energy(results["hardware"]["xaigen"], out / "energy.png",
                                      "XAI-Gen assignment: energy and utilization per layer"),
    }
    budgets = [f"{b:g}" for b in results["loss_budgets"]]
    rows = []
    for name, s in sorted(results["methods"].items()):
        cells = [html.escape(name), str(s["evaluations"]), _fmt(s["wall_s"], 2), _fmt(s["hypervolume"])]
        for b in budgets:
            best = s["by_budget"][b]
            cells += ["-", "-"] if best is None else [f"{best['multiplier_energy_reduction']:.2f}x",
                                                      f"{best['energy_reduction']:.3f}x"]
        reach = s.get("to_reach_nsga2_hypervolume", {}).get("evaluations")
        cells.append(_fmt(reach))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["method", "evals", "wall s", "HV"] + sum(
        ([f"mult. saving @{b}", f"accel. saving @{b}"] for b in budgets), []) + ["evals to NSGA-II HV"])
    xg = results.get("xaigen") or {}
    assignment = xg.get("assignment") or {}
    layer_rows = []
    hw = {layer["name"]: layer for layer in results["hardware"]["xaigen"]["layers"]}
    for n, rel in results["sensitivity"]["loss_increase"].items():
        guide = next((v["scores"].get(n) for v in results["xai"].values() if v["scores"]), None)
        e = hw.get(n, {}).get("energy_pj", {})
        layer_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in [
            html.escape(n), _fmt(guide), _fmt(rel, 4), html.escape(assignment.get(n, "-")),
            _fmt(e.get("multiplier", 0) / 1e6, 4), _fmt(e.get("total", 0) / 1e6, 4)]) + "</tr>")
    xai_rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{_fmt(v['spearman_vs_sensitivity'])}</td>"
        f"<td>{_fmt(v['spearman_vs_accuracy_drop'])}</td><td>{html.escape(v['error'] or '')}</td></tr>"
        for m, v in results["xai"].items())
    ft = results.get("finetune")
    ft_html = "" if not ft else (f"<p>Fine-tuning (STE) of the {budgets[-1]} assignment: held-out accuracy "
                                 f"{ft['test_accuracy_before']:.4f} &rarr; {ft['test_accuracy_after']:.4f}.</p>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xaigen report: {html.escape(results['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}h2{{border-bottom:1px solid #ddd}}</style></head>
<body><h1>xaigen: {html.escape(results['model'])} on {html.escape(results['dataset'])}, {html.escape(results['accelerator'])}</h1>
<p>Float accuracy {_fmt(results['float']['accuracy'], 4)}; exact int8 accuracy {_fmt(results['exact']['accuracy'], 4)}
(validation half; held-out half {_fmt(results['exact']['test_accuracy'], 4)}). Exact energy per inference
{results['exact']['energy_pj'] / 1e6:.3f} uJ, of which multipliers {results['exact']['multiplier_energy_pj'] / 1e6:.3f} uJ.
Candidates: {len(results['candidates'])} multipliers. Seed {results['seed']}.</p>
<h2>Methods at equal evaluation budgets</h2>
<table><tr>{head}</tr>{''.join(rows)}</table>
<p>Savings are exact/approximate energy for the lowest-energy assignment within each accuracy-loss budget,
for the multipliers alone and for the whole accelerator (buffers, DRAM and leakage do not shrink).</p>
{embed_png(plots['pareto'])}
{embed_png(plots['hypervolume'])}
<h2>XAI layer criticality vs measured sensitivity</h2>
<table><tr><th>method</th><th>Spearman vs loss increase</th><th>Spearman vs accuracy drop</th><th>note</th></tr>{xai_rows}</table>
{embed_png(plots['relevance'])}
<h2>XAI-Gen's choice per layer (loss budget {budgets[0]})</h2>
<table><tr><th>layer</th><th>relevance</th><th>sensitivity (CE increase)</th><th>multiplier</th><th>mult. energy uJ</th><th>total uJ</th></tr>{''.join(layer_rows)}</table>
{ft_html}
{embed_png(plots['energy'])}
<p style="color:#888">Generated by xaigen {html.escape(results['xaigen_version'])} in {results['timings']['total_s']:.1f} s.</p>
</body></html>
"""
    return atomic_write_text(out / "report.html", page)
