"""Explainable-AI layer criticality (Captum) and its check against measured sensitivity."""

from xaigen.xai.relevance import METHODS, LayerRelevance, layer_relevance
from xaigen.xai.sensitivity import Sensitivity, accuracy_and_loss, layer_sensitivity, spearman

__all__ = ["METHODS", "LayerRelevance", "Sensitivity", "accuracy_and_loss", "layer_relevance", "layer_sensitivity",
           "spearman"]
