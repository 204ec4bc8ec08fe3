"""The one-pass dequantization (``kernels.dequantize_``) equals ``mul_`` then ``add_`` bit for bit
(two roundings, no fused multiply-add) on every layout it takes, and declines the others."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xaigen.emulation.kernels import dequantize_, per_channel_


def _two_passes(y, scale, bias, channel_dim):
    y = y.clone()
    if channel_dim == 1 and y.dim() == 4:
        per_channel_(y, scale, torch.Tensor.mul_)
        if bias is not None:
            per_channel_(y, bias, torch.Tensor.add_)
        return y
    y.mul_(scale)
    return y if bias is None else y.add_(bias)


cases = st.fixed_dictionaries({
    "layout": st.sampled_from(["nchw", "channels_last", "linear", "linear3d"]),
    "n": st.integers(1, 3), "c": st.integers(1, 9), "h": st.integers(1, 5), "w": st.integers(1, 5),
    "per_channel": st.booleans(), "bias": st.booleans(), "seed": st.integers(0, 2**31 - 1),
})


@settings(max_examples=60, deadline=None)
@given(cases)
def test_one_pass_equals_two_torch_passes_bit_for_bit(case):
    g = torch.Generator().manual_seed(case["seed"])
    n, c, h, w = case["n"], case["c"], case["h"], case["w"]
    shape = {"nchw": (n, c, h, w), "channels_last": (n, c, h, w), "linear": (n * h, c), "linear3d": (n, h, c)}
    acc = torch.randint(-2**26, 2**26, shape[case["layout"]], generator=g).to(torch.float32)  # beyond 2^24 too
    acc[acc.abs() < 2**20] = 0.0  # zeros: a negative scale makes -0.0, which bias must keep or turn as torch does
    if case["layout"] == "channels_last":
        acc = acc.contiguous(memory_format=torch.channels_last)
    scale = (torch.rand(c if case["per_channel"] else (), generator=g) - 0.3) * 1e-5
    bias = torch.randn(c, generator=g) if case["bias"] else None
    channel_dim = 1 if case["layout"] in ("nchw", "channels_last") else -1
    expected = _two_passes(acc, scale, bias, channel_dim)
    y = acc.clone(memory_format=torch.preserve_format)
    assert dequantize_(y, scale, bias, channel_dim)
    assert np.array_equal(y.numpy().view(np.int32), expected.numpy().view(np.int32))  # bit patterns, -0.0 too


def test_what_it_does_not_take_is_left_to_the_caller():
    y = torch.ones(2, 3, 4, 4)
    assert not dequantize_(y.to(torch.float64), torch.ones(3), None, 1)  # float64 accumulators
    assert not dequantize_(y[:, :, ::2], torch.ones(3), None, 1)  # neither contiguous nor channels-last
    assert not dequantize_(y, torch.ones(2), None, 1)  # a scale per something else
    assert not dequantize_(y, torch.ones(3), torch.ones(4), 1)
    assert torch.equal(y, torch.ones(2, 3, 4, 4))  # untouched
