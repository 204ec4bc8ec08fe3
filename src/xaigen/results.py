"""The typed schema of ``results.json``: written by :mod:`xaigen.pipeline`, read by the report.

The JSON keys are the ones the README documents. Optional parts that a run did not produce are
left out of the file (``to_reach_nsga2_hypervolume`` without NSGA-II), not written as null.
Energies in pJ, accuracies and losses as fractions in [0, 1], times in seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xaigen.errors import InputError


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BudgetChoice(_Record):
    """The lowest-energy evaluated assignment within one accuracy-loss budget."""

    assignment: dict[str, str]
    accuracy: float  # validation half
    energy_pj: float  # whole accelerator
    multiplier_energy_pj: float
    energy_reduction: float  # exact / approximate, whole accelerator
    multiplier_energy_reduction: float  # exact / approximate, multipliers only
    mac_energy_reduction: float  # exact / approximate, multipliers + accumulators
    found_at_evaluation: int
    loss_se: float | None = None  # standard error of the loss (paired per-example differences)
    test_accuracy: float | None = None  # the held-out half
    heldout_loss: float | None = None  # exact minus this choice's accuracy, both on the held-out half
    heldout_breaks_budget: bool | None = None  # heldout_loss exceeds the budget it was chosen for


class RetrainedChoice(_Record):
    """The cheapest assignment within a budget after in-loop fine-tuning (beside, not instead of,
    the choice without retraining)."""

    assignment: dict[str, str]
    accuracy_before: float  # validation half, as quantized
    accuracy: float  # validation half, after fine-tuning
    test_accuracy: float  # held-out half, after fine-tuning
    energy_pj: float
    multiplier_energy_pj: float
    energy_reduction: float
    multiplier_energy_reduction: float
    epochs: int  # fine-tuning epochs kept (early stop)
    heldout_loss: float | None = None  # exact minus the fine-tuned accuracy, both on the held-out half
    heldout_breaks_budget: bool | None = None  # heldout_loss exceeds the budget it was chosen for


class FineTuneAttempt(_Record):
    """One bracketed assignment judged against one budget after fine-tuning, met or not."""

    budget: str
    assignment: dict[str, str]
    multiplier_energy_reduction: float
    accuracy_before: float  # validation half, as quantized
    accuracy_after: float  # validation half, after fine-tuning
    epochs: int  # fine-tuning epochs kept (early stop)
    within_budget: bool  # after fine-tuning, by the search's rule (margin included)


class RetrainSummary(_Record):
    finetunes: int
    wall_s: float
    by_budget: dict[str, RetrainedChoice | None]
    attempts: list[FineTuneAttempt] = Field(default_factory=list)  # empty in files written before attempts were recorded


class Point(_Record):
    energy_ratio: float
    loss: float


class Reach(_Record):
    evaluations: int | None
    wall_s: float | None


class MethodSummary(_Record):
    """One method's evaluations (vocabulary: :mod:`xaigen.search.summary`)."""

    evaluations: int
    wall_s: float
    hypervolume: float
    hypervolume_curve: list[float]
    elapsed_curve: list[float]
    front: list[Point]
    points: list[Point]
    by_budget: dict[str, BudgetChoice | None]
    best_within: dict[str, float | None]
    budget_margin_se: float = 0.0  # standard errors the loss had to stay below each budget
    to_reach_nsga2_hypervolume: Reach | None = None
    retrained: RetrainSummary | None = None  # [finetune] mode = "in-loop" (xai-gen)


class BestKnownFront(_Record):
    """Every method's evaluated candidates together (:func:`xaigen.search.best_known_front`)."""

    evaluations: int
    hypervolume: float
    front: list[Point]


class Headline(_Record):
    """A method's choice at the primary (tightest) loss budget, with its budget table."""

    evaluations: int
    wall_s: float
    hypervolume: float
    by_budget: dict[str, BudgetChoice | None]
    assignment: dict[str, str] | None
    accuracy: float | None
    heldout_loss: float | None = None
    energy_pj: float | None
    energy_reduction: float | None
    multiplier_energy_reduction: float | None
    mac_energy_reduction: float | None


class FloatFigures(_Record):
    accuracy: float


class ExactFigures(_Record):
    accuracy: float  # exact int8, validation half
    test_accuracy: float  # exact int8, held-out half
    energy_pj: float
    multiplier_energy_pj: float
    mac_energy_pj: float  # multipliers + accumulators
    batch: int  # the inference batch the energies are for (per inference)


class DamageVsTruth(_Record):
    """One estimator against the held-out single-layer truth (:mod:`xaigen.xai.truth`)."""

    pooled_spearman: float | None
    per_probe_spearman: float | None  # mean over the strong probes
    ceiling_pooled: float | None  # validation-half table vs held-out table
    ceiling_per_probe: float | None
    pearson_assignments: float | None  # predicted vs measured CE increase, evaluated assignments
    auc_above_budget: float | None  # "accuracy loss above the primary budget" from predicted damage
    strong_probes: list[str]
    assignments: int
    # the same Pearson after the out-of-fold interaction correction a * p^b (None: older results)
    pearson_assignments_corrected: float | None = None
    # the same Pearson for the sum of the validation half's measured single-layer table: what an
    # additive model can be expected to reach, not a strict bound (None: older results)
    ceiling_pearson_assignments: float | None = None


class DamageReport(_Record):
    """Every estimator's damage vs the truth; tables in nats (cross-entropy increase)."""

    guide: str
    truth_half: str
    budget: float
    truth: dict[str, dict[str, float]]  # layer -> multiplier -> held-out single-layer CE increase
    truth_se: dict[str, dict[str, float]]
    ceiling_table: dict[str, dict[str, float]]  # the same on the validation half
    estimators: dict[str, DamageVsTruth]
    # each estimator's predicted table, layer -> multiplier: nats for the damage models and the guide's
    # table, relative error (no unit) for error-model and the relevance-weighted ones (older results: none)
    tables: dict[str, dict[str, dict[str, float]]] = {}
    errors: dict[str, str]
    estimated_on: str = "train"  # the images the estimators saw: "validation" or "train" (older results: train)


class XaiMethodResult(_Record):
    scores: dict[str, float]  # damage models: predicted CE increase with the probe in the layer alone
    error: str | None
    spearman_vs_sensitivity: float | None
    spearman_vs_accuracy_drop: float | None
    damage_vs_truth: DamageVsTruth | None = None


class SensitivityResult(_Record):
    probe: str
    accuracy_drop: dict[str, float]
    loss_increase: dict[str, float]


class HardwareResult(_Record):
    exact: dict[str, Any]  # xaigen.hardware.NetworkEstimate.as_dict
    xaigen: dict[str, Any]
    reduction: dict[str, Any] | None


class FinetuneResult(_Record):
    assignment: dict[str, str]
    test_accuracy_before: float
    test_accuracy_after: float
    loss_history: list[float]


class Timings(_Record):
    total_s: float


class Provenance(_Record):
    """Where the results came from (:mod:`xaigen.provenance`)."""

    config: dict[str, Any]  # the effective configuration, defaults included
    seeds: list[int]
    xaigen_version: str
    versions: dict[str, str]  # torch, captum, optuna, numpy, ...
    data_sizes: dict[str, int]  # samples: train, search_validation, held_out
    started_utc: str  # ISO 8601
    wall_s: float
    machine: dict[str, Any]  # cpu, cores, os, python, torch_threads, gpu (no host name)


class CandidateCircuit(_Record):
    """One multiplier the search could use; energy per MAC in pJ (:mod:`xaigen.hardware.circuit`)."""

    name: str
    power_mw: float
    energy_per_mac_pj: float
    mae: float  # mean absolute error of the product, uniform operands
    table_rank: int | None  # exact integer rank of the product table (None: above the emulator's limit)
    signed: bool  # the physical circuit's signedness
    source: str
    mapping: str | None = None  # how an unsigned circuit takes signed operands ("sign-magnitude"), if it does


class LeftOutCircuit(_Record):
    name: str
    reason: str


class Circuits(_Record):
    """The candidate circuits and those asked for but left out, with the reason."""

    candidates: list[CandidateCircuit]
    left_out: list[LeftOutCircuit]


class RunResults(_Record):
    """Everything ``xaigen run`` reports."""

    xaigen_version: str
    model: str
    dataset: str
    accelerator: str
    seed: int
    loss_budgets: list[float] = Field(min_length=1)
    primary_budget: float
    candidates: list[str]
    probe: str
    guide: str  # the XAI method whose scores guided XAI-Gen
    model_from_cache: bool
    float_: FloatFigures = Field(alias="float")
    exact: ExactFigures
    xaigen: Headline | None
    baselines: dict[str, Headline | None]
    xai: dict[str, XaiMethodResult]
    damage: DamageReport | None = None
    sensitivity: SensitivityResult
    hardware: HardwareResult
    methods: dict[str, MethodSummary]
    best_known: BestKnownFront | None = None  # absent in files written before it was recorded
    xaigen_diagnostics: dict[str, dict[str, Any]]
    finetune: FinetuneResult | None
    multipliers: dict[str, dict[str, Any]]
    timings: Timings
    coverage: float | None = None  # fraction of the model's MACs the search can approximate
    coverage_detail: dict[str, Any] | None = None  # approximated and total MACs, what is not and why
    provenance: Provenance | None = None  # absent in files written before it was recorded
    circuits: Circuits | None = None

    def to_json_data(self) -> dict:
        """Plain JSON data (NaN and infinities become null)."""
        return _finite(self.model_dump(by_alias=True, exclude_unset=True))


class NasMethodSummary(BaseModel):
    """One NAS method's trials summarised (:func:`xaigen.nas.methods.summarize_nas`)."""

    model_config = ConfigDict(extra="allow")
    trials: int
    wall_s: float
    hypervolume: float
    hypervolume_curve: list[float]
    elapsed_curve: list[float]
    front: list[Point]
    by_budget: dict[str, dict[str, Any] | None]


class NasResults(BaseModel):
    """What ``xaigen nas`` writes (``nas.json``); only the parts the report reads are typed."""

    model_config = ConfigDict(extra="allow")
    dataset: str
    accelerator: str
    seed: int
    reference_accuracy: float
    methods: dict[str, NasMethodSummary]
    xai_nas_vs: dict[str, dict[str, float | None]] = {}
    provenance: Provenance | None = None


def _finite(value):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def read_results(path: str | Path) -> RunResults:
    """Read and validate a ``results.json`` file."""
    path = Path(path)
    try:
        return RunResults.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InputError(path, error["msg"], ".".join(str(p) for p in error["loc"])) from None
