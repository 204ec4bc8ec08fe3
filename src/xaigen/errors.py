"""Errors a user can act on.

Every problem with user input (a file, a config field, a name) is raised as :class:`InputError`
with a message that names the input, where in it, and what was expected. The CLI turns it into a
one-line message and exit code 2; nothing deep inside the stack reaches the user as a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: ``source`` (file or argument), ``where`` (line/field), and the problem."""

    def __init__(self, source: str | Path, problem: str, where: str | None = None):
        self.source = str(source)
        self.where = where
        self.problem = problem
        location = f"{self.source}:{where}" if where else self.source
        super().__init__(f"{location}: {problem}")
