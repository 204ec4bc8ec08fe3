"""``uniform``: one multiplier in every layer, for each candidate."""

from __future__ import annotations

from xaigen.search.problem import AssignmentProblem, Run
from xaigen.search.registry import SearchContext, register


@register("uniform")
def uniform(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """One multiplier everywhere, for each candidate (spread over the power range if over budget)."""
    run = Run(problem, budget, "uniform", advance=context.advance)
    names = sorted(problem.candidates, key=problem.power)
    if len(names) > budget:
        step = (len(names) - 1) / max(1, budget - 1)
        names = [names[round(i * step)] for i in range(budget)]
    for name in names:
        run.evaluate({n: name for n in problem.layers})
    return run
