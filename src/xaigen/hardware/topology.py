"""A network as a list of GEMM layers: from a PyTorch model (shape tracing) or a SCALE-Sim CSV.

A convolution with an (already padded) ``H x W`` input, ``Fh x Fw`` filters, ``Cin`` channels,
``Cout`` filters, strides ``s`` and ``g`` groups is, by im2col, ``g`` GEMMs of
``M = Ho * Wo`` (output pixels, times the batch) by ``K = Fh * Fw * Cin / g`` (window) by
``N = Cout / g`` (filters), with ``Ho = ceil((H - Fh + s) / s)`` as in SCALE-Sim.
A Linear layer is ``M = batch, K = in_features, N = out_features``.

From a PyTorch model, the layers are its call sites (:func:`xaigen.emulation.trace_sites`): one
Layer per approximable site, named as the emulation names it, and Layers flagged
``approximable=False`` for the multiply-accumulates that no approximate multiplier takes (an
LSTM's fused kernel: one GEMM per weight matrix, ``steps x in x out``), charged at exact energy.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from xaigen.errors import InputError
from xaigen.fileio import atomic_write_text


@dataclass(frozen=True)
class Layer:
    """One layer as ``groups`` identical GEMMs of M x K times K x N."""

    name: str
    m: int
    k: int
    n: int
    groups: int = 1
    # Convolution geometry, kept for SCALE-Sim export (None for GEMM-form layers).
    ifmap_h: int | None = None
    ifmap_w: int | None = None
    filter_h: int | None = None
    filter_w: int | None = None
    channels: int | None = None
    num_filters: int | None = None
    stride_h: int | None = None
    stride_w: int | None = None
    batch: int = 1  # inferences whose work M counts (figures per inference divide by it)
    approximable: bool = True  # False: its products stay exact whatever the assignment

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (all groups)."""
        return self.m * self.k * self.n * self.groups

    @property
    def ifmap_bytes(self) -> int:
        """Distinct input bytes (int8): the padded input maps of the batch, or M x K for a GEMM."""
        if self.ifmap_h is not None:
            return self.ifmap_h * self.ifmap_w * self.channels * self.batch
        return self.m * self.k * self.groups

    @property
    def filter_bytes(self) -> int:
        return self.k * self.n * self.groups

    @property
    def ofmap_bytes(self) -> int:
        return self.m * self.n * self.groups

    def as_dict(self) -> dict:
        return asdict(self)


def conv_layer(name: str, ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
               num_filters: int, stride_h: int = 1, stride_w: int | None = None, groups: int = 1,
               batch: int = 1) -> Layer:
    """A convolution in SCALE-Sim's terms (padded input size, no padding field)."""
    stride_w = stride_h if stride_w is None else stride_w
    ho = math.ceil((ifmap_h - filter_h + stride_h) / stride_h)
    wo = math.ceil((ifmap_w - filter_w + stride_w) / stride_w)
    return Layer(name, m=batch * ho * wo, k=filter_h * filter_w * channels // groups, n=num_filters // groups,
                 groups=groups, ifmap_h=ifmap_h, ifmap_w=ifmap_w, filter_h=filter_h, filter_w=filter_w,
                 channels=channels, num_filters=num_filters, stride_h=stride_h, stride_w=stride_w, batch=batch)


def layers_from_model(model, input_shape: tuple[int, ...], batch: int = 1) -> list[Layer]:
    """Trace ``model`` (float or approximate) on a zero input ``[1, *input_shape]``, scaled to ``batch``: one Layer
    per call site in execution order, then the non-approximable MAC work. Dilated kernels count
    their effective extent."""
    import torch

    from xaigen.emulation.coverage import trace_sites

    layers: list[Layer] = []
    # Shapes are traced at batch 1 and scaled: every op's M grows with the batch, and a forward
    # pass at a large batch would only cost time and memory.
    for record in trace_sites(model, torch.zeros(1, *input_shape)):
        if record.approximable:
            layers.append(Layer(record.name, m=record.m * batch, k=record.k, n=record.n, groups=record.groups,
                                batch=batch, **(record.conv or {})))
            continue
        for index, (m, k, n) in enumerate(record.gemms):
            suffix = f"/{index}" if len(record.gemms) > 1 else ""
            layers.append(Layer(record.name + suffix, m=m * batch, k=k, n=n, batch=batch, approximable=False))
    return layers


_CONV_COLUMNS = ["layer name", "ifmap height", "ifmap width", "filter height", "filter width", "channels",
                 "num filter", "strides"]
_GEMM_COLUMNS = ["layer", "m", "n", "k"]


MAX_DIMENSION = 2**31 - 1  # SCALE-Sim's (and any real layer's) sizes fit a C int


def _int_field(path: Path, line: int, column: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:  # also digit strings beyond Python's 4300-digit conversion limit
        raise InputError(path, f"column '{column}': {raw.strip()[:40]!r} is not an integer", f"line {line}") from None
    if value < 1:
        raise InputError(path, f"column '{column}': must be a positive integer, got {value}", f"line {line}")
    if value > MAX_DIMENSION:
        raise InputError(path, f"column '{column}': {raw.strip()[:40]} is larger than {MAX_DIMENSION}", f"line {line}")
    return value


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty rows as ``(line number, stripped non-empty cells)``; a UTF-8 BOM is allowed."""
    from xaigen.fileio import require_file

    require_file(path)
    try:
        reader = csv.reader(path.read_text(encoding="utf-8-sig").splitlines())
        rows = []
        for r in reader:
            cells = [c.strip() for c in r if c.strip() != ""]
            if cells:
                rows.append((reader.line_num, cells))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read ({exc})") from None
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
        raise InputError(path, f"not a valid CSV file ({exc})", f"line {reader.line_num}") from None
    return rows


def _check_layer_names(path: Path, body: list[tuple[int, list[str]]]) -> None:
    """Each layer named once: assignments and per-layer results are keyed by name."""
    first_line: dict[str, int] = {}
    for line, (name, *_) in body:
        if name in first_line:
            raise InputError(path, f"layer name {name!r} is already used on line {first_line[name]}", f"line {line}")
        first_line[name] = line


def read_topology_csv(path: str | Path) -> list[Layer]:
    """Layers from a SCALE-Sim topology CSV, conv form or GEMM form (detected from the header).

    Conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
    Num Filter, Strides[, Stride width]``; a name containing ``DP`` is depthwise (one group per
    channel, as SCALE-Sim does). GEMM form: ``Layer, M, N, K``.
    """
    path = Path(path)
    rows = _csv_rows(path)
    if not rows:
        raise InputError(path, "empty topology file")
    header = [c.lower() for c in rows[0][1]]
    body = rows[1:]
    if not body:
        raise InputError(path, "no layers after the header", "line 2")
    gemm = header[:4] == _GEMM_COLUMNS
    if not gemm and (len(header) < 8 or [h.lower() for h in header[:7]] != _CONV_COLUMNS[:7]
                     or not header[7].startswith("stride")):
        raise InputError(path, "header must be the SCALE-Sim conv form (Layer name, IFMAP Height, IFMAP Width, "
                         "Filter Height, Filter Width, Channels, Num Filter, Strides) or GEMM form (Layer, M, N, K)",
                         "line 1")
    _check_layer_names(path, body)
    layers = []
    if gemm:
        for line, r in body:
            if len(r) < 4:
                raise InputError(path, f"expected 4 columns (Layer, M, N, K), got {len(r)}", f"line {line}")
            m, n, k = (_int_field(path, line, c, v) for c, v in zip(("M", "N", "K"), r[1:4]))
            layers.append(Layer(r[0], m=m, k=k, n=n))
        return layers
    for line, r in body:
        if len(r) < 8:
            missing = _CONV_COLUMNS[len(r)] if len(r) < len(_CONV_COLUMNS) else "strides"
            raise InputError(path, f"expected at least 8 columns, got {len(r)} (missing '{missing}')", f"line {line}")
        values = [_int_field(path, line, c, v) for c, v in zip(header[1:], r[1:9])]
        h, w, fh, fw, ch, nf, sh = values[:7]
        sw = values[7] if len(values) > 7 else sh
        if fh > h or fw > w:
            raise InputError(path, f"filter {fh}x{fw} is larger than the input {h}x{w}", f"line {line}")
        if "DP" in r[0]:  # SCALE-Sim runs it as one 1-channel layer of nf filters per channel
            layers.append(conv_layer(r[0], h, w, fh, fw, ch, nf * ch, sh, sw, groups=ch))
        else:
            layers.append(conv_layer(r[0], h, w, fh, fw, ch, nf, sh, sw))
    return layers


def write_topology_csv(layers: list[Layer], path: str | Path) -> None:
    """Write layers in SCALE-Sim's GEMM form (``Layer, M, N, K,``), one row per group."""
    lines = ["Layer, M, N, K,"]
    for layer in layers:
        for g in range(layer.groups):
            suffix = f"_g{g}" if layer.groups > 1 else ""
            lines.append(f"{layer.name}{suffix}, {layer.m}, {layer.n}, {layer.k},")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
