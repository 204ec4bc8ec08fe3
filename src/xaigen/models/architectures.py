"""Model definitions. Every approximable layer is an ``nn.Conv2d`` or ``nn.Linear``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xaigen.errors import InputError


class SmallCNN(nn.Module):
    """The embedded default: 2 conv + 2 linear layers for 8x8 digits (trains in seconds)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(2 * width * 4 * 4, 64)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc2(self.relu3(self.fc1(torch.flatten(x, 1))))


def small_cnn(in_channels: int = 1, num_classes: int = 10, width: int = 16) -> nn.Module:
    return SmallCNN(in_channels, num_classes, width)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling, for 28x28 or 32x32 inputs."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2 if input_size == 28 else 0)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)
        # One activation module per use, so that DeepLift and LRP can hook each of them.
        self.relu1, self.relu2, self.relu3, self.relu4 = nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(self.relu4(self.fc2(self.relu3(self.fc1(x)))))


def lenet5(in_channels: int = 1, num_classes: int = 10, input_size: int = 28) -> nn.Module:
    return LeNet5(in_channels, num_classes, input_size)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): two 3x3 convs, identity or 1x1-conv shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.shortcut = None  # identity
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """CIFAR-style ResNet-(6n+2): 3 stages of n blocks, widths w, 2w, 4w."""

    def __init__(self, depth: int = 20, in_channels: int = 3, num_classes: int = 10, width: int = 16):
        super().__init__()
        if (depth - 2) % 6:
            raise InputError("model", f"ResNet depth must be 6n+2 (8, 14, 20, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        layers, cin = [], width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet(depth: int = 20, in_channels: int = 3, num_classes: int = 10, width: int = 16) -> nn.Module:
    return ResNet(depth, in_channels, num_classes, width)


MODEL_NAMES = ("small-cnn", "lenet5", "resnet8", "resnet14", "resnet20")


@dataclass(frozen=True)
class ModelName:
    """A parsed built-in model name: ``small-cnn``, ``lenet5`` or ``resnet<6n+2>``."""

    family: str  # small-cnn, lenet5, resnet
    depth: int | None = None  # ResNets only

    @property
    def default_input_shape(self) -> tuple[int, int, int]:
        """The input [C, H, W] it is normally used with (digits, Fashion-MNIST, CIFAR-10)."""
        return {"small-cnn": (1, 8, 8), "lenet5": (1, 28, 28), "resnet": (3, 32, 32)}[self.family]


def parse_model_name(name: str) -> ModelName:
    """The one owner of built-in model names; an unknown name or a ResNet depth that is not 6n+2
    is an :class:`InputError`."""
    if name in ("small-cnn", "lenet5"):
        return ModelName(name)
    depth = name[6:]
    if name.startswith("resnet") and depth.isdigit() and int(depth) >= 8 and (int(depth) - 2) % 6 == 0:
        return ModelName("resnet", int(depth))
    raise InputError("model", f"unknown model '{name}', expected one of {', '.join(MODEL_NAMES)} "
                              "(any resnet<6n+2>)")


def build_model(name: str, in_channels: int, num_classes: int, input_size: int) -> nn.Module:
    """A model by name for inputs ``[N, in_channels, input_size, input_size]``."""
    parsed = parse_model_name(name)
    if parsed.family == "small-cnn":
        if input_size != 8:
            raise InputError("model", f"small-cnn expects 8x8 inputs, got {input_size}x{input_size}")
        return small_cnn(in_channels, num_classes)
    if parsed.family == "lenet5":
        if input_size not in (28, 32):
            raise InputError("model", f"lenet5 expects 28x28 or 32x32 inputs, got {input_size}x{input_size}")
        return lenet5(in_channels, num_classes, input_size)
    return resnet(parsed.depth, in_channels, num_classes)


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The input [C, H, W] a model is normally used with (digits, Fashion-MNIST, CIFAR-10)."""
    return parse_model_name(name).default_input_shape
