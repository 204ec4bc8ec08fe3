"""Device-agnostic emulation: the same API on CUDA (bit-exact vs the CPU); skipped without a GPU."""

import pytest
import torch
from torch import nn

from tests.emulation.user_model import make_model
from xaigen.emulation import approximable_layers, approximate, calibrate
from xaigen.emulation import device
from xaigen.emulation.device import exact_float_kernels

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_exact_float_kernels_restores_the_flags():
    before = torch._C._get_nnpack_enabled()
    with exact_float_kernels(torch.device("cpu")):
        assert not torch._C._get_nnpack_enabled()
    assert torch._C._get_nnpack_enabled() == before


def test_exactness_probe_passes_exact_kernels_and_catches_tf32_rounding(monkeypatch):
    assert device._probe.__wrapped__("cpu")
    true_conv = device.F.conv2d

    def tf32_conv(x, w, *args, **kwargs):  # rounds operands to TF32's 10 mantissa bits, as TF32 does
        def tf32(t):
            return ((t.view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32) if t.dtype == torch.float32 else t
        return true_conv(tf32(x), tf32(w), *args, **kwargs)

    monkeypatch.setattr(device.F, "conv2d", tf32_conv)
    assert not device._probe.__wrapped__("cpu")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 5)).eval()


@needs_cuda
@pytest.mark.parametrize("name", ["exact_s8", "mul8s_1L2N", "mul8s_1KX5", "mitchell_s8", "mul8u_ZB3"])
def test_cuda_outputs_equal_cpu_outputs(catalogue, name):
    model = _model()
    x = torch.randn(16, 3, 16, 16)
    ranges = calibrate(model, x)
    cpu = approximate(model, name, catalogue, ranges)
    gpu = approximate(model, name, catalogue, ranges).to("cuda")
    assert torch.equal(gpu(x.to("cuda")).cpu(), cpu(x))
    for (name_c, layer_c), layer_g in zip(approximable_layers(cpu).items(), approximable_layers(gpu).values()):
        assert layer_g.plan().path != "int8", name_c  # int8 kernels are CPU kernels
    torch.testing.assert_close(gpu(x.to("cuda")).cpu(), model(x), rtol=0.5, atol=5.0)  # same model, roughly


@needs_cuda
@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8s_1KX5", "mitchell_s8"])
def test_cuda_functional_sites_equal_cpu(catalogue, name):
    """Functional conv, Conv1d and attention matmuls (activation x activation) on CUDA."""
    model = make_model()
    x = torch.randn(4, 3, 5, 5)
    ranges = calibrate(model, x)
    cpu = approximate(model, name, catalogue, ranges)
    gpu = approximate(model, name, catalogue, ranges).to("cuda")
    assert device.float_kernels_exact(torch.device("cuda"))
    assert torch.equal(gpu(x.to("cuda")).cpu(), cpu(x))
