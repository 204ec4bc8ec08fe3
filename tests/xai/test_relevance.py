import math

import pytest
import torch
from torch import nn

from xaigen.errors import InputError
from xaigen.models import lenet5, resnet, small_cnn
from xaigen.xai import METHODS, layer_relevance, spearman


@pytest.mark.parametrize("factory,shape", [(small_cnn, (1, 8, 8)), (lambda: lenet5(1, 10, 28), (1, 28, 28)),
                                           (lambda: resnet(8, 1, 10), (1, 16, 16))])
def test_every_method_scores_every_layer(factory, shape):
    torch.manual_seed(0)
    model = factory().eval()
    x, y = torch.randn(6, *shape), torch.randint(0, 10, (6,))
    layers = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for r in layer_relevance(model, x, y, METHODS, steps=4):
        assert r.error is None, (r.method, r.error)
        assert list(r.scores) == layers
        assert math.isclose(sum(r.scores.values()), 1.0, rel_tol=1e-9)
        assert all(v >= 0 for v in r.scores.values())


def test_dead_layer_gets_no_relevance():
    """A layer whose output is multiplied by zero downstream cannot matter to the prediction."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.dead = nn.Linear(4, 4)
            self.out = nn.Linear(4, 3)

        def forward(self, x):
            return self.out(self.a(x) + 0.0 * self.dead(x))

    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for r in layer_relevance(Net(), x, y, ["gradient_x_activation", "integrated_gradients"], steps=4):
        assert r.scores["dead"] == 0.0 and r.scores["a"] > 0


def test_unknown_method():
    with pytest.raises(InputError, match="unknown method"):
        layer_relevance(small_cnn(), torch.randn(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), ["shap"])


def test_spearman():
    a = {"x": 1, "y": 2, "z": 3, "w": 4}
    assert spearman(a, {"x": 10, "y": 20, "z": 30, "w": 40}) == pytest.approx(1.0)
    assert spearman(a, {"x": 4, "y": 3, "z": 2, "w": 1}) == pytest.approx(-1.0)
    assert math.isnan(spearman(a, {"x": 1, "y": 1, "z": 1, "w": 1}))
