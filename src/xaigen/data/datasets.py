"""Data sets as plain tensors: images float32 [N, C, H, W] normalised to mean 0 / std 1, labels int64.

Content is checked before use: both splits non-empty, train and test images of one shape,
pixels numeric and finite, labels integers in ``0 .. num_classes - 1``. ``train_limit`` /
``test_limit`` take a seeded random subset of every data set, digits included.
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xaigen.data.idx import read_idx
from xaigen.errors import InputError
from xaigen.fileio import require_file

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


def _type_name(dtype: np.dtype) -> str:
    return "strings" if dtype.kind in "USO" else dtype.name


def _check_split(x: np.ndarray, y: np.ndarray, source: str | Path, split: str, num_classes: int) -> None:
    """Images numeric and finite, labels integers in range, one label per image, not empty."""
    if len(x) == 0:
        raise InputError(source, f"the {split} split is empty")
    if x.dtype.kind not in "iuf":
        raise InputError(source, f"{split} images have type {_type_name(x.dtype)}, expected numbers")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.unravel_index(np.argmin(np.isfinite(x)), x.shape)
        raise InputError(source, f"{split} image {bad[0]} has a non-finite pixel ({x[bad]})")
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(source, f"{split}: {len(x)} images but labels of shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise InputError(source, f"{split} labels have type {_type_name(y.dtype)}, expected integers")
    outside = (y < 0) | (y >= num_classes)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(source, f"{split} label {int(y[i])} at index {i} is outside 0..{num_classes - 1}")


def _checked(name: str, source: str | Path, train: tuple, test: tuple, num_classes: int, limits: tuple,
             seed: int) -> Dataset:
    """The :class:`Dataset` of both splits, checked, subset to the limits and normalised."""
    (xtr, ytr), (xte, yte) = (_subset(*train, limits[0], seed), _subset(*test, limits[1], seed))
    _check_split(xtr, ytr, source, "train", num_classes)
    _check_split(xte, yte, source, "test", num_classes)
    if xtr.shape[1:] != xte.shape[1:]:
        raise InputError(source, f"train images are {xtr.shape[1:]} but test images are {xte.shape[1:]}")
    x_train, x_test = _normalised(xtr, xte)
    return Dataset(name, x_train, torch.from_numpy(ytr.astype(np.int64)), x_test,
                   torch.from_numpy(yte.astype(np.int64)), num_classes)


def _normalised(x_train: np.ndarray, x_test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x_train = x_train.astype(np.float32)
    x_test = x_test.astype(np.float32)
    mean, std = x_train.mean(), x_train.std() or 1.0
    return torch.from_numpy((x_train - mean) / std), torch.from_numpy((x_test - mean) / std)


def _subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random ``limit`` of the samples, in their original order (all when None)."""
    if limit is None or limit >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:limit])
    return x[idx], y[idx]


def load_digits(seed: int = 0, test_fraction: float = 0.3, train_limit: int | None = None,
                test_limit: int | None = None) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = bunch.images.reshape(-1, 1, 8, 8)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return _checked("digits", "digits", (images[train], bunch.target[train]), (images[test], bunch.target[test]),
                    10, (train_limit, test_limit), seed)


def load_fashion_mnist(directory: str | Path | None = None, train_limit: int | None = None,
                       test_limit: int | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST from IDX files (``train-images-idx3-ubyte[.gz]`` etc.) in ``directory``."""
    directory = Path(directory) if directory else FASHION_MNIST_DIR
    if directory.exists() and not directory.is_dir():
        raise InputError(directory, "is not a directory; expected the directory holding the IDX files")
    if not directory.is_dir():
        raise InputError(directory, "no such directory; install Debian package 'dataset-fashion-mnist' "
                         "(make data) or give the directory holding the IDX files")

    def find(stem: str) -> Path:
        for name in (f"{stem}.gz", stem):
            if (directory / name).exists() or (directory / name).is_symlink():
                return require_file(directory / name)  # a directory or FIFO is named as such
        raise InputError(directory, f"missing {stem}[.gz]")

    arrays = {}
    for part in ("train", "t10k"):
        images = read_idx(find(f"{part}-images-idx3-ubyte"))
        labels = read_idx(find(f"{part}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InputError(directory, f"{part}: images {images.shape} and labels {labels.shape} do not match")
        arrays[part] = (images[:, None], labels)
    return _checked("fashion-mnist", directory, arrays["train"], arrays["t10k"], 10, (train_limit, test_limit), seed)


MAX_PICKLE_BYTES = 512 * 2**20  # a CIFAR-10 batch is 31 MB
_MAX_RECONSTRUCT_BYTES = 2**20  # pickled arrays are created empty, then filled from the file's bytes


def _bounded_reconstruct(subtype, shape, dtype):
    """numpy's ``_reconstruct``, refusing to allocate what the pickle merely declares."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    dims = shape if isinstance(shape, tuple) else (shape,)
    if not all(isinstance(d, int) and 0 <= d for d in dims):
        raise pickle.UnpicklingError(f"invalid array shape {shape!r}")
    nbytes = math.prod(dims) * _plain_dtype(dtype).itemsize
    if nbytes > _MAX_RECONSTRUCT_BYTES:
        raise pickle.UnpicklingError(f"an array of {nbytes} bytes is declared before its data")
    return np.ndarray.__new__(np.ndarray, dims, dtype)


def _plain_dtype(*args):
    """``numpy.dtype(*args)`` unless it holds Python objects (which would unpickle code paths)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed")
    return dtype


def _bytes(*args):
    """``bytes(...)`` as protocol 2 pickles an empty ``b''``; ``bytes(n)`` would allocate n bytes."""
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("bytes(n) is not allowed")
    return bytes(*args)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only the plain containers and numpy arrays of the CIFAR format (no code runs,
    no allocation larger than the data actually present in the file)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _bounded_reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _bounded_reconstruct,
                ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _plain_dtype,
                ("__builtin__", "bytes"): _bytes, ("builtins", "bytes"): _bytes}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path):
    """The object in ``path``, read whole first: lengths in the pickle are bounded by the file."""
    if not path.exists() and not path.is_symlink():
        raise InputError(path, "missing CIFAR-10 batch file")
    require_file(path)
    if path.stat().st_size > MAX_PICKLE_BYTES:
        raise InputError(path, f"is larger than {MAX_PICKLE_BYTES} bytes; not a CIFAR-10 batch")
    try:
        return _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # any malformed pickle: the unpickler raises many kinds
        raise InputError(path, f"not a CIFAR-10 python pickle batch ({type(exc).__name__}: {exc})") from None


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise InputError(path, "expected a dict with b'data' and b'labels'")
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise InputError(path, "missing key 'data' or 'labels'")
    if not isinstance(data, np.ndarray) or not isinstance(labels, (list, np.ndarray)):
        raise InputError(path, "'data' must be an array and 'labels' a list of integers")
    try:
        labels = np.asarray(labels)
    except ValueError as exc:
        raise InputError(path, f"'labels' is not a flat list ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise InputError(path, f"'data' has shape {data.shape}, expected [N, 3072] with N labels")
    if labels.dtype.kind not in "iu" and labels.size:  # [] is float64 to numpy
        raise InputError(path, f"'labels' have type {_type_name(labels.dtype)}, expected integers")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(directory: str | Path, train_limit: int | None = None, test_limit: int | None = None,
                 seed: int = 0) -> Dataset:
    """CIFAR-10 from the standard python-pickle batches (``data_batch_1..5``, ``test_batch``)."""
    directory = Path(directory)
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "no such directory"
        raise InputError(directory, f"{problem} (expected cifar-10-batches-py)")
    train_files = sorted(directory.glob("data_batch_*"))
    if not train_files:
        raise InputError(directory, "no data_batch_* files")
    parts = [_cifar_batch(p) for p in train_files]
    dtypes = {p[0].dtype for p in parts}
    if len(dtypes) > 1:
        raise InputError(directory, f"the batches hold different pixel types {sorted(map(str, dtypes))}")
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return _checked("cifar10", directory, train, _cifar_batch(directory / "test_batch"), 10,
                    (train_limit, test_limit), seed)


def load_dataset(name: str, directory: str | Path | None = None, train_limit: int | None = None,
                 test_limit: int | None = None, seed: int = 0) -> Dataset:
    """A data set by name (see :data:`DATASET_NAMES`)."""
    if name == "digits":
        return load_digits(seed, train_limit=train_limit, test_limit=test_limit)
    if name == "fashion-mnist":
        return load_fashion_mnist(directory, train_limit, test_limit, seed)
    if name == "cifar10":
        if directory is None:
            raise InputError("data.dir", "cifar10 needs the cifar-10-batches-py directory")
        return load_cifar10(directory, train_limit, test_limit, seed)
    raise InputError("dataset", f"unknown data set '{name}', expected one of {', '.join(DATASET_NAMES)}")
