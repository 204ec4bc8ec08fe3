"""Fine-tuning inside the search: is a budget met after approximation-aware retraining?

A search judges each assignment by its accuracy as quantized, without retraining. ALWANN tunes
the weights to the chosen multipliers and TorchApprox trains with them (QAT); an assignment that
misses a budget by a few points may meet it after a short fine-tune. Fine-tuning every evaluated
assignment would cost far more than the search, so only the bracket at each budget edge is
retrained: the evaluated assignments whose loss exceeds the budget by at most ``margin`` and that
would save energy over the budget's choice without retraining (XAI-Gen spends part of its
evaluations across this bracket when told the margin). The loss as quantized grows with the saving
along the bracket and, roughly, so does the loss after fine-tuning, so the cheapest assignment that
meets the budget after fine-tuning is found by bisection, with at most ``candidates`` fine-tunes
per budget (:func:`bisect_bracket`); models already fine-tuned for a looser budget are judged first,
free, since an early-stopped fine-tune can break that order, and at the end every fine-tuned model
is judged against every budget, free (one fine-tuned for a tighter budget can meet a looser one). Fine-tuning uses the
straight-through estimator (:func:`xaigen.emulation.finetune`), one epoch at a time, keeping the
epoch with the lowest loss on a slice of the training data held back from the fine-tune (early stop
when it rises). With ``distill`` > 0 the fine-tune's targets mix the labels with the float
model's class probabilities (:func:`distillation_targets`). The validation half judges the
budget and nothing else: early stopping on it too would pick the epoch that flatters the judge,
and a choice would hold on the validation half but not on data the search never saw. The
cheapest assignment within budget after fine-tuning is the budget's retrained choice; its held-out
accuracy is measured by the caller. Every fine-tune is counted (``finetunes``) and timed.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

import torch

from xaigen.emulation import EmulationOptions, accuracy_and_loss, finetune, score_examples
from xaigen.search.problem import AssignmentProblem, Evaluation, Run

STOP_EXAMPLES = 2000  # early-stopping slice of the training data: enough for a stable mean loss


@dataclass(frozen=True)
class RetrainSettings:
    epochs: int = 2
    lr: float = 1e-3
    candidates: int = 3
    margin: float = 0.05
    seed: int = 0
    _: KW_ONLY
    distill: float = 0.0  # weight of the float model's class probabilities in the targets (distillation_targets)
    options: EmulationOptions = EmulationOptions()  # as the searched model was made


def bracket(run: Run, limit: float, settings: RetrainSettings) -> list[Evaluation]:
    """The evaluations that miss ``limit`` by at most ``margin`` and are cheaper than the cheapest
    one that meets it, cheapest first."""
    problem, ceiling = run.problem, bare_ceiling(run, limit)
    near = [e for e in run.history if problem.exact_accuracy - e.accuracy <= limit + settings.margin
            and not problem.within_budget(e, limit) and e.energy_pj < ceiling]
    return sorted(near, key=lambda e: (e.energy_pj, -e.accuracy))


def bare_ceiling(run: Run, limit: float) -> float:
    """Energy (pJ) of the cheapest evaluation that meets ``limit`` without retraining (inf if none):
    a retrained choice must be cheaper to be worth reporting."""
    return min((e.energy_pj for e in run.history if run.problem.within_budget(e, limit)), default=float("inf"))


def bisect_bracket(near: Sequence[Evaluation], meets: Callable[[Evaluation], bool],
                   can_try: Callable[[Evaluation], bool]) -> Evaluation | None:
    """The cheapest of ``near`` (cheapest first) that ``meets`` its budget after fine-tuning, by
    bisection: a miss moves the search to dearer assignments, a hit to cheaper ones. It stops
    when ``can_try`` refuses the next one (no fine-tunes left) and returns the cheapest hit so far."""
    lo, hi, best = 0, len(near), None
    while lo < hi:
        mid = (lo + hi) // 2
        if not can_try(near[mid]):
            break
        if meets(near[mid]):
            hi, best = mid, near[mid]
        else:
            lo = mid + 1
    return best


def early_stop_split(x_train: torch.Tensor, y_train: torch.Tensor, seed: int) -> tuple[tuple, tuple]:
    """``(fit, stop)``: a seeded tenth of the training data (at most ``STOP_EXAMPLES``, at least
    one example) is held back from the fine-tune to decide when it stops. The float model was
    trained on it, so its loss is optimistic; it only ranks epochs against each other."""
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
    held = max(1, min(STOP_EXAMPLES, len(x_train) // 10))
    fit, stop = order[held:], order[:held]
    return (x_train[fit], y_train[fit]), (x_train[stop], y_train[stop])


def distillation_targets(float_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, weight: float,
                         batch_size: int = 512) -> torch.Tensor:
    """Class-probability targets ``(1 - weight) onehot(y) + weight softmax(float_model(x))``.

    Cross-entropy is linear in its target, so training against this mixture minimizes
    ``(1 - weight) CE(labels) + weight CE(float model's probabilities)``: the label loss plus
    knowledge distillation from the float model (Hinton et al., temperature 1), whose soft targets
    say which wrong classes are near, and steer the approximate model back towards the function
    the float model computes rather than only towards the labels."""
    was_training = float_model.training
    float_model.eval()
    with torch.no_grad():
        logits = torch.cat([float_model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    float_model.train(was_training)
    probabilities = torch.softmax(logits.to(torch.float32), dim=1)
    onehot = torch.nn.functional.one_hot(y.to(torch.int64), probabilities.shape[1]).to(torch.float32)
    return (1 - weight) * onehot + weight * probabilities


def fine_tune_data(float_model: torch.nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                   settings: RetrainSettings) -> tuple[tuple, tuple]:
    """((fit inputs, fit targets), (stop inputs, stop labels)): :func:`early_stop_split`, the fit
    targets distilled where ``settings.distill``. The same for every assignment: made once a search."""
    (x_fit, y_fit), stop = early_stop_split(x_train, y_train, settings.seed)
    if settings.distill:
        y_fit = distillation_targets(float_model, x_fit, y_fit, settings.distill)
    return (x_fit, y_fit), stop


def fine_tuned(problem: AssignmentProblem, float_model: torch.nn.Module, calibration: dict, assignment: dict,
               x_train: torch.Tensor, y_train: torch.Tensor, settings: RetrainSettings,
               data: tuple[tuple, tuple] | None = None) -> tuple[torch.nn.Module, int]:
    """The approximate model of ``assignment`` fine-tuned with early stopping on training data
    held back from the fine-tune (never the validation half); returns it and the epochs kept.
    ``data``: :func:`fine_tune_data` of the same arguments, where the caller already has it."""
    (x_fit, y_fit), (x_stop, y_stop) = data or fine_tune_data(float_model, x_train, y_train, settings)
    model = settings.options.approximate(float_model, assignment, problem.catalogue, calibration)
    best_loss = accuracy_and_loss(model, x_stop, y_stop, task=problem.task)[1]
    best_state, kept = copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, settings.epochs + 1):
        finetune(model, x_fit, y_fit, 1, settings.lr, seed=settings.seed + epoch, task=problem.task)
        loss = accuracy_and_loss(model, x_stop, y_stop, task=problem.task)[1]
        if loss >= best_loss:
            break  # it hurts from here on: keep the best epoch
        best_loss, best_state, kept = loss, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return model.eval(), kept


def retrained_choices(run: Run, float_model: torch.nn.Module, calibration: dict, x_train: torch.Tensor,
                      y_train: torch.Tensor, loss_budgets: Sequence[float], settings: RetrainSettings) -> dict:
    """Per budget: the cheapest fine-tuned assignment (from any budget's bracket, cheaper than the
    budget's choice without retraining) within budget after fine-tuning, or None (bisection, at
    most ``settings.candidates`` new fine-tunes per budget); and every (budget, assignment)
    tried, met or not, so a budget no fine-tune reached is explained."""
    problem, attempts, started = run.problem, [], time.perf_counter()
    tuned_cache: dict[tuple, tuple] = {}  # a model fine-tuned for one budget is judged for the others free
    tuned: dict[tuple, Evaluation] = {}
    verdicts: dict[float, dict[tuple, bool]] = {limit: {} for limit in loss_budgets}
    key = problem.assignment_key
    data = functools.cache(lambda: fine_tune_data(float_model, x_train, y_train, settings))  # at the first fine-tune

    def judged(e: Evaluation, limit: float) -> bool:
        """Whether the fine-tuned model of ``e`` meets ``limit`` (recorded in ``attempts`` once)."""
        k = key(e.assignment)
        if k not in verdicts[limit]:
            _, kept, scores = tuned_cache[k]
            verdicts[limit][k] = problem.within_budget(scores, limit)
            attempts.append({"budget": f"{limit:g}", "assignment": e.assignment, "accuracy_before": e.accuracy,
                             "accuracy_after": scores.accuracy, "epochs": kept, "within_budget": verdicts[limit][k],
                             "multiplier_energy_reduction": problem.reductions(e.assignment)["multiplier_energy_reduction"]})
        return verdicts[limit][k]

    for limit in sorted(loss_budgets, reverse=True):
        fresh = []  # fine-tunes spent on this budget

        def can_try(e: Evaluation) -> bool:
            return key(e.assignment) in tuned_cache or len(fresh) < settings.candidates

        def meets(e: Evaluation) -> bool:
            k = key(e.assignment)
            if k not in tuned_cache:
                model, kept = fine_tuned(problem, float_model, calibration, e.assignment, x_train, y_train, settings,
                                         data())
                tuned_cache[k] = (model, kept, score_examples(model, problem.x, problem.y, task=problem.task))
                tuned[k] = e
                fresh.append(e)
            return judged(e, limit)

        near = bracket(run, limit, settings)
        # Models fine-tuned for a looser budget are judged first (free): the bisection assumes the loss
        # after fine-tuning grows along the bracket, and a fine-tune that stopped early can break that.
        hit = next((i for i, e in enumerate(near) if key(e.assignment) in tuned_cache and meets(e)), len(near))
        bisect_bracket(near[:hit], meets, can_try)
    # The choice: the cheapest fine-tuned model that meets the budget, whichever budget it was
    # fine-tuned for (one tuned for a tighter budget can meet a looser one its bisection never tried).
    choices = {}
    for limit in loss_budgets:
        ceiling = bare_ceiling(run, limit)
        met = [e for e in tuned.values() if e.energy_pj < ceiling and judged(e, limit)]
        best = min(met, key=lambda e: (e.energy_pj, -tuned_cache[key(e.assignment)][2].accuracy), default=None)
        choices[f"{limit:g}"] = None
        if best is not None:
            model, kept, scores = tuned_cache[key(best.assignment)]
            choices[f"{limit:g}"] = {"evaluation": best, "model": model, "accuracy": scores.accuracy, "epochs": kept}
    return {"choices": choices, "finetunes": len(tuned_cache), "attempts": attempts,
            "wall_s": time.perf_counter() - started}
