"""Physical memory: one page-frame array and a buddy allocator.

Rules:
- ``PhysMem.data`` is one ``(nr_frames, PAGE_SIZE)`` uint8 array over an
  anonymous mmap populated when the machine is created (util.ram_arena), so
  every frame is page-aligned (usable for O_DIRECT) and no first touch costs
  a host page fault later.
- Per-frame state is a numpy array indexed by pfn (``flags``, ``order``,
  ``swap``, ``memcg``, rmap ``mapping``/``index``); a folio's state lives at its
  head pfn. No Python object exists per page. ``map`` hands the first four
  to the compiled core for the swap batch paths.
- Free frames are kept by the kernel's buddy allocator, compiled
  (``_native/mm/page_alloc.c``, ``PhysMem.zone``): one free list per order,
  allocation takes the first block of the smallest order that fits and frees
  the upper halves of what it splits, freeing merges a block with its buddy
  (``pfn ^ (1 << order)``) while that is free. This module keeps the policy
  around it: the frames' state, the cgroup page counts and the zone lock.
"""

from __future__ import annotations

import threading

import numpy as np

from .. import _native
from ..consts import PAGE_SIZE
from ..util import ram_arena

#: PG_lru and PG_active (mm/folio.py), needed here to keep the LRU counts right
LRU_BIT = 1 << 5
ACTIVE_BIT = 1 << 8
#: Largest buddy order (MAX_PAGE_ORDER on x86_64).
MAX_PAGE_ORDER = 10


class PhysMem:
    """The page frames of one machine and their per-frame metadata."""

    def __init__(self, nr_frames: int) -> None:
        if nr_frames <= 0:
            raise ValueError(f"memory must hold at least one page frame, not {nr_frames}")
        self.nr_frames = nr_frames
        self._map = ram_arena(nr_frames * PAGE_SIZE)
        self.data = np.frombuffer(self._map, dtype=np.uint8).reshape(nr_frames, PAGE_SIZE)
        #: the same frames as machine words (zero and same-filled checks)
        self.data64 = self.data.view(np.uint64)
        self.flags = np.zeros(nr_frames, dtype=np.uint32)
        self.order = np.zeros(nr_frames, dtype=np.int8)
        self.swap = np.zeros(nr_frames, dtype=np.uint64)
        self.memcg = np.zeros(nr_frames, dtype=np.int32)
        self.mapping = np.full(nr_frames, -1, dtype=np.int32)
        self.index = np.zeros(nr_frames, dtype=np.int64)
        #: the six arrays above as the compiled core walks them: a batch of
        #: folios' pages and swap offsets, the flag and counter updates of a
        #: batch's completion (mm/mem_map.c), the end of a swap-in fault
        #: (mm/swap_table.c), one call each
        self.map = _native.MemMap(self.flags, self.order, self.swap, self.memcg,
                                  self.mapping, self.index)
        #: pages charged per cgroup id (root, 0, holds every frame not moved
        #: to a child by mem_cgroup_charge); memory.current reads it. An int64
        #: array for the compiled batch steps, used through a memoryview
        #: (a scalar update costs half of numpy's)
        self.memcg_charged = np.zeros(256, dtype=np.int64)
        self.memcg_pages = memoryview(self.memcg_charged)
        #: LRU stamp of each frame: a list entry is valid while its stamp matches
        self.lru_seq = np.zeros(nr_frames, dtype=np.int64)
        self.lru_next = 1
        #: pages on each cgroup's [inactive, active] anon list (mm/lru.py)
        self.lru_count = np.zeros((256, 2), dtype=np.int64)
        #: extra references (folio_get) beyond the mapping and the swap cache:
        #: reclaim cannot free a folio someone holds
        self.refs = np.zeros(nr_frames, dtype=np.int32)
        #: Set by the owning System (the folio -> swap device lookup needs it).
        self.system = None
        #: the buddy allocator's free lists (mm/page_alloc.c); called under zone_lock
        self.zone = _native.BuddyZone(nr_frames)
        self.zone_lock = threading.Lock()
        #: Guards read-modify-write of ``flags``; waiters on PG_locked and
        #: PG_writeback sleep on ``flag_wait``, a condition over this same lock
        #: (so ``with flag_lock`` is what ``with flag_wait`` would be, cheaper).
        self.flag_lock = threading.Lock()
        self.flag_wait = threading.Condition(self.flag_lock)
        #: threads sleeping on ``flag_wait`` (changed under ``flag_lock``): a
        #: flag change wakes only when someone sleeps (notify_all costs ~1.5 us)
        self.flag_sleepers = 0

    @property
    def nr_free(self) -> int:
        """Free frames."""
        return self.zone.nr_free

    @property
    def free_area(self) -> list[set[int]]:
        """The head pfns of the free blocks of each order (a snapshot)."""
        with self.zone_lock:
            return [set(self.zone.blocks(o)) for o in range(MAX_PAGE_ORDER + 1)]

    def alloc_pages(self, order: int = 0) -> int:
        """Allocate ``2**order`` contiguous, aligned frames; return the head pfn or -1.

        The frames' flags, swap entry, memcg and rmap are clean (every free
        frame's are: :meth:`free_pages` resets them); contents are not
        cleared (callers that need zeroes clear them).
        """
        if not 0 <= order <= MAX_PAGE_ORDER:
            raise ValueError(f"page order {order} outside 0..{MAX_PAGE_ORDER}")
        self.zone_lock.acquire()  # not ``with``: every fault (see VmStat)
        try:
            pfn = self.zone.alloc(order)
            if pfn < 0:
                return -1
            self.memcg_pages[0] += 1 << order
        finally:
            self.zone_lock.release()
        if order:  # the rest of a free frame's state is clean already (free_pages)
            self.order[pfn : pfn + (1 << order)] = order
        return pfn

    def alloc_pages_bulk(self, n: int) -> list[int] | None:
        """``n`` order-0 frames at once (alloc_pages_bulk), or None (and nothing
        taken) when fewer are free. The frames' state is clean — every free
        frame's is (:meth:`free_pages` cleans what it frees) — so nothing is
        written per frame here."""
        out = np.empty(n, dtype=np.int64)
        with self.zone_lock:
            if self.zone.alloc_bulk(out) < 0:
                return None
            self.memcg_pages[0] += n
        return out.tolist()

    def free_frames(self, pfns: list[int] | np.ndarray) -> None:
        """Free order-0 frames (the inverse of :meth:`alloc_pages_bulk`): what
        :meth:`free_pages` does to each — the frames' state cleaned, the
        cgroup and LRU counts moved (one compiled walk, frames_clear) — then
        the frames given to the buddy allocator in one call."""
        pfns = np.ascontiguousarray(pfns, dtype=np.int64)
        if not len(pfns):
            return
        with self.zone_lock:
            self.map.frames_clear(pfns, self.memcg_charged, self.lru_count)
            self.zone.free_frames(pfns)

    def wait_flags(self, timeout: float | None = None) -> None:
        """Sleep on ``flag_wait`` until a flag change wakes us, or ``timeout``
        seconds pass (caller holds ``flag_lock`` and re-checks its condition)."""
        self.flag_sleepers += 1
        try:
            self.flag_wait.wait(timeout)
        finally:
            self.flag_sleepers -= 1

    def wake_flags(self) -> None:
        """Wake the sleepers on ``flag_wait``, if any (caller holds ``flag_lock``)."""
        if self.flag_sleepers:
            self.flag_wait.notify_all()

    def move_charge(self, pfn: int, nr: int, memcg_id: int) -> None:
        """Move the charge of frames [pfn, pfn+nr) to cgroup ``memcg_id``."""
        self.zone_lock.acquire()  # not ``with``: every fault (see VmStat)
        try:
            old = self.memcg.item(pfn)
            self.memcg_pages[old] -= nr
            self.memcg_pages[memcg_id] += nr
            if nr == 1:  # a scalar store: a slice costs a few thousand instructions
                self.memcg[pfn] = memcg_id
            else:
                self.memcg[pfn : pfn + nr] = memcg_id
        finally:
            self.zone_lock.release()

    def move_charge_frames(self, pfns: np.ndarray, memcg_id: int) -> None:
        """Move the charge of order-0 frames at ``pfns`` to cgroup ``memcg_id``."""
        olds = self.memcg[pfns]
        with self.zone_lock:
            if olds.min() == olds.max():  # new frames: all the root's
                self.memcg_pages[int(olds[0])] -= len(pfns)
            else:
                for old, n in zip(*np.unique(olds, return_counts=True), strict=True):
                    self.memcg_pages[int(old)] -= int(n)
            self.memcg_pages[memcg_id] += len(pfns)
            self.memcg[pfns] = memcg_id

    def free_pages(self, pfn: int, order: int = 0) -> None:
        """Return a block to the allocator, merging it with free buddies."""
        if pfn & ((1 << order) - 1):
            raise ValueError(f"pfn {pfn} is not aligned to order {order}")
        fl = self.flags.item(pfn)
        if fl & LRU_BIT:  # freed while on an LRU list: the list entry goes stale
            with self.zone_lock:
                self.lru_count[self.memcg[pfn], 1 if fl & ACTIVE_BIT else 0] -= 1 << order
        memcg = self.memcg.item(pfn)
        # a free frame's state is clean (alloc_pages_bulk relies on it)
        at = pfn if not order else slice(pfn, pfn + (1 << order))  # scalar stores: cheaper
        self.flags[at] = 0
        self.mapping[at] = -1
        self.order[at] = 0
        self.swap[at] = 0
        self.memcg[at] = 0
        with self.zone_lock:
            self.memcg_pages[memcg] -= 1 << order
            self.zone.free(pfn, order)
