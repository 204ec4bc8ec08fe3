"""Low-rank tables on int8 hardware kernels: one int8 x int8 -> int32 convolution, bit-exact.

With the integer factors of :mod:`.factorization`, ``T[a, w] = sum_r u_r(a) v_r(w)``. Each factor
pair is rewritten so that both sides are bytes:

* a common factor: ``g_r = gcd_w v_r(w)``, ``S = gcd_r g_r``; ``m_r = g_r / S`` moves to the
  activation side where it fits (``u_r <- m_r u_r``), otherwise stays on the weight side;
* a sign per pair (``u_r v_r = (-u_r)(-v_r)``) where only the flipped weights fit int8;
* activations: ``u_r(a) + z`` must lie in [0, 255] for every code ``a`` with ONE zero-point ``z``
  (128 when all fit [-128, 127], else the smallest that works); oneDNN subtracts ``z`` in int32;
* weights, on the codes the layer really uses: balanced base-128 digits
  ``v_r = sum_j 128^j d_{j,r}`` with ``d_j`` in [-64, 63] below the top digit (int8 at the top;
  [-64, 63] too where the kernel adds products in saturating int16 pairs, below).
  Digit ``j`` of every pair is one block of output channels ("part"), so

      acc[o] = S * sum_j 128^j * sum_{k, r} (u8_r(a_k) - z) d_{j,r}(w_k)

is ONE int8 convolution with ``P`` times the output channels (``P = 1`` for every signed
EvoApprox table on symmetric int8 weights) and a weighted sum over parts. Each part's int32
accumulator is returned by oneDNN as float32, exact while below 2^24; :func:`lower` proves that
bound (and the 2^24 / 2^53 bound of the weighted sum) from the layer's weights, or declines.
CPUs without VNNI (AVX2, AVX-512 without VNNI) multiply bytes with ``vpmaddubsw``, which adds
two adjacent u8 x s8 products in SATURATING int16 before widening to int32. :func:`int8_conv_mode`
probes the kernel once: ``"exact"`` (no saturation anywhere), ``"int16-pairs"`` (exact while every
pair stays within int16) or None (neither: the float path runs). In ``"int16-pairs"`` mode
:func:`lower` keeps every pair within int16 by construction, and checks it:

    -32768 <= 2 * max_byte * digit <= 32767   for every digit used

with 7-bit activation bytes (``u + z`` in [0, 127], int8 digits: 2 * 127 * 128 = 32512), 7-bit
weights (digits in [-64, 63]: 2 * 255 * 64 = 32640; usually one more part, twice the output
channels) or byte halves (each byte as two bytes <= 128 with half the zero-point, twice the input
channels: 2 * 128 * -128 = -32768), whichever needs the fewest multiply-adds.
The probe checks one geometry; :func:`conv2d` checks each geometry's first call (some oneDNN
builds are wrong on some strided or dilated shapes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from math import gcd

import numpy as np
import torch

from xaigen.emulation.factorization import LowRankFactors

FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53
INT32_SAFE = 2**31 - 1
INT16_MAX = 2**15 - 1


@dataclass(frozen=True)
class Int8Lowering:
    """A layer's factors as bytes: activation table, zero-point, weight digits, part scales."""

    act_table: np.ndarray  # uint8[256, R], indexed by code - vmin
    zero_point: int
    weight: torch.Tensor  # int8 [Cout * P, Cin_g * R, *kernel] (output o * P + j) or [Cout * P, K * R]
    part_scales: tuple[int, ...]  # S * 128^j
    part_bound: int  # proven bound on every part's partial sums
    total_bound: int  # proven bound on the weighted sum over parts
    packed: dict = field(default_factory=dict, compare=False, repr=False)  # oneDNN weights by geometry

    @property
    def parts(self) -> int:
        return len(self.part_scales)

    @property
    def scaled_in_kernel(self) -> bool:
        """Whether every part scale is a power of two (then the int8 kernel applies it, exactly)."""
        return all(s & (s - 1) == 0 for s in self.part_scales)

    def kernel_scales(self, all_parts: bool = False) -> torch.Tensor:
        """float32 scale of every kernel output channel ``o * P + j``: ``scale_j`` where the kernel
        applies it (or ``all_parts``), else 1."""
        per_part = self.part_scales if (all_parts or self.scaled_in_kernel) else (1,) * self.parts
        channels = self.weight.shape[0] // self.parts
        return torch.tensor(per_part, dtype=torch.float64).repeat(channels).to(torch.float32)

    @property
    def acc_dtype(self) -> torch.dtype:
        return torch.float32 if self.total_bound < FLOAT32_EXACT else torch.float64


def _balanced_digits(values: np.ndarray, used: np.ndarray, limit: int = 128) -> list[np.ndarray]:
    """Base-128 digits, ``values = sum_j 128^j d_j``: top digit in [-limit, limit - 1], [-64, 63]
    below it, on the rows ``used`` (other rows get digits too, but their top digit may not fit)."""
    digits, rest = [], values.astype(np.int64)
    while not _fits(rest[used], limit):
        low = (rest + 64) % 128 - 64
        digits.append(low)
        rest = (rest - low) // 128
    digits.append(rest)
    return digits


def _fits(values: np.ndarray, limit: int = 128) -> bool:
    """Whether every value lies in [-limit, limit - 1] (int8 for ``limit = 128``)."""
    return values.size == 0 or (int(values.min()) >= -limit and int(values.max()) <= limit - 1)


def _activation_window(u: np.ndarray, top: int = 255) -> int | None:
    """One zero-point ``z`` with ``u + z`` in [0, top] for every entry, 128 preferred for bytes."""
    low, high = int(u.min(initial=0)), int(u.max(initial=0))
    if top == 255 and low >= -128 and high <= 127:
        return 128
    return -low if high - low <= top else None


def _rescale(factors: LowRankFactors, used: np.ndarray, limit: int = 128,
             top: int = 255) -> tuple[np.ndarray, np.ndarray, int]:
    """Activation/weight factors with common factors moved and signs chosen (see module doc)."""
    u, v = factors.u.copy(), factors.v.copy()
    g = [int(np.gcd.reduce(np.abs(v[:, r]))) or 1 for r in range(v.shape[1])]
    common = 0
    for x in g:
        common = gcd(common, x)
    window = _activation_window(u, top)
    for r in range(u.shape[1]):
        move = g[r] // common
        moved = u[:, r] * move
        if window is not None and _activation_window(np.concatenate([u, moved[:, None]], axis=1), top) == window:
            u[:, r], v[:, r] = moved, v[:, r] // g[r]
        else:
            v[:, r] = v[:, r] // common
        if not _fits(v[used, r], limit) and _fits(-v[used, r], limit) and \
                _activation_window(np.concatenate([u, -u[:, r : r + 1]], axis=1), top) == window:
            u[:, r], v[:, r] = -u[:, r], -v[:, r]
    return u, v, common


def lower(factors: LowRankFactors, weight_index: np.ndarray, int16_pairs: bool = False) -> Int8Lowering | None:
    """Byte factors for a layer with value-ordered weight indices ``weight_index`` [Cout, ...],
    or None when the activation factors do not fit bytes or a bound cannot be proven.
    ``int16_pairs``: for a kernel that adds products in saturating int16 pairs (module doc); of
    the lowerings that keep every pair within int16, the one with the fewest multiply-adds."""
    if factors.rank == 0:
        return None
    used = np.unique(weight_index)
    if not int16_pairs:
        return _lower(factors, weight_index, used, 128, 255)
    options = [_lower(factors, weight_index, used, 128, 127, int16_pairs=True),
               _lower(factors, weight_index, used, 64, 255, int16_pairs=True),
               _lower(factors, weight_index, used, 128, 255, int16_pairs=True, halves=True)]
    return min((x for x in options if x is not None), key=lambda x: (x.parts * x.act_table.shape[1], x.parts),
               default=None)


def _lower(factors: LowRankFactors, weight_index: np.ndarray, used: np.ndarray, limit: int, top: int,
           int16_pairs: bool = False, halves: bool = False) -> Int8Lowering | None:
    """:func:`lower` with digits in [-limit, limit - 1] and activation bytes in [0, top]
    (``halves``: each byte then split in two, see :func:`_split_halves`); ``used``: the distinct
    weight indices, computed once by :func:`lower` for every option."""
    u, v, common = _rescale(factors, used, limit, top)
    zero = _activation_window(u, top)
    if zero is None:
        return None
    digits = _balanced_digits(v, used, limit)  # each int[256, R]
    u_abs = np.abs(u).max(axis=0)  # [R]
    cout = weight_index.shape[0]
    flat = weight_index.reshape(cout, -1)
    part_bounds = [int((np.abs(d[flat]) @ u_abs).sum(axis=1).max()) for d in digits]
    scales = tuple(common * 128**j for j in range(len(digits)))
    total = sum(s * b for s, b in zip(scales, part_bounds))
    act = u + zero
    if halves:
        act, zero = _split_halves(act, zero)
        if act is None:
            return None
        digits = [np.concatenate([d, d], axis=1) for d in digits]  # the same digit under both halves
    # oneDNN forms sum (u + z) d before subtracting z * sum d: that must fit int32 too
    raw = int(flat.shape[1]) * act.shape[1] * 255 * 128
    if max(part_bounds) >= FLOAT32_EXACT or total >= FLOAT64_EXACT or raw > INT32_SAFE:
        return None
    if int16_pairs and not _pairs_fit(act, [d[used] for d in digits]):
        return None  # the module doc's int16 pair bound (true by construction; checked, not assumed)
    stacked = np.stack([d[weight_index] for d in digits], axis=1)  # [Cout, P, *w, R]
    dims = stacked.ndim
    stacked = np.moveaxis(stacked, dims - 1, 3) if dims > 4 else stacked  # conv: [Cout, P, Cin_g, R, *k]
    weight = torch.from_numpy(np.ascontiguousarray(stacked).astype(np.int8))
    weight = weight.reshape(cout * len(digits), -1, *weight_index.shape[2:]).contiguous()
    return Int8Lowering(act.astype(np.uint8), zero, weight, scales, max(part_bounds), total)


def _split_halves(act: np.ndarray, zero: int) -> tuple[np.ndarray | None, int]:
    """Bytes ``b = u + z`` in [0, 255] as two bytes ``p = min(b, 128)`` and ``q = b - p``, both in
    [0, 128], with zero-point ``z / 2`` each: ``(p - z/2) + (q - z/2) = u``. A pair of products
    of bytes <= 128 and int8 digits lies in [-32768, 32512]: int16. An odd ``z`` is made even by
    shifting every byte up one where that stays a byte; otherwise (None, z)."""
    if zero % 2:
        if int(act.max()) >= 255:
            return None, zero
        act, zero = act + 1, zero + 1
    low = np.minimum(act, 128)
    return np.concatenate([low, act - low], axis=1), zero // 2


def _pairs_fit(act: np.ndarray, digits: list[np.ndarray]) -> bool:
    """Whether any two products ``byte * digit`` (bytes of ``act``, digits on the used weights)
    add up within int16, the range of a saturating ``vpmaddubsw`` lane."""
    top = int(act.max(initial=0))
    high = max(int(d.max(initial=0)) for d in digits)
    low = min(int(d.min(initial=0)) for d in digits)
    return 2 * top * high <= INT16_MAX and 2 * top * low >= -INT16_MAX - 1


def combine_parts(out: torch.Tensor, lowering: Int8Lowering) -> torch.Tensor:
    """``sum_j scale_j * part_j`` over the parts of a conv output (channel ``o * P + j``), exact.

    Power-of-two part scales were already applied inside the kernel (scaling by 2^k is exact in
    float32), so then only the sum over parts remains, in float32 or float64 as the bound allows.
    """
    if not lowering.scaled_in_kernel:
        shape = (1, -1, *([1] * (out.dim() - 2)))
        out = out.to(lowering.acc_dtype) * lowering.kernel_scales(all_parts=True).to(lowering.acc_dtype).reshape(shape)
    if lowering.parts == 1:
        return out
    n, channels = out.shape[0], out.shape[1] // lowering.parts
    return out.to(lowering.acc_dtype).reshape(n, channels, lowering.parts, *out.shape[2:]).sum(dim=2)


@lru_cache(maxsize=1)
def int8_conv_mode() -> str | None:
    """How this CPU's int8 convolution adds u8 x s8 products: ``"exact"`` (in int32: VNNI, AMX),
    ``"int16-pairs"`` (two at a time in saturating int16: AVX2, AVX-512 without VNNI; exact while
    every pair fits, see the module doc) or None (neither holds: the int8 path is not planned).

    Probed once with extreme operands: 255 * 127 * 2 and 255 * (-128) * 2 overflow int16, so a
    saturating kernel fails the full-byte probe and must then pass both 7-bit probes.
    """
    try:
        if _conv_exact(255, (127, -128)):
            return "exact"
        if _conv_exact(255, (63, -64)) and _conv_exact(128, (127, -128)):
            return "int16-pairs"
    except (RuntimeError, AttributeError, NotImplementedError):
        pass
    return None


def _conv_exact(top_byte: int, weight_values: tuple[int, ...]) -> bool:
    """Whether the raw kernel equals a float64 conv on bytes {0, top_byte} and constant weights."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (2, 64, 5, 5), generator=gen).to(torch.uint8) * top_byte
    for w_value in weight_values:
        for zero in (0, 128):
            w = torch.full((3, 64, 3, 3), w_value, dtype=torch.int8)
            lowering = Int8Lowering(np.zeros((256, 1), np.uint8), zero, w, (2,), 0, 0)
            got = _kernel_conv2d(x.contiguous(memory_format=torch.channels_last), lowering, (1, 1), (1, 1), 1,
                                 lowering.kernel_scales())
            want = torch.nn.functional.conv2d(x.double() - zero, w.double()) * 2
            if not torch.equal(got.double(), want):
                return False
    return True


@lru_cache(maxsize=1)
def int8_matmul_exact() -> bool:
    """Whether ``torch._int_mm`` (int8 x int8 -> int32, the linear layers' kernel) is exact on
    extreme operands (600 products of -128 * -128 overflow int16 at every step)."""
    try:
        a = torch.full((3, 600), -128, dtype=torch.int8)
        b = torch.full((600, 2), -128, dtype=torch.int8)
        return bool(torch.equal(torch._int_mm(a, b).to(torch.int64), a.long() @ b.long()))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def int8_available() -> bool:
    """Whether the int8 path is planned for both layer kinds on this CPU (in either conv mode)."""
    return int8_conv_mode() is not None and int8_matmul_exact()


def int8_kernels_exact() -> bool:
    """Whether both int8 kernels are exact on every byte (no int16 pair bound needed)."""
    return int8_conv_mode() == "exact" and int8_matmul_exact()


def conv2d(stacked: torch.Tensor, lowering: Int8Lowering, stride, dilation, groups: int,
           output_scales: torch.Tensor | None = None) -> torch.Tensor:
    """Per-part int32 accumulators (as exact float32, times the power-of-two part scales) of the
    int8 conv of a pre-padded uint8 input [N, Cin * R, H, W] (channels-last memory) against the
    lowered weights; no padding here. With ``output_scales`` (float32 [Cout], one part, power-of-two
    part scale) the kernel returns ``float32(acc) * output_scales`` instead (see :func:`dequantize_in_kernel`).

    The first call of each geometry is checked against a float64 convolution of the same bytes
    (:func:`_checked_geometry`); a geometry where oneDNN is not exact runs in float64 from then on.
    """
    scales = lowering.kernel_scales() if output_scales is None else output_scales * lowering.part_scales[0]
    geometry = (tuple(lowering.weight.shape), tuple(stacked.shape), tuple(stride), tuple(dilation), groups,
                lowering.zero_point, output_scales is None, torch.get_num_threads())
    if _INEXACT_GEOMETRIES.get(geometry):
        return _reference_conv2d(stacked, lowering, stride, dilation, groups, scales)
    out = _kernel_conv2d(stacked, lowering, stride, dilation, groups, scales)
    if geometry not in _INEXACT_GEOMETRIES:
        return _checked_geometry(out, geometry, stacked, lowering, stride, dilation, groups, scales)
    return out


def _kernel_conv2d(stacked: torch.Tensor, lowering: Int8Lowering, stride, dilation, groups: int,
                   scales: torch.Tensor) -> torch.Tensor:
    """oneDNN's int8 convolution itself (weights packed once per geometry and scales), unchecked."""
    key = ("conv", tuple(stride), tuple(dilation), groups, scales.numpy().tobytes())
    if key not in lowering.packed:
        zeros = torch.zeros(lowering.weight.shape[0], dtype=torch.int64)
        packed = torch.ops.onednn.qconv_prepack(lowering.weight, scales, 1.0, lowering.zero_point,
                                                list(stride), [0, 0], list(dilation), groups, None)
        if len(lowering.packed) > 8:  # scales change with the calibration; keep the cache small
            lowering.packed.clear()
        lowering.packed[key] = (packed, scales, zeros)
    packed, scales, zeros = lowering.packed[key]
    return torch.ops.onednn.qconv2d_pointwise(stacked, 1.0, lowering.zero_point, packed, scales, zeros, None,
                                              list(stride), [0, 0], list(dilation), groups, 1.0, 0,
                                              torch.float32, "none", [], "")


_INEXACT_GEOMETRIES: dict[tuple, bool] = {}  # geometry -> whether oneDNN's int8 conv was inexact on it


def _reference_conv2d(stacked: torch.Tensor, lowering: Int8Lowering, stride, dilation, groups: int,
                      scales: torch.Tensor) -> torch.Tensor:
    """What :func:`conv2d`'s kernel must return, from a float64 convolution (exact: every partial
    sum is below 2^53) of the same bytes: ``float32(acc) * scale`` per output channel."""
    acc = torch.nn.functional.conv2d(stacked.double() - lowering.zero_point, lowering.weight.double(),
                                     stride=tuple(stride), dilation=tuple(dilation), groups=groups)
    return acc.float().mul_(scales.reshape(1, -1, 1, 1)).contiguous(memory_format=torch.channels_last)


def _checked_geometry(out: torch.Tensor, geometry: tuple, stacked: torch.Tensor, lowering: Int8Lowering, stride,
                      dilation, groups: int, scales: torch.Tensor) -> torch.Tensor:
    """``out`` checked once per geometry against :func:`_reference_conv2d`. The probe of
    :func:`int8_conv_mode` checks one geometry only, and oneDNN builds outside the pinned torch
    were measured inexact on others (torch 2.11 on an Intel Xeon with AMX: about 5% of random
    strided / dilated small convolutions, README "Reliability"). An inexact geometry is recorded,
    said once on the ``xaigen`` log, and answered from the reference, so no wrong bit escapes."""
    want = _reference_conv2d(stacked, lowering, stride, dilation, groups, scales)
    exact = torch.equal(out, want)
    _INEXACT_GEOMETRIES[geometry] = not exact
    if not exact:
        logging.getLogger("xaigen").warning(
            "oneDNN's int8 convolution is not exact for weights %s, input %s, stride %s, dilation %s, groups %d "
            "(torch %s): these convolutions run in float64 instead (exact, slower)",
            geometry[0], geometry[1], tuple(stride), tuple(dilation), groups, torch.__version__)
    return out if exact else want


def dequantize_in_kernel(lowering: Int8Lowering) -> bool:
    """Whether the conv kernel may also apply the layer's output scale: one part whose scale is a
    power of two, so ``acc * 2^k * s`` rounds once, exactly like ``float32(acc 2^k) * s``."""
    return lowering.parts == 1 and lowering.scaled_in_kernel


def signed_act_table(lowering: Int8Lowering) -> np.ndarray:
    """The activation bytes minus 128 as int8 (``u8 ^ 0x80``): what :func:`linear` multiplies."""
    if "signed_table" not in lowering.packed:
        lowering.packed["signed_table"] = np.ascontiguousarray(lowering.act_table ^ np.uint8(0x80))
    return lowering.packed["signed_table"]


def linear(signed: torch.Tensor, lowering: Int8Lowering) -> torch.Tensor:
    """Accumulators of rows [M, K * R] of activation bytes minus 128 (int8, looked up in
    :func:`signed_act_table`) against the lowered weights: per part
    ``(x - 128) @ W^T + (128 - z) * sum_k W`` in int32 (``torch._int_mm`` is int8 x int8), then
    the parts weighted by their scales and summed in int64 (one part within int32: in int32)."""
    if "linear" not in lowering.packed:
        w_t = _dense(lowering.weight.t())
        lowering.packed["linear"] = (w_t, w_t.to(torch.int32).sum(dim=0) * (128 - lowering.zero_point))
    w_t, offset = lowering.packed["linear"]
    parts = torch._int_mm(_dense(signed), w_t).add_(offset)
    if lowering.parts == 1 and lowering.total_bound <= INT32_SAFE:  # the scaled sum fits int32 too
        return parts if lowering.part_scales[0] == 1 else parts.mul_(lowering.part_scales[0])
    parts = parts.to(torch.int64)
    scales = torch.tensor(lowering.part_scales, dtype=torch.int64)
    return (parts.reshape(parts.shape[0], -1, lowering.parts) * scales).sum(dim=2)


def _dense(t: torch.Tensor) -> torch.Tensor:
    """``t`` with row-major strides even along size-1 dimensions (``_int_mm`` reads the strides)."""
    canonical = t.new_empty(t.shape)
    return t if t.stride() == canonical.stride() else canonical.copy_(t)
