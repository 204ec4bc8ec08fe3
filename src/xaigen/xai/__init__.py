"""Explainable-AI layer criticality (Captum), damage models in loss units, and their checks
against measured single-layer truth."""

from xaigen.xai.damage import DAMAGE_MODELS, DamageTable, filled, floored, measured_damage, network_damage
from xaigen.xai.relevance import METHODS, LayerRelevance, layer_relevance
from xaigen.xai.sensitivity import Sensitivity, accuracy_and_loss, layer_sensitivity, spearman
from xaigen.xai.truth import Evaluated, TruthTable, damage_vs_truth, single_layer_table, strong_probes

__all__ = ["DAMAGE_MODELS", "METHODS", "DamageTable", "Evaluated", "LayerRelevance", "Sensitivity", "TruthTable",
           "accuracy_and_loss", "damage_vs_truth", "filled", "floored", "layer_relevance", "layer_sensitivity",
           "measured_damage", "network_damage", "single_layer_table", "spearman", "strong_probes"]
