"""Hostile data sets: every content problem is one InputError, found fast and in bounded memory."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from xaigen.data import load_cifar10, load_dataset, load_fashion_mnist, read_idx
from xaigen.errors import InputError


def _idx(array: np.ndarray) -> bytes:
    type_byte = {np.dtype(np.uint8): 0x08, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}[array.dtype]
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype).tobytes()


def _fashion(directory, train=None, test=None, train_labels=None, test_labels=None):
    rng = np.random.default_rng(0)
    parts = {"train": (train if train is not None else rng.integers(0, 256, (12, 28, 28)).astype(np.uint8),
                       train_labels if train_labels is not None else rng.integers(0, 10, 12).astype(np.uint8)),
             "t10k": (test if test is not None else rng.integers(0, 256, (6, 28, 28)).astype(np.uint8),
                      test_labels if test_labels is not None else rng.integers(0, 10, 6).astype(np.uint8))}
    directory.mkdir(exist_ok=True)
    for part, (images, labels) in parts.items():
        (directory / f"{part}-images-idx3-ubyte").write_bytes(_idx(images))
        (directory / f"{part}-labels-idx1-ubyte").write_bytes(_idx(labels))
    return directory


def test_valid_fashion_loads(tmp_path):
    data = load_fashion_mnist(_fashion(tmp_path / "f"), train_limit=5, test_limit=3)
    assert data.x_train.shape == (5, 1, 28, 28) and data.x_test.shape == (3, 1, 28, 28)


@pytest.mark.parametrize("kwargs,problem", [
    ({"train_labels": np.array([0] * 11 + [12], np.uint8)}, "train label 12 at index 11 is outside 0..9"),
    ({"test_labels": np.full(6, 3.5, np.float32)}, "test labels have type float32, expected integers"),
    ({"train": np.full((12, 28, 28), np.nan, np.float32)}, "non-finite pixel"),
    ({"test": np.zeros((0, 28, 28), np.uint8), "test_labels": np.zeros(0, np.uint8)}, "the test split is empty"),
    ({"test": np.zeros((6, 20, 20), np.uint8)}, "test images are (1, 20, 20)"),
])
def test_bad_fashion_content(tmp_path, kwargs, problem):
    directory = _fashion(tmp_path / "f", **kwargs)
    with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_fashion_mnist(directory)


def test_idx_header_overflowing_size_is_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x0E, 4]) + struct.pack(">IIII", *[2**32 - 1] * 4) + b"\0" * 16)
    with pytest.raises(InputError, match=r"header declares shape .* more than"):
        read_idx(path)


def test_corrupt_gz(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(np.zeros(10, np.uint8)))[:-12] + b"garbage!garbage!")
    with pytest.raises(InputError, match="cannot read IDX file"):
        read_idx(path)


def test_gz_bomb_is_read_only_as_far_as_its_header_says(tmp_path):
    """64 MiB of zeros behind a header for 10 labels: refused after reading 11 bytes of data."""
    path = tmp_path / "x-idx1-ubyte.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    chunk = bytes(2**20)
    with path.open("wb") as f:
        f.write(compressor.compress(_idx(np.zeros(10, np.uint8))))
        for _ in range(64):
            f.write(compressor.compress(chunk))
        f.write(compressor.flush())
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError, match="more data than the 10 bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 30 and peak < 16 * 2**20


@pytest.mark.parametrize("make,problem", [
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: os.mkfifo(p), "is a FIFO"),
    (lambda p: p.symlink_to(p.parent / "nowhere"), "is a broken symbolic link"),
])
def test_idx_path_that_is_not_a_file(tmp_path, make, problem):
    path = tmp_path / "train-images-idx3-ubyte"
    make(path)
    with pytest.raises(InputError, match=problem):
        read_idx(path)


def _cifar_dir(tmp_path, data=None, labels=None, raw=None):
    directory = tmp_path / "cifar"
    directory.mkdir()
    rng = np.random.default_rng(0)
    good = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4]}
    bad = {b"data": good[b"data"] if data is None else data, b"labels": good[b"labels"] if labels is None else labels}
    (directory / "data_batch_1").write_bytes(raw if raw is not None else pickle.dumps(bad, protocol=2))
    (directory / "test_batch").write_bytes(pickle.dumps(good, protocol=2))
    return directory


# 67 bytes: numpy's _reconstruct(ndarray, (2**32,), 'b') -- allocates 4 GiB with a plain allow-list.
RECONSTRUCT_4GIB = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                    b"\x8a\x05\x00\x00\x00\x00\x01\x85C\x01b\x87R.")


@pytest.mark.parametrize("kwargs,problem", [
    ({"raw": RECONSTRUCT_4GIB}, "declared before its data"),
    ({"labels": [1, 2, 3, 10]}, "train label 10 at index 3 is outside 0..9"),
    ({"labels": ["a", "b", "c", "d"]}, "'labels' have type strings, expected integers"),
    ({"data": np.array([["x"] * 3072] * 4)}, "train images have type strings, expected numbers"),
    ({"data": np.full((4, 3072), np.nan)}, "non-finite pixel"),
    ({"data": np.zeros((0, 3072), np.uint8), "labels": []}, "the train split is empty"),
    ({"raw": pickle.dumps({b"data": np.array([None] * 4), b"labels": [1]}, protocol=2)}, "object arrays"),
])
def test_bad_cifar_content(tmp_path, kwargs, problem):
    directory = _cifar_dir(tmp_path, **kwargs)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=problem.replace("(", r"\(")):
            load_cifar10(directory)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_digits_limits_are_honoured():
    data = load_dataset("digits", train_limit=100, test_limit=40)
    assert len(data.x_train) == 100 and len(data.x_test) == 40
    full = load_dataset("digits")
    assert len(full.x_train) + len(full.x_test) == 1797


def test_fashion_file_that_is_a_fifo_is_named(tmp_path):
    directory = _fashion(tmp_path / "f")
    (directory / "t10k-labels-idx1-ubyte").unlink()
    os.mkfifo(directory / "t10k-labels-idx1-ubyte")
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte: is a FIFO"):
        load_fashion_mnist(directory)
    with pytest.raises(InputError, match="is not a directory"):
        load_fashion_mnist(directory / "train-images-idx3-ubyte")
