"""The README and the measurement notebooks cite result files; every one of them must be in the repository.

A figure in the README is only re-checkable if the JSON it was read from is there: a renamed or
forgotten file would leave a figure nobody can trace. Names may use shell braces
(``results/x-{a,b}.json``), as the README does for runs of one command.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
CITED = re.compile(r"benchmarks/results/[A-Za-z0-9_.\-{},]+\.(?:json|toml|txt)")


def expand(name: str) -> list[str]:
    """Shell brace expansion, as far as the documents use it: ``a-{b,c}.json`` -> ``a-b.json``, ``a-c.json``."""
    brace = re.search(r"\{([^{}]*)\}", name)
    if brace is None:
        return [name]
    return [full for alternative in brace.group(1).split(",")
            for full in expand(name[: brace.start()] + alternative + name[brace.end():])]


def test_expand_follows_the_shell():
    assert expand("r/x-{a,b}-{1,2}.json") == ["r/x-a-1.json", "r/x-a-2.json", "r/x-b-1.json", "r/x-b-2.json"]
    assert expand("r/plain.json") == ["r/plain.json"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_cited_result_file_exists(document):
    cited = {name for match in CITED.findall(document.read_text()) for name in expand(match)}
    missing = sorted(name for name in cited if not (REPO / name).exists())
    assert not missing, f"{document.name} cites result files that are not in the repository: {missing}"
