"""In-loop fine-tuning: the bracket at a budget edge, early stopping, and a point that misses its
budget as quantized but meets it after fine-tuning."""

import torch

from xaigen.emulation import accuracy_and_loss, approximate, set_assignment
from xaigen.hardware import PRESETS, layers_from_model
from xaigen.search import AssignmentProblem, Run, retrain
from xaigen.search.retrain import (
    RetrainSettings,
    bisect_bracket,
    bracket,
    early_stop_split,
    fine_tuned,
    retrained_choices,
)


def _setting(d):
    ax = approximate(d.model, None, d.catalogue, d.calibration)
    set_assignment(ax, None, d.catalogue)
    p = AssignmentProblem(ax, d.data.x_test[:300], d.data.y_test[:300], d.catalogue,
                          [m.name for m in d.catalogue if m.signed], layers_from_model(d.model, (1, 8, 8)),
                          PRESETS["tpu-v4"])
    return d.data, d.model, d.calibration, p


def test_fine_tuning_lifts_an_aggressive_assignment_over_its_budget(digits_trained):
    data, model, calibration, p = _setting(digits_trained)
    run = Run(p, 10, "probe")
    run.evaluate({})
    aggressive = run.evaluate({n: "trunc_s8_c8" for n in p.layers})
    loss_before = p.exact_accuracy - aggressive.accuracy
    assert loss_before > 0.02, "the test needs an assignment that misses a 2% budget as quantized"
    settings = RetrainSettings(epochs=4, lr=3e-3, candidates=2, margin=1.0)
    assert bracket(run, 0.02, settings) == [aggressive]  # cheaper than every feasible point, within margin
    tuned, epochs = fine_tuned(p, model, calibration, aggressive.assignment, data.x_train, data.y_train, settings)
    loss_after = p.exact_accuracy - accuracy_and_loss(tuned, p.x, p.y)[0]
    assert epochs >= 1 and loss_after < loss_before - 0.01  # fine-tuning helped
    budget = (loss_before + loss_after) / 2  # missed as quantized, met after fine-tuning
    found = retrained_choices(run, model, calibration, data.x_train, data.y_train, [budget], settings)
    choice = found["choices"][f"{budget:g}"]
    assert choice is not None and choice["evaluation"] is aggressive and found["finetunes"] == 1
    [attempt] = found["attempts"]  # the one fine-tune, judged once: it met the budget
    assert attempt["within_budget"] and attempt["accuracy_after"] == choice["accuracy"]
    assert attempt["accuracy_before"] == aggressive.accuracy and attempt["budget"] == f"{budget:g}"
    assert p.exact_accuracy - choice["accuracy"] <= budget


def test_the_early_stopping_slice_is_a_seeded_tenth_of_the_training_data_and_disjoint_from_the_fit():
    x, y = torch.arange(50.0).reshape(25, 2), torch.arange(25)
    (x_fit, y_fit), (x_stop, y_stop) = early_stop_split(x, y, seed=3)
    assert len(x_stop) == 2 and len(x_fit) == 23
    assert sorted(torch.cat([y_fit, y_stop]).tolist()) == list(range(25))  # a partition, rows kept paired
    assert torch.equal(x_stop[:, 0], 2.0 * y_stop)
    assert torch.equal(early_stop_split(x, y, seed=3)[1][1], y_stop)  # deterministic
    assert len(early_stop_split(x[:3], y[:3], seed=0)[1][0]) == 1  # never empty


def test_early_stopping_never_reads_the_validation_half_that_judges_the_budget(digits_trained, monkeypatch):
    data, model, calibration, p = _setting(digits_trained)
    seen, measure = [], retrain.accuracy_and_loss

    def spy(m, x, y, **kw):
        seen.append(x)
        return measure(m, x, y, **kw)

    monkeypatch.setattr(retrain, "accuracy_and_loss", spy)
    assignment = {n: "trunc_s8_c8" for n in p.layers}
    fine_tuned(p, model, calibration, assignment, data.x_train, data.y_train, RetrainSettings(epochs=2, lr=3e-3))
    stop = early_stop_split(data.x_train, data.y_train, 0)[1][0]
    assert len(seen) >= 2 and all(torch.equal(x, stop) for x in seen)
    assert not any(len(x) == len(p.x) and torch.equal(x, p.x) for x in seen)


def test_the_bracket_is_bisected_for_the_cheapest_point_that_meets_its_budget_after_fine_tuning():
    near = list(range(10))  # cheapest first; after fine-tuning, 6 and everything dearer meets the budget
    tried = []

    def meets(i):
        tried.append(i)
        return i >= 6

    assert bisect_bracket(near, meets, lambda i: True) == 6
    assert len(tried) <= 4 and tried[0] == 5  # log2(10) fine-tunes, the middle first
    tried.clear()
    assert bisect_bracket(near, meets, lambda i: len(tried) < 2) == 8  # 5 misses, 8 meets, no tries left
    assert bisect_bracket(near, lambda i: False, lambda i: True) is None
    assert bisect_bracket([], meets, lambda i: True) is None


def test_a_model_fine_tuned_for_a_looser_budget_is_judged_first_for_a_tighter_one(digits_trained, monkeypatch):
    """The bisection assumes the loss after fine-tuning grows along the bracket; an early-stopped
    fine-tune can break that, so a model already fine-tuned that meets the budget is never missed."""
    from xaigen.emulation import Scores

    data, model, calibration, p = _setting(digits_trained)  # budget_margin_se 0: the bare loss decides
    run = Run(p, 10, "probe")
    run.evaluate({})
    a, b, c = (run.evaluate({n: m for n in p.layers}) for m in ("trunc_s8_c10", "mul8s_1L2N", "trunc_s8_c8"))
    loss = {id(e): p.exact_accuracy - e.accuracy for e in (a, b, c)}
    assert loss[id(a)] > max(loss[id(b)], loss[id(c)]) and min(loss[id(b)], loss[id(c)]) > 0
    assert a.energy_pj < b.energy_pj < c.energy_pj
    loose, tight = (loss[id(a)] + max(loss[id(b)], loss[id(c)])) / 2, min(loss[id(b)], loss[id(c)]) / 2
    recovered = {p.assignment_key(a.assignment)}  # only the cheapest recovers fully

    def fake_fine_tune(problem, float_model, calibration, assignment, *args):
        return assignment, 1

    def fake_scores(assignment, x, y, task=None):
        e = next(e for e in (a, b, c) if e.assignment == assignment)
        full = p.assignment_key(assignment) in recovered
        return Scores(p.exact_accuracy if full else e.accuracy, 0.0)

    monkeypatch.setattr(retrain, "fine_tuned", fake_fine_tune)
    monkeypatch.setattr(retrain, "score_examples", fake_scores)
    settings = RetrainSettings(candidates=1, margin=1.0)
    assert bracket(run, loose, settings) == [a] and bracket(run, tight, settings) == [a, b, c]
    found = retrained_choices(run, model, calibration, data.x_train, data.y_train, [loose, tight], settings)
    assert found["choices"][f"{tight:g}"]["evaluation"] is a  # bisection alone would try b, then stop
    assert found["finetunes"] == 1 and [t["budget"] for t in found["attempts"]] == [f"{loose:g}", f"{tight:g}"]


def test_a_model_fine_tuned_for_a_tighter_budget_is_the_looser_ones_choice_where_it_meets_it(digits_trained,
                                                                                              monkeypatch):
    """The looser budget's bisection stops at ``b`` (one fine-tune each); the tighter one then
    fine-tunes the cheaper ``a``, which meets both: it is the choice of both budgets."""
    from xaigen.emulation import Scores

    data, model, calibration, p = _setting(digits_trained)
    run = Run(p, 10, "probe")
    run.evaluate({})
    a, b, c = (run.evaluate({n: m for n in p.layers}) for m in ("trunc_s8_c10", "mul8s_1L2N", "trunc_s8_c8"))
    loss = {id(e): p.exact_accuracy - e.accuracy for e in (a, b, c)}
    assert a.energy_pj < b.energy_pj < c.energy_pj and min(loss.values()) > 0
    loose = min(loss.values()) / 2
    tight = loose / 2
    recovered = {p.assignment_key(e.assignment) for e in (a, b)}

    monkeypatch.setattr(retrain, "fine_tuned", lambda problem, float_model, calibration, assignment, *args: (assignment, 1))
    monkeypatch.setattr(retrain, "score_examples", lambda assignment, x, y, task=None: Scores(
        p.exact_accuracy if p.assignment_key(assignment) in recovered else 0.0, 0.0))
    settings = RetrainSettings(candidates=1, margin=1.0)
    assert bracket(run, loose, settings) == bracket(run, tight, settings) == [a, b, c]
    found = retrained_choices(run, model, calibration, data.x_train, data.y_train, [loose, tight], settings)
    assert found["choices"][f"{tight:g}"]["evaluation"] is a
    assert found["choices"][f"{loose:g}"]["evaluation"] is a  # before: b, the looser bisection's only hit
    assert found["finetunes"] == 2
    judged = {(t["budget"], p.assignment_key(t["assignment"])): t["within_budget"] for t in found["attempts"]}
    assert judged == {(f"{loose:g}", p.assignment_key(b.assignment)): True,
                      (f"{tight:g}", p.assignment_key(b.assignment)): True,
                      (f"{tight:g}", p.assignment_key(a.assignment)): True,
                      (f"{loose:g}", p.assignment_key(a.assignment)): True}


def test_distillation_targets_mix_the_labels_with_the_float_models_probabilities():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)).train()
    x, y = torch.randn(700, 4), torch.randint(0, 3, (700,))
    labels_only = retrain.distillation_targets(model, x, y, 0.0, batch_size=256)
    assert torch.equal(labels_only, torch.nn.functional.one_hot(y, 3).float())
    assert model.training  # the caller's mode is restored ...
    teacher = retrain.distillation_targets(model, x, y, 1.0, batch_size=256)
    with torch.no_grad():  # ... and the probabilities are the eval-mode model's (no dropout), batch by batch
        assert torch.allclose(teacher, torch.softmax(model.eval()(x), dim=1), atol=1e-6)
    mixed = retrain.distillation_targets(model, x, y, 0.25)
    assert torch.allclose(mixed, 0.75 * labels_only + 0.25 * teacher, atol=1e-6)
    assert torch.allclose(mixed.sum(dim=1), torch.ones(700), atol=1e-6)


def test_a_distilling_fine_tune_trains_on_the_float_models_probabilities_of_the_fit_slice(digits_trained,
                                                                                         monkeypatch):
    data, model, calibration, p = _setting(digits_trained)
    seen, real = [], retrain.finetune
    monkeypatch.setattr(retrain, "finetune", lambda m, x, y, *a, **kw: seen.append((x, y)) or real(m, x, y, *a, **kw))
    settings = RetrainSettings(epochs=1, lr=3e-3, distill=0.5)
    fine_tuned(p, model, calibration, {n: "trunc_s8_c8" for n in p.layers}, data.x_train, data.y_train, settings)
    (x_fit, y_fit), _ = early_stop_split(data.x_train, data.y_train, settings.seed)
    [(x, targets)] = seen
    assert torch.equal(x, x_fit)
    assert torch.allclose(targets, retrain.distillation_targets(model, x_fit, y_fit, 0.5))
