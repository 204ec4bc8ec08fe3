"""Run configuration (TOML), validated at the boundary with pydantic.

Every field has a default: an empty file (or no file) is the embedded default — digits, the small
CNN, the ``tpu-v4`` preset and every signed multiplier in the catalogue. Unknown keys and wrong
types are errors that name the file and the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xaigen.errors import InputError
from xaigen.fileio import require_file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)  # "3" or true is no number


class DataConfig(_Section):
    name: str = Field("digits", description="digits, fashion-mnist, cifar10, npz, folder, or 'file.py:factory' / "
                                            "'package.module:factory' returning (train_dataset, test_dataset)")
    dir: str | None = Field(None, description="Directory of the IDX (Fashion-MNIST) or pickle (CIFAR-10) files")
    path: str | None = Field(None, description="The .npz file (name = npz) or the image folder (name = folder)")
    train_limit: int | None = Field(None, gt=0)
    test_limit: int | None = Field(None, gt=0)

    @field_validator("name")
    @classmethod
    def _known_data(cls, value: str) -> str:
        if value in ("digits", "fashion-mnist", "cifar10", "npz", "folder") or ":" in value:
            return value
        raise ValueError(f"unknown data set '{value}', expected digits, fashion-mnist, cifar10, npz, folder or "
                         "'file.py:factory'")

    @model_validator(mode="after")
    def _path_given(self) -> DataConfig:
        if self.name in ("npz", "folder") and not self.path:
            raise ValueError(f"data set '{self.name}' needs path = ...")
        reads = {"npz": "path", "folder": "path", "fashion-mnist": "dir", "cifar10": "dir"}.get(self.name)
        for field in ("path", "dir"):  # a file the user named but the data set never reads: refused, not ignored
            if getattr(self, field) is not None and field != reads:
                raise ValueError(f"data set '{self.name}' does not read {field} = ... (npz and folder read path, "
                                 "fashion-mnist and cifar10 read dir)")
        return self


class ModelConfig(_Section):
    name: str = "small-cnn"
    source: str | None = Field(None, description="Your network: 'path/to/file.py:factory' or 'package.module:factory' "
                                                 "(runs your code; replaces name)")
    checkpoint: str | None = Field(None, description="state_dict .pt for the model (loaded with weights_only=True)")
    input_shape: list[int] | None = Field(None, description="Sample shape [C, ...] the model expects (checked "
                                                            "against the data)")
    train: bool | None = Field(None, description="Train before approximating (default: only without a checkpoint)")
    epochs: int = Field(15, gt=0)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(2e-3, gt=0)

    @field_validator("name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from xaigen.models import parse_model_name

        try:
            parse_model_name(value)
        except InputError as exc:
            raise ValueError(exc.problem) from None
        return value

    @property
    def label(self) -> str:
        """What results call the model: the built-in name or the user's source."""
        return self.source or self.name

    @property
    def trains(self) -> bool:
        return self.train if self.train is not None else self.checkpoint is None


class QuantizationConfig(_Section):
    per_channel: bool = True
    calibration_samples: int = Field(512, gt=0)
    fold_batchnorm: bool = Field(False, description="Fold BatchNorm into the preceding conv before quantizing")
    observer: Literal["minmax", "percentile", "mse"] = Field("minmax", description="Activation range observer")
    unsigned_mapping: Literal["sign-magnitude", "offset"] = Field(
        "sign-magnitude", description="How unsigned circuits see int8 data: 'sign-magnitude' (the circuit multiplies "
                                      "|a| and |w|, the sign is applied after; candidates NAME+sm) or 'offset' "
                                      "(asymmetric uint8 codes with zero points)")
    weight_tuning: bool = Field(False, description="ALWANN weight tuning: each layer stores, per multiplier, the "
                                                   "weight codes that multiplier errs least on for the layer's "
                                                   "activations (no retraining; xaigen.multipliers.weight_tuning)")


class HardwareConfig(_Section):
    accelerator: str = Field("tpu-v4", description="Preset name or SCALE-Sim .cfg path")
    batch: int = Field(1, gt=0, description="Inference batch size the energy is estimated for")


class MultiplierConfig(_Section):
    candidates: Literal["signed", "unsigned", "all"] | list[str] = "signed"
    files: list[str] = Field(default_factory=list, description="Extra multiplier files loaded for this run")
    exclude: list[str] = Field(default_factory=list, description="Names left out of the candidates")
    probe: str = Field("auto", description="Multiplier used to measure per-layer sensitivity")
    exact_layers: list[str] = Field(default_factory=list, description="Layers (names or fnmatch patterns) kept "
                                                                      "exact and out of the search")


class XaiConfig(_Section):
    methods: list[str] = Field(default_factory=lambda: ["conductance", "integrated_gradients", "deeplift",
                                                        "gradient_x_activation", "lrp", "noise_sensitivity"])
    guide: str = Field("ig_delta", description="What guides XAI-Gen: a damage model (loss units) or a method "
                                               "whose layer scores weight the error model")
    damage: list[str] = Field(default_factory=lambda: ["fisher", "ig_delta", "gradient_x_delta", "trace_moment"],
                              description="Damage models per (layer, multiplier) computed and compared")
    guide_floor: str | None = Field(
        "fisher", description="With a damage-model guide: a damage model whose value is the least the guide's "
                              "damage can be, per (layer, multiplier) (the guide's table becomes max(guide,floor), "
                              "or fill(guide,floor): see guide_floor_mode; computed even if not in damage); 'none': "
                              "the guide alone. A guide measured on few samples reads a small real loss as none, "
                              "and XAI-Gen takes every move it calls free first")
    guide_floor_mode: Literal["max", "fill"] = Field(
        "fill", description="How the floor applies: 'fill' (the floor only where the guide reads no damage, <= 0; "
                            "fill(guide,floor)) or 'max' (max(guide,floor) on every pair)")
    truth: bool = Field(True, description="Measure the single-layer truth table on both test halves")
    data: Literal["validation", "train"] = Field(
        "validation", description="Which images the damage models and relevance methods see: the search's "
                                  "validation half of the test set (default), or the training set. A model's loss "
                                  "changes on the images it was trained on rank (layer, multiplier) pairs unlike "
                                  "its loss changes on unseen images; the held-out half is never used")
    samples: int = Field(128, gt=0, description="How many images of `data` the XAI step uses")
    steps: int = Field(16, gt=0)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        from xaigen.xai import METHODS

        unknown = [m for m in value if m not in METHODS]
        if unknown or not value:
            raise ValueError(f"unknown method(s) {unknown}, expected some of {', '.join(METHODS)}")
        return value

    @field_validator("damage")
    @classmethod
    def _known_damage(cls, value: list[str]) -> list[str]:
        from xaigen.xai import DAMAGE_MODELS

        unknown = [m for m in value if m not in DAMAGE_MODELS]
        if unknown:
            raise ValueError(f"unknown damage model(s) {unknown}, expected some of {', '.join(DAMAGE_MODELS)}")
        return list(dict.fromkeys(value))

    @field_validator("guide_floor")
    @classmethod
    def _no_floor(cls, value: str | None) -> str | None:
        return None if value == "none" else value  # TOML has no null

    @model_validator(mode="after")
    def _guide_runs(self) -> XaiConfig:
        if self.guide not in self.methods and self.guide not in self.damage:
            raise ValueError(f"guide '{self.guide}' must be one of the methods {self.methods} "
                             f"or the damage models {self.damage}")
        from xaigen.xai import DAMAGE_MODELS

        if self.guide_floor is not None and self.guide_floor not in DAMAGE_MODELS:
            raise ValueError(f"guide_floor '{self.guide_floor}' must be one of the damage models "
                             f"{', '.join(DAMAGE_MODELS)} or 'none'")
        return self

    @property
    def floor_applies(self) -> bool:
        """Whether XAI-Gen's guide is floored: a damage-model guide with another model as its floor."""
        return self.guide in self.damage and self.guide_floor not in (None, self.guide)

    @property
    def damage_to_run(self) -> list[str]:
        """The damage models to compute: ``damage``, and the guide's floor where the guide needs it."""
        needs_floor = self.floor_applies and self.guide_floor not in self.damage
        return self.damage + [self.guide_floor] if needs_floor else list(self.damage)


class SearchConfig(_Section):
    budget: int = Field(40, gt=0, description="Full evaluations per method")
    nsga2_budget: int | None = Field(None, gt=0, description="NSGA-II's own budget (default: budget)")
    loss_budgets: list[float] = Field(default_factory=lambda: [0.01, 0.02])
    hv_max_loss: float = Field(0.05, gt=0, le=1)
    budget_margin_se: float = Field(
        1.0, ge=0, le=5, description="A choice is within a loss budget when its loss plus this many standard "
                                     "errors of the paired accuracy difference is (0: the bare loss)")
    methods: list[str] = Field(
        default_factory=lambda: ["uniform", "random", "greedy-sensitivity", "nsga2", "xai-gen", "error-model"],
        description="Registered search methods (xaigen.search.registry); `exact` always runs")
    storage: str | None = Field(None, description="Optuna storage URL (default: SQLite in the output dir)")
    seed: int = Field(0, ge=0, lt=2**32, description="Seeds data splits, training and every search")
    path_repairs: int = Field(0, ge=0, description="XAI-Gen: at most this many (layer, multiplier) moves after "
                                                  "which the measured loss leaps are taken out of its path")
    climb: Literal["gallop", "single"] = Field(
        "gallop", description="XAI-Gen after its path: gallop along a local path from each budget's best "
                              "assignment, or try one-layer moves one at a time (the climb before 2026-11-28)")
    seeds: list[int] | None = Field(None, description="Repeat the run with each seed (model, split, search); "
                                                      "mean and spread in seeds.json")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or any(not 0 <= v < 2**32 for v in value) or len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct integers in [0, 2^32), at least one; got {value}")
        return value

    @field_validator("methods")
    @classmethod
    def _registered_methods(cls, value: list[str]) -> list[str]:
        from xaigen.search.registry import method_names

        known = [m for m in method_names() if m != "exact"]
        unknown = [m for m in value if m not in known]
        if not value:
            raise ValueError(f"no search method: give at least one of {', '.join(known)}")
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}, expected some of {', '.join(known)}")
        return list(dict.fromkeys(value))

    @field_validator("loss_budgets")
    @classmethod
    def _budgets(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 <= v < 1 for v in value):
            raise ValueError("loss budgets must be fractions in [0, 1), e.g. [0.01, 0.02]")
        return sorted(value)


class FinetuneConfig(_Section):
    """Approximation-aware fine-tuning (straight-through estimator).

    ``final``: after the search, XAI-Gen's choice at the loosest budget, held-out before/after.
    ``in-loop``: the budget is judged again on fine-tuned accuracy: per budget, the evaluated
    assignments that miss it by at most ``margin`` (XAI-Gen bisects its path for budget + margin
    to have some) are bisected for the cheapest one within budget after fine-tuning, with at most
    ``candidates`` fine-tunes (early stop on a tenth of the training data held back from the
    fine-tune, never on the validation half that judges the budget); it is reported beside the
    choice without retraining, never in its place.
    """

    mode: Literal["off", "final", "in-loop"] = "off"
    enabled: bool | None = Field(None, description="Deprecated: true means mode = 'final'")
    epochs: int = Field(2, gt=0)
    lr: float = Field(1e-3, gt=0)
    candidates: int = Field(3, gt=0, description="in-loop: fine-tunes per budget at most (a bisection)")
    margin: float = Field(0.05, ge=0, lt=1, description="in-loop: how far beyond a budget a candidate may be")
    distill: float = Field(
        0.0, ge=0, le=1, description="in-loop: weight of the float model's class probabilities in the fine-tune's "
                                     "targets (knowledge distillation; classification only), the rest the labels")

    @model_validator(mode="after")
    def _enabled_means_final(self) -> FinetuneConfig:
        if self.enabled and self.mode == "off":
            self.mode = "final"
        return self


NAS_DEFAULT_MINUTES = 2.0  # trial time per method when neither trials nor budget_minutes is given


class NasConfig(_Section):
    methods: list[Literal["xai-nas", "evo-joint", "two-stage"]] = Field(
        default_factory=lambda: ["xai-nas", "evo-joint", "two-stage"], min_length=1)
    trials: int | None = Field(None, gt=0, description="Completed trials per method")
    budget_minutes: float | None = Field(None, gt=0, description=f"Trial time per method (minutes; default "
                                                                  f"{NAS_DEFAULT_MINUTES:g} unless trials is given)")
    epochs: int = Field(8, gt=0, description="Training epochs per candidate")
    loss_budget: float = Field(0.01, ge=0, lt=1, description="XAI-Gen's accuracy-loss budget per candidate")
    xaigen_budget: int = Field(10, gt=0, description="XAI-Gen's full evaluations per candidate")

    @model_validator(mode="after")
    def _one_budget(self) -> NasConfig:
        if self.trials is not None and self.budget_minutes is not None:
            raise ValueError("give trials or budget_minutes, not both")
        return self

    @property
    def trial_seconds(self) -> float | None:
        """Trial time per method (s); None when the budget is ``trials``."""
        if self.trials is not None:
            return None
        return 60 * (self.budget_minutes if self.budget_minutes is not None else NAS_DEFAULT_MINUTES)


class TaskConfig(_Section):
    """What the model is scored on (default: classification accuracy and cross-entropy)."""

    metric: str | None = Field(None, description="'file.py:function' (outputs, targets) -> float, higher is better")
    loss: str | None = Field(None, description="'file.py:function' (outputs, targets) -> mean loss tensor")


class RunConfig(_Section):
    """The whole ``xaigen run`` configuration."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    multipliers: MultiplierConfig = Field(default_factory=MultiplierConfig)
    xai: XaiConfig = Field(default_factory=XaiConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    nas: NasConfig = Field(default_factory=NasConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)

    @model_validator(mode="after")
    def _distill_needs_class_labels(self) -> RunConfig:
        if self.finetune.distill and (self.task.metric or self.task.loss):
            raise ValueError("finetune.distill needs the default classification task (class probabilities)")
        return self


def _describe(error: dict) -> tuple[str, str]:
    where = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return where, "unknown key"
    return where, error["msg"]


def load_config(path: str | Path | None) -> RunConfig:
    """Read and validate a TOML run configuration; ``None`` gives the embedded default."""
    if path is None:
        return RunConfig()
    path = require_file(path)  # a FIFO or a device would block or never end
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is not an error
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(path, "not valid TOML (nested too deeply)") from None
    return config_from_dict(data, path)


def config_from_dict(data: dict, source: str | Path = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        where, problem = _describe(exc.errors()[0])
        raise InputError(source, problem, where) from None
