"""The main job, ``xaigen run``: train -> quantize -> explain -> estimate -> search -> report.

Each step is a plain function of the previous steps' results; :func:`run_pipeline` strings them
together, shows progress, and writes ``results.json``, ``report.html`` and PNG plots atomically.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xaigen import __version__
from xaigen.config import RunConfig
from xaigen.data import Dataset, load_dataset
from xaigen.emulation import approximate, finetune, set_assignment
from xaigen.errors import InputError
from xaigen.fileio import atomic_write_json
from xaigen.hardware import Accelerator, energy_reduction, estimate_network, load_accelerator
from xaigen.models import TrainConfig, build_model, load_or_train
from xaigen.multipliers import Catalogue, load_multipliers, xaigen_home
from xaigen.search import (
    AssignmentProblem,
    Prepared,
    Run,
    prepare,
    best_within,
    exact_baseline,
    greedy_sensitivity_baseline,
    hypervolume,
    nsga2_baseline,
    pareto_front,
    random_baseline,
    uniform_baseline,
    xai_gen,
)
from xaigen.xai import accuracy_and_loss, layer_relevance, layer_sensitivity, spearman

log = logging.getLogger("xaigen")


def build_catalogue(config: RunConfig) -> tuple[Catalogue, list[str]]:
    """The catalogue (built-ins, user imports, run files) and the candidate multiplier names."""
    catalogue = Catalogue.default()
    for file in config.multipliers.files:
        for m in load_multipliers(file):
            catalogue.add(m, replace=True)
    wanted = config.multipliers.candidates
    if isinstance(wanted, list):
        names = [catalogue[n].name for n in wanted]
    else:
        names = [m.name for m in catalogue if wanted == "all" or m.signed == (wanted == "signed")]
    excluded = set(config.multipliers.exclude)
    names = [n for n in names if not math.isnan(catalogue[n].power_mw) and n not in excluded]
    if not names:
        raise InputError("multipliers.candidates", "no candidate multiplier with a known power")
    return catalogue, names


def choose_probe(config: RunConfig, catalogue: Catalogue, candidates: list[str]) -> str:
    """The sensitivity probe: as configured, or the candidate closest to half the exact power
    (aggressive enough to be measurable, mild enough not to wreck the model alone)."""
    if config.multipliers.probe != "auto":
        return catalogue[config.multipliers.probe].name
    exact = catalogue.exact(True).power_mw
    approx = [n for n in candidates if not catalogue[n].is_exact] or candidates
    return min(approx, key=lambda n: (abs(math.log(catalogue[n].power_mw / (exact / 2))), n))


def split_test(x: torch.Tensor, y: torch.Tensor, seed: int):
    """Half of the test set for the search (validation), the other half held out for the report."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    half = len(x) // 2
    return (x[order[:half]], y[order[:half]]), (x[order[half:]], y[order[half:]])


def summarize_run(run: Run, problem: AssignmentProblem, loss_budgets: list[float], hv_max_loss: float) -> dict:
    """Plain-data summary of one method: front, hypervolume, best per loss budget."""
    def point(e):
        return (e.multiplier_energy_pj / problem.exact_multiplier_energy_pj, problem.exact_accuracy - e.accuracy)

    points = [point(e) for e in run.history]
    by_budget = {}
    for limit in loss_budgets:
        feasible = [e for e in run.history if problem.exact_accuracy - e.accuracy <= limit + 1e-12]
        best = min(feasible, key=lambda e: (e.energy_pj, -e.accuracy), default=None)
        by_budget[f"{limit:g}"] = None if best is None else {
            "assignment": best.assignment, "accuracy": best.accuracy, "energy_pj": best.energy_pj,
            "multiplier_energy_pj": best.multiplier_energy_pj,
            "energy_reduction": problem.exact_energy_pj / best.energy_pj,
            "multiplier_energy_reduction": problem.exact_multiplier_energy_pj / best.multiplier_energy_pj,
            "found_at_evaluation": best.index,
        }
    hv_curve = []
    for i in range(1, len(points) + 1):
        hv_curve.append(hypervolume(points[:i], hv_max_loss))
    return {
        "evaluations": len(run.history), "wall_s": run.wall_s, "hypervolume": hv_curve[-1] if hv_curve else 0.0,
        "hypervolume_curve": hv_curve, "elapsed_curve": [e.elapsed_s for e in run.history],
        "front": [{"energy_ratio": e, "loss": l} for e, l in pareto_front(points)],
        "points": [{"energy_ratio": e, "loss": l} for e, l in points],
        "by_budget": by_budget, "best_within": {f"{b:g}": best_within(points, b) for b in loss_budgets},
    }


def time_to_reach(summary: dict, target: float) -> dict:
    """Evaluations and seconds a method needed to reach hypervolume ``target`` (None if never)."""
    for i, hv in enumerate(summary["hypervolume_curve"]):
        if hv >= target - 1e-12:
            return {"evaluations": i + 1, "wall_s": summary["elapsed_curve"][i]}
    return {"evaluations": None, "wall_s": None}


@contextmanager
def _step(progress, name: str, total: int | None = None):
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


def setup(config: RunConfig, progress=None) -> Setup:
    """Validate the configuration, load data, train (or load) the model, quantize and trace it."""
    seed = config.search.seed
    torch.manual_seed(seed)
    # Everything a user can get wrong in the configuration is checked before the long work starts.
    catalogue, candidates = build_catalogue(config)
    probe = choose_probe(config, catalogue, candidates)
    accelerator = load_accelerator(config.hardware.accelerator)

    with _step(progress, "data and model", config.model.epochs) as advance:
        data = load_dataset(config.data.name, config.data.dir, config.data.train_limit, config.data.test_limit, seed)
        model = build_model(config.model.name, data.in_channels, data.num_classes, data.input_size)
        key = {"model": config.model.name, "dataset": data.name, "n_train": len(data.x_train),
               "limit": config.data.train_limit, "version": 1}
        train_cfg = TrainConfig(config.model.epochs, config.model.batch_size, config.model.lr, seed=seed)
        model, cached = load_or_train(model, data.x_train, data.y_train, train_cfg, xaigen_home() / "models", key,
                                      progress=advance)
        model.eval()
    (x_val, y_val), (x_test, y_test) = split_test(data.x_test, data.y_test, seed)
    with _step(progress, "quantize and trace"):
        prepared = prepare(model, data.x_train[: config.quantization.calibration_samples], x_val, y_val, catalogue,
                           candidates, accelerator, config.hardware.batch, config.quantization.per_channel)
        float_acc, _ = accuracy_and_loss(model, x_val, y_val)
    return Setup(data, model, cached, catalogue, candidates, probe, accelerator, (x_val, y_val), (x_test, y_test),
                 prepared, float_acc)


def use_one_thread() -> None:
    """One compute thread per worker process: the workers are the parallelism."""
    import numba

    torch.set_num_threads(1)
    numba.set_num_threads(1)


def _nsga2_worker(config_json: str, budget: int, storage: str, study_name: str) -> None:
    use_one_thread()
    config = RunConfig.model_validate_json(config_json)
    s = setup(config)
    nsga2_baseline(s.prepared.problem, budget, config.search.seed, storage, study_name, replay=False)


def run_nsga2_workers(config: RunConfig, budget: int, storage: str, study_name: str, workers: int) -> None:
    """Complete ``budget`` NSGA-II trials with ``workers`` processes sharing the study storage."""
    import optuna

    from xaigen.search.baselines import fail_stale_trials

    study = optuna.create_study(directions=["maximize", "minimize"], storage=storage, study_name=study_name,
                                load_if_exists=True)
    fail_stale_trials(study)
    run_workers(_nsga2_worker, (config.model_dump_json(), budget, storage, study_name), workers, "NSGA-II")


def run_workers(target, args: tuple, workers: int, what: str) -> None:
    """Run ``target(*args)`` in ``workers`` fresh (spawned) processes and wait for all of them."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{what} workers exited with codes {failed}")


def run_pipeline(config: RunConfig, out: Path, progress=None, workers: int = 1) -> dict:
    """Run everything; returns the results dictionary (also written to ``out/results.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seed = config.search.seed
    s = setup(config, progress)
    data, model, cached, catalogue, candidates, probe, accelerator = (
        s.data, s.model, s.cached, s.catalogue, s.candidates, s.probe, s.accelerator)
    (x_val, y_val), (x_test, y_test) = s.val, s.test
    prepared = s.prepared
    ax, calibration, hw_layers, histograms = (prepared.approx_model, prepared.calibration, prepared.hw_layers,
                                              prepared.histograms)
    float_acc = s.float_accuracy

    with _step(progress, "explain (Captum)", len(config.xai.methods)):
        sample = slice(0, config.xai.samples)
        relevances = layer_relevance(model, data.x_train[sample], data.y_train[sample], config.xai.methods,
                                     config.xai.steps)
    with _step(progress, "measure sensitivity", len(hw_layers)) as advance:
        sens = layer_sensitivity(ax, x_val, y_val, catalogue, probe, progress=advance)
    xai = {}
    for r in relevances:
        xai[r.method] = {"scores": r.scores, "error": r.error,
                         "spearman_vs_sensitivity": spearman(r.scores, sens.loss_increase) if r.scores else None,
                         "spearman_vs_accuracy_drop": spearman(r.scores, sens.accuracy_drop) if r.scores else None}
    guide = next((r for r in relevances if r.method == config.xai.guide and r.scores), None)
    if guide is None:
        raise InputError("xai.guide", f"method '{config.xai.guide}' is not among the methods that ran: "
                         + ", ".join(r.method for r in relevances if r.scores))

    problem = prepared.problem
    budgets, budget = config.search.loss_budgets, config.search.budget
    storage = config.search.storage or f"sqlite:///{(out / 'optuna.db').resolve()}"
    runs: dict[str, Run] = {"exact": exact_baseline(problem)}
    diagnostics = {}
    for method in config.search.methods:
        n = config.search.nsga2_budget or budget if method == "nsga2" else budget
        with _step(progress, f"search: {method}", n) as advance:
            if method == "uniform":
                runs[method] = uniform_baseline(problem, n)
            elif method == "random":
                runs[method] = random_baseline(problem, n, seed)
            elif method == "greedy-sensitivity":
                runs[method] = greedy_sensitivity_baseline(problem, n, max(budgets), probe)
            elif method == "nsga2":
                began = time.perf_counter()
                if workers > 1:
                    run_nsga2_workers(config, n, storage, f"nsga2-seed{seed}", workers)
                runs[method] = nsga2_baseline(problem, n, seed, storage, f"nsga2-seed{seed}", progress=advance,
                                              started=began)
            elif method in ("xai-gen", "error-model"):
                runs[method], diagnostics[method] = xai_gen(problem, guide.scores, histograms, n, budgets,
                                                            use_relevance=method == "xai-gen")
            runs[method].stop()
    summaries = {name: summarize_run(run, problem, budgets, config.search.hv_max_loss) for name, run in runs.items()}
    if "nsga2" in summaries:
        target = summaries["nsga2"]["hypervolume"]
        for name, s in summaries.items():
            s["to_reach_nsga2_hypervolume"] = time_to_reach(s, target)

    # Held-out check and optional fine-tuning of XAI-Gen's choice at the loosest budget.
    primary = f"{budgets[0]:g}"
    chosen = {}
    for name in ("xai-gen", "error-model"):
        for limit, best in summaries.get(name, {}).get("by_budget", {}).items():
            if best is not None:
                set_assignment(ax, best["assignment"], catalogue)
                best["test_accuracy"] = accuracy_and_loss(ax, x_test, y_test)[0]
        chosen[name] = summaries.get(name, {}).get("by_budget", {}).get(primary)
    set_assignment(ax, None, catalogue)
    exact_test_acc = accuracy_and_loss(ax, x_test, y_test)[0]
    finetuned = None
    loosest = summaries.get("xai-gen", {}).get("by_budget", {}).get(f"{budgets[-1]:g}")
    if config.finetune.enabled and loosest is not None:
        with _step(progress, "fine-tune (STE)", 1):
            tuned = approximate(model, loosest["assignment"], catalogue, calibration,
                                per_channel=config.quantization.per_channel)
            before = accuracy_and_loss(tuned, x_test, y_test)[0]
            history = finetune(tuned, data.x_train, data.y_train, config.finetune.epochs, config.finetune.lr, seed=seed)
            finetuned = {"assignment": loosest["assignment"], "test_accuracy_before": before,
                         "test_accuracy_after": accuracy_and_loss(tuned, x_test, y_test)[0], "loss_history": history}

    exact_est = estimate_network(hw_layers, accelerator)

    def headline(name: str) -> dict | None:
        s = summaries.get(name)
        if s is None:
            return None
        best = s["by_budget"][primary]
        fields = {"evaluations": s["evaluations"], "wall_s": s["wall_s"], "hypervolume": s["hypervolume"],
                  "by_budget": s["by_budget"]}
        if best is None:
            return fields | {"assignment": None, "accuracy": None, "energy_pj": None, "energy_reduction": None,
                             "multiplier_energy_reduction": None}
        return fields | {k: best[k] for k in ("assignment", "accuracy", "energy_pj", "energy_reduction",
                                              "multiplier_energy_reduction")}

    chosen_powers = {n: catalogue[m].power_mw for n, m in (chosen.get("xai-gen") or {}).get("assignment", {}).items()}
    results = {
        "xaigen_version": __version__,
        "model": config.model.name, "dataset": data.name, "accelerator": accelerator.name,
        "seed": seed, "loss_budgets": budgets, "primary_budget": budgets[0],
        "candidates": candidates, "probe": probe, "model_from_cache": cached,
        "float": {"accuracy": float_acc},
        "exact": {"accuracy": problem.exact_accuracy, "test_accuracy": exact_test_acc,
                  "energy_pj": problem.exact_energy_pj, "multiplier_energy_pj": problem.exact_multiplier_energy_pj},
        "xaigen": headline("xai-gen"),
        "baselines": {name: headline(name) for name in summaries if name != "xai-gen"},
        "xai": xai,
        "sensitivity": {"probe": probe, "accuracy_drop": sens.accuracy_drop, "loss_increase": sens.loss_increase},
        "hardware": {"exact": exact_est.as_dict(accelerator.clock_mhz),
                     "xaigen": estimate_network(hw_layers, accelerator, chosen_powers).as_dict(accelerator.clock_mhz),
                     "reduction": energy_reduction(hw_layers, accelerator, chosen_powers) if chosen_powers else None},
        "methods": summaries,
        "xaigen_diagnostics": {k: {"path_length": v["path_length"]} for k, v in diagnostics.items()},
        "finetune": finetuned,
        "multipliers": {n: catalogue[n].summary() for n in candidates},
        "timings": {"total_s": time.perf_counter() - started},
    }
    results = _plain(results)
    atomic_write_json(out / "results.json", results)
    return results


def _plain(value):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
