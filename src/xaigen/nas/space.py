"""The architecture search space: a small CNN family that trains in seconds on 2 cores.

An architecture is ``stages`` stages; stage ``s`` has ``blocks[s]`` conv blocks of ``widths[s]``
channels and ``kernels[s]`` x ``kernels[s]`` kernels (same padding), optionally ``residual``
(each block after the first adds its input: x + conv(x)), followed by 2x2 max-pooling when the
feature map is still larger than 2x2. Then global average pooling, an optional hidden Linear layer of
``hidden`` units, and the classifier.

Genes (Optuna parameters): ``stages`` in {1, 2, 3}; per stage ``w{s}`` in {8, 16, 32},
``k{s}`` in {3, 5}, ``b{s}`` in {1, 2}; ``residual`` in {0, 1}; ``hidden`` in {0, 32, 64}.
That is 3 * 12^3 * 2 * 3 (minus unused genes) architectures, ~20k-60k MACs each on 8x8 digits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

WIDTHS = (8, 16, 32)
KERNELS = (3, 5)
BLOCKS = (1, 2)
HIDDEN = (0, 32, 64)
MAX_STAGES = 3


@dataclass(frozen=True)
class Architecture:
    widths: tuple[int, ...]
    kernels: tuple[int, ...]
    blocks: tuple[int, ...]
    residual: bool = False
    hidden: int = 0

    @property
    def stages(self) -> int:
        return len(self.widths)

    @property
    def max_layers(self) -> int:
        """Approximable layers: every conv plus the hidden and output Linear layers."""
        return sum(self.blocks) + (2 if self.hidden else 1)

    def as_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        stages = "-".join(f"{w}k{k}x{b}" for w, k, b in zip(self.widths, self.kernels, self.blocks))
        return f"{stages}{'-res' if self.residual else ''}{f'-fc{self.hidden}' if self.hidden else ''}"


MAX_LAYERS = MAX_STAGES * max(BLOCKS) + 2


def suggest_architecture(trial) -> Architecture:
    """Sample an architecture from an Optuna trial (only the genes the architecture uses)."""
    stages = trial.suggest_int("stages", 1, MAX_STAGES)
    widths = tuple(trial.suggest_categorical(f"w{s}", list(WIDTHS)) for s in range(stages))
    kernels = tuple(trial.suggest_categorical(f"k{s}", list(KERNELS)) for s in range(stages))
    blocks = tuple(trial.suggest_categorical(f"b{s}", list(BLOCKS)) for s in range(stages))
    residual = bool(trial.suggest_categorical("residual", [0, 1]))
    hidden = trial.suggest_categorical("hidden", list(HIDDEN))
    return Architecture(widths, kernels, blocks, residual, hidden)


class CandidateNet(nn.Module):
    """A network of the search space (one activation module per use, so Captum can hook each)."""

    def __init__(self, arch: Architecture, in_channels: int, num_classes: int, input_size: int):
        super().__init__()
        self.arch = arch
        self.convs = nn.ModuleList()
        self.relus = nn.ModuleList()
        self.pools = nn.ModuleList()
        self.block_stage: list[int] = []
        cin, size = in_channels, input_size
        for s, (w, k, b) in enumerate(zip(arch.widths, arch.kernels, arch.blocks)):
            for _ in range(b):
                self.convs.append(nn.Conv2d(cin, w, k, padding=k // 2))
                self.relus.append(nn.ReLU())
                self.block_stage.append(s)
                cin = w
            pool = size > 2
            self.pools.append(nn.MaxPool2d(2) if pool else nn.Identity())
            size = size // 2 if pool else size
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Linear(cin, arch.hidden) if arch.hidden else None
        self.hidden_relu = nn.ReLU() if arch.hidden else None
        self.fc = nn.Linear(arch.hidden or cin, num_classes)

    def forward(self, x):
        for i, (conv, relu) in enumerate(zip(self.convs, self.relus)):
            y = relu(conv(x))
            first_of_stage = i == 0 or self.block_stage[i] != self.block_stage[i - 1]
            x = x + y if self.arch.residual and not first_of_stage else y
            last_of_stage = i + 1 == len(self.convs) or self.block_stage[i + 1] != self.block_stage[i]
            if last_of_stage:
                x = self.pools[self.block_stage[i]](x)
        x = torch.flatten(self.gap(x), 1)
        if self.hidden is not None:
            x = self.hidden_relu(self.hidden(x))
        return self.fc(x)


def largest_architecture() -> Architecture:
    """The most expensive member of the space (the energy reference for hypervolumes)."""
    n = MAX_STAGES
    return Architecture((max(WIDTHS),) * n, (max(KERNELS),) * n, (max(BLOCKS),) * n, True, max(HIDDEN))
