"""One summary of a method's evaluated candidates, for both jobs (``run`` and ``nas``).

Vocabulary (the same in ``results.json`` and ``nas.json``):

* ``energy_ratio``: a candidate's energy over a reference energy (``run``: the exact design's
  multiplier energy; ``nas``: the largest architecture's exact accelerator energy);
* ``loss``: reference accuracy minus the candidate's accuracy (``run``: the exact int8 model on
  the validation half; ``nas``: the best exact accuracy any method found);
* ``by_budget[b]``: the lowest-energy candidate whose loss is at most ``b`` (None if none); with a
  ``margin`` (``run``: ``[search] budget_margin_se`` standard errors of the paired accuracy
  difference), the loss plus its margin must be at most ``b``, so that the choice still holds
  on data the search never saw;
* ``best_within[b]``: that candidate's energy ratio;
* ``hypervolume``: area dominated in (energy_ratio, loss) (see :mod:`xaigen.search.pareto`), and
  ``hypervolume_curve[i]`` after the first ``i + 1`` candidates, ``elapsed_curve[i]`` seconds in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xaigen.search.pareto import hypervolume, pareto_front
from xaigen.search.problem import Evaluation, Run


@dataclass(frozen=True)
class Scored:
    """One evaluated candidate in summary units."""

    energy_ratio: float
    loss: float
    energy_pj: float
    accuracy: float
    elapsed_s: float
    details: Any = None  # what ``describe`` turns into the ``by_budget`` record


def summarize(scored: Sequence[Scored], loss_budgets: Sequence[float], hv_max_loss: float,
              describe: Callable[[Scored], dict], margin: Callable[[Scored], float] | None = None) -> dict:
    """Front, hypervolume curve and best candidate per loss budget, as plain data."""
    points = [(s.energy_ratio, s.loss) for s in scored]
    curve = [hypervolume(points[: i + 1], hv_max_loss) for i in range(len(points))]
    by_budget, within = {}, {}
    for limit in loss_budgets:
        feasible = _within(scored, limit, margin)
        best = min(feasible, key=lambda s: (s.energy_pj, -s.accuracy), default=None)
        by_budget[f"{limit:g}"] = None if best is None else describe(best)
        within[f"{limit:g}"] = min((s.energy_ratio for s in feasible), default=None)
    return {
        "evaluations": len(scored), "hypervolume": curve[-1] if curve else 0.0,
        "hypervolume_curve": curve, "elapsed_curve": [s.elapsed_s for s in scored],
        "front": [{"energy_ratio": e, "loss": l} for e, l in pareto_front(points)],
        "points": [{"energy_ratio": e, "loss": l} for e, l in points],
        "by_budget": by_budget, "best_within": within,
    }


def _within(scored: Sequence[Scored], limit: float, margin: Callable[[Scored], float] | None) -> list[Scored]:
    """Candidates with ``loss (+ margin) <= limit``; the margin (which may cost work) is asked
    for only where the bare loss is within the limit."""
    return [s for s in scored if s.loss <= limit + 1e-12 and (margin is None or s.loss + margin(s) <= limit + 1e-12)]


def time_to_reach(summary: dict, target: float) -> dict:
    """Evaluations and seconds a method needed to reach hypervolume ``target`` (None if never)."""
    for i, hv in enumerate(summary["hypervolume_curve"]):
        if hv >= target - 1e-12:
            return {"evaluations": i + 1, "wall_s": summary["elapsed_curve"][i]}
    return {"evaluations": None, "wall_s": None}


def summarize_run(run: Run, loss_budgets: Sequence[float], hv_max_loss: float, margin_se: float = 0.0) -> dict:
    """Summary of one assignment-search method; ``by_budget`` records the chosen assignment with
    its whole-accelerator and multiplier-only energy reductions (exact / approximate) and the
    standard error of its loss. ``margin_se``: how many standard errors of the paired accuracy
    difference the loss must stay below each budget (0: the bare loss)."""
    problem = run.problem
    errors: dict[int, float | None] = {}

    def loss_se(s: Scored) -> float | None:
        e: Evaluation = s.details
        if e.index not in errors:  # a stored trial (resumed, another worker's) has no per-example record
            correct = e.correct if e.correct is not None else problem.examples_correct(e.assignment)
            errors[e.index] = problem.loss_standard_error(correct)
        return errors[e.index]

    def scored(e: Evaluation) -> Scored:
        return Scored(e.multiplier_energy_pj / problem.exact_multiplier_energy_pj, problem.exact_accuracy - e.accuracy,
                      e.energy_pj, e.accuracy, e.elapsed_s, e)

    def describe(s: Scored) -> dict:
        e: Evaluation = s.details
        return {"assignment": e.assignment, "accuracy": e.accuracy, "energy_pj": e.energy_pj,
                "multiplier_energy_pj": e.multiplier_energy_pj,
                "energy_reduction": problem.exact_energy_pj / e.energy_pj,
                "multiplier_energy_reduction": problem.exact_multiplier_energy_pj / e.multiplier_energy_pj,
                "mac_energy_reduction": problem.exact_mac_energy_pj / problem.mac_energy(e.assignment),
                "found_at_evaluation": e.index, "loss_se": loss_se(s)}

    margin = (lambda s: margin_se * (loss_se(s) or 0.0)) if margin_se > 0 else None
    summary = summarize([scored(e) for e in run.history], loss_budgets, hv_max_loss, describe, margin)
    return {"evaluations": summary.pop("evaluations"), "wall_s": run.wall_s, "budget_margin_se": margin_se, **summary}
