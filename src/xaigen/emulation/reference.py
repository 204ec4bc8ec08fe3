"""Naive reference: look up every single product in the table, then sum.

This is what "simulating approximate multipliers" costs without a trick (the paper's complaint),
and the ground truth the fast kernels are tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xaigen.emulation.tables import conv_output_size, value_ordered_table, vmin

CHUNK_ELEMENTS = 2**24  # products materialised at once


def _table(plan) -> torch.Tensor:
    return torch.from_numpy(value_ordered_table(plan.multiplier).astype("int64"))


def _lookup_sum(a_index: torch.Tensor, w_index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """out[m, o] = sum_k table[a_index[m, k], w_index[o, k]], in bounded memory."""
    m, k = a_index.shape
    out = torch.empty((m, w_index.shape[0]), dtype=torch.int64)
    step = max(1, CHUNK_ELEMENTS // max(1, k * w_index.shape[0]))
    flat = table.reshape(-1)
    for start in range(0, m, step):
        a = a_index[start : start + step]
        out[start : start + step] = flat[a[:, None, :] * 256 + w_index[None, :, :]].sum(-1)
    return out


def naive_conv2d_accumulators(a_values, plan, stride=(1, 1), dilation=(1, 1)) -> torch.Tensor:
    low = vmin(plan.multiplier)
    n = a_values.shape[0]
    cout, cin_g, kh, kw = plan.weight_index.shape
    groups = plan.groups
    cols = F.unfold((a_values.to(torch.int64) - low).double(), (kh, kw), dilation=dilation, stride=stride)
    cols = cols.to(torch.int64)
    length = cols.shape[2]
    h_out = conv_output_size(a_values.shape[2], kh, stride[0], dilation[0])
    w_out = conv_output_size(a_values.shape[3], kw, stride[1], dilation[1])
    cols = cols.view(n, groups, cin_g * kh * kw, length)
    table = _table(plan)
    og = cout // groups
    out = torch.empty((n, cout, length), dtype=torch.int64)
    for g in range(groups):
        a = cols[:, g].permute(0, 2, 1).reshape(-1, cin_g * kh * kw)
        w = plan.weight_index[g * og : (g + 1) * og].reshape(og, -1)
        out[:, g * og : (g + 1) * og] = _lookup_sum(a, w, table).view(n, length, og).permute(0, 2, 1)
    return out.view(n, cout, h_out, w_out)


def naive_linear_accumulators(a_values, plan) -> torch.Tensor:
    return _lookup_sum(a_values.to(torch.int64) - vmin(plan.multiplier), plan.weight_index, _table(plan))
