"""The run-time build of the C kernels (``xaigen.emulation.native``)."""

import ctypes

import pytest

from xaigen.emulation import native


def test_a_cached_build_belongs_to_one_cpu_kind(monkeypatch, tmp_path):
    """``-march=native`` builds differ between CPUs: a cache directory shared by two machines (a home
    directory on a cluster) must give each its own library, never one with instructions it lacks."""
    monkeypatch.setenv("XAIGEN_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_cpu_features", lambda: "flags : avx2 avx512f avx512_vnni avx512vbmi")
    with_vbmi = native.library_path("cc")
    assert with_vbmi == native.library_path("cc") and with_vbmi.parent == tmp_path
    monkeypatch.setattr(native, "_cpu_features", lambda: "flags : avx2")
    assert native.library_path("cc") != with_vbmi


def test_the_cpu_features_are_read():
    assert native._cpu_features().strip()


@pytest.mark.parametrize("failure", ["compile", "load"])
def test_without_a_working_openmp_build_the_serial_kernels_are_used(monkeypatch, tmp_path, failure):
    """The OpenMP build is tried first; where it fails to compile (a compiler without -fopenmp) or
    to load, the library is built without it, and its "_all" entry points would run serially."""
    import subprocess

    compiler = native._compiler()
    if compiler is None:
        pytest.skip("no C compiler")
    real_run, real_cdll = subprocess.run, ctypes.CDLL

    def no_openmp(cmd, **kwargs):
        if "-fopenmp" in cmd:
            raise subprocess.CalledProcessError(1, cmd)
        return real_run(cmd, **kwargs)

    def no_openmp_load(path, *args, **kwargs):
        if str(path) == str(native.library_path(compiler)):
            raise OSError("cannot allocate memory in static TLS block")
        return real_cdll(path, *args, **kwargs)

    monkeypatch.setenv("XAIGEN_KERNEL_CACHE", str(tmp_path))
    if failure == "compile":
        monkeypatch.setattr(native.subprocess, "run", no_openmp)
    else:
        monkeypatch.setattr(native.ctypes, "CDLL", no_openmp_load)
    native.gather_library.cache_clear()
    try:
        lib = native.gather_library()
        assert lib is not None and lib._name == str(native.library_path(compiler, native.FLAGS))
        assert lib.xaigen_openmp() == 0 and lib.xaigen_omp_threads(3) == 0 and lib.xaigen_omp_team(2) == 0
    finally:
        native.gather_library.cache_clear()  # the next caller loads the usual build again


def test_the_openmp_team_check():
    lib = native.gather_library()
    if lib is None or not lib.xaigen_openmp():
        pytest.skip("no OpenMP build here")
    assert lib.xaigen_omp_team(1) == 1 and lib.xaigen_omp_team(2) == 1 and lib.xaigen_omp_team(0) == 0


@pytest.mark.parametrize("name", ["mul8s_1KVA", "mitchell_s8", "mul8u_DG8"])
def test_openmp_and_pool_threads_give_the_same_bits(catalogue, monkeypatch, name):
    """Every kernel run through torch's OpenMP threads (``_all`` entry points) or through the Python
    pool gives the same outputs: LeNet-5's direct first layer, the int8 path's front end, the gather."""
    import torch

    from xaigen.emulation import approximate, calibrate
    from xaigen.models import lenet5

    if not native.shares_torch_openmp():
        pytest.skip("the kernels were not built on torch's OpenMP runtime here")
    torch.manual_seed(0)
    model = lenet5(3, 10, 32).eval()
    x = torch.randn(24, 3, 32, 32)
    fast = approximate(model, name, catalogue, calibrate(model, x))
    monkeypatch.setattr(native, "SERIAL_WORK", 0)  # small inputs split over the threads too
    with torch.no_grad():
        on_openmp = fast(x)
        monkeypatch.setattr(native, "USE_OPENMP", False)
        on_pool = fast(x)
    assert torch.equal(on_openmp, on_pool)


def test_the_openmp_probe_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    native.shares_torch_openmp.cache_clear()
    native.shares_torch_openmp()
    assert torch.get_num_threads() == before
