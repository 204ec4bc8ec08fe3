"""Golden files: the results of fixed tiny jobs, the regression net for "no behaviour change".

Float training, calibration and Captum's gradients round differently on CPUs whose kernels differ
(PyTorch's dispatch level, and the vendor code paths of MKL and oneDNN), and a last-bit difference
in one trained weight moves every figure after it. So each golden file is kept per CPU kind,
``<job>.<kind>.json`` (e.g. ``run_tiny.AVX2-AuthenticAMD.json``). On a CPU kind with no golden
file the comparison is skipped, and the skip names the kind; ``python -m tests.golden.make``
writes this CPU's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def cpu_kind() -> str:
    """PyTorch's CPU capability and the CPU vendor, e.g. ``AVX512-GenuineIntel``."""
    vendor = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            vendor = next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), vendor)
    except OSError:
        pass
    return f"{torch.backends.cpu.get_cpu_capability()}-{vendor}"


def golden_file(job: str) -> Path:
    return HERE / f"{job}.{cpu_kind()}.json"


def load_golden(job: str) -> dict:
    """This CPU kind's golden results of ``job``; skips the calling test where there are none."""
    path = golden_file(job)
    if not path.exists():
        pytest.skip(f"no golden file for this CPU kind ({cpu_kind()}): {path.name}; "
                    "`python -m tests.golden.make` writes one")
    return json.loads(path.read_text())


# Results files without provenance (golden files never keep it), for the report's tests of files
# written before provenance existed: any CPU kind's file will do.
RUN_WITHOUT_PROVENANCE = HERE / "run_tiny.AVX512-GenuineIntel.json"
NAS_WITHOUT_PROVENANCE = HERE / "nas_2trials.AVX512-GenuineIntel.json"
