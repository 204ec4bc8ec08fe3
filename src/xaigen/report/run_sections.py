"""The sections of ``report.html`` in the order a reader asks: setting and provenance, headline,
methods at equal budget, Pareto fronts, where the energy goes, XAI damage vs measured truth,
per-layer choice, candidate circuits, fine-tuning effect, warnings.

Each builder takes every run being reported (one per seed; a figure over several seeds is shown
as mean ± sample standard deviation) and the figures already written; per-run details (layers,
circuits) come from the first run. Accuracy losses are in percentage points; energy in uJ per
inference; reductions are exact / approximate.
"""

from __future__ import annotations

import html
import json

from xaigen.report.layout import FigureFiles, Section, bullet_list, paragraph
from xaigen.report.tables import Column, Table
from xaigen.report.values import NOT_MEASURED, over, show
from xaigen.results import RunResults
from xaigen.xai import DAMAGE_MODELS

XAIGEN = "xai-gen"


def _provenance(r: RunResults, *keys: str):
    """A provenance value (None when the file predates provenance)."""
    value = r.provenance.model_dump() if r.provenance else None
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def setting_section(runs: list[RunResults]) -> Section:
    r = runs[0]
    seeds = [s for run in runs for s in (_provenance(run, "seeds") or [run.seed])]
    versions = _provenance(r, "versions") or {}
    machine = _provenance(r, "machine") or {}
    search = (_provenance(r, "config") or {}).get("search", {})
    xai = (_provenance(r, "config") or {}).get("xai", {})
    floor, mode = xai.get("guide_floor"), xai.get("guide_floor_mode", "max")  # runs before the mode: max
    guide = r.guide + (f" (floor: {floor}, {mode})" if floor and r.guide in DAMAGE_MODELS and floor != r.guide else "")
    rows = [["model", r.model], ["data set", r.dataset], ["accelerator", r.accelerator],
            ["inference batch", r.exact.batch], ["loss budgets (points)", ", ".join(f"{100 * b:g}" for b in r.loss_budgets)],
            ["full evaluations per method", search.get("budget")],
            ["full evaluations, NSGA-II", search.get("nsga2_budget") or search.get("budget")],
            ["candidate multipliers", len(r.candidates)], ["XAI guide", guide], ["sensitivity probe", r.probe],
            ["seed(s)", ", ".join(str(s) for s in seeds)], ["xaigen version", r.xaigen_version]]
    rows += [[f"{name} version", v] for name, v in versions.items()] or [["dependency versions", None]]
    for key, label in (("train", "train samples"), ("search_validation", "search-validation samples"),
                       ("held_out", "held-out samples")):
        rows.append([label, show(over(runs, lambda x, k=key: _provenance(x, "data_sizes", k)), "int",
                                 missing=NOT_MEASURED)])
    rows += [["started (UTC)", ", ".join(str(_provenance(x, "started_utc") or NOT_MEASURED) for x in runs)],
             ["wall time (s)", show(over(runs, lambda x: x.timings.total_s), digits=1)],
             ["machine", ", ".join(f"{k}: {v}" for k, v in machine.items()) or None]]
    table = Table("setting", [Column("item", "text"), Column("value", "text", missing=NOT_MEASURED)], rows,
                  "What was run, with which software, on what data and machine")
    config = _provenance(r, "config")
    shown = (f"<details><summary>Configuration (every key, defaults included)</summary><pre>"
             f"{html.escape(json.dumps(config, indent=2))}</pre></details>" if config else
             paragraph(f"Configuration: {NOT_MEASURED} (results file written before provenance was recorded)."))
    return Section("setting", "Setting and provenance", [table, shown])


def _choice(method: str, budget: str, field: str):
    return lambda r: getattr(r.methods[method].by_budget[budget], field)


def _validation_loss(method: str, budget: str):
    return lambda r: r.exact.accuracy - r.methods[method].by_budget[budget].accuracy


def _breaks(runs: list[RunResults], method: str, budget: str):
    """Whether the choice's held-out loss exceeds its budget; over several seeds, the share that does."""
    if len(runs) == 1:
        return over(runs, _choice(method, budget, "heldout_breaks_budget"))
    return over(runs, lambda r: float(_choice(method, budget, "heldout_breaks_budget")(r)))


def headline_section(runs: list[RunResults]) -> Section:
    r = runs[0]
    exact = (f"Exact int8 model: accuracy {show(over(runs, lambda x: x.exact.accuracy), 'percent', 2)} (validation "
             f"half), {show(over(runs, lambda x: x.exact.test_accuracy), 'percent', 2)} (held-out half); "
             f"{show(over(runs, lambda x: x.exact.energy_pj / 1e6))} uJ per inference, of which multipliers "
             f"{show(over(runs, lambda x: x.exact.multiplier_energy_pj / 1e6))} uJ (batch {r.exact.batch}).")
    if XAIGEN not in r.methods:
        return Section("headline", "Headline", [paragraph(exact), paragraph("XAI-Gen was not among the methods run.")])
    rows = []
    for b in r.methods[XAIGEN].by_budget:
        rows.append([float(b)] + [over(runs, _choice(XAIGEN, b, f)) for f in
                                  ("multiplier_energy_reduction", "mac_energy_reduction", "energy_reduction")]
                    + [over(runs, _validation_loss(XAIGEN, b)), over(runs, _choice(XAIGEN, b, "heldout_loss")),
                       _breaks(runs, XAIGEN, b)])
    columns = [Column("loss budget (points)", "points", 1), Column("multiplier reduction", "ratio", 2),
               Column("MAC reduction", "ratio", 2), Column("accelerator reduction", "ratio", 3),
               Column("validation loss (points)", "points", 2), Column("held-out loss (points)", "points", 2),
               Column("held-out loss above budget", "flag")]
    if len(runs) > 1:
        columns[-1] = Column("held-out loss above budget (share of seeds)", "number", 2)
    note = ("Reductions are exact / approximate energy per inference for XAI-Gen's lowest-energy assignment within "
            "each budget: multipliers alone, MAC units (multipliers and accumulators), whole accelerator. "
            "— : no assignment within the budget.")
    return Section("headline", "Headline: XAI-Gen per budget",
                   [paragraph(exact), Table("headline", columns, rows, "XAI-Gen per loss budget"), paragraph(note)])


def methods_section(runs: list[RunResults], hv: FigureFiles) -> Section:
    r = runs[0]
    rows = []
    for name in sorted(r.methods):
        s = r.methods[name]
        reach = over(runs, lambda x, n=name: x.methods[n].to_reach_nsga2_hypervolume.evaluations)
        for b in s.by_budget:
            rows.append([name, float(b), over(runs, lambda x, n=name: x.methods[n].evaluations),
                         over(runs, lambda x, n=name: x.methods[n].wall_s),
                         over(runs, lambda x, n=name: x.methods[n].hypervolume)]
                        + [over(runs, _choice(name, b, f)) for f in
                           ("multiplier_energy_reduction", "mac_energy_reduction", "energy_reduction")]
                        + [over(runs, _validation_loss(name, b)), over(runs, _choice(name, b, "heldout_loss")),
                           _breaks(runs, name, b), reach])
    if any(x.best_known is not None for x in runs):  # the room left to every method, hypervolume-wise
        rows.append(["best-known front (all methods pooled)", None, over(runs, lambda x: x.best_known.evaluations),
                     None, over(runs, lambda x: x.best_known.hypervolume)] + [None] * 7)
    columns = [Column("method", "text"), Column("loss budget (points)", "points", 1), Column("evaluations", "int"),
               Column("wall s", digits=1), Column("hypervolume", digits=4), Column("multiplier reduction", "ratio", 2),
               Column("MAC reduction", "ratio", 2), Column("accelerator reduction", "ratio", 3),
               Column("validation loss (points)", "points", 2), Column("held-out loss (points)", "points", 2),
               Column("held-out above budget", "flag" if len(runs) == 1 else "number", 2),
               Column("evaluations to NSGA-II's hypervolume", "int")]
    note = ("Every method had the same budget of full evaluations (NSGA-II may have its own, see the setting). "
            "— : no assignment within the budget, or (last column) NSGA-II not run or its hypervolume not reached. "
            "The best-known front pools every method's evaluated assignments: its hypervolume is at least each "
            "method's and says how much room each left (the true front may lie beyond it).")
    return Section("methods", "Methods at equal budget",
                   [Table("methods", columns, rows, "Each method's lowest-energy choice per loss budget"),
                    paragraph(note), hv])


def pareto_section(figure: FigureFiles) -> Section:
    return Section("pareto", "Pareto fronts", [figure])


def energy_section(r: RunResults, figure: FigureFiles) -> Section:
    parts = ("multiplier", "accumulator", "buffer", "dram", "static")
    exact = {p: sum(layer["energy_pj"].get(p, 0.0) for layer in r.hardware.exact.get("layers", [])) for p in parts}
    chosen = {p: sum(layer["energy_pj"].get(p, 0.0) for layer in r.hardware.xaigen.get("layers", [])) for p in parts}
    total_exact, total_chosen = sum(exact.values()), sum(chosen.values())
    rows = [[p, exact[p] / 1e6, chosen[p] / 1e6, exact[p] / total_exact if total_exact else None,
             chosen[p] / total_chosen if total_chosen else None, exact[p] / chosen[p] if chosen[p] else None]
            for p in parts]
    rows.append(["total", total_exact / 1e6, total_chosen / 1e6, 1.0, 1.0,
                 total_exact / total_chosen if total_chosen else None])
    columns = [Column("part", "text"), Column("exact uJ", digits=4), Column("XAI-Gen uJ", digits=4),
               Column("share of exact", "percent", 2), Column("share of XAI-Gen", "percent", 2),
               Column("reduction", "ratio", 3)]
    caption = (f"Energy per inference by part, exact vs XAI-Gen's choice within the "
               f"{100 * r.primary_budget:g}-point budget ({r.accelerator})")
    return Section("energy", "Where the energy goes", [Table("energy_parts", columns, rows, caption), figure])


def xai_section(runs: list[RunResults], damage: FigureFiles | None, relevance: FigureFiles) -> Section:
    r = runs[0]
    parts: list = []
    if r.damage is None:
        parts.append(paragraph(f"Damage vs measured truth: {NOT_MEASURED} ([xai] truth is off, or the results file "
                               "predates it)."))
    else:
        rows = []
        for name in r.damage.estimators:
            def field(key, n=name):
                return lambda x: getattr(x.damage.estimators[n], key)
            rows.append([name + (" (guide)" if name == r.damage.guide else "")] + [over(runs, field(k)) for k in (
                "pooled_spearman", "ceiling_pooled", "per_probe_spearman", "ceiling_per_probe",
                "pearson_assignments", "ceiling_pearson_assignments", "pearson_assignments_corrected",
                "auc_above_budget", "assignments")])
        columns = [Column("estimator", "text"), Column("pooled Spearman"), Column("ceiling (pooled)"),
                   Column("per-probe Spearman"), Column("ceiling (per probe)"), Column("Pearson, assignments"),
                   Column("ceiling (Pearson, sum of measured single-layer damage)"),
                   Column("Pearson, interaction-corrected (out of fold)"),
                   Column(f"AUC, loss above the {100 * r.damage.budget:g}-point budget"), Column("assignments", "int")]
        seen = "the search's validation half" if r.damage.estimated_on == "validation" else "the training set"
        parts += [Table("damage_vs_truth", columns, rows, "Predicted damage vs single-layer damage measured on the "
                        "held-out half; ceiling: the validation-half measurement against the held-out one (the "
                        "Pearson ceiling: the validation half's measured single-layer table summed over each "
                        "evaluated assignment, an additive model can come out slightly above it). The "
                        f"estimators saw images of {seen} ([xai] data)"), damage]
        if r.damage.errors:
            parts.append(bullet_list([f"{k}: {v}" for k, v in r.damage.errors.items()], "warning"))
    rows = [[m, over(runs, lambda x, m=m: x.xai[m].spearman_vs_sensitivity),
             over(runs, lambda x, m=m: x.xai[m].spearman_vs_accuracy_drop), v.error or ""] for m, v in r.xai.items()]
    columns = [Column("method", "text"), Column("Spearman vs loss increase"), Column("Spearman vs accuracy drop"),
               Column("error", "text")]
    parts += [Table("xai_methods", columns, rows, f"Layer scores vs measured single-layer sensitivity "
                    f"(probe {r.sensitivity.probe})"), relevance]
    return Section("xai", "XAI damage vs measured truth", parts)


def _is_exact(r: RunResults, multiplier: str | None) -> bool:
    if multiplier is None:
        return True
    if r.circuits is not None:
        return any(c.name == multiplier and c.mae == 0 for c in r.circuits.candidates)
    return multiplier.startswith("exact")


def layers_section(r: RunResults) -> Section:
    assignment = (r.xaigen.assignment if r.xaigen else None) or {}
    guide = r.xai[r.guide].scores if r.guide in r.xai else {}
    exact_hw = {layer["name"]: layer["energy_pj"] for layer in r.hardware.exact.get("layers", [])}
    chosen_hw = {layer["name"]: layer["energy_pj"] for layer in r.hardware.xaigen.get("layers", [])}
    rows = []
    for n, increase in r.sensitivity.loss_increase.items():
        m = assignment.get(n)
        rows.append([n, guide.get(n), increase, m or "exact (no approximation)", _is_exact(r, m),
                     exact_hw.get(n, {}).get("multiplier", 0.0) / 1e6 if n in exact_hw else None,
                     chosen_hw.get(n, {}).get("multiplier", 0.0) / 1e6 if n in chosen_hw else None,
                     chosen_hw.get(n, {}).get("total", 0.0) / 1e6 if n in chosen_hw else None])
    columns = [Column("layer", "text"), Column(f"relevance ({r.guide})", missing=NOT_MEASURED),
               Column("sensitivity (CE increase)", digits=4), Column("multiplier", "text"),
               Column("stayed exact", "flag"), Column("exact mult. uJ", digits=4), Column("chosen mult. uJ", digits=4),
               Column("layer total uJ", digits=4)]
    parts = [paragraph(_coverage_text(r)),
             Table("layers", columns, rows, f"XAI-Gen's choice per layer, {100 * r.primary_budget:g}-point budget")]
    stayed = [row[0] for row in rows if row[4]]
    parts.append(paragraph("Stayed exact: " + (", ".join(stayed) if stayed else "no layer") + "."))
    return Section("layers", "Per-layer choice", parts)


def _coverage_text(r: RunResults) -> str:
    if r.coverage is None:
        return f"Coverage (share of the model's MACs the search can approximate): {NOT_MEASURED}."
    detail = r.coverage_detail or {}
    left = detail.get("not_approximated") or []
    text = (f"Coverage: {show(r.coverage, 'percent', 2)} of the model's MACs can be approximated "
            f"({show(detail.get('approximated_macs'), 'int')} of {show(detail.get('total_macs'), 'int')}).")
    if left:
        text += " Not approximated (charged at exact energy): " + "; ".join(
            f"{n.get('site')} ({n.get('op')}, {show(n.get('macs'), 'int')} MACs: {n.get('reason')})"
            for n in left) + "."
    return text


def _signedness(signed: bool, mapping: str | None) -> str:
    return ("signed" if signed else "unsigned") + (f", {mapping}" if mapping else "")


def candidates_section(r: RunResults) -> Section:
    columns = [Column("name", "text"), Column("power mW", digits=4), Column("energy/MAC pJ", digits=4),
               Column("MAE (uniform operands)", digits=2, missing=NOT_MEASURED),
               Column("table rank", "int", missing="above limit"), Column("signedness", "text"),
               Column("source", "text")]
    if r.circuits is not None:
        rows = [[c.name, c.power_mw, c.energy_per_mac_pj, c.mae, c.table_rank, _signedness(c.signed, c.mapping),
                 c.source] for c in r.circuits.candidates]
        left = [[c.name, c.reason] for c in r.circuits.left_out]
    else:  # a results file from before the circuits table: what it has
        rows = [[n, m.get("power_mw"), m.get("power_mw"), None, None, "signed" if m.get("signed") else "unsigned",
                 m.get("source")] for n, m in r.multipliers.items()]
        columns[4] = Column("table rank", "int", missing=NOT_MEASURED)
        left = None
    parts: list = [Table("candidates", columns, rows, "The multipliers the search could use"),
                   paragraph("Energy per MAC is the circuit's power times the 1 ns characterization period; the table "
                             "rank is the exact integer rank of the 256 x 256 product table (the emulator's cost).")]
    if left is None:
        parts.append(paragraph(f"Circuits left out: {NOT_MEASURED}."))
    elif left:
        parts.append(Table("left_out", [Column("name", "text"), Column("why left out", "text")], left,
                           "Circuits asked for but left out"))
    else:
        parts.append(paragraph("No circuit that was asked for was left out."))
    return Section("candidates", "Candidate circuits", parts)


def _finetune_verdict(before: float, after: float) -> tuple[str, str]:
    change = 100 * (after - before)
    if change > 0:
        return f"improved the held-out accuracy by {change:.2f} points", "good"
    if change < 0:
        return (f"LOWERED the held-out accuracy by {-change:.2f} points: the fine-tuned model is worse; "
                "report the assignment without fine-tuning"), "bad"
    return "left the held-out accuracy unchanged", ""


def finetune_section(runs: list[RunResults]) -> Section:
    r, parts = runs[0], []
    ft = r.finetune
    if ft is not None:
        verdict, css = _finetune_verdict(ft.test_accuracy_before, ft.test_accuracy_after)
        parts.append(paragraph(f"Fine-tuning (straight-through estimator) of XAI-Gen's choice at the loosest budget "
                               f"({100 * r.loss_budgets[-1]:g} points) {verdict}.", css))
        rows = [[r.loss_budgets[-1], over(runs, lambda x: x.finetune.test_accuracy_before),
                 over(runs, lambda x: x.finetune.test_accuracy_after),
                 over(runs, lambda x: x.finetune.test_accuracy_after - x.finetune.test_accuracy_before),
                 len(ft.loss_history)]]
        parts.append(Table("finetune", [Column("loss budget (points)", "points", 1),
                                        Column("held-out accuracy before", "percent", 2),
                                        Column("held-out accuracy after", "percent", 2),
                                        Column("change (points)", "points", 2), Column("epochs", "int")], rows))
    if any(_retrained(x) is not None for x in runs):
        parts += [_in_loop_table(runs), _attempts_table(runs)]
    if not parts:
        parts.append(paragraph("Fine-tuning: not run (not enabled in [finetune])."))
    return Section("finetune", "Fine-tuning effect", parts)


def _tuned(budget: str, field: str):
    return lambda x: getattr(x.methods[XAIGEN].retrained.by_budget[budget], field)


def _in_loop_table(runs: list[RunResults]) -> Table:
    """Per budget, XAI-Gen's choice without and with in-loop fine-tuning, side by side (mean ±
    std over seeds where several runs are reported)."""
    rows = []
    for b in runs[0].methods[XAIGEN].by_budget:
        change = lambda x, b=b: _tuned(b, "test_accuracy")(x) - _choice(XAIGEN, b, "test_accuracy")(x)  # noqa: E731
        rows.append([float(b), over(runs, _choice(XAIGEN, b, "multiplier_energy_reduction")),
                     over(runs, _choice(XAIGEN, b, "test_accuracy")),
                     over(runs, _tuned(b, "multiplier_energy_reduction")), over(runs, _tuned(b, "test_accuracy")),
                     over(runs, change), over(runs, _tuned(b, "heldout_loss")), over(runs, _tuned(b, "epochs"))])
    columns = [Column("loss budget (points)", "points", 1), Column("mult. reduction, no retraining", "ratio", 2),
               Column("held-out acc., no retraining", "percent", 2), Column("mult. reduction, fine-tuned", "ratio", 2),
               Column("held-out acc., fine-tuned", "percent", 2), Column("held-out change (points)", "points", 2),
               Column("held-out loss, fine-tuned (points)", "points", 2), Column("epochs", "int")]
    finetunes = over(runs, lambda x: x.methods[XAIGEN].retrained.finetunes)
    wall = over(runs, lambda x: x.methods[XAIGEN].retrained.wall_s)
    return Table("finetune_in_loop", columns, rows, f"In-loop fine-tuning: {show(finetunes, 'int')} fine-tunes, "
                 f"{show(wall, digits=1)} s. The fine-tuned choice may be a cheaper assignment than the one without "
                 "retraining; a negative change is held-out accuracy lost against it; the held-out loss is "
                 "against the exact model (a fine-tuned choice whose loss exceeds its budget is in the warnings)")


def _attempts_table(runs: list[RunResults]) -> Table:
    """Every fine-tune judged against a budget, met or not (validation half, each seed)."""
    rows = []
    for x in runs:
        tuned = _retrained(x)
        rows += [[x.seed, float(a.budget), a.multiplier_energy_reduction, a.accuracy_before, a.accuracy_after,
                  a.accuracy_after - a.accuracy_before, a.epochs, "yes" if a.within_budget else "no"]
                 for a in (tuned.attempts if tuned is not None else [])]
    columns = [Column("seed", "int"), Column("loss budget (points)", "points", 1),
               Column("mult. reduction", "ratio", 2), Column("val. acc. as quantized", "percent", 2),
               Column("val. acc. fine-tuned", "percent", 2), Column("change (points)", "points", 2),
               Column("epochs", "int"), Column("within budget", "text")]
    return Table("finetune_attempts", columns, rows, "Each assignment fine-tuned in the loop, against each budget it "
                 "was tried for, on the validation half that judges the budgets (empty: results written before "
                 "attempts were recorded)")


def _retrained(r: RunResults):
    """XAI-Gen's in-loop fine-tuning summary, or None where the run has none."""
    return r.methods[XAIGEN].retrained if XAIGEN in r.methods else None


def _retrained_warnings(r: RunResults, seed: str) -> list[str]:
    retrained = _retrained(r)
    if retrained is None:
        return []
    return [_broken(f"{seed}xai-gen's fine-tuned choice", b, c) for b, c in retrained.by_budget.items()
            if c is not None and c.heldout_breaks_budget]


def _broken(who: str, budget: str, choice) -> str:
    return (f"{who} for the {100 * float(budget):g}-point budget loses {show(choice.heldout_loss, 'points', 2)} "
            "points on the held-out half (budget broken).")


def warnings_list(runs: list[RunResults]) -> list[str]:
    """Everything a reader must not miss: budgets broken on the held-out half, no choice within a
    budget, layers not approximated, circuits left out, XAI methods that failed, moves a path repair
    took out, a harmful fine-tune."""
    out = []
    for r in runs:
        seed = f"seed {r.seed}: " if len(runs) > 1 else ""
        for name, s in sorted(r.methods.items()):
            for b, c in s.by_budget.items():
                if c is None:
                    out.append(f"{seed}{name} found no assignment within the {100 * float(b):g}-point budget.")
                elif c.heldout_breaks_budget:
                    out.append(_broken(f"{seed}{name}'s choice", b, c))
        out += _retrained_warnings(r, seed)
        for n in (r.coverage_detail or {}).get("not_approximated") or []:
            out.append(f"{seed}not approximated (charged at exact energy): {n.get('site')} ({n.get('reason')}).")
        for c in (r.circuits.left_out if r.circuits else []):
            out.append(f"{seed}circuit {c.name} left out: {c.reason}.")
        out += [f"{seed}XAI method {m} failed: {v.error}" for m, v in r.xai.items() if v.error]
        out += [f"{seed}{name} took {multiplier} in layer {layer} out of its path (the measured loss leapt "
                f"after that move), so no assignment it tried afterwards uses it there."
                for name, d in sorted(r.xaigen_diagnostics.items())
                for layer, multiplier in d.get("removed_moves") or []]
        if r.finetune and r.finetune.test_accuracy_after < r.finetune.test_accuracy_before:
            out.append(f"{seed}fine-tuning lowered the held-out accuracy "
                       f"({show(r.finetune.test_accuracy_before, 'percent', 2)} -> "
                       f"{show(r.finetune.test_accuracy_after, 'percent', 2)}).")
    return out


def warnings_section(runs: list[RunResults]) -> Section:
    found = warnings_list(runs)
    if not found:
        calm = ("Nothing to warn about: every choice kept its budget on the held-out half, every layer was "
                "approximable and no circuit was left out.")
        return Section("warnings", "Warnings", [paragraph(calm)])
    return Section("warnings", "Warnings", [bullet_list(found, "warning")])
