"""Multiplier-assignment search: XAI-Gen and the baselines it is compared with."""

from xaigen.search.baselines import (
    exact_baseline,
    greedy_sensitivity_baseline,
    nsga2_baseline,
    random_baseline,
    uniform_baseline,
)
from xaigen.search.pareto import best_within, hypervolume, pareto_front
from xaigen.search.prepare import Prepared, prepare
from xaigen.search.problem import AssignmentProblem, Evaluation, Run
from xaigen.search.xaigen import lagrangian_path, relative_error, xai_gen

__all__ = [
    "AssignmentProblem", "Evaluation", "Run", "best_within", "exact_baseline", "greedy_sensitivity_baseline",
    "hypervolume", "lagrangian_path", "nsga2_baseline", "pareto_front", "Prepared", "prepare", "random_baseline", "relative_error",
    "uniform_baseline", "xai_gen",
]
