"""Approximate call sites that are not ``nn.Conv2d`` / ``nn.Linear`` modules.

An :class:`ApproxCall` stands for one call site (:mod:`.sites`): a functional ``F.conv1d`` /
``F.conv2d`` / ``F.linear`` in a user's forward, an ``nn.Conv1d``, a MultiheadAttention's packed
in-projection, or a ``matmul`` / ``bmm`` of two activations (attention's ``Q K^T`` and ``P V``).
For each call it

1. quantizes the left operand ``A`` (an activation) to codes ``a`` with its calibrated range;
2. quantizes the right operand ``B``: a weight (conv/linear weights, matmul parameters) per output
   channel from its values, exactly as :class:`~xaigen.emulation.layers.ApproxLayer` does; an
   activation (the other operand of an attention matmul) per tensor with **its own calibrated
   range** -- both operands of an activation x activation product are 8-bit codes, as on an int8
   accelerator;
3. computes the integer accumulators ``acc = sum_k T[a_k, b_k] - z_b sum_k a_k - z_a sum_k b_k
   + K z_a z_b`` with the bit-exact kernels (:mod:`.kernels`), padding with the zero-point code;
4. returns ``s_a * s_b * acc`` (+ bias, + the ``addmm``/``baddbmm`` addend).

In training mode the value is the same, the gradient that of the fake-quantized float op
(straight-through estimator), reaching the user's own parameters passed to the call.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xaigen.emulation.device import window_sums
from xaigen.emulation.factorization import any_operand_bound, low_rank_factors
from xaigen.emulation.kernels import choose_path, conv2d_accumulators, linear_accumulators
from xaigen.emulation.quantization import QuantParams, activation_params, fake_quantize, quantize, weight_params
from xaigen.emulation.sites import Call
from xaigen.multipliers.multiplier import Multiplier


def conv_as_2d(call: Call) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple, tuple, bool]:
    """(input [N, C, H, W], weight [O, C/g, kh, kw], stride, dilation, pads (before, after) per
    dimension, whether a batch dimension was added) of a conv1d/conv2d call."""
    x, w = call.lhs, call.rhs
    unbatched = x.dim() == len(call.stride) + 1
    if unbatched:
        x = x.unsqueeze(0)
    if call.op == "conv1d":
        return (x.unsqueeze(2), w.unsqueeze(2), (1, *call.stride), (1, *call.dilation), ((0, 0), *call.pads),
                unbatched)
    return x, w, call.stride, call.dilation, call.pads, unbatched


def _zero_point_corrected(acc: torch.Tensor, a_sums: torch.Tensor, b_sums: torch.Tensor, fan_in: int, za: int,
                          zb: torch.Tensor) -> torch.Tensor:
    """``acc - z_b sum_k a_k - z_a sum_k b_k + K z_a z_b``; ``a_sums`` broadcasts over columns,
    ``b_sums`` over rows."""
    if bool(torch.any(zb != 0)):
        acc = acc - zb * a_sums
    if za:
        acc = acc - za * b_sums + fan_in * za * zb
    return acc


def _gemm(a: torch.Tensor, b: torch.Tensor, multiplier: Multiplier, za: int, zb: torch.Tensor) -> torch.Tensor:
    """Zero-point-corrected accumulators [M, N] of codes a [M, K] (float) and b [N, K] (int64)."""
    acc = linear_accumulators(a, choose_path(multiplier, b)).to(torch.int64)
    return _zero_point_corrected(acc, a.to(torch.int64).sum(dim=1, keepdim=True), b.sum(dim=1), b.shape[1], za, zb)


def _batched_low_rank(a: torch.Tensor, b: torch.Tensor, multiplier: Multiplier, za: int,
                      zb: torch.Tensor) -> torch.Tensor | None:
    """Zero-point-corrected accumulators [B, M, N] of codes a [B, M, K] (float) and b [B, K, N]
    (int64) in ONE batched float64 matmul over the table's integer factors,
    ``sum_k T[a_k, b_k] = sum_{k,r} u_r(a_k) v_r(b_k)``; exact because every partial sum is an
    integer below 2^53 (checked). None when the table has no small integer factorization or the
    bound fails: the caller then runs one product-table GEMM per batch entry.

    Activation x activation products (attention's ``Q K^T`` and ``P V``) have no fixed weight to
    plan a kernel for, so this keeps them from costing one kernel plan per batch entry and head."""
    factors = low_rank_factors(multiplier)
    if factors is None or a.numel() == 0 or b.numel() == 0:
        return None
    k, rank = a.shape[-1], factors.rank
    if any_operand_bound(factors, k) >= 2**53:
        return None
    u = torch.from_numpy(factors.u.astype(np.float64)).to(a.device)
    v = torch.from_numpy(factors.v.astype(np.float64)).to(a.device)
    ua = u[a.to(torch.int64) - factors.vmin]  # [B, M, K, R]
    vb = v[b - factors.vmin]  # [B, K, N, R]
    lhs = ua.reshape(*ua.shape[:-2], k * rank)
    rhs = vb.permute(0, 1, 3, 2).reshape(vb.shape[0], k * rank, vb.shape[2])
    acc = torch.matmul(lhs, rhs).to(torch.int64)
    return _zero_point_corrected(acc, a.to(torch.int64).sum(dim=-1, keepdim=True), b.sum(dim=-2, keepdim=True), k,
                                 za, zb)


def gemm_accumulators(a: torch.Tensor, b: torch.Tensor, multiplier: Multiplier, za: int,
                      zb: torch.Tensor) -> torch.Tensor:
    """``torch.matmul`` semantics on codes: a [..., M, K] (float codes), b [..., K, N] (int64 codes);
    ``zb`` is per output column ([N]) or one value."""
    squeeze_m, squeeze_n = a.dim() == 1, b.dim() == 1
    a = a.unsqueeze(0) if squeeze_m else a
    b = b.unsqueeze(-1) if squeeze_n else b
    zb = zb.reshape(-1) if zb.dim() else zb
    if b.dim() == 2:
        out = _gemm(a.reshape(-1, a.shape[-1]), b.T, multiplier, za, zb).reshape(*a.shape[:-1], b.shape[-1])
    else:
        batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        aa = a.expand(*batch, *a.shape[-2:]).reshape(-1, *a.shape[-2:])
        bb = b.expand(*batch, *b.shape[-2:]).reshape(-1, *b.shape[-2:])
        out = _batched_low_rank(aa, bb, multiplier, za, zb)
        if out is None:
            out = torch.stack([_gemm(aa[i], bb[i].T, multiplier, za, zb) for i in range(aa.shape[0])])
        out = out.reshape(*batch, a.shape[-2], b.shape[-1])
    out = out.squeeze(-2) if squeeze_m else out
    return out.squeeze(-1) if squeeze_n else out


def conv_accumulators(call: Call, a: torch.Tensor, w: torch.Tensor, multiplier: Multiplier, za: int,
                      zw: torch.Tensor) -> torch.Tensor:
    """Zero-point-corrected accumulators of a conv call on codes ``a`` (float, shaped like the
    input) and ``w`` (int64, shaped like the weight); padding holds the zero-point code ``za``."""
    x, w4, stride, dilation, pads, unbatched = conv_as_2d(Call(call.op, a, w, stride=call.stride, pads=call.pads,
                                                               dilation=call.dilation, groups=call.groups))
    flat_pads = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
    x = F.pad(x, flat_pads, value=float(za)) if any(flat_pads) else x
    acc = conv2d_accumulators(x, choose_path(multiplier, w4, "auto", call.groups), stride, dilation).to(torch.int64)
    cout, cin_g, kh, kw = w4.shape
    per_channel = zw.reshape(1, -1, 1, 1) if zw.dim() else zw
    if bool(torch.any(zw != 0)):
        acc = acc - per_channel * window_sums(x, w4.shape, stride, dilation, call.groups)
    if za:
        acc = acc - za * w4.reshape(cout, -1).sum(dim=1).reshape(1, -1, 1, 1) + cin_g * kh * kw * za * per_channel
    acc = acc.squeeze(2) if call.op == "conv1d" else acc
    return acc.squeeze(0) if unbatched else acc


class ApproxCall(nn.Module):
    """One approximate call site (see the module docstring); holds no weights of its own."""

    def __init__(self, name: str, lhs_range: tuple[float, float], rhs_range: tuple[float, float] | None,
                 multiplier: Multiplier, per_channel: bool = True):
        super().__init__()
        self.site = name
        self.input_range = (float(lhs_range[0]), float(lhs_range[1]))
        self.rhs_range = None if rhs_range is None else (float(rhs_range[0]), float(rhs_range[1]))
        self.per_channel = per_channel
        self.exact_only = False
        self.record_histograms = False
        self.activation_histogram = torch.zeros(256, dtype=torch.int64)
        self.rhs_histogram = torch.zeros(256, dtype=torch.int64)
        self._last_weight_codes: torch.Tensor | None = None
        self.set_multiplier(multiplier)

    def set_multiplier(self, multiplier: Multiplier) -> None:
        self.multiplier = multiplier
        self.input_params: QuantParams = activation_params(*self.input_range, multiplier.signed)

    def as_run(self, multiplier: Multiplier) -> Multiplier:
        """The multiplier as this site runs it: as it is (no weight tuning at a call site)."""
        return multiplier

    def weight_histogram(self) -> torch.Tensor:
        """Bit-pattern counts of the right operand: the weight codes (once), or the activation codes
        recorded while ``record_histograms`` was on (activation x activation sites)."""
        if self.rhs_range is not None and self._last_weight_codes is None:
            return self.rhs_histogram.clone()
        if self._last_weight_codes is None:
            return torch.zeros(256, dtype=torch.int64)
        return torch.bincount((self._last_weight_codes & 0xFF).reshape(-1), minlength=256).cpu()

    def rhs_params(self, call: Call) -> tuple[QuantParams, bool]:
        """Quantization of the right operand and whether its channel axis is the first one."""
        signed = self.multiplier.signed
        if not call.rhs_is_weight:
            if self.rhs_range is None:
                raise ValueError(f"site {self.site}: no calibrated range for its second operand")
            return activation_params(*self.rhs_range, signed), False
        if call.op in ("conv1d", "conv2d", "linear"):
            return weight_params(call.rhs, signed, self.per_channel), True
        return weight_params(call.rhs.transpose(-2, -1) if call.rhs.dim() > 1 else call.rhs.reshape(1, -1),
                             signed, self.per_channel and call.rhs.dim() == 2), False

    def _rhs_codes(self, call: Call, params: QuantParams, channel_first: bool) -> torch.Tensor:
        rhs = call.rhs.detach()
        if channel_first or params.scale.dim() == 0:
            return quantize(rhs, params, channel_dim_first=channel_first)
        return quantize(rhs.T, params, channel_dim_first=True).T  # matmul weight [K, N]: channels last

    def accumulators(self, call: Call) -> tuple[torch.Tensor, QuantParams]:
        """Integer accumulators (int64, shaped like the product) and the right operand's parameters."""
        ap = self.input_params
        bp, channel_first = self.rhs_params(call)
        a = quantize(call.lhs.detach(), ap, dtype=torch.float32)
        b = self._rhs_codes(call, bp, channel_first)
        za = int(ap.zero_point)
        if call.op in ("conv1d", "conv2d"):
            acc = conv_accumulators(call, a, b, self.multiplier, za, bp.zero_point)
        elif call.op == "linear":
            acc = gemm_accumulators(a, b.T, self.multiplier, za, bp.zero_point)
        else:
            acc = gemm_accumulators(a, b, self.multiplier, za, bp.zero_point)
        if self.record_histograms:
            self.activation_histogram += torch.bincount((a.to(torch.int64) & 0xFF).reshape(-1), minlength=256).cpu()
            if call.rhs_is_weight:
                self._last_weight_codes = b
            else:
                self.rhs_histogram += torch.bincount((b & 0xFF).reshape(-1), minlength=256).cpu()
        elif call.rhs_is_weight:
            self._last_weight_codes = b
        return acc, bp

    def _scale(self, call: Call, bp: QuantParams, acc: torch.Tensor) -> torch.Tensor:
        scale = bp.scale * self.input_params.scale
        if scale.dim() == 0:
            return scale
        if call.op.startswith("conv"):
            return scale.reshape((-1,) + (1,) * len(call.stride))
        return scale  # linear / matmul weight: per output column, the last axis

    def forward(self, call: Call, training: bool = False) -> torch.Tensor:
        with torch.no_grad():
            acc, bp = self.accumulators(call)
            y = call.finish(acc.to(torch.float32) * self._scale(call, bp, acc))
        if not (training and torch.is_grad_enabled()):
            return y
        lhs = fake_quantize(call.lhs, self.input_params)
        if call.rhs_is_weight and call.op in ("conv1d", "conv2d", "linear"):
            rhs = fake_quantize(call.rhs, bp, channel_dim_first=True)
        elif bp.scale.dim():
            rhs = fake_quantize(call.rhs.T, bp, channel_dim_first=True).T
        else:
            rhs = fake_quantize(call.rhs, bp)
        y_fq = call.finish(float_product(call, lhs, rhs))
        return y_fq + (y - y_fq).detach()

    def extra_repr(self) -> str:
        return f"site={self.site}, multiplier={self.multiplier.name}, input_range={self.input_range}"


def float_product(call: Call, lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """The call's product (no bias, no addend) in float, on the given operands."""
    if call.op in ("conv1d", "conv2d"):
        x, w, stride, dilation, pads, unbatched = conv_as_2d(Call(call.op, lhs, rhs, stride=call.stride,
                                                                  pads=call.pads, dilation=call.dilation))
        x = F.pad(x, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
        y = F.conv2d(x, w, None, stride, 0, dilation, call.groups)
        y = y.squeeze(2) if call.op == "conv1d" else y
        return y.squeeze(0) if unbatched else y
    if call.op == "linear":
        return F.linear(lhs, rhs)
    return torch.matmul(lhs, rhs)
