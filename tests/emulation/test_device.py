"""Device-agnostic emulation: the same API on CUDA (bit-exact vs the CPU); skipped without a GPU."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.emulation.reference import layer_inputs
from tests.emulation.user_model import make_model
from xaigen.emulation import (
    approximable_layers,
    approximate,
    calibrate,
    operand_histograms,
    set_assignment,
    tune_weights,
)
from xaigen.emulation import device
from xaigen.emulation.device import exact_float_kernels
from xaigen.emulation.quantization import activation_params, quantize, weight_params

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


def _accumulators_agree(gpu, cpu, x):
    """Every layer's integer accumulators on the GPU equal the CPU's on the same inputs (the
    contract)."""
    cpu_layers = approximable_layers(cpu)
    for name, inputs in layer_inputs(gpu, x.to("cuda")).items():
        layer = approximable_layers(gpu)[name]
        got = layer.accumulators(inputs)
        want = cpu_layers[name].accumulators(inputs.cpu())
        assert torch.equal(got.cpu(), want), name


@needs_cuda
@pytest.mark.parametrize("name", ["exact_s8", "mul8s_1L2N", "mul8s_1KX5", "mitchell_s8", "mul8u_ZB3"])
def test_cuda_accumulators_equal_cpu(catalogue, name):
    model = _model()
    x = torch.randn(16, 3, 16, 16)
    ranges = calibrate(model, x)
    cpu = approximate(model, name, catalogue, ranges)
    gpu = approximate(model, name, catalogue, ranges).to("cuda")
    _accumulators_agree(gpu, cpu, x)
    for (name_c, layer_c), layer_g in zip(approximable_layers(cpu).items(), approximable_layers(gpu).values()):
        assert layer_g.plan().path != "int8", name_c  # int8 kernels are CPU kernels
    torch.testing.assert_close(gpu(x.to("cuda")).cpu(), cpu(x), rtol=1e-5, atol=1e-6)
    moved = approximate(model, name, catalogue, ranges)
    moved(x)  # plans and weight codes made for the CPU first ...
    moved.to("cuda")  # ... are remade for the GPU (moving a module keeps weight._version)
    assert all(layer.plan().path != "int8" for layer in approximable_layers(moved).values())
    _accumulators_agree(moved, cpu, x)


@needs_cuda
@pytest.mark.parametrize("name", ["trunc_s8_c8", "mul8s_1KX5", "mitchell_s8", "mul8u_17R6+sm"])
def test_cuda_tuned_weights_equal_cpu(catalogue, name):
    """Weight tuning (ALWANN) on CUDA: the tuned codes and every layer's accumulators equal the
    CPU's; a tuned model moved to the GPU re-applies the map to codes made there."""
    model = _model()
    x = torch.randn(16, 3, 16, 16)
    ranges = calibrate(model, x)
    signed = catalogue[name].signed
    cpu = approximate(model, catalogue.exact(signed).name, catalogue, ranges)
    histograms = {n: {signed: a.numpy()} for n, (a, _) in operand_histograms(cpu, x).items()}
    tune_weights(cpu, histograms)
    set_assignment(cpu, name, catalogue)
    gpu = copy.deepcopy(cpu)
    cpu(x)  # codes made on the CPU first, then moved
    gpu.to("cuda")
    untuned = approximable_layers(approximate(model, name, catalogue, ranges))
    moved = 0
    for layer_name, layer in approximable_layers(gpu).items():
        plain = untuned[layer_name].weight_codes()
        codes = layer.weight_codes()
        assert codes.device.type == "cuda"
        assert torch.equal(codes.cpu(), approximable_layers(cpu)[layer_name].weight_codes()), layer_name
        moved += int(torch.sum(codes.cpu() != plain))
    assert moved > 0  # the tuning moved codes on this circuit
    _accumulators_agree(gpu, cpu, x)


@needs_cuda
@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8s_1KX5", "mitchell_s8"])
def test_cuda_functional_sites_equal_cpu(catalogue, name):
    """Functional conv, Conv1d and attention matmuls (activation x activation) on CUDA: the same
    outputs up to float rounding (softmax and means round differently on two devices)."""
    model = make_model()
    x = torch.randn(4, 3, 5, 5)
    ranges = calibrate(model, x)
    cpu = approximate(model, name, catalogue, ranges)
    gpu = approximate(model, name, catalogue, ranges).to("cuda")
    assert device.float_kernels_exact(torch.device("cuda"))
    torch.testing.assert_close(gpu(x.to("cuda")).cpu(), cpu(x), rtol=1e-5, atol=1e-6)


def test_cudnn_check_rejects_a_rounding_algorithm(monkeypatch):
    """The per-shape cuDNN check (run here on CPU tensors): a conv that rounds its operands only
    while cuDNN is enabled, as a Winograd algorithm would, is caught; an exact one passes."""
    torch.manual_seed(0)
    x, w = torch.randint(-100, 100, (2, 4, 8, 8)).float(), torch.randint(-1500, 1500, (3, 4, 3, 3)).float() * 2 + 1
    conv = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    assert device._cudnn_conv_exact(x, w, 100.0, conv)
    true_conv = device.F.conv2d

    def winograd_like(a, b, *args, **kwargs):
        if torch.backends.cudnn.enabled:
            b = b * (1 + 2**-12)  # a transformed operand that no longer holds an integer
        return true_conv(a, b, *args, **kwargs)

    monkeypatch.setattr(device.F, "conv2d", winograd_like)
    monkeypatch.setattr(device, "_CUDNN_VERDICTS", device.WeakTensorKeyDictionary())
    with torch.backends.cudnn.flags(enabled=False):  # the plain kernels' state on a GPU
        assert not device._cudnn_conv_exact(x, w, 100.0, conv)


@needs_cuda
def test_cuda_codes_and_scales_equal_cpu():
    """Division by a scale is IEEE division on the GPU too (CUDA turns division by a CPU scalar
    into a multiplication by its reciprocal), so no code crosses a rounding boundary there."""
    torch.manual_seed(0)
    x = torch.randn(1_000_000) * 3
    params = activation_params(-3.0, 3.3, True)
    assert torch.equal(quantize(x.to("cuda"), params).cpu(), quantize(x, params))
    w = torch.randn(64, 3000)
    for signed in (True, False):
        gpu, cpu = weight_params(w.to("cuda"), signed, True), weight_params(w, signed, True)
        assert torch.equal(gpu.scale.cpu(), cpu.scale) and torch.equal(gpu.zero_point.cpu(), cpu.zero_point)


@pytest.mark.parametrize("stride,padding,dilation", [((1, 1), (1, 1), (1, 1)), ((2, 1), (0, 2), (1, 2))])
def test_unfolded_conv_equals_conv_on_integers(stride, padding, dilation):
    torch.manual_seed(0)
    x, w = torch.randint(-128, 128, (3, 5, 9, 11)).float(), torch.randint(-300, 300, (4, 5, 3, 3)).float()
    want = F.conv2d(x.double(), w.double(), stride=stride, padding=padding, dilation=dilation)
    assert torch.equal(device.unfolded_conv2d(x, w, stride, padding, dilation).double(), want)
