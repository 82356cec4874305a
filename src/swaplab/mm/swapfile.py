"""Swap areas: swapon/swapoff, the cluster slot allocator, entry counts, the
swap cache table, and swap_range_free with its notify hook (mm/swapfile.c).

Per-slot state is three arrays indexed by offset (no Python object per slot):

=============  ==============================================================
``swap_map``   uint16 reference count (PTEs and other holders); ``SWAP_MAP_BAD``
               marks the header, bad pages and the unusable tail
``cache``      int64 head pfn of the swap-cache folio holding the slot, or -1
               (the swap table's PFN entries)
``zeromap``    bool: the slot's page was all zeroes (no I/O was done)
=============  ==============================================================

A slot is *allocated* while its count is above zero or a swap-cache folio
holds it; when both drop it is freed through :func:`swap_range_free`, which
runs, under the cluster lock and in this order: the zswap invalidate hook for
every offset, then the area's ops' ``slot_free_notify`` for every offset
(whichever table the area runs on; bio-per-page's passes it to the block
device's ``swap_slot_free_notify``), then the free-page counters.

Clusters of 512 slots sit on exactly one list: ``free_clusters``,
``nonfull_clusters[order]``, ``frag_clusters[order]`` or ``full_clusters``
(lists linked through arrays, as swap_cluster_info's list_head: the
compiled ``SwapClusters``, mm/swap_cluster.c; moves go to the tail). A
cluster serves one allocation order at a time;
a ``2**order`` allocation is aligned to its size. Order of attempts, as in
cluster_alloc_swap_entry: the remembered next offset for the order, the
nonfull list, a free cluster, the frag list, and for order 0 any cluster of
another order with room.
"""

from __future__ import annotations

import bisect
import errno
import logging
import os
import stat
import threading
from enum import IntFlag
from typing import TYPE_CHECKING

import numpy as np

from .. import _native
from ..block.blkdev import BlkFeat, BlockDevice
from ..block.filedisk import open_direct, read_page_aligned
from ..consts import PAGE_SHIFT, PAGE_SIZE, SWAP_NR_ORDERS, SWAPFILE_CLUSTER
from ..errors import kerror
from .fiemap import file_extents
from .folio import PG, Folio
from .page_io import CORE_OPS, swap_bdev_ops, swap_fs_ops
from .swap_header import parse_swap_header
from .swap_iocb import SwapOps
from .swapops import (
    SWP_TYPE_SHIFT,
    swp_entry,
    swp_offset,
    swp_offsets,
    swp_type,
    swp_types,
)
from .vmstat import NR_SWAPCACHE, MthpStat, VmEvent
from .vswap_table import VT

if TYPE_CHECKING:
    from ..system import System
    from .memcontrol import MemCgroup
    from .page_alloc import PhysMem
    from .vswap import VirtualSwap


class SWP(IntFlag):
    """swap_info_struct.flags (exact kernel values)."""

    USED = 1 << 0
    WRITEOK = 1 << 1
    DISCARDABLE = 1 << 2
    DISCARDING = 1 << 3
    SOLIDSTATE = 1 << 4
    BLKDEV = 1 << 6
    ACTIVATED = 1 << 7
    FS_OPS = 1 << 8
    AREA_DISCARD = 1 << 9
    PAGE_DISCARD = 1 << 10
    STABLE_WRITES = 1 << 11
    SYNCHRONOUS_IO = 1 << 12
    HIBERNATION = 1 << 13


SWAP_FLAG_PREFER = 0x8000
SWAP_FLAG_PRIO_MASK = 0x7FFF
SWAP_FLAG_PRIO_SHIFT = 0
SWAP_FLAG_DISCARD = 0x10000
SWAP_FLAG_DISCARD_ONCE = 0x20000
SWAP_FLAG_DISCARD_PAGES = 0x40000
SWAP_FLAGS_VALID = (SWAP_FLAG_PRIO_MASK | SWAP_FLAG_PREFER | SWAP_FLAG_DISCARD
                    | SWAP_FLAG_DISCARD_ONCE | SWAP_FLAG_DISCARD_PAGES)
DEF_SWAP_PRIO = -1

SWAP_MAP_BAD = 0xFFFF
SWAP_MAP_MAX = 0xFFFE

CLUSTER_FLAG_NONE = 0
CLUSTER_FLAG_FREE = 1
CLUSTER_FLAG_NONFULL = 2
CLUSTER_FLAG_FRAG = 3
CLUSTER_FLAG_FULL = 4
#: the cluster lists' numbers in SwapClusters (first, members)
CLUSTER_LIST_FREE = 0
CLUSTER_LIST_FULL = 1
CLUSTER_LIST_NONFULL = 2  # + order
CLUSTER_LIST_FRAG = CLUSTER_LIST_NONFULL + SWAP_NR_ORDERS  # + order

log = logging.getLogger(__name__)


class SwapInfo:
    """One active swap area (``struct swap_info_struct``); index ``type``."""

    def __init__(self, system: System, type_: int) -> None:
        self.system = system
        self.type = type_
        self.flags = SWP.USED
        self.prio = DEF_SWAP_PRIO
        self.max = 0
        self.pages = 0
        self.inuse_pages = 0
        self.ops: SwapOps | None = None
        self.private_data: object = None
        self.bdev: BlockDevice | None = None
        self.swap_file: str | None = None
        self.swap_fd = -1
        self._file_key: tuple[int, int] | None = None
        #: the ops table the caller of swapon chose (None: the device's or the default)
        self.requested_ops: SwapOps | None = None
        #: (start_page, nr_pages, start_block) per extent, sorted by start_page.
        self.extents: list[tuple[int, int, int]] = []
        self._extent_starts: list[int] = []
        self.lock = threading.RLock()
        self.io_lock = threading.Lock()
        self.io_idle = threading.Condition(self.io_lock)
        #: swapoffs waiting for ``inflight`` to reach 0 (under ``io_lock``)
        self.io_waiters = 0
        self.inflight = 0
        #: ns the backend held this area's batches, from submit_write /
        #: submit_read to swap_write_end / swap_read_end, summed, by direction
        #: (``[READ]``, ``[WRITE]``; under ``io_lock``): what the bench splits a
        #: fault's time by
        self.backend_ns = [0, 0]
        #: the virtual swap layer whose ghost area this is (mm/vswap.py); None
        #: for an area with storage of its own
        self.vswap: VirtualSwap | None = None

    # --- shape --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.bdev.path if self.bdev is not None else str(self.swap_file)

    @property
    def synchronous_io(self) -> bool:
        return self._sync_io

    @property
    def flags(self) -> SWP:
        return self._flags

    @flags.setter
    def flags(self, value: SWP) -> None:
        self._flags = value
        # read on every I/O, slot allocation and free: an IntFlag ``&`` costs
        # ~0.9 us (enum.Flag builds the result in Python), a bool a few ns
        self._sync_io = bool(value & SWP.SYNCHRONOUS_IO)
        self.writeok = bool(value & SWP.WRITEOK)
        self._page_discard = bool(value & SWP.PAGE_DISCARD)
        self.solidstate = bool(value & SWP.SOLIDSTATE)

    @property
    def nr_clusters(self) -> int:
        return -(-self.max // SWAPFILE_CLUSTER)

    def __repr__(self) -> str:
        return (f"SwapInfo(type={self.type} {self.name} prio={self.prio} "
                f"pages={self.pages} inuse={self.inuse_pages} ops={self.ops and self.ops.name})")

    def _setup_tables(self, maxpages: int, badpages: tuple[int, ...]) -> None:
        self.max = maxpages
        ncl = self.nr_clusters
        size = ncl * SWAPFILE_CLUSTER
        self.swap_map = np.zeros(size, dtype=np.uint16)
        self.cache = np.full(size, -1, dtype=np.int64)
        self.zeromap = np.zeros(size, dtype=bool)
        #: the cgroup each slot is charged to (swap_cgroup)
        self.swap_cgroup = np.zeros(size, dtype=np.int32)
        #: swap_map and cache as the compiled steps take them (mm/swap_table.c):
        #: references, the swap cache, the end of a swap-in fault
        self.table = _native.SwapTable(self.swap_map, self.cache)
        self.swap_map[0] = SWAP_MAP_BAD
        for b in badpages:
            self.swap_map[b] = SWAP_MAP_BAD
        self.swap_map[maxpages:] = SWAP_MAP_BAD
        self.pages = maxpages - int(np.count_nonzero(self.swap_map[:maxpages] == SWAP_MAP_BAD))
        counts = np.count_nonzero(self.swap_map.reshape(ncl, SWAPFILE_CLUSTER) == SWAP_MAP_BAD,
                                  axis=1)
        self.cluster_count = counts.astype(np.int32)
        self.cluster_flags = np.zeros(ncl, dtype=np.uint8)
        self.cluster_order = np.zeros(ncl, dtype=np.uint8)
        #: the lists through the clusters (next, prev) and their ends (first, last)
        self.cluster_links = np.zeros(2 * ncl, dtype=np.int32)
        self.cluster_heads = np.zeros(2 * _native.CLUSTER_NR_LISTS, dtype=np.int32)
        self.clusters = _native.SwapClusters(self.cluster_count, self.cluster_flags,
                                             self.cluster_order, self.cluster_links,
                                             self.cluster_heads)
        self.cluster_locks = [threading.Lock() for _ in range(ncl)]
        self.next_offset = [0] * SWAP_NR_ORDERS
        for c in range(ncl):
            if counts[c] == 0:
                self._move(c, CLUSTER_FLAG_FREE)
            elif counts[c] == SWAPFILE_CLUSTER:
                self._move(c, CLUSTER_FLAG_FULL)
            else:
                self._move(c, CLUSTER_FLAG_NONFULL)

    def set_extents(self, extents: list[tuple[int, int, int]]) -> None:
        self.extents = sorted(extents)
        self._extent_starts = [e[0] for e in self.extents]

    def offset_to_block(self, offset: int) -> int:
        """Page number on the device of swap page ``offset`` (through the extent map)."""
        exts = self.extents
        if len(exts) == 1:
            return exts[0][2] + offset - exts[0][0]
        i = bisect.bisect_right(self._extent_starts, offset) - 1
        start_page, _, start_block = exts[i]
        return start_block + (offset - start_page)

    # --- in-flight batches (swapoff waits for them) -------------------------------------
    # io_lock as acquire / try / finally release, not ``with``: every batch
    # (see VmStat); it is io_idle's own lock
    def io_begin(self) -> None:
        self.io_lock.acquire()
        try:
            self.inflight += 1
        finally:
            self.io_lock.release()

    def io_end(self) -> None:
        self.io_lock.acquire()
        try:
            self.inflight -= 1
            if self.inflight == 0 and self.io_waiters:
                self.io_idle.notify_all()
        finally:
            self.io_lock.release()

    # --- cluster lists (caller holds self.lock) -----------------------------------------
    @property
    def free_clusters(self) -> list[int]:
        """The free list, first to last (a copy)."""
        return self.clusters.members(CLUSTER_LIST_FREE)

    @property
    def full_clusters(self) -> list[int]:
        return self.clusters.members(CLUSTER_LIST_FULL)

    @property
    def nonfull_clusters(self) -> list[list[int]]:
        """Per order, its nonfull list (copies)."""
        return [self.clusters.members(CLUSTER_LIST_NONFULL + o) for o in range(SWAP_NR_ORDERS)]

    @property
    def frag_clusters(self) -> list[list[int]]:
        return [self.clusters.members(CLUSTER_LIST_FRAG + o) for o in range(SWAP_NR_ORDERS)]

    def _move(self, c: int, flag: int) -> None:
        self.clusters.move(c, flag)

    def _relocate(self, c: int) -> None:
        """Put cluster ``c`` on the list its count says (after alloc or free)."""
        if self.clusters.relocate(c) and self._page_discard:
            self._discard_cluster(c)

    def _discard_cluster(self, c: int) -> None:
        if self.bdev is None or not self.bdev.max_discard_sectors:
            return
        lo = max(1, c * SWAPFILE_CLUSTER)
        hi = min(self.max, (c + 1) * SWAPFILE_CLUSTER)
        if hi > lo:
            blk = self.offset_to_block(lo)
            self.bdev.discard(blk << PAGE_SHIFT, (hi - lo) << PAGE_SHIFT)

    # --- slot scanning ------------------------------------------------------------------
    def _free_mask(self, lo: int, hi: int) -> np.ndarray:
        return (self.swap_map[lo:hi] == 0) & (self.cache[lo:hi] < 0)

    def _scan_cluster(self, c: int, order: int, start: int | None) -> int:
        """First free aligned run of ``2**order`` slots in cluster ``c`` (from ``start``,
        then from the cluster's first slot); -1. Compiled (swap_find_free)."""
        lo = c * SWAPFILE_CLUSTER
        return self.table.find_free(lo, lo + SWAPFILE_CLUSTER, order,
                                    lo if start is None else start)

    def _take(self, c: int, order: int, start: int | None, folio_pfn: int,
              count: int = 0) -> int:
        """Try to allocate in cluster ``c`` under its lock; return the offset or -1.
        The slots are cached by ``folio_pfn``, or (``count``) referenced ``count``
        times with no folio."""
        n = 1 << order
        with self.cluster_locks[c]:
            off = self._scan_cluster(c, order, start)
            if off < 0:
                return -1
            self.cache[off : off + n] = folio_pfn
            if count:
                self.swap_map[off : off + n] = count
            with self.lock:
                self.cluster_count[c] += n
                if self.cluster_flags[c] == CLUSTER_FLAG_FREE:
                    self.cluster_order[c] = order
                    self._move(c, CLUSTER_FLAG_NONFULL)
                self._relocate(c)
                # the hint never leaves the cluster (cleared when it is used up)
                nxt = off + n
                self.next_offset[order] = 0 if nxt % SWAPFILE_CLUSTER == 0 else nxt
        return off

    def cluster_alloc_swap_entry(self, order: int, folio_pfn: int, count: int = 0) -> int:
        """Allocate ``2**order`` aligned slots for ``folio_pfn`` (or, ``count``,
        referenced that many times with no folio); the offset or -1."""
        hint = self.next_offset[order]
        if hint and hint < self.max:
            c = hint // SWAPFILE_CLUSTER
            if (self.cluster_flags[c] not in (CLUSTER_FLAG_FULL, CLUSTER_FLAG_FREE)
                    and self.cluster_order[c] == order):
                off = self._take(c, order, hint, folio_pfn, count)
                if off >= 0:
                    return off
        clusters = self.clusters
        while True:  # the list's first cluster each time
            with self.lock:
                c = clusters.first(CLUSTER_LIST_NONFULL + order)
            if c < 0:
                break
            off = self._take(c, order, None, folio_pfn, count)
            if off >= 0:
                return off
            with self.lock:  # none free after all: it leaves the list
                if (self.cluster_flags[c] == CLUSTER_FLAG_NONFULL
                        and self.cluster_order[c] == order):
                    self._move(c, CLUSTER_FLAG_FRAG)
        while True:
            with self.lock:
                c = clusters.first(CLUSTER_LIST_FREE)
                if c < 0:
                    break
                self.cluster_order[c] = order  # (a free cluster's list ignores its order)
                self._move(c, CLUSTER_FLAG_NONFULL)
            off = self._take(c, order, None, folio_pfn, count)
            if off >= 0:
                return off
        with self.lock:
            candidates = clusters.members(CLUSTER_LIST_FRAG + order)
        for c in candidates:
            off = self._take(c, order, None, folio_pfn, count)
            if off >= 0:
                return off
        if order == 0:
            with self.lock:
                candidates = [c for o in range(1, SWAP_NR_ORDERS)
                              for lst in (CLUSTER_LIST_FRAG + o, CLUSTER_LIST_NONFULL + o)
                              for c in clusters.members(lst)]
            for c in candidates:
                off = self._take(c, 0, None, folio_pfn, count)
                if off >= 0:
                    return off
        return -1

    # --- freeing ------------------------------------------------------------------------
    def _free_unused(self, off: int, nr: int) -> None:
        """Free the slots of [off, off+nr) whose count is 0 and that no cache
        folio holds, each contiguous run as one range, in offset order. The
        callers come here when a compiled step reported unused slots in the
        range, so a one-slot range is freed without looking again.

        The range lies in one cluster; the caller holds that cluster's lock.
        """
        if nr == 1:
            self._entries_free(off, 1)
            return
        idx = np.flatnonzero(self._free_mask(off, off + nr)) + off
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for run in np.split(idx, breaks):
            if len(run):
                self._entries_free(int(run[0]), len(run))

    def _entries_free(self, off: int, nr: int) -> None:
        c = off // SWAPFILE_CLUSTER
        swap_range_free(self, off, nr)
        self.lock.acquire()  # not ``with``: every freed slot (see VmStat)
        try:
            if self.clusters.put(c, nr) and self._page_discard:
                self._discard_cluster(c)
        finally:
            self.lock.release()


# --- the swap table of a System --------------------------------------------------------

class SwapAreas:
    """swap_info[], the active and available lists, totals, driver registrations."""

    def __init__(self, system: System, max_swapfiles: int) -> None:
        self.system = system
        self.max_swapfiles = max_swapfiles
        self.info: list[SwapInfo | None] = [None] * max_swapfiles
        #: swap_avail_head: areas with free slots, highest priority first;
        #: equal priorities rotate (plist_requeue) on each slow-path allocation.
        self.avail: list[SwapInfo] = []
        self.lock = threading.RLock()
        self.swapon_mutex = threading.Lock()
        self.nr_swap_pages = 0
        self.total_swap_pages = 0
        #: Driver registrations: id(fops) -> (fops, ops); one entry per driver.
        self.block_ops: dict[int, tuple[object, SwapOps]] = {}
        self.block_ops_lock = threading.Lock()
        #: percpu_swap_cluster: per order, the area and offset to continue at.
        self.percpu_cluster: list[tuple[SwapInfo, int] | None] = [None] * SWAP_NR_ORDERS
        self.swap_files: set[tuple[int, int]] = set()
        #: the virtual swap layer (mm/vswap.py), when one is on
        self.vswap: VirtualSwap | None = None

    def info_of(self, entry: int) -> SwapInfo:
        """The area an entry belongs to; EINVAL for a type with no active area."""
        try:  # on every step of every fault: no helper call, no bounds test
            si = self.info[entry >> SWP_TYPE_SHIFT]
        except IndexError:
            si = None
        if si is None:
            raise kerror(errno.EINVAL, f"Bad swap file entry {entry:#x} (type {swp_type(entry)})")
        return si

    def active(self) -> list[SwapInfo]:
        """Active areas in swapon order of type (what /proc/swaps lists)."""
        return [si for si in self.info if si is not None and si.writeok]

    def _add_avail(self, si: SwapInfo) -> None:
        if si in self.avail:
            return
        i = 0
        while i < len(self.avail) and self.avail[i].prio >= si.prio:
            i += 1
        self.avail.insert(i, si)

    def _del_avail(self, si: SwapInfo) -> None:
        if si in self.avail:
            self.avail.remove(si)

    def _requeue(self, si: SwapInfo) -> None:
        """plist_requeue: move ``si`` behind the other areas of its priority."""
        self.avail.remove(si)
        self._add_avail(si)


# --- allocation, counts, swap cache ----------------------------------------------------

def folio_alloc_swap(folio: Folio) -> int:
    """Allocate swap slots for a locked folio and add it to the swap cache.

    Returns 0 (``folio.swap`` set, PG_swapcache set) or -ENOMEM when no area
    has ``folio.nr_pages`` aligned free slots; for a large folio the caller
    then splits it (thp_swpout_fallback / mTHP swpout_fallback counted here).
    """
    system = folio.mem.system
    st = system.swap
    order = folio.order
    memcg = system.memcgs[int(folio.mem.memcg[folio.pfn])]
    # Only physical backing is charged: a cgroup at memory.swap.max may still
    # take virtual slots (their physical slots are charged when taken).
    charged = memcg.try_charge_swap(1 << order)
    ghost = st.vswap.ghost if st.vswap is not None else None
    if not charged and ghost not in st.avail:
        return -errno.ENOMEM
    off = -1
    si = None
    pc = st.percpu_cluster[order]
    if pc is not None:
        si, hint = pc
        if (si.writeok and si in st.avail and hint < si.max
                and (charged or si is ghost)):
            c = hint // SWAPFILE_CLUSTER
            # cluster_is_usable: still serving this order, neither free nor full
            if (si.cluster_order.item(c) == order
                    and si.cluster_flags.item(c) not in (CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL)):
                off = si._take(c, order, hint, folio.pfn)
    if off < 0:
        with st.lock:
            order_of_try = list(st.avail) if charged else [ghost]
        tried: set[int] = set()
        for cand in order_of_try:
            with st.lock:
                if cand not in st.avail or cand.type in tried:
                    continue
                st._requeue(cand)
            tried.add(cand.type)
            off = cand.cluster_alloc_swap_entry(order, folio.pfn)
            if off >= 0:
                si = cand
                break
    if charged and (off < 0 or si.vswap is not None):
        memcg.uncharge_swap(1 << order)
    if off < 0:
        if order:
            if order == 9:
                system.vmstat.count(VmEvent.thp_swpout_fallback)
            system.vmstat.count_mthp(order, MthpStat.swpout_fallback)
        return -errno.ENOMEM
    n = folio.nr_pages
    si.swap_cgroup[off : off + n] = memcg.id
    nxt = off + n
    st.percpu_cluster[order] = None if nxt % SWAPFILE_CLUSTER == 0 else (si, nxt)
    with st.lock:
        st.nr_swap_pages -= n
        si.inuse_pages += n
        if si.inuse_pages >= si.pages:
            st._del_avail(si)
    if si.vswap is not None:
        si.vswap.mark(np.arange(off, off + n), VT.FOLIO)
    folio.swap = swp_entry(si.type, off)
    folio.set(PG.swapcache)
    system.vmstat.mod(VmEvent.nr_swapcached, n)
    return 0


def folios_alloc_swap(mem: PhysMem, pfns: np.ndarray) -> np.ndarray:
    """:func:`folio_alloc_swap` for locked order-0 folios at ``pfns`` (int64),
    in order; a bool array of those that got a slot (and entered the swap
    cache).

    The result is what a loop of folio_alloc_swap calls gives. The common
    case, a run of folios of one cgroup continuing at the per-CPU cluster
    hint, takes its slots in one step: the free slots from the hint on, in
    order, as consecutive calls would (each continues after the last slot
    taken), up to the cluster's end or the cgroup's swap.max. A folio the
    run cannot serve takes folio_alloc_swap's own path, which moves the hint.
    """
    n = len(pfns)
    ok = np.zeros(n, dtype=bool)
    if not n:
        return ok
    ids = mem.memcg[pfns].tolist()
    # where the owning cgroup changes: each run is charged to one cgroup (a
    # reclaim batch comes from one cgroup's LRU: one run, found by a count)
    if ids.count(ids[0]) == n:
        cuts = [n]
    else:
        cuts = [k for k in range(1, n) if ids[k] != ids[k - 1]] + [n]
    memcgs = mem.system.memcgs
    k = 0
    for end in cuts:
        memcg = memcgs[ids[k]]
        while k < end:
            got = _alloc_walk(mem, pfns[k:end], memcg)
            ok[k : k + got] = True
            k += got
            if k < end:  # the walk stopped: this folio is folio_alloc_swap's
                ok[k] = folio_alloc_swap(Folio(mem, int(pfns[k]))) == 0
                k += 1
    return ok


def _alloc_walk(mem: PhysMem, pfns: np.ndarray, memcg: MemCgroup) -> int:
    """Slots for the longest leading run of ``pfns`` (folios of ``memcg``)
    that the per-CPU hint and the clusters after it serve while the choice
    stays plain (see :func:`folios_alloc_swap`); how many got one (0: none
    did, the next is folio_alloc_swap's).

    One compiled walk (SwapClusters.alloc_walk, swap_alloc_walk): from the
    hint, a cluster's free slots to its end, one a folio, each folio
    entering the swap cache there; then, when there is one area with room
    (not virtual) and neither the hint's cluster nor the area's own next
    offset is usable any more (a usable one is scanned from its start again
    by folio_alloc_swap), the first cluster of the nonfull list: where
    cluster_alloc_swap_entry would go first. These are the slots that one
    folio_alloc_swap a folio would take (tests/test_cluster_alloc.py
    follows a batch across fragmented clusters against one call a folio),
    for a fraction of the cost. The slots are charged to ``memcg`` up to its
    memory.swap.max (virtual ones are not charged)."""
    system = mem.system
    st = system.swap
    pc = st.percpu_cluster[0]
    avail = st.avail
    if pc is not None:
        si, hint = pc
    elif avail:
        si, hint = avail[0], -1
    else:
        return 0
    if not si.writeok or si not in avail:
        return 0
    may_next = len(avail) == 1 and st.vswap is None and si.vswap is None
    if pc is None and not may_next:
        return 0
    charge = si.vswap is None  # only physical backing is charged
    run = memcg.charge_swap_upto(len(pfns)) if charge else len(pfns)
    if not run:
        return 0  # folio_alloc_swap counts the refusal
    offs = np.empty(run, dtype=np.int64)
    flag_lock = mem.flag_lock
    flag_lock.acquire()  # not ``with``: every reclaim batch (see VmStat)
    try:
        si.lock.acquire()
        try:
            n, hint, si.next_offset[0], _ = si.clusters.alloc_walk(
                si.table, mem.map, si.cluster_locks, si.max, hint, si.next_offset[0],
                may_next, pfns, offs, si.type)
        finally:
            si.lock.release()
    except BaseException:  # refused (EINVAL: nothing taken): the charge goes back
        if charge:
            memcg.uncharge_swap(run)
        raise
    finally:
        flag_lock.release()
    st.percpu_cluster[0] = (si, hint) if hint >= 0 else None
    if n < run and charge:
        memcg.uncharge_swap(run - n)
    if not n:
        return 0
    offs = offs[:n]
    si.swap_cgroup[offs] = memcg.id
    if si.vswap is not None:
        si.vswap.mark(offs, VT.FOLIO)
    st.lock.acquire()
    try:
        st.nr_swap_pages -= n
        si.inuse_pages += n
        if si.inuse_pages >= si.pages:
            st._del_avail(si)
    finally:
        st.lock.release()
    system.vmstat.mod(NR_SWAPCACHE, n)
    return n


def _by_cluster(system: System, entries: np.ndarray
                ) -> list[tuple[SwapInfo, int, np.ndarray, np.ndarray]]:
    """Group order-0 ``entries`` by area and cluster: (area, cluster, the
    offsets, their positions in ``entries``), in order of first appearance."""
    types = swp_types(entries)
    offs = swp_offsets(entries)
    key = types * (1 << 40) + offs // SWAPFILE_CLUSTER
    if not len(key):
        return []
    if key.min() == key.max():  # the common case: one cluster of one area
        si = system.swap.info_of(int(entries[0]))
        return [(si, int(offs[0]) // SWAPFILE_CLUSTER, offs, np.arange(len(offs)))]
    order = np.argsort(key, kind="stable")  # each group's positions stay ascending
    groups = np.split(order, np.flatnonzero(np.diff(key[order])) + 1)
    groups.sort(key=lambda g: g[0])  # by first appearance
    out = []
    for pos in groups:
        si = system.swap.info_of(int(entries[pos[0]]))
        out.append((si, int(offs[pos[0]]) // SWAPFILE_CLUSTER, offs[pos], pos))
    return out


def _by_area(system: System, entries: np.ndarray
             ) -> list[tuple[SwapInfo, np.ndarray, np.ndarray | None]]:
    """Group order-0 ``entries`` by area: (area, the offsets, their positions
    in ``entries``; None: all of them), areas in order of first appearance."""
    if not len(entries):
        return []
    types = swp_types(entries)
    offs = swp_offsets(entries)
    tl = types.tolist()
    if tl.count(tl[0]) == len(tl):  # one area, the common case (see try_to_unmap_folios)
        return [(system.swap.info_of(int(entries[0])), offs, None)]
    out = []
    for t in dict.fromkeys(tl):
        pos = np.flatnonzero(types == t)
        out.append((system.swap.info_of(int(entries[pos[0]])), offs[pos], pos))
    return out


def _lock_clusters(si: SwapInfo, offs: np.ndarray) -> list[threading.Lock]:
    """Take the cluster locks of all of ``offs`` (an area's slots), in cluster
    order so that two batches cannot deadlock; the locks, for
    :func:`_unlock_clusters`."""
    locks = si.cluster_locks
    held = [locks[c] for c in sorted(set((offs // SWAPFILE_CLUSTER).tolist()))]
    for lock in held:
        lock.acquire()
    return held


def _unlock_clusters(held: list[threading.Lock]) -> None:
    for lock in reversed(held):
        lock.release()


def swap_dup_slots(system: System, entries: np.ndarray) -> np.ndarray:
    """:func:`swap_dup_entries` for distinct order-0 ``entries`` (uint64): one
    more reference on each; a bool array of those that took it (a slot not
    allocated, bad, or at the maximum count refuses, as the single call's
    -ENOENT / -ENOMEM). One compiled step per area, under the cluster
    locks of all its slots."""
    ok = np.zeros(len(entries), dtype=bool)
    for si, offs, pos in _by_area(system, entries):
        got = ok if pos is None else np.zeros(len(offs), dtype=bool)
        held = _lock_clusters(si, offs)
        try:
            si.table.dup_slots(offs, got)
        finally:
            _unlock_clusters(held)
        if pos is not None:
            ok[pos] = got
    return ok


def swap_put_slots(system: System, entries: np.ndarray) -> None:
    """:func:`swap_put_entries` of each of distinct order-0 ``entries``
    (uint64), as zap_pte_range's free_swap_and_cache_nr batches them: per
    cluster the counts drop in one step and the slots left unused are freed
    in contiguous runs. EINVAL naming the first entry of a cluster that is
    not in use (that cluster's counts unchanged)."""
    for si, c, offs, pos in _by_cluster(system, entries):
        with si.cluster_locks[c]:
            m = si.swap_map[offs]
            bad = (m == 0) | (m == SWAP_MAP_BAD)
            if bad.any():
                e = int(entries[pos[int(np.argmax(bad))]])
                raise kerror(errno.EINVAL, f"Unused swap offset entry {e:#x}")
            si.swap_map[offs] = m - 1
            gone = np.sort(offs[(m == 1) & (si.cache[offs] < 0)])
            if len(gone):
                for run in np.split(gone, np.flatnonzero(np.diff(gone) != 1) + 1):
                    si._entries_free(int(run[0]), len(run))


def swap_cache_del_folios(mem: PhysMem, pfns: np.ndarray) -> None:
    """:func:`swap_cache_del_folio` for order-0 swap-cache folios at ``pfns``:
    they leave the cache (one compiled step per area, under the cluster
    locks of all their slots); slots nobody references are freed, in order."""
    entries = mem.swap[pfns]
    system = mem.system
    for si, offs, pos in _by_area(system, entries):
        mine = pfns if pos is None else pfns[pos]
        unused = np.empty(len(offs), dtype=np.int64)
        held = _lock_clusters(si, offs)
        try:
            mem.flag_lock.acquire()
            try:
                n = si.table.cache_del_slots(mem.map, mine, offs, unused)
            finally:
                mem.flag_lock.release()
            for off in unused[:n].tolist():
                si._entries_free(off, 1)
        finally:
            _unlock_clusters(held)
    system.vmstat.mod(VmEvent.nr_swapcached, -len(pfns))


def _range_of(system: System, entry: int, nr: int) -> tuple[SwapInfo, int, int]:
    si = system.swap.info_of(entry)
    off = swp_offset(entry)
    if off == 0 or off + nr > si.max or (off // SWAPFILE_CLUSTER
                                          != (off + nr - 1) // SWAPFILE_CLUSTER):
        raise kerror(errno.EINVAL, f"Bad swap offset entry {entry:#x} (+{nr})")
    return si, off, off // SWAPFILE_CLUSTER


def swap_dup_entries(system: System, entry: int, nr: int = 1) -> int:
    """Take one more reference on each of ``nr`` slots (swap_duplicate).

    Returns 0, -ENOENT when a slot is not allocated, -ENOMEM on count overflow.
    """
    si, off, c = _range_of(system, entry, nr)
    with si.cluster_locks[c]:
        return si.table.dup(off, nr)


def swap_put_entries(system: System, entry: int, nr: int = 1) -> None:
    """Drop one reference from each of ``nr`` slots; free those left unused."""
    si, off, c = _range_of(system, entry, nr)
    with si.cluster_locks[c]:
        unused = si.table.put(off, nr)
        if unused < 0:
            raise kerror(errno.EINVAL, f"Unused swap offset entry {entry:#x}")
        if unused:
            si._free_unused(off, nr)


def swap_count(system: System, entry: int) -> int:
    """Reference count of one slot (swp_swapcount)."""
    si = system.swap.info_of(entry)
    v = int(si.swap_map[swp_offset(entry)])
    return 0 if v == SWAP_MAP_BAD else v


#: si.cache values besides a pfn: no folio, and claimed by a synchronous
#: swap-in that bypasses the cache (the old SWAP_HAS_CACHE without a folio)
SWAP_CACHE_NONE = -1
SWAP_CACHE_CLAIMED = -2


def swapcache_prepare(system: System, entry: int) -> int:
    """Claim a count-1 slot for a swap-in that bypasses the swap cache: 0, or
    -EEXIST when a folio caches it or another swap-in claimed it first."""
    si, off, c = _range_of(system, entry, 1)
    with si.cluster_locks[c]:
        if si.cache.item(off) != SWAP_CACHE_NONE:
            return -errno.EEXIST
        si.cache[off] = SWAP_CACHE_CLAIMED
    return 0


def swapcache_clear(system: System, entry: int) -> None:
    """Release a claim taken by :func:`swapcache_prepare`."""
    si, off, c = _range_of(system, entry, 1)
    with si.cluster_locks[c]:
        si.cache[off] = SWAP_CACHE_NONE


def swap_cache_get_folio(system: System, entry: int) -> Folio | None:
    """The folio caching ``entry``, or None."""
    si = system.swap.info_of(entry)
    pfn = int(si.cache[swp_offset(entry)])
    return Folio(system.mem, pfn) if pfn >= 0 else None


def swap_cache_add_folio(folio: Folio, entry: int) -> int:
    """Insert a locked folio into the swap cache at ``entry`` (count must be > 0).

    Returns 0, -EEXIST when another folio already caches the slot (a racing
    fault won), or -ENOENT when the slot is not in use.
    """
    nr = folio.nr_pages
    si, off, _ = _range_of(folio.mem.system, entry, nr)
    return swap_cache_add(si, off, folio, entry, nr)


def swap_cache_add(si: SwapInfo, off: int, folio: Folio, entry: int, nr: int = 1) -> int:
    """:func:`swap_cache_add_folio` for a caller that has looked up ``entry``'s
    area ``si`` and offset ``off`` already (and checked that its ``nr`` slots
    lie in one cluster)."""
    mem = folio.mem
    lock = si.cluster_locks[off // SWAPFILE_CLUSTER]
    lock.acquire()  # not ``with``: every swap-in (see VmStat)
    mem.flag_lock.acquire()
    try:
        ret = si.table.cache_add(mem.map, off, nr, folio.pfn, entry)
    finally:
        mem.flag_lock.release()
        lock.release()
    if not ret:
        si.system.vmstat.mod(NR_SWAPCACHE, nr)
    return ret


def swap_cache_alloc(si: SwapInfo, off: int, entry: int, memcg_id: int) -> int:
    """A new order-0 folio for slot ``off`` of ``si`` (``entry``), charged to
    cgroup ``memcg_id``, locked, swap-backed, on that cgroup's inactive list
    and in the swap cache there: the allocate-and-insert of
    __read_swap_cache_async in one compiled step (swap_cache_alloc_folio)
    under the slot's cluster lock, the flag lock and the zone lock.

    Returns the pfn, -EEXIST (the slot is cached or claimed already),
    -ENOENT (no reference: freed meanwhile) or -ENOMEM (no free frame; the
    caller reclaims). The cgroup's room is the caller's policy, checked
    before: nothing here reclaims."""
    system = si.system
    mem = system.mem
    lock = si.cluster_locks[off // SWAPFILE_CLUSTER]
    lock.acquire()  # not ``with``: every swap-in (see VmStat)
    mem.flag_lock.acquire()
    mem.zone_lock.acquire()
    try:
        pfn = si.table.cache_alloc(mem.map, mem.zone, off, entry, memcg_id)
        if pfn >= 0:
            mem.memcg_pages[memcg_id] += 1
            system.memcgs[memcg_id].lruvec.link(pfn)
    finally:
        mem.zone_lock.release()
        mem.flag_lock.release()
        lock.release()
    if pfn >= 0:
        system.vmstat.mod(NR_SWAPCACHE, 1)
    return pfn


def swap_cache_del_folio(folio: Folio) -> None:
    """Remove a folio from the swap cache; slots nobody references are freed."""
    system = folio.mem.system
    entry = folio.swap
    nr = folio.nr_pages
    si, off, c = _range_of(system, entry, nr)
    mem = folio.mem
    with si.cluster_locks[c]:
        with mem.flag_lock:
            unused = si.table.cache_del(mem.map, off, nr, folio.pfn)
        if unused:
            si._free_unused(off, nr)
    system.vmstat.mod(VmEvent.nr_swapcached, -nr)


def folio_free_swap(folio: Folio) -> bool:
    """Drop the swap copy of a swap-cache folio nobody else references.

    True when the folio was in the swap cache, not under writeback, and every
    one of its slots has count 0: it leaves the cache, the slots are freed,
    and the folio is marked dirty (memory is now the only copy).
    """
    if not folio.test(PG.swapcache) or folio.test(PG.writeback):
        return False
    system = folio.mem.system
    entry = folio.swap
    si = system.swap.info_of(entry)
    off = swp_offset(entry)
    nr = folio.nr_pages
    if si.swap_map.item(off) if nr == 1 else si.swap_map[off : off + nr].any():
        return False
    swap_cache_del_folio(folio)
    folio.set(PG.dirty)
    return True


def swap_range_free(si: SwapInfo, offset: int, nr: int) -> None:
    """Release slots [offset, offset+nr): zswap first, then the device, then counters.

    Called with the cluster lock held, so the notify hook may not sleep.
    """
    system = si.system
    zswap = system.zswap
    if zswap is not None:
        for off in range(offset, offset + nr):
            zswap.invalidate(swp_entry(si.type, off))
    notify = si.ops.slot_free_notify if si.ops is not None else None
    if notify is not None:
        if nr == 1:
            notify(si, offset)
        else:
            for off in range(offset, offset + nr):
                notify(si, off)
    memcgs = system.memcgs
    if si.vswap is not None:  # a virtual slot was never charged
        si.zeromap[offset : offset + nr] = False
    elif nr == 1:  # scalar steps: a slice costs a few thousand instructions
        si.zeromap[offset] = False
        memcgs[si.swap_cgroup.item(offset)].uncharge_swap(1)
    else:
        si.zeromap[offset : offset + nr] = False
        ids = si.swap_cgroup[offset : offset + nr]
        for cid, cnt in zip(*np.unique(ids, return_counts=True), strict=True):
            memcgs[int(cid)].uncharge_swap(int(cnt))
    st = system.swap
    st.lock.acquire()  # not ``with``: every freed slot (see VmStat)
    try:
        st.nr_swap_pages += nr
        was_full = si.inuse_pages >= si.pages
        si.inuse_pages -= nr
        if was_full and si.writeok:
            st._add_avail(si)
    finally:
        st.lock.release()


# --- driver registration: one ops table per block driver -----------------------------

def swap_register_block_ops(system: System, fops: object, ops: SwapOps) -> int:
    """Register ``ops`` for every block device whose ops table is ``fops``.

    Returns 0, -EINVAL when ``ops`` lacks submit_read or submit_write, -EBUSY
    when that driver already has a registration. Other drivers may be
    registered at the same time. Areas already active keep their ops.
    """
    if ops is None or ops.submit_read is None or ops.submit_write is None:
        return -errno.EINVAL
    st = system.swap
    with st.block_ops_lock:
        if id(fops) in st.block_ops:
            return -errno.EBUSY
        st.block_ops[id(fops)] = (fops, ops)
    return 0


def swap_unregister_block_ops(system: System, fops: object) -> None:
    """Drop the registration of ``fops``; warns (no crash) when it was not registered."""
    import warnings

    st = system.swap
    with st.block_ops_lock:
        if st.block_ops.pop(id(fops), None) is None:
            name = getattr(fops, "name", repr(fops))
            msg = f"swap_unregister_block_ops: no swap_ops registered for driver {name!r}"
            system.printk(logging.WARNING, "WARNING: " + msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)


def lookup_swap_block_ops(system: System, bdev: BlockDevice) -> SwapOps | None:
    with system.swap.block_ops_lock:
        hit = system.swap.block_ops.get(id(bdev.fops))
    return hit[1] if hit else None


# --- swapon / swapoff ------------------------------------------------------------------

def resolve_target(system: System, target: BlockDevice | str | os.PathLike[str]
                    ) -> tuple[BlockDevice | None, str | None]:
    if isinstance(target, BlockDevice):
        return target, None
    path = os.fspath(target)
    if path.startswith("/dev/") and path[5:] in system.block:
        return system.block[path[5:]], None
    return None, os.path.abspath(path)


def _setup_swap_extents(system: System, si: SwapInfo) -> int:
    """Choose the area's ops and map its pages; return 0 or a negative errno.

    Block devices: ``swap_activate`` of the device's ops table first (it
    installs ops and private_data), then a driver registration, then the
    default block ops. Regular files: extents from the file's block map and
    the file ops.
    """
    if si.bdev is None:
        exts, holes = file_extents(si.swap_fd, si.max << PAGE_SHIFT)
        if holes:
            system.printk(logging.WARNING, "swapon: swapfile has holes")
            return -errno.EINVAL
        si.set_extents(exts)
        si.ops = swap_fs_ops
        return 0
    si.set_extents([(0, si.max, 0)])
    if si.requested_ops is not None:
        si.ops = si.requested_ops
        return 0
    fops = si.bdev.fops
    if fops.swap_activate is not None:
        ret = fops.swap_activate(si)
        if ret == 0:
            si.flags |= SWP.ACTIVATED
            if si.ops is None or si.ops.submit_read is None or si.ops.submit_write is None:
                return -errno.EINVAL
            return 0
        if ret != -errno.EOPNOTSUPP:
            return ret
    si.ops = lookup_swap_block_ops(system, si.bdev) or swap_bdev_ops
    return 0


def new_swap_info(system: System, what: str) -> SwapInfo:
    """A SwapInfo on the lowest free type (alloc_swap_info; the caller holds
    ``swapon_mutex``); EPERM naming ``what`` when every type is in use."""
    st = system.swap
    with st.lock:
        free_types = [t for t, s in enumerate(st.info) if s is None]
        if not free_types:
            raise kerror(errno.EPERM, f"{what}: all {st.max_swapfiles} swap types in use")
        return SwapInfo(system, free_types[0])


def sys_swapon(system: System, target: BlockDevice | str | os.PathLike[str], flags: int = 0,
               *, ops: SwapOps | str | None = None) -> SwapInfo:
    """swapon(2): activate a swap area on a block device or a regular file.

    Raises OSError with the kernel's errno: EINVAL for unknown flag bits, no
    swap signature, a bad header or a file with holes; EPERM when all
    MAX_SWAPFILES types are in use; EBUSY when the device or file is already
    swap; ENOENT and friends from opening a file. ``ops`` chooses the
    area's ops table instead of the device's own (swap_activate, a
    registration, the default): a :class:`SwapOps`, or the name of one of the
    core's (``"bdev"``, ``"bio-per-page"``: one bio per page, slot frees to
    the block device's ``swap_slot_free_notify``); block devices only.
    """
    if flags & ~SWAP_FLAGS_VALID:
        raise kerror(errno.EINVAL, f"swapon: unknown flags {flags & ~SWAP_FLAGS_VALID:#x}")
    st = system.swap
    bdev, path = resolve_target(system, target)
    if isinstance(ops, str):
        if ops not in CORE_OPS:
            raise kerror(errno.EINVAL, f"swapon: no swap ops named {ops!r} "
                         f"({', '.join(CORE_OPS)})")
        ops = CORE_OPS[ops]
    if ops is not None and bdev is None:
        raise kerror(errno.EINVAL, f"swapon: the {ops.name} ops need a block device")
    with st.swapon_mutex:
        si = new_swap_info(system, "swapon")
        si.requested_ops = ops
        try:
            _claim_and_read(system, si, bdev, path)
            _activate(system, si, flags)
        except BaseException:
            _release(system, si)
            raise
        with st.lock:
            st.info[si.type] = si
            si.flags |= SWP.WRITEOK
            st.nr_swap_pages += si.pages - si.inuse_pages
            st.total_swap_pages += si.pages
            st._add_avail(si)
        span = (si.extents[-1][2] + si.extents[-1][1] - si.extents[0][2]) if si.extents else 0
        system.printk(logging.INFO,
                      f"Adding {si.pages << (PAGE_SHIFT - 10)}k swap on {si.name}.  "
                      f"Priority:{si.prio} extents:{len(si.extents)} "
                      f"across:{span << (PAGE_SHIFT - 10)}k "
                      f"{'SS' if si.flags & SWP.SOLIDSTATE else ''}"
                      f"{'D' if si.flags & SWP.DISCARDABLE else ''}"
                      f"{'s' if si.flags & SWP.AREA_DISCARD else ''}"
                      f"{'c' if si.flags & SWP.PAGE_DISCARD else ''}")
    return si


def _claim_and_read(system: System, si: SwapInfo, bdev: BlockDevice | None,
                    path: str | None) -> None:
    if bdev is not None:
        bdev.claim(si)
        si.bdev = bdev
        si.flags |= SWP.BLKDEV
        page = bdev.pread(PAGE_SIZE, 0)
        dev_pages = bdev.capacity >> PAGE_SHIFT
        where = bdev.path
    else:
        fd, _ = open_direct(path, os.O_RDWR)
        si.swap_fd = fd
        si.swap_file = path
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise kerror(errno.EINVAL, f"swapon: {path} is neither a block device nor a "
                         "regular file")
        key = (st.st_dev, st.st_ino)
        if key in system.swap.swap_files:
            raise kerror(errno.EBUSY, f"swapon: {path} is already a swap file")
        system.swap.swap_files.add(key)
        si._file_key = key
        page = read_page_aligned(fd, 0)
        dev_pages = st.st_size >> PAGE_SHIFT
        where = path
    hdr = parse_swap_header(page, where)
    maxpages = hdr.last_page + 1
    if maxpages > dev_pages:
        raise kerror(errno.EINVAL, f"{where}: Swap area shorter than signature indicates "
                     f"({maxpages} > {dev_pages} pages)")
    for b in hdr.badpages:
        if not 0 < b < maxpages:
            raise kerror(errno.EINVAL, f"{where}: bad page {b} outside the area")
    si._setup_tables(maxpages, hdr.badpages)
    if si.pages <= 0:
        raise kerror(errno.EINVAL, f"{where}: Empty swap-file")


def _activate(system: System, si: SwapInfo, flags: int) -> None:
    ret = _setup_swap_extents(system, si)
    if ret:
        raise kerror(-ret, f"swapon: {si.name}: setting up the swap ops failed")
    if si.bdev is not None:
        feat = si.bdev.features
        if feat & BlkFeat.STABLE_WRITES:
            si.flags |= SWP.STABLE_WRITES
        if feat & BlkFeat.SYNCHRONOUS:
            si.flags |= SWP.SYNCHRONOUS_IO
        if not feat & BlkFeat.ROTATIONAL:
            si.flags |= SWP.SOLIDSTATE
        if flags & SWAP_FLAG_DISCARD and si.bdev.max_discard_sectors:
            si.flags |= SWP.DISCARDABLE
            once, pages = flags & SWAP_FLAG_DISCARD_ONCE, flags & SWAP_FLAG_DISCARD_PAGES
            if once or not pages:
                si.flags |= SWP.AREA_DISCARD
            if pages or not once:
                si.flags |= SWP.PAGE_DISCARD
            if si.flags & SWP.AREA_DISCARD:
                si.bdev.discard(PAGE_SIZE, (si.max - 1) << PAGE_SHIFT)
    else:
        si.flags |= SWP.SOLIDSTATE
    si.prio = flags & SWAP_FLAG_PRIO_MASK if flags & SWAP_FLAG_PREFER else DEF_SWAP_PRIO
    if system.zswap is not None:
        system.zswap.swapon(si.type, si.max)


def _release(system: System, si: SwapInfo) -> None:
    """Undo what swapon set up: the driver's activation, private_data, the claim."""
    if si.flags & SWP.ACTIVATED and si.bdev.fops.swap_deactivate is not None:
        si.bdev.fops.swap_deactivate(si)
    si.private_data = None
    si.ops = None
    if si.bdev is not None:
        si.bdev.release(si)
    if si.swap_fd >= 0:
        os.close(si.swap_fd)
        si.swap_fd = -1
    if si._file_key is not None:
        system.swap.swap_files.discard(si._file_key)
        si._file_key = None


def find_area(system: System, target: SwapInfo | BlockDevice | str | os.PathLike[str]
              ) -> SwapInfo | None:
    if isinstance(target, SwapInfo):  # an area without a name of its own (the ghost)
        return target if target in system.swap.active() else None
    bdev, path = resolve_target(system, target)
    for si in system.swap.active():
        if (bdev is not None and si.bdev is bdev) or (path is not None
                                                      and si.swap_file == path):
            return si
    return None


def sys_swapoff(system: System, target: SwapInfo | BlockDevice | str | os.PathLike[str]
                ) -> None:
    """swapoff(2): bring every page of the area back into memory, then remove it.

    EINVAL when ``target`` is not an active area; ENOMEM when free memory
    cannot hold the area's pages (checked before anything changes); a read
    error while bringing pages back re-enables the area and raises EIO.
    """
    st = system.swap
    with st.swapon_mutex:
        si = find_area(system, target)
        if si is None:
            name = (target.path if isinstance(target, BlockDevice) else
                    target.name if isinstance(target, SwapInfo) else os.fspath(target))
            raise kerror(errno.EINVAL, f"swapoff: {name} is not an active swap area")
        cached = int(np.count_nonzero(si.cache[: si.max] >= 0))
        needed = si.inuse_pages - cached
        if needed > system.mem.nr_free:
            raise kerror(errno.ENOMEM, f"swapoff: {si.name} holds {needed} pages but only "
                         f"{system.mem.nr_free} page frames are free")
        with st.lock:
            st._del_avail(si)
            si.flags &= ~SWP.WRITEOK
            # slots freed by try_to_unuse are added back by swap_range_free
            st.nr_swap_pages -= si.pages
            st.total_swap_pages -= si.pages
            for o, pc in enumerate(st.percpu_cluster):
                if pc is not None and pc[0] is si:
                    st.percpu_cluster[o] = None
        ret = try_to_unuse(system, si)
        if ret:
            with st.lock:
                si.flags |= SWP.WRITEOK
                st.nr_swap_pages += si.pages
                st.total_swap_pages += si.pages
                st._add_avail(si)
            raise kerror(-ret, f"swapoff: {si.name}: could not bring every page back")
        with si.io_idle:
            while si.inflight:
                si.io_waiters += 1
                try:
                    si.io_idle.wait()
                finally:
                    si.io_waiters -= 1
        if system.zswap is not None:
            system.zswap.swapoff(si.type)
        _release(system, si)
        si.flags = SWP(0)
        with st.lock:
            st.info[si.type] = None
            if st.vswap is not None and st.vswap.ghost is si:
                st.vswap = None


def try_to_unuse(system: System, si: SwapInfo) -> int:
    """Swap in every in-use page of ``si`` through the normal read path.

    Returns 0, or a negative errno (the first read error) with the pages
    already brought back left in memory. An area backing the virtual swap
    layer first gets back what that layer keeps on it (pages and blobs).
    """
    vs = system.swap.vswap
    if vs is not None and vs.physical is si:
        ret = vs.unuse_physical()
        if ret:
            return ret
    for mm in list(system.mms.values()):
        ret = mm.unuse(si.type)
        if ret:
            return ret
    # folios still in the swap cache of this area (clean copies, or orphans)
    for off in np.flatnonzero(si.cache[: si.max] >= 0):
        pfn = int(si.cache[off])
        if pfn < 0:
            continue
        folio = Folio(system.mem, pfn)
        folio.lock()
        folio.wait_writeback()
        if folio.test(PG.swapcache) and swp_type(folio.swap) == si.type:
            mapped = system.mem.mapping[pfn] >= 0
            swap_cache_del_folio(folio)
            folio.set(PG.dirty)
            folio.unlock()
            if not mapped:
                folio.free()
        else:
            folio.unlock()
    if si.inuse_pages:
        return -errno.EBUSY
    return 0


def proc_swaps(system: System) -> str:
    """/proc/swaps as the kernel prints it (header and one line per area)."""
    out = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"]
    for si in system.swap.active():
        name = "".join(f"\\{ord(ch):03o}" if ch in " \t\n\\" else ch for ch in si.name)
        kb = si.pages << (PAGE_SHIFT - 10)
        used = si.inuse_pages << (PAGE_SHIFT - 10)
        pad = 40 - len(name) if len(name) < 40 else 1
        kind = ("partition" if si.bdev is not None else "virtual" if si.vswap is not None
                else "file\t")
        out.append(f"{name}{' ' * pad}{kind}\t{kb}\t{chr(9) if kb < 10000000 else ''}"
                   f"{used}\t{chr(9) if used < 10000000 else ''}{si.prio}\n")
    return "".join(out)
