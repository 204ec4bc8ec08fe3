"""Every multiply-accumulate of a model, counted: which are approximated and which are not.

:func:`trace_sites` runs one forward pass under a :class:`~xaigen.emulation.sites.SiteTracer`
inside ``torch.utils.flop_counter.FlopCounterMode`` and returns one :class:`SiteRecord` per site,
with its MACs (``output elements x K``) and GEMM shape. Calls that are not approximable but do
multiply (``conv3d``, ``einsum``, an RNN's fused kernel...) are records too, flagged
``approximable=False`` with the reason. Their MACs come from ``FlopCounterMode`` (FLOPs / 2) or,
for ``lstm`` / ``gru`` / ``rnn_*`` (whose fused CPU kernels FlopCounterMode counts as 0), from the
weights: ``steps x sum of the weight matrices' sizes`` (each step multiplies the input and the
hidden state by every gate's matrix). Whatever FlopCounterMode counts outside every intercepted
call is one more record, ``(untraced)``, so nothing is dropped silently.

:func:`coverage` is the summary: ``fraction = approximated MACs / all MACs``.
"""

from __future__ import annotations

import fnmatch
import math
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from xaigen.emulation.functional import conv_as_2d
from xaigen.emulation.instrument import disabled
from xaigen.emulation.layers import ApproxConv2d
from xaigen.emulation.sites import Call, SiteTracer, op_name

RNN_OPS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
log = logging.getLogger("xaigen")


@dataclass
class SiteRecord:
    """One site: its MACs over the traced forward and its shape as ``groups`` GEMMs M x K x N."""

    name: str
    op: str
    macs: int
    approximable: bool = True
    reason: str = ""
    m: int = 0
    k: int = 0
    n: int = 0
    groups: int = 1
    conv: dict | None = None  # SCALE-Sim geometry (hardware Layer fields) of a convolution
    gemms: list[tuple[int, int, int]] = field(default_factory=list)  # (m, k, n) of an RNN's matrices
    calls: int = 1
    flop_counter_macs: int = 0  # what FlopCounterMode counted for the site's calls


def _conv_record(name: str, call: Call) -> SiteRecord:
    x, w, stride, dilation, pads, _ = conv_as_2d(call)
    cout, cin_g, kh, kw = w.shape
    h, wd = x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1])
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    ho, wo = (h - eff_h) // stride[0] + 1, (wd - eff_w) // stride[1] + 1
    m, k, n = x.shape[0] * ho * wo, cin_g * kh * kw, cout // call.groups
    geometry = dict(ifmap_h=h, ifmap_w=wd, filter_h=eff_h, filter_w=eff_w, channels=cin_g * call.groups,
                    num_filters=cout, stride_h=stride[0], stride_w=stride[1])
    return SiteRecord(name, call.op, m * k * n * call.groups, m=m, k=k, n=n, groups=call.groups, conv=geometry)


def call_record(name: str, call: Call) -> SiteRecord:
    """The record of one product call, from its operand shapes."""
    if call.op in ("conv1d", "conv2d"):
        return _conv_record(name, call)
    if call.op == "linear":
        k, n = call.rhs.shape[1], call.rhs.shape[0]
        m = call.lhs.numel() // k
        return SiteRecord(name, "linear", m * k * n, m=m, k=k, n=n)
    a_shape = (1, *call.lhs.shape) if call.lhs.dim() == 1 else tuple(call.lhs.shape)
    b_shape = (*call.rhs.shape, 1) if call.rhs.dim() == 1 else tuple(call.rhs.shape)
    (rows, k), n = a_shape[-2:], b_shape[-1]
    if len(b_shape) == 2:  # one right matrix for every row of the (batched) left operand
        m = math.prod(a_shape[:-1])
        return SiteRecord(name, call.op, m * k * n, m=m, k=k, n=n)
    batch = math.prod(torch.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    return SiteRecord(name, call.op, batch * rows * k * n, m=rows, k=k, n=n, groups=batch)


def layer_record(name: str, module: nn.Module, x: torch.Tensor) -> SiteRecord:
    """The record of an approximate module's call (traced models that are already approximate)."""
    if isinstance(module, ApproxConv2d):
        left, right, top, bottom = module.pad
        call = Call("conv2d", x, module.weight, stride=module.stride, pads=((top, bottom), (left, right)),
                    dilation=module.dilation, groups=module.groups)
    else:
        call = Call("linear", x, module.weight)
    return call_record(name, call)


def _rnn_record(name: str, op: str, args) -> SiteRecord:
    """MACs of a fused RNN call: steps x the sizes of its 2-D weight matrices."""
    data = args[0]
    packed = isinstance(args[1], torch.Tensor) and args[1].dim() == 1  # (data, batch_sizes, hx, weights, ...)
    weights = [w for w in args[3 if packed else 2] if isinstance(w, torch.Tensor) and w.dim() == 2]
    # packed data is [sum of lengths, input]; otherwise batch x time steps either way round
    steps = data.shape[0] if packed or data.dim() == 2 else data.shape[0] * data.shape[1]
    gemms = [(steps, w.shape[1], w.shape[0]) for w in weights]
    return SiteRecord(name, op, sum(m * k * n for m, k, n in gemms), approximable=False,
                      reason=f"no approximate kernel for torch.{op} (fused recurrent kernel); counted at exact energy",
                      gemms=gemms)


def _merge(records: dict[str, SiteRecord], new: SiteRecord) -> None:
    old = records.get(new.name)
    if old is None:
        records[new.name] = new
        return
    old.calls += 1
    old.macs += new.macs
    old.flop_counter_macs += new.flop_counter_macs
    old.gemms += new.gemms
    if (old.k, old.n, old.groups) == (new.k, new.n, new.groups):
        old.m += new.m  # the same GEMM on more rows, like a larger batch
        old.conv = old.conv if old.conv == new.conv else None
    elif old.approximable:  # different shapes under one name: keep the MACs, as one flat GEMM
        old.m, old.k, old.n, old.groups, old.conv = old.macs, 1, 1, 1, None


def _total_flops(counter: FlopCounterMode) -> int:
    return int(counter.get_total_flops())


@torch.no_grad()
def trace_sites(model: nn.Module, example_input: torch.Tensor) -> list[SiteRecord]:
    """One record per site of ``model`` on ``example_input`` (eval mode), in execution order,
    followed by records of what is counted but not approximable."""
    records: dict[str, SiteRecord] = {}
    counter = FlopCounterMode(display=False)
    layer_start: dict[str, int] = {}
    inside_layers = [0]

    def on_call(name, call, run):
        before = _total_flops(counter)
        out = run()
        record = call_record(name, call)
        record.flop_counter_macs = (_total_flops(counter) - before) // 2
        _merge(records, record)
        return out

    def on_other(tracer, func, run, args, _kwargs):
        op = op_name(func)
        before = _total_flops(counter)
        out = run()
        delta = (_total_flops(counter) - before) // 2
        if op in RNN_OPS or delta > 0:
            name = tracer.site_name(op)
            record = _rnn_record(name, op, args) if op in RNN_OPS else SiteRecord(
                name, op, delta, approximable=False, reason=f"no approximate kernel for {op}; counted at exact energy",
                gemms=[(delta, 1, 1)])
            record.flop_counter_macs = delta
            _merge(records, record)
        return out

    def on_layer(name, module, x):
        layer_start[name] = _total_flops(counter)
        _merge(records, layer_record(name, module, x))

    def on_layer_end(name):
        inside_layers[0] += _total_flops(counter) - layer_start.pop(name)

    was_training = model.training
    model.eval()
    try:
        with disabled(model), counter, SiteTracer(model, on_call, on_other, on_layer, on_layer_end):
            model(example_input)
    finally:
        model.train(was_training)
    attributed = sum(r.flop_counter_macs for r in records.values())
    untraced = (_total_flops(counter) - inside_layers[0]) // 2 - attributed
    if untraced > 0:
        records["(untraced)"] = SiteRecord("(untraced)", "unknown", untraced, approximable=False,
                                           reason="multiply-accumulates outside any intercepted call "
                                                  "(counted by FlopCounterMode); counted at exact energy",
                                           gemms=[(untraced, 1, 1)])
    return list(records.values())


@dataclass(frozen=True)
class NotApproximated:
    """A site whose products stay exact: why, and how many MACs it has."""

    site: str
    op: str
    macs: int
    reason: str


@dataclass(frozen=True)
class Coverage:
    """How much of a model's multiply-accumulate work is approximated."""

    approximated_macs: int
    total_macs: int
    not_approximated: list[NotApproximated]

    @property
    def fraction(self) -> float:
        """Approximated MACs / all MACs (1.0 for a model without MACs)."""
        return self.approximated_macs / self.total_macs if self.total_macs else 1.0

    def as_dict(self) -> dict:
        return {"fraction": self.fraction, "approximated_macs": self.approximated_macs,
                "total_macs": self.total_macs, "not_approximated": [asdict(n) for n in self.not_approximated]}


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether a site name equals or fnmatch-matches one of ``patterns``."""
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def coverage(model: nn.Module, example_input: torch.Tensor, exact_layers: Iterable[str] = ()) -> Coverage:
    """Counted MACs of ``model`` on ``example_input`` and the share that goes through approximate
    multipliers. Sites kept exact on purpose (``exact_layers``: names or fnmatch patterns) are
    listed as not approximated too, with that reason."""
    exact_layers = list(exact_layers)
    approximated, missing = 0, []
    records = trace_sites(model, example_input)
    unmatched = [p for p in exact_layers if not any(matches(r.name, [p]) for r in records)]
    if unmatched:  # a typo would otherwise leave every layer searchable without a word
        log.warning("exact_layers: %s match(es) no layer; the layers are %s", ", ".join(unmatched),
                    ", ".join(r.name for r in records))
    for r in records:
        if r.approximable and not matches(r.name, exact_layers):
            approximated += r.macs
        else:
            reason = r.reason if not r.approximable else "kept exact (exact_layers)"
            missing.append(NotApproximated(r.name, r.op, r.macs, reason))
    return Coverage(approximated, sum(r.macs for r in records), missing)
