"""The assignment problem: layer -> multiplier, scored by accuracy (emulated) and energy (model).

A *full evaluation* runs the bit-exact approximate model on the evaluation data; it is what every
search method spends and what the comparisons count. Energy comes from the analytical hardware
model and is cheap: only the multiplier part depends on the assignment,

    E(assignment) = E_fixed + sum_l P_{m(l)} * (MACs_l * T_char + leaking_units_l * 0.05 * t_l)   (pJ)

with ``T_char`` the circuits' characterization period (:mod:`xaigen.hardware.circuit`) and ``t_l``
the layer's time; it is tabulated once (:func:`xaigen.hardware.assignment_energy`). Layers outside
the search (kept exact, or not approximable at all: an LSTM) are charged at the exact multiplier's
power.

Reference. Each layer is compared with the exact circuit of the same signedness as the circuit
it runs (:meth:`xaigen.multipliers.Catalogue.reference_exact`): ``P_ref(m)`` is 0.425 mW for a
signed circuit, 0.391 mW for an unsigned one (sign-magnitude forms included). The reference
energy of an assignment is ``E`` with every ``P_m(l)`` replaced by ``P_ref(m(l))``, every reduction
is ``E_ref / E`` (whole accelerator, MAC, multiplier-only), and searches rank a layer's saving by
the multiplier part, ``MACs_l * T_char * (P_ref(m) - P_m)``. For signed-only candidates the
reference is the all-exact design; the unsigned exact circuit saves exactly 1.00x.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from xaigen.emulation import Scores, approximable_layers, score_examples, set_assignment
from xaigen.hardware import Accelerator, Layer, assignment_energy
from xaigen.models.task import CLASSIFICATION, Task
from xaigen.multipliers import Catalogue


@dataclass(frozen=True)
class EnergyTriple:
    """One design's energy three ways (pJ)."""

    total_pj: float  # whole accelerator
    multiplier_pj: float  # multipliers only
    mac_pj: float  # multipliers + accumulators


@dataclass(frozen=True)
class Evaluation:
    """One fully evaluated assignment."""

    assignment: dict[str, str]
    accuracy: float
    loss: float  # cross-entropy
    energy_pj: float  # whole accelerator (pJ)
    multiplier_energy_pj: float  # multipliers only (pJ)
    index: int  # 1-based number of this full evaluation within its method
    elapsed_s: float  # seconds since the method started
    correct: np.ndarray | None = field(default=None, repr=False, compare=False)  # bool per example, if known

    def as_dict(self) -> dict:
        """Plain data, without the per-example record."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "correct"}


def pack_correct(correct: np.ndarray | None) -> str | None:
    """An evaluation's per-example record as text that a study can store (hex of packed bits)."""
    return None if correct is None else np.packbits(correct.astype(bool)).tobytes().hex()


def unpack_correct(text: str | None, like: np.ndarray | None) -> np.ndarray | None:
    """The inverse of :func:`pack_correct`, as many examples as ``like`` (the exact model's
    record) has; None when either is missing."""
    if text is None or like is None:
        return None
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8), count=len(like)).astype(bool)


class AssignmentProblem:
    """Shared by all methods: the model, data, candidate multipliers and energy table."""

    def __init__(self, approx_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, catalogue: Catalogue,
                 candidates: Sequence[str], hw_layers: Sequence[Layer], accelerator: Accelerator,
                 task: Task = CLASSIFICATION, budget_margin_se: float = 0.0):
        """``budget_margin_se``: an evaluation is within a loss budget when its loss plus this many
        standard errors of the paired accuracy difference is (:meth:`within_budget`)."""
        self.model = approx_model
        self.budget_margin_se = float(budget_margin_se)
        self._loss_se: dict[tuple, float | None] = {}
        self.task = task  # what "accuracy" and "loss" mean (default: top-1 and cross-entropy)
        self.x, self.y = x, y
        self.catalogue = catalogue
        self.candidates = list(dict.fromkeys(candidates))
        self.layers = list(approximable_layers(approx_model))
        by_name = {layer.name: layer for layer in hw_layers}
        missing = [n for n in self.layers if n not in by_name]
        if missing:
            raise ValueError(f"hardware layers missing for {missing}")
        self.exact_name = catalogue.exact(signed=True).name
        searchable = set(self.layers)
        others = [layer for layer in hw_layers if layer.name not in searchable]
        self._energy = assignment_energy([by_name[n] for n in self.layers] + others, accelerator)
        self._reference_power: dict[str, float] = {}
        exact_power = catalogue[self.exact_name].power_mw
        self._fixed_powers = {layer.name: exact_power for layer in others}  # never approximated
        exact_powers = self._powers({})
        self.exact_energy_pj = self._energy.total(exact_powers)
        self.exact_multiplier_energy_pj = self._energy.multiplier(exact_powers)
        self.exact_mac_energy_pj = self._energy.mac(exact_powers)
        self.batch = self._energy.batch
        self.macs = {n: by_name[n].macs for n in self.layers}
        self.fan_in = {n: by_name[n].k for n in self.layers}  # products summed per output
        set_assignment(self.model, None, catalogue)
        exact = score_examples(self.model, x, y, task=task)
        self.exact_accuracy, self.exact_loss, self.exact_correct = exact.accuracy, exact.loss, exact.correct
        self.fingerprint = self._fingerprint()  # all exact: the state does not depend on later assignments

    def _fingerprint(self) -> str:
        """A digest of everything that decides an evaluation's result (weights, calibration,
        evaluation data, candidate tables and powers, energy per layer): a stored study is
        replayed only when it is equal, never for a retrained model or other candidates."""
        import hashlib

        digest = hashlib.sha256()
        for tensor in (*self.model.state_dict().values(), self.x, self.y):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        for name, layer in approximable_layers(self.model).items():  # weight tuning changes the codes
            for signed, hist in sorted((getattr(layer, "tuning_histograms", None) or {}).items()):
                digest.update(f"tuned:{name}:{signed}".encode() + np.asarray(hist).tobytes())
        for name in self.candidates:
            m = self.catalogue[name]
            digest.update(f"{name}:{m.signed}:{m.power_mw!r}".encode())
            digest.update(m.table.tobytes())
        energy = self._energy
        digest.update(repr((self.layers, sorted(energy.total_pj_per_mw.items()), energy.fixed_pj)).encode())
        return digest.hexdigest()[:12]

    def loss_standard_error(self, correct: np.ndarray | None) -> float | None:
        """Standard error of the accuracy loss ``exact - candidate`` on the evaluation data, from
        the paired per-example differences ``d_i = c_exact,i - c_i`` in {-1, 0, 1}:
        ``SE = std(d) / sqrt(N)`` (sample std). Paired, so the many examples both get right (or
        both wrong) add no noise. None when per-example results are unknown (a task other
        than classification)."""
        if correct is None or self.exact_correct is None:
            return None
        d = self.exact_correct.astype(np.float64) - correct.astype(np.float64)
        return float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0

    def examples_correct(self, assignment: Mapping[str, str]) -> np.ndarray | None:
        """Which evaluation examples ``assignment`` gets right (a full evaluation, outside any
        method's budget: used to re-check a stored result that lacks the record)."""
        set_assignment(self.model, self.complete(assignment), self.catalogue)
        try:
            return score_examples(self.model, self.x, self.y, task=self.task).correct
        finally:
            set_assignment(self.model, None, self.catalogue)

    def evaluation_loss_se(self, e: Evaluation) -> float | None:
        """:meth:`loss_standard_error` of an evaluation (cached; a stored trial without its
        per-example record is run once more)."""
        key = self.assignment_key(e.assignment)
        if key not in self._loss_se:
            correct = e.correct if e.correct is not None else self.examples_correct(e.assignment)
            self._loss_se[key] = self.loss_standard_error(correct)
        return self._loss_se[key]

    def within_budget(self, e: Evaluation | Scores, limit: float) -> bool:
        """The one rule for "within a loss budget": ``loss + k SE <= limit`` with ``loss`` the exact
        minus ``e``'s accuracy on the evaluation data and ``k = budget_margin_se`` (the SE is asked
        for only when the bare loss is within the limit). A margin makes a choice more likely to
        hold on data the search never saw. ``e``: an evaluation, or the scores of a model on
        this problem's data (a fine-tuned one)."""
        loss = self.exact_accuracy - e.accuracy
        if loss > limit + 1e-12 or self.budget_margin_se <= 0:
            return loss <= limit + 1e-12
        se = self.evaluation_loss_se(e) if isinstance(e, Evaluation) else self.loss_standard_error(e.correct)
        return loss + self.budget_margin_se * (se or 0.0) <= limit + 1e-12

    def power(self, name: str) -> float:
        return self.catalogue[name].power_mw

    def complete(self, assignment: Mapping[str, str]) -> dict[str, str]:
        """Every layer named, unassigned layers exact."""
        return {n: assignment.get(n, self.exact_name) for n in self.layers}

    def assignment_key(self, assignment: Mapping[str, str]) -> tuple[str, ...]:
        """The one hashable identity of an assignment: its multipliers in layer order (unassigned
        layers exact), used wherever evaluations, fine-tunes or climbs are remembered."""
        return tuple(assignment.get(n, self.exact_name) for n in self.layers)

    def energy(self, assignment: Mapping[str, str]) -> tuple[float, float]:
        """(whole-accelerator, multiplier-only) energy in pJ; cheap, not a full evaluation."""
        powers = self._powers(assignment)
        return self._energy.total(powers), self._energy.multiplier(powers)

    def reference_power(self, multiplier: str) -> float:
        """Power (mW) of ``multiplier``'s energy reference: the exact circuit of its signedness."""
        if multiplier not in self._reference_power:
            self._reference_power[multiplier] = self.catalogue.reference_exact(multiplier).power_mw
        return self._reference_power[multiplier]

    def saving_pj(self, layer: str, multiplier: str) -> float:
        """Multiplier energy saved (pJ) by ``multiplier`` in ``layer`` against its reference."""
        return self._energy.multiplier_pj_per_mw[layer] * (self.reference_power(multiplier) - self.power(multiplier))

    def mac_energy(self, assignment: Mapping[str, str]) -> float:
        """Multiplier + accumulator energy (pJ) of ``assignment``."""
        return self._energy.mac(self._powers(assignment))

    def reference_energy(self, assignment: Mapping[str, str]) -> EnergyTriple:
        """Energy (pJ) of ``assignment``'s reference: each layer at its circuit's exact reference."""
        powers = self._powers(assignment, self.reference_power)
        return EnergyTriple(self._energy.total(powers), self._energy.multiplier(powers), self._energy.mac(powers))

    def reductions(self, assignment: Mapping[str, str]) -> dict[str, float]:
        """``reference / approximate`` energy three ways: ``energy_reduction`` (whole accelerator),
        ``multiplier_energy_reduction`` and ``mac_energy_reduction``."""
        powers = self._powers(assignment)
        ref = self.reference_energy(assignment)
        return {"energy_reduction": ref.total_pj / self._energy.total(powers),
                "multiplier_energy_reduction": ref.multiplier_pj / self._energy.multiplier(powers),
                "mac_energy_reduction": ref.mac_pj / self._energy.mac(powers)}

    def _powers(self, assignment: Mapping[str, str], power_of: Callable[[str], float] | None = None) -> dict[str, float]:
        """Circuit power (mW) of every hardware layer: the assignment's (or, with ``power_of``,
        a function of the assigned name), exact outside the search."""
        power_of = power_of or self.power
        return {**self._fixed_powers, **{n: power_of(m) for n, m in self.complete(assignment).items()}}


class Run:
    """One method's budgeted sequence of full evaluations (cached: a repeat costs nothing)."""

    def __init__(self, problem: AssignmentProblem, budget: int, method: str, started: float | None = None,
                 advance: Callable[[], None] | None = None):
        """``started``: a ``time.perf_counter()`` value when the method began earlier (e.g. in
        worker processes whose trials this run replays). ``advance``: called after each new full
        evaluation (a progress bar's step), not for cached repeats or recorded results."""
        self.problem, self.budget, self.method, self._advance = problem, budget, method, advance
        self.history: list[Evaluation] = []
        self.diagnostics: dict = {}  # what the method wants to report about itself
        self._cache: dict[tuple, Evaluation] = {}
        self._start = time.perf_counter() if started is None else started
        self._end: float | None = None

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    def _key(self, assignment: Mapping[str, str]) -> tuple[dict[str, str], tuple]:
        return self.problem.complete(assignment), self.problem.assignment_key(assignment)

    def _append(self, full: dict[str, str], key: tuple, accuracy: float, loss: float,
                correct: np.ndarray | None = None) -> Evaluation:
        energy, multiplier = self.problem.energy(full)
        result = Evaluation(full, accuracy, loss, energy, multiplier, len(self.history) + 1,
                            time.perf_counter() - self._start, correct)
        self.history.append(result)
        self._cache[key] = result
        return result

    def evaluate(self, assignment: Mapping[str, str]) -> Evaluation | None:
        """Full evaluation of ``assignment``; None once the budget is spent."""
        full, key = self._key(assignment)
        if key in self._cache:
            return self._cache[key]
        if self.remaining <= 0:
            return None
        p = self.problem
        set_assignment(p.model, full, p.catalogue)
        scores = score_examples(p.model, p.x, p.y, task=p.task)
        result = self._append(full, key, scores.accuracy, scores.loss, scores.correct)
        if self._advance:
            self._advance()
        return result

    def record(self, assignment: Mapping[str, str], accuracy: float, loss: float,
               correct: np.ndarray | None = None) -> Evaluation:
        """Add an evaluation already computed elsewhere (a stored trial: a resumed study or
        another worker's) without running the model again; it counts against the budget.
        ``correct``: its per-example record, if stored (see :func:`pack_correct`)."""
        full, key = self._key(assignment)
        if key in self._cache:
            return self._cache[key]
        return self._append(full, key, accuracy, loss, correct)

    def stop(self) -> Run:
        """Freeze the wall time (the method has finished)."""
        self._end = self._end or time.perf_counter()
        return self

    @property
    def wall_s(self) -> float:
        """Seconds from the method's start to :meth:`stop` (or to now, while running)."""
        return (self._end or time.perf_counter()) - self._start
