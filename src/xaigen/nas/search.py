"""XAI-NAS and its baselines: architecture search for approximate DNNs.

* ``xai-nas``: NSGA-II over architecture genes; each candidate is trained briefly, then gets its
  multipliers from XAI-Gen (a few full evaluations) within ``loss_budget`` of its own exact
  int8 accuracy. Objectives: accuracy of the approximate model (max), accelerator energy (min).
* ``evo-joint``: EvoApproxNAS-like joint search, NSGA-II over architecture genes AND one
  multiplier gene per layer slot (``m0 .. m{MAX_LAYERS-1}``, the i-th approximable layer uses
  ``m{i}``); each candidate is trained and emulated once with its genes.
* ``two-stage``: NSGA-II over architectures for exact accuracy and energy (half the budget),
  then NSGA-II assignment search on the most accurate architecture found (the other half).

All run through Optuna studies in one storage (SQLite by default, any RDB URL for many machines),
so a killed search resumes, and several worker processes can share one study. Trials are asked
and told one at a time with a sampler seeded by the trial's index, so one worker resumed after a
kill continues exactly as an uninterrupted run would (several workers are not deterministic).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from xaigen.data import Dataset
from xaigen.hardware import Accelerator, estimate_network, layers_from_model
from xaigen.models import TrainConfig, train
from xaigen.multipliers import Catalogue
from xaigen.nas.space import MAX_LAYERS, Architecture, CandidateNet, suggest_architecture
from xaigen.search import prepare, xai_gen
from xaigen.search.baselines import ask_nsga2, fail_stale_trials
from xaigen.search.problem import Run
from xaigen.xai import layer_relevance

METHODS = ("xai-nas", "evo-joint", "two-stage")


@dataclass
class NasSetting:
    """Everything a trial needs (picklable, so worker processes can rebuild it)."""

    data: Dataset
    x_val: torch.Tensor
    y_val: torch.Tensor
    catalogue: Catalogue
    candidates: list[str]
    accelerator: Accelerator
    epochs: int = 8
    loss_budget: float = 0.01
    xaigen_budget: int = 10
    seed: int = 0


def architecture_from_params(params: dict) -> Architecture:
    stages = params["stages"]
    return Architecture(tuple(params[f"w{s}"] for s in range(stages)), tuple(params[f"k{s}"] for s in range(stages)),
                        tuple(params[f"b{s}"] for s in range(stages)), bool(params["residual"]), params["hidden"])


def _objectives(problem, e, evaluations: int, **extra) -> dict:
    """What a NAS trial reports: the two objectives of evaluation ``e`` and its context."""
    return {"accuracy": e.accuracy, "energy_pj": e.energy_pj, "exact_accuracy": problem.exact_accuracy,
            "exact_energy_pj": problem.exact_energy_pj, "assignment": e.assignment, "evaluations": evaluations,
            **extra}


def train_candidate(arch: Architecture, setting: NasSetting) -> torch.nn.Module:
    torch.manual_seed(setting.seed)
    d = setting.data
    model = CandidateNet(arch, d.in_channels, d.num_classes, d.input_size)
    train(model, d.x_train, d.y_train, TrainConfig(epochs=setting.epochs, seed=setting.seed))
    return model.eval()


def _prepare(model: torch.nn.Module, setting: NasSetting):
    return prepare(model, setting.data.x_train[:256], setting.x_val, setting.y_val, setting.catalogue,
                   setting.candidates, setting.accelerator)


def evaluate_xai_nas(arch: Architecture, setting: NasSetting) -> dict:
    """Train, then let XAI-Gen choose the multipliers; returns objectives and attributes."""
    model = train_candidate(arch, setting)
    p = _prepare(model, setting)
    (relevance,) = layer_relevance(model, setting.data.x_train[:64], setting.data.y_train[:64], ["noise_sensitivity"])
    run, _ = xai_gen(p.problem, relevance.scores, p.histograms, setting.xaigen_budget, [setting.loss_budget])
    feasible = [e for e in run.history if p.problem.exact_accuracy - e.accuracy <= setting.loss_budget + 1e-12]
    best = min(feasible, key=lambda e: (e.energy_pj, -e.accuracy))
    return _objectives(p.problem, best, len(run.history))


def evaluate_joint(arch: Architecture, genes: list[str], setting: NasSetting) -> dict:
    """Train, then emulate once with the multiplier genes (layer i uses gene i)."""
    model = train_candidate(arch, setting)
    p = _prepare(model, setting)
    run = Run(p.problem, 1, "evo-joint")
    e = run.evaluate({n: genes[i] for i, n in enumerate(p.problem.layers)})
    return _objectives(p.problem, e, 1)


def exact_energy(arch: Architecture, setting: NasSetting) -> float:
    """Accelerator energy (pJ) of an architecture with exact multipliers (no training needed)."""
    d = setting.data
    model = CandidateNet(arch, d.in_channels, d.num_classes, d.input_size)
    layers = layers_from_model(model, (d.in_channels, d.input_size, d.input_size))
    return estimate_network(layers, setting.accelerator).energy_pj.total


def _completed(study):
    import optuna

    return sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.number)


def _spent_seconds(study) -> float:
    return sum(t.user_attrs.get("trial_s", 0.0) for t in _completed(study))


def optimize(study, objective, seed: int, trials: int | None, seconds: float | None, population: int = 12,
             progress=None, worker: bool = False) -> None:
    """Ask/tell NSGA-II trials until ``trials`` are complete or ``seconds`` of trial time are spent.

    ``objective(trial) -> dict`` returns ``accuracy`` and ``energy_pj`` (the two objectives) and
    attributes stored with the trial. Trials left RUNNING by a killed process are marked failed,
    except in a ``worker``, where RUNNING trials belong to the other workers.
    """
    import optuna

    if not worker:
        fail_stale_trials(study)
    while True:
        done = len(_completed(study))
        running = sum(t.state == optuna.trial.TrialState.RUNNING for t in study.get_trials(deepcopy=False))
        if trials is not None and done + running >= trials:
            break
        if seconds is not None and _spent_seconds(study) >= seconds:
            break
        trial = ask_nsga2(study, population, seed, done)
        start = time.perf_counter()
        result = objective(trial)
        trial.set_user_attr("trial_s", time.perf_counter() - start)
        trial.set_user_attr("elapsed_s", _spent_seconds(study) + time.perf_counter() - start)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        study.tell(trial, (result["accuracy"], result["energy_pj"]))
        if progress:
            progress()


def _study(storage: str | None, name: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize", "minimize"], storage=storage, study_name=name,
                               load_if_exists=storage is not None)


def study_names(method: str, seed: int) -> list[str]:
    """The Optuna studies a method keeps in the storage."""
    name = f"{method}-seed{seed}"
    return [name + "-arch", name + "-assign"] if method == "two-stage" else [name]


def create_studies(method: str, seed: int, storage: str) -> None:
    """Create (or open) a method's studies before worker processes start on them, and mark
    trials a killed run left RUNNING as failed (workers must not do that to each other)."""
    for name in study_names(method, seed):
        fail_stale_trials(_study(storage, name))


def run_method(method: str, setting: NasSetting, storage: str | None, trials: int | None = None,
               seconds: float | None = None, progress=None, worker: bool = False) -> None:
    """Run (or resume) one method's study until its budget is spent (``worker``: one of several
    processes on the same storage)."""
    name = f"{method}-seed{setting.seed}"
    if method == "xai-nas":
        study = _study(storage, name)
        optimize(study, lambda t: evaluate_xai_nas(suggest_architecture(t), setting), setting.seed, trials, seconds,
                 progress=progress, worker=worker)
    elif method == "evo-joint":
        study = _study(storage, name)

        def objective(t):
            arch = suggest_architecture(t)
            genes = [t.suggest_categorical(f"m{i}", list(setting.candidates)) for i in range(MAX_LAYERS)]
            return evaluate_joint(arch, genes, setting)

        optimize(study, objective, setting.seed, trials, seconds, progress=progress, worker=worker)
    elif method == "two-stage":
        first = _study(storage, name + "-arch")
        half_trials = None if trials is None else max(1, trials // 2)
        half_seconds = None if seconds is None else seconds / 2

        def exact_objective(t):
            arch = suggest_architecture(t)
            model = train_candidate(arch, setting)
            p = _prepare(model, setting)
            return {"accuracy": p.problem.exact_accuracy, "energy_pj": p.problem.exact_energy_pj,
                    "exact_accuracy": p.problem.exact_accuracy, "exact_energy_pj": p.problem.exact_energy_pj,
                    "assignment": {}, "evaluations": 1}

        optimize(first, exact_objective, setting.seed, half_trials, half_seconds, progress=progress, worker=worker)
        best = max(_completed(first), key=lambda t: (t.values[0], -t.values[1]))
        arch = architecture_from_params(best.params)
        second = _study(storage, name + "-assign")
        model = train_candidate(arch, setting)
        p = _prepare(model, setting)
        spent = _spent_seconds(first)
        remaining_trials = None if trials is None else max(1, trials - len(_completed(first)))

        cache = Run(p.problem, trials or 10**9, "two-stage")  # repeated genomes are not re-run

        def assign_objective(t):
            genes = {n: t.suggest_categorical(n, list(setting.candidates)) for n in p.problem.layers}
            e = cache.evaluate(genes)
            return _objectives(p.problem, e, 1, stage1_s=spent)

        optimize(second, assign_objective, setting.seed, remaining_trials,
                 None if seconds is None else max(0.0, seconds - spent), progress=progress, worker=worker)
    else:
        raise ValueError(f"unknown NAS method {method}")


def method_trials(method: str, seed: int, storage: str) -> list[dict]:
    """Completed trials of a method as plain data, in order, with cumulative elapsed seconds."""
    import optuna

    out, offset = [], 0.0
    for name in study_names(method, seed):
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        for t in _completed(study):
            out.append({"number": t.number, "study": name, "params": t.params, "accuracy": t.values[0],
                        "energy_pj": t.values[1], "elapsed_s": offset + t.user_attrs.get("elapsed_s", 0.0),
                        **{k: v for k, v in t.user_attrs.items() if k not in ("elapsed_s", "trial_s")}})
        offset = out[-1]["elapsed_s"] if out else offset
    return out


def summarize(trials_by_method: dict[str, list[dict]], energy_ref: float, loss_budgets=(0.01, 0.02),
              max_error: float = 0.5) -> dict:
    """Fronts, hypervolume over time and best energy within each loss budget of the best exact
    accuracy found by any method."""
    from xaigen.search.pareto import hypervolume, pareto_front

    reference_accuracy = max((t["exact_accuracy"] for ts in trials_by_method.values() for t in ts), default=0.0)
    summary = {"reference_accuracy": reference_accuracy, "energy_reference_pj": energy_ref, "methods": {}}
    for method, trials in trials_by_method.items():
        # The two-stage method's first stage trains exact networks: they are not AxDNN candidates.
        scored = [t for t in trials if not t["study"].endswith("-arch")]
        points = [(t["energy_pj"] / energy_ref, 1.0 - t["accuracy"]) for t in scored]
        curve = [{"elapsed_s": t["elapsed_s"], "hypervolume": hypervolume(points[: i + 1], max_error)}
                 for i, t in enumerate(scored)]
        best = {}
        for b in loss_budgets:
            ok = [t for t in scored if t["accuracy"] >= reference_accuracy - b - 1e-12]
            choice = min(ok, key=lambda t: t["energy_pj"], default=None)
            best[f"{b:g}"] = None if choice is None else {"energy_pj": choice["energy_pj"], "accuracy": choice["accuracy"],
                                                           "params": choice["params"]}
        summary["methods"][method] = {
            "trials": len(trials), "wall_s": trials[-1]["elapsed_s"] if trials else 0.0,
            "hypervolume": curve[-1]["hypervolume"] if curve else 0.0, "hypervolume_curve": curve,
            "front": [{"energy_ratio": e, "error": l} for e, l in pareto_front(points)],
            "best_within": best,
        }
    xn = summary["methods"].get("xai-nas")
    if xn:
        ratios = {}
        for other, s in summary["methods"].items():
            if other == "xai-nas":
                continue
            entry = {}
            for b in loss_budgets:
                mine, theirs = xn["best_within"][f"{b:g}"], s["best_within"][f"{b:g}"]
                entry[f"energy_efficiency_gain@{b:g}"] = (theirs["energy_pj"] / mine["energy_pj"]
                                                         if mine and theirs else None)
            target = s["hypervolume"]
            reach = next((c["elapsed_s"] for c in xn["hypervolume_curve"] if c["hypervolume"] >= target - 1e-12), None)
            entry["xai_nas_seconds_to_reach_its_hypervolume"] = reach
            entry["its_seconds"] = s["wall_s"]
            entry["search_time_ratio"] = (s["wall_s"] / reach) if reach else None
            ratios[other] = entry
        summary["xai_nas_vs"] = ratios
    return summary
