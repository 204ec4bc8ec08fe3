"""The shared set-up that both jobs (``xaigen run`` and ``xaigen nas``) stand on.

Everything here turns a validated :class:`~xaigen.config.RunConfig` into the objects a job needs
(catalogue and candidates, data and its validation/held-out split, a trained model) and runs
worker processes. It sits below both jobs: it imports the lower packages, never ``search``,
``nas``, ``pipeline``, ``report`` or ``cli``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from collections.abc import Callable

import torch

from xaigen.config import RunConfig
from xaigen.data import Dataset, load_dataset
from xaigen.errors import InputError
from xaigen.models import TrainConfig, build_model, load_or_train
from xaigen.models.task import CLASSIFICATION, Task, load_task
from xaigen.multipliers import Catalogue, Multiplier, load_multipliers, sign_magnitude_name, xaigen_home

Split = tuple[torch.Tensor, torch.Tensor]
log = logging.getLogger("xaigen")


def build_catalogue(config: RunConfig) -> tuple[Catalogue, list[str]]:
    """The catalogue (built-ins, user imports, run files) and the candidate multiplier names.

    With ``[quantization] unsigned_mapping = "sign-magnitude"`` (the default) every unsigned
    circuit among the candidates runs in its sign-magnitude form ``NAME+sm``
    (:mod:`xaigen.multipliers.sign_magnitude`): ``"unsigned"`` offers those forms, ``"all"``
    offers them beside the signed circuits, so one search picks signed or unsigned per layer.
    With ``"offset"`` unsigned circuits take asymmetric uint8 codes with zero points.
    """
    catalogue = Catalogue.default()
    for file in config.multipliers.files:
        for m in load_multipliers(file):
            if m.name in catalogue:  # said: a later file wins over a built-in or an earlier file
                log.warning("multipliers.files: %s from %s replaces the one already known (%s)", m.name, file,
                            catalogue[m.name].source or "built in")
            catalogue.add(m, replace=True)
    unknown = [n for n in config.multipliers.exclude if not catalogue.knows(n)]
    if unknown:
        log.warning("multipliers.exclude: no multiplier is called %s; they exclude nothing", ", ".join(unknown))
    names, no_power = catalogue.usable(requested_candidates(config, catalogue, drop_excluded=True))
    if no_power:  # said, never silent: these circuits cannot be priced
        log.warning("left out of the candidates (no usable power figure: zero, missing or not finite): %s",
                    ", ".join(no_power))
    if not names:
        raise InputError("multipliers.candidates", "no candidate multiplier with a usable power figure")
    return catalogue, names


def requested_candidates(config: RunConfig, catalogue: Catalogue, drop_excluded: bool) -> list[str]:
    """The multipliers ``[multipliers] candidates`` asks for (a list, "signed", "unsigned" or
    "all"), each unsigned circuit in the configured mapping, without those in ``exclude`` when
    ``drop_excluded`` (excluding a circuit excludes its sign-magnitude form too)."""
    names = _candidate_names(config, catalogue)
    return list(dict.fromkeys(n for n in names if not (drop_excluded and excluded(config, catalogue, n))))


def excluded(config: RunConfig, catalogue: Catalogue, name: str) -> bool:
    """Whether ``[multipliers] exclude`` names ``name`` or the physical circuit it runs."""
    return bool({name, _circuit(catalogue[name])} & set(config.multipliers.exclude))


def _circuit(m: Multiplier) -> str:
    """The name of the physical circuit ``m`` runs."""
    return m.name if m.derivation is None else m.derivation.circuit


def _known(catalogue: Catalogue, name: str, field: str) -> Multiplier:
    """``catalogue[name]``; an unknown name is an :class:`InputError` naming the field."""
    try:
        return catalogue[name]
    except InputError as exc:
        raise InputError(field, f"{name}: {exc.problem}") from None


def _candidate_names(config: RunConfig, catalogue: Catalogue) -> list[str]:
    """The configured candidates, each unsigned circuit in the configured mapping."""
    wanted = config.multipliers.candidates
    if isinstance(wanted, list):
        chosen = [_known(catalogue, n, "multipliers.candidates") for n in wanted]
    else:
        chosen = [m for m in catalogue if m.native and (wanted == "all" or m.signed == (wanted == "signed"))]
    if config.quantization.unsigned_mapping != "sign-magnitude":
        return [m.name for m in chosen]
    return [m.name if m.signed else sign_magnitude_name(m.name) for m in chosen]


def choose_probe(config: RunConfig, catalogue: Catalogue, candidates: list[str]) -> str:
    """The sensitivity probe: as configured, or the candidate closest to half its exact reference's
    power (aggressive enough to be measurable, mild enough not to wreck the model alone)."""
    if config.multipliers.probe != "auto":
        return _known(catalogue, config.multipliers.probe, "multipliers.probe").name

    def distance(name: str) -> float:
        return abs(math.log(catalogue[name].power_mw / (catalogue.reference_exact(name).power_mw / 2)))

    approx = [n for n in candidates if not catalogue[n].is_exact] or candidates
    return min(approx, key=lambda n: (distance(n), n))


def split_test(x: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[Split, Split]:
    """Half of the test set for the search (validation), the other half held out for the report."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    half = len(x) // 2
    return (x[order[:half]], y[order[:half]]), (x[order[half:]], y[order[half:]])


def load_data(config: RunConfig) -> Dataset:
    """The configured data set: built in, or the user's (``npz``, ``folder``, ``module:factory``)."""
    from xaigen.data.user import limited, load_from_factory, load_image_folder, load_npz

    d, seed = config.data, config.search.seed
    class_labels = config.task.metric is None  # a user's task may have any numeric targets
    if d.name in ("npz", "folder") or ":" in d.name:
        data = load_npz(d.path, class_labels) if d.name == "npz" else load_image_folder(d.path) \
            if d.name == "folder" else load_from_factory(d.name, class_labels)
        data = limited(data, d.train_limit, d.test_limit, seed)
    else:
        data = load_dataset(d.name, d.dir, d.train_limit, d.test_limit, seed)
    if len(data.x_test) < 2:  # half of it validates the search, the other half is held out
        raise InputError("data.test_limit" if d.test_limit else "data",
                         f"{len(data.x_test)} test example(s): at least 2 are needed, one per half")
    shape = config.model.input_shape
    if shape is not None and list(data.x_train.shape[1:]) != list(shape):
        raise InputError("data", f"samples have shape {list(data.x_train.shape[1:])}, model.input_shape is {shape}")
    return data


def _untrained_model(config: RunConfig, data: Dataset, task: Task) -> tuple[torch.nn.Module, dict]:
    """The model before training (with the checkpoint's weights where one is given, built-in
    models too), and what identifies it for the checkpoint cache."""
    from xaigen.models.user import build_user_model, load_checkpoint, model_accepts, source_digest

    m = config.model
    if m.source is None:
        if data.x_train.dim() != 4:
            raise InputError("model.name", f"{m.name} takes images [C, H, W]; the data's samples have shape "
                                           f"{list(data.x_train.shape[1:])} (give your own model.source)")
        model = build_model(m.name, data.in_channels, data.num_classes, data.input_size)
        key = {"model": m.name}
    else:
        model = build_user_model(m.source, data.in_channels, data.num_classes, tuple(data.x_train.shape[1:]))
        key = {"model": "user", "source": m.source, "source_digest": source_digest(m.source)}
    if m.checkpoint is not None:
        load_checkpoint(model, m.checkpoint)
        key["checkpoint_digest"] = hashlib.sha256(Path(m.checkpoint).read_bytes()).hexdigest()[:16]
    if m.source is not None:
        model_accepts(model, data.x_train[:2], data.num_classes if task is CLASSIFICATION else None)
    return model, key


def load_task_of(config: RunConfig) -> Task:
    """The configured task (default: classification)."""
    return load_task(config.task.metric, config.task.loss)


def trained_model(config: RunConfig, data: Dataset, advance: Callable[[], None] | None = None,
                  task: Task = CLASSIFICATION) -> tuple[torch.nn.Module, bool]:
    """The configured model, trained on ``data`` (or loaded from the checkpoint cache) unless it
    comes from a checkpoint that is only evaluated; in eval mode; and whether it was cached."""
    m, seed = config.model, config.search.seed
    model, identity = _untrained_model(config, data, task)
    if not m.trains:
        return model.eval(), False
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError("model", f"{m.label} has no trainable parameters; give model.checkpoint, or train = false")
    key = {**identity, "dataset": data.name, "n_train": len(data.x_train), "limit": config.data.train_limit,
           "version": 1}
    # The content, not the name: another directory or file of the same data set trains anew.
    key["data_digest"] = hashlib.sha256(data.x_train.numpy().tobytes() + data.y_train.numpy().tobytes()).hexdigest()[:16]
    if task is not CLASSIFICATION:
        key["task"] = task.name
    if seed:  # another seed draws another split: its own weights (seed 0 keeps its key)
        key["seed"] = seed
    train_config = TrainConfig(m.epochs, m.batch_size, m.lr, seed=seed)
    model, cached = load_or_train(model, data.x_train, data.y_train, train_config, xaigen_home() / "models", key,
                                  advance=advance, loss_fn=task.loss)
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
