"""Post-training 8-bit quantization: the integer operands that the multipliers see.

A real value ``x`` is represented by an integer code ``q`` with ``x ~ s * (q - z)`` (scale ``s``,
zero-point ``z``). The code range depends on the multiplier a layer uses:

* signed multiplier: codes in [-128, 127]; weights symmetric (``z = 0``, ``s = max|w| / 127``);
  activations symmetric too (``z = 0``), so a ReLU output uses codes 0..127 and padding is code 0
  — exactly what an int8 systolic array does.
* unsigned multiplier: codes in [0, 255]; activations ``z = round(-min / s)`` (0 after a ReLU),
  weights asymmetric with a zero-point per channel (TFApprox/ALWANN style).

With approximate products ``T[a, w]`` the accumulator is corrected for the zero-points exactly:

    acc = sum_k T[a_k, w_k] - z_w sum_k a_k - z_a sum_k w_k + K z_a z_w

and the layer output is ``s_a * s_w * acc + bias``. With the exact table this *is* plain integer
quantized inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CODE_RANGE = {True: (-128, 127), False: (0, 255)}


@dataclass(frozen=True)
class QuantParams:
    """Scale (real units per code step) and zero-point of a tensor or of each output channel."""

    scale: torch.Tensor  # float32, shape [] (per tensor) or [C] (per channel)
    zero_point: torch.Tensor  # int64, same shape
    signed: bool


def true_divide(a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """``a / b`` rounded once, as IEEE division, on every device. CUDA computes a tensor divided by
    a CPU scalar as ``a * (1 / b)``, which can differ in the last bit and so move a code across a
    rounding boundary: GPU and CPU codes would then differ. A divisor on ``a``'s device is divided
    element by element."""
    if a.device.type == "cpu":
        return a / b
    return a / torch.as_tensor(b, dtype=torch.result_type(a, b)).to(a.device)


def activation_params(low: float, high: float, signed: bool) -> QuantParams:
    """Per-tensor parameters for activations observed in [low, high]."""
    qmin, qmax = CODE_RANGE[signed]
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if signed:
        scale = max(abs(low), abs(high)) / qmax
        zero = 0
    else:
        scale = (high - low) / (qmax - qmin)
        zero = int(round(qmin - low / scale)) if scale > 0 else 0
    scale = scale if scale > 0 else 1.0
    return QuantParams(torch.tensor(scale, dtype=torch.float32), torch.tensor(zero, dtype=torch.int64), signed)


def weight_params(weight: torch.Tensor, signed: bool, per_channel: bool) -> QuantParams:
    """Parameters for a weight tensor ``[Cout, ...]``, per output channel or per tensor."""
    w = weight.detach().to(torch.float32)
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    qmin, qmax = CODE_RANGE[signed]
    if signed:
        scale = true_divide(flat.abs().amax(dim=1), qmax)
        zero = torch.zeros_like(scale, dtype=torch.int64)
    else:
        low = flat.amin(dim=1).clamp(max=0.0)
        high = flat.amax(dim=1).clamp(min=0.0)
        scale = true_divide(high - low, qmax - qmin)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        zero = torch.round(qmin - low / safe).to(torch.int64).clamp(qmin, qmax)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    if not per_channel:
        scale, zero = scale[0], zero[0]
    return QuantParams(scale, zero, signed)


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-channel values [C] shaped to broadcast against ``like`` [C, ...]."""
    return values.reshape(-1, *([1] * (like.dim() - 1))) if values.dim() else values


def quantize(x: torch.Tensor, params: QuantParams, channel_dim_first: bool = False,
             dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """Integer codes of ``x``: ``clamp(round(x / s) + z)``, as ``dtype`` (a float dtype holds them
    exactly and saves conversions on the hot path)."""
    qmin, qmax = CODE_RANGE[params.signed]
    scale, zero = params.scale, params.zero_point
    if channel_dim_first:
        scale, zero = _broadcast(scale, x), _broadcast(zero, x)
    codes = torch.round(true_divide(x, scale))
    if bool(torch.any(zero != 0)):
        codes = codes + zero
    return torch.clamp(codes, qmin, qmax).to(dtype)


def fake_quantize(x: torch.Tensor, params: QuantParams, channel_dim_first: bool = False) -> torch.Tensor:
    """``s * (q - z)`` with a straight-through gradient (identity inside the clamp range)."""
    qmin, qmax = CODE_RANGE[params.signed]
    scale, zero = params.scale, params.zero_point
    if channel_dim_first:
        scale, zero = _broadcast(scale, x), _broadcast(zero, x)
    scaled = true_divide(x, scale) + zero
    rounded = scaled + (torch.round(scaled) - scaled).detach()
    return (torch.clamp(rounded, qmin, qmax) - zero) * scale
