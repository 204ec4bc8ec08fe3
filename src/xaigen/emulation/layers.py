"""Conv2d / Linear layers whose products go through one approximate multiplier's table.

Forward pass of :class:`ApproxConv2d` / :class:`ApproxLinear` in eval mode:

1. quantize the input to codes ``a`` (calibrated range, see :mod:`.quantization`) and the weight to
   codes ``w``; pad with the activation zero-point code (real value 0);
2. integer accumulators ``acc[o] = sum_k T[a_k, w_k]`` (bit-exact, :mod:`.kernels`), corrected for
   zero-points;
3. ``y = s_a * s_w[o] * acc + bias`` in float32, which the next layer quantizes again.

In training mode (approximation-aware fine-tuning) the value is the same approximate output, but
the gradient is that of the fake-quantized float layer (straight-through estimator):
``y = y_fq + (y_approx - y_fq).detach()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xaigen.emulation import int8, path_timing
from xaigen.emulation.kernels import (
    KernelPlan,
    choose_path,
    conv2d_accumulators,
    gather_conv2d_from,
    int8_conv2d_from,
    int8_linear_from,
    linear_accumulators,
    pads_natively,
    per_channel_,
    quantize_and_stack,
    stacked_conv2d,
    stacked_linear,
)
from xaigen.emulation.device import window_sums
from xaigen.emulation.int8 import dequantize_in_kernel
from xaigen.emulation.quantization import (
    QuantParams,
    activation_params,
    fake_quantize,
    quantize,
    weight_params,
)
from xaigen.multipliers.multiplier import Multiplier, operand_values
from xaigen.multipliers.weight_tuning import tuned_view, tuned_weight_map

LOG = logging.getLogger("xaigen")


class ApproxLayer(nn.Module):
    """Shared logic of the approximate layers; subclasses supply the accumulator computation."""

    def __init__(self, original: nn.Module, input_range: tuple[float, float], multiplier: Multiplier,
                 per_channel: bool = True, path: str = "auto"):
        super().__init__()
        self.weight = nn.Parameter(original.weight.detach().clone())
        self.bias = nn.Parameter(original.bias.detach().clone()) if original.bias is not None else None
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.per_channel = per_channel
        self.path = path
        self.record_histograms = False
        self.activation_histogram = torch.zeros(256, dtype=torch.int64)
        self._plans: dict[str, tuple] = {}  # prefer -> (key, plan or None): see _cached_plan
        self.last_path: str | None = None  # the path the last forward ran (see _approximate_output)
        self._weight_cache: tuple | None = None
        self.tuning_histograms: dict[bool, np.ndarray] | None = None  # see tune_weights
        self._weight_maps: dict[int, tuple[Multiplier, np.ndarray]] = {}
        self.set_multiplier(multiplier)

    # -- configuration -------------------------------------------------------------------------
    def set_multiplier(self, multiplier: Multiplier) -> None:
        self.multiplier = multiplier
        self.input_params: QuantParams = activation_params(*self.input_range, multiplier.signed)

    def tune_weights(self, activation_histograms: Mapping[bool, np.ndarray] | None) -> None:
        """Weight tuning (ALWANN, :mod:`xaigen.multipliers.weight_tuning`) for activations counted
        in ``activation_histograms`` (multiplier signedness -> int64[256] counts per bit pattern):
        each multiplier then gets the weight codes it multiplies best. None turns it off."""
        self.tuning_histograms = dict(activation_histograms) if activation_histograms else None
        self._weight_maps, self._weight_cache, self._plans = {}, None, {}

    def as_run(self, multiplier: Multiplier) -> Multiplier:
        """The multiplier as this layer runs it: with weight tuning, the table on the tuned codes
        indexed by the untuned ones (:func:`xaigen.multipliers.tuned_view`), else as it is."""
        patterns = self._weight_patterns(multiplier)
        return multiplier if patterns is None else tuned_view(multiplier, patterns)

    def _weight_patterns(self, multiplier: Multiplier) -> np.ndarray | None:
        """The tuned bit pattern of each weight bit pattern (:func:`tuned_weight_map`) for
        ``multiplier``, computed once per multiplier; None without tuning for its signedness."""
        hist = None if self.tuning_histograms is None else self.tuning_histograms.get(multiplier.signed)
        if hist is None:
            return None
        if id(multiplier) not in self._weight_maps:  # kept with its map, so the id stays its own
            patterns = tuned_weight_map(multiplier, hist, self.weight[0].numel())
            self._weight_maps[id(multiplier)] = (multiplier, patterns)
        return self._weight_maps[id(multiplier)][1]

    def _weight_map(self) -> torch.Tensor | None:
        """Tuned weight value per weight bit pattern (int64[256]) for the current multiplier, or None
        (tuning off, no histogram for its signedness, or the map is the identity)."""
        patterns = self._weight_patterns(self.multiplier)
        if patterns is None or np.array_equal(patterns, np.arange(256)):
            return None
        return torch.from_numpy(operand_values(self.multiplier.signed)[patterns])

    @property
    def weight_params(self) -> QuantParams:
        return self._weight_state()[0]

    def weight_codes(self) -> torch.Tensor:
        """Integer weight codes (int64, same shape as the weight)."""
        return self._weight_state()[1]

    def _weight_state(self) -> tuple[QuantParams, torch.Tensor]:
        return self._weight_record()[1:3]

    def _weight_record(self) -> tuple:
        """(key, weight parameters, weight codes, whether a weight zero-point is not 0), cached
        until the weights, their signedness or their device change (with weight tuning, the
        multiplier: the codes are the tuned ones)."""
        tuned = id(self.multiplier) if self.tuning_histograms else None
        key = (self.multiplier.signed, self.weight._version, self.per_channel, self.weight.device, tuned)  # .to() keeps _version
        if self._weight_cache is None or self._weight_cache[0] != key:
            params = weight_params(self.weight, self.multiplier.signed, self.per_channel)
            codes = quantize(self.weight.detach(), params, channel_dim_first=True)
            value_of = self._weight_map()
            if value_of is not None:
                codes = value_of.to(codes.device)[codes & 0xFF]
            self._weight_cache = (key, params, codes, bool(torch.any(params.zero_point != 0)))
        return self._weight_cache

    def _weight_zero_points(self) -> bool:
        """Whether some weight zero-point is not 0 (unsigned offset mapping): the fused kernels then
        do not apply."""
        return self._weight_record()[3]

    def weight_histogram(self) -> torch.Tensor:
        """Counts of each weight bit pattern (int64[256], table indexing)."""
        return torch.bincount((self.weight_codes() & 0xFF).reshape(-1), minlength=256).cpu()

    def plan(self) -> KernelPlan:
        """Kernel plan for the current weights and multiplier (cached until either changes)."""
        return self._cached_plan(self.path, strict=True)

    def _float_plan(self) -> KernelPlan | None:
        """The float low-rank plan of the current weights and multiplier (cached like :meth:`plan`),
        or None where the float path is not exact for them."""
        return self._cached_plan("lowrank", strict=False)

    def _cached_plan(self, prefer: str, strict: bool) -> KernelPlan | None:
        """:func:`choose_path` with ``prefer`` for the current weights and multiplier, one cache entry
        per ``prefer`` until either changes; where ``prefer`` cannot be used exactly it raises
        (``strict``) or gives None, cached too."""
        key = (id(self.multiplier), self.weight._version, self.weight.device)
        cached = self._plans.get(prefer)
        if cached is None or cached[0] != key or (strict and cached[1] is None):
            try:
                plan = choose_path(self.multiplier, self.weight_codes(), prefer, getattr(self, "groups", 1))
            except ValueError:
                if strict:
                    raise
                plan = None
            cached = self._plans[prefer] = (key, plan)
        return cached[1]

    # -- forward -------------------------------------------------------------------------------
    def _fused_accumulate(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor | None:
        """Raw accumulators ``sum_k T[a_k, w_k]`` via a fused quantize-and-lookup front end, or None
        where it does not apply. It needs weight zero-points of 0 (their correction needs the codes);
        the float path also needs an input zero-point of 0 and factors that map code 0 to 0."""
        if self._weight_zero_points():
            return None
        if plan.path == "int8":
            return self._int8_op(x, plan) if x.device.type == "cpu" else None
        if int(self.input_params.zero_point) != 0:
            return None
        stacked = quantize_and_stack(x, float(self.input_params.scale), self.multiplier.signed, plan)
        if stacked is None:
            return None
        return self._stacked_op(stacked, plan)

    def _stacked_op(self, stacked: torch.Tensor, plan: KernelPlan) -> torch.Tensor | None:
        raise NotImplementedError

    def _int8_op(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor | None:
        raise NotImplementedError

    def _gather_op(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor | None:
        """Zero-point-corrected accumulators from the fused gather kernel, or None where it does not apply."""
        return None

    def _fan_in_sums(self, a: torch.Tensor) -> torch.Tensor:
        """``sum_k a_k`` for every output element (needed when weights have a zero-point)."""
        raise NotImplementedError

    def _accumulate(self, a: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
        raise NotImplementedError

    def _float_forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _per_output_channel(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def accumulators(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-point-corrected integer accumulators (int64) of the approximate layer for input ``x``."""
        return self._accumulators(x, self.plan()).to(torch.int64)

    def _accumulators(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
        """The accumulators in the kernel's dtype: float32/float64 holding exact integers, or int64.

        Codes stay in float32 on the hot path (they are small integers, so this is exact); the
        zero-point corrections, needed only for unsigned multipliers, are done in int64.
        """
        if not self.record_histograms:
            corrected = self._gather_op(x, plan) if plan.path == "gather" else None
            if corrected is not None:
                return corrected
            fused = self._fused_accumulate(x, plan)
            if fused is not None:
                return self._input_zero_point_correction(fused, plan)
        a = quantize(x, self.input_params, dtype=torch.float32)
        acc = self._accumulate(a, plan)
        zw = self.weight_params.zero_point
        if bool(torch.any(zw != 0)):
            acc = acc.to(torch.int64) - self._per_output_channel(zw, acc) * self._fan_in_sums(a)
        acc = self._input_zero_point_correction(acc, plan)
        if self.record_histograms:
            self.activation_histogram += torch.bincount((a.to(torch.int64) & 0xFF).reshape(-1), minlength=256).cpu()
        return acc

    def _input_zero_point_correction(self, acc: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
        """``acc - z_a sum_k w_k + K z_a z_w`` (in int64; nothing to do when ``z_a = 0``)."""
        za = int(self.input_params.zero_point)
        if not za:
            return acc
        zw = self.weight_params.zero_point
        w = plan.weight_index + (-128 if self.multiplier.signed else 0)
        flat = w.reshape(w.shape[0], -1)
        correction = za * flat.sum(dim=1) - flat.shape[1] * za * zw
        return acc.to(torch.int64) - self._per_output_channel(correction, acc)

    def _output_scale(self) -> torch.Tensor:
        """``s_a * s_w`` (float32, per output channel or scalar)."""
        return self.weight_params.scale * self.input_params.scale

    def _dequantized_in_kernel(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor | None:
        """``float32(acc) * s_a * s_w + bias`` straight from the int8 kernel, or None where not possible."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            y = self._approximate_output(x)
        if not (self.training and torch.is_grad_enabled()):
            return y
        w_fq = fake_quantize(self.weight, self.weight_params, channel_dim_first=True)
        y_fq = self._float_forward(fake_quantize(x, self.input_params), w_fq)
        return y_fq + (y - y_fq).detach()

    def _output_with(self, x: torch.Tensor, plan: KernelPlan) -> torch.Tensor:
        """``s_a * s_w * acc + bias`` in float32 through ``plan``."""
        y = self._dequantized_in_kernel(x, plan)
        if y is None:
            acc = self._accumulators(x, plan)
            # Integers below 2^24 convert to float32 exactly, larger ones round to nearest.
            y = self._per_channel_(acc.to(torch.float32), self._output_scale(), torch.Tensor.mul_)  # acc is fresh
            if self.bias is not None:
                self._per_channel_(y, self.bias.detach(), torch.Tensor.add_)
        return y

    def _approximate_output(self, x: torch.Tensor) -> torch.Tensor:
        """The approximate output through :meth:`plan`; except that under ``path="auto"``, on CPUs
        whose int8 conv adds products in int16 pairs (no VNNI), an int8 plan gives way to the float
        low-rank plan of the same factors wherever that was measured faster for this geometry
        (:mod:`.path_timing`). Both are exact, so this changes speed, never a bit; the two outputs
        are compared when timed, and a disagreement is said and settled for the float path."""
        plan = self.plan()
        key = self._timing_key(x, plan) if self._times_paths(x, plan) else None
        choice = None if key is None else path_timing.known_choice(key)
        float_plan = None if key is None or choice == "int8" else self._float_plan()  # built only when needed
        if float_plan is None:
            self.last_path = plan.path
            return self._output_with(x, plan)
        if choice is not None:
            self.last_path = float_plan.path
            return self._output_with(x, float_plan)
        choice, outputs = path_timing.faster_path(key, {"int8": lambda: self._output_with(x, plan),
                                                        "float": lambda: self._output_with(x, float_plan)})
        if not torch.equal(outputs["int8"], outputs["float"]):
            LOG.warning("%s: the int8 and float paths disagree on input %s; the float path runs here",
                        self.extra_repr(), tuple(x.shape))
            choice = "float"
            path_timing.remember(key, choice)
        self.last_path = plan.path if choice == "int8" else float_plan.path
        return outputs[choice]

    def _times_paths(self, x: torch.Tensor, plan: KernelPlan) -> bool:
        return (self.path == "auto" and plan.path == "int8" and not self.record_histograms
                and x.device.type == "cpu" and int8.int8_conv_mode() == "int16-pairs")

    def _timing_key(self, x: torch.Tensor, plan: KernelPlan) -> tuple:
        """What the speed of the two paths depends on: never the weight values."""
        lowering = plan.lowering
        return (type(self).__name__, tuple(self.weight.shape), self._geometry(), tuple(x.shape), x.dtype,
                x.is_contiguous(), tuple(lowering.weight.shape), lowering.act_table.shape[1],
                lowering.scaled_in_kernel, plan.factors.rank, int(self.input_params.zero_point) != 0,
                self._weight_zero_points(), self.bias is not None, torch.get_num_threads())

    def _geometry(self) -> tuple:
        """Layer settings beyond the weight shape that change a kernel's speed."""
        return ()

    def _per_channel_(self, y: torch.Tensor, values: torch.Tensor, op) -> torch.Tensor:
        """``op(y, values)`` in place with one value per output channel (or one for all)."""
        if y.dim() == 4:
            return per_channel_(y, values, op)
        return op(y, self._per_output_channel(values, y))

    def extra_repr(self) -> str:
        return f"multiplier={self.multiplier.name}, input_range={self.input_range}"


class ApproxConv2d(ApproxLayer):
    """Approximate :class:`torch.nn.Conv2d` (zeros padding, any stride/dilation/groups)."""

    def __init__(self, original: nn.Conv2d, input_range, multiplier, per_channel=True, path="auto"):
        if original.padding_mode != "zeros":
            raise ValueError(f"padding_mode '{original.padding_mode}' is not supported (only 'zeros')")
        self.stride = tuple(original.stride)
        self.dilation = tuple(original.dilation)
        self.groups = original.groups
        self.pad = tuple(original._reversed_padding_repeated_twice)  # F.pad order
        super().__init__(original, input_range, multiplier, per_channel, path)

    def _stacked_op(self, stacked, plan):
        left, right, top, bottom = self.pad
        if any(self.pad) and not (left == right and top == bottom and pads_natively(plan, 0)):
            return None
        return stacked_conv2d(stacked, plan, self.stride, self.dilation, padding=(top, left))

    def _int8_op(self, x, plan):
        left, right, top, bottom = self.pad
        if left != right or top != bottom:
            return None
        za = int(self.input_params.zero_point)
        return int8_conv2d_from(x, float(self.input_params.scale), za, plan, self.stride, self.dilation,
                                (top, left), pad_code=za)

    def _gather_op(self, x, plan):
        left, right, top, bottom = self.pad
        if left != right or top != bottom:
            return None
        return gather_conv2d_from(x, float(self.input_params.scale), int(self.input_params.zero_point), plan,
                                  self.stride, self.dilation, (top, left), self.weight_params.zero_point)

    def _dequantized_in_kernel(self, x, plan):
        left, right, top, bottom = self.pad
        if self.record_histograms or plan.path != "int8" or x.device.type != "cpu" \
                or not dequantize_in_kernel(plan.lowering) \
                or left != right or top != bottom or int(self.input_params.zero_point) != 0 \
                or self._weight_zero_points():
            return None
        scales = self._output_scale().to(torch.float32).expand(self.weight.shape[0]).contiguous()
        bias = None if self.bias is None else self.bias.detach()
        return int8_conv2d_from(x, float(self.input_params.scale), 0, plan, self.stride, self.dilation, (top, left),
                                pad_code=0, output_scales=scales, bias=bias)

    def _geometry(self):
        return self.stride, self.dilation, self.groups, self.pad

    def _padded(self, codes):
        """Input codes padded with the zero-point code (real value 0)."""
        if any(self.pad):
            return F.pad(codes, self.pad, value=float(self.input_params.zero_point))
        return codes

    def _accumulate(self, a, plan):
        left, right, top, bottom = self.pad
        if any(self.pad) and left == right and top == bottom and float(self.input_params.zero_point) == 0 \
                and pads_natively(plan, 0):
            return conv2d_accumulators(a, plan, self.stride, self.dilation, padding=(top, left))
        return conv2d_accumulators(self._padded(a), plan, self.stride, self.dilation)

    def _per_output_channel(self, values, like):
        return values.reshape(-1, 1, 1) if values.dim() else values

    def _fan_in_sums(self, a):
        return window_sums(self._padded(a), self.weight.shape, self.stride, self.dilation, self.groups)

    def _float_forward(self, x, weight):
        x = F.pad(x, self.pad) if any(self.pad) else x
        return F.conv2d(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ApproxLinear(ApproxLayer):
    """Approximate :class:`torch.nn.Linear`; leading input dimensions are flattened and restored."""

    def forward(self, x):
        lead = x.shape[:-1]  # the kernels take [M, K]: a Linear over tokens [B, T, K] is [B*T, K]
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)

    def accumulators(self, x):
        lead = x.shape[:-1]
        return super().accumulators(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)

    def _accumulate(self, a, plan):
        return linear_accumulators(a, plan)

    def _stacked_op(self, stacked, plan):
        return stacked_linear(stacked, plan)

    def _int8_op(self, x, plan):
        return int8_linear_from(x, float(self.input_params.scale), int(self.input_params.zero_point), plan)

    def _per_output_channel(self, values, like):
        return values

    def _fan_in_sums(self, a):
        return a.sum(dim=-1, keepdim=True)

    def _float_forward(self, x, weight):
        return F.linear(x, weight, self.bias)
