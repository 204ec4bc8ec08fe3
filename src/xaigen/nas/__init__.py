"""XAI-NAS: architecture search with XAI-Gen inside, and the NAS baselines it is compared with."""

from xaigen.nas.runner import run_nas
from xaigen.nas.search import METHODS, NasSetting, run_method, summarize
from xaigen.nas.space import Architecture, CandidateNet, largest_architecture, suggest_architecture

__all__ = ["METHODS", "Architecture", "CandidateNet", "NasSetting", "largest_architecture", "run_method", "run_nas",
           "suggest_architecture", "summarize"]
