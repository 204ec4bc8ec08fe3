"""``greedy-sensitivity``: measure each layer alone with the probe, then give the least sensitive
layers the cheapest multipliers that keep the loss within the loosest budget."""

from __future__ import annotations

from xaigen.search.problem import AssignmentProblem, Run
from xaigen.search.registry import SearchContext, register


@register("greedy-sensitivity")
def greedy_sensitivity(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """Least sensitive layer first, each to the cheapest multiplier within the loosest budget."""
    if context.probe is None:
        raise ValueError("greedy-sensitivity needs context.probe")
    loss_budget = max(context.loss_budgets)
    run = Run(problem, budget, "greedy-sensitivity", advance=context.advance)
    increase = {}
    for n in problem.layers:
        e = run.evaluate({n: context.probe})
        if e is None:
            return run
        increase[n] = e.loss - problem.exact_loss  # cross-entropy increase: finer than accuracy
    current: dict[str, str] = {}
    cheapest_first = sorted(problem.candidates, key=problem.power)
    for n in sorted(problem.layers, key=lambda n: increase[n]):
        for name in cheapest_first:
            if problem.power(name) >= problem.power(current.get(n, problem.exact_name)):
                break
            e = run.evaluate({**current, n: name})
            if e is None:
                return run
            if problem.within_budget(e, loss_budget):
                current = {**current, n: name}
                break
    return run
