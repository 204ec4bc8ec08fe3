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
