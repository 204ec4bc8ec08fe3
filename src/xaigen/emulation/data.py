"""One adapter from whatever holds the data to mini-batches: tensors, numpy arrays, torch
Datasets and DataLoaders alike.

* a tensor or numpy array ``x`` (and optionally labels ``y`` of the same length) is cut into
  consecutive slices of ``batch_size``;
* a ``torch.utils.data.Dataset`` (anything with ``__getitem__`` and ``__len__``) goes through a
  non-shuffling ``DataLoader`` of ``batch_size``;
* a ``DataLoader`` or any other iterable of batches is used as it is (its own batch size).

A batch that is a tuple/list is ``(inputs, labels, ...)``; otherwise it is the inputs alone.
numpy arrays become tensors, float64 becomes float32 (the models' dtype).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from xaigen.errors import InputError


def _tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise InputError("data", f"{what} must be a tensor or numpy array, got {type(value).__name__}")
    return value.to(torch.float32) if value.dtype == torch.float64 else value


def _split(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise InputError("data", "a batch is empty")
        return _tensor(batch[0], "inputs"), _tensor(batch[1], "labels") if len(batch) > 1 else None
    if isinstance(batch, dict):
        raise InputError("data", "batches that are dicts are not supported; yield (inputs, labels) tuples")
    return _tensor(batch, "inputs"), None


def _raw_batches(data, batch_size: int, labels) -> Iterator:
    if isinstance(data, (torch.Tensor, np.ndarray)):
        x = _tensor(data, "inputs")
        y = None if labels is None else _tensor(labels, "labels")
        if y is not None and len(y) != len(x):
            raise InputError("data", f"{len(x)} inputs but {len(y)} labels")
        for start in range(0, len(x), batch_size):
            yield (x[start : start + batch_size],) if y is None else (x[start : start + batch_size],
                                                                       y[start : start + batch_size])
        return
    if labels is not None:
        raise InputError("data", "labels are given separately only with tensor or array inputs")
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, (list, tuple, str)):
        from torch.utils.data import DataLoader

        yield from DataLoader(data, batch_size=batch_size, shuffle=False)
        return
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        yield from data
        return
    raise InputError("data", f"expected a tensor, numpy array, Dataset or DataLoader, got {type(data).__name__}")


def as_batches(data, batch_size: int = 256, labels=None) -> Iterator[torch.Tensor]:
    """The input tensors of ``data``, batch by batch."""
    for batch in _raw_batches(data, batch_size, labels):
        yield _split(batch)[0]


def as_labelled_batches(data, batch_size: int = 256, labels=None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, labels)`` of ``data``, batch by batch; labels are required."""
    for batch in _raw_batches(data, batch_size, labels):
        x, y = _split(batch)
        if y is None:
            raise InputError("data", "no labels: give labels, or batches of (inputs, labels)")
        yield x, y


def first_batch(data, batch_size: int = 1) -> torch.Tensor:
    """The first input batch of ``data`` (an example input for tracing)."""
    for x in as_batches(data, batch_size):
        return x
    raise InputError("data", "is empty")
