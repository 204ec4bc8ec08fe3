"""Direct int8 convolution for layers with few input channels, vectorized over outputs.

oneDNN's int8 convolution (:mod:`.int8`) puts input channels in the SIMD lanes. With ``C * R``
stacked channels of 3 or 6 (LeNet's first layers, rank 1) most lanes are idle and the int8
convolution is no faster than float32. ``csrc/direct.c`` instead puts 16 neighbouring output
columns (or, where they fill the lanes better, 16 output channels) in the lanes of one VNNI
instruction:

    acc[o, oh, ow] = sum_{p, kh, g} dot4(quad[p, oh + kh, ow + 4g], wq[p, kh, g, o]) - z sum_k w[o, k]

with ``quad[p, i, x]`` the four activation bytes ``u8[p, i, x .. x + 3]`` of input plane
``p = c * R + r`` as one word, and ``wq`` the weight bytes ``w[o, p, kh, 4g .. 4g + 3]`` (zero past
the kernel width). The byte factors, the zero-point ``z`` and the proven int32 / float32 bounds are
those of :func:`.int8.lower`, so the accumulators are the same integers as oneDNN's.

Used for stride 1, dilation 1, one group, one weight part, at most :data:`MAX_STACKED_CHANNELS`
stacked input channels, on CPUs with AVX-512 VNNI and a compiler; elsewhere the caller keeps
oneDNN. The output is float32 channels-last, ``float32(acc) * scale[o] (+ bias[o])``.
"""

from __future__ import annotations

import numpy as np
import torch

from xaigen.emulation.int8 import Int8Lowering
from xaigen.emulation.native import gather_library, run_split

MAX_STACKED_CHANNELS = 4  # measured (LeNet-5, benchmarks/emulation.py): at 6 or more oneDNN was as fast or faster
MAX_ROW = 4096  # the C front end's row buffer (bytes)
LANES = 16


def applies(lowering: Int8Lowering, stride, dilation, groups: int, width: int, padding) -> bool:
    """Whether the direct kernel computes this layer (see the module doc)."""
    if lowering.parts != 1 or not lowering.scaled_in_kernel or lowering.weight.dim() != 4:
        return False
    if groups != 1 or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1):
        return False
    if int(_kept_planes(lowering).size) > MAX_STACKED_CHANNELS:
        return False
    kw = lowering.weight.shape[3]
    if width > MAX_ROW or _quad_width(width + 2 * padding[1], kw) + 3 > MAX_ROW:
        return False
    lib = gather_library()
    return lib is not None and bool(lib.xaigen_direct_available())


def _kept_planes(lowering: Int8Lowering) -> np.ndarray:
    """Stacked input planes ``c * R + r`` whose weights are not all zero (a padded fourth pair is)."""
    if "direct_planes" not in lowering.packed:
        weight = lowering.weight
        nonzero = weight.ne(0).any(dim=0).reshape(weight.shape[1], -1).any(dim=1).numpy()
        rank = lowering.act_table.shape[1]
        keep_r = nonzero.reshape(-1, rank).any(axis=0)  # a factor pair is kept in every channel or none
        keep_r[0] = True  # at least one plane, even for an all-zero weight
        lowering.packed["direct_planes"] = np.flatnonzero(np.tile(keep_r, weight.shape[1] // rank))
    return lowering.packed["direct_planes"]


def _quad_width(padded_width: int, kw: int) -> int:
    """Words per quad row: every block of 16 output columns reads 16 + 4 (G - 1) words; rounded up
    to whole vectors, so that the front end writes every row with vector stores."""
    out_width = padded_width - kw + 1
    blocks = -(-out_width // LANES)
    return -(-(blocks * LANES + 4 * -(-kw // 4)) // LANES) * LANES


def _packed_weights(lowering: Int8Lowering) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``wq`` int32 [P, KH, G, OCP], ``z * sum_k w`` int32 [O], the kept factor columns, and OCP."""
    if "direct" not in lowering.packed:
        planes = _kept_planes(lowering)
        w = lowering.weight[:, torch.from_numpy(planes)].numpy()  # int8 [O, P, KH, KW]
        out_channels, p, kh, kw = w.shape
        groups = -(-kw // 4)
        padded_channels = -(-out_channels // LANES) * LANES
        bytes4 = np.zeros((padded_channels, p, kh, groups * 4), dtype=np.int8)
        bytes4[:out_channels, :, :, :kw] = w
        words = bytes4.reshape(padded_channels, p, kh, groups, 4).view(np.int32)[..., 0]
        wq = np.ascontiguousarray(np.moveaxis(words, 0, -1))  # [P, KH, G, OCP]
        zsum = (lowering.zero_point * w.reshape(out_channels, -1).astype(np.int64).sum(axis=1)).astype(np.int32)
        rank = lowering.act_table.shape[1]
        columns = np.unique(planes % rank)
        lowering.packed["direct"] = (wq, zsum, columns, padded_channels)
    return lowering.packed["direct"]


def _by_channel(out_channels: int, out_width: int) -> bool:
    """Whether output channels fill the 16 lanes better than output columns do (fewer instructions:
    ``OW * ceil(O / 16)`` against ``ceil(OW / 16) * O`` per output row and input word)."""
    return out_width * -(-out_channels // LANES) <= -(-out_width // LANES) * out_channels


def quads(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
          table: np.ndarray, padding: tuple[int, int], width_words: int, pad_code: int) -> np.ndarray:
    """uint32 [N, C * R', H + 2 top, width_words]: the quads of the padded factor bytes of ``x``.

    ``x`` is float32 [N, C, H, W] in any memory layout; ``table`` uint8[256, R'] holds the kept factor
    bytes indexed by ``code - vmin``; the border holds the bytes of ``pad_code``."""
    if pad_code != zero:
        raise ValueError("the direct front end pads with the zero-point code")
    x = x.detach().to(torch.float32)
    if x.stride(3) * LANES >= 2**31:  # the C front end gathers a row with int32 offsets
        x = x.contiguous()
    n, c, h, w = x.shape
    rank = table.shape[1]
    top, left = padding
    table8 = np.zeros(256 * 8 + 8, dtype=np.uint8)  # the C gather reads 4 bytes from row 255, byte R - 1
    table8[: 256 * 8].reshape(256, 8)[:, :rank] = table
    out = np.empty((n, c * rank, h + 2 * top, width_words), dtype=np.uint32)
    lib = gather_library()
    sn, sc, sh, sw = x.stride()
    args = (c, h, w, sn, sc, sh, sw, top, left, width_words, float(scale), float(zero), float(code_range[0]),
            float(code_range[1]), float(vmin), table8.ctypes.data, rank, out.ctypes.data)
    data = x.numpy()
    base = data.ctypes.data
    run_split(n, lambda first, last: lib.xaigen_quad_planes(base, first, last, *args), work=x.numel())
    return out


def conv2d(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
           lowering: Int8Lowering, padding: tuple[int, int], output_scales: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """float32 [N, O, OH, OW] (channels-last memory): ``float32(acc) * output_scales[o] (+ bias[o])``
    for float input ``x`` quantized as ``clamp(rint(x / scale) + zero)`` and padded with code ``zero``.
    ``output_scales`` must include the lowering's (power-of-two) part scale."""
    wq, zsum, columns, ocp = _packed_weights(lowering)
    n, _, h, w = x.shape
    out_channels, _, kh, kw = lowering.weight.shape
    top, left = padding
    width_words = _quad_width(w + 2 * left, kw)
    q = quads(x, scale, zero, code_range, vmin, np.ascontiguousarray(lowering.act_table[:, columns]), padding,
              width_words, zero)
    oh, ow = h + 2 * top - kh + 1, w + 2 * left - kw + 1
    out = torch.empty((n, oh, ow, out_channels), dtype=torch.float32)
    scales = np.ascontiguousarray(output_scales.to(torch.float32).expand(out_channels).numpy())
    bias_np = None if bias is None else np.ascontiguousarray(bias.detach().to(torch.float32).numpy())
    lib = gather_library()
    args = (q.shape[1], q.shape[2], width_words, kh, wq.shape[2], wq.ctypes.data, ocp, out_channels, oh, ow,
            zsum.ctypes.data, scales.ctypes.data, None if bias_np is None else bias_np.ctypes.data,
            int(_by_channel(out_channels, ow)), out.data_ptr())
    run_split(n, lambda first, last: lib.xaigen_direct_conv(q.ctypes.data, first, last, *args))
    return out.permute(0, 3, 1, 2)
