"""``nsga2``: ALWANN-style NSGA-II over per-layer multiplier genes (Optuna's NSGAIISampler).

Objectives: accuracy (max) and whole-accelerator energy (min). The study lives in
``context.storage`` (resumable): completed trials are replayed from the storage (their stored
accuracy, loss and per-example record are recorded, not recomputed: evaluations are
deterministic) and only the remaining ones are run. Repeated genomes cost nothing here (cached) but still count as trials, as
in ALWANN. Several processes may run this on one storage at once (``context.worker``): together
they complete ``budget`` trials.
"""

from __future__ import annotations

from xaigen.search.problem import AssignmentProblem, Run, pack_correct, unpack_correct
from xaigen.search.registry import SearchContext, register
from xaigen.search.study import completed_trials, fail_stale_trials, open_study, optimize

POPULATION = 20


def nsga2_search(problem: AssignmentProblem, budget: int, seed: int, storage: str | None = None,
                 study_name: str = "nsga2", population: int = POPULATION, advance=None, worker: bool = False,
                 started: float | None = None) -> Run:
    """NSGA-II within ``budget`` trials of the study ``study_name`` in ``storage`` (see the module
    docstring); ``worker``: one of several processes, which replays nothing."""
    run = Run(problem, budget, "nsga2", started)
    study = open_study(storage, study_name)
    if not worker:
        fail_stale_trials(study)
        for trial in completed_trials(study)[:budget]:  # deterministic: stored results stand in
            assignment = {n: trial.params[n] for n in problem.layers}
            if "loss" in trial.user_attrs:
                correct = unpack_correct(trial.user_attrs.get("correct"), problem.exact_correct)
                run.record(assignment, trial.values[0], trial.user_attrs["loss"], correct)
            else:
                run.evaluate(assignment)

    def objective(trial):
        assignment = {n: trial.suggest_categorical(n, list(problem.candidates)) for n in problem.layers}
        e = run.evaluate(assignment)
        return (e.accuracy, e.energy_pj), {"loss": e.loss, "correct": pack_correct(e.correct)}

    optimize(study, objective, seed, min(population, max(2, budget)), trials=budget, advance=advance, worker=True)
    return run


@register("nsga2", uses_study=True)
def nsga2(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """NSGA-II over per-layer multiplier genes (ALWANN-style), resumable."""
    return nsga2_search(problem, budget, context.seed, context.storage, context.study_name, advance=context.advance,
                        worker=context.worker, started=context.started)
