"""One summary of a method's evaluated candidates, for both jobs (``run`` and ``nas``).

Vocabulary (the same in ``results.json`` and ``nas.json``):

* ``energy_ratio``: a candidate's energy over a reference energy (``run``: the exact design's
  multiplier energy; ``nas``: the largest architecture's exact accelerator energy);
* ``loss``: reference accuracy minus the candidate's accuracy (``run``: the exact int8 model on
  the validation half; ``nas``: the best exact accuracy any method found);
* ``by_budget[b]``: the lowest-energy candidate within budget ``b`` (None if none): its loss is at
  most ``b`` (``run``: plus ``[search] budget_margin_se`` standard errors of the paired accuracy
  difference, :meth:`~xaigen.search.problem.AssignmentProblem.within_budget`, so that the choice
  still holds on data the search never saw);
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


def _records(points: Sequence[tuple[float, float]]) -> list[dict]:
    return [{"energy_ratio": e, "loss": l} for e, l in points]


def summarize(scored: Sequence[Scored], loss_budgets: Sequence[float], hv_max_loss: float,
              describe: Callable[[Scored], dict], within: Callable[[Scored, float], bool] | None = None) -> dict:
    """Front, hypervolume curve and best candidate per loss budget, as plain data."""
    points = [(s.energy_ratio, s.loss) for s in scored]
    curve = [hypervolume(points[: i + 1], hv_max_loss) for i in range(len(points))]
    by_budget, best_ratio = {}, {}
    for limit in loss_budgets:
        feasible = [s for s in scored if (within(s, limit) if within else s.loss <= limit + 1e-12)]
        best = min(feasible, key=lambda s: (s.energy_pj, -s.accuracy), default=None)
        by_budget[f"{limit:g}"] = None if best is None else describe(best)
        best_ratio[f"{limit:g}"] = min((s.energy_ratio for s in feasible), default=None)
    return {
        "evaluations": len(scored), "hypervolume": curve[-1] if curve else 0.0,
        "hypervolume_curve": curve, "elapsed_curve": [s.elapsed_s for s in scored],
        "front": _records(pareto_front(points)), "points": _records(points),
        "by_budget": by_budget, "best_within": best_ratio,
    }


def best_known_front(summaries: dict[str, dict], hv_max_loss: float) -> dict:
    """The front of every method's evaluated candidates together: the best this run knows.

    Its hypervolume is at least every method's. It is an empirical ceiling (the true front may lie
    beyond what the run tried), and it says how much room was left to any one method: e.g. whether
    "1.05x the ablation's hypervolume" lies within the front all methods found together."""
    points = [(p["energy_ratio"], p["loss"]) for s in summaries.values() for p in s["points"]]
    return {"evaluations": len(points), "hypervolume": hypervolume(points, hv_max_loss),
            "front": _records(pareto_front(points))}


def time_to_reach(summary: dict, target: float) -> dict:
    """Evaluations and seconds a method needed to reach hypervolume ``target`` (None if never)."""
    for i, hv in enumerate(summary["hypervolume_curve"]):
        if hv >= target - 1e-12:
            return {"evaluations": i + 1, "wall_s": summary["elapsed_curve"][i]}
    return {"evaluations": None, "wall_s": None}


def summarize_run(run: Run, loss_budgets: Sequence[float], hv_max_loss: float) -> dict:
    """Summary of one assignment-search method; ``by_budget`` records the chosen assignment with
    its energy reductions (reference / approximate, :meth:`AssignmentProblem.reductions`) and the
    standard error of its loss (the budget rule: :meth:`AssignmentProblem.within_budget`)."""
    problem = run.problem

    def scored(e: Evaluation) -> Scored:  # relative energy: against each layer's exact reference
        return Scored(1 / problem.reductions(e.assignment)["multiplier_energy_reduction"],
                      problem.exact_accuracy - e.accuracy, e.energy_pj, e.accuracy, e.elapsed_s, e)

    def describe(s: Scored) -> dict:
        e: Evaluation = s.details
        return {"assignment": e.assignment, "accuracy": e.accuracy, "energy_pj": e.energy_pj,
                "multiplier_energy_pj": e.multiplier_energy_pj, **problem.reductions(e.assignment),
                "found_at_evaluation": e.index, "loss_se": problem.evaluation_loss_se(e)}

    summary = summarize([scored(e) for e in run.history], loss_budgets, hv_max_loss, describe,
                        lambda s, limit: problem.within_budget(s.details, limit))
    return {"evaluations": summary.pop("evaluations"), "wall_s": run.wall_s,
            "budget_margin_se": problem.budget_margin_se, **summary}
