"""A user's own data: an ``.npz`` file, an image folder, or a ``module:factory`` of torch Datasets.

* ``[data] name = "npz"``, ``path = "data.npz"``: arrays ``x_train, y_train, x_test, y_test``
  (samples ``[N, ...]`` of any float or integer type, integer class labels ``[N]``);
* ``name = "folder"``, ``path = "images/"``: the ImageFolder layout, ``images/train/<class>/*.png``
  and ``images/test/<class>/*.png`` (read with Pillow; one size; grey or RGB), normalised to mean
  0 / std 1 over the training images;
* ``name = "file.py:factory"`` or ``"package.module:factory"``: a function returning
  ``(train_dataset, test_dataset)``, each a ``torch.utils.data.Dataset`` of ``(sample, label)``.

Every problem (missing array, NaN samples, labels that are not integers in ``[0, classes)``,
train/test shapes that differ, an empty split, an unreadable image) is one :class:`InputError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xaigen.data.datasets import Dataset, _normalised, _subset
from xaigen.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


MAX_CLASSES = 100_000  # a label beyond this is a mistake (an ID, a float cast), not a class


def _inferred_classes(source: str, y_train: np.ndarray, y_test: np.ndarray) -> int:
    """``max(training label) + 1``; a test label the training labels never reach, or more than
    ``MAX_CLASSES`` classes, is an :class:`InputError` (one output per class would be built)."""
    top = int(y_train.max())
    if top >= MAX_CLASSES:
        raise InputError(source, f"label {top} implies {top + 1} classes, more than {MAX_CLASSES}", "y_train")
    if int(y_test.max()) > top:
        raise InputError(source, f"test label {int(y_test.max())} is beyond every training label (0..{top})",
                         "y_test")
    return top + 1


def checked_dataset(name: str, source: str, x_train, y_train, x_test, y_test, num_classes: int | None = None,
                    class_labels: bool = True) -> Dataset:
    """Validate user arrays and make a :class:`Dataset` (float32 samples; int64 class labels, or
    float32 targets of any shape for a user's task when ``class_labels`` is False)."""
    arrays = {"x_train": np.asarray(x_train), "y_train": np.asarray(y_train), "x_test": np.asarray(x_test),
              "y_test": np.asarray(y_test)}
    for key, a in arrays.items():
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InputError(source, f"expected numbers, got {a.dtype}", key)
        if len(a) == 0:
            raise InputError(source, "is empty", key)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(y) != len(x) or (class_labels and y.ndim != 1):
            raise InputError(source, f"expected {len(x)} labels (one per sample), got shape {y.shape}", f"y_{split}")
        if not class_labels:
            if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
                raise InputError(source, "has NaN or infinite targets", f"y_{split}")
            continue
        if not np.issubdtype(y.dtype, np.integer):
            raise InputError(source, f"labels must be integers, got {y.dtype}", f"y_{split}")
        if x.ndim < 2:
            raise InputError(source, f"expected samples [N, ...], got shape {x.shape}", f"x_{split}")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise InputError(source, "has NaN or infinite values", f"x_{split}")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise InputError(source, f"test samples {arrays['x_test'].shape[1:]} differ from training samples "
                                 f"{arrays['x_train'].shape[1:]}", "x_test")
    if not class_labels:  # "classes" is then the number of outputs a model needs
        outputs = int(np.prod(arrays["y_train"].shape[1:]))
        return Dataset(name, *(torch.from_numpy(arrays[k].astype(np.float32)) for k in arrays), outputs)
    classes = num_classes or _inferred_classes(source, arrays["y_train"], arrays["y_test"])
    for key in ("y_train", "y_test"):
        y = arrays[key]
        if y.min() < 0 or y.max() >= classes:
            raise InputError(source, f"labels must be in [0, {classes}), found {y.min()}..{y.max()}", key)
    return Dataset(name, torch.from_numpy(arrays["x_train"].astype(np.float32)),
                   torch.from_numpy(arrays["y_train"].astype(np.int64)),
                   torch.from_numpy(arrays["x_test"].astype(np.float32)),
                   torch.from_numpy(arrays["y_test"].astype(np.int64)), classes)


def load_npz(path: str | Path, class_labels: bool = True) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "not a directory: expected an .npz file" if path.is_dir() else "no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data.files]
            if missing:
                raise InputError(path, f"missing array(s) {', '.join(missing)} (has {', '.join(data.files) or 'none'})")
            arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable .npz file ({exc})") from None
    return checked_dataset(f"npz:{path.name}", str(path), *arrays, class_labels=class_labels)


def _read_split(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) \
            if (root / cls).is_dir() else []
        for file in files:
            try:
                with Image.open(file) as image:
                    mode = "L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB"
                    pixels = np.asarray(image.convert(mode), dtype=np.float32)
            except (OSError, UnidentifiedImageError) as exc:
                raise InputError(file, f"not a readable image ({exc})") from None
            images.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
            labels.append(label)
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise InputError(root, f"images must all have one size and mode, found {sorted(shapes)[:3]}")
    return (np.stack(images) if images else np.zeros((0, 1, 1, 1), np.float32)), np.array(labels, dtype=np.int64)


def load_image_folder(path: str | Path) -> Dataset:
    root = Path(path)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise InputError(root, "expected the ImageFolder layout: train/<class>/*.png and test/<class>/*.png")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise InputError(root / "train", "has no class directories")
    (x_train, y_train), (x_test, y_test) = _read_split(root / "train", classes), _read_split(root / "test", classes)
    for split, x in (("train", x_train), ("test", x_test)):
        if len(x) == 0:
            raise InputError(root / split, "has no images")
    x_train_n, x_test_n = _normalised(x_train, x_test)
    return checked_dataset(f"folder:{root.name}", str(root), x_train_n.numpy(), y_train, x_test_n.numpy(), y_test,
                           len(classes))


def _stack(dataset, source: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        pairs = [dataset[i] for i in range(len(dataset))]
        x = np.stack([np.asarray(p[0], dtype=np.float32) for p in pairs])
        y = np.stack([np.asarray(p[1]) for p in pairs])
    except Exception as exc:
        raise InputError(source, f"{split} dataset: expected (sample, label) pairs of one shape "
                                 f"({type(exc).__name__}: {exc})") from None
    return x, y


def load_from_factory(source: str, class_labels: bool = True) -> Dataset:
    """``(train_dataset, test_dataset)`` from the user's factory."""
    from xaigen.models.user import load_factory

    factory = load_factory(source, field="data.name")
    try:
        train, test = factory()
    except Exception as exc:
        raise InputError("data.name", f"{source} must return (train_dataset, test_dataset): "
                                      f"{type(exc).__name__}: {exc}") from None
    return checked_dataset(source, source, *_stack(train, source, "train"), *_stack(test, source, "test"),
                           class_labels=class_labels)


def limited(data: Dataset, train_limit: int | None, test_limit: int | None, seed: int) -> Dataset:
    """At most ``train_limit`` / ``test_limit`` samples, drawn with ``seed``."""
    x_train, y_train = _subset(data.x_train.numpy(), data.y_train.numpy(), train_limit, seed)
    x_test, y_test = _subset(data.x_test.numpy(), data.y_test.numpy(), test_limit, seed)
    return Dataset(data.name, torch.from_numpy(x_train), torch.from_numpy(y_train), torch.from_numpy(x_test),
                   torch.from_numpy(y_test), data.num_classes)
