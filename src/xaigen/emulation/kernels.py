"""Bit-exact approximate Conv2d / Linear accumulators.

Every function here returns the integer accumulators ``acc[n, o, ...] = sum_k T[a_k, w_k]``
(as a float tensor holding exact integers, or int64) for operand *values* ``a`` (activations,
already padded with the activation zero-point where the layer pads) and ``w`` (weights).

Four paths, chosen per layer by :func:`choose_path`:

* ``int8`` (:mod:`xaigen.emulation.int8`): the factors rewritten as bytes and run as ONE int8
  convolution / matmul with int32 accumulation (oneDNN, ``torch._int_mm``); first choice for
  every low-rank table whose byte factors fit and whose bound is proven, on CPUs where the int8
  kernels pass an exactness probe (on CPUs without VNNI, whose conv adds products in saturating
  int16 pairs, with a lowering that keeps every pair in int16). The quantize-and-lookup front end is
  :mod:`xaigen.emulation.frontend`; convolutions with few stacked input channels run on the
  direct kernel of :mod:`xaigen.emulation.direct` instead of oneDNN.
* ``lowrank32`` / ``lowrank64``: one float32 (float64) convolution over ``R`` stacked
  channels, using the exact integer factors of :mod:`xaigen.emulation.factorization`. Chosen only
  when :func:`~xaigen.emulation.factorization.accumulation_bound` proves every partial sum is
  below 2^24 (2^53), so the float result *is* the integer result.
* ``gather`` (:mod:`xaigen.emulation.gather`): for high-rank tables, a C kernel built at run time
  that holds each weight's table column in AVX-512 registers (numba fallback), int32 accumulators
  where the fan-in allows, else an int64 numba im2col + table-gather GEMM.
* ``naive`` (:mod:`xaigen.emulation.reference`): the obvious PyTorch gather, for tests/benchmarks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import torch
import torch.nn.functional as F

from xaigen.emulation import direct, gather, int8
from xaigen.emulation.device import exact_conv2d, exact_matmul, on_cpu
from xaigen.emulation.factorization import LowRankFactors, accumulation_bound, low_rank_factors
from xaigen.emulation.frontend import lookup_conv_input, lookup_rows
from xaigen.emulation.reference import naive_conv2d_accumulators, naive_linear_accumulators
from xaigen.emulation.tables import conv_output_size, value_ordered_table, vmin
from xaigen.multipliers.multiplier import Multiplier

Path = Literal["int8", "lowrank32", "lowrank64", "gather", "naive"]
FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53


@dataclass(frozen=True)
class KernelPlan:
    """How one layer computes its accumulators, and the prepared weight-side operand."""

    path: Path
    multiplier: Multiplier
    factors: LowRankFactors | None
    bound: int | None  # proven bound on partial sums (lowrank paths)
    stacked_weight: torch.Tensor | None  # lowrank: [Cout, Cin_g * R, *kernel] float
    weight_index: torch.Tensor  # int64 value-ordered weight indices, same shape as the weight
    groups: int = 1
    lowering: int8.Int8Lowering | None = None  # int8 path: byte factors and packed weights


def choose_path(multiplier: Multiplier, weight_values: torch.Tensor, prefer: str = "auto", groups: int = 1) -> KernelPlan:
    """Prepare a :class:`KernelPlan` for fixed integer weights (values, not bit patterns).

    ``prefer``: ``auto`` (int8 where possible, else the float low-rank path, else gather),
    ``int8``, ``lowrank`` (float only), ``lowrank32``, ``lowrank64``, ``gather`` or ``naive``.
    """
    index = (weight_values.to(torch.int64) - vmin(multiplier)).contiguous()
    if index.numel() and (index.min() < 0 or index.max() > 255):
        raise ValueError(f"weight values outside the {'signed' if multiplier.signed else 'unsigned'} 8-bit range")
    if prefer in ("gather", "naive"):
        return KernelPlan(prefer, multiplier, None, None, None, index, groups)
    factors = low_rank_factors(multiplier)
    if factors is not None and prefer in ("auto", "int8") and index.device.type == "cpu":
        lowering = _int8_lowering(factors, index.numpy())
        if lowering is not None:
            return KernelPlan("int8", multiplier, factors, lowering.total_bound, None, index, groups, lowering)
    if factors is not None:
        bound = accumulation_bound(index.cpu().numpy(), factors)
        for path, limit, dtype in (("lowrank32", FLOAT32_EXACT, torch.float32), ("lowrank64", FLOAT64_EXACT, torch.float64)):
            if bound < limit and prefer in ("auto", path, "lowrank"):
                v = torch.from_numpy(factors.v).to(device=index.device, dtype=dtype)[index]  # [Cout, Cin_g, *k, R]
                dims = v.dim()
                stacked = v.permute(0, 1, dims - 1, *range(2, dims - 1))  # [Cout, Cin_g, R, *k]
                stacked = stacked.reshape(v.shape[0], -1, *v.shape[2 : dims - 1]).contiguous()
                return KernelPlan(path, multiplier, factors, bound, stacked, index, groups)
    if prefer not in ("auto", "gather"):
        raise ValueError(f"path '{prefer}' cannot be used exactly for {multiplier.name} with these weights")
    return KernelPlan("gather", multiplier, None, None, None, index, groups)


def _int8_lowering(factors: LowRankFactors, index: np.ndarray) -> int8.Int8Lowering | None:
    """The layer's int8 lowering where this CPU's kernel is exact on it, else None: linear layers
    (2-D weights) run on ``torch._int_mm``, convolutions on oneDNN's conv (:func:`int8.int8_conv_mode`)."""
    if index.ndim == 2:
        return int8.lower(factors, index) if int8.int8_matmul_exact() else None
    mode = int8.int8_conv_mode()
    return None if mode is None else int8.lower(factors, index, int16_pairs=mode == "int16-pairs")


@numba.njit(parallel=True, cache=True, nogil=True)
def _quantize_stack(x: np.ndarray, scale: np.float32, qmin: int, qmax: int, vmin: int,
                    u: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """out[p, r, i] = u[clamp(rint(x[p, i] / scale)) - vmin, r]: quantize and look up in one pass.

    ``x`` is float32[P, L] (P = N*C planes), the result float32[P, R, L]. IEEE float32 division
    and round-half-to-even match ``torch.round(x / scale)`` exactly.
    """
    planes, length = x.shape
    rank = u.shape[1]
    out = np.empty((planes, rank, length), dtype=np.float32)
    for p in numba.prange(planes):
        for i in range(length):
            q = np.rint(x[p, i] / scale)
            q = min(max(q, qmin), qmax)
            row = int(q) - vmin
            for r in range(rank):
                out[p, r, i] = u[row, r]
    return out


def quantize_and_stack(x: torch.Tensor, scale: float, signed: bool, plan: KernelPlan) -> torch.Tensor | None:
    """Fused symmetric quantization (zero-point 0) and factor lookup for a float32 lowrank plan.

    ``x`` is float32 [N, C, *spatial] or [N, K]; returns the stacked input [N, C*R, *spatial]
    (channel ``c*R + r``), or None when the plan has no use for it (identity or non-float32).
    """
    if plan.path != "lowrank32" or plan.factors is None or plan.factors.is_identity or plan.factors.rank == 0 \
            or x.device.type != "cpu":
        return None
    qmin, qmax = (-128, 127) if signed else (0, 255)
    n, c = x.shape[0], x.shape[1]
    planes = np.ascontiguousarray(x.detach().numpy().reshape(n * c, -1), dtype=np.float32)
    u = _float_factors(plan.factors)
    out = _quantize_stack(planes, np.float32(scale), qmin, qmax, plan.factors.vmin, u)
    return torch.from_numpy(out).reshape(n, c * plan.factors.rank, *x.shape[2:])


def _float_factors(factors: LowRankFactors) -> np.ndarray:
    return np.ascontiguousarray(factors.u, dtype=np.float32)


def stacked_conv2d(stacked: torch.Tensor, plan: KernelPlan, stride=(1, 1), dilation=(1, 1), padding=(0, 0)) -> torch.Tensor:
    """The lowrank conv on an already stacked input (see :func:`quantize_and_stack`), exact by
    :func:`~xaigen.emulation.device.exact_conv2d` (no Winograd/FFT/TF32, cuDNN only where checked)."""
    return exact_conv2d(stacked, plan.stacked_weight, plan.factors.input_bound, stride, padding, dilation, plan.groups)


def stacked_linear(stacked: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
    """The lowrank matmul on an already stacked input (on the CPU where the device is not exact)."""
    return exact_matmul(stacked, plan.stacked_weight)


def _stack_inputs(a_values: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
    """[N, C, *spatial] values -> [N, C * R, *spatial] factor channels ``u_r(a)``."""
    assert plan.factors is not None and plan.stacked_weight is not None
    dtype = plan.stacked_weight.dtype
    if plan.factors.is_identity:
        return a_values.to(dtype)
    index = a_values.to(torch.int64) - plan.factors.vmin
    table = torch.from_numpy(plan.factors.u).to(device=a_values.device, dtype=dtype)
    if plan.factors.rank == 1:
        return table[:, 0][index]
    stacked = F.embedding(index, table)  # [N, C, *spatial, R]
    dims = stacked.dim()
    stacked = stacked.permute(0, 1, dims - 1, *range(2, dims - 1))
    return stacked.reshape(a_values.shape[0], -1, *a_values.shape[2:])


@numba.njit(parallel=True, cache=True, nogil=True)
def _gather_gemm(cols: np.ndarray, weights_t: np.ndarray, table: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """out[m, o] = sum_k table[cols[m, k], weights_t[k, o]] (all value-ordered indices)."""
    m_size, k_size = cols.shape
    o_size = weights_t.shape[1]
    out = np.zeros((m_size, o_size), dtype=np.int64)
    for m in numba.prange(m_size):
        acc = np.zeros(o_size, dtype=np.int64)
        for k in range(k_size):
            row = table[cols[m, k]]
            wk = weights_t[k]
            for o in range(o_size):
                acc[o] += row[wk[o]]
        out[m] = acc
    return out


def _gather_conv2d(a_values, plan: KernelPlan, stride, dilation) -> torch.Tensor:
    n = a_values.shape[0]
    cout, cin_g, kh, kw = plan.weight_index.shape
    h_out = conv_output_size(a_values.shape[2], kh, stride[0], dilation[0])
    w_out = conv_output_size(a_values.shape[3], kw, stride[1], dilation[1])
    table = value_ordered_table(plan.multiplier)
    codes = (a_values.to(torch.int64) - vmin(plan.multiplier)).to(torch.uint8).numpy()
    weights = plan.weight_index.to(torch.uint8).numpy()
    if gather.fits_int32(table, cin_g * kh * kw):
        out = gather.conv2d(codes, weights, table, stride, dilation, plan.groups, (h_out, w_out))
        return torch.from_numpy(out).view(n, cout, h_out, w_out)
    return _gather_conv2d_int64(a_values, plan, stride, dilation)


def _gather_conv2d_int64(a_values, plan: KernelPlan, stride, dilation) -> torch.Tensor:
    """int64 im2col + gather GEMM, for fan-ins whose sums may overflow int32."""
    n = a_values.shape[0]
    cout, cin_g, kh, kw = plan.weight_index.shape
    groups = plan.groups
    index = (a_values.to(torch.int64) - vmin(plan.multiplier)).to(torch.float32)
    cols = F.unfold(index, (kh, kw), dilation=dilation, stride=stride)  # [N, Cin*kh*kw, L]
    h_out = conv_output_size(a_values.shape[2], kh, stride[0], dilation[0])
    w_out = conv_output_size(a_values.shape[3], kw, stride[1], dilation[1])
    length = cols.shape[2]
    cols = cols.view(n, groups, cin_g * kh * kw, length)
    table = value_ordered_table(plan.multiplier)
    og = cout // groups
    out = torch.empty((n, cout, length), dtype=torch.int64)
    for g in range(groups):
        a_mat = cols[:, g].permute(0, 2, 1).reshape(-1, cin_g * kh * kw).to(torch.uint8).numpy()
        w_t = plan.weight_index[g * og : (g + 1) * og].reshape(og, -1).t().contiguous().to(torch.uint8).numpy()
        res = torch.from_numpy(_gather_gemm(a_mat, w_t, table))  # [N*L, og]
        out[:, g * og : (g + 1) * og] = res.view(n, length, og).permute(0, 2, 1)
    return out.view(n, cout, h_out, w_out)


def _zero_output(a_values, plan: KernelPlan, stride, dilation) -> torch.Tensor:
    cout, _, kh, kw = plan.weight_index.shape
    h = conv_output_size(a_values.shape[2], kh, stride[0], dilation[0])
    w = conv_output_size(a_values.shape[3], kw, stride[1], dilation[1])
    return torch.zeros((a_values.shape[0], cout, h, w), dtype=plan.stacked_weight.dtype, device=a_values.device)


def pads_natively(plan: KernelPlan, pad_value: float) -> bool:
    """Whether the stacked conv may pad by itself with zeros: true when every factor maps the
    padding code to 0 (then a padded product contributes 0, as in the table's own padding)."""
    if plan.path == "int8":
        return True  # the int8 front end writes the padding code itself
    if plan.factors is None or plan.path not in ("lowrank32", "lowrank64"):
        return False
    index = int(pad_value) - plan.factors.vmin
    return 0 <= index < 256 and not plan.factors.u[index].any()


def conv2d_accumulators(a_values: torch.Tensor, plan: KernelPlan, stride=(1, 1), dilation=(1, 1),
                        padding=(0, 0)) -> torch.Tensor:
    """Accumulators of an approximate conv; ``a_values`` is [N, Cin, H, W].

    ``padding`` (rows, columns) is only allowed when :func:`pads_natively` holds for code 0;
    otherwise pad ``a_values`` with the padding code beforehand.
    """
    if any(padding) and not pads_natively(plan, 0):
        raise ValueError("this plan cannot pad natively: pad the input codes first")
    if a_values.device.type != "cpu" and plan.path in ("naive", "gather", "int8"):  # CPU kernels
        return on_cpu(conv2d_accumulators, a_values, plan=_plan_on_cpu(plan), stride=stride, dilation=dilation,
                      padding=padding)
    if plan.path == "naive":
        return naive_conv2d_accumulators(a_values, plan, stride, dilation)
    if plan.path == "gather":
        return _gather_conv2d(a_values, plan, stride, dilation)
    if plan.path == "int8":
        return int8_conv2d_from(a_values, 1.0, 0, plan, stride, dilation, padding, pad_code=0)
    if plan.factors.rank == 0:  # a table of zeros: every accumulator is 0
        return _zero_output(F.pad(a_values, (padding[1],) * 2 + (padding[0],) * 2), plan, stride, dilation)
    return stacked_conv2d(_stack_inputs(a_values, plan), plan, stride, dilation, padding)


def linear_accumulators(a_values: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
    """Accumulators of an approximate linear layer; ``a_values`` is [N, K]."""
    if a_values.device.type != "cpu" and plan.path in ("naive", "gather", "int8"):  # CPU kernels
        return on_cpu(linear_accumulators, a_values, plan=_plan_on_cpu(plan))
    if plan.path == "naive":
        return naive_linear_accumulators(a_values, plan)
    if plan.path == "gather":
        index = (a_values.to(torch.int64) - vmin(plan.multiplier)).to(torch.uint8).numpy()
        w_t = plan.weight_index.t().contiguous().to(torch.uint8).numpy()
        return torch.from_numpy(_gather_gemm(index, w_t, value_ordered_table(plan.multiplier)))
    if plan.path == "int8":
        return int8_linear_from(a_values, 1.0, 0, plan)
    if plan.factors.rank == 0:
        return torch.zeros((a_values.shape[0], plan.weight_index.shape[0]), dtype=plan.stacked_weight.dtype,
                           device=a_values.device)
    return stacked_linear(_stack_inputs(a_values, plan), plan)


def _plan_on_cpu(plan: KernelPlan) -> KernelPlan:
    return dataclasses.replace(plan, weight_index=plan.weight_index.cpu())


def _code_range(plan: KernelPlan) -> tuple[int, int]:
    low = vmin(plan.multiplier)
    return low, low + 255


def int8_conv2d_from(x: torch.Tensor, scale: float, zero: int, plan: KernelPlan, stride=(1, 1), dilation=(1, 1),
                     padding=(0, 0), pad_code: int = 0, output_scales: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None) -> torch.Tensor:
    """Accumulators of an int8 plan for float input ``x`` quantized as ``clamp(rint(x / scale) + zero)``
    (``scale = 1, zero = 0`` for inputs that already are codes), padded with ``pad_code``; with
    ``output_scales`` (only where :func:`int8.dequantize_in_kernel`) ``float32(acc) * output_scales``,
    plus ``bias`` per output channel where given. Layers with few input channels take the direct
    kernel (:mod:`.direct`), the others oneDNN's convolution."""
    lowering = plan.lowering
    assert lowering is not None and (bias is None or output_scales is not None)
    code_range, low = _code_range(plan), vmin(plan.multiplier)
    if pad_code == zero and direct.applies(lowering, stride, dilation, plan.groups, x.shape[3], padding):
        scales = lowering.kernel_scales() if output_scales is None else output_scales * lowering.part_scales[0]
        return direct.conv2d(x, scale, zero, code_range, low, lowering, tuple(padding), scales, bias)
    stacked = lookup_conv_input(x, scale, zero, code_range, low, lowering.act_table, tuple(padding), pad_code,
                                scratch=True)  # consumed by the conv below, before any other front end runs
    out = int8.conv2d(stacked, lowering, stride, dilation, plan.groups, output_scales)
    if output_scales is None:
        return int8.combine_parts(out, lowering)
    return out if bias is None else per_channel_(out, bias, torch.Tensor.add_)


def per_channel_(y: torch.Tensor, values: torch.Tensor, op) -> torch.Tensor:
    """``op(y, values)`` in place on a conv output [N, C, H, W], one value per channel (or a scalar).
    A channels-last ``y`` is treated as rows of ``W * C`` with ``values`` tiled ``W`` times: the same
    element-wise operation, but an innermost dimension of few channels vectorizes poorly (LeNet's
    6 channels: 5x slower)."""
    if values.dim() and not y.is_contiguous() and y.is_contiguous(memory_format=torch.channels_last):
        n, c, h, w = y.shape
        op(y.permute(0, 2, 3, 1).view(n * h, w * c), values.to(y.dtype).repeat(w))
        return y
    return op(y, values.reshape(-1, 1, 1) if values.dim() else values)


def int8_linear_from(x: torch.Tensor, scale: float, zero: int, plan: KernelPlan) -> torch.Tensor:
    """Accumulators of an int8 plan for a linear layer's float input ``x`` [M, K] (see above)."""
    assert plan.lowering is not None
    signed = lookup_rows(x, scale, zero, _code_range(plan), vmin(plan.multiplier), int8.signed_act_table(plan.lowering))
    return int8.linear(signed.view(torch.int8), plan.lowering)


def gather_conv2d_from(x: torch.Tensor, scale: float, zero: int, plan: KernelPlan, stride, dilation,
                       padding: tuple[int, int], weight_zero: torch.Tensor) -> torch.Tensor | None:
    """Zero-point-corrected int32 accumulators of a gather plan for float input ``x`` [N, C, H, W],
    quantized as ``clamp(rint(x / scale) + zero)`` and padded with code ``zero`` (real 0):

        acc[o] = sum_k T[a_k, w_k] - z_w[o] sum_k a_k - z a sum_k w_k + K z z_w[o]

    computed inside the C kernel as ``raw + coef[o] * sum_k (a_k - vmin) + bias[o]`` with
    ``coef = -z_w`` and ``bias = -z_w K vmin - z sum_k w_k + K z z_w``. None where the compiled
    kernel is missing or a sum might leave int32 (the caller then takes the general path)."""
    low = vmin(plan.multiplier)
    cout, cin_g, kh, kw = plan.weight_index.shape
    fan_in = cin_g * kh * kw
    table = value_ordered_table(plan.multiplier)
    w_sums = (plan.weight_index.reshape(cout, -1) + low).sum(dim=1)
    zw = weight_zero.to(torch.int64).expand(cout)
    coef, bias = -zw, -zw * fan_in * low - zero * w_sums + fan_in * zero * zw
    bound = fan_in * (int(np.abs(table).max()) + 255 * int(coef.abs().max())) + int(bias.abs().max())
    if bound >= 2**31 or x.device.type != "cpu" or gather.gather_library() is None:
        return None
    codes = gather.quantize_pad(x, scale, zero, (low, low + 255), low, padding, zero)
    h_out = conv_output_size(codes.shape[2], kh, stride[0], dilation[0])
    w_out = conv_output_size(codes.shape[3], kw, stride[1], dilation[1])
    needed = bool(coef.any() or bias.any())
    corrections = (coef.to(torch.int32).numpy(), bias.to(torch.int32).numpy()) if needed else None
    out = gather.conv2d(codes, plan.weight_index.to(torch.uint8).numpy(), table, stride, dilation, plan.groups,
                        (h_out, w_out), corrections)
    return torch.from_numpy(out).view(x.shape[0], cout, h_out, w_out)
