"""Configurations shared by tests that drive `xaigen run` as a user would."""

# One cheap relevance method as the guide, no damage models, no truth table: for tests of
# storage, workers, signals and fine-tuning, which do not look at the XAI figures.
LIGHT_XAI = {"samples": 16, "steps": 2, "methods": ["gradient_x_activation"], "guide": "gradient_x_activation",
             "damage": [], "truth": False}


def nsga2_only(budget: int, epochs: int = 2, candidates: str = '"signed"') -> str:
    """A small digits run with NSGA-II alone (the study-backed method: storage, resume, kill),
    one cheap relevance method and no damage models or truth table."""
    return f"""
[model]
epochs = {epochs}
[xai]
samples = 16
steps = 2
methods = ["gradient_x_activation"]
guide = "gradient_x_activation"
damage = []
truth = false
[search]
budget = {budget}
methods = ["nsga2"]
[multipliers]
candidates = {candidates}
"""
