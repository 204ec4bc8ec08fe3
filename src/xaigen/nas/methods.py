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

from dataclasses import dataclass

import torch

from xaigen.data import Dataset
from xaigen.hardware import Accelerator, estimate_network, layers_from_model
from xaigen.models import TrainConfig, train
from xaigen.multipliers import Catalogue
from xaigen.nas.space import MAX_LAYERS, Architecture, CandidateNet, suggest_architecture
from xaigen.search import Run, Scored, prepare, summarize, xai_gen
from xaigen.search.study import completed_trials, fail_stale_trials, open_study, optimize, spent_seconds
from xaigen.xai import layer_relevance

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


def _objectives(problem, e, evaluations: int, **extra) -> tuple[tuple[float, float], dict]:
    """What a NAS trial reports: the two objectives of evaluation ``e`` and its context."""
    return (e.accuracy, e.energy_pj), {"exact_accuracy": problem.exact_accuracy,
                                       "exact_energy_pj": problem.exact_energy_pj, "assignment": e.assignment,
                                       "evaluations": evaluations, **extra}


def train_candidate(arch: Architecture, setting: NasSetting) -> torch.nn.Module:
    torch.manual_seed(setting.seed)
    d = setting.data
    model = CandidateNet(arch, d.in_channels, d.num_classes, d.input_size)
    train(model, d.x_train, d.y_train, TrainConfig(epochs=setting.epochs, seed=setting.seed))
    return model.eval()


def _prepare(model: torch.nn.Module, setting: NasSetting):
    return prepare(model, setting.data.x_train[:256], setting.x_val, setting.y_val, setting.catalogue,
                   setting.candidates, setting.accelerator)


def evaluate_xai_nas(arch: Architecture, setting: NasSetting) -> tuple[tuple[float, float], dict]:
    """Train, then let XAI-Gen choose the multipliers; returns objectives and attributes."""
    model = train_candidate(arch, setting)
    p = _prepare(model, setting)
    (relevance,) = layer_relevance(model, setting.data.x_train[:64], setting.data.y_train[:64], ["noise_sensitivity"])
    run = xai_gen(p.problem, relevance.scores, p.histograms, setting.xaigen_budget, [setting.loss_budget])
    feasible = [e for e in run.history if p.problem.exact_accuracy - e.accuracy <= setting.loss_budget + 1e-12]
    if not feasible:  # a tiny budget spent before reaching a feasible point: all exact is always feasible
        feasible = [run.record({}, p.problem.exact_accuracy, p.problem.exact_loss)]
    best = min(feasible, key=lambda e: (e.energy_pj, -e.accuracy))
    return _objectives(p.problem, best, len(run.history))


def evaluate_joint(arch: Architecture, genes: list[str], setting: NasSetting) -> tuple[tuple[float, float], dict]:
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


POPULATION = 12


def study_names(method: str, seed: int) -> list[str]:
    """The Optuna studies a method keeps in the storage."""
    name = f"{method}-seed{seed}"
    return [name + "-arch", name + "-assign"] if method == "two-stage" else [name]


def create_studies(method: str, seed: int, storage: str) -> None:
    """Create (or open) a method's studies before worker processes start on them, and mark
    trials a killed run left RUNNING as failed (workers must not do that to each other)."""
    for name in study_names(method, seed):
        fail_stale_trials(open_study(storage, name))


@dataclass
class Budget:
    """Completed trials, or seconds of trial time, per method (exactly one is set)."""

    trials: int | None
    seconds: float | None


def _optimize(study, objective, setting: NasSetting, budget: Budget, advance, worker: bool) -> None:
    optimize(study, objective, setting.seed, POPULATION, budget.trials, budget.seconds, advance, worker)


def _run_xai_nas(setting: NasSetting, storage: str | None, budget: Budget, advance, worker: bool) -> None:
    study = open_study(storage, study_names("xai-nas", setting.seed)[0])
    _optimize(study, lambda t: evaluate_xai_nas(suggest_architecture(t), setting), setting, budget, advance, worker)


def _run_evo_joint(setting: NasSetting, storage: str | None, budget: Budget, advance, worker: bool) -> None:
    def objective(t):
        arch = suggest_architecture(t)
        genes = [t.suggest_categorical(f"m{i}", list(setting.candidates)) for i in range(MAX_LAYERS)]
        return evaluate_joint(arch, genes, setting)

    study = open_study(storage, study_names("evo-joint", setting.seed)[0])
    _optimize(study, objective, setting, budget, advance, worker)


def _exact_objective(trial, setting: NasSetting):
    p = _prepare(train_candidate(suggest_architecture(trial), setting), setting)
    return (p.problem.exact_accuracy, p.problem.exact_energy_pj), {
        "exact_accuracy": p.problem.exact_accuracy, "exact_energy_pj": p.problem.exact_energy_pj,
        "assignment": {}, "evaluations": 1}


def _run_two_stage(setting: NasSetting, storage: str | None, budget: Budget, advance, worker: bool) -> None:
    """Half the budget on architectures (exact), the rest on assigning the most accurate one."""
    arch_study, assign_study = (open_study(storage, n) for n in study_names("two-stage", setting.seed))
    half = Budget(None if budget.trials is None else max(1, budget.trials // 2),
                  None if budget.seconds is None else budget.seconds / 2)
    _optimize(arch_study, lambda t: _exact_objective(t, setting), setting, half, advance, worker)
    first = completed_trials(arch_study)
    best = max(first, key=lambda t: (t.values[0], -t.values[1]))
    p = _prepare(train_candidate(architecture_from_params(best.params), setting), setting)
    spent = spent_seconds(arch_study)
    rest = Budget(None if budget.trials is None else max(1, budget.trials - len(first)),
                  None if budget.seconds is None else max(0.0, budget.seconds - spent))
    cache = Run(p.problem, budget.trials or 10**9, "two-stage")  # repeated genomes are not re-run

    def assign_objective(t):
        genes = {n: t.suggest_categorical(n, list(setting.candidates)) for n in p.problem.layers}
        return _objectives(p.problem, cache.evaluate(genes), 1, stage1_s=spent)

    _optimize(assign_study, assign_objective, setting, rest, advance, worker)


NAS_METHODS = {"xai-nas": _run_xai_nas, "evo-joint": _run_evo_joint, "two-stage": _run_two_stage}
METHODS = tuple(NAS_METHODS)


def run_method(method: str, setting: NasSetting, storage: str | None, budget: Budget, advance=None,
               worker: bool = False) -> None:
    """Run (or resume) one method's studies until its budget is spent (``worker``: one of several
    processes on the same storage)."""
    if method not in NAS_METHODS:
        raise ValueError(f"unknown NAS method {method}")
    NAS_METHODS[method](setting, storage, budget, advance, worker)


def method_trials(method: str, seed: int, storage: str) -> list[dict]:
    """Completed trials of a method as plain data, in order, with cumulative elapsed seconds."""
    import optuna

    out, offset = [], 0.0
    for name in study_names(method, seed):
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        for t in completed_trials(study):
            out.append({"number": t.number, "study": name, "params": t.params, "accuracy": t.values[0],
                        "energy_pj": t.values[1], "elapsed_s": offset + t.user_attrs.get("elapsed_s", 0.0),
                        **{k: v for k, v in t.user_attrs.items() if k not in ("elapsed_s", "trial_s")}})
        offset = out[-1]["elapsed_s"] if out else offset
    return out


def _method_summary(trials: list[dict], reference_accuracy: float, energy_ref: float, loss_budgets,
                    hv_max_loss: float) -> dict:
    # The two-stage method's first stage trains exact networks: they are not AxDNN candidates.
    scored = [Scored(t["energy_pj"] / energy_ref, reference_accuracy - t["accuracy"], t["energy_pj"], t["accuracy"],
                     t["elapsed_s"], t) for t in trials if not t["study"].endswith("-arch")]
    summary = summarize(scored, loss_budgets, hv_max_loss, lambda s: {
        "energy_pj": s.details["energy_pj"], "accuracy": s.details["accuracy"], "params": s.details["params"]})
    return {"trials": len(trials), "wall_s": trials[-1]["elapsed_s"] if trials else 0.0, **summary}


def _versus(mine: dict, theirs: dict, loss_budgets) -> dict:
    """XAI-NAS's energy-efficiency gain per budget and search-time ratio against one baseline."""
    entry = {}
    for b in loss_budgets:
        m, t = mine["by_budget"][f"{b:g}"], theirs["by_budget"][f"{b:g}"]
        entry[f"energy_efficiency_gain@{b:g}"] = t["energy_pj"] / m["energy_pj"] if m and t else None
    target = theirs["hypervolume"]
    reach = next((s for s, hv in zip(mine["elapsed_curve"], mine["hypervolume_curve"]) if hv >= target - 1e-12), None)
    entry["xai_nas_seconds_to_reach_its_hypervolume"] = reach
    entry["its_seconds"] = theirs["wall_s"]
    entry["search_time_ratio"] = (theirs["wall_s"] / reach) if reach else None
    return entry


def summarize_nas(trials_by_method: dict[str, list[dict]], energy_ref: float, loss_budgets=(0.01, 0.02),
                  hv_max_loss: float = 0.5) -> dict:
    """Per method: fronts, hypervolume over time and the lowest energy within each loss budget of
    the best exact accuracy found by any method (the vocabulary of :mod:`xaigen.search.summary`)."""
    reference = max((t["exact_accuracy"] for ts in trials_by_method.values() for t in ts), default=0.0)
    methods = {m: _method_summary(ts, reference, energy_ref, loss_budgets, hv_max_loss)
               for m, ts in trials_by_method.items()}
    summary = {"reference_accuracy": reference, "energy_reference_pj": energy_ref, "methods": methods}
    if "xai-nas" in methods:
        summary["xai_nas_vs"] = {other: _versus(methods["xai-nas"], s, loss_budgets)
                                 for other, s in methods.items() if other != "xai-nas"}
    return summary
