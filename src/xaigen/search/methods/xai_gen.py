"""XAI-Gen: choose a per-layer multiplier assignment from relevance, error models and energy.

For layer ``l`` (fan-in ``K_l``, relevance ``r_l`` from :mod:`xaigen.xai`, normalised to mean 1)
and multiplier ``m``, with the layer's measured operand distribution ``p(a, w)`` and the product
error ``e = T[a, w] - a w``:

    mu = E_p[e],   s2 = E_p[e^2],   q = E_p[(a w)^2]
    rel_err(l, m) = sqrt(K (s2 - mu^2) + (K mu)^2) / sqrt(K q)      (noise-to-signal of the
                                                                     layer's accumulator)
    damage(l, m)  = r_l * rel_err(l, m)
    saving(l, m)  = MACs_l * T_char * (P_ref(m) - P_m)                (pJ; P_ref: the exact circuit of
                                                                     m's signedness, search.problem)

A *damage model* (``damage=``: a table ``layer -> multiplier -> predicted loss increase`` or a
callable of the problem that returns one, e.g. from :mod:`xaigen.xai.damage`) replaces
``r_l * rel_err`` when given: it is in loss units (nats), so it adds up over layers.

For a price ``lambda`` each layer independently takes ``argmax_m saving - lambda * damage``; as
``lambda`` falls from infinity to 0 this traces a path of assignments from all-exact to the
cheapest, each Lagrangian-optimal for its predicted damage. The path is computed without any
model evaluation. Where consecutive path points differ in several layers (one price moves many
layers at once: e.g. 2.8x straight to 6x), :func:`refine_path` puts in between the assignments that
move one layer at a time, the best saving per predicted damage first. Full evaluations are then
spent on (1) a bisection of the path for the most aggressive assignment within each accuracy-loss
budget (and, when in-loop fine-tuning follows, for the last one within each budget plus its
``retrain_margin``, so that the bracket the fine-tune bisects holds assignments across that margin
rather than only the path's coarse points), (2) points spread along the path for the Pareto
front, and (3) a climb from each budget's best feasible assignment until the budget is spent.

The climb (``climb="gallop"``, the default since 2026-11-28): from the budget's best assignment
``b``, the same refined Lagrangian path is traced over the options at least as cheap as ``b``'s in
every layer (:func:`local_path`), and :func:`gallop` walks it with steps of 1, 2, 4, ... points
until one breaks the budget, then bisects the last step: ``j`` feasible moves cost about
``2 log2 j`` evaluations instead of ``j``. The last feasible point becomes the budget's new base;
the budgets take turns. A first step that already breaks the budget is banned from that budget's
later local paths. ``climb="single"`` (before) tries one-layer moves one evaluation at a time, the
best saving per predicted damage first, and climbs on from the first that stays within the budget
(:func:`hill_climb`; the gallop also ends with it when its paths run out with evaluations left).
On ResNet-20 the single climb's accepted moves saved about 1% of the energy each.

*Path repair* (``repairs`` > 0): a damage model can badly underrate one (layer, multiplier) pair;
the path then has a cliff, one move after which the measured loss leaps by more than the loosest
limit searched (e.g. 5 points to 42 on ResNet-20). Such a move can be part of no assignment within
budget that the path reaches, so the pair is taken out, the path recomputed without it and the
bisections repeated (evaluations already made are reused) — at most ``repairs`` times, and never
with less than a quarter of the budget left for the front and the hill climb. The pairs taken out
are in the run's ``diagnostics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from xaigen.emulation import approximable_layers
from xaigen.multipliers import Multiplier
from xaigen.search.problem import AssignmentProblem, Evaluation, Run
from xaigen.search.registry import SearchContext, register

CLIMBS = ("gallop", "single")  # the first is the default (config.SearchConfig and SearchContext agree: tested)


def relative_error(multiplier: Multiplier, a_hist: np.ndarray, w_hist: np.ndarray, fan_in: int) -> float:
    """Noise-to-signal ratio of an accumulator of ``fan_in`` products (see the module docstring)."""
    a = np.asarray(a_hist, dtype=np.float64)
    w = np.asarray(w_hist, dtype=np.float64)
    if a.sum() <= 0 or w.sum() <= 0:
        return 0.0
    p = np.outer(a / a.sum(), w / w.sum())
    v = multiplier.values.astype(np.float64)
    exact = np.outer(v, v)
    err = multiplier.table.astype(np.float64) - exact
    mu, s2, q = (p * err).sum(), (p * err**2).sum(), (p * exact**2).sum()
    noise = fan_in * max(s2 - mu * mu, 0.0) + (fan_in * mu) ** 2
    return math.sqrt(noise / (fan_in * q)) if q > 0 else math.inf


def lagrangian_path(savings: Mapping[str, Mapping[str, float]], damage: Mapping[str, Mapping[str, float]],
                    exact: str, start: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """Distinct Lagrangian-optimal assignments from all-exact (first; or ``start``) to the cheapest (last)."""
    layers = list(savings)
    prices = {0.0}
    for layer in layers:
        options = list(savings[layer])
        for i, m1 in enumerate(options):
            for m2 in options[i + 1 :]:
                ds = savings[layer][m1] - savings[layer][m2]
                dd = damage[layer][m1] - damage[layer][m2]
                if dd != 0 and ds / dd > 0:
                    prices.add(ds / dd)
    ordered = sorted(prices, reverse=True)
    probes = [ordered[0] * 2 + 1] + [
        (hi + lo) / 2 for hi, lo in zip(ordered, ordered[1:])] + [ordered[-1] / 2 if ordered[-1] > 0 else 0.0]
    path: list[dict[str, str]] = [dict(start) if start is not None else {layer: exact for layer in layers}]
    for lam in probes:
        choice = {}
        for layer in layers:
            # Ties: less damage, then the name, so the path is deterministic.
            choice[layer] = max(savings[layer], key=lambda m: (savings[layer][m] - lam * damage[layer][m],
                                                               -damage[layer][m], m))
        if choice != path[-1]:
            path.append(choice)
    return path


def damage_tables(problem: AssignmentProblem, relevance: Mapping[str, float], histograms: Mapping[str, Mapping],
                  use_relevance: bool = True) -> tuple[dict, dict, dict[str, float]]:
    """``saving[layer][m]`` (pJ), predicted ``damage[layer][m]`` and the relevance weights
    ``r_l`` (mean 1; all 1 without relevance). The exact multiplier is always an option."""
    layers, sites = problem.layers, approximable_layers(problem.model)
    mean_r = sum(relevance.get(n, 0.0) for n in layers) / len(layers) or 1.0
    weight = {n: (relevance.get(n, 0.0) / mean_r if use_relevance else 1.0) for n in layers}
    savings, damage = {}, {}
    for n in layers:
        savings[n], damage[n] = {}, {}
        for name in problem.candidates:
            m = sites[n].as_run(problem.catalogue[name])  # with weight tuning: the error on the tuned codes
            a_hist, w_hist = histograms[n][m.signed]
            savings[n][name] = problem.saving_pj(n, name)
            damage[n][name] = weight[n] * relative_error(m, a_hist, w_hist, problem.fan_in[n])
        if problem.exact_name not in savings[n]:
            savings[n][problem.exact_name], damage[n][problem.exact_name] = 0.0, 0.0
    return savings, damage, weight


DamageSource = Mapping[str, Mapping[str, float]] | Callable[[AssignmentProblem], Mapping[str, Mapping[str, float]]]


def given_damage(problem: AssignmentProblem, damage: DamageSource) -> tuple[dict, dict]:
    """``saving[layer][m]`` (pJ) and ``damage[layer][m]`` from a damage model (table or callable);
    the exact multiplier costs no damage, a pair the model lacks is never chosen."""
    table = damage(problem) if callable(damage) else damage
    savings, out = {}, {}
    for n in problem.layers:
        row = table.get(n, {})
        options = [m for m in problem.candidates if m in row or problem.catalogue[m].is_exact]
        savings[n] = {m: problem.saving_pj(n, m) for m in options}
        out[n] = {m: 0.0 if problem.catalogue[m].is_exact else max(float(row[m]), 0.0) for m in options}
        if problem.exact_name not in savings[n]:
            savings[n][problem.exact_name], out[n][problem.exact_name] = 0.0, 0.0
    return savings, out


def refine_path(path: list[dict[str, str]], savings: Mapping, damage: Mapping) -> list[dict[str, str]]:
    """Between consecutive path points, the assignments that move one layer at a time from the
    first to the second, the move with the most saving per predicted damage first. Along a
    Lagrangian path each layer's move adds saving and damage, so the refined path is monotone too."""
    refined = [dict(path[0])] if path else []
    for start, end in zip(path, path[1:]):
        current = dict(start)
        moving = [n for n in start if start[n] != end[n]]

        def ratio(n: str) -> float:
            gain = savings[n][end[n]] - savings[n][start[n]]
            cost = damage[n][end[n]] - damage[n][start[n]]
            return gain / cost if cost > 0 else math.inf

        for n in sorted(moving, key=lambda n: (-ratio(n), n)):
            current[n] = end[n]
            refined.append(dict(current))
    return refined


class _PathSearch:
    """Full evaluations along the Lagrangian path, each path index evaluated at most once."""

    def __init__(self, run: Run, path: list[dict[str, str]]):
        self.run, self.path = run, path
        self.evaluated: dict[int, Evaluation] = {}

    def at(self, i: int) -> Evaluation | None:
        if i not in self.evaluated:
            result = self.run.evaluate(self.path[i])
            if result is None:
                return None
            self.evaluated[i] = result
        return self.evaluated[i]

    def last_feasible(self, limit: float) -> int:
        """Bisection for the last path index within ``limit`` (the measured loss grows along the
        path), starting from what earlier bisections already know."""
        within = self.run.problem.within_budget
        known_ok = [i for i, e in self.evaluated.items() if within(e, limit)]
        lo = max(known_ok, default=0)  # path[0] is all exact: feasible by definition
        known_bad = [i for i, e in self.evaluated.items() if not within(e, limit) and i > lo]
        hi = min(known_bad) - 1 if known_bad else len(self.path) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            e = self.at(mid)
            if e is None:
                break
            if within(e, limit):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def spread(self, points: int) -> None:
        """Evaluate ``points`` indices spread evenly along the path (the front)."""
        for i in np.linspace(0, len(self.path) - 1, num=min(points, len(self.path))).round().astype(int):
            if self.at(int(i)) is None:
                break


def _without(table: Mapping[str, Mapping[str, float]], move: tuple[str, str]) -> dict:
    """``table`` without the option ``move`` = (layer, multiplier)."""
    layer, name = move
    return {n: {m: v for m, v in row.items() if (n, m) != (layer, name)} for n, row in table.items()}


def _edges(search: _PathSearch, limits: Sequence[float]) -> None:
    """Bisect the path for each limit, loosest first: its bisection brackets the tighter ones."""
    for limit in sorted(set(limits), reverse=True):
        search.last_feasible(limit)


def cliff_move(search: _PathSearch, limit: float) -> tuple[str, str] | None:
    """The (layer, multiplier) of the one-layer path move at the edge of ``limit`` after which the
    measured loss rises by more than ``limit`` itself, or None (no such edge, or not one layer)."""
    problem, path = search.run.problem, search.path
    lo = search.last_feasible(limit)
    before, after = search.evaluated.get(lo), search.evaluated.get(lo + 1)
    if after is None:  # also past the path's end: nothing was evaluated there
        return None
    loss_before = 0.0 if before is None else problem.exact_accuracy - before.accuracy
    moved = [n for n in path[lo] if path[lo][n] != path[lo + 1][n]]
    if len(moved) != 1 or problem.catalogue[path[lo + 1][moved[0]]].is_exact:
        return None
    if problem.exact_accuracy - after.accuracy - loss_before <= limit:
        return None
    return moved[0], path[lo + 1][moved[0]]


def _moves(base: Mapping[str, str], savings: dict, damage: dict, min_gain: float) -> list[tuple[str, str]]:
    """One layer to a cheaper multiplier, most energy saved per unit of predicted damage first."""
    moves = []
    for n in base:
        for m in savings[n]:
            gain = savings[n][m] - savings[n][base[n]]
            if gain > min_gain:
                cost = max(damage[n][m] - damage[n][base[n]], 0.0)
                moves.append((-gain / (cost + 1e-12), n, m))
    return [(n, m) for _, n, m in sorted(moves)]


def _restart_bases(run: Run, loss_budgets: Sequence[float], used: set) -> list[tuple[float, dict]]:
    """The cheapest feasible assignment per budget not climbed from yet."""
    problem, bases = run.problem, []
    for limit in sorted(loss_budgets):
        fresh = [e for e in run.history if problem.within_budget(e, limit)
                 and (limit, problem.assignment_key(e.assignment)) not in used]
        if fresh:
            bases.append((limit, min(fresh, key=lambda e: e.energy_pj).assignment))
    return bases


def hill_climb(run: Run, bases: list[tuple[float, dict]], savings: dict, damage: dict,
               loss_budgets: Sequence[float]) -> None:
    """Local moves around the best feasible assignments until the budget is spent; moves that
    save less than 0.5% of the exact multiplier energy are not worth an evaluation."""
    problem = run.problem
    min_gain = 0.005 * problem.exact_multiplier_energy_pj
    used: set[tuple] = set()
    while run.remaining > 0:
        if not bases:
            bases = _restart_bases(run, loss_budgets, used)
            if not bases:
                break
        limit, base = bases.pop(0)
        key = (limit, problem.assignment_key(base))
        if key in used:
            continue
        used.add(key)
        for n, m in _moves({n: base[n] for n in problem.layers}, savings, damage, min_gain):
            e = run.evaluate({**base, n: m})
            if e is None:
                break
            if problem.within_budget(e, limit):
                bases.insert(0, (limit, {**base, n: m}))  # climb on from the improved assignment
                break


def local_path(base: Mapping[str, str], savings: Mapping, damage: Mapping, banned: set) -> list[dict[str, str]]:
    """The refined Lagrangian path from ``base`` over the options at least as cheap as ``base``'s own
    in every layer, without the ``banned`` (layer, multiplier) pairs: where to go next from ``base``."""
    options = {n: {m: s for m, s in savings[n].items()
                   if m == base[n] or (s >= savings[n][base[n]] and (n, m) not in banned)} for n in base}
    cost = {n: {m: damage[n][m] for m in options[n]} for n in base}
    return refine_path(lagrangian_path(options, cost, "", start=base), options, cost)


def gallop(search: _PathSearch, limit: float) -> int:
    """The last index of ``search.path`` within ``limit`` (its first point is): steps of 1, 2, 4, ...
    from the start until one breaks the limit, then :meth:`_PathSearch.last_feasible` bisects the
    last step (the one the probes left open). Costs about ``2 log2 j`` evaluations to go ``j``
    points, one when the first point breaks it."""
    within, last = search.run.problem.within_budget, len(search.path) - 1
    ok, step = 0, 1
    while ok < last:
        i = min(ok + step, last)
        e = search.at(i)
        if e is None:
            return ok
        if not within(e, limit):
            return search.last_feasible(limit)
        ok, step = i, step * 2
    return ok


def path_climb(run: Run, bases: list[tuple[float, dict]], savings: dict, damage: dict) -> None:
    """From each budget's best assignment, :func:`gallop` along its :func:`local_path`; the budgets
    take turns. A first step that breaks the budget is banned from that budget's later local paths
    (cheaper assignments than the one it broke from are unlikely to take it), and a budget stops
    when its local path is a single point."""
    banned: dict[float, set] = {limit: set() for limit, _ in bases}
    queue = list(bases)
    while run.remaining > 0 and queue:
        limit, base = queue.pop(0)
        path = local_path(base, savings, damage, banned[limit])
        if len(path) < 2:
            continue
        j = gallop(_PathSearch(run, path), limit)
        if j > 0:
            queue.append((limit, path[j]))
        elif run.remaining > 0:
            moved = next(n for n in path[1] if path[1][n] != base[n])
            banned[limit].add((moved, path[1][moved]))
            queue.insert(0, (limit, base))


def xai_gen(problem: AssignmentProblem, relevance: Mapping[str, float], histograms: Mapping[str, Mapping],
            budget: int, loss_budgets: Sequence[float] = (0.01, 0.02), front_points: int = 6,
            use_relevance: bool = True, damage: DamageSource | None = None, refine: bool = True,
            retrain_margin: float = 0.0, repairs: int = 0, climb: str = CLIMBS[0],
            advance: Callable[[], None] | None = None) -> Run:
    """Run XAI-Gen within ``budget`` full evaluations (see the module docstring).

    ``histograms[layer][signed]`` is ``(activation_hist, weight_hist)`` for quantization of that
    signedness. ``use_relevance=False`` sets every ``r_l = 1`` (the ablation without XAI);
    ``damage`` (a table or callable in loss units) replaces relevance x error model; ``refine``
    walks the path one layer at a time between its Lagrangian points; ``retrain_margin`` > 0 (the
    in-loop fine-tune's margin) also bisects for each budget + margin; ``repairs`` is the most
    cliff moves taken out of the path (see the module docstring); ``climb`` is how the rest of the
    budget is spent from each budget's best assignment: ``"gallop"`` (:func:`path_climb`, then
    :func:`hill_climb` if evaluations are left) or ``"single"`` (:func:`hill_climb` only). The returned run's
    ``diagnostics`` hold the path lengths, the weights and the predicted damage.
    """
    if climb not in CLIMBS:
        raise ValueError(f"climb must be one of {CLIMBS}, got {climb!r}")
    run = Run(problem, budget, "xai-gen" if use_relevance else "error-model", advance=advance)
    if damage is not None:
        (savings, damage), weight = given_damage(problem, damage), {}
    else:
        savings, damage, weight = damage_tables(problem, relevance, histograms, use_relevance)
    limits = list(loss_budgets) + [b + retrain_margin for b in loss_budgets if retrain_margin > 0]
    removed: list[tuple[str, str]] = []
    while True:
        lagrangian = lagrangian_path(savings, damage, problem.exact_name)
        path = refine_path(lagrangian, savings, damage) if refine else lagrangian
        search = _PathSearch(run, path)
        _edges(search, limits)
        if len(removed) >= repairs or run.remaining <= budget // 4:
            break
        move = cliff_move(search, max(limits))
        if move is None:
            break
        removed.append(move)
        savings, damage = _without(savings, move), _without(damage, move)
    run.diagnostics = {"path_length": len(path), "lagrangian_points": len(lagrangian), "weights": weight,
                       "predicted_damage": {n: dict(d) for n, d in damage.items()},
                       "removed_moves": [list(m) for m in removed]}
    feasible = {limit: search.last_feasible(limit) for limit in loss_budgets}
    search.spread(front_points)
    bases = [(limit, path[i]) for limit, i in sorted(feasible.items())]
    if climb == "gallop":
        path_climb(run, bases, savings, damage)
        bases = []
    hill_climb(run, bases, savings, damage, loss_budgets)
    return run


@register("xai-gen")
def xai_gen_method(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """XAI-Gen: the guide's damage in loss units (or error model x XAI relevance) x hardware saving."""
    return xai_gen(problem, context.relevance, context.histograms, budget, context.loss_budgets,
                   damage=context.damage, retrain_margin=context.retrain_margin, repairs=context.path_repairs,
                   climb=context.climb, advance=context.advance)


@register("error-model")
def error_model_method(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
    """XAI-Gen without relevance (every r_l = 1): the ablation that shows what XAI adds."""
    return xai_gen(problem, context.relevance, context.histograms, budget, context.loss_budgets,
                   use_relevance=False, repairs=context.path_repairs, climb=context.climb, advance=context.advance)
