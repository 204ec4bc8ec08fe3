"""``nas.html`` of ``xaigen nas``, in the layout of ``report.html`` (:mod:`xaigen.report.layout`):
setting and provenance, headline (XAI-NAS against each baseline), methods at equal budget,
Pareto fronts, hypervolume over search time, warnings. Figures as PNG + SVG, tables as CSV.

Losses are the best exact accuracy any method found minus an architecture's accuracy (points);
energies are per inference, in uJ, and as a ratio to the largest architecture's exact energy.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.pyplot as plt

from xaigen.report.layout import FIGURES, FigureFiles, Section, bullet_list, paragraph, write_page
from xaigen.report.plots import METHOD_COLOURS, save_figure_files
from xaigen.report.tables import Column, Table
from xaigen.report.values import NOT_MEASURED, show
from xaigen.results import NasResults


def _fronts(r: NasResults, out: Path) -> tuple[FigureFiles, FigureFiles]:
    colours = {m: METHOD_COLOURS[i % len(METHOD_COLOURS)] for i, m in enumerate(sorted(r.methods))}
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for method, s in sorted(r.methods.items()):
        points = getattr(s, "points", None) or []  # every scored architecture (not typed: optional)
        ax.scatter([p["energy_ratio"] for p in points], [100 * p["loss"] for p in points], s=10, alpha=0.3,
                   color=colours[method])
        ax.step([p.energy_ratio for p in s.front], [100 * p.loss for p in s.front], where="post", color=colours[method],
                marker="o", markersize=4, label=f"{method} ({s.trials} trials, HV {show(s.hypervolume, digits=4)})")
    budgets = sorted({float(b) for s in r.methods.values() for b in s.by_budget})
    for b in budgets:
        ax.axhline(100 * b, color="#777777", lw=0.8, ls="--")
    ax.set_xlabel("energy / largest architecture's exact energy")
    ax.set_ylabel("loss vs best exact accuracy (points)")
    ax.legend(fontsize=7)
    fronts = FigureFiles("nas_fronts", *save_figure_files(fig, out / FIGURES, "nas_fronts"),
                         "Pareto fronts of every NAS method; dashed: the loss budgets.")
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for method, s in sorted(r.methods.items()):
        ax.step(s.elapsed_curve, s.hypervolume_curve, where="post", color=colours[method], label=method)
    ax.set_xlabel("search time (s)")
    ax.set_ylabel("hypervolume")
    ax.legend(fontsize=7)
    curve = FigureFiles("nas_hypervolume", *save_figure_files(fig, out / FIGURES, "nas_hypervolume"),
                        "Hypervolume of each method's front over its search time.")
    return fronts, curve


def _setting(r: NasResults) -> Section:
    p = r.provenance
    sizes = p.data_sizes if p else {}
    rows = [["data set", r.dataset], ["accelerator", r.accelerator], ["seed", r.seed],
            ["best exact accuracy (any method)", show(r.reference_accuracy, "percent", 2)],
            ["xaigen version", p.xaigen_version if p else None]]
    rows += [[f"{k} version", v] for k, v in (p.versions if p else {}).items()]
    rows += [["train samples", show(sizes.get("train"), "int", missing=NOT_MEASURED)],
             ["search-validation samples", show(sizes.get("search_validation"), "int", missing=NOT_MEASURED)],
             ["held-out samples", "not used by NAS" if p else NOT_MEASURED],
             ["started (UTC)", p.started_utc if p else None],
             ["wall time (s)", show(p.wall_s if p else None, digits=1)],
             ["machine", ", ".join(f"{k}: {v}" for k, v in p.machine.items()) if p else None]]
    table = Table("nas_setting", [Column("item", "text"), Column("value", "text", missing=NOT_MEASURED)], rows,
                  "What was run, with which software, on what data and machine")
    config = (f"<details><summary>Configuration (every key, defaults included)</summary><pre>"
              f"{html.escape(json.dumps(p.config, indent=2))}</pre></details>" if p else
              paragraph(f"Configuration: {NOT_MEASURED} (results file written before provenance was recorded)."))
    return Section("setting", "Setting and provenance", [table, config])


def _versus_title(key: str) -> str:
    """A column title for a key of ``xai_nas_vs`` (:func:`xaigen.nas.methods.summarize_nas`)."""
    if key.startswith("energy_efficiency_gain@"):
        return f"energy-efficiency gain, {100 * float(key.split('@')[1]):g}-point budget"
    return {"xai_nas_seconds_to_reach_its_hypervolume": "XAI-NAS s to reach the baseline's hypervolume",
            "its_seconds": "baseline search s", "search_time_ratio": "search-time ratio (baseline / XAI-NAS)"
            }.get(key, key.replace("_", " "))


def _headline(r: NasResults) -> Section:
    keys = list(dict.fromkeys(k for v in r.xai_nas_vs.values() for k in v))
    rows = [[other] + [v.get(k) for k in keys] for other, v in r.xai_nas_vs.items()]
    columns = [Column("baseline", "text")] + [Column(_versus_title(k), digits=3) for k in keys]
    if not rows:
        return Section("headline", "Headline: XAI-NAS vs each baseline", [paragraph("XAI-NAS was not run.")])
    return Section("headline", "Headline: XAI-NAS vs each baseline",
                   [Table("nas_headline", columns, rows, "Energy-efficiency gain per budget (baseline energy / "
                          "XAI-NAS energy) and search time"),
                    paragraph("— : a method found nothing within that budget.")])


def _methods(r: NasResults) -> Section:
    rows = []
    for method, s in sorted(r.methods.items()):
        for b, best in s.by_budget.items():
            best = best or {}
            energy = best.get("energy_pj")
            rows.append([method, float(b), s.trials, s.wall_s, s.hypervolume,
                         None if energy is None else energy / 1e6, best.get("accuracy"),
                         ", ".join(f"{k}={v}" for k, v in (best.get("params") or {}).items()) or None])
    columns = [Column("method", "text"), Column("loss budget (points)", "points", 1), Column("trials", "int"),
               Column("search s", digits=0), Column("hypervolume", digits=4), Column("lowest energy uJ", digits=3),
               Column("accuracy", "percent", 2), Column("architecture", "text")]
    return Section("methods", "Methods at equal budget",
                   [Table("nas_methods", columns, rows, "Lowest-energy architecture within each budget of the best "
                          "exact accuracy"), paragraph("— : nothing found within that budget.")])


def _warnings(r: NasResults) -> Section:
    found = [f"{m} found no architecture within the {100 * float(b):g}-point budget."
             for m, s in sorted(r.methods.items()) for b, best in s.by_budget.items() if best is None]
    found += [f"{m} completed no trial." for m, s in sorted(r.methods.items()) if s.trials == 0]
    return Section("warnings", "Warnings", [bullet_list(found, "warning") if found else
                                            paragraph("Nothing to warn about: every method found an architecture "
                                                      "within every budget.")])


def write_nas_report(result: dict | NasResults, out: Path) -> Path:
    """Write the figures, the tables' CSV and ``nas.html`` into ``out``; returns the HTML path."""
    out = Path(out)
    r = result if isinstance(result, NasResults) else NasResults.model_validate(result)
    fronts, curve = _fronts(r, out)
    sections = [_setting(r), _headline(r), _methods(r), Section("pareto", "Pareto fronts", [fronts]),
                Section("search_time", "Hypervolume over search time", [curve]), _warnings(r)]
    return write_page(out, "nas.html", f"xaigen NAS: XAI-NAS vs NAS baselines on {r.dataset}",
                      f"{r.dataset}, {r.accelerator}; seed {r.seed}", sections,
                      f"Generated by xaigen {r.provenance.xaigen_version if r.provenance else ''}.".replace(" .", "."))
