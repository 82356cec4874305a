"""Reclaim (mm/vmscan.c, the anonymous-memory half).

Rules:
- :func:`shrink_folio_list` is one reclaim pass over a list of folios. It uses
  one :class:`SwapIoCtx` for the whole pass, so pageout of consecutive folios
  builds batches of up to SWAP_CLUSTER_MAX, and flushes it once at the end
  (``swap_write_submit``). A folio is freed once it is clean, off writeback and
  unmapped; a folio whose write failed is dirty again and stays in memory (in
  the swap cache, so the next fault maps it back without I/O).
- :func:`shrink_lruvec` ages one cgroup's lists: when the inactive list is
  low (inactive * ratio < active, ratio = sqrt(10 * GiB) or 1) active folios
  are deactivated; inactive folios are isolated SWAP_CLUSTER_MAX at a time and
  sorted by folio_check_references: young and already PG_referenced ->
  activate; young only -> mark referenced and keep; not young -> reclaim.
- Who reclaims: kswapd (:func:`balance_pgdat`) when free memory falls below
  the low watermark, until it is above high; direct reclaim when an
  allocation finds nothing; cgroup reclaim (:func:`try_to_free_mem_cgroup_pages`)
  at memory.max and for memory.reclaim. Priorities run from DEF_PRIORITY (12)
  down to 0; at priority p a list of n folios is scanned n >> p at a time.
- A cgroup that may not swap is not scanned at all (can_reclaim_anon_pages).
- Unmapping takes the owner's page-table lock with a trylock: a process that
  is faulting (and so holds it) keeps its folio this pass, and two processes
  reclaiming from each other cannot deadlock.
"""

from __future__ import annotations

import errno
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import _native
from ..consts import PAGE_SHIFT, PAGE_SIZE
from ..errors import kerror
from .folio import PG, Folio, folios_set_flags
from .lru import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, Lruvec
from .memcontrol import MemcgEvent
from .page_io import swap_write_submit, swap_writeout
from .swap_iocb import SwapIoCtx
from .swapfile import (
    folio_alloc_swap,
    folios_alloc_swap,
    swap_cache_del_folio,
    swap_cache_del_folios,
    swap_dup_entries,
    swap_dup_slots,
)
from .swapops import swp_entries_to_ptes, swp_entry_to_pte
from .vmstat import VmEvent

if TYPE_CHECKING:
    from ..system import System
    from .memcontrol import MemCgroup
    from .page_alloc import PhysMem

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
#: folio_check_references' verdicts (MemMap.check_references)
FOLIOREF_RECLAIM = _native.FOLIOREF_RECLAIM
FOLIOREF_KEEP = _native.FOLIOREF_KEEP
FOLIOREF_ACTIVATE = _native.FOLIOREF_ACTIVATE


@dataclass
class ScanControl:
    """struct scan_control, the fields this model uses."""

    nr_to_reclaim: int
    kswapd: bool = False
    proactive: bool = False
    priority: int = DEF_PRIORITY
    nr_scanned: int = 0
    nr_reclaimed: int = 0
    #: stop as soon as this says the goal is met (checked between batches)
    done: Callable[[], bool] | None = None


def try_to_unmap_folios(system: System, pfns: np.ndarray) -> np.ndarray:
    """:func:`try_to_unmap` for order-0 swap-cache folios at ``pfns``: a bool
    array of those now unmapped. Each owner's page-table lock is tried once
    for all of its folios; their swap references, PTEs, reverse map and the
    owner's swap-out hook are updated as arrays."""
    mem = system.mem
    owners = mem.mapping[pfns]
    ok = owners < 0
    mapped = owners[~ok]
    if not len(mapped):
        return ok
    # one process, the common case: no np.unique (a list count costs a tenth
    # of min() == max() on a batch)
    ml = mapped.tolist()
    one = ml.count(ml[0]) == len(ml)
    for owner in [ml[0]] if one else np.unique(mapped).tolist():
        mm = system.mms[owner]
        if not mm.ptl.acquire(blocking=False):
            continue
        try:
            # sel: the positions this owner maps (None: all of them, the common case)
            sel = None if one and len(mapped) == len(pfns) else np.flatnonzero(owners == owner)
            mine = pfns if sel is None else pfns[sel]
            entries = mem.swap[mine]
            got = swap_dup_slots(system, entries)
            if not got.all():
                sel = np.flatnonzero(got) if sel is None else sel[got]
                entries = entries[got]
                mine = pfns[sel]
            vpns = mem.index[mine]
            mm.ptes[vpns] = swp_entries_to_ptes(entries)
            mem.mapping[mine] = -1
            mm.swapped_out(vpns, entries)
            if sel is None:
                ok[:] = True
            else:
                ok[sel] = True
        finally:
            mm.ptl.release()
    return ok


def _free_clean_folios(mem: PhysMem, pfns: np.ndarray) -> np.ndarray:
    """:func:`_free_clean` for locked order-0 folios at ``pfns``: those clean,
    off writeback, unmapped and unreferenced leave the swap cache and are
    freed; the others are unlocked (one compiled test, folios_may_free). A
    bool array of the freed."""
    ok = np.empty(len(pfns), dtype=bool)
    with mem.flag_lock:
        nr = mem.map.may_free(pfns, mem.refs, ok)
        if nr < len(pfns):
            mem.wake_flags()
        fl = mem.flags[pfns] if nr else None
    if nr:
        go = pfns[ok] if nr < len(pfns) else pfns
        cached = go[(fl[ok] & np.uint32(PG.swapcache)) != 0]
        if len(cached):
            swap_cache_del_folios(mem, cached)
        mem.free_frames(go)  # a free frame's flags are clear: PG_locked goes too
        with mem.flag_lock:
            mem.wake_flags()
    return ok


def _test_set_folios(mem: PhysMem, pfns: np.ndarray, mask: int, want: int, set_: int = 0,
                     clear: int = 0) -> tuple[np.ndarray, int]:
    """For each folio at ``pfns`` (int64) whose flags & ``mask`` == ``want``:
    set ``set_`` and clear ``clear``, under the flag lock, in one compiled
    step (folios_test_set). A bool array of those, and how many."""
    hit = np.empty(len(pfns), dtype=bool)
    with mem.flag_lock:
        nr = mem.map.test_set(pfns, mask, want, set_, clear, hit)
    return hit, nr


def _trylock_folios(mem: PhysMem, pfns: np.ndarray, busy: int = 0) -> tuple[np.ndarray, int]:
    """folio_trylock of each folio at ``pfns`` (int64), refusing also those
    with a flag of ``busy`` set; a bool array of the locked, and how many."""
    return _test_set_folios(mem, pfns, PG.locked | busy, 0, PG.locked)


def shrink_folios(system: System, pfns: np.ndarray) -> tuple[int, np.ndarray]:
    """Reclaim the folios at ``pfns`` (int64); return (freed, the pfns still
    allocated). Steps per folio, in the kernel's order: trylock (a locked
    folio or one under writeback stays), a swap slot (allocation failure:
    stays), unmap (owner busy: stays), then a dirty folio is written —
    all of them in one :class:`SwapIoCtx`, so the writes form batches of up
    to SWAP_CLUSTER_MAX, flushed once at the end — and a clean one is freed;
    a written folio is freed once its write has completed.

    Order-0 folios go through these steps as array operations over the
    list; a list holding a large folio takes them folio by folio
    (tests/test_batch_core.py: both give the same machine)."""
    mem = system.mem
    pfns = np.ascontiguousarray(pfns, dtype=np.int64)  # the compiled steps take buffers
    n = len(pfns)
    if mem.order[pfns].any():
        return _shrink_each(system, pfns)
    # cand: the positions still going, in order, and cur their pfns; keep:
    # the positions that stay. Each step's count says when all went through,
    # and the arrays of the ones that did not are then not built.
    locked, nr = _trylock_folios(mem, pfns, PG.writeback)
    keep = ~locked
    cand = np.arange(n) if nr == n else np.flatnonzero(locked)
    cur = pfns if nr == n else pfns[cand]
    need, nr = _test_set_folios(mem, cur, PG.swapcache, 0)  # not cached: a slot first
    if nr:
        idx = cand if nr == len(cur) else cand[need]
        got = folios_alloc_swap(mem, cur if nr == len(cur) else pfns[idx])
        if not got.all():
            failed = idx[~got]
            folios_set_flags(mem, pfns[failed], clear=PG.locked)
            keep[failed] = True
            cand = cand[~keep[cand]]
            cur = pfns[cand]
    unmapped = try_to_unmap_folios(system, cur)
    if not unmapped.all():
        busy = cand[~unmapped]
        folios_set_flags(mem, pfns[busy], clear=PG.locked)
        keep[busy] = True
        cand = cand[unmapped]
        cur = pfns[cand]
    dirty, nr = _test_set_folios(mem, cur, PG.dirty, PG.dirty, clear=PG.dirty)  # test_clear_dirty
    freed = 0
    written = cur
    if nr < len(cur):
        clean = cand[~dirty]
        freed_clean = _free_clean_folios(mem, pfns[clean])
        freed = int(np.count_nonzero(freed_clean))
        keep[clean[~freed_clean]] = True
        written = cur[dirty]
    ctx = SwapIoCtx()
    swap_writeout([Folio(mem, p) for p in written.tolist()], ctx)
    swap_write_submit(ctx)
    locked, nr = _trylock_folios(mem, written)
    done = written if nr == len(written) else written[locked]
    freed_written = _free_clean_folios(mem, done)
    nr = int(np.count_nonzero(freed_written))
    kept = [pfns[keep]] if keep.any() else []
    if len(done) < len(written):
        kept.append(written[~locked])
    if nr < len(done):
        kept.append(done[~freed_written])
    return freed + nr, np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)


def _shrink_each(system: System, pfns: np.ndarray) -> tuple[int, np.ndarray]:
    """:func:`shrink_folios` folio by folio (a list with large folios)."""
    ctx = SwapIoCtx()
    written: list[Folio] = []
    kept: list[int] = []
    freed = 0
    for pfn in pfns.tolist():
        folio = Folio(system.mem, pfn)
        if not folio.trylock():
            kept.append(pfn)
            continue
        if folio.test(PG.writeback):
            folio.unlock()
            kept.append(pfn)
            continue
        if not folio.test(PG.swapcache) and folio_alloc_swap(folio):
            folio.unlock()
            kept.append(pfn)
            continue
        if not try_to_unmap(system, folio):
            folio.unlock()
            kept.append(pfn)
            continue
        if folio.test_and_clear(PG.dirty):
            written.append(folio)  # pageout: written below, in this order
        elif _free_clean(folio):
            freed += 1
        else:
            kept.append(pfn)
    swap_writeout(written, ctx)
    swap_write_submit(ctx)
    for folio in written:
        if folio.trylock() and _free_clean(folio):
            freed += 1
        else:
            kept.append(folio.pfn)
    return freed, np.array(kept, dtype=np.int64)


def try_to_unmap(system: System, folio: Folio) -> bool:
    """Replace the folio's PTE with its swap entry (taking a swap reference).

    False when the owner's page-table lock is busy or the reference cannot be
    taken; the folio then stays mapped. (One folio of any order: its one PTE
    maps the head. :func:`try_to_unmap_folios` is the array form.)
    """
    mem = system.mem
    owner = int(mem.mapping[folio.pfn])
    if owner < 0:
        return True
    mm = system.mms[owner]
    if not mm.ptl.acquire(blocking=False):
        return False
    try:
        vpn = int(mem.index[folio.pfn])
        if swap_dup_entries(system, folio.swap):
            return False
        mm.ptes[vpn] = swp_entry_to_pte(folio.swap)
        mem.mapping[folio.pfn] = -1
        mm.swapped_out(np.array([vpn]), np.array([folio.swap], dtype=np.uint64))
    finally:
        mm.ptl.release()
    return True


def _free_clean(folio: Folio) -> bool:
    """__remove_mapping + free: drop a clean, unmapped swap-cache folio (locked;
    any order: :func:`_free_clean_folios` is the array form)."""
    mem = folio.mem
    if (folio.test(PG.dirty) or folio.test(PG.writeback) or mem.mapping[folio.pfn] >= 0
            or mem.refs[folio.pfn]):
        folio.unlock()
        return False
    if folio.test(PG.swapcache):
        swap_cache_del_folio(folio)
    folio.unlock()
    folio.free()
    return True


def shrink_folio_list(system: System, folios: list[Folio]) -> int:
    """Reclaim ``folios`` (anonymous); return how many were freed.

    Folios that stay keep whatever LRU state they had."""
    if not folios:
        return 0
    return shrink_folios(system, np.fromiter((f.pfn for f in folios), dtype=np.int64,
                                             count=len(folios)))[0]


def inactive_is_low(lv: Lruvec) -> bool:
    """inactive_is_low for the anon lists: inactive * sqrt(10 * GiB) < active."""
    inactive, active = lv.nr_inactive, lv.nr_active
    gb = (inactive + active) >> (30 - PAGE_SHIFT)
    ratio = math.isqrt(10 * gb) if gb else 1
    return inactive * ratio < active


def shrink_active_list(system: System, lv: Lruvec, nr_to_scan: int) -> None:
    """Deactivate up to ``nr_to_scan`` active folios (anon folios always move)."""
    mem = system.mem
    pfns = lv.isolate(LRU_ACTIVE_ANON, nr_to_scan)
    if not len(pfns):
        return
    with mem.flag_lock:
        mem.flags[pfns] &= ~np.uint32(PG.young | PG.active)
        mem.flags[pfns] |= np.uint32(PG.workingset)
    system.memcg_stats.count(lv.memcg_id, MemcgEvent.pgdeactivate, len(pfns))
    lv.add(pfns, active=False)


def shrink_inactive_list(system: System, lv: Lruvec, nr_to_scan: int, sc: ScanControl) -> int:
    """Isolate up to ``nr_to_scan`` inactive folios and reclaim the unreferenced ones."""
    mem = system.mem
    pfns = lv.isolate(LRU_INACTIVE_ANON, nr_to_scan)
    n = len(pfns)
    if not n:
        return 0
    sc.nr_scanned += n
    ref = np.empty(n, dtype=np.uint8)
    with mem.flag_lock:  # folio_check_references, for all at once
        nr_reclaim = mem.map.check_references(pfns, ref)
    activate = ref == FOLIOREF_ACTIVATE
    if nr_reclaim < n:
        lv.add(pfns[activate], active=True)
        lv.add(pfns[ref == FOLIOREF_KEEP], active=False)
    freed, kp = shrink_folios(system, pfns[ref == FOLIOREF_RECLAIM] if nr_reclaim < n else pfns)
    if len(kp):
        # a folio whose write failed is dirty again: activate it, as pageout's
        # AOP_WRITEPAGE_ACTIVATE does; the rest go back to the inactive list
        kp = kp[(mem.flags[kp] & np.uint32(PG.lru)) == 0]
        dirty = (mem.flags[kp] & np.uint32(PG.dirty)) != 0
        lv.add(kp[dirty], active=True)
        lv.add(kp[~dirty], active=False)
    nact = int(np.count_nonzero(activate))
    stats = system.memcg_stats
    stats.count(lv.memcg_id, MemcgEvent.pgscan, n)
    stats.count(lv.memcg_id, MemcgEvent.pgsteal, freed)
    if nact:
        stats.count(lv.memcg_id, MemcgEvent.pgactivate, nact)
    vm = system.vmstat
    vm.count(VmEvent.pgscan_kswapd if sc.kswapd else VmEvent.pgscan_direct, n)
    vm.count(VmEvent.pgsteal_kswapd if sc.kswapd else VmEvent.pgsteal_direct, freed)
    sc.nr_reclaimed += freed
    return freed


def shrink_lruvec(system: System, memcg: MemCgroup, sc: ScanControl) -> None:
    """Scan one cgroup's lists at ``sc.priority`` (get_scan_count for anon only)."""
    if not memcg.may_swap():
        return
    lv = memcg.lruvec
    size = lv.nr_inactive + lv.nr_active
    nr = size >> sc.priority
    while nr > 0:
        if inactive_is_low(lv):
            shrink_active_list(system, lv, SWAP_CLUSTER_MAX)
        batch = min(nr, SWAP_CLUSTER_MAX)
        nr -= batch
        shrink_inactive_list(system, lv, batch, sc)
        if sc.done is not None and sc.done():
            break


def _do_reclaim(system: System, memcgs: list[MemCgroup], sc: ScanControl,
                done: Callable[[], bool]) -> int:
    """do_try_to_free_pages: raise the pressure until ``done()`` or priority 0."""
    sc.done = done
    zswap = system.zswap
    for prio in range(DEF_PRIORITY, -1, -1):
        sc.priority = prio
        for cg in memcgs:
            shrink_lruvec(system, cg, sc)
            if done():
                return sc.nr_reclaimed
            # shrink_slab: the zswap shrinker of this cgroup. It counts its
            # entries scaled by compressed/stored, i.e. the pages the
            # compressed data takes, and is asked for that >> priority.
            nr = -(-cg.zswap_bytes // PAGE_SIZE) >> prio if zswap is not None else 0
            if nr:
                zswap.shrinker_scan(cg, nr)
                if done():
                    return sc.nr_reclaimed
    return sc.nr_reclaimed


def try_to_free_mem_cgroup_pages(memcg: MemCgroup, nr_pages: int, *,
                                 proactive: bool = False) -> int:
    """Reclaim at least ``nr_pages`` (at least SWAP_CLUSTER_MAX) from one cgroup."""
    sc = ScanControl(nr_to_reclaim=max(nr_pages, SWAP_CLUSTER_MAX), proactive=proactive)
    return _do_reclaim(memcg.system, [memcg], sc,
                       lambda: sc.nr_reclaimed >= sc.nr_to_reclaim)


def balance_pgdat(system: System) -> int:
    """kswapd: reclaim from every cgroup until free memory is above the high watermark."""
    mem = system.mem
    high = system.watermark["high"]
    if mem.nr_free >= high:
        return 0
    sc = ScanControl(nr_to_reclaim=high - mem.nr_free, kswapd=True)
    return _do_reclaim(system, system.memcg_list(), sc, lambda: mem.nr_free >= high)


def try_to_free_pages(system: System, nr_pages: int) -> int:
    """Direct reclaim when an allocation found no free frame."""
    sc = ScanControl(nr_to_reclaim=max(nr_pages, SWAP_CLUSTER_MAX))
    return _do_reclaim(system, system.memcg_list(), sc,
                       lambda: sc.nr_reclaimed >= sc.nr_to_reclaim)


def wakeup_kswapd(system: System, nr: int) -> None:
    """Wake kswapd (run balance_pgdat) when taking ``nr`` more frames would
    leave free memory below the low watermark."""
    if system.mem.nr_free - nr < system.watermark["low"] and system.kswapd_enabled:
        balance_pgdat(system)


def alloc_folio(system: System, order: int = 0) -> Folio:
    """Allocate a folio the way an anonymous fault does: wake kswapd below the
    low watermark, reclaim directly when nothing is free, ENOMEM when even
    that fails (the kernel would OOM-kill)."""
    mem = system.mem
    wakeup_kswapd(system, 1 << order)
    folio = Folio.alloc(mem, order)
    if folio is None:
        try_to_free_pages(system, 1 << order)
        folio = Folio.alloc(mem, order)
    if folio is None:
        raise kerror(errno.ENOMEM, f"out of memory: no free frame of order {order} "
                     f"({mem.nr_free} of {mem.nr_frames} free) after reclaim")
    return folio
