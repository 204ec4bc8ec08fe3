"""Bit-exact, fast emulation of int8 models whose products go through approximate multipliers."""

from xaigen.emulation.coverage import Coverage, NotApproximated, SiteRecord, coverage, trace_sites
from xaigen.emulation.data import as_batches, as_labelled_batches
from xaigen.emulation.factorization import LowRankFactors, low_rank_factors
from xaigen.emulation.folding import Folding, fold_batchnorm
from xaigen.emulation.functional import ApproxCall
from xaigen.emulation.kernels import KernelPlan, choose_path, conv2d_accumulators, linear_accumulators
from xaigen.emulation.layers import ApproxConv2d, ApproxLayer, ApproxLinear
from xaigen.emulation.model import (
    accuracy,
    accuracy_and_loss,
    approximable_layers,
    approximate,
    calibrate,
    current_assignment,
    EmulationOptions,
    finetune,
    operand_histograms,
    Scores,
    predict,
    score_examples,
    set_assignment,
    tune_weights,
)
from xaigen.emulation.observers import OBSERVERS
from xaigen.emulation.quantization import QuantParams, activation_params, quantize, weight_params

__all__ = [
    "OBSERVERS", "ApproxCall", "Coverage", "Folding", "NotApproximated", "SiteRecord", "as_batches",
    "as_labelled_batches", "coverage", "fold_batchnorm", "trace_sites",
    "ApproxConv2d", "ApproxLayer", "ApproxLinear", "KernelPlan", "LowRankFactors", "QuantParams",
    "accuracy", "accuracy_and_loss", "activation_params", "approximable_layers", "approximate", "calibrate", "choose_path",
    "conv2d_accumulators", "current_assignment", "EmulationOptions", "finetune", "linear_accumulators", "low_rank_factors",
    "operand_histograms", "predict", "quantize", "Scores", "score_examples", "set_assignment", "tune_weights", "weight_params",
]
