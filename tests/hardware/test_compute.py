import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xaigen.hardware import Accelerator, Layer, conv_layer, estimate_layer, gemm_cycles


def test_gemm_that_fits_one_array_ws():
    # K=8 rows, N=8 cols on an 8x8 array: one fold of 2R + C + T - 2 cycles, minus SCALE-Sim's final 1.
    r = gemm_cycles(m=10, k=8, n=8, rows=8, cols=8, dataflow="ws")
    assert r.folds == 1
    assert r.cycles == 2 * 8 + 8 + 10 - 2 - 1
    assert r.macs == 640
    assert r.filter_reads == 64 and r.ifmap_reads == 80 and r.ofmap_writes == 80


def test_gemm_that_folds():
    # K=20 on 8 rows -> 3 row folds; N=20 on 8 cols -> 3 col folds.
    r = gemm_cycles(m=5, k=20, n=20, rows=8, cols=8, dataflow="ws")
    assert r.folds == 9
    assert r.cycles == 9 * (2 * 8 + 8 + 5 - 2) - 1
    assert r.ifmap_reads == 5 * 20 * 3  # the input streams once per column fold
    assert r.ofmap_writes == 5 * 20 * 3  # partial sums written once per row fold


def test_output_stationary_has_no_weight_load():
    r = gemm_cycles(m=8, k=30, n=8, rows=8, cols=8, dataflow="os")
    assert r.cycles == 8 + 8 + 30 - 2 - 1


def test_input_stationary_maps_pixels_to_columns():
    r = gemm_cycles(m=17, k=8, n=3, rows=8, cols=8, dataflow="is")
    assert r.folds == math.ceil(17 / 8)
    assert r.cycles == 3 * (2 * 8 + 8 + 3 - 2) - 1


def test_utilization_at_most_one():
    for df in ("ws", "os", "is"):
        r = gemm_cycles(m=1000, k=128, n=128, rows=128, cols=128, dataflow=df)
        assert 0 < r.utilization <= 1


dims = st.integers(1, 300)


@settings(max_examples=60, deadline=None)
@given(m=dims, k=dims, n=dims, pods=st.sampled_from([1, 2, 4, 8]), df=st.sampled_from(["ws", "os", "is"]),
       partition=st.sampled_from(["rows", "cols"]))
def test_more_pods_never_slower_for_divisible_work(m, k, n, pods, df, partition):
    m, n = m * 8, n * 8  # divisible by every pod count
    base = Accelerator("a", 16, 16, pods=1, dataflow=df, partition=partition, dram_bytes_per_cycle=1e9)
    layer = Layer("l", m=m, k=k, n=n)
    one = estimate_layer(layer, base).cycles
    many = estimate_layer(layer, base.with_(pods=pods)).cycles
    assert many <= one


@settings(max_examples=60, deadline=None)
@given(m=dims, k=dims, n=dims, bw=st.floats(0.05, 64), df=st.sampled_from(["ws", "os", "is"]),
       sram=st.sampled_from([1, 4, 64]))
def test_less_bandwidth_never_faster(m, k, n, bw, df, sram):
    layer = Layer("l", m=m, k=k, n=n)
    acc = Accelerator("a", 8, 8, dataflow=df, ifmap_sram_kib=sram, filter_sram_kib=sram, ofmap_sram_kib=sram,
                      dram_bytes_per_cycle=bw)
    slow = estimate_layer(layer, acc.with_(dram_bytes_per_cycle=bw / 2))
    fast = estimate_layer(layer, acc)
    assert slow.cycles >= fast.cycles
    assert fast.cycles >= gemm_cycles(m, k, n, 8, 8, df).cycles


def test_conv_as_gemm():
    layer = conv_layer("c", 12, 12, 3, 3, 16, 40, 1)
    assert (layer.m, layer.k, layer.n) == (100, 144, 40)
    dw = conv_layer("d", 10, 10, 3, 3, 8, 8, 1, groups=8)
    assert (dw.m, dw.k, dw.n, dw.groups) == (64, 9, 1, 8)
    assert dw.macs == 64 * 9 * 8


@pytest.mark.parametrize("bad", [{"array_rows": 0}, {"pods": -1}, {"dataflow": "rs"}, {"clock_mhz": 0}])
def test_invalid_accelerator(bad):
    from xaigen.errors import InputError

    with pytest.raises(InputError):
        Accelerator(**({"name": "x", "array_rows": 8, "array_cols": 8} | bad))
