"""One clock interface for a System.

Real time is for measurements; a virtual clock, advanced by the scenario, is
for ages, idle marking and writeback budgets so policy code is deterministic.
Both answer ``now_ns()`` (monotonic nanoseconds) and ``seconds()`` (whole
boot-time seconds, like ``ktime_get_boottime_seconds()``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the core asks of a clock."""

    def now_ns(self) -> int: ...

    def seconds(self) -> int: ...


class RealClock:
    """Monotonic wall time, zero at construction (the System's "boot")."""

    def __init__(self) -> None:
        self._boot = time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._boot

    def seconds(self) -> int:
        return (time.monotonic_ns() - self._boot) // 1_000_000_000


class VirtualClock:
    """A clock that moves only when told to; thread-safe.

    ``advance`` never goes backwards: a negative step raises ``ValueError``.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._ns = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._ns

    def seconds(self) -> int:
        return self._ns // 1_000_000_000

    def advance(self, seconds: float = 0.0, *, ns: int = 0) -> int:
        """Move time forward by ``seconds`` plus ``ns``; return the new time in ns."""
        step = int(seconds * 1_000_000_000) + ns
        if step < 0:
            raise ValueError(f"a clock cannot go backwards (step {step} ns)")
        with self._lock:
            self._ns += step
            return self._ns
