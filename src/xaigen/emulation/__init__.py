"""Bit-exact, fast emulation of int8 models whose products go through approximate multipliers."""

from xaigen.emulation.factorization import LowRankFactors, low_rank_factors
from xaigen.emulation.kernels import KernelPlan, choose_path, conv2d_accumulators, linear_accumulators
from xaigen.emulation.layers import ApproxConv2d, ApproxLayer, ApproxLinear
from xaigen.emulation.model import (
    accuracy,
    accuracy_and_loss,
    approximable_layers,
    approximate,
    calibrate,
    current_assignment,
    finetune,
    operand_histograms,
    predict,
    set_assignment,
)
from xaigen.emulation.quantization import QuantParams, activation_params, quantize, weight_params

__all__ = [
    "ApproxConv2d", "ApproxLayer", "ApproxLinear", "KernelPlan", "LowRankFactors", "QuantParams",
    "accuracy", "accuracy_and_loss", "activation_params", "approximable_layers", "approximate", "calibrate", "choose_path",
    "conv2d_accumulators", "current_assignment", "finetune", "linear_accumulators", "low_rank_factors",
    "operand_histograms", "predict", "quantize", "set_assignment", "weight_params",
]
