"""The fused gather path: C quantize-and-pad front end and in-kernel zero-point corrections."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.emulation.reference import conv2d_reference
from xaigen.emulation import gather
from xaigen.emulation.kernels import choose_path, gather_conv2d_from
from xaigen.emulation.quantization import QuantParams, quantize
from xaigen.emulation.tables import vmin
from xaigen.multipliers import operand_values

needs_native = pytest.mark.skipif(gather.gather_library() is None, reason="no C compiler: numba fallback only")


@needs_native
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 7), w=st.integers(1, 7), top=st.integers(0, 2),
       left=st.integers(0, 2), zero=st.integers(0, 60), signed=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_quantize_pad_equals_quantize_then_pad(n, c, h, w, top, left, zero, signed, seed):
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 3
    zero = 0 if signed else zero
    low = -128 if signed else 0
    params = QuantParams(torch.tensor(0.0291), torch.tensor(zero), signed)
    want = F.pad(quantize(x, params), (left, left, top, top), value=zero) - low
    got = gather.quantize_pad(x, 0.0291, zero, (low, low + 255), low, (top, left), zero)
    assert np.array_equal(got, want.numpy().astype(np.uint8))


@needs_native
@pytest.mark.parametrize("name", ["mitchell_u8", "mitchell_s8", "trunc_u8_c8"])
@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 9), cin=st.integers(1, 5), cout=st.integers(1, 6), size=st.integers(1, 9),
       stride=st.integers(1, 2), pad=st.integers(0, 1), za=st.integers(0, 30), seed=st.integers(0, 2**31 - 1))
def test_corrected_gather_equals_product_by_product(catalogue, name, n, cin, cout, size, stride, pad, za, seed):
    """raw - z_w sum a - z_a sum w + K z_a z_w, every product looked up in the table."""
    assume(size + 2 * pad >= 3)
    m = catalogue[name]
    za = 0 if m.signed else za
    rng = np.random.default_rng(seed)
    w = rng.integers(vmin(m), vmin(m) + 256, (cout, cin, 3, 3))
    zw = torch.from_numpy(rng.integers(vmin(m), vmin(m) + 256, cout) * (0 if m.signed else 1))
    x = torch.from_numpy(rng.normal(size=(n, cin, size, size)).astype(np.float32)) * 2
    params = QuantParams(torch.tensor(0.05), torch.tensor(za), m.signed)
    plan = choose_path(m, torch.from_numpy(w), "gather")
    got = gather_conv2d_from(x, 0.05, za, plan, (stride, stride), (1, 1), (pad, pad), zw)
    a = np.pad(quantize(x, params).numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=za)
    raw = conv2d_reference(a, w, m.table, (stride, stride), (1, 1), 1)
    a_table = np.repeat(operand_values(m.signed)[:, None], 256, axis=1)
    a_sum = conv2d_reference(a, np.ones_like(w), a_table, (stride, stride), (1, 1), 1)
    zw_b = zw.numpy().reshape(1, -1, 1, 1)
    w_sum = w.reshape(cout, -1).sum(1).reshape(1, -1, 1, 1)
    want = raw - zw_b * a_sum - za * w_sum + 9 * cin * za * zw_b
    assert np.array_equal(got.numpy(), want)
