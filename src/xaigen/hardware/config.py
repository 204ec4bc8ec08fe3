"""Accelerator configuration: pods of systolic arrays, buffers, DRAM, dataflow and energy constants.

Presets (every number is an assumption or a public figure, with its source):

* ``tpu-v4``: one TPU v4 chip — 2 TensorCores x 4 MXUs = 8 pods of 128x128 MACs at 1050 MHz
  (Jouppi et al., ISCA 2023). HBM2 1200 GB/s per chip = 1143 B/cycle. On-chip: 16 MiB VMEM per
  TensorCore shared by its 4 MXUs; we give each pod 2 MiB ifmap + 1 MiB filter + 1 MiB ofmap
  (our split, not Google's).
* ``tpu-v4-slice``: 4 such chips (a 2x2 slice) = 32 pods, 4x the DRAM bandwidth.
* ``sosa-32x32``: SOSA-like many small pods (Yuzuguler et al., "Scale-out Systolic Arrays",
  ACM TACO 2023): 256 pods of 32x32 at 1000 MHz, 128 KiB + 64 KiB + 64 KiB per pod, 2048 B/cycle.
* ``eyeriss-like``: one 12x14 array at 200 MHz, 108 KiB global buffer (Chen et al., JSSC 2017),
  output-stationary as a stand-in for Eyeriss' row-stationary dataflow, DDR at 64 B/cycle.

Energy constants default to 45 nm figures (Horowitz, ISSCC 2014): 32-bit integer add 0.1 pJ;
SRAM read of 64 bits: 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB) — fitted here as
``1.25 pJ/B * sqrt(size / 8 KiB)`` per byte; HBM2 about 3.9 pJ/bit = 31.2 pJ/B (O'Connor et al.,
MICRO 2017); DDR3 1.3-2.6 nJ per 64 bits, of which we take 160 pJ/B. The multiplier's energy per
MAC comes from the circuit library's characterization, the same on every preset
(:func:`xaigen.hardware.circuit.multiplier_energy_per_mac_pj`: power x the characterization
period stated there). Leakage is an
assumption: 5% of the power of the circuit a MAC unit carries, charged over the layer's time on
every unit of every pod, or only of the busy pods with ``power_gate_idle_pods``.
"""

from __future__ import annotations

import configparser
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from xaigen.errors import InputError

Dataflow = Literal["ws", "os", "is"]
Partition = Literal["rows", "cols", "auto"]
DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True)
class EnergyModel:
    """Per-operation energies in pJ (picojoules)."""

    accumulate_pj: float = 0.1  # one 32-bit accumulator add per MAC (Horowitz 45 nm)
    dram_pj_per_byte: float = 31.2  # HBM2, 3.9 pJ/bit
    sram_pj_per_byte_8kib: float = 1.25  # 64-bit read of an 8 KB SRAM = 10 pJ
    psum_bytes: int = 4  # partial sums are 32-bit words in the output buffer
    static_fraction: float = 0.05  # leakage per MAC unit, as a fraction of its circuit's own power
    exact_multiplier_mw: float = 0.425  # mul8s_1KV6, 45 nm: the circuit of a layer given no other

    def sram_pj_per_byte(self, size_kib: float) -> float:
        """Energy per byte of an SRAM of ``size_kib`` KiB (sqrt fit to Horowitz' 8/32 KB/1 MB points)."""
        return self.sram_pj_per_byte_8kib * math.sqrt(max(size_kib, 1.0) / 8.0)


@dataclass(frozen=True)
class Accelerator:
    """A multi-pod systolic-array accelerator.

    Attributes:
        array_rows / array_cols: MACs per pod (SCALE-Sim ArrayHeight / ArrayWidth).
        pods: number of identical arrays working in parallel on one layer.
        dataflow: ``ws`` weight-, ``os`` output-, ``is`` input-stationary.
        clock_mhz: clock (MHz).
        ifmap_sram_kib / filter_sram_kib / ofmap_sram_kib: buffers per pod (KiB), double-buffered.
        dram_bytes_per_cycle: DRAM bandwidth shared by all pods (bytes per cycle).
        partition: how a layer's GEMM is split across pods: ``rows`` splits the output pixels
            (M, data-parallel), ``cols`` splits the filters (N, model-parallel), ``auto`` picks
            the faster of the two per layer.
        port_per_operand: each buffer has its own DRAM interface of ``dram_bytes_per_cycle``
            (SCALE-Sim's model) instead of one shared interface.
        power_gate_idle_pods: pods a layer leaves idle are power-gated (no leakage); off, every
            MAC unit of every pod leaks for the whole layer.
    """

    name: str
    array_rows: int
    array_cols: int
    pods: int = 1
    dataflow: Dataflow = "ws"
    clock_mhz: float = 1000.0
    ifmap_sram_kib: float = 64.0
    filter_sram_kib: float = 64.0
    ofmap_sram_kib: float = 64.0
    dram_bytes_per_cycle: float = 64.0
    partition: Partition = "auto"
    port_per_operand: bool = False
    power_gate_idle_pods: bool = False
    energy: EnergyModel = field(default_factory=EnergyModel)

    def __post_init__(self):
        for key in ("array_rows", "array_cols", "pods"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(self.name, f"'{key}' must be a positive integer, got {value!r}")
        for key in ("clock_mhz", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "dram_bytes_per_cycle"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(self.name, f"'{key}' must be a positive number, got {value!r}")
        if self.dataflow not in DATAFLOWS:
            raise InputError(self.name, f"'dataflow' must be one of {', '.join(DATAFLOWS)}, got {self.dataflow!r}")
        if not isinstance(self.power_gate_idle_pods, bool):
            raise InputError(self.name, f"'power_gate_idle_pods' must be true or false, got {self.power_gate_idle_pods!r}")
        if self.partition not in ("rows", "cols", "auto"):
            raise InputError(self.name, f"'partition' must be 'rows', 'cols' or 'auto', got {self.partition!r}")

    @property
    def macs(self) -> int:
        """MAC units in all pods."""
        return self.array_rows * self.array_cols * self.pods

    def with_(self, **changes) -> Accelerator:
        return replace(self, **changes)


PRESETS: dict[str, Accelerator] = {
    "tpu-v4": Accelerator("tpu-v4", 128, 128, pods=8, dataflow="ws", clock_mhz=1050.0, ifmap_sram_kib=2048,
                          filter_sram_kib=1024, ofmap_sram_kib=1024, dram_bytes_per_cycle=1143.0),
    "tpu-v4-slice": Accelerator("tpu-v4-slice", 128, 128, pods=32, dataflow="ws", clock_mhz=1050.0,
                                ifmap_sram_kib=2048, filter_sram_kib=1024, ofmap_sram_kib=1024,
                                dram_bytes_per_cycle=4572.0),
    "sosa-32x32": Accelerator("sosa-32x32", 32, 32, pods=256, dataflow="ws", clock_mhz=1000.0, ifmap_sram_kib=128,
                              filter_sram_kib=64, ofmap_sram_kib=64, dram_bytes_per_cycle=2048.0),
    "eyeriss-like": Accelerator("eyeriss-like", 12, 14, pods=1, dataflow="os", clock_mhz=200.0, ifmap_sram_kib=54,
                                filter_sram_kib=27, ofmap_sram_kib=27, dram_bytes_per_cycle=64.0,
                                energy=EnergyModel(dram_pj_per_byte=160.0)),
}


MAX_CFG_INT = 2**31 - 1  # SCALE-Sim's sizes are C ints; larger values only overflow later
CFG_SIZE_KEYS = ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")
CFG_KEYS_READ = {key.lower() for key in (*CFG_SIZE_KEYS, "Dataflow", "Bandwidth")}  # Bandwidth: in USER mode
# In SCALE-Sim's own files but without effect here: trace addresses, and banks SCALE-Sim 2.0.2 does not read either.
CFG_KEYS_WITHOUT_EFFECT = {"ifmapoffset", "filteroffset", "ofmapoffset", "memorybanks"}


def _say_unread_keys(parser: configparser.ConfigParser, path: Path, section: str) -> None:
    """Nothing silent: a key of the architecture that neither the model nor SCALE-Sim 2.0.2's own
    files use (a typo, or a feature of another SCALE-Sim version) is named on the terminal."""
    unread = [key for key in parser.options(section) if key not in CFG_KEYS_READ | CFG_KEYS_WITHOUT_EFFECT]
    if unread:
        logging.getLogger("xaigen").warning("%s: [%s] %s: not read by xaigen's hardware model", path, section,
                                            ", ".join(unread))


def _cfg_value(parser: configparser.ConfigParser, path: Path, section: str, key: str, kind=int, default=None):
    if not parser.has_option(section, key):
        if default is not None:
            return default
        raise InputError(path, f"missing key '{key}'", f"[{section}]")
    raw = parser.get(section, key).strip()
    try:
        value = kind(raw)
    except ValueError:
        raise InputError(path, f"'{key}' = {raw[:40]!r} is not a valid {kind.__name__}", f"[{section}]") from None
    if kind is int and value > MAX_CFG_INT:
        raise InputError(path, f"'{key}' = {raw[:40]} is larger than {MAX_CFG_INT}", f"[{section}]")
    return value


def _parse_cfg(path: Path) -> configparser.ConfigParser:
    """The parsed file; values are literal (no ``%`` interpolation), a UTF-8 BOM is allowed."""
    from xaigen.fileio import require_file

    require_file(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read ({exc})") from None
    except configparser.Error as exc:
        raise InputError(path, f"not a valid .cfg file ({exc.message.splitlines()[0]})") from None
    return parser


def _bandwidth(parser: configparser.ConfigParser, path: Path, section: str) -> float:
    """DRAM bandwidth (bytes/cycle): SCALE-Sim's ``Bandwidth`` in USER mode, unlimited in CALC mode."""
    mode = _cfg_value(parser, path, "run_presets", "InterfaceBandwidth", str, "CALC") \
        if parser.has_section("run_presets") else "CALC"
    if mode not in ("USER", "CALC"):  # SCALE-Sim compares case-sensitively and aborts silently otherwise
        raise InputError(path, f"'InterfaceBandwidth' must be USER or CALC (upper case, as SCALE-Sim reads it), "
                         f"got {mode[:40]!r}", "[run_presets]")
    if mode == "CALC":
        return math.inf
    raw = _cfg_value(parser, path, section, "Bandwidth", str).split(",")[0].strip()
    try:
        bandwidth = float(raw)
    except ValueError:
        raise InputError(path, f"'Bandwidth' = {raw[:40]!r} is not a number", f"[{section}]") from None
    if not (math.isfinite(bandwidth) and bandwidth > 0):
        raise InputError(path, f"'Bandwidth' = {raw[:40]!r} must be a positive finite number (words/cycle)",
                         f"[{section}]")
    return bandwidth


def read_scalesim_cfg(path: str | Path, pods: int = 1, clock_mhz: float = 1000.0) -> Accelerator:
    """An :class:`Accelerator` from a SCALE-Sim v2 ``.cfg`` file (``[architecture_presets]``).

    SCALE-Sim's ``Bandwidth`` (words/cycle, 1-byte words) is used when ``InterfaceBandwidth`` is
    ``USER``; in ``CALC`` mode SCALE-Sim assumes whatever bandwidth avoids stalls, modelled here
    as unlimited. ``Dataflow`` and ``InterfaceBandwidth`` are read exactly as SCALE-Sim reads them
    (case-sensitive): ``WS`` is refused rather than run as ``ws`` here and as something else there.
    """
    path = Path(path)
    parser = _parse_cfg(path)
    section = "architecture_presets"
    if not parser.has_section(section):
        raise InputError(path, "missing section [architecture_presets]")
    dataflow = _cfg_value(parser, path, section, "Dataflow", str)
    if dataflow not in DATAFLOWS:
        raise InputError(path, f"'dataflow' must be one of {', '.join(DATAFLOWS)} (lower case, as SCALE-Sim "
                         f"reads it), got {dataflow[:40]!r}", f"[{section}]")
    bandwidth = _bandwidth(parser, path, section)
    _say_unread_keys(parser, path, section)
    name = parser.get("general", "run_name", fallback=path.stem).strip() if parser.has_section("general") else path.stem
    values = {key: _cfg_value(parser, path, section, key) for key in CFG_SIZE_KEYS}
    for key, value in values.items():
        if value < 1:
            raise InputError(path, f"'{key}' must be positive, got {value}", f"[{section}]")
    try:
        return Accelerator(
            name=name, array_rows=values["ArrayHeight"], array_cols=values["ArrayWidth"], pods=pods,
            dataflow=dataflow, clock_mhz=clock_mhz, ifmap_sram_kib=values["IfmapSramSzkB"],
            filter_sram_kib=values["FilterSramSzkB"], ofmap_sram_kib=values["OfmapSramSzkB"],
            dram_bytes_per_cycle=bandwidth, port_per_operand=True,
        )
    except InputError as exc:
        raise InputError(path, exc.problem, f"[{section}]") from None


def load_accelerator(spec: str | Path) -> Accelerator:
    """A preset by name, or a SCALE-Sim ``.cfg`` file."""
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]
    path = Path(spec)
    if path.suffix == ".cfg":
        return read_scalesim_cfg(path)
    raise InputError(str(spec), f"unknown accelerator; expected a preset ({', '.join(PRESETS)}) or a .cfg file")
