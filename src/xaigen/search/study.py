"""Optuna studies: the one place that owns storages, per-trial seeding, resume and workers.

Both jobs keep their searches in Optuna studies: the NSGA-II assignment baseline of ``xaigen run``
and the three NAS methods of ``xaigen nas``. A study lives in a storage (SQLite by default, any
RDB URL for several machines), so a killed search resumes and several worker processes can share
one study.

Determinism: every trial is asked with a sampler seeded by ``(seed, index)``, where ``index`` is
the number of trials completed before it, and parents are listed in trial order (see
:class:`_ElitesInTrialOrder`). One process resumed after a kill therefore continues exactly as an
uninterrupted run would; several workers are not deterministic (they race for indices).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna

DIRECTIONS = ["maximize", "minimize"]  # (accuracy, energy)
SEED_MODULUS = 2**32  # numpy's seed range


def open_study(storage: str | None, name: str) -> optuna.Study:
    """Create or open the study ``name``; ``storage=None`` keeps it in memory."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=DIRECTIONS, storage=storage, study_name=name,
                               load_if_exists=storage is not None)


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials in trial order."""
    state = optuna.trial.TrialState.COMPLETE
    return sorted((t for t in study.get_trials(deepcopy=False) if t.state == state), key=lambda t: t.number)


def spent_seconds(study: optuna.Study) -> float:
    """Trial time spent on the completed trials (s)."""
    return _trial_seconds(completed_trials(study))


def _trial_seconds(complete: list[optuna.trial.FrozenTrial]) -> float:
    return sum(t.user_attrs.get("trial_s", 0.0) for t in complete)


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark trials left RUNNING by a killed process as failed (only while no worker is running)."""
    for trial in study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


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


def trial_seed(seed: int, index: int) -> int:
    """The sampler seed of trial ``index`` (within numpy's 32-bit seed range for any seed)."""
    return (seed * 1_000_003 + index) % SEED_MODULUS


def ask_seeded(study: optuna.Study, population: int, seed: int, index: int) -> optuna.Trial:
    """Ask the next NSGA-II trial so that it depends only on the completed trials and ``index``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.NSGAIISampler(
            population_size=population, seed=trial_seed(seed, index),
            elite_population_selection_strategy=_ElitesInTrialOrder(population))
    return study.ask()


Objective = Callable[[optuna.Trial], tuple[tuple[float, float], dict[str, Any]]]


def optimize(study: optuna.Study, objective: Objective, seed: int, population: int, trials: int | None = None,
             seconds: float | None = None, advance: Callable[[], None] | None = None, worker: bool = False) -> None:
    """Ask/tell NSGA-II trials until ``trials`` are complete (or running in other workers) or
    ``seconds`` of trial time are spent.

    ``objective(trial)`` returns the two objectives ``(accuracy, energy_pj)`` and attributes that
    are stored with the trial, beside its trial time ``trial_s`` and the cumulative ``elapsed_s``.
    Trials left RUNNING by a killed process are marked failed first, except in a ``worker``,
    where RUNNING trials belong to the other workers.
    """
    if not worker:
        fail_stale_trials(study)
    while True:
        stored = study.get_trials(deepcopy=False)  # one read of the storage per trial, not three
        complete = [t for t in stored if t.state == optuna.trial.TrialState.COMPLETE]
        done, running = len(complete), sum(t.state == optuna.trial.TrialState.RUNNING for t in stored)
        if trials is not None and done + running >= trials:
            break
        spent = _trial_seconds(complete)
        if seconds is not None and spent >= seconds:
            break
        trial = ask_seeded(study, population, seed, done)
        start = time.perf_counter()
        values, attributes = objective(trial)
        trial_s = time.perf_counter() - start
        trial.set_user_attr("trial_s", trial_s)
        trial.set_user_attr("elapsed_s", spent + trial_s)
        for key, value in attributes.items():
            trial.set_user_attr(key, value)
        study.tell(trial, values)
        if advance:
            advance()


def check_storage(url: str) -> None:
    """Open the storage once before any long work, so that a bad URL, a missing driver, a missing
    or read-only directory or a corrupt database is one clear :class:`InputError` at once."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from xaigen.errors import InputError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError("storage", f"not a database URL: {url!r} (e.g. sqlite:///runs/x/optuna.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        import os
        from pathlib import Path

        directory = Path(parsed.database).parent
        if not directory.is_dir() or not os.access(directory, os.W_OK):
            raise InputError("storage", f"{directory} is not a writable directory")
    try:
        optuna.storages.RDBStorage(url).remove_session()
    except (ImportError, ModuleNotFoundError) as exc:
        extra = " (pip install 'xaigen[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise InputError("storage", f"no database driver for {parsed.drivername}{extra}: {exc}") from None
    except (SQLAlchemyError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError("storage", f"cannot open {parsed.render_as_string(hide_password=True)}: {first}") from None
