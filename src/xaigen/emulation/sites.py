"""Call sites: every multiply-accumulate of a model, found by intercepting torch functions.

A model's products are issued by calls of ``F.conv1d``, ``F.conv2d``, ``F.linear``,
``torch.matmul`` / ``@`` / ``mm`` / ``addmm``, ``torch.bmm`` / ``baddbmm`` and
``F.scaled_dot_product_attention``, whether from a module (``nn.Conv2d.forward`` calls ``F.conv2d``)
or from a user's ``forward``. A :class:`SiteTracer` (a ``torch.overrides.TorchFunctionMode``)
sees each such call during a forward pass and gives it a stable **site name**, the one name that
calibration, :func:`~xaigen.emulation.approximate`, assignments, operand histograms, coverage and
the hardware model use:

* a conv/linear whose weight is the ``weight`` of an ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Linear``
  (or approximate) module at path ``P`` is named ``P`` -- so a MultiheadAttention's out-projection,
  which MHA calls functionally with ``out_proj.weight``, is ``attn.out_proj``;
* any other call is ``<caller>:<op>#<i>``: the module path of the innermost module whose
  ``forward`` issued it, the op (``conv1d``, ``conv2d``, ``linear``, ``matmul``, ``bmm``) and its
  index among that op's calls in that forward (``attn:linear#0`` is MHA's packed in-projection,
  ``attn:bmm#0`` / ``attn:bmm#1`` its ``Q K^T`` and ``P V``); calls from the root's own forward are
  ``<op>#<i>``. A site called twice in one forward (shared weights, a module applied twice) is one
  site with the products of both calls.

Python-level composites of ``torch.nn.functional`` (``multi_head_attention_forward``) are run
through a copy whose ``has_torch_function`` guard is off, so the calls inside them are seen;
``scaled_dot_product_attention`` is run as its reference decomposition (two matmuls and a
softmax), so its two products are two ``matmul`` sites. Every other call goes to ``on_other``
(coverage counts its MACs there; an LSTM's fused kernel, for instance).
"""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from xaigen.emulation.layers import ApproxConv2d, ApproxLinear

_COMPOSITE_MODULES = ("torch.nn.functional", "torch.functional")
_OWNER_TYPES = {"linear": (nn.Linear,), "conv1d": (nn.Conv1d,), "conv2d": (nn.Conv2d,)}


@dataclass
class Call:
    """One product call, normalised. ``op`` is conv1d, conv2d, linear, matmul or bmm.

    The product is ``conv(lhs, rhs)`` (no bias), ``lhs @ rhs.T`` (linear, ``rhs`` is ``[N, K]``) or
    ``torch.matmul(lhs, rhs)``; :meth:`finish` then adds ``bias`` per output channel and, for
    ``addmm`` / ``baddbmm``, computes ``beta * add + alpha * product``.
    """

    op: str
    lhs: torch.Tensor
    rhs: torch.Tensor
    bias: torch.Tensor | None = None
    stride: tuple[int, ...] = ()
    pads: tuple[tuple[int, int], ...] = ()  # (before, after) per spatial dimension
    dilation: tuple[int, ...] = ()
    groups: int = 1
    add: torch.Tensor | None = None
    alpha: float = 1.0
    beta: float = 1.0

    @property
    def rhs_is_weight(self) -> bool:
        """Conv/linear weights and matmul operands that are parameters are quantized as weights
        (per output channel, from their values); other matmul operands are activations."""
        return self.op in ("conv1d", "conv2d", "linear") or isinstance(self.rhs, nn.Parameter)

    @property
    def fan_in(self) -> int:
        """Products summed per output element (K)."""
        if self.op in ("conv1d", "conv2d"):
            return math.prod(self.rhs.shape[1:])
        return int(self.lhs.shape[-1])

    def finish(self, product: torch.Tensor) -> torch.Tensor:
        out = product
        if self.bias is not None:
            spatial = len(self.stride) if self.op.startswith("conv") else 0
            out = out + self.bias.reshape((-1,) + (1,) * spatial)
        if self.add is not None:
            out = self.beta * self.add + self.alpha * out
        return out


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _conv_pads(padding, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding == "same":  # PyTorch puts the odd extra element after
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _tuple(padding, len(kernel)))


def _conv_call(op: str, args, kwargs) -> Call:
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    bound = dict(zip(names, args)) | kwargs
    n = 1 if op == "conv1d" else 2
    weight = bound["weight"]
    dilation = _tuple(bound.get("dilation", 1), n)
    return Call(op, bound["input"], weight, bound.get("bias"), _tuple(bound.get("stride", 1), n),
                _conv_pads(bound.get("padding", 0), tuple(weight.shape[2:]), dilation), dilation,
                int(bound.get("groups", 1)))


def _addmm_call(op: str, args, kwargs) -> Call:
    first, second = ("mat1", "mat2") if op == "matmul" else ("batch1", "batch2")
    bound = dict(zip(("input", first, second), args)) | kwargs
    return Call(op, bound[first], bound[second], add=bound["input"], alpha=float(bound.get("alpha", 1)),
                beta=float(bound.get("beta", 1)))


def normalise(func, args, kwargs) -> Call | None:
    """The :class:`Call` of a product function, or None for any other function."""
    if func is F.conv2d or func is F.conv1d:
        return _conv_call("conv2d" if func is F.conv2d else "conv1d", args, kwargs)
    if func is F.linear:
        bound = dict(zip(("input", "weight", "bias"), args)) | kwargs
        return Call("linear", bound["input"], bound["weight"], bound.get("bias"))
    if func in _MATMULS:
        bound = dict(zip(("input", "other"), args)) | kwargs
        lhs, rhs = bound["input"], bound.get("other", bound.get("mat2"))
        if func is torch.Tensor.__rmatmul__:
            lhs, rhs = rhs, lhs
        op = "bmm" if func in (torch.bmm, torch.Tensor.bmm) else "matmul"
        return Call(op, lhs, rhs) if isinstance(lhs, torch.Tensor) and isinstance(rhs, torch.Tensor) else None
    if func in (torch.addmm, torch.Tensor.addmm):
        return _addmm_call("matmul", args, kwargs)
    if func in (torch.baddbmm, torch.Tensor.baddbmm):
        return _addmm_call("bmm", args, kwargs)
    return None


_MATMULS = (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.mm,
            torch.Tensor.mm, torch.bmm, torch.Tensor.bmm)


def sdpa_reference(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                   enable_gqa=False):
    """``F.scaled_dot_product_attention`` as PyTorch documents it: ``softmax(Q K^T * scale + mask) V``."""
    length, source = query.size(-2), key.size(-2)
    scale = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        allowed = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return torch.matmul(weights, value)


def _never(*_args, **_kwargs) -> bool:
    return False


_UNGUARDED: dict = {}


def _unguarded(func: types.FunctionType) -> types.FunctionType:
    """A copy of a Python torch function whose ``has_torch_function`` guards are off (so it runs its
    body, whose own calls the mode then sees, instead of handing itself back to the mode)."""
    copy = _UNGUARDED.get(func)
    if copy is None:
        scope = dict(func.__globals__, has_torch_function=_never, has_torch_function_unary=_never,
                     has_torch_function_variadic=_never)
        copy = types.FunctionType(func.__code__, scope, func.__name__, func.__defaults__, func.__closure__)
        copy.__kwdefaults__ = func.__kwdefaults__
        _UNGUARDED[func] = copy
    return copy


def _is_composite(func) -> bool:
    """A Python function of ``torch.nn.functional`` / ``torch.functional`` that guards itself with
    ``has_torch_function`` (boolean-dispatch wrappers such as ``max_pool2d`` do not: left whole)."""
    return (isinstance(func, types.FunctionType) and func.__module__ in _COMPOSITE_MODULES
            and any(name.startswith("has_torch_function") for name in func.__code__.co_names))


def op_name(func) -> str:
    """A short name of any torch function (``lstm``, ``conv3d``, ``einsum``)."""
    return getattr(func, "__name__", type(func).__name__).strip("_")


OnCall = Callable[[str, Call, Callable[[], torch.Tensor]], torch.Tensor]
OnOther = Callable[["SiteTracer", object, Callable[[], object], tuple, dict], object]


class SiteTracer(TorchFunctionMode):
    """Names every product call of ``root``'s forward and hands it to ``on_call(name, call, run)``,
    which returns the call's result (``run()`` is the original float call). ``on_other(caller,
    func, run, args, kwargs)`` gets every other function. Ops issued inside an approximate layer's
    own forward are not sites (they are its kernels); ``on_layer(name, module, input)`` sees that
    layer's call instead, and ``on_layer_end(name)`` its end."""

    def __init__(self, root: nn.Module, on_call: OnCall, on_other: OnOther | None = None,
                 on_layer: Callable | None = None, on_layer_end: Callable | None = None):
        super().__init__()
        self.root, self.on_call, self.on_other, self.on_layer = root, on_call, on_other, on_layer
        self.on_layer_end = on_layer_end
        self._paths = {id(m): name for name, m in root.named_modules()}
        self._owners: dict[int, tuple[str, str]] = {}
        for name, module in root.named_modules():
            for op, kinds in _OWNER_TYPES.items():
                if isinstance(module, kinds) or _approx_op(module) == op:
                    self._owners[id(module.weight)] = (op, name)
        self._stack: list[tuple[str | None, Counter, bool, bool]] = []
        self._handles: list = []
        self._depth = 0
        self._expanding: set = set()

    # -- the module stack ------------------------------------------------------------------------
    def _push(self, module, args):
        path = self._paths.get(id(module))
        inside = bool(self._stack) and self._stack[-1][2]
        is_layer = _approx_op(module) is not None
        starts_layer = is_layer and not inside and path is not None
        if starts_layer and self.on_layer is not None:
            self.on_layer(path, module, args[0])
        self._stack.append((path, Counter(), inside or is_layer, starts_layer))
        self._entered.append(id(module))

    def _pop(self, module, _args, _output):
        if not self._entered or self._entered[-1] != id(module):  # entered before this tracer was
            return
        self._entered.pop()
        path, _, _, starts_layer = self._stack.pop()
        if starts_layer and self.on_layer_end is not None:
            self.on_layer_end(path)

    def caller(self) -> tuple[str, Counter]:
        for path, counter, _, _ in reversed(self._stack):
            if path is not None:
                return path, counter
        return "", self._root_counter

    def site_name(self, op: str, weight: torch.Tensor | None = None) -> str:
        owner = self._owners.get(id(weight)) if weight is not None else None
        if owner is not None and owner[0] == op:
            return owner[1]
        path, counter = self.caller()
        index = counter[op]
        counter[op] += 1
        return f"{path}:{op}#{index}" if path else f"{op}#{index}"

    def __enter__(self):
        from torch.nn.modules import module as module_hooks

        if self._depth == 0:  # the outermost entry; re-entries resume the same forward
            self._root_counter: Counter = Counter()
            self._stack.clear()
            self._entered: list[int] = []
            self._handles = [module_hooks.register_module_forward_pre_hook(self._push),
                             module_hooks.register_module_forward_hook(self._pop, always_call=True)]
        self._depth += 1
        return super().__enter__()

    def __exit__(self, *exc):
        result = super().__exit__(*exc)
        self._depth -= 1
        if self._depth == 0:
            for handle in self._handles:
                handle.remove()
            self._handles = []
        return result

    # -- interception ----------------------------------------------------------------------------
    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._stack and self._stack[-1][2]:
            return func(*args, **kwargs)
        if func is F.scaled_dot_product_attention:
            with self:
                return sdpa_reference(*args, **kwargs)
        if _is_composite(func) and func not in self._expanding:
            # A function met again while its own copy runs is left whole (no infinite descent).
            self._expanding.add(func)
            try:
                with self:
                    return _unguarded(func)(*args, **kwargs)
            finally:
                self._expanding.discard(func)
        call = normalise(func, args, kwargs)
        if call is None:
            if self.on_other is None:
                return func(*args, **kwargs)
            return self.on_other(self, func, lambda: func(*args, **kwargs), args, kwargs)
        weight = call.rhs if call.op in ("conv1d", "conv2d", "linear") else None
        return self.on_call(self.site_name(call.op, weight), call, lambda: func(*args, **kwargs))


def _approx_op(module) -> str | None:
    """The op an approximate module stands for (``conv2d``/``linear``), None for other modules."""
    if isinstance(module, ApproxConv2d):
        return "conv2d"
    return "linear" if isinstance(module, ApproxLinear) else None
