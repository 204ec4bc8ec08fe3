"""Multiplier-assignment search: the problem, XAI-Gen and the baselines it is compared with.

Methods are plug-ins registered by name (:mod:`xaigen.search.registry`, one module each in
:mod:`xaigen.search.methods`); Optuna studies are owned by :mod:`xaigen.search.study`; one
summariser (:mod:`xaigen.search.summary`) serves both jobs.
"""

from xaigen.search.methods.xai_gen import lagrangian_path, refine_path, relative_error, xai_gen
from xaigen.search.pareto import best_within, hypervolume, pareto_front
from xaigen.search.prepare import Prepared, prepare
from xaigen.search.problem import AssignmentProblem, Evaluation, Run
from xaigen.search.registry import SearchContext, SearchMethod, get_method, method_names, register
from xaigen.search.summary import Scored, best_known_front, summarize, summarize_run, time_to_reach

__all__ = [
    "AssignmentProblem", "Evaluation", "Prepared", "Run", "Scored", "SearchContext", "SearchMethod", "best_known_front",
    "best_within",
    "get_method", "hypervolume", "lagrangian_path", "refine_path", "method_names", "pareto_front", "prepare", "register",
    "relative_error", "summarize", "summarize_run", "time_to_reach", "xai_gen",
]
