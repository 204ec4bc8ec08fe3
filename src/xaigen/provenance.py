"""Where a result came from: the configuration, seed, versions, data sizes, date, wall time and machine.

Recorded by ``xaigen run`` (``results.json`` ``provenance``) and ``xaigen nas`` (``nas.json``
``provenance``) so that a figure in a paper can be traced to the run that made it. The host name
is not recorded (results files are shared); the machine is described by its CPU, core count,
operating system and accelerator.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

from xaigen import __version__

PACKAGES = ("torch", "captum", "optuna", "numpy", "scipy", "pydantic", "matplotlib")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` when absent)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_name() -> str:
    """The CPU model from /proc/cpuinfo on Linux; ``platform.processor()`` elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, str | int]:
    """The machine a run ran on (no host name): CPU, cores, OS, Python, torch threads, GPU."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return {"cpu": _cpu_name(), "cores": os.cpu_count() or 0, "torch_threads": torch.get_num_threads(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(), "gpu": gpu}


def now_utc() -> str:
    """The current date and time, ISO 8601 in UTC (seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def provenance(config: dict, seeds: list[int], data_sizes: dict[str, int], started_utc: str, wall_s: float) -> dict:
    """The ``provenance`` record of a results file (schema: :class:`xaigen.results.Provenance`).

    ``config`` is the effective configuration (every key, defaults included, as validated);
    ``data_sizes`` counts samples: ``train``, ``search_validation`` and ``held_out``;
    ``wall_s`` is the job's wall time in seconds."""
    return {"config": config, "seeds": list(seeds), "xaigen_version": __version__, "versions": package_versions(),
            "data_sizes": data_sizes, "started_utc": started_utc, "wall_s": wall_s, "machine": machine()}
