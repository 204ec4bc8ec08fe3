import optuna
import torch
from torch import nn

from xaigen.nas import Architecture, CandidateNet, largest_architecture, suggest_architecture
from xaigen.nas.space import MAX_LAYERS


def test_random_architectures_build_and_run():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(15):
        trial = study.ask()
        arch = suggest_architecture(trial)
        net = CandidateNet(arch, 1, 10, 8)
        assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert len(layers) == arch.max_layers <= MAX_LAYERS
        study.tell(trial, 0.0)


def test_residual_adds_input():
    arch = Architecture((8,), (3,), (2,), residual=True)
    net = CandidateNet(arch, 1, 10, 8).eval()
    with torch.no_grad():
        for conv in net.convs:
            conv.weight.zero_()
            conv.bias.fill_(1.0)
    # first conv: relu(1) = 1 everywhere; second: x + relu(1) = 2; then pooling and GAP: 2.
    feats = []
    net.gap.register_forward_hook(lambda m, a, o: feats.append(o))
    net(torch.randn(1, 1, 8, 8))
    assert torch.allclose(feats[0], torch.full_like(feats[0], 2.0))


def test_largest_architecture_is_largest():
    big = largest_architecture()
    assert big.max_layers == MAX_LAYERS and big.key().endswith("-res-fc64")
