"""Pareto fronts and hypervolume in (energy ratio, accuracy loss), both minimised.

A point is ``(e, l)`` with ``e = E_mult / E_mult,ref`` (multiplier energy relative to the exact
design; the whole-accelerator energy is an affine function of it, so fronts and rankings are the
same. With unsigned circuits each layer's reference is the exact circuit of its circuit's
signedness, :meth:`xaigen.search.AssignmentProblem.reductions`) and ``l = accuracy_exact - accuracy``. The hypervolume is the area dominated by the front
inside the box ``[0, 1] x [0, max_loss]`` with reference point ``(1, max_loss)``; an accuracy
above the exact model's (noise on a small evaluation set) is clipped to a loss of 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated points sorted by energy (ascending)."""
    front: list[tuple[float, float]] = []
    for e, l in sorted(set(points)):
        if not front or l < front[-1][1]:
            front.append((e, l))
    return front


def hypervolume(points: Sequence[tuple[float, float]], max_loss: float, floor: float = 0.0) -> float:
    """Area dominated by ``points`` within energy <= 1 and floor <= loss <= max_loss."""
    front = [(e, max(l, floor)) for e, l in pareto_front(points) if e <= 1.0 and l <= max_loss]
    area = 0.0
    for i, (e, l) in enumerate(front):
        next_e = front[i + 1][0] if i + 1 < len(front) else 1.0
        area += (next_e - e) * (max_loss - l)
    return area


def best_within(points: Sequence[tuple[float, float]], budget: float) -> float | None:
    """Lowest energy ratio among points whose loss is at most ``budget`` (None if none)."""
    feasible = [e for e, l in points if l <= budget + 1e-12]
    return min(feasible) if feasible else None
