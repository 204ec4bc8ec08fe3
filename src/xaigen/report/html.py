"""A self-contained HTML report (plots embedded as base64 PNG) from ``results.json`` data."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib.pyplot as plt

from xaigen.fileio import atomic_write_text
from xaigen.results import RunResults
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
               width, label=f"{m} (rho {_fmt(results['xai'][m]['spearman_vs_sensitivity'], 2)})",
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


def _row(cells) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def methods_table(r: RunResults) -> str:
    """Methods at equal budgets: evaluations, time, hypervolume, savings per loss budget."""
    budgets = [f"{b:g}" for b in r.loss_budgets]
    rows = []
    for name, s in sorted(r.methods.items()):
        cells = [html.escape(name), str(s.evaluations), _fmt(s.wall_s, 2), _fmt(s.hypervolume)]
        for b in budgets:
            best = s.by_budget[b]
            cells += ["-", "-"] if best is None else [f"{best.multiplier_energy_reduction:.2f}x",
                                                      f"{best.energy_reduction:.3f}x"]
        cells.append(_fmt(s.to_reach_nsga2_hypervolume.evaluations if s.to_reach_nsga2_hypervolume else None))
        rows.append(_row(cells))
    head = "".join(f"<th>{h}</th>" for h in ["method", "evals", "wall s", "HV"] + sum(
        ([f"mult. saving @{b}", f"accel. saving @{b}"] for b in budgets), []) + ["evals to NSGA-II HV"])
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def layer_table(r: RunResults) -> str:
    """XAI-Gen's choice per layer with the guide's relevance and the measured sensitivity."""
    assignment = (r.xaigen.assignment if r.xaigen else None) or {}
    guide = r.xai[r.guide].scores
    hw = {layer["name"]: layer for layer in r.hardware.xaigen["layers"]}
    rows = []
    for n, increase in r.sensitivity.loss_increase.items():
        e = hw.get(n, {}).get("energy_pj", {})
        rows.append(_row([html.escape(n), _fmt(guide.get(n)), _fmt(increase, 4), html.escape(assignment.get(n, "-")),
                          _fmt(e.get("multiplier", 0) / 1e6, 4), _fmt(e.get("total", 0) / 1e6, 4)]))
    head = (f"<th>layer</th><th>relevance ({html.escape(r.guide)})</th><th>sensitivity (CE increase)</th>"
            "<th>multiplier</th><th>mult. energy uJ</th><th>total uJ</th>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def xai_table(r: RunResults) -> str:
    rows = "".join(_row([html.escape(m), _fmt(v.spearman_vs_sensitivity), _fmt(v.spearman_vs_accuracy_drop),
                         html.escape(v.error or "")]) for m, v in r.xai.items())
    return ("<table><tr><th>method</th><th>Spearman vs loss increase</th><th>Spearman vs accuracy drop</th>"
            f"<th>note</th></tr>{rows}</table>")


def finetune_note(r: RunResults) -> str:
    ft = r.finetune
    if ft is None:
        return ""
    verdict = "improved" if ft.test_accuracy_after > ft.test_accuracy_before else "did NOT improve"
    return (f"<p>Fine-tuning (STE) of the {r.loss_budgets[-1]:g} assignment {verdict} the held-out accuracy: "
            f"{ft.test_accuracy_before:.4f} &rarr; {ft.test_accuracy_after:.4f}.</p>")


def write_report(results: dict | RunResults, out: Path) -> Path:
    """Write the PNG plots and ``report.html`` into ``out``; returns the HTML path."""
    out = Path(out)
    r = results if isinstance(results, RunResults) else RunResults.model_validate(results)
    data = r.to_json_data()
    plots = {
        "pareto": plot_pareto(data, out / "pareto.png"),
        "hypervolume": plot_hypervolume(data, out / "hypervolume.png"),
        "relevance": plot_relevance(data, out / "relevance.png"),
        "energy": plot_network_energy(data["hardware"]["xaigen"], out / "energy.png",
                                      "XAI-Gen assignment: energy and utilization per layer"),
    }
    return atomic_write_text(out / "report.html", _page(r, plots))


def _page(r: RunResults, plots: dict[str, Path]) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xaigen report: {html.escape(r.model)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}h2{{border-bottom:1px solid #ddd}}</style></head>
<body><h1>xaigen: {html.escape(r.model)} on {html.escape(r.dataset)}, {html.escape(r.accelerator)}</h1>
<p>Float accuracy {_fmt(r.float_.accuracy, 4)}; exact int8 accuracy {_fmt(r.exact.accuracy, 4)}
(validation half; held-out half {_fmt(r.exact.test_accuracy, 4)}). Exact energy per inference
{r.exact.energy_pj / 1e6:.3f} uJ, of which multipliers {r.exact.multiplier_energy_pj / 1e6:.3f} uJ.
Candidates: {len(r.candidates)} multipliers. Seed {r.seed}.</p>
<h2>Methods at equal evaluation budgets</h2>
{methods_table(r)}
<p>Savings are exact/approximate energy for the lowest-energy assignment within each accuracy-loss budget,
for the multipliers alone and for the whole accelerator (buffers, DRAM and leakage do not shrink).</p>
{embed_png(plots['pareto'])}
{embed_png(plots['hypervolume'])}
<h2>XAI layer criticality vs measured sensitivity</h2>
{xai_table(r)}
{embed_png(plots['relevance'])}
<h2>XAI-Gen's choice per layer (loss budget {r.loss_budgets[0]:g})</h2>
{layer_table(r)}
{finetune_note(r)}
{embed_png(plots['energy'])}
<p style="color:#888">Generated by xaigen {html.escape(r.xaigen_version)} in {r.timings.total_s:.1f} s.</p>
</body></html>
"""
