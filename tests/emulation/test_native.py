"""The run-time build of the C kernels (``xaigen.emulation.native``)."""

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
