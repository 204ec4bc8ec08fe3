import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from xaigen.emulation import approximate, operand_histograms, set_assignment
from xaigen.hardware import PRESETS, layers_from_model
from xaigen.multipliers import exact, truncated
from xaigen.search import (
    AssignmentProblem,
    Run,
    SearchContext,
    get_method,
    hypervolume,
    lagrangian_path,
    pareto_front,
    relative_error,
    summarize_run,
    xai_gen,
)
from xaigen.search.methods.nsga2 import nsga2_search
from xaigen.search.study import ask_seeded


def run_method(name, p, budget, **context):
    return get_method(name).run(p, budget, SearchContext(**context))


def test_pareto_and_hypervolume():
    pts = [(1.0, 0.0), (0.5, 0.01), (0.6, 0.02), (0.2, 0.04), (0.3, 0.03)]
    assert pareto_front(pts) == [(0.2, 0.04), (0.3, 0.03), (0.5, 0.01), (1.0, 0.0)]
    # Rectangles to the reference (1, 0.05): 0.1*0.01 + 0.2*0.02 + 0.5*0.04
    assert hypervolume(pts, 0.05) == pytest.approx(0.1 * 0.01 + 0.2 * 0.02 + 0.5 * 0.04)
    assert hypervolume([(0.5, 0.06)], 0.05) == 0.0
    assert hypervolume([(0.5, -0.01)], 0.05) == pytest.approx(0.5 * 0.05)  # gains clipped to 0 loss


def test_best_known_front_pools_every_methods_points():
    """Two methods that each found half of a front: the pooled front holds both halves, and its
    hypervolume is above either method's (the room left to each)."""
    from xaigen.search import best_known_front

    def summary(points):
        return {"points": [{"energy_ratio": e, "loss": l} for e, l in points]}

    low, high = [(0.2, 0.04), (0.9, 0.045)], [(0.6, 0.01), (0.3, 0.049)]
    best = best_known_front({"a": summary(low), "b": summary(high)}, 0.05)
    assert best["evaluations"] == 4
    assert [(p["energy_ratio"], p["loss"]) for p in best["front"]] == [(0.2, 0.04), (0.6, 0.01)]
    assert best["hypervolume"] == pytest.approx(0.4 * 0.01 + 0.4 * 0.04)
    assert best["hypervolume"] > max(hypervolume(low, 0.05), hypervolume(high, 0.05))


def test_relative_error():
    hist = np.ones(256)
    assert relative_error(exact(True), hist, hist, 9) == 0.0
    small, big = relative_error(truncated(True, 4), hist, hist, 9), relative_error(truncated(True, 10), hist, hist, 9)
    assert 0 < small < big


def test_lagrangian_path_is_monotone():
    savings = {"a": {"e": 0.0, "m1": 1.0, "m2": 3.0}, "b": {"e": 0.0, "m1": 2.0, "m2": 2.5}}
    damage = {"a": {"e": 0.0, "m1": 0.1, "m2": 1.0}, "b": {"e": 0.0, "m1": 0.5, "m2": 5.0}}
    path = lagrangian_path(savings, damage, "e")
    assert path[0] == {"a": "e", "b": "e"} and path[-1] == {"a": "m2", "b": "m2"}
    sav = [sum(savings[l][m] for l, m in p.items()) for p in path]
    dmg = [sum(damage[l][m] for l, m in p.items()) for p in path]
    assert sav == sorted(sav) and dmg == sorted(dmg)


@pytest.fixture(scope="module")
def problem(digits_trained):
    d = digits_trained
    cat = d.catalogue
    ax = approximate(d.model, None, cat, d.calibration)
    hist = {n: {True: (a.numpy(), w.numpy())} for n, (a, w) in operand_histograms(ax, d.data.x_train[:256]).items()}
    set_assignment(ax, None, cat)
    candidates = [m.name for m in cat if m.signed]
    p = AssignmentProblem(ax, d.data.x_test[:200], d.data.y_test[:200], cat, candidates,
                          layers_from_model(d.model, (1, 8, 8)), PRESETS["tpu-v4"])
    return p, hist


def test_problem_energy(problem):
    p, _ = problem
    total, mult = p.energy({})
    assert total == pytest.approx(p.exact_energy_pj) and mult == pytest.approx(p.exact_multiplier_energy_pj)
    cheap_total, cheap_mult = p.energy({n: "drum_s8_k3" for n in p.layers})
    assert cheap_mult == pytest.approx(mult * 0.144766 / 0.425, rel=1e-4)
    assert total - cheap_total > mult - cheap_mult > 0  # leakage shrinks with the circuit too


def test_methods_respect_budget_and_are_deterministic(problem):
    p, hist = problem
    relevance = {n: 1.0 for n in p.layers}
    runs = [run_method("exact", p, 6), run_method("uniform", p, 6), run_method("random", p, 6, seed=1),
            run_method("greedy-sensitivity", p, 6, loss_budgets=[0.02], probe="trunc_s8_c10"),
            run_method("nsga2", p, 6, seed=1), xai_gen(p, relevance, hist, 6)]
    for run in runs:
        assert 1 <= len(run.history) <= run.budget
        assert [e.index for e in run.history] == list(range(1, len(run.history) + 1))
    again = run_method("random", p, 6, seed=1)
    assert [e.assignment for e in again.history] == [e.assignment for e in runs[2].history]
    again = run_method("xai-gen", p, 6, relevance=relevance, histograms=hist)
    assert [e.assignment for e in again.history] == [e.assignment for e in runs[-1].history]


@pytest.mark.parametrize("name", ["exact", "uniform", "random", "greedy-sensitivity", "nsga2", "xai-gen",
                                  "error-model"])
def test_every_method_reports_progress_once_per_full_evaluation(problem, name):
    """A progress bar (or a log line each tenth) moves with every new full evaluation, so an
    hour-long search is never silent; cached repeats are not counted again."""
    p, hist = problem
    calls = []
    run = run_method(name, p, 6, seed=1, loss_budgets=[0.02], probe="trunc_s8_c10", histograms=hist,
                     relevance={n: 1.0 for n in p.layers}, advance=lambda: calls.append(1))
    assert len(calls) == len(run.history) >= 1
    run.evaluate(run.history[0].assignment)  # a repeat: free and not counted
    assert len(calls) == len(run.history)

def test_xai_gen_stays_within_budget_on_loss(problem):
    p, hist = problem
    run = xai_gen(p, {n: 1.0 for n in p.layers}, hist, 15, loss_budgets=[0.02])
    feasible = [e for e in run.history if p.exact_accuracy - e.accuracy <= 0.02]
    assert feasible, "all-exact is on the path and always feasible"
    best = min(feasible, key=lambda e: e.energy_pj)
    assert best.energy_pj < p.exact_energy_pj  # digits tolerates some approximation
    assert run.diagnostics["path_length"] >= 2


def test_nsga2_resumes_from_storage(problem, tmp_path):
    p, _ = problem
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    first = nsga2_search(p, 5, seed=3, storage=storage, study_name="s")
    resumed = nsga2_search(p, 9, seed=3, storage=storage, study_name="s")
    straight = nsga2_search(p, 9, seed=3, storage=f"sqlite:///{tmp_path / 'b.db'}", study_name="s")
    assert [e.assignment for e in resumed.history[: len(first.history)]] == [e.assignment for e in first.history]
    assert [e.assignment for e in resumed.history] == [e.assignment for e in straight.history]


def test_nsga2_resume_after_kill_at_a_generation_boundary(problem, tmp_path):
    """The first trial of a generation was asked (its parents cached) when the process died."""
    import optuna

    p, _ = problem
    straight = nsga2_search(p, 14, seed=5, storage=f"sqlite:///{tmp_path / 'a.db'}", study_name="s", population=4)
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    nsga2_search(p, 8, seed=5, storage=storage, study_name="s", population=4)  # two generations done
    study = optuna.load_study(study_name="s", storage=storage)
    dying = ask_seeded(study, 4, 5, 8)
    for n in p.layers:
        dying.suggest_categorical(n, list(p.candidates))  # sampled, then the process was killed
    resumed = nsga2_search(p, 14, seed=5, storage=storage, study_name="s", population=4)
    assert [e.assignment for e in resumed.history] == [e.assignment for e in straight.history]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 0.05)), min_size=1, max_size=12))
def test_hypervolume_matches_optunas(points):
    """Our 2-D hypervolume equals Optuna's general one on points inside the reference box."""
    from optuna._hypervolume import compute_hypervolume

    ours = hypervolume(points, 0.05)
    theirs = compute_hypervolume(np.array(points, dtype=float), np.array([1.0, 0.05]))
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_a_registered_method_is_accepted_by_the_config_and_runs(problem):
    from xaigen.config import config_from_dict
    from xaigen.errors import InputError
    from xaigen.search import Run, register
    from xaigen.search.registry import _REGISTRY

    @register("first-candidate")
    def first_candidate(p, budget, context):
        """Every layer on the first candidate."""
        run = Run(p, budget, "first-candidate")
        run.evaluate({n: p.candidates[0] for n in p.layers})
        return run

    try:
        config = config_from_dict({"search": {"methods": ["first-candidate", "uniform"]}})
        assert config.search.methods == ["first-candidate", "uniform"]
        p, _ = problem
        assert len(get_method("first-candidate").run(p, 3, SearchContext()).history) == 1
    finally:
        del _REGISTRY["first-candidate"]
    with pytest.raises(InputError, match="unknown method"):
        config_from_dict({"search": {"methods": ["first-candidate"]}})


def test_trial_seeds_stay_in_numpys_range():
    from xaigen.search.study import trial_seed

    assert trial_seed(0, 5) == 5 and trial_seed(3, 7) == 3 * 1_000_003 + 7  # unchanged for small seeds
    for seed in (4295, 10**12, -1):
        assert 0 <= trial_seed(seed, 10**6) < 2**32


def test_refined_path_moves_one_layer_at_a_time():
    """Issue 12 item 3: between two Lagrangian points every intermediate assignment is tried."""
    from xaigen.search import refine_path

    savings = {l: {"e": 0.0, "m": 1.0 + i} for i, l in enumerate("abc")}
    damage = {l: {"e": 0.0, "m": 1.0 + i} for i, l in enumerate("abc")}  # one price moves all three at once
    coarse = lagrangian_path(savings, damage, "e")
    assert len(coarse) == 2
    fine = refine_path(coarse, savings, damage)
    assert fine[0] == coarse[0] and fine[-1] == coarse[-1] and len(fine) == 4
    for before, after in zip(fine, fine[1:]):
        assert sum(before[l] != after[l] for l in before) == 1
    assert fine[1] == {"a": "m", "b": "e", "c": "e"}  # equal saving per damage: by name
    sav = [sum(savings[l][m] for l, m in p.items()) for p in fine]
    assert sav == sorted(sav)


@pytest.mark.parametrize("margin", [0.165, 0.0])
def test_xai_gen_finds_the_path_edge_of_each_budget_plus_the_retrain_margin(problem, margin):
    """In-loop fine-tuning retrains what misses a budget by at most its margin: XAI-Gen bisects for
    budget + margin too, so it evaluates a path point within that limit and the next one beyond."""
    from xaigen.search import refine_path
    from xaigen.search.methods.xai_gen import damage_tables, given_damage

    p, hist = problem
    rng = np.random.default_rng(0)  # an error model with noise: a longer path than the model's own
    _, base, _ = damage_tables(p, {}, hist, use_relevance=False)
    table = {n: {m: base[n][m] * rng.uniform(0.5, 2) for m in base[n]} for n in p.layers}
    savings, damage = given_damage(p, table)
    path = [tuple(a[n] for n in p.layers) for a in refine_path(lagrangian_path(savings, damage, p.exact_name),
                                                               savings, damage)]
    run = xai_gen(p, {}, hist, 6, loss_budgets=[0.01], damage=table, retrain_margin=margin)
    seen = {tuple(e.assignment[n] for n in p.layers): e for e in run.history}
    edge = [i for i in range(len(path) - 1) if path[i] in seen and path[i + 1] in seen
            and p.within_budget(seen[path[i]], 0.175) and not p.within_budget(seen[path[i + 1]], 0.175)]
    assert bool(edge) == (margin > 0)  # without the margin, 6 evaluations never look that far


def test_path_repair_takes_the_move_after_which_the_loss_leaps_out_of_the_path(problem):
    from xaigen.search import refine_path
    from xaigen.search.methods.xai_gen import _PathSearch, cliff_move, damage_tables, given_damage

    p, hist = problem
    rng = np.random.default_rng(0)
    _, base, _ = damage_tables(p, {}, hist, use_relevance=False)
    table = {n: {m: base[n][m] * rng.uniform(0.5, 2) for m in base[n]} for n in p.layers}
    savings, damage = given_damage(p, table)
    path = refine_path(lagrangian_path(savings, damage, p.exact_name), savings, damage)
    search = _PathSearch(Run(p, 12, "probe"), path)
    layer, multiplier = cliff_move(search, 0.02)
    lo = search.last_feasible(0.02)
    assert path[lo + 1] == {**path[lo], layer: multiplier}  # one layer moved ...
    leap = search.evaluated[lo].accuracy - search.evaluated[lo + 1].accuracy
    assert leap > 0.02  # ... and the loss leapt by more than the whole budget
    plain = xai_gen(p, {}, hist, 12, loss_budgets=[0.02], damage=table)
    repaired = xai_gen(p, {}, hist, 12, loss_budgets=[0.02], damage=table, repairs=2)
    assert plain.diagnostics["removed_moves"] == [] and len(repaired.history) <= 12
    removed = repaired.diagnostics["removed_moves"]
    assert 1 <= len(removed) <= 2 and removed[0] == [layer, multiplier]
    assert all(multiplier not in d for n, d in repaired.diagnostics["predicted_damage"].items() if n == layer)


def test_xai_gen_takes_a_damage_table_or_callable(problem):
    p, hist = problem
    # A damage model that forbids every approximation in all but the last layer.
    table = {n: {m: (0.0 if n == p.layers[-1] else 10.0) for m in p.candidates} for n in p.layers}
    for damage in (table, lambda prob: table):
        run = xai_gen(p, {}, hist, 6, loss_budgets=[0.05], damage=damage)
        assert run.diagnostics["path_length"] >= run.diagnostics["lagrangian_points"]
        first_moves = [e.assignment for e in run.history[:2]]
        assert any(a[p.layers[-1]] != p.exact_name for a in first_moves)
    ctx_run = run_method("xai-gen", p, 6, histograms=hist, damage=table, loss_budgets=[0.05])
    assert [e.assignment for e in ctx_run.history] == [e.assignment for e in run.history]


def test_loss_standard_error_is_the_paired_one(problem):
    p, _ = problem
    run = Run(p, 5, "probe")
    e = run.evaluate({n: "trunc_s8_c8" for n in p.layers})
    d = p.exact_correct.astype(float) - e.correct.astype(float)
    assert p.exact_accuracy - e.accuracy == pytest.approx(d.mean())
    assert p.loss_standard_error(e.correct) == pytest.approx(np.std(d, ddof=1) / np.sqrt(len(d)))
    assert p.loss_standard_error(p.exact_correct) == 0.0
    assert "correct" not in e.as_dict()


def test_a_margin_of_standard_errors_keeps_choices_further_inside_the_budget(problem):
    p, _ = problem
    run = Run(p, len(p.candidates), "probe")
    for c in p.candidates:
        run.evaluate({n: c for n in p.layers})
    run.stop()
    budgets = [0.0, 0.01, 0.05]
    bare = summarize_run(run, budgets, 0.05)
    p.budget_margin_se = 2.0
    try:
        strict = summarize_run(run, budgets, 0.05)
    finally:
        p.budget_margin_se = 0.0
    assert bare["budget_margin_se"] == 0.0 and strict["budget_margin_se"] == 2.0
    moved = 0
    for b in budgets:
        loose, tight = bare["by_budget"][f"{b:g}"], strict["by_budget"][f"{b:g}"]
        assert loose is not None  # exact is always within budget
        assert tight is not None and tight["energy_pj"] >= loose["energy_pj"]
        assert p.exact_accuracy - tight["accuracy"] + 2.0 * tight["loss_se"] <= b + 1e-12
        moved += tight["assignment"] != loose["assignment"]
    assert moved >= 1, "the margin should change at least one choice here"


def test_a_stored_result_without_per_example_record_is_checked_again(problem):
    p, _ = problem
    fresh = Run(p, 3, "probe")
    evaluated = fresh.evaluate({n: "trunc_s8_c6" for n in p.layers})
    replayed = Run(p, 3, "replay")
    stored = replayed.record(evaluated.assignment, evaluated.accuracy, evaluated.loss)
    assert stored.correct is None
    p._loss_se.clear()
    s = summarize_run(replayed.stop(), [0.5], 0.05)["by_budget"]["0.5"]
    assert s["loss_se"] == pytest.approx(p.loss_standard_error(evaluated.correct))


def test_xai_gen_with_a_margin_chooses_within_the_margin(problem):
    p, hist = problem
    p.budget_margin_se = 1.0
    try:
        run = xai_gen(p, {n: 1.0 for n in p.layers}, hist, 16, (0.01, 0.02))
        summary = summarize_run(run.stop(), [0.01, 0.02], 0.05)
    finally:
        p.budget_margin_se = 0.0
    for b, choice in summary["by_budget"].items():
        assert choice is not None
        assert p.exact_accuracy - choice["accuracy"] + choice["loss_se"] <= float(b) + 1e-12


def test_a_replayed_nsga2_trial_keeps_its_per_example_record(problem, tmp_path, monkeypatch):
    """The budget margin needs which examples a choice got right: a resumed study stores it, so
    the summary does not run stored trials again."""
    p, _ = problem
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    first = nsga2_search(p, 4, seed=3, storage=storage, study_name="s")
    replayed = nsga2_search(p, 4, seed=3, storage=storage, study_name="s")
    for fresh, stored in zip(first.history, replayed.history):
        assert np.array_equal(stored.correct, fresh.correct)
    monkeypatch.setattr(p, "examples_correct", lambda assignment: pytest.fail("a stored trial was run again"))
    p._loss_se.clear()
    p.budget_margin_se = 1.0
    try:
        summarize_run(replayed.stop(), [0.01, 0.5], 0.05)
    finally:
        p.budget_margin_se = 0.0


class _IndexRun:
    """A stand-in for a Run whose evaluation of path point ``i`` is within the limit iff ``i <= edge``."""

    def __init__(self, path, edge):
        self.index = {tuple(sorted(a.items())): i for i, a in enumerate(path)}
        self.edge, self.calls = edge, []
        self.problem = type("P", (), {"within_budget": staticmethod(lambda e, limit: e <= self.edge)})()

    def evaluate(self, assignment):
        i = self.index[tuple(sorted(assignment.items()))]
        self.calls.append(i)
        return i


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 70), data=st.data())
def test_gallop_finds_the_edge_in_about_two_log2_evaluations(length, data):
    """Issue 11: the climb gallops along a local path; it must land on the last point within the
    limit, whatever the edge, and pay about 2 log2(edge) evaluations, one when the first step breaks."""
    from xaigen.search.methods.xai_gen import _PathSearch, gallop

    edge = data.draw(st.integers(0, length - 1))
    path = [{"x": str(i)} for i in range(length)]
    run = _IndexRun(path, edge)
    assert gallop(_PathSearch(run, path), 0.01) == edge
    assert len(run.calls) == len(set(run.calls))  # no point evaluated twice
    assert len(run.calls) <= 2 * int(np.ceil(np.log2(edge + 2))) + 1
    if edge == 0 and length > 1:
        assert run.calls == [1]


def test_local_path_goes_only_to_cheaper_options_one_layer_at_a_time():
    from xaigen.search.methods.xai_gen import local_path

    savings = {l: {"e": 0.0, "m1": 1.0, "m2": 2.0, "m3": 3.0} for l in "ab"}
    damage = {"a": {"e": 0.0, "m1": 0.1, "m2": 0.5, "m3": 2.0}, "b": {"e": 0.0, "m1": 1.0, "m2": 0.3, "m3": 0.4}}
    base = {"a": "m1", "b": "m1"}
    path = local_path(base, savings, damage, banned={("a", "m3")})
    assert path[0] == base and len(path) > 2
    for before, after in zip(path, path[1:]):
        assert sum(before[l] != after[l] for l in before) == 1
        assert all(savings[l][after[l]] >= savings[l][base[l]] for l in after)
    assert all(p["a"] != "m3" for p in path)
    assert path[1] == {"a": "m1", "b": "m2"}  # more saving and less damage than b's m1: taken first
    assert path[-1] == {"a": "m2", "b": "m3"}


class _RuleRun:
    """A stand-in for a Run: an assignment breaks the limit iff layer ``a`` runs ``bad``."""

    def __init__(self, budget):
        self.remaining, self.calls = budget, []
        self.problem = type("P", (), {"within_budget": staticmethod(lambda e, limit: e)})()

    def evaluate(self, assignment):
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.calls.append(dict(assignment))
        return assignment["a"] != "bad"


def test_path_climb_bans_a_first_step_that_breaks_the_budget():
    """``bad`` is layer a's cheapest-per-damage move: the climb's first local step. Once it broke the
    budget it is never tried again, and the climb goes on to the cheapest assignment without it."""
    from xaigen.search.methods.xai_gen import path_climb

    savings = {"a": {"e": 0.0, "bad": 5.0, "ok": 1.0}, "b": {"e": 0.0, "m": 1.0}}
    damage = {"a": {"e": 0.0, "bad": 0.1, "ok": 0.5}, "b": {"e": 0.0, "m": 1.0}}
    run = _RuleRun(10)
    path_climb(run, [(0.01, {"a": "e", "b": "e"})], savings, damage)
    assert run.calls[0] == {"a": "bad", "b": "e"}
    assert sum(c["a"] == "bad" for c in run.calls) == 1
    assert run.calls[-1] == {"a": "ok", "b": "m"} and run.remaining > 0  # it stopped: nothing left to try


def test_path_climb_on_a_real_problem_never_evaluates_twice_and_gains(problem):
    """On the real problem: within its evaluations, no assignment evaluated twice, and a cheaper
    assignment within the budget than the one it started from."""
    from xaigen.search.methods.xai_gen import damage_tables, path_climb

    p, hist = problem
    savings, damage, _ = damage_tables(p, {}, hist, use_relevance=False)
    run = Run(p, 15, "probe")
    start = {n: p.exact_name for n in p.layers}
    path_climb(run, [(0.05, start)], savings, damage)
    assert 0 < len(run.history) <= 15
    keys = [p.assignment_key(e.assignment) for e in run.history]
    assert len(keys) == len(set(keys))
    feasible = [e for e in run.history if p.within_budget(e, 0.05)]
    assert feasible and min(e.energy_pj for e in feasible) < p.energy(start)[0]


def test_the_configured_climb_reaches_xai_gen_and_an_unknown_one_is_refused(problem, monkeypatch):
    import xaigen.search.methods.xai_gen as xg

    p, hist = problem
    calls = []
    monkeypatch.setattr(xg, "path_climb", lambda *a, **k: calls.append("gallop"))
    run_method("xai-gen", p, 30, loss_budgets=[0.02], histograms=hist, climb="single")
    assert calls == []
    run_method("error-model", p, 30, loss_budgets=[0.02], histograms=hist)  # the default: gallop
    assert calls == ["gallop"]
    with pytest.raises(ValueError, match="climb must be one of"):
        xai_gen(p, {}, hist, 5, climb="uphill")


def test_the_climbs_and_their_default_have_one_meaning_everywhere():
    """The config validates climb names with its own Literal (it must not import the search): the
    names and the default must stay those of ``xai_gen.CLIMBS``."""
    import typing

    from xaigen.config import SearchConfig
    from xaigen.search.methods.xai_gen import CLIMBS
    from xaigen.search.registry import SearchContext

    assert typing.get_args(SearchConfig.model_fields["climb"].annotation) == CLIMBS
    assert SearchConfig().climb == SearchContext().climb == CLIMBS[0]
