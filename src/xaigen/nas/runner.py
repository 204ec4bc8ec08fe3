"""``xaigen nas``: run the NAS methods (optionally with worker processes) and write ``nas.json``."""

from __future__ import annotations

from pathlib import Path

from xaigen.config import RunConfig
from xaigen.data import load_dataset
from xaigen.fileio import atomic_write_json
from xaigen.hardware import load_accelerator
from xaigen.nas.search import (
    METHODS,
    NasSetting,
    create_studies,
    exact_energy,
    method_trials,
    run_method,
    summarize,
)
from xaigen.nas.space import largest_architecture
from xaigen.pipeline import build_catalogue, run_workers, split_test, use_one_thread


def build_setting(config: RunConfig) -> NasSetting:
    catalogue, candidates = build_catalogue(config)
    accelerator = load_accelerator(config.hardware.accelerator)
    seed = config.search.seed
    data = load_dataset(config.data.name, config.data.dir, config.data.train_limit, config.data.test_limit, seed)
    (x_val, y_val), _ = split_test(data.x_test, data.y_test, seed)
    return NasSetting(data, x_val, y_val, catalogue, candidates, accelerator, config.nas.epochs,
                      config.nas.loss_budget, config.nas.xaigen_budget, seed)


def _worker(config_json: str, method: str, storage: str, trials, seconds) -> None:
    use_one_thread()
    config = RunConfig.model_validate_json(config_json)
    run_method(method, build_setting(config), storage, trials, seconds, worker=True)


def run_nas(config: RunConfig, out: Path, storage: str | None = None, workers: int = 1, progress=None) -> dict:
    """Run (or resume) every configured method, then summarise all completed trials."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'nas.db').resolve()}"
    setting = build_setting(config)
    trials = config.nas.trials
    seconds = None if trials is not None else config.nas.budget_minutes * 60
    methods = [m for m in METHODS if m in config.nas.methods]
    for method in methods:
        task = progress.add_task(f"nas: {method}", total=trials) if progress else None
        advance = (lambda: progress.advance(task)) if progress else None
        if workers > 1:
            create_studies(method, setting.seed, storage)
            run_workers(_worker, (config.model_dump_json(), method, storage, trials, seconds), workers,
                        f"NAS ({method})")
        else:
            run_method(method, setting, storage, trials, seconds, progress=advance)
    trials_by_method = {m: method_trials(m, setting.seed, storage) for m in methods}
    result = summarize(trials_by_method, exact_energy(largest_architecture(), setting))
    result.update({"dataset": setting.data.name, "accelerator": setting.accelerator.name, "seed": setting.seed,
                   "workers": workers, "budget": {"trials": trials, "seconds": seconds},
                   "trials": trials_by_method})
    atomic_write_json(out / "nas.json", result)
    return result
