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
- Free frames are kept per order in ``free_area`` like the kernel's buddy
  allocator: allocation splits the smallest free block that fits, freeing
  merges a block with its buddy (``pfn ^ (1 << order)``) while it is free.
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
        #: the four arrays above as the compiled core walks them: a batch of
        #: folios' pages and swap offsets, and the flag and counter updates
        #: of a batch's completion, one call each (mm/mem_map.c)
        self.map = _native.MemMap(self.flags, self.order, self.swap, self.memcg)
        #: pages charged per cgroup id (root, 0, holds every frame not moved
        #: to a child by mem_cgroup_charge); memory.current reads it
        self.memcg_pages = [0] * 256  # a list: scalar updates on the hot path
        #: LRU stamp of each frame: a list entry is valid while its stamp matches
        self.lru_seq = np.zeros(nr_frames, dtype=np.int64)
        self.lru_next = 1
        #: pages on each cgroup's [inactive, active] anon list (mm/lru.py)
        self.lru_count = np.zeros((256, 2), dtype=np.int64)
        self.mapping = np.full(nr_frames, -1, dtype=np.int32)
        self.index = np.zeros(nr_frames, dtype=np.int64)
        #: extra references (folio_get) beyond the mapping and the swap cache:
        #: reclaim cannot free a folio someone holds
        self.refs = np.zeros(nr_frames, dtype=np.int32)
        #: Set by the owning System (the folio -> swap device lookup needs it).
        self.system = None
        self.free_area: list[set[int]] = [set() for _ in range(MAX_PAGE_ORDER + 1)]
        self.nr_free = 0
        self.zone_lock = threading.Lock()
        #: Guards read-modify-write of ``flags``; waiters on PG_locked and
        #: PG_writeback sleep on ``flag_wait``, a condition over this same lock
        #: (so ``with flag_lock`` is what ``with flag_wait`` would be, cheaper).
        self.flag_lock = threading.Lock()
        self.flag_wait = threading.Condition(self.flag_lock)
        #: threads sleeping on ``flag_wait`` (changed under ``flag_lock``): a
        #: flag change wakes only when someone sleeps (notify_all costs ~1.5 us)
        self.flag_sleepers = 0
        pfn = 0
        while pfn < nr_frames:
            order = MAX_PAGE_ORDER
            while order and (pfn & ((1 << order) - 1) or pfn + (1 << order) > nr_frames):
                order -= 1
            self.free_area[order].add(pfn)
            self.nr_free += 1 << order
            pfn += 1 << order

    def alloc_pages(self, order: int = 0) -> int:
        """Allocate ``2**order`` contiguous, aligned frames; return the head pfn or -1.

        The frames' flags, swap entry, memcg and rmap are clean (every free
        frame's are: :meth:`free_pages` resets them); contents are not
        cleared (callers that need zeroes clear them).
        """
        if not 0 <= order <= MAX_PAGE_ORDER:
            raise ValueError(f"page order {order} outside 0..{MAX_PAGE_ORDER}")
        with self.zone_lock:
            cur = order
            while cur <= MAX_PAGE_ORDER and not self.free_area[cur]:
                cur += 1
            if cur > MAX_PAGE_ORDER:
                return -1
            pfn = min(self.free_area[cur]) if cur > order else self.free_area[cur].pop()
            if cur > order:
                self.free_area[cur].discard(pfn)
            while cur > order:
                cur -= 1
                self.free_area[cur].add(pfn + (1 << cur))
            self.nr_free -= 1 << order
            self.memcg_pages[0] += 1 << order
        if order:  # the rest of a free frame's state is clean already (free_pages)
            self.order[pfn : pfn + (1 << order)] = order
        return pfn

    def alloc_pages_bulk(self, n: int) -> list[int] | None:
        """``n`` order-0 frames at once (alloc_pages_bulk), or None (and nothing
        taken) when fewer are free. Free single frames go first, then runs
        cut from the smallest free blocks (their tails go back as aligned
        blocks), so a bulk request splits each block once. The frames' state
        is clean — every free frame's is (:meth:`free_pages` cleans what it
        frees) — so nothing is written per frame here."""
        with self.zone_lock:
            if self.nr_free < n:
                return None
            area = self.free_area
            single = area[0]
            if len(single) >= n:
                got = [single.pop() for _ in range(n)]
            else:
                got = list(single)
                single.clear()
                need = n - len(got)
                while need:
                    cur = 1
                    while not area[cur]:
                        cur += 1
                    blk = area[cur]
                    pfn = min(blk) if len(blk) > 1 else next(iter(blk))
                    blk.discard(pfn)
                    take = min(need, 1 << cur)
                    got.extend(range(pfn, pfn + take))
                    need -= take
                    # the tail, as the largest aligned blocks: from pfn + take up to
                    # the block's end, each piece is aligned to its lowest set bit
                    # and fits (the end is aligned to the whole block)
                    r, end = pfn + take, pfn + (1 << cur)
                    while r < end:
                        low = r & -r
                        area[low.bit_length() - 1].add(r)
                        r += low
            self.nr_free -= n
            self.memcg_pages[0] += n
        return got

    def free_frames(self, pfns: list[int] | np.ndarray) -> None:
        """Free order-0 frames (the inverse of :meth:`alloc_pages_bulk`): what
        :meth:`free_pages` does to each, the frames' state cleaned and the
        counts moved in array steps, then each frame merged with its buddies."""
        pfns = np.asarray(pfns, dtype=np.int64)
        if not len(pfns):
            return
        flags = self.flags[pfns]
        memcgs = self.memcg[pfns]
        on_lru = (flags & np.uint32(LRU_BIT)) != 0
        # a free frame's state is clean (alloc_pages_bulk relies on it)
        self.flags[pfns] = 0
        self.mapping[pfns] = -1
        self.order[pfns] = 0
        self.swap[pfns] = 0
        self.memcg[pfns] = 0
        ids, counts = np.unique(memcgs, return_counts=True)
        with self.zone_lock:
            if on_lru.any():  # freed while on an LRU list: the list entries go stale
                active = (flags[on_lru] & np.uint32(ACTIVE_BIT)) != 0
                np.subtract.at(self.lru_count, (memcgs[on_lru], active.astype(np.int64)), 1)
            for memcg, n in zip(ids.tolist(), counts.tolist(), strict=True):
                self.memcg_pages[memcg] -= n
            self.nr_free += len(pfns)
            for pfn in pfns.tolist():
                self._merge_free(pfn, 0)

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
        with self.zone_lock:
            old = int(self.memcg[pfn])
            self.memcg_pages[old] -= nr
            self.memcg_pages[memcg_id] += nr
            self.memcg[pfn : pfn + nr] = memcg_id

    def free_pages(self, pfn: int, order: int = 0) -> None:
        """Return a block to the allocator, merging it with free buddies."""
        if pfn & ((1 << order) - 1):
            raise ValueError(f"pfn {pfn} is not aligned to order {order}")
        fl = int(self.flags[pfn])
        if fl & LRU_BIT:  # freed while on an LRU list: the list entry goes stale
            with self.zone_lock:
                self.lru_count[self.memcg[pfn], 1 if fl & ACTIVE_BIT else 0] -= 1 << order
        end = pfn + (1 << order)
        memcg = int(self.memcg[pfn])
        # a free frame's state is clean (alloc_pages_bulk relies on it)
        self.flags[pfn:end] = 0
        self.mapping[pfn:end] = -1
        self.order[pfn:end] = 0
        self.swap[pfn:end] = 0
        self.memcg[pfn:end] = 0
        with self.zone_lock:
            self.memcg_pages[memcg] -= 1 << order
            self.nr_free += 1 << order
            self._merge_free(pfn, order)

    def _merge_free(self, pfn: int, order: int) -> None:
        """Put the free block at ``pfn`` on the free lists, merged with its
        buddy (``pfn ^ (1 << order)``) while that is free (caller holds
        ``zone_lock``)."""
        area = self.free_area
        while order < MAX_PAGE_ORDER:
            buddy = pfn ^ (1 << order)
            if buddy not in area[order]:
                break
            area[order].discard(buddy)
            pfn &= ~(1 << order)
            order += 1
        area[order].add(pfn)
