"""Device rules of the float low-rank path: which float kernels are exact where.

On integers below 2^24 a float32 convolution/matmul is exact only when it really multiplies and
adds in float32: no NNPACK (it may pick Winograd/FFT), no TF32 on CUDA (10-bit mantissas), and on
CUDA no cuDNN (its heuristics may pick Winograd/FFT algorithms); PyTorch's native CUDA convolution
(im2col + cuBLAS SGEMM with TF32 off) sums exact products in float32 in any order, which is exact
below the proven bound. The int8 and gather kernels are CPU kernels: inputs on another device are
computed on the CPU and moved back (correct, not fast).

Flags alone are a promise, not a proof: :func:`float_kernels_exact` checks, once per device, that
the float32 convolution and matmul run under :func:`exact_float_kernels` really return exact
integer sums; where they do not, the float low-rank path computes on the CPU instead.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F


@contextlib.contextmanager
def exact_float_kernels(device: torch.device):
    """Context in which float32 conv/matmul on ``device`` compute exactly on small integers."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.backends.nnpack.flags(enabled=False))
        if device.type == "cuda":
            stack.enter_context(torch.backends.cudnn.flags(enabled=False, allow_tf32=False))
            previous = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = False
            stack.callback(setattr, torch.backends.cuda.matmul, "allow_tf32", previous)
        yield


def exact_conv2d(x: torch.Tensor, weight: torch.Tensor, input_bound: float, stride=(1, 1), padding=(0, 0),
                 dilation=(1, 1), groups: int = 1) -> torch.Tensor:
    """``F.conv2d`` of integer-valued float tensors whose partial sums are proven below the
    float's exact-integer limit, computed exactly: with cuDNN on CUDA where the algorithm its
    heuristics pick for these shapes passes :func:`_cudnn_conv_exact`, else with the plain kernels
    of :func:`exact_float_kernels` (on CUDA as one im2col GEMM), else on the CPU. ``input_bound`` is the largest ``|x|`` possible."""
    conv = dict(stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation), groups=groups)
    if x.device.type == "cuda" and _cudnn_conv_exact(x, weight, input_bound, conv):
        with _cudnn_exact_flags():
            return F.conv2d(x, weight, **conv)
    if not float_kernels_exact(x.device):
        return on_cpu(lambda a, b: F.conv2d(a, b, **conv), x, weight)
    with exact_float_kernels(x.device):
        if x.device.type == "cuda" and groups == 1:
            return unfolded_conv2d(x, weight, **conv)  # one GEMM: PyTorch's plain CUDA conv loops over images
        return F.conv2d(x, weight, **conv)


def unfolded_conv2d(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups: int = 1) -> torch.Tensor:
    """``F.conv2d`` (``groups = 1``) as im2col and ONE matrix product: exact on integers whose
    partial sums are proven below the float's limit, whatever order the GEMM adds them in."""
    assert groups == 1
    n, _, h, w = x.shape
    cout, _, kh, kw = weight.shape
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    columns = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # [N, C*kh*kw, L]
    return (weight.reshape(cout, -1) @ columns).reshape(n, cout, h_out, w_out)


@contextlib.contextmanager
def _cudnn_exact_flags():
    """cuDNN without TF32 and without benchmarking (its choice then depends on the shapes alone)."""
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, allow_tf32=False):
        yield


_CUDNN_VERDICTS: dict[tuple, bool] = {}


def _cudnn_conv_exact(x: torch.Tensor, weight: torch.Tensor, input_bound: float, conv: dict) -> bool:
    """Whether cuDNN's algorithm for these shapes sums exactly: checked once per (shapes, weight)
    on the worst case for rounding, inputs of the largest magnitude with random signs, against
    the plain kernels. A Winograd or FFT algorithm rounds its transformed operands and fails this
    with overwhelming probability; a GEMM-based one passes. A check, not a proof."""
    key = (str(x.device), tuple(x.shape), x.dtype, weight.data_ptr(), tuple(weight.shape), tuple(sorted(conv.items())))
    if key not in _CUDNN_VERDICTS:
        generator = torch.Generator().manual_seed(0)
        signs = torch.randint(0, 2, tuple(x.shape), generator=generator).to(x.dtype) * 2 - 1
        probe = (signs * input_bound).to(x.device)
        with _cudnn_exact_flags():
            fast = F.conv2d(probe, weight, **conv)
        with exact_float_kernels(x.device):
            plain = F.conv2d(probe, weight, **conv)
        _CUDNN_VERDICTS[key] = bool(torch.equal(fast, plain)) and float_kernels_exact(x.device)
    return _CUDNN_VERDICTS[key]


def on_cpu(function, *tensors: torch.Tensor, **kwargs) -> torch.Tensor:
    """``function(*tensors, **kwargs)`` computed on the CPU, the result moved to the first tensor's device."""
    device = tensors[0].device
    if device.type == "cpu":
        return function(*tensors, **kwargs)
    return function(*(t.cpu() for t in tensors), **kwargs).to(device)


def float_kernels_exact(device: torch.device) -> bool:
    """Whether float32 conv2d and matmul on ``device``, inside :func:`exact_float_kernels`, return
    exact integer sums of integer operands whose partial sums stay below 2^24 (cached per device).

    The probe's weights need 12 significant bits (odd values up to 3,000): TF32 (11 bits) would
    round them, and a Winograd or FFT convolution would round its transformed operands."""
    device = torch.device(device)
    return device.type == "cpu" or _probe(str(device))


@functools.lru_cache(maxsize=None)
def _probe(device: str) -> bool:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(-128, 128, (8, 4, 12, 12), generator=generator)
    w = torch.randint(-1500, 1500, (16, 4, 3, 3), generator=generator) * 2 + 1  # |sum| < 36*128*3000 < 2^24
    expected_conv = F.conv2d(x.double(), w.double(), padding=1)  # float64 on the CPU: exact here
    rows, cols = x.reshape(-1, 36), w.reshape(16, 36)
    expected_mm = rows.double() @ cols.double().t()
    with exact_float_kernels(torch.device(device)):
        conv = F.conv2d(x.float().to(device), w.float().to(device), padding=1).cpu().double()
        mm = (rows.float().to(device) @ cols.float().to(device).t()).cpu().double()
    return bool(torch.equal(conv, expected_conv) and torch.equal(mm, expected_mm))
