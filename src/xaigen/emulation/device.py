"""Device rules of the float low-rank path: which float kernels are exact where.

On integers below 2^24 a float32 convolution/matmul is exact only when it really multiplies and
adds in float32: no NNPACK (it may pick Winograd/FFT), no TF32 on CUDA (10-bit mantissas), and on
CUDA cuDNN only where its algorithm for a layer passes an exactness check (its heuristics may pick
Winograd/FFT algorithms); otherwise an im2col + cuBLAS SGEMM with TF32 off, which sums exact
products in float32 in any order, exact below the proven bound. The int8 and gather kernels are CPU
kernels: inputs on another device are computed on the CPU and moved back (correct, not fast).

Flags alone are a promise, not a proof: :func:`float_kernels_exact` checks, once per device, that
the float32 convolution and matmul run under :func:`exact_float_kernels` really return exact
integer sums; where they do not, the float low-rank path computes on the CPU instead.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch.utils.weak import WeakTensorKeyDictionary


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
        return on_cpu(lambda a, b: exact_conv2d(a, b, input_bound, **conv), x, weight)
    with exact_float_kernels(x.device):
        if x.device.type == "cuda" and groups == 1:
            return unfolded_conv2d(x, weight, **conv)  # one GEMM: PyTorch's plain CUDA conv loops over images
        return F.conv2d(x, weight, **conv)


def exact_matmul(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.t()`` of integer-valued float tensors whose partial sums are proven below the
    float's exact-integer limit: on ``x``'s device where its float kernels are exact, else on the CPU."""
    def matmul(x, weight):
        with exact_float_kernels(x.device):
            return x @ weight.t()
    return matmul(x, weight) if float_kernels_exact(x.device) else on_cpu(matmul, x, weight)


def window_sums(x: torch.Tensor, weight_shape: torch.Size, stride, dilation, groups: int = 1) -> torch.Tensor:
    """``sum_k x_k`` over each output's window of a conv with weights shaped ``weight_shape``
    ([C_out, C_in / groups, kh, kw]) on the already padded integer-valued ``x``, per output channel
    (int64). The zero-point correction of a weight needs it. Summed as a float64 conv: exact while
    the sums stay below 2^53, provided no FFT algorithm rounds them."""
    cout, cin_g, kh, kw = weight_shape
    ones = torch.ones((groups, cin_g, kh, kw), dtype=torch.float64, device=x.device)
    with exact_float_kernels(x.device):
        sums = F.conv2d(x.to(torch.float64), ones, stride=stride, dilation=dilation, groups=groups)
    return sums.repeat_interleave(cout // groups, dim=1).to(torch.int64)


def unfolded_conv2d(x: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups: int = 1) -> torch.Tensor:
    """``F.conv2d`` (``groups = 1``) as im2col and one matrix product per chunk of images (the
    columns of a chunk stay under ~256 MB): exact on integers whose partial sums are proven below
    the float's limit, whatever order the GEMM adds them in."""
    assert groups == 1
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    chunk = max(1, 2**26 // max(1, cin * kh * kw * h_out * w_out))
    rows = weight.reshape(cout, -1)
    out = [rows @ F.unfold(part, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # [n, C*kh*kw, L]
           for part in x.split(chunk)]
    return torch.cat(out).reshape(n, cout, h_out, w_out)


@contextlib.contextmanager
def _cudnn_exact_flags():
    """cuDNN without TF32 and without benchmarking (its choice then depends on the shapes alone)."""
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, allow_tf32=False):
        yield


# weight tensor -> {(input shape, strides, dtype, conv settings, input bound): verdict}; an entry
# dies with its weight, so a later tensor at the same address never inherits a verdict.
_CUDNN_VERDICTS = WeakTensorKeyDictionary()


def _cudnn_conv_exact(x: torch.Tensor, weight: torch.Tensor, input_bound: float, conv: dict) -> bool:
    """Whether cuDNN's algorithm for this input layout and this weight sums exactly: checked once
    on the worst case for rounding, inputs of the largest magnitude with random signs in ``x``'s
    memory layout, against the float64 CPU convolution (exact here). A Winograd or FFT algorithm
    rounds its transformed operands and fails this with overwhelming probability; a GEMM-based
    one passes. A check, not a proof."""
    key = (tuple(x.shape), x.stride(), x.dtype, tuple(sorted(conv.items())), float(input_bound))
    verdicts = _CUDNN_VERDICTS.setdefault(weight, {})
    if key not in verdicts:
        generator = torch.Generator().manual_seed(0)
        signs = torch.randint(0, 2, tuple(x.shape), generator=generator).to(x.dtype) * 2 - 1
        probe = torch.empty_like(x).copy_(signs * input_bound)  # x's strides: the layout decides the algorithm
        with _cudnn_exact_flags():
            fast = F.conv2d(probe, weight, **conv)
        exact = F.conv2d(probe.cpu().double(), weight.detach().cpu().double(), **conv)
        verdicts[key] = bool(torch.equal(fast.cpu().double(), exact))
    return verdicts[key]


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
        unfolded = unfolded_conv2d(x.float().to(device), w.float().to(device), (1, 1), (1, 1), (1, 1)).cpu().double()
        mm = (rows.float().to(device) @ cols.float().to(device).t()).cpu().double()
    return bool(torch.equal(conv, expected_conv) and torch.equal(unfolded, expected_conv)
                and torch.equal(mm, expected_mm))
