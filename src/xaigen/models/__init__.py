"""Small CNNs written here (no torchvision): the embedded default, LeNet-5 and CIFAR-style ResNets."""

from xaigen.models.architectures import MODEL_NAMES, build_model, default_input_shape, lenet5, resnet, small_cnn
from xaigen.models.training import TrainConfig, load_or_train, train

__all__ = ["MODEL_NAMES", "TrainConfig", "build_model", "default_input_shape", "lenet5", "load_or_train", "resnet", "small_cnn", "train"]
