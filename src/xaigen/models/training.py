"""Deterministic training with a checkpoint cache, so repeated runs reuse the same weights."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from xaigen.errors import InputError
from xaigen.fileio import atomic_write


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer, epochs: int,
        batch_size: int, generator: torch.Generator, schedule=None, advance=None,
        loss_fn=nn.functional.cross_entropy) -> list[float]:
    """The one training loop (``loss_fn``, default cross-entropy; shuffled mini-batches); returns
    the mean loss of each epoch. The caller sets the model's train/eval modes."""
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
        if advance:
            advance()
    return history


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, advance=None,
          loss_fn=nn.functional.cross_entropy) -> list[float]:
    """Adam + cosine schedule; returns the mean loss of each epoch. Deterministic given the seed."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * ((len(x) + config.batch_size - 1) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, steps))
    model.train()
    history = fit(model, x, y, optimizer, config.epochs, config.batch_size, generator, schedule, advance, loss_fn)
    model.eval()
    return history


def _fingerprint(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_or_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
                  cache_dir: Path | None, key: dict, advance=None,
                  loss_fn=nn.functional.cross_entropy) -> tuple[nn.Module, bool]:
    """Load cached weights for (``key``, ``config``) if present, else train and cache them.

    Returns the model and whether it came from the cache. A corrupted checkpoint is an
    :class:`InputError` naming the file (delete it to retrain).
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{key.get('model', 'model')}-{_fingerprint({**key, **asdict(config)})}.pt"
        if path.exists():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
            except Exception as exc:  # torch raises many types for a damaged file
                raise InputError(path, f"corrupted checkpoint ({type(exc).__name__}); delete it to retrain") from None
            return model.eval(), True
    train(model, x, y, config, advance, loss_fn)
    if path is not None:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    return model, False
