"""Small CNNs written here (no torchvision): the embedded default, LeNet-5 and CIFAR-style ResNets."""

from xaigen.models.architectures import (
    MODEL_NAMES,
    ModelName,
    build_model,
    default_input_shape,
    lenet5,
    parse_model_name,
    resnet,
    small_cnn,
)
from xaigen.models.training import TrainConfig, fit, load_or_train, train

__all__ = ["MODEL_NAMES", "ModelName", "parse_model_name", "TrainConfig", "build_model", "default_input_shape", "fit", "lenet5", "load_or_train", "resnet", "small_cnn", "train"]
