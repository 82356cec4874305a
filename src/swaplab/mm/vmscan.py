"""Reclaim (mm/vmscan.c, the part that pushes anonymous folios to swap).

:func:`shrink_folio_list` is one reclaim pass over a list of folios. It uses
one :class:`SwapIoCtx` for the whole pass, so pageout of consecutive folios
builds batches, and flushes it once at the end (``swap_write_submit``). A
folio is freed once it is clean, off writeback and unmapped; a folio whose
write failed is dirty again and stays in memory (in the swap cache, so the
next fault maps it back without I/O).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

from .folio import PG, Folio
from .page_io import SwapIoCtx, swap_write_submit, swap_writeout_folios
from .swapfile import folio_alloc_swap, swap_cache_del_folio, swap_dup_entries

if TYPE_CHECKING:
    from ..system import System


def try_to_unmap(system: System, folio: Folio) -> bool:
    """Replace the folio's PTE with its swap entry (taking a swap reference)."""
    mem = system.mem
    owner = int(mem.mapping[folio.pfn])
    if owner < 0:
        return True
    mm = system.mms[owner]
    vpn = int(mem.index[folio.pfn])
    if swap_dup_entries(system, folio.swap):
        return False
    mm.ptes[vpn] = folio.swap << 1
    mem.mapping[folio.pfn] = -1
    return True


def _free_clean(folio: Folio) -> bool:
    """__remove_mapping + free: drop a clean, unmapped swap-cache folio (locked)."""
    mem = folio.mem
    if (folio.test(PG.dirty) or folio.test(PG.writeback) or mem.mapping[folio.pfn] >= 0):
        folio.unlock()
        return False
    if folio.test(PG.swapcache):
        swap_cache_del_folio(folio)
    folio.unlock()
    folio.free()
    return True


def shrink_folio_list(system: System, folios: list[Folio]) -> int:
    """Reclaim ``folios`` (anonymous, order 0); return how many were freed."""
    ctx = SwapIoCtx()
    written: list[Folio] = []
    freed = 0
    for folio in folios:
        if not folio.trylock():
            continue
        if folio.test(PG.writeback):
            folio.unlock()
            continue
        if not folio.test(PG.swapcache) and folio_alloc_swap(folio):
            folio.unlock()
            continue
        owner = int(folio.mem.mapping[folio.pfn])
        with system.mms[owner].ptl if owner >= 0 else nullcontext():
            if not try_to_unmap(system, folio):
                folio.unlock()
                continue
        if folio.test_and_clear(PG.dirty):
            written.append(folio)  # pageout: written below, in this order
        else:
            freed += _free_clean(folio)
    swap_writeout_folios(written, ctx)
    swap_write_submit(ctx)
    for folio in written:
        if folio.trylock():
            freed += _free_clean(folio)
    return freed

