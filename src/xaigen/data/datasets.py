"""Data sets as plain tensors: images float32 [N, C, H, W] normalised to mean 0 / std 1, labels int64."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xaigen.data.idx import read_idx
from xaigen.errors import InputError

DATASET_NAMES = ("digits", "fashion-mnist", "cifar10")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def input_size(self) -> int:
        return self.x_train.shape[2]


def _normalised(x_train: np.ndarray, x_test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x_train = x_train.astype(np.float32)
    x_test = x_test.astype(np.float32)
    mean, std = x_train.mean(), x_train.std() or 1.0
    return torch.from_numpy((x_train - mean) / std), torch.from_numpy((x_test - mean) / std)


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if limit is None or limit >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])
    return x[idx], y[idx]


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = _normalised(images[train], images[test])
    return Dataset("digits", x_train, torch.from_numpy(bunch.target[train]).long(),
                   x_test, torch.from_numpy(bunch.target[test]).long(), 10)


def load_fashion_mnist(directory: str | Path | None = None, train_limit: int | None = None,
                       test_limit: int | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST from IDX files (``train-images-idx3-ubyte[.gz]`` etc.) in ``directory``."""
    directory = Path(directory) if directory else FASHION_MNIST_DIR
    if not directory.is_dir():
        raise InputError(directory, "no such directory; install Debian package 'dataset-fashion-mnist' "
                         "(make data) or give the directory holding the IDX files")

    def find(stem: str) -> Path:
        for name in (f"{stem}.gz", stem):
            if (directory / name).is_file():
                return directory / name
        raise InputError(directory, f"missing {stem}[.gz]")

    arrays = {}
    for part in ("train", "t10k"):
        images = read_idx(find(f"{part}-images-idx3-ubyte"))
        labels = read_idx(find(f"{part}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InputError(directory, f"{part}: images {images.shape} and labels {labels.shape} do not match")
        arrays[part] = _subset(images[:, None], labels, train_limit if part == "train" else test_limit, seed)
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["t10k"]
    x_train, x_test = _normalised(xtr, xte)
    return Dataset("fashion-mnist", x_train, torch.from_numpy(ytr.astype(np.int64)),
                   x_test, torch.from_numpy(yte.astype(np.int64)), 10)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only the plain containers and numpy arrays of the CIFAR format (no code runs)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise InputError(path, "missing CIFAR-10 batch file") from None
    except Exception as exc:
        raise InputError(path, f"not a CIFAR-10 python pickle batch ({exc})") from None
    if not isinstance(batch, dict):
        raise InputError(path, "expected a dict with b'data' and b'labels'")
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise InputError(path, "missing key 'data' or 'labels'")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise InputError(path, f"'data' has shape {data.shape}, expected [N, 3072] with N labels")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(directory: str | Path, train_limit: int | None = None, test_limit: int | None = None,
                 seed: int = 0) -> Dataset:
    """CIFAR-10 from the standard python-pickle batches (``data_batch_1..5``, ``test_batch``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "no such directory (expected cifar-10-batches-py)")
    train_files = sorted(directory.glob("data_batch_*"))
    if not train_files:
        raise InputError(directory, "no data_batch_* files")
    parts = [_cifar_batch(p) for p in train_files]
    xtr, ytr = _subset(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), train_limit, seed)
    xte, yte = _subset(*_cifar_batch(directory / "test_batch"), test_limit, seed)
    x_train, x_test = _normalised(xtr, xte)
    return Dataset("cifar10", x_train, torch.from_numpy(ytr), x_test, torch.from_numpy(yte), 10)


def load_dataset(name: str, directory: str | Path | None = None, train_limit: int | None = None,
                 test_limit: int | None = None, seed: int = 0) -> Dataset:
    """A data set by name (see :data:`DATASET_NAMES`)."""
    if name == "digits":
        return load_digits(seed)
    if name == "fashion-mnist":
        return load_fashion_mnist(directory, train_limit, test_limit, seed)
    if name == "cifar10":
        if directory is None:
            raise InputError("dataset", "cifar10 needs data_dir: the cifar-10-batches-py directory")
        return load_cifar10(directory, train_limit, test_limit, seed)
    raise InputError("dataset", f"unknown data set '{name}', expected one of {', '.join(DATASET_NAMES)}")
