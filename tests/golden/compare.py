"""Compare a job's output with a stored golden file: the regression net for "no behaviour change".

The golden files were written by the code before a refactoring (``python -m tests.golden.make``
rewrites them; do that only in a commit that says which behaviour changed on purpose and why).
Timings are left out; every other value of the golden file must be present and equal (floats to
1e-9 relative), and a key the golden file lacks must be in ``added``.
"""

from __future__ import annotations

import math

TIMING_KEYS = {"wall_s", "elapsed_curve", "timings", "model_from_cache", "elapsed_s", "trial_s", "stage1_s",
               "xai_nas_seconds_to_reach_its_hypervolume", "its_seconds", "search_time_ratio",
               "provenance"}  # provenance: the machine, versions and date, not behaviour


def differences(golden, new, added: set[str], path: str = "") -> list[str]:
    """Every place where ``new`` departs from ``golden`` (empty: the same behaviour)."""
    if isinstance(golden, dict) and isinstance(new, dict):
        out = [f"{path}/{k}: added" for k in new if k not in golden and k not in added and k not in TIMING_KEYS]
        for k, v in golden.items():
            if k in TIMING_KEYS:
                continue
            out += [f"{path}/{k}: missing"] if k not in new else differences(v, new[k], added, f"{path}/{k}")
        return out
    if isinstance(golden, list) and isinstance(new, list):
        if len(golden) != len(new):
            return [f"{path}: length {len(golden)} -> {len(new)}"]
        return [d for i, (g, n) in enumerate(zip(golden, new)) for d in differences(g, n, added, f"{path}[{i}]")]
    if isinstance(golden, float) and isinstance(new, float):
        same = math.isclose(golden, new, rel_tol=1e-9, abs_tol=1e-12)
    else:
        same = golden == new
    return [] if same else [f"{path}: {golden!r} -> {new!r}"]
