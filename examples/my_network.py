"""A network of the kind researchers bring, used by the README's "Bring your own network" example
and by tests/test_user_network.py.

    xaigen run --config examples/my_network.toml --out runs/my-network

``build`` has a depthwise convolution, BatchNorm, a convolution called functionally in
``forward`` (no nn.Conv2d module), a residual add, and nn.MultiheadAttention over the pixels as
tokens; ``build_with_lstm`` adds an nn.LSTM, whose fused kernel xaigen counts but cannot
approximate.
"""

import torch
import torch.nn.functional as F
from torch import nn


class MyNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, lstm: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.depthwise = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.mix_weight = nn.Parameter(torch.randn(width, width, 1, 1) / width**0.5)  # used with F.conv2d
        self.attn = nn.MultiheadAttention(width, num_heads=2, batch_first=True)
        self.lstm = nn.LSTM(width, width, batch_first=True) if lstm else None
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = x + F.relu(self.depthwise(x))  # residual add
        x = F.relu(F.conv2d(x, self.mix_weight))  # a functional convolution
        tokens = x.flatten(2).transpose(1, 2)  # [N, H*W, C]
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        tokens = tokens + attended
        if self.lstm is not None:
            tokens, _ = self.lstm(tokens)
        return self.head(tokens.mean(dim=1))


def build(in_channels: int, num_classes: int) -> nn.Module:
    return MyNet(in_channels, num_classes)


def build_with_lstm(in_channels: int, num_classes: int) -> nn.Module:
    return MyNet(in_channels, num_classes, lstm=True)


def make_data(path: str = "examples/digits.npz") -> None:
    """Write scikit-learn's digits as the .npz layout xaigen reads (x_train, y_train, x_test, y_test)."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:540], order[540:]
    np.savez(path, x_train=x[train], y_train=digits.target[train], x_test=x[test], y_test=digits.target[test])


if __name__ == "__main__":
    make_data()
