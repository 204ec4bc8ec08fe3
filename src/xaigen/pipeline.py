"""The main job, ``xaigen run``: train -> quantize -> explain -> measure -> search -> verify -> report data.

:func:`run_pipeline` reads top-down as the list of steps; each step is a short function of the
previous steps' results. The shared set-up (catalogue, data, model, workers) lives in
:mod:`xaigen.context`, the search methods in :mod:`xaigen.search`, and the result schema in
:mod:`xaigen.results`. ``results.json`` is written atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from xaigen import __version__
from xaigen.config import RunConfig
from xaigen.context import (
    build_catalogue,
    choose_probe,
    excluded,
    load_data,
    load_task_of,
    requested_candidates,
    run_workers,
    split_test,
    trained_model,
    use_one_thread,
)
from xaigen.data import Dataset
from xaigen.emulation import EmulationOptions, accuracy_and_loss, finetune, set_assignment
from xaigen.errors import InputError
from xaigen.fileio import atomic_write_json
from xaigen.hardware import Accelerator, energy_reduction, estimate_network, load_accelerator
from xaigen.models.task import Task
from xaigen.multipliers import Catalogue, error_metrics
from xaigen.provenance import now_utc, provenance
from xaigen.results import RunResults
from xaigen.search import (
    Prepared,
    Run,
    SearchContext,
    best_known_front,
    get_method,
    prepare,
    summarize_run,
    time_to_reach,
)
from xaigen.search.retrain import RetrainSettings, retrained_choices
from xaigen.search.study import check_storage, fail_stale_trials, open_study
from xaigen.xai import (
    DAMAGE_MODELS,
    DamageTable,
    Evaluated,
    LayerRelevance,
    Sensitivity,
    TruthTable,
    damage_vs_truth,
    filled,
    floored,
    layer_relevance,
    layer_sensitivity,
    measured_damage,
    single_layer_table,
    spearman,
)

log = logging.getLogger("xaigen")


@contextmanager
def _step(progress, name: str, total: int | None = None) -> Iterator:
    """Log a step's duration and show it as a bar of ``progress`` (a rich Progress, or None);
    yields the ``advance`` callback for the step's units of work."""
    task = progress.add_task(name, total=total) if progress else None
    start = time.perf_counter()

    def advance(n: int = 1):
        if progress:
            progress.advance(task, n)

    yield advance
    log.info("%s: %.1f s", name, time.perf_counter() - start)
    if progress:
        progress.update(task, completed=total or 1, total=total or 1)


@dataclass
class Setup:
    """What every step after training needs: data splits, model, catalogue, problem."""

    data: Dataset
    model: torch.nn.Module
    cached: bool  # the model's weights came from the checkpoint cache
    catalogue: Catalogue
    candidates: list[str]
    probe: str
    accelerator: Accelerator
    val: tuple[torch.Tensor, torch.Tensor]  # half of the test set, for the search
    test: tuple[torch.Tensor, torch.Tensor]  # the other half, held out
    prepared: Prepared
    float_accuracy: float
    task: Task  # what "accuracy" and "loss" mean


def setup(config: RunConfig, progress=None) -> Setup:
    """Validate the configuration, load data, train (or load) the model, quantize and trace it."""
    torch.manual_seed(config.search.seed)
    # Everything a user can get wrong in the configuration is checked before the long work starts.
    catalogue, candidates = build_catalogue(config)
    probe = choose_probe(config, catalogue, candidates)
    accelerator = load_accelerator(config.hardware.accelerator)
    task = load_task_of(config)
    with _step(progress, "data and model", config.model.epochs) as advance:
        data = load_data(config)
        model, cached = trained_model(config, data, advance, task)
    val, test = split_test(data.x_test, data.y_test, config.search.seed)
    with _step(progress, "quantize and trace"):
        q = config.quantization
        options = EmulationOptions(q.per_channel, tuple(config.multipliers.exact_layers), q.fold_batchnorm,
                                   q.weight_tuning)
        prepared = prepare(model, data.x_train[: q.calibration_samples], *val, catalogue, candidates, accelerator,
                           config.hardware.batch, options=options, task=task, observer=q.observer,
                           budget_margin_se=config.search.budget_margin_se)
        float_accuracy, _ = accuracy_and_loss(model, *val, task=task)
    report_coverage(prepared)
    return Setup(data, model, cached, catalogue, candidates, probe, accelerator, val, test, prepared, float_accuracy,
                 task)


def coverage_fields(prepared: Prepared) -> dict:
    """``coverage``: the fraction of the model's MACs the search can approximate, and what is not."""
    covered = prepared.coverage
    if covered is None:
        return {}
    return {"coverage": covered.fraction, "coverage_detail": covered.as_dict()}


def report_coverage(prepared: Prepared) -> None:
    """Say what is not approximated: below 99% of the MACs, on the terminal; always in run.log."""
    covered = prepared.coverage
    if covered is None:
        return
    left = ", ".join(f"{n.site} ({n.op}, {n.macs:,} MACs: {n.reason})" for n in covered.not_approximated)
    if covered.fraction < 0.99:
        log.warning("only %.1f%% of the model's MACs can be approximated; charged at exact energy: %s",
                    100 * covered.fraction, left)
    elif left:
        log.info("not approximated (charged at exact energy): %s", left)


def xai_images(config: RunConfig, s: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``[xai] samples`` images (and targets) the damage models and relevance methods see:
    the first of the search's validation half (``[xai] data = "validation"``) or of the training set.

    Why not the training set by default: measured on LeNet-5 Fashion (3 seeds), the single-layer
    loss increases of 1,000 *training* images rank the (layer, multiplier) pairs at a pooled
    Spearman of 0.49 against the held-out truth, where 1,000 validation images reach 0.77: the
    model's loss on images it was fitted to moves differently. The held-out half is never used."""
    n = config.xai.samples
    x, y = (s.val if config.xai.data == "validation" else (s.data.x_train, s.data.y_train))
    if len(x) < n:
        log.info("XAI uses all %d images of the %s data ([xai] samples = %d)", len(x), config.xai.data, n)
    return x[:n], y[:n]


def explain(config: RunConfig, s: Setup, progress=None) -> list[LayerRelevance]:
    """Per-layer relevance from every configured XAI method (Captum and ours)."""
    with _step(progress, "explain (Captum)", len(config.xai.methods)):
        x, y = xai_images(config, s)
        # A user's task has no class labels: attribute the largest output (for one output, that one).
        target = y if s.task.class_labels else s.model(x).argmax(1).detach()
        return layer_relevance(s.model, x, target, config.xai.methods, config.xai.steps)


def estimate_damage(config: RunConfig, s: Setup, progress=None) -> list[DamageTable]:
    """Every configured damage model per (layer, multiplier) in loss units, on training samples
    (no full evaluation; see :mod:`xaigen.xai.damage`)."""
    models = config.xai.damage_to_run
    if not models:
        return []
    with _step(progress, "damage models", len(models)):
        return measured_damage(s.prepared.approx_model, *xai_images(config, s), s.catalogue, s.candidates, models,
                               config.xai.steps, s.prepared.histograms, s.prepared.problem.fan_in)


def guide_table_name(config: RunConfig) -> str:
    """The name of the guide's damage table in ``results.json`` ``damage``: ``max(guide,floor)``
    or ``fill(guide,floor)`` (``[xai] guide_floor_mode``) when a damage-model guide has a floor
    (``[xai] guide_floor``), else the guide's own."""
    x = config.xai
    return f"{x.guide_floor_mode}({x.guide},{x.guide_floor})" if x.floor_applies else x.guide


def guide_damage(config: RunConfig, damages: list[DamageTable]) -> DamageTable | None:
    """The table XAI-Gen is guided by when the guide is a damage model (None: a relevance guide),
    named as it is made: the guide's, or with ``[xai] guide_floor`` ``max(guide,floor)``
    (:func:`xaigen.xai.floored`) or ``fill(guide,floor)`` (:func:`xaigen.xai.filled`)."""
    guide, floor_name = config.xai.guide, config.xai.guide_floor
    if guide not in DAMAGE_MODELS:
        return None
    table = next((d for d in damages if d.model == guide), None)
    if table is None or table.error:  # said, not silent: XAI-Gen then runs on its error model alone
        log.warning("damage model '%s' could not run on this model (%s); XAI-Gen uses the error model alone",
                    guide, table.error if table is not None else "not configured")
        return None
    if guide_table_name(config) == guide:
        return table
    floor = next((d for d in damages if d.model == floor_name), None)
    if floor is None or floor.error:
        log.warning("guide floor '%s' could not run on this model (%s); XAI-Gen uses '%s' alone",
                    floor_name, floor.error if floor is not None else "not configured", guide)
        return table
    apply = floored if config.xai.guide_floor_mode == "max" else filled
    return DamageTable(guide_table_name(config), apply(table.values, floor.values))


def measure_truth(config: RunConfig, s: Setup, progress=None) -> tuple[TruthTable, TruthTable] | None:
    """The single-layer truth table on the held-out half, and on the validation half for the
    split-half ceiling (see :mod:`xaigen.xai.truth`); None when ``[xai] truth`` is off."""
    if not config.xai.truth:
        return None
    layers = len(s.prepared.hw_layers)
    with _step(progress, "single-layer truth (both halves)", 2 * layers) as advance:
        held_out = single_layer_table(s.prepared.approx_model, *s.test, s.catalogue, s.candidates, advance)
        validation = single_layer_table(s.prepared.approx_model, *s.val, s.catalogue, s.candidates, advance)
    return held_out, validation


def measure_sensitivity(s: Setup, progress=None) -> Sensitivity:
    """The ground truth: each layer alone on the probe multiplier."""
    with _step(progress, "measure sensitivity", len(s.prepared.hw_layers)) as advance:
        return layer_sensitivity(s.prepared.approx_model, *s.val, s.catalogue, s.probe, advance=advance, task=s.task)


def guide_scores(config: RunConfig, relevances: list[LayerRelevance]) -> dict[str, float]:
    """The scores of the configured guide method (the one XAI-Gen uses); none for a damage guide."""
    if config.xai.guide in DAMAGE_MODELS:
        return {}
    guide = next((r for r in relevances if r.method == config.xai.guide and r.scores), None)
    if guide is None:
        raise InputError("xai.guide", f"method '{config.xai.guide}' is not among the methods that ran: "
                         + ", ".join(r.method for r in relevances if r.scores))
    return guide.scores


def xai_check(relevances: list[LayerRelevance], sens: Sensitivity, damages: list[DamageTable] = (),
              damage: dict | None = None) -> dict:
    """Every XAI method's scores and their Spearman correlation with the measured sensitivity;
    a damage model's scores are its predicted loss increase with the probe in each layer alone.
    With the truth table measured, each entry carries its ``damage_vs_truth`` figures."""
    scored = [(r.method, r.scores, r.error) for r in relevances]
    scored += [(d.model, {n: row.get(sens.probe, 0.0) for n, row in d.values.items()}, d.error) for d in damages]
    out = {}
    for method, scores, error in scored:
        out[method] = {"scores": scores, "error": error,
                       "spearman_vs_sensitivity": spearman(scores, sens.loss_increase) if scores else None,
                       "spearman_vs_accuracy_drop": spearman(scores, sens.accuracy_drop) if scores else None}
        if damage is not None and method in damage["estimators"]:
            out[method]["damage_vs_truth"] = damage["estimators"][method]
    return out


def _evaluated(runs: dict[str, Run]) -> list[Evaluated]:
    """Every distinct fully evaluated assignment of every method (validation half)."""
    seen: dict[tuple, Evaluated] = {}
    for run in runs.values():
        p = run.problem
        for e in run.history:
            seen.setdefault(p.assignment_key(e.assignment),
                            Evaluated(e.assignment, e.loss - p.exact_loss, p.exact_accuracy - e.accuracy))
    return list(seen.values())


def estimator_tables(s: Setup, relevances: list[LayerRelevance], damages: list[DamageTable],
                     guide: DamageTable | None = None) -> dict[str, dict]:
    """Every estimator's predicted damage table: the damage models, the guide's table where it is
    not one of them (floored), the error model alone (``error-model``) and the error model
    weighted by each relevance method's scores."""
    from xaigen.search.methods.xai_gen import damage_tables

    problem, hist = s.prepared.problem, s.prepared.histograms
    tables = {d.model: d.values for d in [*damages, *([guide] if guide else [])] if not d.error}
    tables["error-model"] = damage_tables(problem, {}, hist, use_relevance=False)[1]
    for r in relevances:
        if r.scores:
            tables[r.method] = damage_tables(problem, r.scores, hist)[1]
    return tables


def damage_check(config: RunConfig, s: Setup, relevances: list[LayerRelevance], damages: list[DamageTable],
                 truth: tuple[TruthTable, TruthTable] | None, runs: dict[str, Run],
                 guide: DamageTable | None = None) -> dict | None:
    """Each estimator against the held-out single-layer truth (with its split-half ceiling) and
    against the measured loss of every evaluated assignment (``results.json`` ``damage``)."""
    if truth is None:
        return None
    held_out, validation = truth
    evaluated, budget = _evaluated(runs), config.search.loss_budgets[0]
    tables = estimator_tables(s, relevances, damages, guide)
    figures = {name: damage_vs_truth(table, held_out, validation, evaluated, budget) for name, table in tables.items()}
    return {"guide": guide.model if guide else config.xai.guide, "truth_half": "held-out",
            "estimated_on": config.xai.data, "budget": budget,
            "truth": held_out.increase, "truth_se": held_out.se, "ceiling_table": validation.increase,
            "estimators": figures, "tables": tables, "errors": {d.model: d.error for d in damages if d.error}}


def method_budget(config: RunConfig, method: str) -> int:
    return config.search.nsga2_budget or config.search.budget if method == "nsga2" else config.search.budget


def search_context(config: RunConfig, s: Setup, out: Path, method: str, relevance: dict[str, float],
                   damage: dict | None = None) -> SearchContext:
    seed = config.search.seed
    storage = config.search.storage or f"sqlite:///{(Path(out) / 'optuna.db').resolve()}"
    study_name = f"{method}-seed{seed}-{s.prepared.problem.fingerprint}"  # replay only the same problem
    in_loop = config.finetune.mode == "in-loop"
    return SearchContext(seed=seed, loss_budgets=config.search.loss_budgets, probe=s.probe, relevance=relevance,
                         histograms=s.prepared.histograms, storage=storage, study_name=study_name,
                         damage=damage, retrain_margin=config.finetune.margin if in_loop else 0.0,
                         path_repairs=config.search.path_repairs, climb=config.search.climb)


def join_search(config: RunConfig, out: Path, advance=None) -> None:
    """Contribute trials to the study-backed methods of a search another process leads on the same
    storage (another machine, or a worker process): no replay, no XAI, no result files. The
    leader's problem must be the same (same data, model weights and candidates), else the studies'
    names differ (see :attr:`AssignmentProblem.fingerprint`) and this process works alone."""
    s = setup(config)
    for name in config.search.methods:
        method = get_method(name)
        if method.uses_study:
            context = search_context(config, s, out, name, {})
            context.worker, context.advance = True, advance
            method.run(s.prepared.problem, method_budget(config, name), context)


def _method_worker(config_json: str, out: str) -> None:
    """One of several processes on this machine completing the study-backed methods' budgets."""
    use_one_thread()
    join_search(RunConfig.model_validate_json(config_json), Path(out))


def run_methods(config: RunConfig, s: Setup, out: Path, relevance: dict[str, float], workers: int = 1,
                progress=None, damage: dict | None = None) -> dict[str, Run]:
    """``exact`` and every configured method at its budget of full evaluations."""
    runs = {}
    for name in ["exact", *config.search.methods]:
        method, budget = get_method(name), method_budget(config, name)
        with _step(progress, f"search: {name}", budget) as advance:
            context = search_context(config, s, out, name, relevance, damage)
            context.advance, context.started = advance, time.perf_counter()
            if method.uses_study and workers > 1:
                fail_stale_trials(open_study(context.storage, context.study_name))
                only_this = config.model_copy(update={"search": config.search.model_copy(update={"methods": [name]})})
                run_workers(_method_worker, (only_this.model_dump_json(), str(out)), workers, name)
            runs[name] = method.run(s.prepared.problem, budget, context).stop()
        for layer, multiplier in runs[name].diagnostics.get("removed_moves", []):
            log.warning("%s: took %s in layer %s out of its path (the measured loss leapt after it)",
                        name, multiplier, layer)
    return runs


def summarize_methods(config: RunConfig, runs: dict[str, Run]) -> dict[str, dict]:
    """One summary per method; with NSGA-II, how soon each method reached its hypervolume."""
    summaries = {name: summarize_run(run, config.search.loss_budgets, config.search.hv_max_loss)
                 for name, run in runs.items()}
    if "nsga2" in summaries:
        target = summaries["nsga2"]["hypervolume"]
        for summary in summaries.values():
            summary["to_reach_nsga2_hypervolume"] = time_to_reach(summary, target)
    return summaries


def check_held_out(s: Setup, summaries: dict[str, dict]) -> float:
    """Held-out accuracy of every method's choice per budget, its held-out accuracy loss
    (``heldout_loss``, exact minus choice on the held-out half) and whether that breaks the
    budget the choice was made for; returns the exact model's held-out accuracy."""
    ax = s.prepared.approx_model
    set_assignment(ax, None, s.catalogue)
    exact = accuracy_and_loss(ax, *s.test, task=s.task)[0]
    for summary in summaries.values():
        for budget, best in summary["by_budget"].items():
            if best is not None:
                set_assignment(ax, best["assignment"], s.catalogue)
                best.update(held_out(exact, accuracy_and_loss(ax, *s.test, task=s.task)[0], budget))
    set_assignment(ax, None, s.catalogue)
    return exact


def held_out(exact_test_accuracy: float, test_accuracy: float, budget: str | float) -> dict:
    """A choice's held-out figures: its accuracy, its loss against the exact model and whether
    that loss breaks the budget it was chosen for (the one rule, with and without retraining)."""
    loss = exact_test_accuracy - test_accuracy
    return {"test_accuracy": test_accuracy, "heldout_loss": loss, "heldout_breaks_budget": loss > float(budget) + 1e-12}


def finetune_choice(config: RunConfig, s: Setup, summaries: dict[str, dict], progress=None) -> dict | None:
    """Fine-tune (STE) XAI-Gen's choice at the loosest budget, if enabled; held-out before/after."""
    budgets = config.search.loss_budgets
    loosest = summaries.get("xai-gen", {}).get("by_budget", {}).get(f"{budgets[-1]:g}")
    if config.finetune.mode != "final" or loosest is None:
        return None
    with _step(progress, "fine-tune (STE)", 1):
        tuned = s.prepared.options.approximate(s.model, loosest["assignment"], s.catalogue, s.prepared.calibration)
        before = accuracy_and_loss(tuned, *s.test, task=s.task)[0]
        history = finetune(tuned, s.data.x_train, s.data.y_train, config.finetune.epochs, config.finetune.lr,
                           seed=config.search.seed, task=s.task)
        return {"assignment": loosest["assignment"], "test_accuracy_before": before,
                "test_accuracy_after": accuracy_and_loss(tuned, *s.test, task=s.task)[0], "loss_history": history}


def retrain_in_loop(config: RunConfig, s: Setup, runs: dict[str, Run], summaries: dict[str, dict],
                    exact_test_accuracy: float, progress=None) -> None:
    """``[finetune] mode = "in-loop"``: XAI-Gen's budgets judged again after fine-tuning the
    assignments at each budget edge (:mod:`xaigen.search.retrain`); held-out accuracy of each,
    its held-out loss against the exact model and whether that breaks the budget."""
    if config.finetune.mode != "in-loop" or "xai-gen" not in runs:
        return
    f, problem = config.finetune, s.prepared.problem
    settings = RetrainSettings(f.epochs, f.lr, f.candidates, f.margin, config.search.seed, options=s.prepared.options,
                               distill=f.distill)
    with _step(progress, "fine-tune in the loop (STE)", 1):
        found = retrained_choices(runs["xai-gen"], s.model, s.prepared.calibration, s.data.x_train, s.data.y_train,
                                  config.search.loss_budgets, settings)
    by_budget = {}
    for budget, choice in found["choices"].items():
        if choice is None:
            by_budget[budget] = None
            continue
        e = choice["evaluation"]
        by_budget[budget] = {
            "assignment": e.assignment, "accuracy_before": e.accuracy, "accuracy": choice["accuracy"],
            "energy_pj": e.energy_pj, "multiplier_energy_pj": e.multiplier_energy_pj,
            **{k: v for k, v in problem.reductions(e.assignment).items() if k != "mac_energy_reduction"},
            "epochs": choice["epochs"],
            **held_out(exact_test_accuracy, accuracy_and_loss(choice["model"], *s.test, task=s.task)[0], budget)}
    summaries["xai-gen"]["retrained"] = {"finetunes": found["finetunes"], "wall_s": found["wall_s"],
                                         "by_budget": by_budget, "attempts": found["attempts"]}


def headline(summary: dict | None, primary: str) -> dict | None:
    """A method's choice at the primary budget, beside its budget table."""
    if summary is None:
        return None
    fields = {k: summary[k] for k in ("evaluations", "wall_s", "hypervolume", "by_budget")}
    best = summary["by_budget"][primary] or {}
    return fields | {k: best.get(k) for k in ("assignment", "accuracy", "heldout_loss", "energy_pj", "energy_reduction",
                                                "multiplier_energy_reduction", "mac_energy_reduction")}


def hardware_figures(s: Setup, chosen: dict | None) -> dict:
    """Hardware estimates of the exact design and of XAI-Gen's choice at the primary budget."""
    layers, acc = s.prepared.hw_layers, s.accelerator
    assignment = (chosen or {}).get("assignment") or {}
    powers = {n: s.catalogue[m].power_mw for n, m in assignment.items()}
    reference = {n: s.catalogue.reference_exact(m).power_mw for n, m in assignment.items()}
    return {"exact": estimate_network(layers, acc).as_dict(acc.clock_mhz),
            "xaigen": estimate_network(layers, acc, powers).as_dict(acc.clock_mhz),
            "reduction": energy_reduction(layers, acc, powers, reference) if powers else None}


def circuits_fields(config: RunConfig, s: Setup) -> dict:
    """``circuits``: each candidate's power (mW), energy per MAC (pJ), uniform-operand MAE, table
    rank, signedness and source; and each circuit asked for but left out, with the reason."""
    from xaigen.emulation.factorization import low_rank_factors
    from xaigen.hardware.circuit import multiplier_energy_per_mac_pj

    rows = []
    for name in s.candidates:
        m = s.catalogue[name]
        factors = low_rank_factors(m)
        rows.append({"name": name, "power_mw": m.power_mw, "energy_per_mac_pj": multiplier_energy_per_mac_pj(m.power_mw),
                     "mae": error_metrics(m).mae, "table_rank": None if factors is None else factors.rank,
                     "signed": m.circuit_signed, "source": m.source,
                     "mapping": None if m.derivation is None else m.derivation.mapping})
    left_out = [{"name": n, "reason": "excluded by [multipliers] exclude" if excluded(config, s.catalogue, n) else
                 "no usable power figure (zero, missing or not finite)"}
                for n in requested_candidates(config, s.catalogue, drop_excluded=False) if n not in s.candidates]
    return {"candidates": rows, "left_out": left_out}


def provenance_fields(config: RunConfig, s: Setup, started_utc: str, wall_s: float) -> dict:
    """``provenance``: configuration, seed, versions, data set sizes, date, wall time, machine."""
    sizes = {"train": len(s.data.x_train), "search_validation": len(s.val[0]), "held_out": len(s.test[0])}
    return provenance(config.model_dump(mode="json"), [config.search.seed], sizes, started_utc, wall_s)


def run_pipeline(config: RunConfig, out: Path, progress=None, workers: int = 1) -> dict:
    """Run every step; returns the results as plain data (also written to ``out/results.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.search.seeds:
        return run_seeds(config, out, config.search.seeds, progress, workers)
    started, started_utc = time.perf_counter(), now_utc()
    if any(get_method(m).uses_study for m in config.search.methods):
        check_storage(config.search.storage or f"sqlite:///{(out / 'optuna.db').resolve()}")
    s = setup(config, progress)
    relevances = explain(config, s, progress)
    relevance = guide_scores(config, relevances)
    damages = estimate_damage(config, s, progress)
    sens = measure_sensitivity(s, progress)
    truth = measure_truth(config, s, progress)
    damage_guide = guide_damage(config, damages)
    if damage_guide is None and not relevance:  # no usable XAI guide: every layer weighs the same
        relevance = {n: 1.0 for n in s.prepared.problem.layers}
    runs = run_methods(config, s, out, relevance, workers, progress, damage_guide and damage_guide.values)
    summaries = summarize_methods(config, runs)
    exact_test_accuracy = check_held_out(s, summaries)
    retrain_in_loop(config, s, runs, summaries, exact_test_accuracy, progress)
    finetuned = finetune_choice(config, s, summaries, progress)
    damage = damage_check(config, s, relevances, damages, truth, runs, damage_guide)
    primary = f"{config.search.loss_budgets[0]:g}"
    problem = s.prepared.problem
    results = RunResults.model_validate({
        "xaigen_version": __version__, "model": config.model.label, "dataset": s.data.name,
        "accelerator": s.accelerator.name, "seed": config.search.seed, "loss_budgets": config.search.loss_budgets,
        "primary_budget": config.search.loss_budgets[0], "candidates": s.candidates, "probe": s.probe,
        "guide": config.xai.guide, "model_from_cache": s.cached, "float": {"accuracy": s.float_accuracy},
        "exact": {"accuracy": problem.exact_accuracy, "test_accuracy": exact_test_accuracy,
                  "energy_pj": problem.exact_energy_pj, "multiplier_energy_pj": problem.exact_multiplier_energy_pj,
                  "mac_energy_pj": problem.exact_mac_energy_pj, "batch": problem.batch},
        "xaigen": headline(summaries.get("xai-gen"), primary),
        "baselines": {name: headline(summary, primary) for name, summary in summaries.items() if name != "xai-gen"},
        "xai": xai_check(relevances, sens, damages, damage),
        "damage": damage,
        "sensitivity": {"probe": s.probe, "accuracy_drop": sens.accuracy_drop, "loss_increase": sens.loss_increase},
        "hardware": hardware_figures(s, (summaries.get("xai-gen") or {}).get("by_budget", {}).get(primary)),
        "methods": summaries,
        "best_known": best_known_front(summaries, config.search.hv_max_loss),
        "xaigen_diagnostics": {n: {k: r.diagnostics[k] for k in ("path_length", "lagrangian_points", "removed_moves")
                                   if k in r.diagnostics} for n, r in runs.items() if "path_length" in r.diagnostics},
        "finetune": finetuned,
        "multipliers": {n: s.catalogue[n].summary() for n in s.candidates},
        "timings": {"total_s": time.perf_counter() - started},
        **coverage_fields(s.prepared),
        "circuits": circuits_fields(config, s),
        "provenance": provenance_fields(config, s, started_utc, time.perf_counter() - started),
    })
    data = results.to_json_data()
    atomic_write_json(out / "results.json", data)
    return data


def _spread(values: list) -> dict | None:
    """Mean, sample standard deviation, min and max of the defined values (None if none)."""
    import statistics

    v = [float(x) for x in values if x is not None]
    if not v:
        return None
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "n": len(v)}


def seed_figures(results: dict) -> dict:
    """The figures of one run that ``seeds.json`` averages: per method hypervolume and, per
    budget, savings and held-out loss; per damage estimator its figures against the truth."""
    out = {}
    best = results.get("best_known") or _best_known_of_stored(results)
    if best is not None:
        out["best-known/hypervolume"] = best["hypervolume"]
    for name, s in results["methods"].items():
        out[f"{name}/hypervolume"] = s["hypervolume"]
        for b, c in s["by_budget"].items():
            for k in ("multiplier_energy_reduction", "energy_reduction", "heldout_loss"):
                out[f"{name}/{k}@{b}"] = None if c is None else c.get(k)
            out[f"{name}/heldout_breaks_budget@{b}"] = None if c is None else float(c["heldout_breaks_budget"])
        out.update(_retraining_figures(name, s))
    for est, f in ((results.get("damage") or {}).get("estimators") or {}).items():
        for k, v in f.items():
            if isinstance(v, (int, float)) or v is None:
                out[f"damage/{est}/{k}"] = v
    return out


def _best_known_of_stored(results: dict) -> dict | None:
    """The best-known front of a ``results.json`` written before it was recorded (None if its
    configuration, and so the hypervolume box, is not recorded either)."""
    config = (results.get("provenance") or {}).get("config")
    if not config:
        return None
    return best_known_front(results["methods"], config["search"]["hv_max_loss"])


def with_retraining(bare: dict | None, retrained: dict | None) -> dict | None:
    """The choice at a budget when fine-tuning is allowed: the fine-tuned one where it saves more
    multiplier energy than the choice without retraining, else that choice (it needs no fine-tune)."""
    if retrained is None or (bare is not None and
                             bare["multiplier_energy_reduction"] >= retrained["multiplier_energy_reduction"]):
        return bare
    return retrained


def _retraining_figures(name: str, summary: dict) -> dict:
    """Per budget, the fine-tuned choice (``<method>/retrained/...``) and the choice when
    fine-tuning is allowed (``<method>/with-retraining/...``), beside the bare figures."""
    retrained = summary.get("retrained")
    if not retrained:
        return {}
    out = {}
    for b, bare in summary["by_budget"].items():
        for label, c in (("retrained", retrained["by_budget"].get(b)),
                         ("with-retraining", with_retraining(bare, retrained["by_budget"].get(b)))):
            for k in ("multiplier_energy_reduction", "energy_reduction", "heldout_loss"):
                out[f"{name}/{label}/{k}@{b}"] = None if c is None else c.get(k)
            breaks = None if c is None else c.get("heldout_breaks_budget")
            out[f"{name}/{label}/heldout_breaks_budget@{b}"] = None if breaks is None else float(breaks)
    return out


def summarize_seeds(per_seed: dict[int, dict]) -> dict:
    """Mean and spread over seeds of every :func:`seed_figures` figure."""
    figures = {seed: seed_figures(r) for seed, r in per_seed.items()}
    keys = list(dict.fromkeys(k for f in figures.values() for k in f))
    return {"seeds": list(per_seed), "figures": {k: _spread([f.get(k) for f in figures.values()]) for k in keys},
            "per_seed": figures}


def run_seeds(config: RunConfig, out: Path, seeds: list[int], progress=None, workers: int = 1) -> dict:
    """The whole job once per seed (training subset, split, search seeds) in ``out/seed-<k>``;
    mean and spread in ``out/seeds.json``. Returns the first seed's results, also written to
    ``out/results.json`` (so the report and the summary line show one complete run)."""
    out = Path(out)
    per_seed = {}
    for seed in seeds:
        seeded = config.model_copy(update={"search": config.search.model_copy(update={"seed": seed, "seeds": None})})
        per_seed[seed] = run_pipeline(seeded, out / f"seed-{seed}", progress, workers)
    atomic_write_json(out / "seeds.json", summarize_seeds(per_seed))
    first = per_seed[seeds[0]]
    atomic_write_json(out / "results.json", first)
    return first
