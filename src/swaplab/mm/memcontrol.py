"""Memory cgroups, v2 interface, anonymous memory and swap only (mm/memcontrol.c).

Rules:
- Cgroups are flat children of the root (id 0). Every frame belongs to one
  cgroup (``PhysMem.memcg``); a frame is charged to the root when allocated and
  moved to the faulting process's cgroup by :func:`mem_cgroup_charge`, which
  first reclaims from that cgroup while it would exceed ``memory.max``
  (up to MAX_RECLAIM_RETRIES passes), then fails with ENOMEM (where the kernel
  would invoke the OOM killer; ``memory.events`` counts max and oom).
- Swap slots are charged at allocation (folio_alloc_swap) to the folio's
  cgroup and recorded per slot (``SwapInfo.swap_cgroup``); over
  ``memory.swap.max`` the allocation fails and ``memory.swap.events`` counts
  max and fail. The charge goes when the slot is freed.
- zswap charges its compressed bytes to the owning cgroup (``memory.zswap.*``);
  zram's pool is a device's memory and is charged to nobody, as in the kernel.
- A cgroup that may not swap (``memory.swap.max`` reached or 0) has no
  reclaimable anonymous memory: reclaim skips it (can_reclaim_anon_pages).
- The interface files are ``cg.attr[name]``: reads return the file's text,
  writes behave like write(2) and raise OSError with the kernel's errno.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from .. import _native
from ..attrs import AttrDir
from ..consts import PAGE_SHIFT, PAGE_SIZE
from ..errors import kerror
from ..util import kstrtoint, memparse
from .folio import PG
from .lru import Lruvec

if TYPE_CHECKING:
    from ..system import System
    from .folio import Folio
    from .lru import Lruvec
    from .page_alloc import PhysMem

#: try_charge's reclaim attempts before giving up (MAX_RECLAIM_RETRIES).
MAX_RECLAIM_RETRIES = 16
#: "max" in a limit file: no limit.
PAGE_COUNTER_MAX = (1 << 63) - 1
#: Highest number of cgroups one System supports (ids 0..MAX_MEMCG-1).
MAX_MEMCG = 256


class MemcgEvent(IntEnum):
    """Per-cgroup event counters, named as memory.stat names them."""

    pgfault = 0
    pgmajfault = 1
    pswpin = 2
    pswpout = 3
    swpin_zero = 4
    swpout_zero = 5
    zswpin = 6
    zswpout = 7
    zswpwb = 8
    pgscan = 9
    pgsteal = 10
    pgactivate = 11
    pgdeactivate = 12


# The cgroup events counted on every fault, as plain ints (see vmstat.PGFAULT)
MEMCG_PGFAULT = MemcgEvent.pgfault.value
MEMCG_PGMAJFAULT = MemcgEvent.pgmajfault.value
MEMCG_PSWPIN = MemcgEvent.pswpin.value


class MemcgStats:
    """Event counters of every cgroup of a System: one ``(MAX_MEMCG, events)`` array.

    ``count(memcg_id, item, n=1)``, ``count2(memcg_id, item, other)`` and
    ``count_ids(ids, item, n=1)`` (item of cgroup ``ids[k]`` for every k: a
    batch's frames) are compiled steps on it (``_native.Counters``), each
    atomic; IndexError names a cgroup id outside the array, nothing added."""

    count: Callable[..., None]
    count2: Callable[[int, int, int], None]
    count_ids: Callable[..., None]

    def __init__(self) -> None:
        self.ev = np.zeros((MAX_MEMCG, len(MemcgEvent)), dtype=np.int64)
        counters = _native.Counters(self.ev, len(MemcgEvent), "cgroup id")
        self.count = counters.add_row
        self.count2 = counters.add2_row
        self.count_ids = counters.add_rows


def _limit_text(pages: int) -> str:
    return "max\n" if pages >= PAGE_COUNTER_MAX else f"{pages * PAGE_SIZE}\n"


def _parse_limit(buf: str, name: str) -> int:
    """page_counter_memparse: "max" or a size with an optional K/M/G suffix; pages."""
    text = buf.strip()
    if text == "max":
        return PAGE_COUNTER_MAX
    try:
        nbytes = memparse(text)
    except (OSError, ValueError):
        raise kerror(errno.EINVAL, f"{name}: {text!r} is neither 'max' nor a size") from None
    return nbytes >> PAGE_SHIFT


class MemCgroup:
    """One cgroup's memory controller: limits, usage, its LRU lists, its counters."""

    def __init__(self, system: System, memcg_id: int, name: str) -> None:
        self.system = system
        self.id = memcg_id
        self.name = name
        self.max = PAGE_COUNTER_MAX
        self.swap_max = PAGE_COUNTER_MAX
        self.zswap_max = PAGE_COUNTER_MAX  # bytes, not pages (memory.zswap.max)
        self.zswap_writeback = True
        self.swap_usage = 0
        self.swap_peak = 0
        self.zswap_bytes = 0
        self.zswapped_pages = 0
        #: pages zswap holds uncompressed for this cgroup (memory.stat zswap_incomp)
        self.zswap_incomp = 0
        self.events = {"low": 0, "high": 0, "max": 0, "oom": 0, "oom_kill": 0}
        self.swap_events = {"high": 0, "max": 0, "fail": 0}
        self.lruvec: Lruvec = Lruvec(system.mem, self)
        self.lock = threading.RLock()
        self.attr = CgroupAttrs(self)

    def __repr__(self) -> str:
        return f"MemCgroup({self.name!r}, id={self.id})"

    @property
    def path(self) -> str:
        return "/sys/fs/cgroup" + ("" if self.id == 0 else f"/{self.name}")

    @property
    def anon_pages(self) -> int:
        """Frames charged to this cgroup."""
        return int(self.system.mem.memcg_pages[self.id])

    @property
    def usage(self) -> int:
        """Pages charged to this cgroup (memory.current / PAGE_SIZE): its frames
        plus its zswap compressed bytes (charged as kernel memory), rounded up."""
        return self.system.mem.memcg_pages[self.id] + -(-self.zswap_bytes // PAGE_SIZE)

    def stat(self, item: MemcgEvent | str) -> int:
        if isinstance(item, str):
            item = MemcgEvent[item]
        return int(self.system.memcg_stats.ev[self.id, item])

    def may_swap(self) -> bool:
        """can_reclaim_anon_pages for this cgroup: swap left under memory.swap.max
        (which limits physical slots only: the virtual swap layer's are not
        charged)."""
        st = self.system.swap
        if self.id and self.swap_usage >= self.swap_max and (
                st.vswap is None or st.vswap.ghost not in st.avail):
            return False
        return st.nr_swap_pages > 0

    # --- swap charge --------------------------------------------------------------------
    def try_charge_swap(self, nr: int) -> bool:
        """__mem_cgroup_try_charge_swap: charge ``nr`` slots or count max+fail and refuse."""
        with self.lock:
            if self.id and self.swap_usage + nr > self.swap_max:
                self.swap_events["max"] += 1
                self.swap_events["fail"] += 1
                return False
            self.swap_usage += nr
            self.swap_peak = max(self.swap_peak, self.swap_usage)
            return True

    def charge_swap_upto(self, nr: int) -> int:
        """Charge as many of ``nr`` slots as memory.swap.max allows; return how
        many (a batch's run of :meth:`try_charge_swap` calls up to the first
        refusal, which the caller's next single call counts)."""
        with self.lock:
            n = min(nr, self.swap_max - self.swap_usage) if self.id else nr
            if n <= 0:
                return 0
            self.swap_usage += n
            self.swap_peak = max(self.swap_peak, self.swap_usage)
            return n

    def uncharge_swap(self, nr: int) -> None:
        self.lock.acquire()  # not ``with``: every freed slot (see VmStat)
        try:
            self.swap_usage -= nr
        finally:
            self.lock.release()

    # --- zswap charge -------------------------------------------------------------------
    def zswap_may_store(self) -> bool:
        """obj_cgroup_may_zswap: below memory.zswap.max (0 refuses every store)."""
        return self.id == 0 or self.zswap_bytes < self.zswap_max

    def charge_zswap(self, nbytes: int, pages: int) -> None:
        with self.lock:
            self.zswap_bytes += nbytes
            self.zswapped_pages += pages

    def memory_stat(self) -> str:
        """memory.stat: the anonymous-memory and swap lines, in the kernel's order."""
        lv = self.lruvec
        ev = self.system.memcg_stats.ev[self.id]
        lines = [
            ("anon", self.anon_pages * PAGE_SIZE),
            ("zswap", self.zswap_bytes),
            ("zswapped", self.zswapped_pages * PAGE_SIZE),
            ("zswap_incomp", self.zswap_incomp),
            ("swapcached", self.swapcached() * PAGE_SIZE),
            ("inactive_anon", lv.nr_inactive * PAGE_SIZE),
            ("active_anon", lv.nr_active * PAGE_SIZE),
            ("pgscan", ev[MemcgEvent.pgscan]),
            ("pgsteal", ev[MemcgEvent.pgsteal]),
            ("pgfault", ev[MemcgEvent.pgfault]),
            ("pgmajfault", ev[MemcgEvent.pgmajfault]),
            ("pgactivate", ev[MemcgEvent.pgactivate]),
            ("pgdeactivate", ev[MemcgEvent.pgdeactivate]),
            ("pswpin", ev[MemcgEvent.pswpin]),
            ("pswpout", ev[MemcgEvent.pswpout]),
            ("swpin_zero", ev[MemcgEvent.swpin_zero]),
            ("swpout_zero", ev[MemcgEvent.swpout_zero]),
            ("zswpin", ev[MemcgEvent.zswpin]),
            ("zswpout", ev[MemcgEvent.zswpout]),
            ("zswpwb", ev[MemcgEvent.zswpwb]),
        ]
        return "".join(f"{k} {int(v)}\n" for k, v in lines)

    def swapcached(self) -> int:
        mem = self.system.mem
        return int(np.count_nonzero((mem.memcg == self.id) & ((mem.flags & PG.swapcache) != 0)))


def mem_cgroup_charge(folio: Folio, memcg: MemCgroup) -> None:
    """Charge a new folio to ``memcg``, reclaiming from it first while over memory.max.

    Raises ENOMEM (naming the cgroup) when MAX_RECLAIM_RETRIES passes of
    reclaim cannot make room; the folio is then still charged to the root and
    the caller frees it.
    """
    if memcg.id == 0:
        return  # frames start charged to the root
    nr = folio.nr_pages
    make_room(memcg, nr)
    folio.mem.move_charge(folio.pfn, nr, memcg.id)


def mem_cgroup_charge_frames(mem: PhysMem, pfns: np.ndarray, memcg: MemCgroup) -> None:
    """:func:`mem_cgroup_charge` for new order-0 frames at ``pfns`` (charged to
    the root) together: room is made for all of them (reclaiming at least
    SWAP_CLUSTER_MAX at a time, as for one), then they move in one step.
    ENOMEM as there; the frames then stay the root's and the caller frees them."""
    if memcg.id == 0 or not len(pfns):
        return
    make_room(memcg, len(pfns))
    mem.move_charge_frames(pfns, memcg.id)


def make_room(memcg: MemCgroup, nr: int) -> None:
    """try_charge's loop: while ``nr`` more pages would pass memory.max, count
    a max event and reclaim from the cgroup; ENOMEM (and an oom event) after
    MAX_RECLAIM_RETRIES passes. With room already (try_charge's fast path)
    it returns at the first test: nothing is imported or counted."""
    retries = MAX_RECLAIM_RETRIES
    while memcg.usage + nr > memcg.max:
        from .vmscan import try_to_free_mem_cgroup_pages  # cycle: vmscan charges here
        memcg.events["max"] += 1
        if retries == 0:
            memcg.events["oom"] += 1
            raise kerror(errno.ENOMEM, f"cgroup {memcg.name}: memory.max "
                         f"{memcg.max * PAGE_SIZE} reached and nothing more to reclaim "
                         "(the kernel would OOM-kill here)")
        retries -= 1
        try_to_free_mem_cgroup_pages(memcg, max(nr, 32))


# --- the interface files ---------------------------------------------------------------

def _set_max(cg: MemCgroup, buf: str) -> None:
    from .vmscan import try_to_free_mem_cgroup_pages  # cycle: vmscan charges through memcontrol

    cg.max = _parse_limit(buf, "memory.max")
    # memory_max_write: reclaim down to the new limit, counting max events
    for _ in range(MAX_RECLAIM_RETRIES):
        if cg.usage <= cg.max:
            return
        cg.events["max"] += 1
        try_to_free_mem_cgroup_pages(cg, cg.usage - cg.max)
    if cg.usage > cg.max:
        cg.events["oom"] += 1


def _set_swap_max(cg: MemCgroup, buf: str) -> None:
    cg.swap_max = _parse_limit(buf, "memory.swap.max")


def _set_zswap_max(cg: MemCgroup, buf: str) -> None:
    pages = _parse_limit(buf, "memory.zswap.max")  # validates
    cg.zswap_max = PAGE_COUNTER_MAX if pages >= PAGE_COUNTER_MAX else memparse(buf.strip())


def _set_zswap_writeback(cg: MemCgroup, buf: str) -> None:
    v = kstrtoint(buf, 0, what="memory.zswap.writeback")
    if v not in (0, 1):
        raise kerror(errno.EINVAL, f"memory.zswap.writeback: {v} is neither 0 nor 1")
    cg.zswap_writeback = bool(v)


def _reclaim(cg: MemCgroup, buf: str) -> None:
    """memory.reclaim: reclaim SIZE bytes; EAGAIN when fewer could be reclaimed."""
    from .vmscan import try_to_free_mem_cgroup_pages  # cycle: vmscan charges through memcontrol

    text = buf.strip()
    size, *opts = text.split()
    for o in opts:
        k, _, v = o.partition("=")
        if k != "swappiness" or not v.isdigit() or int(v) > 200:
            raise kerror(errno.EINVAL, f"memory.reclaim: bad option {o!r}")
    try:
        want = -(-memparse(size) // PAGE_SIZE)
    except (OSError, ValueError):
        raise kerror(errno.EINVAL, f"memory.reclaim: {size!r} is not a size") from None
    got = 0
    retries = MAX_RECLAIM_RETRIES
    while got < want:
        n = try_to_free_mem_cgroup_pages(cg, want - got, proactive=True)
        if n == 0:
            retries -= 1
            if retries == 0:
                raise kerror(errno.EAGAIN, f"memory.reclaim: reclaimed {got * PAGE_SIZE} of "
                             f"{want * PAGE_SIZE} bytes from {cg.name}")
        got += n


def _events(d: dict[str, int]) -> str:
    return "".join(f"{k} {v}\n" for k, v in d.items())


_FILES: dict[str, tuple] = {
    "memory.current": (lambda c: f"{c.usage * PAGE_SIZE}\n", None),
    "memory.max": (lambda c: _limit_text(c.max), _set_max),
    "memory.swap.current": (lambda c: f"{c.swap_usage * PAGE_SIZE}\n", None),
    "memory.swap.peak": (lambda c: f"{c.swap_peak * PAGE_SIZE}\n", None),
    "memory.swap.max": (lambda c: _limit_text(c.swap_max), _set_swap_max),
    "memory.swap.events": (lambda c: _events(c.swap_events), None),
    "memory.zswap.current": (lambda c: f"{c.zswap_bytes}\n", None),
    "memory.zswap.max": (lambda c: "max\n" if c.zswap_max >= PAGE_COUNTER_MAX
                         else f"{c.zswap_max}\n", _set_zswap_max),
    "memory.zswap.writeback": (lambda c: f"{int(c.zswap_writeback)}\n", _set_zswap_writeback),
    "memory.reclaim": (None, _reclaim),
    "memory.stat": (MemCgroup.memory_stat, None),
    "memory.events": (lambda c: _events(c.events), None),
}


class CgroupAttrs(AttrDir):
    """The memory.* files of one cgroup directory (the root has only memory.stat
    and memory.reclaim). Reading a write-only file is EINVAL, writing a
    read-only one EACCES; an empty write is EINVAL."""

    read_denied = errno.EINVAL

    def __init__(self, cg: MemCgroup) -> None:
        super().__init__(cg, _FILES, cg.path)
        self._root_cg = cg.id == 0

    def _exists(self, name: str) -> bool:
        return name in _FILES and (not self._root_cg
                                   or name in ("memory.stat", "memory.reclaim"))

    def _check(self, name: str, text: str) -> str:
        if not text.strip():
            raise kerror(errno.EINVAL, f"{self.path(name)}: empty write")
        return text
