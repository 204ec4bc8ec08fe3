"""Bit-exactness: every fast path equals the product-by-product reference."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.emulation.reference import conv2d_reference, linear_reference
from xaigen.emulation.int8 import int8_available
from xaigen.emulation.kernels import choose_path, conv2d_accumulators, linear_accumulators
from xaigen.multipliers import builtin_multipliers

BUILTINS = {m.name: m for m in builtin_multipliers()}
SIGNED_EVO = ["mul8s_1KV6", "mul8s_1KV8", "mul8s_1KV9", "mul8s_1KVA", "mul8s_1KVM", "mul8s_1KVP", "mul8s_1KVQ",
              "mul8s_1KX5", "mul8s_1KXF", "mul8s_1L12", "mul8s_1L2J", "mul8s_1L2L", "mul8s_1L2N"]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _values(rng, shape, signed, low=None, high=None):
    lo, hi = (-128, 127) if signed else (0, 255)
    return rng.integers(lo if low is None else low, (hi if high is None else high) + 1, size=shape)


conv_shapes = st.fixed_dictionaries({
    "n": st.integers(1, 3), "groups": st.sampled_from([1, 2, 3]), "cin_g": st.integers(1, 3),
    "og": st.integers(1, 3), "kh": st.integers(1, 3), "kw": st.integers(1, 4), "h": st.integers(4, 9),
    "w": st.integers(4, 9), "stride": st.tuples(st.integers(1, 2), st.integers(1, 3)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)), "seed": st.integers(0, 2**31 - 1),
})


def _check_conv(multiplier, shape, prefer="auto"):
    rng = np.random.default_rng(shape["seed"])
    cin, cout = shape["groups"] * shape["cin_g"], shape["groups"] * shape["og"]
    a = _values(rng, (shape["n"], cin, shape["h"], shape["w"]), multiplier.signed)
    w = _values(rng, (cout, shape["cin_g"], shape["kh"], shape["kw"]), multiplier.signed)
    assume(shape["h"] - shape["dilation"][0] * (shape["kh"] - 1) - 1 >= 0)
    assume(shape["w"] - shape["dilation"][1] * (shape["kw"] - 1) - 1 >= 0)
    plan = choose_path(multiplier, torch.from_numpy(w), prefer, shape["groups"])
    got = conv2d_accumulators(torch.from_numpy(a), plan, shape["stride"], shape["dilation"])
    want = conv2d_reference(a, w, multiplier.table, shape["stride"], shape["dilation"], shape["groups"])
    assert got.dtype in (torch.float32, torch.float64, torch.int32, torch.int64)
    assert np.array_equal(got.to(torch.int64).numpy(), want), (multiplier.name, plan.path)
    return plan


@pytest.mark.parametrize("name", SIGNED_EVO)
@SETTINGS
@given(shape=conv_shapes)
def test_conv_all_signed_evoapprox(evoapprox, name, shape):
    """Every signed EvoApprox table takes the int8 path on int8 weights, bit-exact."""
    plan = _check_conv(evoapprox[name], shape)
    assert plan.path == "int8" or not int8_available()


@pytest.mark.parametrize("name", ["mul8s_1KV6", "mul8s_1KX5", "mul8s_1L2N"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=conv_shapes)
def test_conv_float_fallback(evoapprox, name, shape):
    """The float low-rank path that the int8 path falls back to stays bit-exact."""
    assert _check_conv(evoapprox[name], shape, "lowrank").path == "lowrank32"


@pytest.mark.parametrize("name", sorted(BUILTINS))
@SETTINGS
@given(shape=conv_shapes)
def test_conv_builtins(name, shape):
    _check_conv(BUILTINS[name], shape)


@pytest.mark.parametrize("name", ["mul8u_1JJQ", "mul8u_ZB3", "mul8u_17MJ", "mul8u_1A0M", "mul8u_TD3", "mul8u_DG8"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=conv_shapes)
def test_conv_unsigned_evoapprox_any_rank(evoapprox, name, shape):
    _check_conv(evoapprox[name], shape)


@pytest.mark.parametrize("prefer", ["gather", "naive", "int8", "lowrank"])
@settings(max_examples=10, deadline=None)
@given(shape=conv_shapes)
def test_other_paths(prefer, shape):
    if prefer == "int8" and not int8_available():
        pytest.skip("this CPU's int8 kernels are not exact (no VNNI): the int8 path is never planned here")
    name = "trunc_s8_c4" if prefer == "int8" else "drum_s8_k4"  # DRUM's u(a) spans 272 values: no bytes
    _check_conv(BUILTINS[name], shape, prefer)


@pytest.mark.parametrize("fallback", ["numba", "int64"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=conv_shapes, name=st.sampled_from(["mitchell_s8", "mitchell_u8"]))
def test_gather_fallbacks(monkeypatch, fallback, shape, name):
    """Without the compiled C kernel (numba), and for fan-ins beyond int32 (int64 GEMM)."""
    from xaigen.emulation import gather

    if fallback == "numba":
        monkeypatch.setattr(gather, "gather_library", lambda: None)
    else:
        monkeypatch.setattr(gather, "fits_int32", lambda table, fan_in: False)
    assert _check_conv(BUILTINS[name], shape).path == "gather"


@pytest.mark.parametrize("name", SIGNED_EVO + ["mitchell_s8", "trunc_u8_c8", "mitchell_u8"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 5), k=st.integers(1, 70), o=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_linear(catalogue, name, n, k, o, seed):
    m = catalogue[name]
    rng = np.random.default_rng(seed)
    a, w = _values(rng, (n, k), m.signed), _values(rng, (o, k), m.signed)
    plan = choose_path(m, torch.from_numpy(w))
    got = linear_accumulators(torch.from_numpy(a), plan)
    assert np.array_equal(got.to(torch.int64).numpy(), linear_reference(a, w, m.table))


def test_float32_path_only_when_proven_exact(evoapprox):
    """A long dot product of extreme values exceeds 2^24: the kernel must leave float32."""
    m = evoapprox["mul8s_1KV8"]
    k = 4096
    w = torch.full((2, k), -128)
    plan = choose_path(m, w)
    assert plan.path == "lowrank64" and plan.bound >= 2**24
    a = torch.full((1, k), -128)
    got = linear_accumulators(a, plan).to(torch.int64)
    assert int(got[0, 0]) == k * int(m.table[128, 128])
    small = choose_path(m, torch.full((2, 16), 3), "lowrank")
    assert small.path == "lowrank32"
