"""Run-time build of the small C kernels (``csrc/gather.c``: the table gather; ``csrc/frontend.c``:
quantize-and-lookup front ends; ``csrc/direct.c``: the direct int8 convolution; ``csrc/codes.h``:
the shared quantization) with the machine's compiler, into one shared library.

The sources are compiled once per (source, compiler, flags, CPU features) into a cache directory
(``$XAIGEN_KERNEL_CACHE``, else ``~/.cache/xaigen/kernels``, else a temporary directory) with
``-O3 -march=native``, so it uses AVX-512BW where the CPU has it; the CPU's feature flags are part
of the key, so a cache directory shared by machines with different CPUs (a home directory on a
cluster) never hands one machine a build that uses instructions it lacks. When no compiler exists, the build
fails or ``XAIGEN_NO_NATIVE=1`` is set, :func:`gather_library` returns None and callers use the
numba kernel instead. Nothing is built at import time.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

SOURCES = tuple(Path(__file__).with_name("csrc") / name for name in ("gather.c", "frontend.c", "direct.c"))
HEADERS = (Path(__file__).with_name("csrc") / "codes.h",)
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", "-std=c99")  # no FMA: bit-exact rounding
BUILD_TIMEOUT_S = 120


def _cache_dir() -> Path:
    configured = os.environ.get("XAIGEN_KERNEL_CACHE")
    candidates = [Path(configured)] if configured else []
    candidates += [Path.home() / ".cache" / "xaigen" / "kernels", Path(tempfile.gettempdir()) / "xaigen-kernels"]
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise OSError("no writable directory for compiled kernels")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_features() -> str:
    """What ``-march=native`` depends on: the CPU's feature flags and model (Linux), else what
    :mod:`platform` knows of the processor."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("flags", "model name", "Features", "CPU part"))]
    except OSError:
        lines = []
    return "".join(dict.fromkeys(lines)) or f"{platform.machine()} {platform.processor()}"


def library_path(compiler: str) -> Path:
    """Where the build for these sources, this compiler, these flags and this CPU is cached."""
    source = b"".join(path.read_bytes() for path in SOURCES + HEADERS)
    identity = source + compiler.encode() + " ".join(FLAGS).encode() + _cpu_features().encode()
    return _cache_dir() / f"xaigen_gather_{hashlib.sha256(identity).hexdigest()[:16]}.so"


def _build(compiler: str) -> Path:
    target = library_path(compiler)
    if not target.exists():
        with tempfile.NamedTemporaryFile(suffix=".so", dir=target.parent, delete=False) as tmp:
            partial = Path(tmp.name)
        try:
            subprocess.run([compiler, *FLAGS, "-o", str(partial), *map(str, SOURCES), "-lm"], check=True,
                           capture_output=True, timeout=BUILD_TIMEOUT_S)
            os.replace(partial, target)  # atomic: concurrent builders never see half a file
        finally:
            partial.unlink(missing_ok=True)
    return target


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    ptr, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
    f32, u8 = ctypes.c_float, ctypes.c_uint8
    lib.xaigen_gather_conv.argtypes = [ptr, i64, i64, ptr, ptr, i64, ptr, i32, ptr, ptr, ptr, ptr, ptr]
    lib.xaigen_gather_conv.restype = None
    lib.xaigen_quantize_pad.argtypes = [ptr, i64, i64, i64, i64, i64, i64, f32, f32, f32, f32, f32, u8, ptr]
    lib.xaigen_quantize_pad.restype = None
    lib.xaigen_lookup_rows.argtypes = [ptr, i64, i64, i64, i64, i64, i64, i64, i64, f32, f32, f32, f32, f32, ptr, i64,
                                       ptr, ptr]
    lib.xaigen_lookup_rows.restype = None
    lib.xaigen_gather_has_avx512bw.restype = ctypes.c_int
    lib.xaigen_quad_planes.argtypes = [ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, f32, f32, f32,
                                       f32, f32, ptr, i64, ptr]
    lib.xaigen_quad_planes.restype = None
    lib.xaigen_plane_words.argtypes = lib.xaigen_quad_planes.argtypes
    lib.xaigen_plane_words.restype = None
    lib.xaigen_direct_conv.argtypes = [ptr, i64, i64, i64, i64, i64, i64, i64, i64, ptr, i64, i64, i64, i64, ptr, ptr,
                                       ptr, i32, ptr]
    lib.xaigen_direct_conv.restype = None
    lib.xaigen_direct_available.restype = ctypes.c_int
    return lib


@lru_cache(maxsize=1)
def gather_library() -> ctypes.CDLL | None:
    """The compiled gather kernel, or None (no compiler, build error, or disabled)."""
    if os.environ.get("XAIGEN_NO_NATIVE") == "1" or not all(path.exists() for path in SOURCES + HEADERS):
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    try:
        return _declare(ctypes.CDLL(str(_build(compiler))))
    except (OSError, subprocess.SubprocessError, AttributeError):
        return None


_POOL: list = [None, 0]  # executor, its worker count


def _executor(workers: int) -> ThreadPoolExecutor:
    if _POOL[1] != workers:
        _POOL[0], _POOL[1] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xaigen-native"), workers
    return _POOL[0]


SERIAL_WORK = 1 << 17  # elements below which handing work to the pool costs more than it saves


def run_split(count: int, call: Callable[[int, int], None], work: int | None = None) -> None:
    """``call(first, last)`` on one contiguous range of ``count`` items per torch thread, in parallel:
    the C calls drop the GIL, and the work runs on as many threads as torch uses, so the two pools
    never ask for more cores than torch was given. ``work`` (elements touched, where known) below
    :data:`SERIAL_WORK` runs in this thread: a small layer's lookup takes less time than the handoff."""
    import numpy as np
    import torch

    workers = max(1, min(torch.get_num_threads(), count))
    if work is not None and work < SERIAL_WORK:
        workers = 1
    if workers == 1:
        call(0, count)
        return
    bounds = np.linspace(0, count, workers + 1).astype(int)
    list(_executor(workers).map(lambda i: call(int(bounds[i]), int(bounds[i + 1])), range(workers)))
