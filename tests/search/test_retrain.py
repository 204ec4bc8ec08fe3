"""In-loop fine-tuning: the bracket at a budget edge, early stopping, and a point that misses its
budget as quantized but meets it after fine-tuning."""

from xaigen.emulation import accuracy_and_loss, approximate, set_assignment
from xaigen.hardware import PRESETS, layers_from_model
from xaigen.search import AssignmentProblem, Run
from xaigen.search.retrain import RetrainSettings, bracket, fine_tuned, retrained_choices


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
    assert p.exact_accuracy - choice["accuracy"] <= budget
