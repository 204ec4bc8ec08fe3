"""The single-layer truth table and the figures that tell damage estimators apart.

``S[l, m]`` is the measured cross-entropy increase (nats) when multiplier ``m`` is in layer ``l``
alone (every other layer exact int8), on one half of the test set; ``SE[l, m]`` the standard
error of that mean from the paired per-sample differences. The table is measured on both halves:
the held-out half is the truth, and the Spearman correlation between the two halves is the
*ceiling* (no estimator can agree with the truth much better than the truth agrees with itself).

* pooled Spearman: over every (layer, approximate multiplier) pair;
* per-probe Spearman: over layers, for each *strong* probe (a multiplier whose largest
  single-layer increase exceeds ``3 SE``), averaged over those probes;
* Pearson over evaluated assignments: the predicted damage (sum over layers) against the measured
  loss increase of each fully evaluated assignment;
* the same Pearson after a correction for layer interactions: the measured increase of an
  assignment is modelled as ``a * p^b`` of its predicted sum ``p`` (``b < 1``: layers' damages
  overlap, sub-additive; ``b > 1``: they compound), fitted by least squares on the other folds of
  a 5-fold split and applied to the held-out fold, so every corrected prediction is out of sample;
* the Pearson ceiling of an additive model: the same Pearson for the sum of the *measured*
  single-layer increases of the validation half (the half the assignments are measured on). No
  estimator that adds up single-layer damages is expected to beat it much; it is optimistic, as
  the two measurements share their images;
* AUC: the probability that an assignment whose accuracy loss exceeds the budget is predicted
  more damage than one within it (Mann-Whitney; ties count one half).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from xaigen.emulation import approximable_layers, set_assignment
from xaigen.multipliers import Catalogue
from xaigen.xai.damage import network_damage

STRONG_SE = 3.0  # a probe is strong when its largest single-layer increase exceeds this many SE


@dataclass(frozen=True)
class TruthTable:
    """Single-layer loss increases (nats) and their standard errors, one half of the test set."""

    increase: dict[str, dict[str, float]]  # layer -> multiplier -> mean CE increase
    se: dict[str, dict[str, float]]


@torch.no_grad()
def per_sample_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Cross-entropy of every sample (float64[N])."""
    parts = [nn.functional.cross_entropy(model(x[i : i + batch_size]), y[i : i + batch_size], reduction="none")
             for i in range(0, len(x), batch_size)]
    return torch.cat(parts).double()


def single_layer_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, catalogue: Catalogue,
                       candidates: Sequence[str], advance: Callable[[], None] | None = None) -> TruthTable:
    """``S[l, m]`` on ``(x, y)`` for every approximate candidate; leaves ``model`` all-exact."""
    set_assignment(model, None, catalogue)
    base = per_sample_losses(model, x, y)
    increase: dict[str, dict[str, float]] = {}
    se: dict[str, dict[str, float]] = {}
    approx = [c for c in candidates if not catalogue[c].is_exact]
    for layer in approximable_layers(model):
        increase[layer], se[layer] = {}, {}
        for cand in approx:
            set_assignment(model, {layer: cand}, catalogue)
            diff = per_sample_losses(model, x, y) - base
            increase[layer][cand] = float(diff.mean())
            se[layer][cand] = float(diff.std(unbiased=True) / len(diff) ** 0.5) if len(diff) > 1 else 0.0
        if advance:
            advance()
    set_assignment(model, None, catalogue)
    return TruthTable(increase, se)


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(spearmanr(a, b).statistic)


def strong_probes(truth: TruthTable) -> list[str]:
    """Multipliers whose largest single-layer increase is well above noise (``STRONG_SE`` SE)."""
    layers = list(truth.increase)
    probes = list(truth.increase[layers[0]]) if layers else []
    return [m for m in probes if len(layers) >= 3
            and max(truth.increase[l][m] - STRONG_SE * truth.se[l][m] for l in layers) > 0]


def pooled_spearman(estimate: Mapping[str, Mapping[str, float]], truth: TruthTable) -> float | None:
    """Spearman over every (layer, approximate multiplier) pair of the truth table."""
    pairs = [(l, m) for l, row in truth.increase.items() for m in row]
    return _spearman([estimate[l][m] for l, m in pairs], [truth.increase[l][m] for l, m in pairs])


def per_probe_spearman(estimate: Mapping[str, Mapping[str, float]], truth: TruthTable,
                       probes: Sequence[str]) -> float | None:
    """Mean over ``probes`` of the Spearman over layers (probes with a defined value only)."""
    values = [_spearman([estimate[l][m] for l in truth.increase], [truth.increase[l][m] for l in truth.increase])
              for m in probes]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


INTERACTION_FOLDS = 5
INTERACTION_EXPONENTS = np.linspace(0.25, 2.0, 36)  # the grid of b in a * p^b


def _power_law(p: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` minimising ``sum (measured - a p^b)^2`` over the exponent grid (``a`` in closed form)."""
    best = (np.inf, 0.0, 1.0)
    for b in INTERACTION_EXPONENTS:
        x = p ** b
        if not np.any(x > 0):
            continue
        a = float(x @ measured / (x @ x))
        best = min(best, (float(np.sum((measured - a * x) ** 2)), a, float(b)))
    return best[1], best[2]


def interaction_corrected(predicted: Sequence[float], measured: Sequence[float],
                          folds: int = INTERACTION_FOLDS) -> list[float] | None:
    """Out-of-fold predictions ``a * p^b`` of each measured increase from its predicted sum ``p``
    (clipped at 0), fitted on the other folds (assignment ``i`` is in fold ``i mod folds``).
    None with fewer than ``2 * folds`` assignments."""
    p = np.clip(np.asarray(predicted, dtype=np.float64), 0.0, None)
    y = np.asarray(measured, dtype=np.float64)
    if len(p) < 2 * folds:
        return None
    out = np.empty_like(p)
    fold = np.arange(len(p)) % folds
    for k in range(folds):
        a, b = _power_law(p[fold != k], y[fold != k])
        out[fold == k] = a * p[fold == k] ** b
    return out.tolist()


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``scores`` for the ``positive`` labels (Mann-Whitney)."""
    s, p = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    pos, neg = s[p], s[~p]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


@dataclass(frozen=True)
class Evaluated:
    """One fully evaluated assignment: its measured CE increase and accuracy loss (fractions)."""

    assignment: dict[str, str]
    loss_increase: float
    accuracy_loss: float


def damage_vs_truth(estimate: Mapping[str, Mapping[str, float]], truth: TruthTable, ceiling: TruthTable,
                    evaluated: Sequence[Evaluated], budget: float) -> dict:
    """The figures of the module docstring for one estimator; ``truth`` is the held-out half,
    ``ceiling`` the same table on the other half (its agreement with ``truth`` is the ceiling)."""
    probes = strong_probes(truth)
    predicted = [network_damage(estimate, e.assignment) for e in evaluated]
    measured = [e.loss_increase for e in evaluated]
    corrected = interaction_corrected(predicted, measured)
    return {
        "pooled_spearman": pooled_spearman(estimate, truth),
        "per_probe_spearman": per_probe_spearman(estimate, truth, probes),
        "ceiling_pooled": pooled_spearman(ceiling.increase, truth),
        "ceiling_per_probe": per_probe_spearman(ceiling.increase, truth, probes),
        "pearson_assignments": pearson(predicted, measured),
        "pearson_assignments_corrected": None if corrected is None else pearson(corrected, measured),
        "ceiling_pearson_assignments": pearson([network_damage(ceiling.increase, e.assignment) for e in evaluated],
                                               measured),
        "auc_above_budget": auc(predicted, [e.accuracy_loss > budget + 1e-12 for e in evaluated]),
        "strong_probes": probes,
        "assignments": len(evaluated),
    }
