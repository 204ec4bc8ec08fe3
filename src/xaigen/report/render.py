"""``xaigen report``: re-render a report from results files, without re-running anything.

A results file is recognised by its content: ``nas.json`` (``reference_accuracy`` and
``trials``) gives ``nas.html``; ``results.json`` gives ``report.html``. Several ``results.json``
files (one per seed, the same setting) are merged: mean ± spread where they differ. Every file is
read and validated before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from xaigen.errors import InputError
from xaigen.fileio import require_file
from xaigen.results import NasResults, RunResults

MAX_RESULTS_BYTES = 512 * 1024 * 1024  # a results file is JSON text; anything larger is not one


def _json_object(path: Path) -> dict:
    require_file(path)
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise InputError(path, f"larger than {MAX_RESULTS_BYTES >> 20} MiB; not a results file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(path, "not a results file (expected a JSON object)")
    return data


def _validated(path: Path, data: dict) -> RunResults | NasResults:
    schema = NasResults if "reference_accuracy" in data and "trials" in data else RunResults
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        what = "NAS results (nas.json)" if schema is NasResults else "run results (results.json)"
        raise InputError(path, f"not valid {what}: {error['msg']}", ".".join(str(p) for p in error["loc"])) from None


def _same_setting(paths: list[Path], runs: list[RunResults]) -> None:
    """Runs merged into one report must differ only by seed."""
    first = runs[0]
    seen = {}
    for path, r in zip(paths, runs):
        for key in ("model", "dataset", "accelerator", "loss_budgets"):
            if getattr(r, key) != getattr(first, key):
                raise InputError(path, f"{key} differs from {paths[0]} ({getattr(r, key)} vs {getattr(first, key)}); "
                                       "only runs that differ by seed can be merged")
        if r.seed in seen:
            raise InputError(path, f"seed {r.seed} is also the seed of {seen[r.seed]}; each seed once")
        seen[r.seed] = path


def load_results(paths: list[Path]) -> list[RunResults] | NasResults:
    """Every file read and validated: run results (one per seed) or one NAS results file."""
    if not paths:
        raise InputError("arguments", "give at least one results file")
    paths = [Path(p) for p in paths]
    loaded = [_validated(p, _json_object(p)) for p in paths]
    nas = [p for p, r in zip(paths, loaded) if isinstance(r, NasResults)]
    if nas and len(paths) > 1:
        raise InputError(nas[0], "a NAS results file is rendered on its own (one file, no merging)")
    if nas:
        return loaded[0]
    _same_setting(paths, loaded)
    return loaded


def render(results: list[RunResults] | NasResults, out: Path) -> Path:
    """Write ``report.html`` (or ``nas.html``), ``figures/`` and ``tables/`` into ``out`` from what
    :func:`load_results` read; returns the page's path."""
    from xaigen.report.html import write_report
    from xaigen.report.nas import write_nas_report

    if isinstance(results, NasResults):
        return write_nas_report(results, out)
    return write_report(results, out)
