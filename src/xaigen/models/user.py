"""A user's own network: ``[model] source = "path/to/file.py:factory"`` or ``"package.module:factory"``.

Loading user code is the user's explicit choice (it runs their Python). The factory is called
with the keyword arguments it declares among ``in_channels``, ``num_classes``, ``input_shape``
(the data's ``[C, ...]`` sample shape) and ``input_size`` (its last dimension), and must return an
``nn.Module``. A checkpoint is a ``state_dict`` saved with ``torch.save`` and is loaded with
``weights_only=True`` (no code runs). Every failure is one :class:`InputError` naming the field.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from xaigen.errors import InputError


def _split(source: str) -> tuple[str, str]:
    target, sep, attribute = source.rpartition(":")
    if not sep or not target or not attribute.isidentifier():
        raise InputError("model.source", f"expected 'path/to/file.py:factory' or 'package.module:factory', got {source!r}")
    return target, attribute


def load_factory(source: str, field: str = "model.source") -> Callable:
    """The callable named by ``source`` (a ``.py`` file path or a module, then ``:name``)."""
    target, attribute = _split(source)
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise InputError(field, f"{target}: no such file")
            name = "xaigen_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except InputError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module failed to import: say where, not a traceback
        raise InputError(field, f"cannot import {target}: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise InputError(field, f"{target} has no callable '{attribute}'")
    return factory


def source_digest(source: str) -> str:
    """A digest of the user's model file (for the checkpoint cache key); the module name for
    installed packages."""
    target, _ = _split(source)
    path = Path(target)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else target


def build_user_model(source: str, in_channels: int, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Call the factory with the arguments it declares; it must return an ``nn.Module``."""
    factory = load_factory(source)
    offered = {"in_channels": in_channels, "num_classes": num_classes, "input_shape": tuple(input_shape),
               "input_size": input_shape[-1]}
    try:
        accepted = inspect.signature(factory).parameters
        model = factory(**{k: v for k, v in offered.items() if k in accepted})
    except (Exception, SystemExit) as exc:
        raise InputError("model.source", f"{source} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise InputError("model.source", f"{source} returned {type(model).__name__}, expected a torch.nn.Module")
    return model


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``state_dict`` checkpoint (``weights_only=True``) into ``model``, strictly."""
    path = Path(path)
    if not path.is_file():
        raise InputError("model.checkpoint", f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        raise InputError("model.checkpoint", f"{path}: not a weights-only state_dict ({type(exc).__name__})") from None
    if isinstance(state, nn.Module) or not isinstance(state, dict):
        raise InputError("model.checkpoint", f"{path}: expected a state_dict (torch.save(model.state_dict(), ...))")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise InputError("model.checkpoint", f"{path} does not match the model: {detail}") from None
    return model.eval()


def model_accepts(model: nn.Module, example: torch.Tensor, num_classes: int | None = None) -> None:
    """One forward pass on a data sample: a shape mismatch is an :class:`InputError` at once;
    with ``num_classes`` (classification), the output must be one score per class,
    ``(N, num_classes)``."""
    try:
        with torch.no_grad():
            output = model.eval()(example)
    except (Exception, SystemExit) as exc:
        raise InputError("data", f"the model cannot take the data's samples of shape {list(example.shape[1:])}: "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    expected = [len(example), num_classes]
    if num_classes is not None and (not isinstance(output, torch.Tensor) or list(output.shape) != expected):
        got = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise InputError("model.source", f"the model's output is {got} for {len(example)} samples; classification "
                                         f"of the data's {num_classes} classes needs {expected}")
