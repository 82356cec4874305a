"""The anonymous LRU lists of one cgroup (struct lruvec, anon half).

Rules:
- A folio is on a list when PG_lru is set; PG_active says which list. Each
  list is an append-only numpy buffer of ``(pfn, stamp)`` rows, oldest first:
  adding a folio gives it a fresh stamp (``PhysMem.lru_seq``) and appends a row;
  a row is live only while its pfn still has PG_lru, the same PG_active and the
  same stamp. Removing a folio (isolation, freeing, moving to the other list)
  therefore costs nothing on the list: its old row goes stale and is skipped
  when reclaim reaches it, and dropped when the buffer is compacted.
- ``PhysMem.lru_count`` holds the live size of each list; freeing a folio on a
  list decrements it (page_alloc.free_pages), so counts never drift.
- New anonymous folios and swapped-in folios start on the inactive list (as
  since Linux 5.9); reclaim isolates from the old end.
- The walks over a list's rows (isolation, adding a batch, compaction) are
  compiled (``_native/mm/mem_map.c``: lru_isolate, lru_add, lru_compact), one
  call per batch; this module keeps the buffers, the stamps and the counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .folio import PG

if TYPE_CHECKING:
    from .memcontrol import MemCgroup
    from .page_alloc import PhysMem

LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1


class LruList:
    """One list: rows ``[head, tail)`` of ``pfn`` / ``seq``, oldest at head."""

    def __init__(self, mem: PhysMem, memcg_id: int, which: int) -> None:
        self.mem = mem
        self.memcg_id = memcg_id
        self.which = which
        self.pfn = np.empty(1024, dtype=np.int64)
        self.seq = np.empty(1024, dtype=np.int64)
        self.head = 0
        self.tail = 0

    def _make_room(self, n: int) -> None:
        """Room for ``n`` more rows: the stale rows dropped (compiled,
        lru_compact), the buffers doubled while the live rows and ``n`` would
        fill more than half of them."""
        if self.tail + n <= len(self.pfn):
            return
        mem = self.mem
        args = (mem.lru_seq, self.pfn, self.seq, self.head, self.tail, self.which,
                self.memcg_id)
        live = mem.map.lru_compact(*args, self.pfn, self.seq)  # in place
        size = len(self.pfn)
        while live + n > size // 2:
            size *= 2
        if size != len(self.pfn):
            pfn, seq = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
            pfn[:live], seq[:live] = self.pfn[:live], self.seq[:live]
            self.pfn, self.seq = pfn, seq
        self.head, self.tail = 0, live

    def append_one(self, pfn: int, seq: int) -> None:
        if self.tail >= len(self.pfn):
            self._make_room(1)
        self.pfn[self.tail] = pfn
        self.seq[self.tail] = seq
        self.tail += 1

    def isolate(self, n: int) -> np.ndarray:
        """Take up to ``n`` live rows from the old end, clearing their folios'
        PG_lru (one compiled walk, lru_isolate); return their pfns. The
        caller holds the flag lock."""
        out = np.empty(n, dtype=np.int64)
        mem = self.mem
        got, self.head = mem.map.lru_isolate(mem.lru_seq, self.pfn, self.seq, self.head,
                                             self.tail, self.which, self.memcg_id, out)
        return out if got == n else out[:got]

    def add(self, pfns: np.ndarray) -> None:
        """Put the folios at ``pfns`` (int64, on no list) at the young end: PG_lru
        and PG_active as this list says, fresh stamps, one row each (one
        compiled walk, lru_add). RuntimeError, and nothing changed, when one
        is on a list already. The caller holds the flag lock."""
        n = len(pfns)
        self._make_room(n)
        mem = self.mem
        self.tail = mem.map.lru_add(mem.lru_seq, self.pfn, self.seq, self.head, self.tail,
                                    self.which, self.memcg_id, pfns, mem.lru_next)
        mem.lru_next += n


class Lruvec:
    """The inactive and active anonymous lists of one cgroup."""

    def __init__(self, mem: PhysMem, memcg: MemCgroup) -> None:
        self.mem = mem
        self.memcg_id = memcg.id
        self.lists = (LruList(mem, memcg.id, LRU_INACTIVE_ANON),
                      LruList(mem, memcg.id, LRU_ACTIVE_ANON))
        #: this cgroup's row of ``mem.lru_count`` as a memoryview: a scalar
        #: add through it costs a fraction of numpy's 2-D item update
        self._count = memoryview(mem.lru_count[memcg.id])

    @property
    def nr_inactive(self) -> int:
        return int(self.mem.lru_count[self.memcg_id, LRU_INACTIVE_ANON])

    @property
    def nr_active(self) -> int:
        return int(self.mem.lru_count[self.memcg_id, LRU_ACTIVE_ANON])

    def add(self, pfns: np.ndarray | list[int], active: bool = False) -> None:
        """folio_add_lru / folio_putback_lru for folios on no list (charged to this
        cgroup); RuntimeError, and nothing changed, when one is on a list."""
        pfns = np.ascontiguousarray(pfns, dtype=np.int64)
        if not len(pfns):
            return
        mem = self.mem
        which = LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
        with mem.flag_lock:
            self.lists[which].add(pfns)
            with mem.zone_lock:
                self._count[which] += len(pfns)

    def add_folio(self, pfn: int, active: bool = False) -> None:
        """:meth:`add` for one folio with scalar operations (every fault adds one)."""
        mem = self.mem
        which = LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
        mem.flag_lock.acquire()  # not ``with``: every fault (see VmStat)
        try:
            fl = mem.flags.item(pfn)
            if fl & PG.lru:
                raise RuntimeError(f"folio_add_lru: folio {pfn} is on a list")
            mem.flags[pfn] = (fl | PG.lru | PG.active) if active else (fl | PG.lru) & ~PG.active
            mem.zone_lock.acquire()
            try:
                self.link(pfn, which)
            finally:
                mem.zone_lock.release()
        finally:
            mem.flag_lock.release()

    def link(self, pfn: int, which: int = LRU_INACTIVE_ANON) -> None:
        """Put a folio already flagged for list ``which`` (PG_lru, PG_active
        as it says) at the young end of that list: its LRU stamp, the list's
        count and row. The caller holds the flag lock and the zone lock
        (:meth:`add_folio`, and swapfile.swap_cache_alloc after the compiled
        step flagged the folio)."""
        mem = self.mem
        seq = mem.lru_next
        mem.lru_next = seq + 1
        mem.lru_seq[pfn] = seq
        self._count[which] += 1  # cannot raise: a memoryview of int64
        self.lists[which].append_one(pfn, seq)

    def isolate(self, which: int, n: int) -> np.ndarray:
        """isolate_lru_folios: take up to ``n`` folios off the old end (PG_lru cleared)."""
        mem = self.mem
        with mem.flag_lock:
            pfns = self.lists[which].isolate(n)
            if len(pfns):
                with mem.zone_lock:
                    self._count[which] -= len(pfns)
        return pfns
