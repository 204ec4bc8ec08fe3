"""Search methods as plug-ins, registered by name (as Optuna's samplers are chosen by class).

A method is one function with one signature::

    @register("my-method")
    def my_method(problem: AssignmentProblem, budget: int, context: SearchContext) -> Run:
        ...

It spends at most ``budget`` full evaluations of ``problem`` (through a :class:`Run`) and takes
whatever else it needs from ``context``. Adding a method is adding one module to
:mod:`xaigen.search.methods`: modules there are discovered and registered on import, and the run
configuration validates method names against this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from xaigen.errors import InputError
from xaigen.search.problem import AssignmentProblem, Run


@dataclass
class SearchContext:
    """What a method may use besides the problem and its budget (plain data, set by the job)."""

    seed: int = 0
    loss_budgets: Sequence[float] = (0.01, 0.02)
    probe: str | None = None  # the multiplier that measured per-layer sensitivity
    relevance: Mapping[str, float] = field(default_factory=dict)  # layer -> the guide's XAI score
    histograms: Mapping[str, Mapping[bool, tuple]] = field(default_factory=dict)  # layer -> signed -> (a, w)
    # layer -> multiplier -> predicted loss increase (nats) from the guide's damage model; None:
    # XAI-Gen weights its error model by ``relevance`` instead
    damage: Mapping[str, Mapping[str, float]] | None = None
    # in-loop fine-tuning follows the search and retrains assignments that miss a budget by at most
    # this much (0: none follows); a method may spend evaluations across that bracket
    retrain_margin: float = 0.0
    path_repairs: int = 0  # XAI-Gen: cliff moves it may take out of its path (search.methods.xai_gen)
    climb: str = "gallop"  # XAI-Gen: how it climbs from each budget's best assignment (search.methods.xai_gen)
    storage: str | None = None  # Optuna storage URL for study-backed methods (None: in memory)
    study_name: str = "study"
    worker: bool = False  # one of several processes completing one study together
    advance: Callable[[], None] | None = None  # called after each full evaluation
    started: float | None = None  # perf_counter() when the method began (workers started earlier)


MethodFunction = Callable[[AssignmentProblem, int, SearchContext], Run]


@dataclass(frozen=True)
class SearchMethod:
    name: str
    run: MethodFunction
    uses_study: bool  # keeps its trials in an Optuna study (resumable, can use worker processes)
    description: str


_REGISTRY: dict[str, SearchMethod] = {}


def register(name: str, uses_study: bool = False) -> Callable[[MethodFunction], MethodFunction]:
    """Register the decorated function as the search method ``name``."""

    def decorate(function: MethodFunction) -> MethodFunction:
        doc = (function.__doc__ or name).strip().splitlines()[0]
        _REGISTRY[name] = SearchMethod(name, function, uses_study, doc)
        return function

    return decorate


def _discover() -> None:
    import importlib
    import pkgutil

    from xaigen.search import methods

    for module in pkgutil.iter_modules(methods.__path__):
        importlib.import_module(f"{methods.__name__}.{module.name}")


def method_names() -> list[str]:
    """Every registered method, in registration order."""
    _discover()
    return list(_REGISTRY)


def get_method(name: str) -> SearchMethod:
    _discover()
    if name not in _REGISTRY:
        raise InputError("search.methods", f"unknown method '{name}', expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]
