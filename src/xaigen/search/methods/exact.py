"""``exact``: every layer on the exact multiplier (the reference every saving is measured against)."""

from __future__ import annotations

from xaigen.search.problem import AssignmentProblem, Run
from xaigen.search.registry import SearchContext, register


@register("exact")
def exact(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """Every layer exact: one evaluation."""
    run = Run(problem, 1, "exact", advance=context.advance)
    run.evaluate({})
    return run
