"""Address spaces and faults (mm/memory.c, reduced to anonymous memory).

An :class:`MmStruct` is one process's anonymous memory: a flat array of PTEs,
one per virtual page. A PTE is 0 (never touched), present
(``pfn << 1 | 1``), or a swap PTE (``entry << 1``). Frames record their
owner in the reverse map (``mem.mapping`` = mm id, ``mem.index`` = virtual
page), which reclaim uses to unmap them.

Faults: a never-touched page gets a zeroed frame; a swap PTE goes through
:func:`do_swap_page` (swap cache, then a read through the area's ops). A read
that fails leaves the PTE as it was and raises EIO naming the page.
"""

from __future__ import annotations

import errno
import threading
from typing import TYPE_CHECKING

import numpy as np

from ..errors import kerror
from .folio import PG, Folio
from .page_io import SwapIoCtx, swap_read_submit
from .swap_state import read_swap_cache_async
from .swapfile import folio_free_swap, swap_cache_del_folio, swap_put_entries
from .swapops import SWP_TYPE_SHIFT
from .vmstat import VmEvent

if TYPE_CHECKING:
    from ..system import System

PTE_PRESENT = np.uint64(1)
#: How many swap PTEs swapoff reads in one go.
UNUSE_CHUNK = 1024


def pte_present(pte: int) -> bool:
    return bool(pte & 1)


def pte_swap_entry(pte: int) -> int:
    return int(pte) >> 1


def vm_swap_full(system: System) -> bool:
    """More than half of all swap is in use."""
    st = system.swap
    return st.nr_swap_pages * 2 < st.total_swap_pages


class MmStruct:
    """One process's anonymous memory of ``nr_pages`` virtual pages."""

    def __init__(self, system: System, mm_id: int, nr_pages: int) -> None:
        self.system = system
        self.id = mm_id
        self.nr_pages = nr_pages
        self.ptes = np.zeros(nr_pages, dtype=np.uint64)
        self.ptl = threading.RLock()

    def __repr__(self) -> str:
        return f"MmStruct(id={self.id}, pages={self.nr_pages})"

    # --- mapping ------------------------------------------------------------------------
    def _check(self, vpn: int) -> None:
        if not 0 <= vpn < self.nr_pages:
            raise kerror(errno.EFAULT, f"mm {self.id}: page {vpn} outside 0..{self.nr_pages - 1}")

    def _map(self, vpn: int, folio: Folio) -> None:
        self.ptes[vpn] = (np.uint64(folio.pfn) << np.uint64(1)) | PTE_PRESENT
        self.system.mem.mapping[folio.pfn] = self.id
        self.system.mem.index[folio.pfn] = vpn

    def folio_at(self, vpn: int) -> Folio | None:
        """The folio mapped at ``vpn``, or None if not present."""
        pte = int(self.ptes[vpn])
        return Folio(self.system.mem, pte >> 1) if pte & 1 else None

    def resident(self) -> int:
        return int(np.count_nonzero(self.ptes & PTE_PRESENT))

    # --- faults -------------------------------------------------------------------------
    def fault(self, vpn: int, write: bool = False) -> Folio:
        """handle_mm_fault: make ``vpn`` present and return its (unlocked) folio."""
        self._check(vpn)
        system = self.system
        with self.ptl:
            pte = int(self.ptes[vpn])
            if pte & 1:
                folio = Folio(system.mem, pte >> 1)
                folio.set(PG.referenced)
                return folio
            system.vmstat.count(VmEvent.pgfault)
            if pte == 0:
                folio = Folio.alloc(system.mem, 0)
                if folio is None:
                    raise kerror(errno.ENOMEM, f"mm {self.id}: out of memory at page {vpn}")
                folio.data[:] = 0
                folio.set(PG.uptodate | PG.swapbacked | PG.dirty)
                self._map(vpn, folio)
                return folio
            return self.do_swap_page(vpn, pte_swap_entry(pte), write)

    def do_swap_page(self, vpn: int, entry: int, write: bool) -> Folio:
        """Bring the page of swap ``entry`` back and map it at ``vpn``. Caller holds ptl."""
        system = self.system
        si = system.swap.info_of(entry)
        ctx = SwapIoCtx()
        folio, started = read_swap_cache_async(system, entry, ctx)
        if folio is None:
            raise kerror(errno.ENOMEM, f"mm {self.id}: no memory to swap in page {vpn}")
        swap_read_submit(ctx)
        if started:
            system.vmstat.count(VmEvent.pgmajfault)
        folio.lock()
        if not folio.test(PG.uptodate):
            swap_cache_del_folio(folio)
            folio.unlock()
            folio.free()
            raise kerror(errno.EIO, f"mm {self.id}: swap-in of page {vpn} from {si.name} "
                         f"offset {entry & ((1 << SWP_TYPE_SHIFT) - 1)} failed; page "
                         "stays on swap")
        folio.clear(PG.readahead)
        self._map(vpn, folio)
        swap_put_entries(system, entry)
        if si.synchronous_io or write or vm_swap_full(system):
            folio_free_swap(folio)
        if write:
            folio.set(PG.dirty)
        folio.unlock()
        return folio

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

    def read(self, vpn: int) -> bytes:
        """The contents of ``vpn`` (faulting it in)."""
        with self.ptl:
            return self.fault(vpn).data.tobytes()

    def pageout(self, lo: int = 0, hi: int | None = None) -> int:
        """MADV_PAGEOUT over [lo, hi): reclaim every present page; return pages freed."""
        from .vmscan import shrink_folio_list

        hi = self.nr_pages if hi is None else hi
        with self.ptl:
            vpns = np.flatnonzero(self.ptes[lo:hi] & PTE_PRESENT) + lo
            folios = [Folio(self.system.mem, int(self.ptes[v]) >> 1) for v in vpns]
            return shrink_folio_list(self.system, folios)

    # --- swapoff ------------------------------------------------------------------------
    def unuse(self, type_: int) -> int:
        """Swap in every page of this mm that lives on area ``type_``; 0 or -errno."""
        system = self.system
        with self.ptl:
            ptes = self.ptes
            swap = (ptes & PTE_PRESENT) == 0
            swap &= ptes != 0
            swap &= (ptes >> np.uint64(SWP_TYPE_SHIFT + 1)) == type_
            vpns = np.flatnonzero(swap)
            for lo in range(0, len(vpns), UNUSE_CHUNK):
                chunk = vpns[lo : lo + UNUSE_CHUNK]
                ctx = SwapIoCtx()
                got = []
                for v in chunk:
                    entry = pte_swap_entry(int(ptes[v]))
                    folio, _ = read_swap_cache_async(system, entry, ctx)
                    if folio is None:
                        swap_read_submit(ctx)
                        return -errno.ENOMEM
                    got.append((int(v), entry, folio))
                swap_read_submit(ctx)
                for v, entry, folio in got:
                    folio.lock()
                    if not folio.test(PG.uptodate):
                        swap_cache_del_folio(folio)
                        folio.unlock()
                        folio.free()
                        return -errno.EIO
                    self._map(v, folio)
                    swap_put_entries(system, entry)
                    folio_free_swap(folio)
                    folio.unlock()
        return 0

    def release(self) -> None:
        """exit_mmap: free every frame and drop every swap reference."""
        system = self.system
        with self.ptl:
            for v in np.flatnonzero(self.ptes):
                pte = int(self.ptes[v])
                if pte & 1:
                    folio = Folio(system.mem, pte >> 1)
                    folio.lock()
                    folio.wait_writeback()
                    system.mem.mapping[folio.pfn] = -1
                    if folio.test(PG.swapcache):
                        swap_cache_del_folio(folio)
                    folio.unlock()
                    folio.free()
                else:
                    swap_put_entries(system, pte_swap_entry(pte))
                self.ptes[v] = 0
