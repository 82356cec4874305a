"""vm event counters (/proc/vmstat) and per-size mTHP swap statistics.

Counters only go up. Each is counted where the kernel counts it (see
kernel-facts §6): ``pswpout`` at submission, ``pswpin`` at successful read
completion, ``nrswpout``/``nrswpin`` once per submitted batch, and so on.
"""

from __future__ import annotations

import threading
from enum import IntEnum

import numpy as np

from ..consts import PAGE_SIZE, SWAP_NR_ORDERS


class VmEvent(IntEnum):
    """Items of /proc/vmstat that the swap stack moves, in the file's order."""

    nr_swapcached = 0
    pgfault = 1
    pgmajfault = 2
    pswpin = 3
    pswpout = 4
    pgsteal_kswapd = 5
    pgsteal_direct = 6
    pgscan_kswapd = 7
    pgscan_direct = 8
    zswpin = 9
    zswpout = 10
    zswpwb = 11
    swap_ra = 12
    swap_ra_hit = 13
    swpin_zero = 14
    swpout_zero = 15
    thp_swpout = 16
    thp_swpout_fallback = 17
    nrswpin = 18
    nrswpout = 19


# The items counted on every fault, as plain ints under the kernel's names:
# looking an IntEnum member up and indexing a list with it cost ~2.5x a plain
# int, and a fault counts six of them.
NR_SWAPCACHE = VmEvent.nr_swapcached.value
PGFAULT = VmEvent.pgfault.value
PGMAJFAULT = VmEvent.pgmajfault.value
PSWPIN = VmEvent.pswpin.value
NRSWPIN = VmEvent.nrswpin.value
NRSWPOUT = VmEvent.nrswpout.value


class MthpStat(IntEnum):
    """Per-size files in /sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/stats/."""

    swpout = 0
    swpout_fallback = 1
    zswpout = 2
    swpin = 3
    swpin_fallback = 4
    swpin_fallback_charge = 5


class VmStat:
    """The event counters of one System; safe to update from several threads."""

    def __init__(self) -> None:
        # a list of ints, not a numpy array: counted on every page, and a Python
        # int add under a lock costs a fraction of a numpy scalar update
        self._ev = [0] * len(VmEvent)
        self._mthp = np.zeros((SWAP_NR_ORDERS, len(MthpStat)), dtype=np.int64)
        self._lock = threading.Lock()

    # The lock is taken as acquire / try / finally release, not ``with``:
    # these run several times a fault, and ``with`` costs 2.5x as much (it
    # builds two bound methods on every entry).
    def count(self, item: VmEvent | int, n: int = 1) -> None:
        """Add ``n`` to ``item``."""
        self._lock.acquire()
        try:
            self._ev[item] += n
        finally:
            self._lock.release()

    def count2(self, item: VmEvent | int, other: VmEvent | int) -> None:
        """Add 1 to ``item`` and to ``other`` in one step (a major fault's
        pgfault and pgmajfault)."""
        ev = self._ev
        self._lock.acquire()
        try:
            ev[item] += 1
            ev[other] += 1
        finally:
            self._lock.release()

    def mod(self, item: VmEvent | int, delta: int) -> None:
        """Move a gauge (``nr_swapcached``) by ``delta``."""
        self._lock.acquire()
        try:
            self._ev[item] += delta
        finally:
            self._lock.release()

    def count_mthp(self, order: int, item: MthpStat, n: int = 1) -> None:
        """Count an mTHP event; like count_mthp_stat, order 0 is not counted."""
        if order:
            with self._lock:
                self._mthp[order, item] += n

    def __getitem__(self, item: VmEvent | str) -> int:
        if isinstance(item, str):
            item = VmEvent[item]
        return int(self._ev[item])

    def mthp(self, order: int, item: MthpStat | str) -> int:
        if isinstance(item, str):
            item = MthpStat[item]
        return int(self._mthp[order, item])

    def snapshot(self) -> dict[str, int]:
        """All counters by their /proc/vmstat name."""
        with self._lock:
            values = list(self._ev)
        return {e.name: values[e] for e in VmEvent}

    def text(self) -> str:
        """The counters as /proc/vmstat prints them: ``name value`` per line."""
        return "".join(f"{k} {v}\n" for k, v in self.snapshot().items())

    def mthp_text(self, order: int) -> dict[str, str]:
        """The stats/ files of hugepages-<size>kB for ``order`` (file name -> text)."""
        if not 1 <= order < SWAP_NR_ORDERS:
            raise ValueError(f"mTHP order {order} outside 1..{SWAP_NR_ORDERS - 1}")
        return {s.name: f"{int(self._mthp[order, s])}\n" for s in MthpStat}

    @staticmethod
    def mthp_dir(order: int) -> str:
        """Directory name of an mTHP size, e.g. ``hugepages-64kB`` for order 4."""
        return f"hugepages-{(PAGE_SIZE << order) // 1024}kB"
