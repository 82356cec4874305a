"""Address spaces and faults (mm/memory.c, reduced to anonymous memory).

An :class:`MmStruct` is one process's anonymous memory: VMAs laid end to end
over a flat array of PTEs, one per virtual page, encoded as mm/swapops.py
says: 0 (never touched), present, or a swap PTE. Frames record
their owner in the reverse map (``mem.mapping`` = mm id, ``mem.index`` =
virtual page), which reclaim uses to unmap them. Every access sets the
folio's young bit (the PTE accessed bit) that reclaim tests.

Faults (:meth:`MmStruct.fault`):
- never touched: a new frame (watermarks and kswapd apply), charged to the
  process's cgroup (reclaiming from it at memory.max), zero-filled, put on the
  inactive list;
- swap PTE, :meth:`MmStruct.do_swap_page`: swap-cache lookup (a readahead hit
  is counted); otherwise, on a SWP_SYNCHRONOUS_IO area with swap count 1, the
  single-folio synchronous read — through the swap cache (``System.swapin``
  "swap-table", the kernel since the swap table's phase II: racing faults
  wait on the folio) or, with "sync-bypass", into a folio that never enters
  it, the slot claimed meanwhile (swapcache_prepare; racers back off and
  retry) — else readahead (VMA or cluster). The entry's
  reference is dropped, and the swap copy is freed when the area is
  synchronous, the fault writes, or swap is more than half full
  (should_try_to_free_swap). A read that fails leaves the PTE as it was and
  raises EIO naming the page.
"""

from __future__ import annotations

import bisect
import errno
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._native import (
    SWAPIN_BYPASS,
    SWAPIN_FREE_SWAP,
    SWAPIN_LOCKED,
    SWAPIN_SLOT_FREE,
    SWAPIN_UNCACHED,
    SWAPIN_WRITE,
)
from ..consts import HPAGE_PMD_NR, SWAPFILE_CLUSTER
from ..errors import kerror
from .folio import PG, Folio
from .memcontrol import (
    MEMCG_PGFAULT,
    MEMCG_PGMAJFAULT,
    MemcgEvent,
    mem_cgroup_charge,
    mem_cgroup_charge_frames,
)
from .page_io import swap_read_submit
from .swap_iocb import SwapIoCtx
from .swap_state import (
    read_swap_cache_async,
    swap_update_readahead,
    swapin_readahead,
    swapin_sync,
    swapin_sync_bypass,
)
from .swapfile import (
    folio_free_swap,
    swap_cache_del_folio,
    swap_put_entries,
    swap_put_slots,
    swapcache_clear,
)
from .swapops import (
    mk_pte,
    mk_ptes,
    pte_pfn,
    pte_present,
    pte_to_swp_entry,
    ptes_pfn,
    ptes_present,
    ptes_swap,
    ptes_to_swp_entries,
    swp_entry,
    swp_offset,
    swp_types,
)
from .vmscan import SWAP_CLUSTER_MAX, alloc_folio, shrink_folio_list, wakeup_kswapd
from .vmstat import NR_SWAPCACHE, PGFAULT, PGMAJFAULT, VmEvent

if TYPE_CHECKING:
    from ..system import System
    from .memcontrol import MemCgroup
    from .swapfile import SwapInfo

#: How many swap PTEs swapoff reads in one go.
UNUSE_CHUNK = 256


def vm_swap_full(system: System) -> bool:
    """More than half of all swap is in use."""
    st = system.swap
    return st.nr_swap_pages * 2 < st.total_swap_pages


@dataclass
class Vma:
    """One anonymous VMA, pages ``[start, end)``, with its readahead state
    (swap_readahead_info: last fault address, window, hits)."""

    start: int
    end: int
    ra_addr: int = 0
    ra_win: int = 0
    ra_hits: int = 0

    @property
    def nr_pages(self) -> int:
        return self.end - self.start


class MmStruct:
    """One process's anonymous memory: VMAs of the given sizes, end to end."""

    def __init__(self, system: System, mm_id: int, nr_pages: int,
                 memcg: MemCgroup | None = None, vmas: list[int] | None = None) -> None:
        sizes = vmas if vmas else [nr_pages]
        if sum(sizes) != nr_pages or min(sizes) <= 0:
            raise kerror(errno.EINVAL, f"VMA sizes {sizes} do not add up to {nr_pages} pages")
        self.system = system
        self.id = mm_id
        self.nr_pages = nr_pages
        self.memcg = memcg if memcg is not None else system.root_memcg
        self.ptes = np.zeros(nr_pages, dtype=np.uint64)
        self.ptl = threading.RLock()
        self.vmas: list[Vma] = []
        lo = 0
        for n in sizes:
            self.vmas.append(Vma(lo, lo + n))
            lo += n
        self._vma_starts = [v.start for v in self.vmas]
        #: called as ``on_swap_out(mm, vpns, entries)`` (arrays) when reclaim
        #: unmaps pages of this mm
        self.on_swap_out = None

    def __repr__(self) -> str:
        return f"MmStruct(id={self.id}, pages={self.nr_pages}, memcg={self.memcg.name})"

    # --- mapping ------------------------------------------------------------------------
    def _check(self, vpn: int) -> None:
        if not 0 <= vpn < self.nr_pages:
            raise kerror(errno.EFAULT, f"mm {self.id}: page {vpn} outside 0..{self.nr_pages - 1}")

    def find_vma(self, vpn: int) -> Vma:
        return self.vmas[bisect.bisect_right(self._vma_starts, vpn) - 1]

    def _map(self, vpn: int, folio: Folio) -> None:
        self.ptes[vpn] = mk_pte(folio.pfn)
        self.system.mem.mapping[folio.pfn] = self.id
        self.system.mem.index[folio.pfn] = vpn

    def swap_entry_at(self, vpn: int) -> int:
        """The swap entry of ``vpn``'s PTE, or 0 if it is not a swap PTE."""
        pte = int(self.ptes[vpn])
        return 0 if pte_present(pte) else pte_to_swp_entry(pte)

    def swapped_out(self, vpns: np.ndarray, entries: np.ndarray) -> None:
        """Reclaim replaced the PTEs at ``vpns`` (distinct) by ``entries``
        (called under ptl)."""
        if self.on_swap_out is not None:
            self.on_swap_out(self, vpns, entries)

    def folio_at(self, vpn: int) -> Folio | None:
        """The folio mapped at ``vpn``, or None if not present."""
        pte = int(self.ptes[vpn])
        return Folio(self.system.mem, pte_pfn(pte)) if pte_present(pte) else None

    def resident(self) -> int:
        return int(np.count_nonzero(ptes_present(self.ptes)))

    def swapped(self) -> int:
        return int(np.count_nonzero(ptes_swap(self.ptes)))

    # --- faults -------------------------------------------------------------------------
    def fault(self, vpn: int, write: bool = False) -> Folio:
        """handle_mm_fault: make ``vpn`` present and return its (unlocked) folio."""
        if not 0 <= vpn < self.nr_pages:
            self._check(vpn)
        system = self.system
        self.ptl.acquire()  # not ``with``: every fault (see VmStat)
        try:
            pte = self.ptes.item(vpn)
            if pte_present(pte):
                folio = Folio(system.mem, pte_pfn(pte))
                folio.set(PG.young | PG.dirty if write else PG.young)
                return folio
            if pte == 0:
                system.vmstat.count(VmEvent.pgfault)
                system.memcg_stats.count(self.memcg.id, MemcgEvent.pgfault)
                return self.do_anonymous_page(vpn)
            return self.do_swap_page(vpn, pte_to_swp_entry(pte), write)  # counts pgfault
        finally:
            self.ptl.release()

    def do_anonymous_page(self, vpn: int) -> Folio:
        folio = alloc_folio(self.system, 0)
        try:
            mem_cgroup_charge(folio, self.memcg)
        except OSError:
            folio.free()
            raise
        folio.data[:] = 0
        folio.set(PG.uptodate | PG.swapbacked | PG.dirty | PG.young)
        self._map(vpn, folio)
        self.memcg.lruvec.add_folio(folio.pfn)
        return folio

    def do_swap_page(self, vpn: int, entry: int, write: bool) -> Folio:
        """Bring the page of swap ``entry`` back and map it at ``vpn``; count
        the fault (pgfault, and pgmajfault when it read). Caller holds ptl."""
        system = self.system
        si = system.swap.info_of(entry)
        off = swp_offset(entry)
        sync_io = si.synchronous_io
        pfn = si.cache.item(off)  # swap_cache_get_folio, with the area at hand
        bypass = False
        if pfn >= 0:
            folio = Folio(system.mem, pfn)
            system.vmstat.count(PGFAULT)
            system.memcg_stats.count(self.memcg.id, MEMCG_PGFAULT)
            swap_update_readahead(system, folio, self.find_vma(vpn), vpn)
        else:
            folio = None
            if sync_io and si.swap_map.item(off) == 1:  # swap_count
                if system.swapin == "sync-bypass":
                    folio = swapin_sync_bypass(system, entry)
                    bypass = folio is not None
                if folio is None:  # the swap table's path, or the slot was taken meanwhile
                    folio = swapin_sync(system, si, entry, off)
            else:
                folio = swapin_readahead(system, self, self.find_vma(vpn), vpn)
            if folio is None:
                system.vmstat.count(VmEvent.pgfault)
                system.memcg_stats.count(self.memcg.id, MemcgEvent.pgfault)
                raise kerror(errno.ENOMEM, f"mm {self.id}: no memory to swap in page {vpn}")
            system.vmstat.count2(PGFAULT, PGMAJFAULT)
            system.memcg_stats.count2(self.memcg.id, MEMCG_PGFAULT, MEMCG_PGMAJFAULT)
        how = SWAPIN_BYPASS if bypass else 0
        if sync_io or write or vm_swap_full(system):
            how |= SWAPIN_FREE_SWAP
        if write:
            how |= SWAPIN_WRITE
        self._swapin_map(si, folio, vpn, off, how)
        return folio

    def _swapin_map(self, si: SwapInfo, folio: Folio, vpn: int, off: int, how: int) -> None:
        """The end of a swap-in fault, one compiled step (swapin_map_folio) under
        the slot's cluster lock and the flag lock: map ``folio`` at ``vpn``,
        drop the fault's reference on slot ``off`` and, as ``how`` says, the swap
        copy; then free the slot if nothing holds it any more. A folio that
        is locked (its read still running, or reclaim looking at it) is waited
        for, as folio_lock would; a failed read (not uptodate) leaves the PTE
        as it was, takes the folio out of the swap cache (or releases the
        bypass claim), frees it, and raises EIO naming the page."""
        system = self.system
        mem = system.mem
        lock = si.cluster_locks[off // SWAPFILE_CLUSTER]
        locked = 0
        while True:
            lock.acquire()  # not ``with``: every fault (see VmStat)
            try:
                mem.flag_lock.acquire()
                try:
                    ret = si.table.swapin_map(mem.map, self.ptes, vpn, folio.pfn, self.id,
                                              off, how | locked)
                finally:
                    mem.flag_lock.release()
                if ret > 0 and ret & SWAPIN_SLOT_FREE:
                    si._entries_free(off, 1)
            finally:
                lock.release()
            if ret > 0:
                break
            if ret == -errno.EIO and locked:
                if how & SWAPIN_BYPASS:
                    swapcache_clear(system, swp_entry(si.type, off))
                else:
                    swap_cache_del_folio(folio)
                folio.unlock()
                folio.free()
                raise kerror(errno.EIO, f"mm {self.id}: swap-in of page {vpn} from {si.name} "
                             f"offset {off} failed; page stays on swap")
            if ret not in (-errno.EAGAIN, -errno.EIO) or locked:
                if locked:
                    folio.unlock()
                raise kerror(errno.EINVAL, f"mm {self.id}: page {vpn}: swap slot {off} of "
                             f"{si.name} has no reference to drop, or folio {folio.pfn} cannot be "
                             "mapped")
            folio.lock()  # sleeps while the read (or reclaim) holds it
            locked = SWAPIN_LOCKED
        if ret & SWAPIN_UNCACHED:
            system.vmstat.mod(NR_SWAPCACHE, -1)
        if locked:
            folio.unlock()

    # --- what a process does ------------------------------------------------------------
    def write(self, vpn: int, data: bytes | np.ndarray) -> None:
        """Store one page of contents at ``vpn`` (faulting it in first)."""
        buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        if buf.nbytes != self.system.mem.data.shape[1]:
            raise kerror(errno.EINVAL, f"write of {buf.nbytes} bytes; a page is "
                         f"{self.system.mem.data.shape[1]}")
        with self.ptl:
            folio = self.fault(vpn, write=True)
            folio.data[:] = buf
            folio.set(PG.dirty)

    def populate(self, lo: int, pages: np.ndarray) -> None:
        """Store ``pages`` (``(n, PAGE_SIZE)`` uint8) at ``[lo, lo + n)``: what
        :meth:`write` does to each page. A range of never-touched pages is
        filled as MAP_POPULATE faults it in, SWAP_CLUSTER_MAX pages at a time
        in array steps: kswapd woken when the chunk would take free memory
        below the low watermark (as each fault's allocation would), the
        frames in bulk, room made in the cgroup for the chunk (reclaiming at
        least SWAP_CLUSTER_MAX, as a fault at memory.max does) and the chunk
        charged at once, then contents, flags, PTEs, reverse map, LRU and
        pgfault counts. A chunk whose frames are not free takes the faults
        one by one (direct reclaim); so does a range with a page touched."""
        n = len(pages)
        if not n:
            return
        if pages.shape[1:] != self.system.mem.data.shape[1:]:
            raise kerror(errno.EINVAL, f"populate of an array shaped {pages.shape}; it "
                         f"takes (n, {self.system.mem.data.shape[1]}) pages")
        self._check(lo)
        self._check(lo + n - 1)
        system = self.system
        mem = system.mem
        with self.ptl:
            if self.ptes[lo : lo + n].any():
                for k in range(n):
                    self.write(lo + k, pages[k])
                return
            for start in range(0, n, SWAP_CLUSTER_MAX):
                chunk = pages[start : start + SWAP_CLUSTER_MAX]
                k = len(chunk)
                wakeup_kswapd(system, k)
                got = mem.alloc_pages_bulk(k)
                if got is None:  # the faults one by one: direct reclaim, or ENOMEM
                    for j in range(start, n):
                        self.write(lo + j, pages[j])
                    return
                pfns = np.asarray(got, dtype=np.int64)
                try:
                    mem_cgroup_charge_frames(mem, pfns, self.memcg)
                except OSError:
                    mem.free_frames(pfns)
                    raise
                self._map_new(lo + start, pfns, chunk)

    def _map_new(self, lo: int, pfns: np.ndarray, pages: np.ndarray) -> None:
        """Map new, charged frames ``pfns`` holding ``pages`` at ``[lo, lo + n)``
        (never-touched PTEs; caller holds ptl)."""
        system = self.system
        mem = system.mem
        n = len(pfns)
        mem.data[pfns] = pages
        with mem.flag_lock:
            mem.flags[pfns] |= np.uint32(PG.uptodate | PG.swapbacked | PG.dirty | PG.young)
        self.ptes[lo : lo + n] = mk_ptes(pfns)
        mem.mapping[pfns] = self.id
        mem.index[pfns] = np.arange(lo, lo + n)
        self.memcg.lruvec.add(pfns)
        system.vmstat.count(VmEvent.pgfault, n)
        system.memcg_stats.count(self.memcg.id, MemcgEvent.pgfault, n)

    def read(self, vpn: int) -> bytes:
        """The contents of ``vpn`` (faulting it in)."""
        with self.ptl:
            return self.fault(vpn).data.tobytes()

    def pageout(self, lo: int = 0, hi: int | None = None) -> int:
        """MADV_PAGEOUT over [lo, hi): reclaim every present page; return pages freed.

        As madvise_cold_or_pageout_pte_range does, the range is walked one
        page table (HPAGE_PMD_NR pages) at a time and each table's folios are
        reclaimed before the next is looked at: a page written to a
        synchronous device is freed before the next table's are written, so
        the pool they go to grows while the process shrinks."""
        hi = self.nr_pages if hi is None else hi
        freed = 0
        with self.ptl:
            start = lo
            while start < hi:
                end = min(hi, (start // HPAGE_PMD_NR + 1) * HPAGE_PMD_NR)
                vpns = np.flatnonzero(ptes_present(self.ptes[start:end])) + start
                if len(vpns):
                    folios = [Folio(self.system.mem, pfn)
                              for pfn in ptes_pfn(self.ptes[vpns]).tolist()]
                    freed += shrink_folio_list(self.system, folios)
                start = end
        return freed

    # --- swapoff ------------------------------------------------------------------------
    def unuse(self, type_: int) -> int:
        """Swap in every page of this mm that lives on area ``type_``; 0 or -errno."""
        system = self.system
        with self.ptl:
            ptes = self.ptes
            swap = ptes_swap(ptes)
            swap &= swp_types(ptes_to_swp_entries(ptes)) == type_
            vpns = np.flatnonzero(swap)
            for lo in range(0, len(vpns), UNUSE_CHUNK):
                chunk = vpns[lo : lo + UNUSE_CHUNK]
                ctx = SwapIoCtx()
                got = []
                for v in chunk:
                    entry = pte_to_swp_entry(int(ptes[v]))
                    folio, _ = read_swap_cache_async(system, entry, ctx)
                    if folio is None:
                        swap_read_submit(ctx)
                        self._unuse_release(got)
                        return -errno.ENOMEM
                    folio.get()  # held until mapped: reclaim may run between reads
                    got.append((int(v), entry, folio))
                swap_read_submit(ctx)
                for k, (v, entry, folio) in enumerate(got):
                    folio.lock()
                    folio.put()
                    if not folio.test(PG.uptodate):
                        swap_cache_del_folio(folio)
                        folio.unlock()
                        folio.free()
                        self._unuse_release(got[k + 1 :])
                        return -errno.EIO
                    self._map(v, folio)
                    swap_put_entries(system, entry)
                    folio_free_swap(folio)
                    folio.unlock()
        return 0

    @staticmethod
    def _unuse_release(got: list[tuple[int, int, Folio]]) -> None:
        for _, _, folio in got:
            folio.put()

    def release(self) -> None:
        """exit_mmap: free every frame and drop every swap reference."""
        self.zap(0, self.nr_pages)

    def zap(self, lo: int, hi: int) -> int:
        """zap_pte_range over [lo, hi) (munmap, MADV_DONTNEED): free every frame,
        drop every swap reference (freed slots notify their device); return the
        number of PTEs cleared. A frame mapped here whose reverse map names
        another process (a page two processes share, as after fork: the model
        keeps one owner, not a mapcount) is left to that process to free."""
        system = self.system
        mem = system.mem
        with self.ptl:
            vpns = np.flatnonzero(self.ptes[lo:hi]) + lo
            ptes = self.ptes[vpns]
            mapped = ptes_present(ptes)
            mapped_pfns = ptes_pfn(ptes[mapped]).astype(np.int64)
            mine = mem.mapping[mapped_pfns] == self.id
            shared = np.zeros(len(vpns), dtype=bool)
            shared[mapped] = ~mine
            present = mapped & ~shared
            pfns = mapped_pfns[mine]
            # The common case in bulk: an order-0 folio that nobody has locked,
            # that is not under writeback or in the swap cache and that nobody
            # holds is locked (as folio_lock would), unmapped and freed, one
            # array step each; the others take the steps below one by one.
            with mem.flag_lock:
                quick = (((mem.flags[pfns] & np.uint32(PG.locked | PG.writeback | PG.swapcache))
                          == 0) & (mem.order[pfns] == 0) & (mem.refs[pfns] == 0))
                quick_pfns = pfns[quick]
                mem.flags[quick_pfns] |= np.uint32(PG.locked)
            mem.mapping[quick_pfns] = -1
            mem.free_frames(quick_pfns)
            if len(quick_pfns):
                with mem.flag_lock:  # as folio_unlock would: wake who waits on them
                    mem.wake_flags()
            done = shared.copy()  # another process's frame: only the PTE goes
            done[np.flatnonzero(present)[quick]] = True
            # swap PTEs: their references dropped per cluster (free_swap_and_cache_nr)
            swap = ~mapped
            entries = ptes_to_swp_entries(ptes[swap])
            if len(np.unique(entries)) == len(entries):  # else one by one below
                swap_put_slots(system, entries)
                done |= swap
            self.ptes[vpns[done]] = 0
            for v in vpns[~done]:
                pte = int(self.ptes[v])
                if pte_present(pte):
                    folio = Folio(mem, pte_pfn(pte))
                    folio.lock()
                    folio.wait_writeback()
                    mem.mapping[folio.pfn] = -1
                    if folio.test(PG.swapcache):
                        swap_cache_del_folio(folio)
                    folio.unlock()
                    folio.free()
                else:
                    swap_put_entries(system, pte_to_swp_entry(pte))
                self.ptes[v] = 0
        return len(vpns)
