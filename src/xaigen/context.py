"""The shared set-up that both jobs (``xaigen run`` and ``xaigen nas``) stand on.

Everything here turns a validated :class:`~xaigen.config.RunConfig` into the objects a job needs
(catalogue and candidates, data and its validation/held-out split, a trained model) and runs
worker processes. It sits below both jobs: it imports the lower packages, never ``search``,
``nas``, ``pipeline``, ``report`` or ``cli``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xaigen.config import RunConfig
from xaigen.data import Dataset, load_dataset
from xaigen.errors import InputError
from xaigen.models import TrainConfig, build_model, load_or_train
from xaigen.multipliers import Catalogue, load_multipliers, xaigen_home

Split = tuple[torch.Tensor, torch.Tensor]


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


def split_test(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[Split, Split]:
    """Half of the test set for the search (validation), the other half held out for the report."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    half = len(x) // 2
    return (x[order[:half]], y[order[:half]]), (x[order[half:]], y[order[half:]])


def load_data(config: RunConfig) -> Dataset:
    d = config.data
    return load_dataset(d.name, d.dir, d.train_limit, d.test_limit, config.search.seed)


def trained_model(config: RunConfig, data: Dataset, advance: Callable[[], None] | None = None
                  ) -> tuple[torch.nn.Module, bool]:
    """The configured model trained on ``data`` (or loaded from the checkpoint cache), in eval
    mode, and whether it came from the cache."""
    m, seed = config.model, config.search.seed
    model = build_model(m.name, data.in_channels, data.num_classes, data.input_size)
    key = {"model": m.name, "dataset": data.name, "n_train": len(data.x_train), "limit": config.data.train_limit,
           "version": 1}
    if seed:  # another seed draws another training subset and split: its own weights (seed 0 keeps old keys)
        key["seed"] = seed
    train_config = TrainConfig(m.epochs, m.batch_size, m.lr, seed=seed)
    model, cached = load_or_train(model, data.x_train, data.y_train, train_config, xaigen_home() / "models", key,
                                  advance=advance)
    return model.eval(), cached


def use_one_thread() -> None:
    """One compute thread per worker process: the workers are the parallelism."""
    import numba

    torch.set_num_threads(1)
    numba.set_num_threads(1)


def _quiet_worker(target: Callable, args: tuple) -> None:
    """A worker's entry point: Ctrl-C reaches every process of the group; the parent reports it
    in one line, so a worker just stops (its running trial is marked failed on resume)."""
    import sys

    try:
        target(*args)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(target: Callable, args: tuple, workers: int, what: str) -> None:
    """Run ``target(*args)`` in ``workers`` fresh (spawned) processes and wait for all of them."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_quiet_worker, args=(target, args)) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except BaseException:  # Ctrl-C or SIGTERM in the parent: stop the workers, then report
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        raise
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{what} workers exited with codes {failed}")
