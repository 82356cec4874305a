"""Progress for long commands: rich's bar on a terminal, plain lines elsewhere.

``swaplab bench --progress > log`` and CI logs get a line every few seconds
(and one when each task ends) instead of nothing until the end: rich's live
bar only draws on a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: seconds between two lines of the plain form
LINE_EVERY_S = 5.0


class LineProgress:
    """The part of rich's Progress the commands use, printing plain lines."""

    def __init__(self, out: TextIO | None = None, every_s: float = LINE_EVERY_S) -> None:
        self.out = out or sys.stderr
        self.every_s = every_s
        self.tasks: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.last = 0.0

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            for k in range(len(self.tasks)):
                self._line(k)

    def add_task(self, description: str, total: float | None = None) -> int:
        self.tasks.append({"description": description, "total": total, "completed": 0})
        return len(self.tasks) - 1

    def update(self, task: int, *, description: str | None = None,
               completed: float | None = None, total: float | None = None) -> None:
        t = self.tasks[task]
        if description is not None:
            t["description"] = description
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        self._maybe(task)

    def advance(self, task: int, n: float = 1) -> None:
        self.tasks[task]["completed"] += n
        self._maybe(task)

    def _maybe(self, task: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._line(task)

    def _line(self, task: int) -> None:
        t = self.tasks[task]
        total = f"/{t['total']:.0f}" if t["total"] else ""
        print(f"{t['description']}: {t['completed']:.0f}{total} "
              f"({time.monotonic() - self.t0:.0f} s)", file=self.out, flush=True)


def progress(quiet: bool, forced: bool) -> Progress | LineProgress:
    """A bar on a terminal (stderr), plain lines when ``forced`` without one,
    nothing when ``quiet`` (e.g. --json) or neither."""
    if not quiet and not sys.stderr.isatty() and forced:
        return LineProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(stderr=True),
                    disable=quiet or not sys.stderr.isatty())
