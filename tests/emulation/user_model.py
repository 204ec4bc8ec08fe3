"""A network as a user writes one: depthwise conv, BatchNorm, a functional conv in ``forward``, a
residual add, Conv1d and nn.MultiheadAttention over tokens; optionally an LSTM over the tokens."""

import torch
import torch.nn.functional as F
from torch import nn


class TokenNet(nn.Module):
    def __init__(self, classes: int = 5, lstm: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.mix = nn.Parameter(torch.randn(8, 8, 1, 1) * 0.3)  # used by F.conv2d in forward
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.temporal = nn.Conv1d(8, 8, 3, padding="same")
        self.lstm = nn.LSTM(8, 6, batch_first=True) if lstm else None
        self.head = nn.Linear(6 if lstm else 8, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = x + F.conv2d(F.relu(self.depthwise(x)), self.mix)  # residual add around a functional conv
        tokens = x.flatten(2).transpose(1, 2)  # [N, H*W, C]
        tokens = tokens + self.attn(tokens, tokens, tokens)[0]
        tokens = F.relu(self.temporal(tokens.transpose(1, 2))).transpose(1, 2)
        if self.lstm is not None:
            tokens = self.lstm(tokens)[0]
        return self.head(tokens.mean(1))


def make_model(lstm: bool = False, seed: int = 0) -> TokenNet:
    """A model with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = TokenNet(lstm=lstm)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.1, 0.1)
    return model.eval()
