"""Progress as plain lines, for a stderr that is not a terminal (a log file, a batch job, nohup).

A live progress bar draws nothing there until the run ends, so an hour-long search would look
dead. :class:`LineProgress` offers the three calls the pipeline makes on a ``rich`` Progress
(``add_task``, ``advance``, ``update``) and writes a line each time a step passes another tenth of
its units (or after ``interval_s`` without a line) and one when it ends. Nothing is written when a
step starts, so a run refused in its first step still ends in its one error line.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class _Task:
    description: str
    total: int | None
    done: int = 0
    tenths: int = 0  # tenths of the total already reported
    reported: int = -1  # the count of the last line
    started: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)


class LineProgress:
    """``rich.progress.Progress``'s task calls, written as ``[HH:MM:SS] step: done/total, elapsed``."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 60.0):
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.tasks: list[_Task] = []

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def add_task(self, description: str, total: int | None = None) -> int:
        self.tasks.append(_Task(description, total))
        return len(self.tasks) - 1

    def advance(self, task_id: int, advance: int = 1) -> None:
        task = self.tasks[task_id]
        task.done += advance
        tenths = 10 * task.done // task.total if task.total else 0
        if tenths > task.tenths or time.monotonic() - task.last_line >= self.interval_s:
            task.tenths = tenths
            self._line(task)

    def update(self, task_id: int, completed: int | None = None, total: int | None = None) -> None:
        """The pipeline's end of a step: the last line of the task."""
        task = self.tasks[task_id]
        task.total = total if total is not None else task.total
        task.done = completed if completed is not None else task.done
        if task.done != task.reported:  # else the last line already said it
            self._line(task, "done")

    def _line(self, task: _Task, state: str = "") -> None:
        now = time.monotonic()
        task.last_line, task.reported = now, task.done
        count = f"{task.done}/{task.total}" if task.total else f"{task.done}"
        elapsed = int(now - task.started)
        print(f"[{time.strftime('%H:%M:%S')}] {task.description}: {count}, {elapsed // 60}m{elapsed % 60:02d}s"
              + (f" {state}" if state else ""), file=self.stream, flush=True)
