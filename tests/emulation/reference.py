"""A test-local, obviously-correct reference: every product looked up in the bit-pattern table."""

import numpy as np


def conv2d_reference(a: np.ndarray, w: np.ndarray, table: np.ndarray, stride, dilation, groups) -> np.ndarray:
    """sum_k table[a_k & 0xFF, w_k & 0xFF] for an already padded input a[N, Cin, H, W]."""
    n, cin, h, wd = a.shape
    cout, cin_g, kh, kw = w.shape
    ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = cout // groups
    out = np.zeros((n, cout, ho, wo), dtype=np.int64)
    a_bits, w_bits = a & 0xFF, w & 0xFF
    for o in range(cout):
        g = o // og
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (ho - 1) + 1, stride[0])
                cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (wo - 1) + 1, stride[1])
                for c in range(cin_g):
                    patch = a_bits[:, g * cin_g + c, rows, cols]
                    out[:, o] += table[patch, w_bits[o, c, i, j]]
    return out


def linear_reference(a: np.ndarray, w: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[(a & 0xFF)[:, None, :], (w & 0xFF)[None, :, :]].astype(np.int64).sum(-1)


def corrected(raw, a_sum, w_sum, za, zw, fan_in):
    """Zero-point correction: sum T[a, w] - z_w sum a - z_a sum w + K z_a z_w."""
    return raw - zw * a_sum - za * w_sum + fan_in * za * zw


def conv2d_corrected_reference(a, w, table, value_table, stride, dilation, groups, za, zw):
    """Corrected accumulators of an already padded conv; ``value_table[i, j]`` is the value of code
    bit pattern i (so a sum of T = value_table over a window is sum a)."""
    raw = conv2d_reference(a, w, table, stride, dilation, groups)
    a_sum = conv2d_reference(a, np.ones_like(w), value_table, stride, dilation, groups)
    w_sum = w.reshape(w.shape[0], -1).sum(1).reshape(1, -1, 1, 1)
    zw = np.asarray(zw).reshape(1, -1, 1, 1) if np.ndim(zw) else zw
    return corrected(raw, a_sum, w_sum, za, zw, w[0].size)


def gemm_corrected_reference(a, b, table, za, zb):
    """Corrected accumulators [M, N] of codes a [M, K] and b [N, K]."""
    raw = linear_reference(a, b, table)
    zb = np.asarray(zb).reshape(1, -1) if np.ndim(zb) else zb
    return corrected(raw, a.sum(1, keepdims=True), b.sum(1).reshape(1, -1), za, zb, a.shape[1])


def layer_inputs(approx_model, x) -> dict:
    """The input each approximable layer of ``approx_model`` receives in one forward pass of ``x``."""
    from xaigen.emulation import approximable_layers

    inputs = {}
    hooks = [layer.register_forward_pre_hook(lambda mod, args, name=name: inputs.__setitem__(name, args[0]))
             for name, layer in approximable_layers(approx_model).items()]
    try:
        approx_model(x)
    finally:
        for h in hooks:
            h.remove()
    return inputs
