"""BatchNorm folded into the preceding convolution, as an int8 deployment does before quantizing.

For a conv ``y = W * x + b`` followed by an eval-mode BatchNorm with running mean ``mu``, variance
``var``, ``eps``, scale ``gamma`` and shift ``beta``, the pair is the single conv

    W' = W * gamma / sqrt(var + eps)   (per output channel),
    b' = (b - mu) * gamma / sqrt(var + eps) + beta

(``torch.nn.utils.fusion.fuse_conv_bn_eval``). The folded weight is what gets quantized, so the
int8 codes carry the BatchNorm scale exactly as on the accelerator. A calibration taken on the
unfolded model still holds: folding changes neither a conv's input nor the BatchNorm's output.

Pairs are found on the ``torch.fx`` graph (a conv module whose only user is a BatchNorm module of
matching size); a model ``fx`` cannot trace falls back to consecutive children of ``nn.Sequential``
containers. A BatchNorm that is not such a pair's second half stays as it is, with a note.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

CONVS = (nn.Conv1d, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class Folding:
    """The folded model, the (conv, batchnorm) paths folded, and why other BatchNorms were not."""

    model: nn.Module
    folded: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fx_pairs(model: nn.Module) -> list[tuple[str, str]] | None:
    try:
        import torch.fx

        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # fx cannot trace data-dependent control flow; fall back to module order
        return None
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), NORMS):
            continue
        source = node.args[0] if node.args else None
        if (getattr(source, "op", None) == "call_module" and isinstance(modules.get(source.target), CONVS)
                and len(source.users) == 1):
            pairs.append((source.target, node.target))
    return pairs


def _sequential_pairs(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, CONVS) and isinstance(b, NORMS):
                join = f"{prefix}." if prefix else ""
                pairs.append((join + name_a, join + name_b))
    return pairs


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_name, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def fold_batchnorm(model: nn.Module) -> Folding:
    """A copy of ``model`` (eval mode) with every conv -> BatchNorm pair folded into the conv."""
    work = copy.deepcopy(model).eval()
    pairs = _fx_pairs(work)
    traced = pairs is not None
    pairs = pairs if traced else _sequential_pairs(work)
    result = Folding(work)
    modules = dict(work.named_modules())
    used = {bn for _, bn in pairs}
    uses = {}
    for conv_path, bn_path in pairs:
        conv, bn = modules[conv_path], modules[bn_path]
        uses[conv_path] = uses.get(conv_path, 0) + 1
        if bn.num_features != conv.out_channels or not bn.track_running_stats or bn.running_mean is None:
            result.notes.append(f"{bn_path}: kept (does not match {conv_path} or has no running statistics)")
            continue
        _replace(work, conv_path, fuse_conv_bn_eval(conv, bn))
        _replace(work, bn_path, nn.Identity())
        result.folded.append((conv_path, bn_path))
    for path, module in modules.items():
        if isinstance(module, NORMS) and path not in used:
            how = "its input is not the sole output of a conv" if traced else "not right after a conv in an nn.Sequential"
            result.notes.append(f"{path}: kept in float ({how})")
    return result
