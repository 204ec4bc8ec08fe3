"""XAI-NAS: architecture search with XAI-Gen inside, and the NAS baselines it is compared with."""

from xaigen.nas.methods import METHODS, Budget, NasSetting, run_method, summarize_nas
from xaigen.nas.runner import run_nas
from xaigen.nas.space import Architecture, CandidateNet, largest_architecture, suggest_architecture

__all__ = ["METHODS", "Architecture", "Budget", "CandidateNet", "NasSetting", "largest_architecture", "run_method",
           "run_nas", "suggest_architecture", "summarize_nas"]
