"""Baselines at the same budget of full evaluations: exact, uniform, random, greedy by measured
sensitivity, and NSGA-II (ALWANN-style, Optuna's NSGAIISampler, resumable SQLite storage)."""

from __future__ import annotations

import random

from xaigen.search.problem import AssignmentProblem, Run


def exact_baseline(problem: AssignmentProblem) -> Run:
    run = Run(problem, 1, "exact")
    run.evaluate({})
    return run.stop()


def uniform_baseline(problem: AssignmentProblem, budget: int) -> Run:
    """One multiplier everywhere, for each candidate (spread over the power range if over budget)."""
    run = Run(problem, budget, "uniform")
    names = sorted(problem.candidates, key=problem.power)
    if len(names) > budget:
        step = (len(names) - 1) / max(1, budget - 1)
        names = [names[round(i * step)] for i in range(budget)]
    for name in names:
        run.evaluate({n: name for n in problem.layers})
    return run


def random_baseline(problem: AssignmentProblem, budget: int, seed: int) -> Run:
    run = Run(problem, budget, "random")
    rng = random.Random(seed)
    for _ in range(budget * 20):  # repeats are free (cached); stop at the budget
        if run.remaining <= 0:
            break
        run.evaluate({n: rng.choice(problem.candidates) for n in problem.layers})
    return run


def greedy_sensitivity_baseline(problem: AssignmentProblem, budget: int, loss_budget: float, probe: str) -> Run:
    """Measure each layer alone with ``probe`` (one evaluation per layer), then, least sensitive
    layer first, give each layer the cheapest multiplier that keeps the loss within budget."""
    run = Run(problem, budget, "greedy-sensitivity")
    loss = {}
    for n in problem.layers:
        e = run.evaluate({n: probe})
        if e is None:
            return run
        loss[n] = problem.exact_loss - e.loss  # negative: cross-entropy increase (finer than accuracy)
    order = sorted(problem.layers, key=lambda n: -loss[n])
    current: dict[str, str] = {}
    cheapest_first = sorted(problem.candidates, key=problem.power)
    for n in order:
        for name in cheapest_first:
            if problem.power(name) >= problem.power(current.get(n, problem.exact_name)):
                break
            e = run.evaluate({**current, n: name})
            if e is None:
                return run
            if problem.exact_accuracy - e.accuracy <= loss_budget:
                current = {**current, n: name}
                break
    return run


def nsga2_baseline(problem: AssignmentProblem, budget: int, seed: int, storage: str | None = None,
                   study_name: str = "nsga2", population: int = 20, progress=None, replay: bool = True,
                   started: float | None = None) -> Run:
    """NSGA-II over per-layer multiplier genes, objectives (accuracy max, energy min).

    With ``storage`` (e.g. ``sqlite:///runs/x/optuna.db``) the study is resumable: completed
    trials are replayed from the storage (their stored accuracy and loss are recorded, not
    recomputed: evaluations are deterministic) and only the remaining ones are run. Repeated genomes are
    free for us (cached) but still count as trials, as in ALWANN. Several processes may run this
    on one storage at once (workers, ``replay=False``): together they complete ``budget`` trials.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = Run(problem, budget, "nsga2", started)
    population = min(population, max(2, budget))
    study = optuna.create_study(directions=["maximize", "minimize"], storage=storage, study_name=study_name,
                                load_if_exists=storage is not None)
    if replay:
        fail_stale_trials(study)

    def complete():
        return sorted((t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE),
                      key=lambda t: t.number)

    if replay:  # evaluations are deterministic: stored results stand for re-running them
        for trial in complete():
            assignment = {n: trial.params[n] for n in problem.layers}
            if "loss" in trial.user_attrs:
                run.record(assignment, trial.values[0], trial.user_attrs["loss"])
            else:
                run.evaluate(assignment)
    while True:
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
        if done + running >= budget:  # other workers may be finishing the last trials
            break
        trial = ask_nsga2(study, population, seed, done)
        assignment = {n: trial.suggest_categorical(n, list(problem.candidates)) for n in problem.layers}
        e = run.evaluate(assignment)
        trial.set_user_attr("loss", e.loss)
        study.tell(trial, (e.accuracy, e.energy_pj))
        if progress:
            progress()
    return run


class _ElitesInTrialOrder:
    """Optuna's NSGA-II elite selection, with the elites listed in trial order.

    Optuna caches each generation's parents in the storage and returns them from the cache in
    trial order, while a fresh selection lists them by rank; crossover picks parents by position,
    so a search resumed after a kill (cache present) would otherwise diverge from an uninterrupted
    one (fresh selection for the generation's first trial).
    """

    def __init__(self, population_size: int):
        from optuna.samplers.nsgaii._elite_population_selection_strategy import (
            NSGAIIElitePopulationSelectionStrategy,
        )

        self._select = NSGAIIElitePopulationSelectionStrategy(population_size=population_size)

    def __call__(self, study, population):
        return sorted(self._select(study, population), key=lambda t: t.number)


def ask_nsga2(study, population: int, seed: int, index: int):
    """Ask the next NSGA-II trial so that it depends only on the completed trials and ``index``:
    the sampler is seeded per trial index, and parents are ordered the same whether they come
    from Optuna's cache or a fresh selection (see :class:`_ElitesInTrialOrder`)."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.NSGAIISampler(
            population_size=population, seed=seed * 1_000_003 + index,
            elite_population_selection_strategy=_ElitesInTrialOrder(population))
    return study.ask()


def fail_stale_trials(study) -> None:
    """Mark trials left RUNNING by a killed process as failed (only while no worker is running)."""
    import optuna

    for trial in study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
