"""Direct int8 convolution for layers with few input channels, vectorized over outputs.

oneDNN's int8 convolution (:mod:`.int8`) puts input channels in the SIMD lanes. With ``C * R``
stacked channels of 3 or 6 (LeNet's first layers, rank 1) most lanes are idle and the int8
convolution is no faster than float32. ``csrc/direct.c`` instead puts 16 neighbouring output
columns (or, where they fill the lanes better, 16 output channels) in the lanes of one VNNI
instruction:

    acc[o, oh, ow] = sum_{p, kh, g} dot4(quad[p, oh + kh, ow + 4g], wq[p, kh, g, o]) - z sum_k w[o, k]

with ``quad[p, i, x]`` the four activation bytes ``u8[p, i, x .. x + 3]`` of input plane
``p = c * R + r`` as one word, and ``wq`` the weight bytes ``w[o, p, kh, 4g .. 4g + 3]`` (zero past
the kernel width). With more planes, "plane words" hold four planes of one pixel instead:

    acc[o, oh, ow] = sum_{g, kh, kw} dot4(word[g, oh + kh, ow + kw], wq[g, kh, kw, o]) - z sum_k w[o, k]

with ``word[g, i, x] = u8[4g .. 4g + 3, i, x]`` (zero past the last plane): ``ceil(P / 4) * KW``
instructions per output row and channel against ``P * ceil(KW / 4)`` for quads; the layer takes
the layout with fewer (:func:`_layout`). The byte factors, the zero-point ``z`` and the proven
int32 / float32 bounds are those of :func:`.int8.lower`, so the accumulators are the same integers
as oneDNN's.

Used for stride 1, dilation 1, one group, one weight part, where it needs clearly fewer
instructions than oneDNN (few output channels: LeNet-5's first layer), on CPUs with AVX-512 VNNI
and a compiler; elsewhere the caller keeps oneDNN. The output is float32 channels-last,
``float32(acc) * scale[o] (+ bias[o])``.
"""

from __future__ import annotations

import numpy as np
import torch

from xaigen.emulation.int8 import Int8Lowering
from xaigen.emulation.native import gather_library, run_kernel

SPEED_MARGIN = 0.75  # direct where it needs at most this share of oneDNN's instructions (_fewer_instructions)
MAX_WORD_GROUPS = 8  # plane words per pixel (csrc XAIGEN_MAX_GROUPS)
MAX_ROW = 4096  # the C front end's row buffer (bytes)
LANES = 16


def applies(lowering: Int8Lowering, stride, dilation, groups: int, width: int, padding) -> bool:
    """Whether the direct kernel computes this layer (see the module doc): it must fit the kernel,
    and need clearly fewer VNNI instructions than oneDNN (:func:`_fewer_instructions`)."""
    if lowering.parts != 1 or not lowering.scaled_in_kernel or lowering.weight.dim() != 4:
        return False
    if groups != 1 or tuple(stride) != (1, 1) or tuple(dilation) != (1, 1) or lowering.act_table.shape[1] > 8:
        return False
    out_channels, _, kh, kw = lowering.weight.shape
    if width > MAX_ROW or _word_width(width + 2 * padding[1], kw, "quads") + 3 > MAX_ROW:
        return False
    out_width = width + 2 * padding[1] - kw + 1
    if out_width < 1 or not _fewer_instructions(int(_kept_planes(lowering).size), out_channels, kh, kw, out_width):
        return False
    lib = gather_library()
    return lib is not None and bool(lib.xaigen_direct_available())


def _fewer_instructions(planes: int, out_channels: int, kh: int, kw: int, out_width: int) -> bool:
    """Whether the direct kernel needs at most :data:`SPEED_MARGIN` times the instructions of
    oneDNN's int8 convolution per output row. oneDNN puts 16 output channels in the lanes and four
    input planes in a word: ``OW * ceil(O / 16) * ceil(P / 4) * KH * KW``. The direct kernel puts 16
    columns or 16 channels in the lanes (:func:`_by_channel`) and needs :func:`_row_words` words
    per output. Equal counts mean oneDNN, whose kernels are better tuned (LeNet-5's second
    layer, 16 output channels: oneDNN 1.9 ms, direct 2.8 ms)."""
    direct_row = min(_lane_blocks(out_channels, out_width)) * _row_words(planes, kh, kw, _layout(planes, kw))
    onednn_row = out_width * -(-out_channels // LANES) * -(-planes // 4) * kh * kw
    return direct_row <= SPEED_MARGIN * onednn_row


def _kept_planes(lowering: Int8Lowering) -> np.ndarray:
    """Stacked input planes ``c * R + r`` whose weights are not all zero (a factor pair that the
    layer's weight codes never use is)."""
    if "direct_planes" not in lowering.packed:
        weight = lowering.weight
        nonzero = weight.ne(0).any(dim=0).reshape(weight.shape[1], -1).any(dim=1).numpy()
        rank = lowering.act_table.shape[1]
        keep_r = nonzero.reshape(-1, rank).any(axis=0)  # a factor pair is kept in every channel or none
        keep_r[0] = True  # at least one plane, even for an all-zero weight
        lowering.packed["direct_planes"] = np.flatnonzero(np.tile(keep_r, weight.shape[1] // rank))
    return lowering.packed["direct_planes"]


def _layout(planes: int, kw: int) -> str:
    """"quads" (four columns a word) or "planes" (four planes a word), whichever needs fewer words
    per kernel row; quads beyond :data:`MAX_WORD_GROUPS` plane words."""
    if -(-planes // 4) > MAX_WORD_GROUPS:
        return "quads"
    return "quads" if _row_words(planes, 1, kw, "quads") <= _row_words(planes, 1, kw, "planes") else "planes"


def _row_words(planes: int, kh: int, kw: int, layout: str) -> int:
    """Words (VNNI instructions) per output and kernel: ``P * KH * ceil(KW / 4)`` for quads,
    ``ceil(P / 4) * KH * KW`` for plane words."""
    return planes * kh * -(-kw // 4) if layout == "quads" else -(-planes // 4) * kh * kw


def _word_groups(kw: int, layout: str) -> tuple[int, int]:
    """(G, step): word groups per kernel row and their column step (see ``csrc/direct.c``)."""
    return (-(-kw // 4), 4) if layout == "quads" else (kw, 1)


def _word_width(padded_width: int, kw: int, layout: str) -> int:
    """Words per row: every block of 16 output columns reads 16 + step (G - 1) words; rounded up to
    whole vectors, so that the front end writes every row with vector stores."""
    groups, step = _word_groups(kw, layout)
    out_width = padded_width - kw + 1
    blocks = -(-out_width // LANES)
    return -(-(blocks * LANES + step * groups) // LANES) * LANES


def _packed_weights(lowering: Int8Lowering, layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``wq`` int32 [P', KH, G, OCP] of the layout, ``z * sum_k w`` int32 [O], the kept factor
    columns, and OCP."""
    if ("direct", layout) not in lowering.packed:
        planes = _kept_planes(lowering)
        w = lowering.weight[:, torch.from_numpy(planes)].numpy()  # int8 [O, P, KH, KW]
        out_channels, p, kh, kw = w.shape
        padded_channels = -(-out_channels // LANES) * LANES
        if layout == "quads":
            groups = -(-kw // 4)
            bytes4 = np.zeros((padded_channels, p, kh, groups * 4), dtype=np.int8)
            bytes4[:out_channels, :, :, :kw] = w
            words = bytes4.reshape(padded_channels, p, kh, groups, 4).view(np.int32)[..., 0]
        else:
            bytes4 = np.zeros((padded_channels, -(-p // 4) * 4, kh, kw), dtype=np.int8)
            bytes4[:out_channels, :p] = w
            grouped = bytes4.reshape(padded_channels, -1, 4, kh, kw)
            words = np.ascontiguousarray(np.moveaxis(grouped, 2, -1)).view(np.int32)[..., 0]
        wq = np.ascontiguousarray(np.moveaxis(words, 0, -1))  # [P', KH, G, OCP]
        zsum = (lowering.zero_point * w.reshape(out_channels, -1).astype(np.int64).sum(axis=1)).astype(np.int32)
        rank = lowering.act_table.shape[1]
        columns = np.unique(planes % rank)
        lowering.packed[("direct", layout)] = (wq, zsum, columns, padded_channels)
    return lowering.packed[("direct", layout)]


def _lane_blocks(out_channels: int, out_width: int) -> tuple[int, int]:
    """Vector blocks per output row and input word with 16 output columns in the lanes
    (``ceil(OW / 16) * O``) and with 16 output channels in the lanes (``OW * ceil(O / 16)``)."""
    return -(-out_width // LANES) * out_channels, out_width * -(-out_channels // LANES)


def _by_channel(out_channels: int, out_width: int) -> bool:
    """Whether output channels fill the 16 lanes better than output columns do (fewer blocks)."""
    columns, channels = _lane_blocks(out_channels, out_width)
    return channels <= columns


def quads(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
          table: np.ndarray, padding: tuple[int, int], width_words: int, pad_code: int) -> np.ndarray:
    """uint32 [N, C * R', H + 2 top, width_words]: the quads of the padded factor bytes of ``x``.

    ``x`` is float32 [N, C, H, W] in any memory layout; ``table`` uint8[256, R'] holds the kept factor
    bytes indexed by ``code - vmin``; the border holds the bytes of ``pad_code``."""
    return _words(x, scale, zero, code_range, vmin, table, padding, width_words, pad_code, "quads")


def plane_words(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                table: np.ndarray, padding: tuple[int, int], width_words: int, pad_code: int) -> np.ndarray:
    """uint32 [N, ceil(C * R' / 4), H + 2 top, width_words]: byte j of word (g, i, x) is byte
    ``4g + j`` of the padded factor-stacked pixel (planes ``c * R' + r``), 0 past the last plane.
    Arguments as for :func:`quads`."""
    return _words(x, scale, zero, code_range, vmin, table, padding, width_words, pad_code, "planes")


def _words(x, scale, zero, code_range, vmin, table, padding, width_words, pad_code, layout) -> np.ndarray:
    if pad_code != zero:
        raise ValueError("the direct front end pads with the zero-point code")
    planes = x.shape[1] * table.shape[1]
    if table.shape[1] > 8 or (layout == "planes" and -(-planes // 4) > MAX_WORD_GROUPS):
        raise ValueError(f"the direct front end takes at most 8 factor bytes and {4 * MAX_WORD_GROUPS} plane-word "
                         f"planes, not {table.shape[1]} and {planes}")  # the C kernel would leave the words unset
    x = x.detach().to(torch.float32)
    if x.stride(3) * LANES >= 2**31:  # the C front end gathers a row with int32 offsets
        x = x.contiguous()
    n, c, h, w = x.shape
    rank = table.shape[1]
    top, left = padding
    table8 = np.zeros(256 * 8 + 8, dtype=np.uint8)  # the C gather reads 4 bytes from row 255, byte R - 1
    table8[: 256 * 8].reshape(256, 8)[:, :rank] = table
    word_planes = planes if layout == "quads" else -(-planes // 4)
    out = np.empty((n, word_planes, h + 2 * top, width_words), dtype=np.uint32)
    kernel = "xaigen_quad_planes" if layout == "quads" else "xaigen_plane_words"
    sn, sc, sh, sw = x.stride()
    args = (c, h, w, sn, sc, sh, sw, top, left, width_words, float(scale), float(zero), float(code_range[0]),
            float(code_range[1]), float(vmin), table8.ctypes.data, rank, out.ctypes.data)
    run_kernel(kernel, (x.numpy().ctypes.data,), n, args, work=x.numel())
    return out


def conv2d(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
           lowering: Int8Lowering, padding: tuple[int, int], output_scales: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """float32 [N, O, OH, OW] (channels-last memory): ``float32(acc) * output_scales[o] (+ bias[o])``
    for float input ``x`` quantized as ``clamp(rint(x / scale) + zero)`` and padded with code ``zero``.
    ``output_scales`` must include the lowering's (power-of-two) part scale."""
    n, _, h, w = x.shape
    out_channels, _, kh, kw = lowering.weight.shape
    layout = _layout(int(_kept_planes(lowering).size), kw)
    wq, zsum, columns, ocp = _packed_weights(lowering, layout)
    top, left = padding
    width_words = _word_width(w + 2 * left, kw, layout)
    q = _words(x, scale, zero, code_range, vmin, np.ascontiguousarray(lowering.act_table[:, columns]), padding,
               width_words, zero, layout)
    oh, ow = h + 2 * top - kh + 1, w + 2 * left - kw + 1
    out = torch.empty((n, oh, ow, out_channels), dtype=torch.float32)
    scales = np.ascontiguousarray(output_scales.to(torch.float32).expand(out_channels).numpy())
    bias_np = None if bias is None else np.ascontiguousarray(bias.detach().to(torch.float32).numpy())
    groups, step = _word_groups(kw, layout)
    args = (q.shape[1], q.shape[2], width_words, kh, groups, step, wq.ctypes.data, ocp, out_channels, oh, ow,
            zsum.ctypes.data, scales.ctypes.data, None if bias_np is None else bias_np.ctypes.data,
            int(_by_channel(out_channels, ow)), out.data_ptr())
    run_kernel("xaigen_direct_conv", (q.ctypes.data,), n, args)
    return out.permute(0, 3, 1, 2)
