"""Whole-model emulation: calibrate, swap in approximate layers, re-assign multipliers, fine-tune.

Typical use::

    ranges = calibrate(model, x_calibration)                     # float model, once
    ax = approximate(model, {"conv1": "mul8s_1KV8"}, catalogue, ranges)
    set_assignment(ax, {"conv1": "exact_s8", "fc": "mul8s_1L2J"}, catalogue)   # cheap re-target
    accuracy(ax, x_test, y_test)

Layers not named in an assignment use the catalogue's exact signed multiplier, so an empty
assignment is plain int8 quantized inference.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

import torch
from torch import nn

from xaigen.emulation.coverage import matches
from xaigen.emulation.data import as_batches, as_labelled_batches
from xaigen.emulation.folding import fold_batchnorm as fold_batchnorm_fn
from xaigen.emulation.functional import ApproxCall
from xaigen.emulation.instrument import install, site_table
from xaigen.emulation.layers import ApproxConv2d, ApproxLayer, ApproxLinear
from xaigen.emulation.observers import RangeObserver
from xaigen.emulation.sites import SiteTracer
from xaigen.errors import InputError
from xaigen.models.task import CLASSIFICATION, Task
from xaigen.models.training import fit
from xaigen.multipliers.catalogue import Catalogue
from xaigen.multipliers.multiplier import Multiplier

Assignment = Mapping[str, str]
APPROXIMABLE = (nn.Conv2d, nn.Linear)
RHS_SUFFIX = "@rhs"  # calibration key of an activation x activation site's second operand


def approximable_layers(model: nn.Module, exclude: Iterable[str] = (), include_exact: bool = False
                        ) -> dict[str, nn.Module]:
    """Approximate sites by name, in execution order: the searchable layers of a model.

    For an approximate model (:func:`approximate`): its :class:`ApproxLayer` modules and functional
    :class:`ApproxCall` sites, less those kept exact (``exact_layers``) unless ``include_exact``.
    For a float model: its Conv2d/Conv1d/Linear modules (functional calls show up only when traced:
    :func:`~xaigen.emulation.coverage.trace_sites`). ``exclude``: names or fnmatch patterns left out.
    """
    table = site_table(model)
    if table is not None:
        modules = {n: m for n, m in model.named_modules() if isinstance(m, ApproxLayer)} | table.sites
        found = {n: modules[n] for n in table.order if n in modules}
    else:
        kinds = (*APPROXIMABLE, nn.Conv1d, ApproxLayer)
        found = {name: m for name, m in model.named_modules() if isinstance(m, kinds)}
    return {n: m for n, m in found.items()
            if (include_exact or not getattr(m, "exact_only", False)) and not matches(n, exclude)}


@torch.no_grad()
def calibrate(model: nn.Module, inputs, batch_size: int = 256, observer: str = "minmax"
              ) -> dict[str, tuple[float, float]]:
    """Range (low, high) of every call site's input over ``inputs`` (float model, eval mode).

    Every product call is traced (:mod:`.sites`): ``nn.Conv2d``/``nn.Linear``/``nn.Conv1d`` modules,
    functional convs/linears and matmuls, MultiheadAttention's projections and attention matmuls.
    An activation x activation site also gets ``"<site>@rhs"``: the range of its second operand.
    ``inputs``: a tensor, numpy array, Dataset or DataLoader (:func:`.data.as_batches`);
    ``observer``: ``minmax``, ``percentile`` or ``mse`` (:mod:`.observers`).
    """
    observers: dict[str, RangeObserver] = {}

    def observe(key: str, value: torch.Tensor) -> None:
        if key not in observers:
            observers[key] = RangeObserver(observer)
        observers[key].observe(value)

    def on_call(name, call, run):
        observe(name, call.lhs)
        if not call.rhs_is_weight:
            observe(name + RHS_SUFFIX, call.rhs)
        return run()

    RangeObserver(observer)  # an unknown observer fails before the first batch
    was_training = model.training
    model.eval()
    try:
        for batch in as_batches(inputs, batch_size):
            with SiteTracer(model, on_call):
                model(batch)
    finally:
        model.train(was_training)
    return {name: o.range() for name, o in observers.items()}


def _resolve(assignment: Assignment | str | None, layer_names: list[str], catalogue: Catalogue,
             kept_exact: Iterable[str] = ()) -> dict[str, Multiplier]:
    default = catalogue.exact(signed=True)
    if assignment is None:
        assignment = {}
    if isinstance(assignment, str):
        assignment = {name: assignment for name in layer_names}
    pinned = sorted(set(assignment) & set(kept_exact))
    if pinned:
        raise InputError("assignment", f"layer(s) {', '.join(pinned)} are kept exact (exact_layers)")
    unknown = sorted(set(assignment) - set(layer_names))
    if unknown:
        raise InputError("assignment", f"unknown layer(s) {', '.join(unknown)}; the model has {', '.join(layer_names)}")
    return {name: catalogue[assignment[name]] if name in assignment else default for name in layer_names}


def _swappable(module: nn.Module | None) -> bool:
    """Conv2d (zeros padding) and Linear modules become ApproxLayers; other sites ApproxCalls."""
    if isinstance(module, nn.Conv2d):
        return module.padding_mode == "zeros"
    return isinstance(module, nn.Linear)


def _install_sites(ax: nn.Module, sites: list[str], chosen: dict[str, Multiplier],
                   calibration: Mapping[str, tuple[float, float]], per_channel: bool, path: str) -> None:
    modules = dict(ax.named_modules())
    functional: dict[str, ApproxCall] = {}
    for name in sites:
        original = modules.get(name)
        if _swappable(original):
            parent_name, _, child = name.rpartition(".")
            parent = ax.get_submodule(parent_name) if parent_name else ax
            cls = ApproxConv2d if isinstance(original, nn.Conv2d) else ApproxLinear
            setattr(parent, child, cls(original, calibration[name], chosen[name], per_channel, path))
        else:
            functional[name] = ApproxCall(name, calibration[name], calibration.get(name + RHS_SUFFIX), chosen[name],
                                          per_channel)
    if functional:
        install(ax, functional, sites)


def approximate(model: nn.Module, assignment: Assignment | str | None, catalogue: Catalogue,
                calibration: Mapping[str, tuple[float, float]], per_channel: bool = True,
                path: str = "auto", exact_layers: Iterable[str] = (), fold_batchnorm: bool = False) -> nn.Module:
    """A copy of ``model`` whose call sites multiply through their assigned tables.

    Args:
        model: a float PyTorch model (left unchanged).
        assignment: site name -> multiplier name, or one multiplier name for every searchable site.
        catalogue: where multiplier names are looked up.
        calibration: input ranges per site, from :func:`calibrate` (which names the sites).
        per_channel: per-output-channel weight scales (else one scale per tensor).
        path: kernel choice, ``auto`` (fastest exact path; on CPUs without VNNI int8 or float
            low-rank, whichever was measured faster for each layer geometry: see
            :meth:`ApproxLayer._approximate_output`), ``int8``, ``lowrank``, ``gather`` or ``naive``.
        exact_layers: site names or fnmatch patterns kept on the exact multiplier (still int8);
            they are not searchable (:func:`approximable_layers` leaves them out).
        fold_batchnorm: fold each conv -> BatchNorm pair into the conv before quantizing
            (:func:`.folding.fold_batchnorm`), as an int8 deployment does.
    """
    ax = fold_batchnorm_fn(model).model if fold_batchnorm else copy.deepcopy(model).eval()
    sites = [n for n in calibration if not n.endswith(RHS_SUFFIX)]
    if not sites:
        raise InputError("calibration", "names no call site; calibrate the model first")
    exact_layers = list(exact_layers)
    pinned = [n for n in sites if matches(n, exact_layers)]
    searchable = [n for n in sites if n not in pinned]
    chosen = _resolve(assignment, searchable, catalogue, pinned)
    chosen |= {n: catalogue.exact(signed=True) for n in pinned}
    _install_sites(ax, sites, chosen, calibration, per_channel, path)
    for name, layer in approximable_layers(ax, include_exact=True).items():
        layer.exact_only = name in pinned
    return ax


@dataclass(frozen=True)
class EmulationOptions:
    """How every approximate copy of one model is made (one owner for these choices in a run):
    per-channel weight scales, sites kept exact, BatchNorm folding (see :func:`approximate`), and
    weight tuning (:func:`tune_weights`; ``tuning_histograms`` are the activation histograms it
    uses, recorded once by :func:`xaigen.search.prepare` on the exact model)."""

    per_channel: bool = True
    exact_layers: tuple[str, ...] = ()
    fold_batchnorm: bool = False
    weight_tuning: bool = False
    tuning_histograms: Mapping[str, Mapping[bool, np.ndarray]] | None = field(default=None, compare=False)

    def approximate(self, model: nn.Module, assignment: Assignment | str | None, catalogue: Catalogue,
                    calibration: Mapping[str, tuple[float, float]]) -> nn.Module:
        """:func:`approximate` with these options (with weight tuning once its histograms are known)."""
        tuning = self.weight_tuning and self.tuning_histograms is not None
        ax = approximate(model, None if tuning else assignment, catalogue, calibration, per_channel=self.per_channel,
                         exact_layers=self.exact_layers, fold_batchnorm=self.fold_batchnorm)
        if tuning:
            tune_weights(ax, self.tuning_histograms)
            set_assignment(ax, assignment, catalogue)
        return ax


def tune_weights(approx_model: nn.Module, activation_histograms: Mapping[str, Mapping[bool, np.ndarray]]) -> None:
    """Weight tuning (ALWANN) in every searchable layer with weights that ``activation_histograms``
    names (layer -> multiplier signedness -> int64[256] activation counts): from now on each
    multiplier assigned there multiplies the weight codes it errs least on (see
    :mod:`xaigen.multipliers.weight_tuning`). Sites without weights (activation x activation) and
    layers kept exact are left as they are."""
    for name, layer in approximable_layers(approx_model).items():
        if isinstance(layer, ApproxLayer) and name in activation_histograms:
            layer.tune_weights(activation_histograms[name])


def set_assignment(approx_model: nn.Module, assignment: Assignment | str | None, catalogue: Catalogue) -> None:
    """Re-target the searchable sites of an approximate model in place (cheap: kernel plans are
    rebuilt lazily); sites kept exact stay exact, unnamed searchable sites become exact."""
    layers = approximable_layers(approx_model)
    kept = [n for n in approximable_layers(approx_model, include_exact=True) if n not in layers]
    for name, multiplier in _resolve(assignment, list(layers), catalogue, kept).items():
        layers[name].set_multiplier(multiplier)


def current_assignment(approx_model: nn.Module) -> dict[str, str]:
    """Layer name -> multiplier name of an approximate model."""
    return {name: layer.multiplier.name for name, layer in approximable_layers(approx_model).items()}


@torch.no_grad()
def operand_histograms(approx_model: nn.Module, inputs, batch_size: int = 256) -> dict[str, tuple]:
    """Per searchable site: (activation histogram, weight histogram), int64[256] each, by bit pattern.

    The activation histogram counts the codes of the site's input, each element once (padding
    is not counted). For an activation x activation site the "weight" histogram counts the codes
    of its second operand, each element of each call once.

    Feed to :func:`xaigen.multipliers.joint_distribution` to rank multipliers on the operands a
    layer really sees.
    """
    layers = approximable_layers(approx_model)
    for layer in layers.values():
        layer.activation_histogram.zero_()
        if isinstance(layer, ApproxCall):
            layer.rhs_histogram.zero_()
        layer.record_histograms = True
    try:
        for batch in as_batches(inputs, batch_size):
            approx_model(batch)
    finally:
        for layer in layers.values():
            layer.record_histograms = False
    return {name: (layer.activation_histogram.clone(), layer.weight_histogram()) for name, layer in layers.items()}


@torch.no_grad()
def predict(model: nn.Module, inputs, batch_size: int = 256) -> torch.Tensor:
    """Class predictions (int64[N]) in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(b).argmax(dim=1) for b in as_batches(inputs, batch_size)])
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Scores:
    """A model's scores on one data set: the task's metric, its mean loss and, for top-1
    classification, which examples it got right (what a paired comparison of two models needs)."""

    accuracy: float
    loss: float
    correct: np.ndarray | None = None  # bool[N] per example; None for other tasks


@torch.no_grad()
def score_examples(model: nn.Module, x, y=None, batch_size: int = 512, task: Task = CLASSIFICATION) -> Scores:
    """The one place that scores a model. ``x``: a tensor or array with labels ``y``, or a
    Dataset / DataLoader of (inputs, labels) with ``y`` None. The metric is top-1 accuracy in
    [0, 1] and the loss cross-entropy by default; another ``task`` scores its own way."""
    if task is not CLASSIFICATION:
        outputs, targets = [], []
        for xb, yb in as_labelled_batches(x, batch_size, y):
            outputs.append(model(xb))
            targets.append(yb)
        return Scores(*task.score(torch.cat(outputs), torch.cat(targets)))
    hits, loss = [], 0.0
    for xb, yb in as_labelled_batches(x, batch_size, y):
        logits = model(xb)
        hits.append((logits.argmax(1) == yb).numpy())
        loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    correct = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    if not len(correct):
        raise InputError("data", "no examples to score")
    return Scores(float(correct.mean()), loss / len(correct), correct)


def accuracy_and_loss(model: nn.Module, x, y=None, batch_size: int = 512,
                      task: Task = CLASSIFICATION) -> tuple[float, float]:
    """(metric, mean loss) of ``model`` on (x, y): :func:`score_examples` without the per-example part."""
    scores = score_examples(model, x, y, batch_size, task)
    return scores.accuracy, scores.loss


def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy in [0, 1]."""
    return accuracy_and_loss(model, inputs, labels, batch_size)[0]


def finetune(approx_model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, epochs: int = 2,
             lr: float = 1e-3, batch_size: int = 64, seed: int = 0, task: Task = CLASSIFICATION) -> list[float]:
    """Approximation-aware fine-tuning with a straight-through estimator; returns loss per epoch.

    Forward values are the bit-exact approximate outputs; gradients are those of the
    fake-quantized float layers, so the weights learn to compensate the multipliers' error.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(approx_model.parameters(), lr=lr)
    approx_model.train()
    for module in approx_model.modules():  # keep the calibrated statistics of batch-norm layers
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    try:
        return fit(approx_model, inputs, labels, optimizer, epochs, batch_size, generator, loss_fn=task.loss)
    finally:
        approx_model.eval()
