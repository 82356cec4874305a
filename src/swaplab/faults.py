"""Named, seeded failure points (``system.faults``).

A test arms a point by name, optionally for one target (a block device's or
zram device's name, or ``"zswap"``), for a number of hits and with a
probability drawn from the injector's seeded generator:

    system.faults.arm("disk.write.eio", target="ram0", times=1)
    system.faults.arm("zcomp.decompress", target="zram0", probability=0.1)

The code at each point asks :meth:`FaultInjector.hit`; with nothing armed
that is one attribute test. Every firing is counted in ``fired``.

The points and where they fire:
"""

from __future__ import annotations

import errno
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .errors import kerror

#: name -> (where it fires, what the kernel path then does)
POINTS: dict[str, str] = {
    "disk.read.eio": "a read bio to the target block device ends with EIO",
    "disk.write.eio": "a write bio to the target block device ends with EIO",
    "disk.write.enospc": "a write bio ends with ENOSPC (the file under a file-backed disk "
                         "is full)",
    "disk.read.short": "a read bio transfers only its first half, then ends with EIO",
    "disk.write.short": "a write bio transfers only its first half, then ends with EIO",
    "zcomp.compress": "the compressor refuses a page (zram: the write fails with EINVAL; "
                      "zswap: the page is stored raw or refused)",
    "zcomp.decompress": "decompressing a stored object fails (zram: the read fails; "
                        "zswap: the load fails with EIO)",
    "zsmalloc.alloc": "zs_malloc finds no memory (zram: ENOMEM; zswap: reject_alloc_fail)",
    "zram.mem_limit": "zram's mem_limit check fails for a write (ENOMEM)",
    "zram.corrupt": "the compressed object zram just stored is overwritten with 0xff bytes "
                    "in the pool (real corrupt data: the next read fails to decompress; a "
                    "page stored raw has no check, in the kernel either, so it is not a target)",
}
__doc__ += "".join(f"\n- ``{k}``: {v}" for k, v in POINTS.items()) + "\n"


@dataclass
class _Armed:
    target: str | None
    times: int | None
    probability: float
    skip: int


class FaultInjector:
    """The failure points of one System."""

    def __init__(self, seed: int = 0) -> None:
        self.armed = False
        self._points: dict[str, _Armed] = {}
        self.fired: Counter[str] = Counter()
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def arm(self, name: str, *, target: str | None = None, times: int | None = 1,
            probability: float = 1.0, skip: int = 0) -> None:
        """Make ``name`` fire (for ``target`` only, if given) ``times`` times (None:
        until disarmed), each hit with ``probability``, after ``skip`` hits pass."""
        if name not in POINTS:
            raise kerror(errno.EINVAL, f"no fault point {name!r}; known: {', '.join(POINTS)}")
        if not 0.0 < probability <= 1.0:
            raise kerror(errno.EINVAL, f"fault probability {probability} outside (0, 1]")
        with self._lock:
            self._points[name] = _Armed(target, times, probability, skip)
            self.armed = True

    def disarm(self, name: str | None = None) -> None:
        with self._lock:
            if name is None:
                self._points.clear()
            else:
                self._points.pop(name, None)
            self.armed = bool(self._points)

    def hit(self, name: str, target: str = "") -> bool:
        """Called at point ``name`` for ``target``: True when it must fail now."""
        if not self.armed:
            return False
        with self._lock:
            a = self._points.get(name)
            if a is None or (a.target is not None and a.target != target):
                return False
            if a.skip:
                a.skip -= 1
                return False
            if a.probability < 1.0 and self._rng.random() >= a.probability:
                return False
            if a.times is not None:
                a.times -= 1
                if a.times <= 0:
                    del self._points[name]
                    self.armed = bool(self._points)
            self.fired[name] += 1
            return True
