"""The int8 path: byte factors reconstruct the table, kernels are exact at the extremes, fallbacks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.emulation.reference import conv2d_reference, linear_reference
from xaigen.emulation import int8
from xaigen.emulation.factorization import low_rank_factors
from xaigen.emulation.frontend import lookup_conv_input, lookup_rows
from xaigen.emulation.kernels import choose_path, conv2d_accumulators, linear_accumulators
from xaigen.emulation.quantization import QuantParams, quantize
from xaigen.emulation.tables import value_ordered_table

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
needs_int8 = pytest.mark.skipif(not int8.int8_available(), reason="this CPU's int8 kernels are not exact")


def _reconstruct(lowering, n_used: int) -> np.ndarray:
    """T'[a, i] = sum_j s_j sum_r (act[a, r] - z) d_j[i, r] for a weight_index of shape [1, n_used]."""
    rank = lowering.act_table.shape[1]
    digits = lowering.weight.numpy().astype(np.int64).reshape(lowering.parts, n_used, rank)
    act = lowering.act_table.astype(np.int64) - lowering.zero_point
    return sum(s * act @ d.T for s, d in zip(lowering.part_scales, digits))


@SETTINGS
@given(data=st.data())
def test_lowering_reconstructs_every_product(catalogue, data):
    """For any table with factors and any set of used weight codes: bytes times scales give T exactly."""
    names = sorted(m.name for m in catalogue if low_rank_factors(m) is not None)
    m = catalogue[data.draw(st.sampled_from(names))]
    used = np.array(sorted(data.draw(st.sets(st.integers(0, 255), min_size=1, max_size=40))))
    lowering = int8.lower(low_rank_factors(m), used[None, :])
    assume(lowering is not None)
    assert lowering.weight.dtype == torch.int8 and lowering.act_table.dtype == np.uint8
    assert np.array_equal(_reconstruct(lowering, len(used)), value_ordered_table(m)[:, used])


def test_signed_evoapprox_fit_one_int8_part(evoapprox):
    """All 13 signed EvoApprox tables lower to ONE int8 convolution on symmetric int8 weights."""
    symmetric_codes = np.arange(1, 256)[None, :]  # values -127..127
    for name, m in evoapprox.items():
        if m.signed:
            lowering = int8.lower(low_rank_factors(m), symmetric_codes)
            assert lowering is not None and lowering.parts == 1, name


@needs_int8
def test_extreme_long_dot_products_are_exact(catalogue):
    m = catalogue["exact_s8"]
    a, w = torch.full((2, 1000), -128), torch.full((3, 1000), -128)
    plan = choose_path(m, w)
    assert plan.path == "int8"
    assert torch.equal(linear_accumulators(a, plan).to(torch.int64), torch.full((2, 3), 1000 * 16384))
    rng = np.random.default_rng(0)
    a = rng.choice([-128, 127], size=(2, 64, 6, 6))
    w = rng.choice([-128, 127], size=(5, 64, 3, 3))
    plan = choose_path(m, torch.from_numpy(w))
    got = conv2d_accumulators(torch.from_numpy(a), plan).to(torch.int64).numpy()
    assert np.array_equal(got, conv2d_reference(a, w, m.table, (1, 1), (1, 1), 1))


@pytest.mark.parametrize("name", ["mul8s_1L2N", "exact_s8", "exact_u8"])
def test_falls_back_when_the_cpu_kernels_are_not_exact(catalogue, monkeypatch, name):
    monkeypatch.setattr(int8, "int8_matmul_exact", lambda: False)
    monkeypatch.setattr(int8, "int8_conv_mode", lambda: None)
    m = catalogue[name]
    rng = np.random.default_rng(1)
    lo, hi = (-128, 128) if m.signed else (0, 256)
    a, w = rng.integers(lo, hi, (3, 40)), rng.integers(lo, hi, (4, 40))
    plan = choose_path(m, torch.from_numpy(w))
    assert plan.path == "lowrank32"
    assert np.array_equal(linear_accumulators(torch.from_numpy(a), plan).to(torch.int64).numpy(),
                          linear_reference(a, w, m.table))
    a4, w4 = rng.integers(lo, hi, (2, 5, 4, 4)), rng.integers(lo, hi, (3, 5, 3, 3))
    plan = choose_path(m, torch.from_numpy(w4))
    assert plan.path == "lowrank32"
    got = conv2d_accumulators(torch.from_numpy(a4), plan).to(torch.int64).numpy()
    assert np.array_equal(got, conv2d_reference(a4, w4, m.table, (1, 1), (1, 1), 1))


def _saturating_dot(act: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A model of a kernel without VNNI (``vpmaddubsw``): u8 x s8 products of adjacent pairs of
    the reduction axis are added in saturating int16, then the pairs in int32. ``act`` [M, K]
    bytes, ``weight`` [O, K] int8 digits (an odd K is padded with a zero product)."""
    products = act[:, None, :].astype(np.int64) * weight[None, :, :].astype(np.int64)
    if products.shape[-1] % 2:
        products = np.concatenate([products, np.zeros_like(products[..., :1])], axis=-1)
    pairs = np.clip(products[..., 0::2] + products[..., 1::2], -(2**15), 2**15 - 1)
    return pairs.sum(axis=-1)


@SETTINGS
@given(data=st.data())
def test_int16_pair_lowering_never_saturates(catalogue, data):
    """Lowered for a kernel that saturates int16 pairs, every table's bytes give exact products
    on that kernel's model, on any weights and the worst activations (where the full-byte lowering
    would saturate, the model says so: the exact table's extremes)."""
    names = sorted(m.name for m in catalogue if low_rank_factors(m) is not None)
    m = catalogue[data.draw(st.sampled_from(names))]
    used = np.array(sorted(data.draw(st.sets(st.integers(0, 255), min_size=2, max_size=40))))
    lowering = int8.lower(low_rank_factors(m), used[None, :], int16_pairs=True)
    assume(lowering is not None)
    act, rank = lowering.act_table.astype(np.int64), lowering.act_table.shape[1]
    digits = lowering.weight.numpy().astype(np.int64).reshape(lowering.parts, len(used) * rank)
    worst = np.stack([np.full(len(used) * rank, act.max()), np.zeros(len(used) * rank, np.int64)])
    rows = np.concatenate([act[data.draw(st.lists(st.integers(0, 255), min_size=len(used), max_size=len(used)))]
                           .reshape(1, -1), worst])
    assert np.array_equal(_saturating_dot(rows, digits), rows @ digits.T)
    assert np.array_equal(_reconstruct(lowering, len(used)), value_ordered_table(m)[:, used])


def test_full_byte_lowering_saturates_on_the_model(catalogue):
    """The check above can fail: the exact table's full-byte lowering saturates the int16 pairs."""
    used = np.array([255, 255])  # two weights of 127
    lowering = int8.lower(low_rank_factors(catalogue["exact_s8"]), used[None, :])
    rows = np.full((1, 2), 255)
    digits = lowering.weight.numpy().astype(np.int64).reshape(lowering.parts, 2)
    assert not np.array_equal(_saturating_dot(rows, digits), rows @ digits.T)
    paired = int8.lower(low_rank_factors(catalogue["exact_s8"]), used[None, :], int16_pairs=True)
    assert paired.parts == 1 and paired.act_table.shape[1] == 2 and int(paired.act_table.max()) == 128  # halves


def test_falls_back_when_activation_factors_do_not_fit_bytes(catalogue):
    """DRUM's u(a) spans 272 values: no single zero-point maps it to bytes."""
    plan = choose_path(catalogue["drum_s8_k4"], torch.arange(-20, 20).reshape(2, 20))
    assert plan.path == "lowrank32"
    with pytest.raises(ValueError):
        choose_path(catalogue["drum_s8_k4"], torch.arange(-20, 20).reshape(2, 20), "int8")


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 12), top=st.integers(0, 2),
       left=st.integers(0, 2), zero=st.integers(0, 40), signed=st.booleans(), channels_last=st.booleans(),
       rank=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 10, 14, 16]), seed=st.integers(0, 2**31 - 1),
       scratch=st.booleans(), native=st.booleans())
def test_front_end_equals_quantize_then_lookup(n, c, h, w, top, left, zero, signed, channels_last, rank, seed,
                                               scratch, native):
    """The C front end and the numba fallback (no C compiler) alike."""
    from unittest import mock

    from xaigen.emulation import frontend

    with mock.patch.object(frontend, "gather_library", frontend.gather_library if native else lambda: None):
        _check_front_end(n, c, h, w, top, left, zero, signed, channels_last, rank, seed, scratch)


@SETTINGS
@given(c=st.integers(1, 9), w=st.integers(7, 40), top=st.integers(0, 1), zero=st.integers(0, 40),
       signed=st.booleans(), rank=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_front_end_rows_of_64_codes_and_more(c, w, top, zero, signed, rank, seed):
    """Rows of 7-360 codes: the C front end's 64-code register path (R = 2..6 with AVX-512 VBMI),
    its 16-code paths and its scalar tail, each on the same row, against quantize-then-lookup."""
    _check_front_end(2, c, 2, w, top, top, zero, signed, True, rank, seed, scratch=False)


def _check_front_end(n, c, h, w, top, left, zero, signed, channels_last, rank, seed, scratch):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen) * 3
    zero = 0 if signed else zero
    params = QuantParams(torch.tensor(0.037), torch.tensor(zero), signed)
    vmin = -128 if signed else 0
    table = np.random.default_rng(seed).integers(0, 256, (256, rank)).astype(np.uint8)
    pad_code = zero
    codes = F.pad(quantize(x, params), (left, left, top, top), value=pad_code)
    want = torch.from_numpy(table)[codes - vmin]  # [N, C, Hp, Wp, R]
    want = want.permute(0, 1, 4, 2, 3).reshape(n, c * rank, h + 2 * top, w + 2 * left)
    xin = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    got = lookup_conv_input(xin, 0.037, zero, (vmin, vmin + 255), vmin, table, (top, left), pad_code, scratch)
    assert torch.equal(got, want)
    rows = lookup_rows(x.reshape(n, -1), 0.037, zero, (vmin, vmin + 255), vmin, table)
    assert torch.equal(rows, torch.from_numpy(table)[quantize(x.reshape(n, -1), params) - vmin].reshape(n, -1))


def test_front_end_of_an_empty_batch():
    table = np.arange(256 * 3, dtype=np.uint8).reshape(256, 3)
    got = lookup_conv_input(torch.randn(0, 4, 5, 5), 0.05, 0, (-128, 127), -128, table, (1, 1), 0)
    assert got.shape == (0, 12, 7, 7)


def test_the_scratch_buffer_is_reused_within_a_thread_and_private_to_it():
    """``scratch=True`` reuses one buffer per thread (so a result is valid until the thread's next
    call) and never shares it between threads."""
    import threading

    table = np.arange(256 * 3, dtype=np.uint8).reshape(256, 3)
    x = torch.randn(2, 4, 5, 5)
    args = (0.05, 0, (-128, 127), -128, table, (1, 1), 0)
    first = lookup_conv_input(x, *args, scratch=True)
    want = lookup_conv_input(x, *args).clone()
    assert torch.equal(first, want)
    second = lookup_conv_input(x[:1] * 2, *args, scratch=True)
    assert second.data_ptr() == first.data_ptr()  # the same memory: `first` is no longer valid
    other = []
    thread = threading.Thread(target=lambda: other.append(lookup_conv_input(x, *args, scratch=True)))
    thread.start()
    thread.join()
    assert other[0].data_ptr() != second.data_ptr() and torch.equal(other[0], want)


@needs_int8
@pytest.mark.parametrize("name", ["mul8s_1KV6", "mul8s_1L2N", "mul8s_1KVM", "mul8s_1KX5", "exact_u8", "trunc_u8_c6"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_layer_outputs_equal_the_float_path_bit_for_bit(catalogue, name, per_channel):
    """Dequantizing inside the int8 kernel (and the fused front end) changes no output bit."""
    from torch import nn

    from xaigen.emulation import approximable_layers, approximate, calibrate

    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                          nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(4 * 5 * 5, 6)).eval()
    x = torch.randn(9, 3, 10, 10)
    ranges = calibrate(model, x)
    fast = approximate(model, name, catalogue, ranges, per_channel=per_channel, path="int8")
    slow = approximate(model, name, catalogue, ranges, per_channel=per_channel, path="lowrank")
    assert {layer.plan().path for layer in approximable_layers(fast).values()} == {"int8"}
    assert {layer.plan().path for layer in approximable_layers(slow).values()} <= {"lowrank32", "lowrank64"}
    assert torch.equal(fast(x), slow(x))


def test_a_geometry_where_the_kernel_is_inexact_falls_back_to_float64(catalogue, monkeypatch, caplog):
    """A kernel that is wrong on some geometry (torch 2.11's oneDNN was, on an AMX Xeon) is caught on
    that geometry's first call, said once, and answered exactly from then on; the probe itself
    reads the raw kernel, so a kernel wrong everywhere fails it."""
    rng = np.random.default_rng(5)
    m = catalogue["mul8s_1L2N"]
    lowering = int8.lower(low_rank_factors(m), rng.integers(0, 256, (4, 3, 3, 3)))
    stacked = torch.from_numpy(rng.integers(0, 32, (2, 3, 7, 9)).astype(np.uint8))
    stacked = stacked.contiguous(memory_format=torch.channels_last)
    calls = []

    def corrupted(*args):
        calls.append(1)
        return torch.full((2, 4, 5, 4), 7.0)

    monkeypatch.setattr(int8, "_kernel_conv2d", corrupted)
    monkeypatch.setattr(int8, "_INEXACT_GEOMETRIES", {})
    want = F.conv2d(stacked.double() - lowering.zero_point, lowering.weight.double(), stride=(1, 2))
    want = want * lowering.kernel_scales().double().reshape(1, -1, 1, 1)
    with caplog.at_level("WARNING", logger="xaigen"):
        first = int8.conv2d(stacked, lowering, (1, 2), (1, 1), 1)
        second = int8.conv2d(stacked, lowering, (1, 2), (1, 1), 1)
    assert torch.equal(first.double(), want) and torch.equal(second.double(), want)
    assert len(calls) == 1 and sum("not exact" in r.message for r in caplog.records) == 1
    assert int8.int8_conv_mode.__wrapped__() is None
