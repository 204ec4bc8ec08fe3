"""``random``: independent uniformly random multipliers per layer."""

from __future__ import annotations

import random

from xaigen.search.problem import AssignmentProblem, Run
from xaigen.search.registry import SearchContext, register


@register("random")
def random_search(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """A random candidate per layer, seeded; repeated assignments cost nothing."""
    run = Run(problem, budget, "random", advance=context.advance)
    rng = random.Random(context.seed)
    for _ in range(budget * 20):  # repeats are free (cached); stop at the budget
        if run.remaining <= 0:
            break
        run.evaluate({n: rng.choice(problem.candidates) for n in problem.layers})
    return run
