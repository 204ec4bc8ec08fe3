"""``xaigen nas``: run the NAS methods (optionally with worker processes) and write ``nas.json``."""

from __future__ import annotations

import time
from pathlib import Path

from xaigen.config import RunConfig
from xaigen.context import build_catalogue, load_data, run_workers, split_test, use_one_thread
from xaigen.fileio import atomic_write_json
from xaigen.hardware import load_accelerator
from xaigen.nas.methods import (
    METHODS,
    Budget,
    NasSetting,
    create_studies,
    exact_energy,
    method_trials,
    run_method,
    summarize_nas,
)
from xaigen.nas.space import largest_architecture
from xaigen.provenance import now_utc, provenance
from xaigen.search.study import check_storage


def build_setting(config: RunConfig) -> NasSetting:
    catalogue, candidates = build_catalogue(config)
    accelerator = load_accelerator(config.hardware.accelerator)
    data = load_data(config)
    (x_val, y_val), _ = split_test(data.x_test, data.y_test, config.search.seed)
    return NasSetting(data, x_val, y_val, catalogue, candidates, accelerator, config.nas.epochs,
                      config.nas.loss_budget, config.nas.xaigen_budget, config.search.seed)


def nas_budget(config: RunConfig) -> Budget:
    return Budget(config.nas.trials, config.nas.trial_seconds)


def _worker(config_json: str, method: str, storage: str) -> None:
    use_one_thread()
    config = RunConfig.model_validate_json(config_json)
    run_method(method, build_setting(config), storage, nas_budget(config), worker=True)


def run_nas(config: RunConfig, out: Path, storage: str | None = None, workers: int = 1, progress=None) -> dict:
    """Run (or resume) every configured method, then summarise all completed trials."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started, started_utc = time.perf_counter(), now_utc()
    storage = storage or f"sqlite:///{(out / 'nas.db').resolve()}"
    check_storage(storage)  # a bad URL or an unwritable database: one line now, not after the set-up
    setting, budget = build_setting(config), nas_budget(config)
    methods = [m for m in METHODS if m in config.nas.methods]
    for method in methods:
        task = progress.add_task(f"nas: {method}", total=budget.trials) if progress else None
        advance = (lambda: progress.advance(task)) if progress else None
        if workers > 1:
            create_studies(method, setting.seed, storage)
            run_workers(_worker, (config.model_dump_json(), method, storage), workers, f"NAS ({method})")
        else:
            run_method(method, setting, storage, budget, advance)
    trials_by_method = {m: method_trials(m, setting.seed, storage) for m in methods}
    result = summarize_nas(trials_by_method, exact_energy(largest_architecture(), setting))
    result.update({"dataset": setting.data.name, "accelerator": setting.accelerator.name, "seed": setting.seed,
                   "workers": workers, "budget": {"trials": budget.trials, "seconds": budget.seconds},
                   "trials": trials_by_method})
    # NAS scores every architecture on the search half only; the held-out half is not used.
    sizes = {"train": len(setting.data.x_train), "search_validation": len(setting.x_val)}
    result["provenance"] = provenance(config.model_dump(mode="json"), [setting.seed], sizes, started_utc,
                                      time.perf_counter() - started)
    atomic_write_json(out / "nas.json", result)
    return result
