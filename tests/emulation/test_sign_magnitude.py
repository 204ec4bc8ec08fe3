"""Sign-magnitude forms of unsigned circuits: every path the plan can choose is bit-exact.

The reference never looks at the derived table ``T``: each product is taken from the UNSIGNED
circuit's own table at the operands' magnitudes, and the XOR of the signs is applied after,
``sign(a) sign(w) P[|a|, |w|]``.
"""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.emulation.reference import layer_inputs
from xaigen.emulation import approximable_layers, approximate, calibrate, quantize
from xaigen.emulation.int8 import int8_available
from xaigen.emulation.kernels import choose_path, conv2d_accumulators, linear_accumulators
from xaigen.multipliers import Catalogue

# Real EvoApprox unsigned circuits over the whole range: exact, accurate, the usable cheap
# ones (17R6, 18UH, T83, 1A0M) and crude ones whose sign-magnitude products leave int16 (17MN, 1SX).
CIRCUITS = ["mul8u_1JJQ", "mul8u_ZB3", "mul8u_17R6", "mul8u_18UH", "mul8u_T83", "mul8u_1A0M", "mul8u_DG8",
            "mul8u_L93", "mul8u_17MN", "mul8u_1SX", "trunc_u8_c8", "mitchell_u8"]
PATHS = ["auto", "int8", "lowrank", "gather"]
@pytest.fixture(scope="module")
def catalogue():
    """A catalogue of this module's own: looking up ``NAME+sm`` adds the form to it."""
    return Catalogue.default(include_user=False)


SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sm_products(p_table: np.ndarray, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sign(a) sign(w) P[|a|, |w|]`` elementwise (broadcast), from the unsigned table ``P``."""
    return np.sign(a) * np.sign(w) * p_table[np.abs(a), np.abs(w)].astype(np.int64)


def sm_conv_reference(a, w, p_table, stride, dilation, groups):
    """Product-by-product conv accumulators of int8 values (already padded input a[N, C, H, W])."""
    n, _, h, wd = a.shape
    cout, cin_g, kh, kw = w.shape
    ho = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, cout, ho, wo), dtype=np.int64)
    for o in range(cout):
        g = o // (cout // groups)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (ho - 1) + 1, stride[0])
                cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (wo - 1) + 1, stride[1])
                for c in range(cin_g):
                    out[:, o] += sm_products(p_table, a[:, g * cin_g + c, rows, cols], w[o, c, i, j])
    return out


def sm_linear_reference(a, w, p_table):
    return sm_products(p_table, a[:, None, :], w[None, :, :]).sum(-1)


def _plan_or_none(m, w, prefer, groups=1):
    """The plan for ``prefer``, or None when that path cannot be exact for this circuit."""
    try:
        return choose_path(m, torch.from_numpy(w), prefer, groups)
    except ValueError:
        return None


conv_shapes = st.fixed_dictionaries({
    "n": st.integers(1, 2), "groups": st.sampled_from([1, 2]), "cin_g": st.integers(1, 3),
    "og": st.integers(1, 3), "kh": st.integers(1, 3), "kw": st.integers(1, 3), "h": st.integers(3, 7),
    "w": st.integers(3, 7), "stride": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)), "seed": st.integers(0, 2**31 - 1),
})


@pytest.mark.parametrize("prefer", PATHS)
@pytest.mark.parametrize("circuit", CIRCUITS)
@SETTINGS
@given(shape=conv_shapes)
def test_conv_sign_magnitude_bit_exact(catalogue, circuit, prefer, shape):
    unsigned, m = catalogue[circuit], catalogue[f"{circuit}+sm"]
    rng = np.random.default_rng(shape["seed"])
    cin, cout = shape["groups"] * shape["cin_g"], shape["groups"] * shape["og"]
    assume(shape["h"] - shape["dilation"][0] * (shape["kh"] - 1) - 1 >= 0)
    assume(shape["w"] - shape["dilation"][1] * (shape["kw"] - 1) - 1 >= 0)
    a = rng.integers(-128, 128, size=(shape["n"], cin, shape["h"], shape["w"]))
    w = rng.integers(-128, 128, size=(cout, shape["cin_g"], shape["kh"], shape["kw"]))
    a.flat[0], w.flat[-1] = -128, -128  # |-128| = 128: the one use of the circuit's top operand bit
    plan = _plan_or_none(m, w, prefer, shape["groups"])
    if plan is None:  # this path is not exact for this circuit (test_every_path_is_exercised)
        return
    got = conv2d_accumulators(torch.from_numpy(a), plan, shape["stride"], shape["dilation"])
    want = sm_conv_reference(a, w, unsigned.table, shape["stride"], shape["dilation"], shape["groups"])
    assert np.array_equal(got.to(torch.int64).numpy(), want), (m.name, plan.path)


@pytest.mark.parametrize("prefer", PATHS)
@pytest.mark.parametrize("circuit", CIRCUITS)
@SETTINGS
@given(n=st.integers(1, 4), k=st.integers(1, 70), o=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_linear_sign_magnitude_bit_exact(catalogue, circuit, prefer, n, k, o, seed):
    unsigned, m = catalogue[circuit], catalogue[f"{circuit}+sm"]
    rng = np.random.default_rng(seed)
    a, w = rng.integers(-128, 128, size=(n, k)), rng.integers(-128, 128, size=(o, k))
    plan = _plan_or_none(m, w, prefer)
    if plan is None:
        return
    got = linear_accumulators(torch.from_numpy(a), plan)
    assert np.array_equal(got.to(torch.int64).numpy(), sm_linear_reference(a, w, unsigned.table)), plan.path


def test_every_path_is_exercised(catalogue):
    """The circuits above reach each kernel: int8, float low-rank and gather (else the tests
    above could pass while a path was never run)."""
    w = np.random.default_rng(0).integers(-128, 128, size=(4, 3, 3, 3))
    reached = {plan.path for c in CIRCUITS for prefer in PATHS
               if (plan := _plan_or_none(catalogue[f"{c}+sm"], w, prefer)) is not None}
    int8 = {"int8"} if int8_available() else set()  # never planned where the probe fails (no VNNI)
    assert int8 | {"gather"} <= reached and reached & {"lowrank32", "lowrank64"}, reached


@pytest.mark.parametrize("circuit", ["mul8u_17R6", "mul8u_T83", "mul8u_DG8"])
@pytest.mark.parametrize("path", ["auto", "gather"])
def test_model_layers_equal_sign_magnitude_reference(catalogue, circuit, path):
    """Quantized layers of a model (conv with padding and groups, linear): accumulators equal the
    product-by-product sign-magnitude reference on the layer's own int8 codes."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1, groups=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 4, 3, stride=2, groups=2), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 3 * 3, 5)).eval()
    x = torch.randn(3, 3, 8, 8)
    ax = approximate(model, f"{circuit}+sm", catalogue, calibrate(model, x), path=path)
    inputs = layer_inputs(ax, x)
    p_table = catalogue[circuit].table
    for name, layer in approximable_layers(ax).items():
        assert int(layer.input_params.zero_point) == 0 and not layer.weight_params.zero_point.any(), name
        a, w = quantize(inputs[name], layer.input_params).numpy(), layer.weight_codes().numpy()
        if w.ndim == 4:
            pad = layer.pad
            a = np.pad(a, ((0, 0), (0, 0), (pad[2], pad[3]), (pad[0], pad[1])))
            want = sm_conv_reference(a, w, p_table, layer.stride, layer.dilation, layer.groups)
        else:
            want = sm_linear_reference(a, w, p_table)
        assert np.array_equal(layer.accumulators(inputs[name]).numpy(), want), (name, layer.plan().path)
