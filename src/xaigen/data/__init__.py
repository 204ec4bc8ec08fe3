"""Data sets read offline: scikit-learn digits (default), Fashion-MNIST IDX files, CIFAR-10 pickles."""

from xaigen.data.datasets import DATASET_NAMES, Dataset, load_cifar10, load_dataset, load_digits, load_fashion_mnist
from xaigen.data.idx import read_idx

__all__ = ["DATASET_NAMES", "Dataset", "load_cifar10", "load_dataset", "load_digits", "load_fashion_mnist", "read_idx"]
