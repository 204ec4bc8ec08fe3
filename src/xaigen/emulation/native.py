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
HEADERS = tuple(Path(__file__).with_name("csrc") / name for name in ("codes.h", "parallel.h"))
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-shared", "-fPIC", "-std=c99")  # no FMA: bit-exact rounding
OPENMP = ("-fopenmp",)  # tried first; a compiler without OpenMP builds the serial entry points
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


def library_path(compiler: str, flags: tuple[str, ...] = FLAGS + OPENMP) -> Path:
    """Where the build for these sources, this compiler, these flags and this CPU is cached."""
    source = b"".join(path.read_bytes() for path in SOURCES + HEADERS)
    identity = source + compiler.encode() + " ".join(flags).encode() + _cpu_features().encode()
    return _cache_dir() / f"xaigen_gather_{hashlib.sha256(identity).hexdigest()[:16]}.so"


def _build_with(compiler: str, flags: tuple[str, ...]) -> Path:
    target = library_path(compiler, flags)
    if not target.exists():
        with tempfile.NamedTemporaryFile(suffix=".so", dir=target.parent, delete=False) as tmp:
            partial = Path(tmp.name)
        try:
            subprocess.run([compiler, *flags, "-o", str(partial), *map(str, SOURCES), "-lm"], check=True,
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
    for name in ("xaigen_quantize_pad", "xaigen_lookup_rows", "xaigen_quad_planes", "xaigen_plane_words",
                 "xaigen_direct_conv"):  # the "_all" entry points: (first, last) become (count, threads)
        getattr(lib, name + "_all").argtypes = getattr(lib, name).argtypes
        getattr(lib, name + "_all").restype = None
    lib.xaigen_gather_conv_all.argtypes = [*lib.xaigen_gather_conv.argtypes[:-1], i64, ptr]
    lib.xaigen_gather_conv_all.restype = None
    lib.xaigen_openmp.restype = ctypes.c_int
    lib.xaigen_omp_threads.argtypes = [ctypes.c_int]
    lib.xaigen_omp_threads.restype = ctypes.c_int
    lib.xaigen_omp_team.argtypes = [ctypes.c_int]
    lib.xaigen_omp_team.restype = ctypes.c_int
    return lib


@lru_cache(maxsize=1)
def gather_library() -> ctypes.CDLL | None:
    """The compiled gather kernel, or None (no compiler, build error, or disabled)."""
    if os.environ.get("XAIGEN_NO_NATIVE") == "1" or not all(path.exists() for path in SOURCES + HEADERS):
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    for flags in (FLAGS + OPENMP, FLAGS):  # without OpenMP where that build fails to compile or to load
        try:
            return _declare(ctypes.CDLL(str(_build_with(compiler, flags))))
        except (OSError, subprocess.SubprocessError, AttributeError):
            continue
    return None


_POOL: list = [None, 0]  # executor, its worker count


def _executor(workers: int) -> ThreadPoolExecutor:
    if _POOL[1] != workers:
        _POOL[0], _POOL[1] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xaigen-native"), workers
    return _POOL[0]


SERIAL_WORK = 1 << 17  # elements below which handing work to the pool costs more than it saves


USE_OPENMP = True  # False: the Python pool even where the runtime is shared (for A/B timing, benchmarks/)


def openmp_threads() -> bool:
    """Whether the kernels run on torch's OpenMP threads: :data:`USE_OPENMP` and the runtime is shared."""
    return USE_OPENMP and shares_torch_openmp()


@lru_cache(maxsize=1)
def shares_torch_openmp() -> bool:
    """Whether the library runs its ``_all`` entry points on torch's own OpenMP runtime (``csrc/parallel.h``).

    Probed, not assumed, twice: the library sets the calling thread's OpenMP thread count one
    above torch's and reads it back through :func:`torch.get_num_threads` (which asks the OpenMP
    runtime torch uses), then restores it; and a parallel region of two threads must see a team of
    two with thread numbers 0 and 1 (a library whose ``omp_*`` calls bind to torch's libgomp while
    its regions run on another runtime, as a clang build with libomp could, would see teams of one
    and give every thread the whole range). Otherwise the Python pool of :func:`run_split` runs the
    kernels."""
    import torch

    lib = gather_library()
    if lib is None or not lib.xaigen_openmp():
        return False
    before = torch.get_num_threads()
    mine = lib.xaigen_omp_threads(0)
    try:
        lib.xaigen_omp_threads(before + 1)
        shared = torch.get_num_threads() == before + 1
    finally:
        lib.xaigen_omp_threads(mine)
    return shared and lib.xaigen_omp_team(2) == 1


def workers_for(count: int, work: int | None = None) -> int:
    """Threads for ``count`` items: torch's thread count, at most one per item; one below
    :data:`SERIAL_WORK` elements touched (``work``), where handing work over costs more than it saves."""
    import torch

    if work is not None and work < SERIAL_WORK:
        return 1
    return max(1, min(torch.get_num_threads(), count))


def run_kernel(name: str, head: tuple, count: int, tail: tuple, work: int | None = None) -> None:
    """``lib.<name>(*head, first, last, *tail)`` over the items [0, count), in parallel: on torch's
    own OpenMP threads through ``lib.<name>_all`` where the library shares torch's runtime
    (:func:`shares_torch_openmp`), else one range per thread of :func:`run_split`'s pool.
    Measured (``benchmarks/emulation_threads.py``, batch 256, 2 threads, interleaved in one run): the
    pool's forwards take 1.10-1.12x as long on ResNet-20 and 1.27-1.63x on LeNet-5 (medians), its
    threads competing for the two cores with torch's workers, which spin a while after each of
    torch's ops (``benchmarks/results/emulation-2026-11-28-amd-avx512vnni-ab-openmp.txt``)."""
    lib = gather_library()
    if openmp_threads():
        getattr(lib, name + "_all")(*head, count, workers_for(count, work), *tail)
        return
    kernel = getattr(lib, name)
    run_split(count, lambda first, last: kernel(*head, first, last, *tail), work=work)


def run_split(count: int, call: Callable[[int, int], None], work: int | None = None) -> None:
    """``call(first, last)`` on one contiguous range of ``count`` items per torch thread, in parallel
    on a pool of Python threads (the C calls drop the GIL): as many threads as torch uses, though
    they can still compete with torch's workers, which spin a while after each op (see
    :func:`run_kernel`, which prefers torch's own OpenMP threads). ``work`` (elements touched, where known) below
    :data:`SERIAL_WORK` runs in this thread: a small layer's lookup takes less time than the handoff."""
    import numpy as np

    workers = workers_for(count, work)
    if workers == 1:
        call(0, count)
        return
    bounds = np.linspace(0, count, workers + 1).astype(int)
    list(_executor(workers).map(lambda i: call(int(bounds[i]), int(bounds[i + 1])), range(workers)))
