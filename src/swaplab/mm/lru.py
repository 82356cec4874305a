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

    def _live(self, pfn: np.ndarray, seq: np.ndarray) -> np.ndarray:
        mem = self.mem
        fl = mem.flags[pfn]
        want = np.uint32(PG.lru | (PG.active if self.which else 0))
        return ((fl & np.uint32(PG.lru | PG.active)) == want) & (mem.lru_seq[pfn] == seq) \
            & (mem.memcg[pfn] == self.memcg_id)

    def _make_room(self, n: int) -> None:
        if self.tail + n <= len(self.pfn):
            return
        p, s = self.pfn[self.head : self.tail], self.seq[self.head : self.tail]
        live = self._live(p, s)
        p, s = p[live], s[live]
        size = len(self.pfn)
        while len(p) + n > size // 2:
            size *= 2
        if size != len(self.pfn):
            self.pfn = np.empty(size, dtype=np.int64)
            self.seq = np.empty(size, dtype=np.int64)
        self.pfn[: len(p)] = p
        self.seq[: len(p)] = s
        self.head, self.tail = 0, len(p)

    def append(self, pfns: np.ndarray, seqs: np.ndarray) -> None:
        n = len(pfns)
        self._make_room(n)
        self.pfn[self.tail : self.tail + n] = pfns
        self.seq[self.tail : self.tail + n] = seqs
        self.tail += n

    def append_one(self, pfn: int, seq: int) -> None:
        if self.tail >= len(self.pfn):
            self._make_room(1)
        self.pfn[self.tail] = pfn
        self.seq[self.tail] = seq
        self.tail += 1

    def take_oldest(self, n: int) -> np.ndarray:
        """Remove up to ``n`` live rows from the old end; return their pfns."""
        out = []
        got = 0
        while got < n and self.head < self.tail:
            hi = min(self.tail, self.head + max(2 * (n - got), 32))
            p = self.pfn[self.head : hi]
            live = np.flatnonzero(self._live(p, self.seq[self.head : hi]))
            if len(live) > n - got:
                live = live[: n - got]
                self.head += int(live[-1]) + 1
            else:
                self.head = hi
            out.append(p[live].copy())
            got += len(live)
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


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
        """folio_add_lru / folio_putback_lru for folios on no list (charged to this cgroup)."""
        pfns = np.asarray(pfns, dtype=np.int64)
        if not len(pfns):
            return
        mem = self.mem
        which = LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
        with mem.flag_lock:
            if (mem.flags[pfns] & np.uint32(PG.lru)).any():
                raise RuntimeError(f"folio_add_lru: a folio of {pfns.tolist()} is on a list")
            if active:
                mem.flags[pfns] |= np.uint32(PG.lru | PG.active)
            else:
                mem.flags[pfns] = (mem.flags[pfns] | np.uint32(PG.lru)) & ~np.uint32(PG.active)
            seqs = np.arange(mem.lru_next, mem.lru_next + len(pfns), dtype=np.int64)
            mem.lru_next += len(pfns)
            mem.lru_seq[pfns] = seqs
            with mem.zone_lock:
                mem.lru_count[self.memcg_id, which] += len(pfns)
            self.lists[which].append(pfns, seqs)

    def add_folio(self, pfn: int, active: bool = False) -> None:
        """:meth:`add` for one folio with scalar operations (every fault adds one)."""
        mem = self.mem
        which = LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
        mem.flag_lock.acquire()  # not ``with``: every fault (see VmStat.count)
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
            pfns = self.lists[which].take_oldest(n)
            if len(pfns):
                mem.flags[pfns] &= ~np.uint32(PG.lru)
                with mem.zone_lock:
                    mem.lru_count[self.memcg_id, which] -= len(pfns)
        return pfns
