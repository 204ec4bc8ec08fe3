"""Device rules of the float low-rank path: which float kernels are exact where.

On integers below 2^24 a float32 convolution/matmul is exact only when it really multiplies and
adds in float32: no NNPACK (it may pick Winograd/FFT), no TF32 on CUDA (10-bit mantissas), and on
CUDA no cuDNN (its heuristics may pick Winograd/FFT algorithms); PyTorch's native CUDA convolution
(im2col + cuBLAS SGEMM with TF32 off) sums exact products in float32 in any order, which is exact
below the proven bound. The int8 and gather kernels are CPU kernels: inputs on another device are
computed on the CPU and moved back (correct, not fast).
"""

from __future__ import annotations

import contextlib

import torch


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


def on_cpu(function, *tensors: torch.Tensor, **kwargs) -> torch.Tensor:
    """``function(*tensors, **kwargs)`` computed on the CPU, the result moved to the first tensor's device."""
    device = tensors[0].device
    if device.type == "cpu":
        return function(*tensors, **kwargs)
    return function(*(t.cpu() for t in tensors), **kwargs).to(device)
