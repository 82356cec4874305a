"""The swap cache seen from the fault side, and swap readahead (mm/swap_state.c).

:func:`read_swap_cache_async` finds or creates the swap-cache folio for an
entry and, when it created it, charges it to the cgroup that owns the slot,
puts it on that cgroup's inactive list and queues its read in the caller's
batch. :func:`swapin_readahead` builds a batch around a faulting entry:

- window (``swapin_nr_pages_window``): ``hits + 2`` pages; with no hits 1 page,
  or 2 when the fault is next to the previous one; otherwise rounded up to a
  power of two >= 4; capped at the maximum; never below half the previous
  window.
- cluster readahead (physical): the aligned block of ``window`` slots around
  the offset, skipping slot 0 and clamped to the area; the hit counter is
  global and is reset each time it is read.
- VMA readahead (virtual, used when ``vma_ra_enabled`` and no rotational area
  is active): max window ``1 << min(page_cluster, 5)``; hits kept per VMA;
  the window is placed forward, backward or centred and clipped to the VMA
  and to the faulting address's PMD (512 pages); every swap PTE in it is read.

Readahead folios get PG_readahead and count SWAP_RA; a later fault that finds
one counts SWAP_RA_HIT (:func:`swap_update_readahead`). ``page_cluster`` 0
disables readahead.
"""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from ..errors import kerror
from .folio import PG, Folio
from .memcontrol import make_room, mem_cgroup_charge
from .page_io import swap_read_folio, swap_read_submit
from .swap_iocb import SwapIoCtx
from .swapfile import (
    swap_cache_alloc,
    swapcache_clear,
    swapcache_prepare,
)
from .swapops import swp_entry, swp_offset, swp_type
from .vmscan import alloc_folio, try_to_free_pages, wakeup_kswapd
from .vmstat import VmEvent

if TYPE_CHECKING:
    from ..system import System
    from .memory import MmStruct, Vma
    from .swapfile import SwapInfo

#: VMA readahead never looks further than 1 << 5 pages.
SWAP_RA_ORDER_CEILING = 5
#: Pages per PMD (x86-64, 4 KiB pages): VMA readahead stays inside one.
PTRS_PER_PMD = 512
SWAP_RA_HITS_MAX = 0xFF
#: how long a swap-in waits before retrying a slot a bypassing swap-in holds
#: (the kernel's schedule_timeout_uninterruptible(1), scaled down)
BYPASS_BACKOFF_S = 0.0001


def _swapin_folio_alloc(system: System, si: SwapInfo, off: int) -> Folio | None:
    """A new locked, swap-backed order-0 folio for slot ``off`` of ``si``,
    charged to the cgroup that owns the slot; None without memory or room in
    that cgroup."""
    try:
        folio = alloc_folio(system, 0)
    except OSError:
        return None
    memcg = system.memcgs.get(si.swap_cgroup.item(off))
    if memcg is not None and memcg.id:
        try:
            mem_cgroup_charge(folio, memcg)
        except OSError:
            folio.free()
            return None
    # __folio_set_locked, __folio_set_swapbacked: a plain store, no flag lock,
    # on a folio nobody else can see yet
    flags = folio.mem.flags
    flags[folio.pfn] = flags.item(folio.pfn) | PG.locked | PG.swapbacked
    return folio


def _swapin_cache_folio(system: System, si: SwapInfo, entry: int, off: int) -> int:
    """The new swap-cache folio of a swap-in of slot ``off`` of ``si``: the
    policy of the allocation and the charge, then the compiled
    allocate-and-insert (:func:`swap_cache_alloc`). kswapd is woken below
    the low watermark and the slot's cgroup gets room first (try_charge's
    reclaim, at memory.max), then a frame is taken; with none free, direct
    reclaim and one more try. Returns the pfn (a locked folio, on the LRU,
    in the swap cache), -EEXIST when the slot is cached or claimed already,
    -ENOENT when it was freed, -ENOMEM without memory or room."""
    memcg = system.memcgs.get(si.swap_cgroup.item(off))
    memcg_id = memcg.id if memcg is not None else 0
    wakeup_kswapd(system, 1)
    if memcg_id:
        try:
            make_room(memcg, 1)
        except OSError:
            return -errno.ENOMEM
    pfn = swap_cache_alloc(si, off, entry, memcg_id)
    if pfn == -errno.ENOMEM:
        try_to_free_pages(system, 1)
        pfn = swap_cache_alloc(si, off, entry, memcg_id)
    return pfn


def read_swap_cache_async(system: System, entry: int, ctx: SwapIoCtx
                          ) -> tuple[Folio | None, bool]:
    """Return ``(folio, started)`` for ``entry``.

    ``started`` is True when this call allocated the folio, charged it,
    inserted it into the swap cache, put it on the LRU and queued its read in
    ``ctx`` (the read completes when the caller flushes ``ctx``). An existing
    swap-cache folio is returned with ``started`` False. ``(None, False)``
    means no memory (or no room in the owning cgroup), or the entry was freed
    meanwhile.
    """
    return _read_swap_cache(system, system.swap.info_of(entry), entry, swp_offset(entry), ctx)


def _read_swap_cache(system: System, si: SwapInfo, entry: int, off: int, ctx: SwapIoCtx
                     ) -> tuple[Folio | None, bool]:
    """:func:`read_swap_cache_async` for ``entry``, slot ``off`` of ``si``."""
    while True:
        pfn = si.cache.item(off)
        if pfn >= 0:
            return Folio(system.mem, pfn), False
        pfn = _swapin_cache_folio(system, si, entry, off)
        if pfn >= 0:
            folio = Folio(system.mem, pfn)
            swap_read_folio(folio, ctx, si, off)
            return folio, True
        if pfn != -errno.EEXIST:
            return None, False
        if si.cache.item(off) < 0:
            time.sleep(BYPASS_BACKOFF_S)  # claimed by a bypassing swap-in: let it finish


def swapin_sync(system: System, si: SwapInfo, entry: int, off: int) -> Folio | None:
    """The swap-in of a count-1 ``entry`` (slot ``off`` of ``si``) on a
    SWP_SYNCHRONOUS_IO area through the swap cache, as since the swap
    table: :func:`read_swap_cache_async` and the read submitted at once, in
    a batch of its own. Returns the folio (locked until its read ends; not
    uptodate if it failed), or None as read_swap_cache_async does."""
    ctx = SwapIoCtx()
    folio, _ = _read_swap_cache(system, si, entry, off, ctx)
    swap_read_submit(ctx)
    return folio


def swapin_sync_bypass(system: System, entry: int) -> Folio | None:
    """The older swap-in of a count-1 entry on a SWP_SYNCHRONOUS_IO area: the
    slot is claimed (swapcache_prepare), a new folio is charged to the slot's
    cgroup and put on its LRU, and the page is read into it synchronously
    without entering the swap cache. Returns the locked-and-read folio (not
    uptodate on failure) with ``folio.swap`` set, or None without memory or
    when the slot is taken (a folio cached it meanwhile, or another swap-in
    claimed it): the caller then goes through the swap cache. The caller
    releases the claim (swapcache_clear) once the PTE is set."""
    if swapcache_prepare(system, entry):
        return None
    si = system.swap.info_of(entry)
    folio = _swapin_folio_alloc(system, si, swp_offset(entry))
    if folio is None:
        swapcache_clear(system, entry)
        return None
    folio.swap = entry
    system.memcgs[int(system.mem.memcg[folio.pfn])].lruvec.add_folio(folio.pfn)
    ctx = SwapIoCtx()
    swap_read_folio(folio, ctx)
    swap_read_submit(ctx)
    return folio


def swapin_nr_pages_window(prev_offset: int, offset: int, hits: int, max_pages: int,
                      prev_win: int) -> int:
    """The readahead window heuristic (see the module docstring)."""
    pages = hits + 2
    if pages == 2:
        if offset != prev_offset + 1 and offset != prev_offset - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    pages = min(pages, max_pages)
    half = prev_win // 2
    return max(pages, half)




class SwapRaState:
    """Global cluster-readahead state and the knobs (vm.page-cluster, vma_ra_enabled)."""

    def __init__(self) -> None:
        self.page_cluster = 3
        self.vma_ra_enabled = True
        self.hits = 0
        self.prev_offset = 0
        self.last_readahead_pages = 0

    def set_page_cluster(self, value: int) -> None:
        if not 0 <= value <= 31:
            raise kerror(errno.EINVAL, f"vm.page-cluster: {value} outside 0..31")
        self.page_cluster = value

    def swapin_nr_pages(self, offset: int) -> int:
        max_pages = 1 << self.page_cluster
        if max_pages <= 1:
            return 1
        hits, self.hits = self.hits, 0
        pages = swapin_nr_pages_window(self.prev_offset, offset, hits, max_pages,
                                  self.last_readahead_pages)
        if not hits:
            self.prev_offset = offset
        self.last_readahead_pages = pages
        return pages


def swap_use_vma_readahead(system: System) -> bool:
    """VMA readahead when enabled and no active area is rotational (nr_rotate_swap)."""
    if not system.swap_ra.vma_ra_enabled:
        return False
    return all(si.solidstate for si in system.swap.active())


def swap_update_readahead(system: System, folio: Folio, vma: Vma | None, vpn: int) -> None:
    """A fault found ``folio`` in the swap cache: count a readahead hit if it was one."""
    readahead = folio.test_and_clear(PG.readahead)
    ra = system.swap_ra
    vma_ra = vma is not None and swap_use_vma_readahead(system)
    if vma_ra:
        hits = vma.ra_hits
        if readahead:
            hits = min(hits + 1, SWAP_RA_HITS_MAX)
        vma.ra_addr, vma.ra_hits = vpn, hits
    if readahead:
        system.vmstat.count(VmEvent.swap_ra_hit)
        if not vma_ra:
            ra.hits += 1


def _read_around(system: System, entries: list[int], target: int) -> Folio | None:
    """Read every entry of ``entries`` in one batch; return the target's folio."""
    ctx = SwapIoCtx()
    for e in entries:
        if e == target:
            continue
        folio, started = read_swap_cache_async(system, e, ctx)
        if started:
            folio.set(PG.readahead)
            system.vmstat.count(VmEvent.swap_ra)
    folio, _ = read_swap_cache_async(system, target, ctx)
    swap_read_submit(ctx)
    return folio


def swap_cluster_readahead(system: System, entry: int) -> Folio | None:
    """Read the aligned block of slots around ``entry``, then ``entry`` itself."""
    si = system.swap.info_of(entry)
    off = swp_offset(entry)
    mask = system.swap_ra.swapin_nr_pages(off) - 1
    if not mask:
        return _read_around(system, [], entry)
    start = max(off & ~mask, 1)
    end = min(off | mask, si.max - 1)
    t = swp_type(entry)
    return _read_around(system, [swp_entry(t, o) for o in range(start, end + 1)], entry)


def swap_vma_readahead(system: System, mm: MmStruct, vma: Vma, vpn: int) -> Folio | None:
    """Read the swap PTEs of a window of the VMA around ``vpn``, then ``vpn``'s entry."""
    target = mm.swap_entry_at(vpn)
    max_win = 1 << min(system.swap_ra.page_cluster, SWAP_RA_ORDER_CEILING)
    if max_win == 1:
        return _read_around(system, [], target)
    prev, prev_win, hits = vma.ra_addr, vma.ra_win, vma.ra_hits
    win = swapin_nr_pages_window(prev, vpn, hits, max_win, prev_win)
    vma.ra_addr, vma.ra_win, vma.ra_hits = vpn, win, 0
    if win == 1:
        return _read_around(system, [], target)
    if vpn == prev + 1:
        lo, hi = vpn, vpn + win
    elif prev == vpn + 1:
        lo, hi = vpn - win + 1, vpn + 1
    else:
        left = (win - 1) // 2
        lo, hi = vpn - left, vpn + win - left
    pmd = vpn & ~(PTRS_PER_PMD - 1)
    lo = max(lo, vma.start, pmd)
    hi = min(hi, vma.end, pmd + PTRS_PER_PMD)
    entries = [e for e in (mm.swap_entry_at(v) for v in range(lo, hi)) if e]
    return _read_around(system, entries, target)


def swapin_readahead(system: System, mm: MmStruct, vma: Vma, vpn: int) -> Folio | None:
    """Bring in the page at ``vpn`` with VMA or cluster readahead around it."""
    if swap_use_vma_readahead(system):
        return swap_vma_readahead(system, mm, vma, vpn)
    return swap_cluster_readahead(system, mm.swap_entry_at(vpn))
