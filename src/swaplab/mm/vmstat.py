"""vm event counters (/proc/vmstat) and per-size mTHP swap statistics.

Counters only go up. Each is counted where the kernel counts it (see
kernel-facts §6): ``pswpout`` at submission, ``pswpin`` at successful read
completion, ``nrswpout``/``nrswpin`` once per submitted batch, and so on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import IntEnum

import numpy as np

from .. import _native
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
    """The event counters of one System; safe to update from several threads.

    ``count(item, n=1)``, ``mod(item, delta)`` (a gauge, ``nr_swapcached``)
    and ``count2(item, other)`` (1 to both: a major fault's pgfault and
    pgmajfault) are compiled steps on an int64 array (``_native.Counters``):
    each is atomic, as the kernel's per-CPU counters need no lock, and costs
    one call where a Python method with a lock cost four. The locks the
    swap stack does take on every fault are taken as acquire / try /
    finally release, not ``with``, which costs 2.5x as much (it builds two
    bound methods on every entry)."""

    count: Callable[..., None]
    mod: Callable[[int, int], None]
    count2: Callable[[int, int], None]

    def __init__(self) -> None:
        self._ev = np.zeros(len(VmEvent), dtype=np.int64)
        counters = _native.Counters(self._ev)
        self.count = counters.add
        self.mod = counters.add
        self.count2 = counters.add2
        self._mthp = np.zeros((SWAP_NR_ORDERS, len(MthpStat)), dtype=np.int64)
        self._lock = threading.Lock()  # the mTHP table's

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
        """All counters by their /proc/vmstat name (read in one step)."""
        values = self._ev.tolist()
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
