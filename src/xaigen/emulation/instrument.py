"""Attaching approximate call sites to a model: the site table and the hooks that activate it.

An approximate model whose sites are all ``nn.Conv2d`` / ``nn.Linear`` modules needs nothing
here: those modules are swapped for :class:`~xaigen.emulation.layers.ApproxLayer`. When some
sites are functional (:class:`~xaigen.emulation.functional.ApproxCall`), the model copy carries a
:class:`SiteTable` as a plain attribute (not a child module, so ``nn.Sequential`` forwards, state
dicts and ``named_modules`` are unchanged) and a forward pre-hook / forward hook on the root that
run the forward under a :class:`~xaigen.emulation.sites.SiteTracer` routing each call to its site.
The hooks are module-level functions, so ``copy.deepcopy`` and pickling keep working.
"""

from __future__ import annotations

import torch
from torch import nn

from xaigen.emulation.functional import ApproxCall
from xaigen.emulation.layers import ApproxConv2d, ApproxLayer, ApproxLinear
from xaigen.emulation.sites import Call, SiteTracer
from xaigen.errors import InputError

TABLE_ATTRIBUTE = "_xaigen_sites"


class SiteTable:
    """The functional sites of an approximate model, and the order of all its sites."""

    def __init__(self, sites: dict[str, ApproxCall], order: list[str]):
        self.sites = sites
        self.order = order
        self.enabled = True
        self.active: list[SiteTracer] = []

    def run(self, root: nn.Module, name: str, call: Call, run_float) -> torch.Tensor:
        site = self.sites.get(name)
        if site is not None:
            return site(call, training=root.training)
        layer = _module_at(root, name)
        if isinstance(layer, ApproxLayer) and _same_geometry(layer, call):
            return layer(call.lhs)  # an approximate module's weight used functionally (MHA out_proj)
        raise InputError("model", f"call site '{name}' ({call.op}) was not seen during calibration; "
                         "calibrate on inputs that take the same path through the model")


def _module_at(root: nn.Module, name: str) -> nn.Module | None:
    try:
        return root.get_submodule(name)
    except AttributeError:
        return None


def _same_geometry(layer: ApproxLayer, call: Call) -> bool:
    if call.bias is not layer.bias or call.add is not None:
        return False
    if isinstance(layer, ApproxLinear):
        return call.op == "linear"
    if not isinstance(layer, ApproxConv2d) or call.op != "conv2d":
        return False
    left, right, top, bottom = layer.pad
    return (tuple(call.stride) == tuple(layer.stride) and tuple(call.dilation) == tuple(layer.dilation)
            and call.groups == layer.groups and tuple(call.pads) == ((top, bottom), (left, right)))


def site_table(model: nn.Module) -> SiteTable | None:
    """The site table of an approximate model, or None."""
    return model.__dict__.get(TABLE_ATTRIBUTE)


def _enter_sites(module: nn.Module, _args) -> None:
    table = site_table(module)
    if table is None or not table.enabled:
        return
    tracer = SiteTracer(module, lambda name, call, run: table.run(module, name, call, run))
    tracer.__enter__()
    table.active.append(tracer)


def _exit_sites(module: nn.Module, _args, _output) -> None:
    table = site_table(module)
    if table is not None and table.enabled and table.active:
        table.active.pop().__exit__(None, None, None)


def install(model: nn.Module, sites: dict[str, ApproxCall], order: list[str]) -> None:
    """Attach functional ``sites`` to ``model`` (in place); ``order`` lists every site name."""
    model.__dict__[TABLE_ATTRIBUTE] = SiteTable(sites, order)
    model.register_forward_pre_hook(_enter_sites)
    model.register_forward_hook(_exit_sites, always_call=True)


class disabled:
    """Context: run an approximate model with its functional sites in float (for shape tracing)."""

    def __init__(self, model: nn.Module):
        self.table = site_table(model)

    def __enter__(self):
        if self.table is not None:
            self.table.enabled = False
        return self

    def __exit__(self, *exc):
        if self.table is not None:
            self.table.enabled = True
