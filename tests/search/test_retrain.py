"""In-loop fine-tuning: the bracket at a budget edge, early stopping, and a point that misses its
budget as quantized but meets it after fine-tuning."""

import torch

from xaigen.data import load_digits
from xaigen.emulation import accuracy_and_loss, approximate, calibrate, set_assignment
from xaigen.hardware import PRESETS, layers_from_model
from xaigen.models import TrainConfig, small_cnn, train
from xaigen.multipliers import Catalogue
from xaigen.search import AssignmentProblem, Run
from xaigen.search.retrain import RetrainSettings, bracket, fine_tuned, retrained_choices


def _setting():
    data = load_digits()
    torch.manual_seed(0)
    model = small_cnn()
    train(model, data.x_train, data.y_train, TrainConfig(epochs=4))
    cat = Catalogue.default(include_user=False)
    calibration = calibrate(model, data.x_train[:256])
    ax = approximate(model, None, cat, calibration)
    set_assignment(ax, None, cat)
    p = AssignmentProblem(ax, data.x_test[:300], data.y_test[:300], cat, [m.name for m in cat if m.signed],
                          layers_from_model(model, (1, 8, 8)), PRESETS["tpu-v4"])
    return data, model, calibration, p


def test_fine_tuning_lifts_an_aggressive_assignment_over_its_budget():
    data, model, calibration, p = _setting()
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
