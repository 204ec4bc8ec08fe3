"""The figures of ``report.html``, each written as PNG and SVG into ``out/figures``.

Axes: energy as a ratio to the exact design's multiplier energy (the searched quantity) or in uJ
per inference; accuracy loss in percentage points (exact int8 minus approximate accuracy).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from xaigen.report.layout import FIGURES, FigureFiles
from xaigen.report.plots import METHOD_COLOURS, PART_COLOURS, save_figure_files
from xaigen.report.values import show
from xaigen.results import RunResults


def _colours(r: RunResults) -> dict[str, str]:
    return {name: METHOD_COLOURS[i % len(METHOD_COLOURS)] for i, name in enumerate(sorted(r.methods))}


def _held_out_points(ax, r: RunResults, colours: dict[str, str]) -> None:
    """Each method's choice per budget: validation loss (filled) joined to its held-out loss (open)."""
    for name, s in r.methods.items():
        for choice in s.by_budget.values():
            if choice is None or choice.heldout_loss is None:
                continue
            x = 1.0 / choice.multiplier_energy_reduction
            val = 100 * (r.exact.accuracy - choice.accuracy)
            ax.plot([x, x], [val, 100 * choice.heldout_loss], color=colours[name], lw=0.8, alpha=0.7)
            ax.scatter([x], [100 * choice.heldout_loss], s=36, facecolors="none", edgecolors=colours[name], zorder=3)


def pareto(r: RunResults, out: Path) -> FigureFiles:
    colours = _colours(r)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, s in sorted(r.methods.items()):
        ax.scatter([p.energy_ratio for p in s.points], [100 * p.loss for p in s.points], s=8, alpha=0.3,
                   color=colours[name])
        ax.step([p.energy_ratio for p in s.front], [100 * p.loss for p in s.front], where="post", color=colours[name],
                label=f"{name} (HV {show(s.hypervolume)}, {s.evaluations} evals)")
    _held_out_points(ax, r, colours)
    for b in r.loss_budgets:
        ax.axhline(100 * b, color="#777777", lw=0.8, ls="--")
        ax.annotate(f"budget {100 * b:g} pt", (0.99, 100 * b), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=7, color="#555555")
    ax.scatter([], [], s=36, facecolors="none", edgecolors="#444444", label="choice per budget, held-out half")
    ax.set_xlabel("multiplier energy / exact multiplier energy")
    ax.set_ylabel("accuracy loss (percentage points)")
    ax.set_ylim(-1, max(10.0, 300 * max(r.loss_budgets)))
    ax.legend(fontsize=7)
    ax.set_title(f"{r.model} on {r.dataset}: Pareto fronts (validation half)", fontsize=10)
    png, svg = save_figure_files(fig, out / FIGURES, "pareto")
    return FigureFiles("pareto", png, svg, "Pareto fronts per method (steps), every evaluated assignment (dots), "
                       "loss budgets (dashed) and each choice per budget re-measured on the held-out half (open "
                       "circles, joined to its validation loss).")


def hypervolume(r: RunResults, out: Path) -> FigureFiles:
    colours = _colours(r)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for name, s in sorted(r.methods.items()):
        ax.plot(range(1, len(s.hypervolume_curve) + 1), s.hypervolume_curve, color=colours[name], label=name)
    ax.set_xlabel("full evaluations")
    ax.set_ylabel("hypervolume")
    ax.legend(fontsize=7)
    png, svg = save_figure_files(fig, out / FIGURES, "hypervolume")
    return FigureFiles("hypervolume", png, svg, "Hypervolume of each method's front after each full evaluation.")


def _layer_parts(estimate: dict) -> tuple[list[str], dict[str, list[float]]]:
    layers = estimate.get("layers", [])
    return ([layer["name"] for layer in layers],
            {part: [layer["energy_pj"].get(part, 0.0) / 1e6 for layer in layers] for part in PART_COLOURS})


def energy(r: RunResults, out: Path) -> FigureFiles:
    """Every part of the energy per layer (top) and the multiplier part alone, exact vs chosen (bottom):
    the multiplier part is small beside static and buffer energy, so it gets its own panel."""
    names, chosen = _layer_parts(r.hardware.xaigen)
    _, exact = _layer_parts(r.hardware.exact)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.5, 0.5 * len(names) + 2.5), 6.5), sharex=True)
    base = [0.0] * len(names)
    for part, colour in PART_COLOURS.items():
        top.bar(names, chosen[part], bottom=base, color=colour, label=part)
        base = [b + v for b, v in zip(base, chosen[part])]
    top.set_ylabel("energy per inference (uJ)")
    top.legend(fontsize=7, ncol=5)
    top.set_title(f"XAI-Gen's choice, {100 * r.primary_budget:g}-point budget: every part of the energy per layer",
                  fontsize=10)
    positions = range(len(names))
    bottom.bar([p - 0.2 for p in positions], exact["multiplier"], 0.4, color="#999999", label="exact multipliers")
    bottom.bar([p + 0.2 for p in positions], chosen["multiplier"], 0.4, color=PART_COLOURS["multiplier"],
               label="chosen multipliers")
    bottom.set_ylabel("multiplier energy (uJ)")
    bottom.set_title("the multiplier part alone (what the search changes)", fontsize=10)
    bottom.legend(fontsize=7)
    bottom.set_xticks(list(positions), names, rotation=60, fontsize=7)
    png, svg = save_figure_files(fig, out / FIGURES, "energy")
    return FigureFiles("energy", png, svg, "Where the energy goes, per layer and inference: all parts stacked (top); "
                       "the multiplier part on its own scale, exact vs XAI-Gen's choice (bottom).")


def relevance(r: RunResults, out: Path) -> FigureFiles:
    """Each XAI method's normalised layer scores beside the measured single-layer sensitivity."""
    layers = list(r.sensitivity.loss_increase)
    methods = [m for m, v in r.xai.items() if v.scores]
    fig, ax = plt.subplots(figsize=(max(6.5, 0.6 * len(layers) + 2.5), 4))
    width = 0.8 / (len(methods) + 1)
    for i, m in enumerate(methods):
        scores = r.xai[m].scores
        total = sum(abs(scores.get(n, 0.0)) for n in layers) or 1.0
        ax.bar([j + i * width for j in range(len(layers))], [abs(scores.get(n, 0.0)) / total for n in layers], width,
               label=f"{m} (Spearman {show(r.xai[m].spearman_vs_sensitivity, digits=2)})",
               color=METHOD_COLOURS[i % len(METHOD_COLOURS)])
    sens = [max(r.sensitivity.loss_increase[n], 0.0) for n in layers]
    total = sum(sens) or 1.0
    ax.bar([j + len(methods) * width for j in range(len(layers))], [s / total for s in sens], width,
           label=f"measured sensitivity (probe {r.sensitivity.probe})", color="black")
    ax.set_xticks([j + 0.4 for j in range(len(layers))], layers, rotation=60, fontsize=7)
    ax.set_ylabel("share of the total score")
    ax.legend(fontsize=7)
    png, svg = save_figure_files(fig, out / FIGURES, "relevance")
    return FigureFiles("relevance", png, svg, "Per-layer scores of every XAI method (share of its total) beside "
                       "the measured sensitivity with the probe multiplier in one layer at a time.")


def damage(r: RunResults, out: Path) -> FigureFiles | None:
    """Each estimator's Spearman against the held-out single-layer truth, with the split-half ceiling."""
    if r.damage is None or not r.damage.estimators:
        return None
    names = list(r.damage.estimators)
    est = r.damage.estimators
    fig, ax = plt.subplots(figsize=(max(6.5, 0.7 * len(names) + 2.5), 3.8))
    pooled = [est[n].pooled_spearman or 0.0 for n in names]
    per_probe = [est[n].per_probe_spearman or 0.0 for n in names]
    ax.bar([i - 0.2 for i in range(len(names))], pooled, 0.4, color="#1f77b4", label="pooled Spearman")
    ax.bar([i + 0.2 for i in range(len(names))], per_probe, 0.4, color="#ff7f0e", label="per-probe Spearman (mean)")
    first = est[names[0]]
    for value, colour, label in ((first.ceiling_pooled, "#1f77b4", "ceiling, pooled (split half)"),
                                 (first.ceiling_per_probe, "#ff7f0e", "ceiling, per probe (split half)")):
        if value is not None:
            ax.axhline(value, color=colour, ls="--", lw=1, label=label)
    ax.set_xticks(list(range(len(names))), [f"{n}*" if n == r.damage.guide else n for n in names], rotation=30,
                  fontsize=8)
    ax.set_ylabel("Spearman vs held-out truth")
    ax.set_ylim(min(0.0, *pooled, *per_probe) - 0.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(f"damage estimators vs measured single-layer damage (* guide: {r.damage.guide})", fontsize=10)
    png, svg = save_figure_files(fig, out / FIGURES, "damage")
    return FigureFiles("damage", png, svg, "Each damage estimator's rank agreement with the single-layer damage "
                       "measured on the held-out half; dashed: the split-half ceiling (validation-half table vs "
                       "held-out table), the best any estimator can be expected to reach. A missing value is "
                       "drawn as 0.")
