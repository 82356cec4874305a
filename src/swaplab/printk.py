"""Kernel log: a bounded ring (like dmesg) mirrored to :mod:`logging`, with ratelimiting."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

log = logging.getLogger("swaplab.kernel")

#: DEFAULT_RATELIMIT_INTERVAL / BURST of the kernel: 10 messages per 5 s per call site.
RATELIMIT_INTERVAL_S = 5.0
RATELIMIT_BURST = 10


class Printk:
    """The log of one System."""

    def __init__(self, size: int = 4096) -> None:
        self.ring: deque[str] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._rl: dict[str, tuple[float, int, int]] = {}

    def __call__(self, level: int, msg: str) -> None:
        with self._lock:
            self.ring.append(msg)
        log.log(level, msg)

    def ratelimited(self, key: str, level: int, msg: str) -> bool:
        """Log ``msg`` unless call site ``key`` exceeded its burst; return whether it printed."""
        now = time.monotonic()
        with self._lock:
            start, printed, missed = self._rl.get(key, (now, 0, 0))
            if now - start > RATELIMIT_INTERVAL_S:
                start, printed, missed = now, 0, 0
            ok = printed < RATELIMIT_BURST
            self._rl[key] = (start, printed + ok, missed + (not ok))
        if ok:
            self(level, msg)
        return ok

    def text(self) -> str:
        with self._lock:
            return "".join(m + "\n" for m in self.ring)
