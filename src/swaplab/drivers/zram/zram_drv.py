"""The zram device (drivers/block/zram/zram_drv.c).

Slot table (one row per page of disksize, three numpy arrays, 16 bytes a slot):

``handle``   uint64: zsmalloc handle, or the fill word of a same-filled page,
             or the backing-device block of a written-back page
``flags``    uint32: object size in bits 0..12, then the flag bits below
``ac_time``  uint32: last access in whole seconds of the System clock

Flag bits (exact, ``ZRAM_FLAG_SHIFT`` = 13): SAME 13, ENTRY_LOCK 14 (the
per-slot lock), WB 15, PP_SLOT 16, HUGE 17, IDLE 18, INCOMPRESSIBLE 19,
COMP_PRIORITY 20..21. A slot is allocated when its size is nonzero or it is
SAME or WB.

Rules kept from the kernel:
- write: same-filled pages store only the fill word; otherwise compress;
  ``comp_len >= huge_class_size`` stores the page raw (HUGE); the new object is
  allocated and stored *before* the old one is freed, so ENOMEM (pool or
  mem_limit) leaves the old contents intact;
- slot_free clears, in this order: ac_time and IDLE/INCOMPRESSIBLE/PP_SLOT and
  the priority; HUGE (huge_pages--); WB (release the block) or SAME
  (same_pages--) or the object (compr_data_size -= size); then
  pages_stored--;
- slot lock: ``slot_lock`` sleeps while the slot is held, ``slot_trylock``
  fails only when that slot is held, ``slot_unlock`` wakes waiters;
- the bio path counts failed_reads/failed_writes once per failing bio and
  stops at the first failing page; every page read or written successfully
  is marked accessed (IDLE and PP_SLOT cleared, ac_time stamped).
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import TYPE_CHECKING

import numpy as np

from ...block.bio import Bio, ReqOp, bio_endio
from ...block.blkdev import BlkFeat, BlockDevice, BlockDeviceOperations
from ...consts import PAGE_SHIFT, PAGE_SIZE, SECTOR_SHIFT, SECTORS_PER_PAGE_SHIFT
from ...errors import kerror
from ...lib.compress import DEFAULT_ALGORITHM, split
from ...mm.page_alloc import PageReserve
from ...mm.zsmalloc import ZsPool
from ...util import U64_MASK, kstrtoint
from .zcomp import ZRAM_MAX_COMPS, ZRAM_PRIMARY_COMP, Zcomp, ZcompParams

if TYPE_CHECKING:
    from ...mm.swapfile import SwapInfo
    from ...system import System

ZRAM_FLAG_SHIFT = PAGE_SHIFT + 1
ZRAM_SIZE_MASK = (1 << ZRAM_FLAG_SHIFT) - 1
ZRAM_SAME = 1 << 13
ZRAM_ENTRY_LOCK = 1 << 14
ZRAM_WB = 1 << 15
ZRAM_PP_SLOT = 1 << 16
ZRAM_HUGE = 1 << 17
ZRAM_IDLE = 1 << 18
ZRAM_INCOMPRESSIBLE = 1 << 19
ZRAM_COMP_PRIORITY_BIT1 = 20
ZRAM_COMP_PRIORITY_MASK = 0x3
__NR_ZRAM_PAGEFLAGS = 22

ZRAM_LOGICAL_BLOCK_SIZE = 4096
#: flags that take a read off the batch fast path: written back, same-filled,
#: recompressed (a secondary algorithm's priority)
_READ_NOT_PLAIN = np.uint32(ZRAM_WB | ZRAM_SAME
                            | ZRAM_COMP_PRIORITY_MASK << ZRAM_COMP_PRIORITY_BIT1)
#: mark_slot_accessed's clear, as a mask
_NOT_IDLE_PP = np.uint32(~(ZRAM_IDLE | ZRAM_PP_SLOT) & 0xFFFFFFFF)
ZRAM_MAJOR = 252
DEFAULT_COMPRESSOR = DEFAULT_ALGORITHM
UINT_MAX = (1 << 32) - 1

STAT_NAMES = ("compr_data_size", "failed_reads", "failed_writes", "notify_free",
              "same_pages", "huge_pages", "huge_pages_since", "pages_stored",
              "max_used_pages", "miss_free", "bd_count", "bd_reads", "bd_writes")

log = logging.getLogger(__name__)


class ZramStats:
    """The device's atomic counters (``struct zram_stats``)."""

    def __init__(self) -> None:
        self._v = dict.fromkeys(STAT_NAMES, 0)
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._v[name] += n

    def set(self, name: str, value: int) -> None:
        with self._lock:
            self._v[name] = value

    def max(self, name: str, value: int) -> None:
        with self._lock:
            if value > self._v[name]:
                self._v[name] = value

    def __getitem__(self, name: str) -> int:
        return self._v[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._v)

    def reset(self) -> None:
        with self._lock:
            for k in self._v:
                self._v[k] = 0


class Zram:
    """One zram device ``zram<id>``; ``self.bdev`` is its block device."""

    def __init__(self, ctl: ZramControl, dev_id: int) -> None:
        self.ctl = ctl
        self.system = ctl.system
        self.id = dev_id
        self.name = f"zram{dev_id}"
        self.bdev = BlockDevice(
            self.name, ZRAM_FOPS, 0, major=ZRAM_MAJOR, minor=dev_id,
            features=BlkFeat.IO_STAT | BlkFeat.STABLE_WRITES | BlkFeat.SYNCHRONOUS,
            logical_block_size=ZRAM_LOGICAL_BLOCK_SIZE, max_discard_sectors=UINT_MAX,
            private_data=self)
        self.disksize = 0
        self.limit_pages = 0
        self.comp_algs: list[str | None] = [DEFAULT_COMPRESSOR] + [None] * (ZRAM_MAX_COMPS - 1)
        self.params = [ZcompParams() for _ in range(ZRAM_MAX_COMPS)]
        self.comps: list[Zcomp | None] = [None] * ZRAM_MAX_COMPS
        self.num_active_comps = 0
        self.mem_pool: ZsPool | None = None
        self.huge_class_size = 0
        self.stats = ZramStats()
        self.init_lock = threading.RLock()
        self.claim = False
        self._slot_cv = threading.Condition(threading.Lock())
        self.handle = np.zeros(0, dtype=np.uint64)
        self.flags = np.zeros(0, dtype=np.uint32)
        self.ac_time = np.zeros(0, dtype=np.uint32)
        # writeback state (the backing device is configured through sysfs)
        self.backing_dev: str | None = None
        self.bd: BlockDevice | None = None
        self.bd_nr_pages = 0
        self.bitmap: np.ndarray | None = None
        self.wb_limit_enable = False
        self.bd_wb_limit = 0
        self.wb_batch_size = 32
        self.wb_compressed = False
        from .sysfs import ZramAttrs

        self.attr = ZramAttrs(self)

    def __repr__(self) -> str:
        return f"Zram({self.name} disksize={self.disksize})"

    # --- state --------------------------------------------------------------------------
    def init_done(self) -> bool:
        return self.disksize != 0

    @property
    def nr_pages(self) -> int:
        return self.disksize >> PAGE_SHIFT

    # --- slot flags and lock ------------------------------------------------------------
    def test_flag(self, i: int, flag: int) -> bool:
        return bool(int(self.flags[i]) & flag)

    def set_flag(self, i: int, flag: int) -> None:
        self.flags[i] = int(self.flags[i]) | flag

    def clear_flag(self, i: int, flag: int) -> None:
        self.flags[i] = int(self.flags[i]) & ~flag

    def get_obj_size(self, i: int) -> int:
        return int(self.flags[i]) & ZRAM_SIZE_MASK

    def set_obj_size(self, i: int, size: int) -> None:
        self.flags[i] = (int(self.flags[i]) & ~ZRAM_SIZE_MASK) | size

    def get_priority(self, i: int) -> int:
        return (int(self.flags[i]) >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK

    def set_priority(self, i: int, prio: int) -> None:
        f = int(self.flags[i]) & ~(ZRAM_COMP_PRIORITY_MASK << ZRAM_COMP_PRIORITY_BIT1)
        self.flags[i] = f | ((prio & ZRAM_COMP_PRIORITY_MASK) << ZRAM_COMP_PRIORITY_BIT1)

    def slot_allocated(self, i: int) -> bool:
        f = int(self.flags[i])
        return bool(f & ZRAM_SIZE_MASK or f & (ZRAM_SAME | ZRAM_WB))

    def slot_lock(self, i: int) -> None:
        """Take slot ``i``'s lock bit, sleeping while another holder has it."""
        with self._slot_cv:
            while int(self.flags[i]) & ZRAM_ENTRY_LOCK:
                self._slot_cv.wait()
            self.flags[i] = int(self.flags[i]) | ZRAM_ENTRY_LOCK

    def slot_trylock(self, i: int) -> bool:
        """Take slot ``i``'s lock bit if it is free; never waits for the slot."""
        with self._slot_cv:
            f = int(self.flags[i])
            if f & ZRAM_ENTRY_LOCK:
                return False
            self.flags[i] = f | ZRAM_ENTRY_LOCK
            return True

    def slot_unlock(self, i: int) -> None:
        with self._slot_cv:
            self.flags[i] = int(self.flags[i]) & ~ZRAM_ENTRY_LOCK
            self._slot_cv.notify_all()

    def slots_lock(self, idx: np.ndarray) -> np.ndarray:
        """Take the lock bits of all slots in ``idx`` at once (all or none),
        sleeping while any of them is held, and return the slots' flags as
        they were (lock bit clear): the caller owns those words until it
        unlocks, by :meth:`slots_unlock` or by storing new words under
        ``_slot_cv``. Single-slot lockers never hold one slot while waiting
        for another, so this cannot deadlock."""
        with self._slot_cv:
            f = self.flags[idx]
            while np.count_nonzero(f & np.uint32(ZRAM_ENTRY_LOCK)):
                self._slot_cv.wait()
                f = self.flags[idx]
            self.flags[idx] = f | np.uint32(ZRAM_ENTRY_LOCK)
        return f

    def slots_unlock(self, idx: np.ndarray) -> None:
        with self._slot_cv:
            self.flags[idx] &= np.uint32(~ZRAM_ENTRY_LOCK & 0xFFFFFFFF)
            self._slot_cv.notify_all()

    def slot_locked(self, i: int) -> bool:
        return bool(int(self.flags[i]) & ZRAM_ENTRY_LOCK)

    def mark_slot_accessed(self, i: int) -> None:
        """Clear IDLE and PP_SLOT and stamp ac_time (caller holds the slot lock)."""
        self.flags[i] = int(self.flags[i]) & ~(ZRAM_IDLE | ZRAM_PP_SLOT)
        self.ac_time[i] = self.system.clock.seconds() & UINT_MAX

    # --- freeing a slot -----------------------------------------------------------------
    def slot_free(self, i: int) -> None:
        """Release slot ``i``'s contents in the kernel's order (caller holds the lock)."""
        self.ac_time[i] = 0
        f = int(self.flags[i])
        f &= ~(ZRAM_IDLE | ZRAM_INCOMPRESSIBLE | ZRAM_PP_SLOT
               | (ZRAM_COMP_PRIORITY_MASK << ZRAM_COMP_PRIORITY_BIT1))
        if f & ZRAM_HUGE:
            f &= ~ZRAM_HUGE
            self.stats.add("huge_pages", -1)
        if f & ZRAM_WB:
            f &= ~ZRAM_WB
            self.flags[i] = f
            from .writeback import zram_release_bdev_block

            zram_release_bdev_block(self, int(self.handle[i]))
        elif f & ZRAM_SAME:
            f &= ~ZRAM_SAME
            self.stats.add("same_pages", -1)
        else:
            h = int(self.handle[i])
            if not h:
                self.flags[i] = f
                return
            size = f & ZRAM_SIZE_MASK
            self.mem_pool.free(h)
            self.stats.add("compr_data_size", -size)
        self.stats.add("pages_stored", -1)
        self.handle[i] = 0
        self.flags[i] = f & ~ZRAM_SIZE_MASK

    # --- write path ---------------------------------------------------------------------
    def can_store_page(self) -> bool:
        """zram_can_store_page: update max_used_pages; false past mem_limit."""
        total = self.mem_pool.total_pages
        self.stats.max("max_used_pages", total)
        return self.limit_pages == 0 or total <= self.limit_pages

    def write_same_filled_page(self, fill: int, index: int) -> int:
        self.slot_lock(index)
        self.slot_free(index)
        self.set_flag(index, ZRAM_SAME)
        self.handle[index] = fill
        self.slot_unlock(index)
        self.stats.add("same_pages")
        self.stats.add("pages_stored")
        return 0

    def _store_page(self, page: np.ndarray, zstrm) -> tuple[int, int, int]:
        """What zram_write_page does before it touches the slot: compress
        ``page`` with the stream ``zstrm``, allocate (a huge page — compressed
        size >= huge_class_size — is stored raw), check mem_limit after the
        allocation, write the object. Every fault point of that path is
        consulted in that order. Returns ``(0, handle, size)`` (size
        PAGE_SIZE for a huge page) or ``(-errno, 0, 0)`` with nothing kept."""
        faults = self.system.faults
        armed = faults.armed
        try:
            if armed and faults.hit("zcomp.compress", self.name):
                raise RuntimeError("injected compressor failure")
            out = zstrm.tfm.compress(page)
        except Exception:  # the codec refused: the kernel's compress error
            self.system.printk(logging.ERROR, f"Compression failed! err={-errno.EINVAL}")
            return -errno.EINVAL, 0, 0
        ln = len(out)
        huge = ln >= self.huge_class_size
        if huge:
            ln = PAGE_SIZE
        pool = self.mem_pool
        h = pool.malloc(ln)
        if armed and h > 0 and faults.hit("zsmalloc.alloc", self.name):
            pool.free(h)
            h = -errno.ENOMEM
        if h < 0:
            return h, 0, 0
        if not self.can_store_page() or (armed and faults.hit("zram.mem_limit", self.name)):
            pool.free(h)
            return -errno.ENOMEM, 0, 0
        pool.write(h, page if huge else out)
        if armed and not huge and faults.hit("zram.corrupt", self.name):
            pool.write(h, b"\xff" * ln)
        return 0, h, ln

    def write_page(self, page: np.ndarray, index: int) -> int:
        """zram_write_page: store one page at slot ``index``; 0 or a negative errno."""
        words = page.view(np.uint64)
        w0 = words[0]
        if w0 == words[-1] and not (words != w0).any():
            return self.write_same_filled_page(int(w0), index)
        zcomp = self.comps[ZRAM_PRIMARY_COMP]
        zstrm = zcomp.stream_get()
        try:
            err, h, ln = self._store_page(page, zstrm)
        finally:
            zcomp.stream_put(zstrm)
        if err:
            return err
        self.slot_lock(index)
        self.slot_free(index)
        self.handle[index] = h
        self.set_obj_size(index, ln)
        if ln == PAGE_SIZE:
            self.set_flag(index, ZRAM_HUGE)
        self.slot_unlock(index)
        self.stats.add("pages_stored")
        self.stats.add("compr_data_size", ln)
        if ln == PAGE_SIZE:
            self.stats.add("huge_pages")
            self.stats.add("huge_pages_since")
        return 0

    def write_pages(self, pages: np.ndarray, indices: np.ndarray,
                    rows: np.ndarray | None = None) -> tuple[int, int]:
        """The batch form of zram_write_page: store page ``k`` (``pages[rows[k]]``,
        or ``pages[k]`` without ``rows``) at slot ``indices[k]`` in order,
        stopping at the first error. ``pages`` is a C-contiguous 2-D array of
        pages, such as the machine's frames with ``rows`` the pfns.

        Returns ``(m, err)``: pages ``0..m-1`` are stored (and marked
        accessed), ``err`` is 0 or the negative errno of page ``m``. Per page it
        does what write_page does (same-filled, compress, huge, zs_malloc,
        mem_limit after the allocation); slot updates, lock bits and counters
        are done once for the batch with array operations. A slot overwritten
        in the batch has its old object freed at the end of the batch, so a
        mem_limit check inside the batch still sees the old objects.

        The common case compresses every page in one loop and stores the
        objects with one :meth:`ZsPool.store_batch`; with a fault point armed,
        or the pool already over mem_limit, pages go one at a time.
        """
        n = len(indices)
        if rows is None:
            rows = np.arange(n)
        p64 = pages.view(np.uint64)
        w0 = p64[rows, 0]
        same = np.zeros(n, dtype=bool)
        cand = np.flatnonzero(w0 == p64[rows, -1])
        if len(cand):
            same[cand] = (p64[rows[cand]] == w0[cand, None]).all(axis=1)
        any_same = bool(len(cand)) and bool(same.any())
        pool = self.mem_pool
        limit = self.limit_pages
        if self.system.faults.armed or (limit and pool.total_pages > limit):
            return self._write_pages_slow(pages[rows], indices, same)
        ks = np.flatnonzero(~same) if any_same else None
        sel = rows if ks is None else rows[ks]
        zcomp = self.comps[ZRAM_PRIMARY_COMP]
        zstrm = zcomp.stream_get()
        try:
            buf, lens_a = zstrm.tfm.compress_batch(pages, sel)  # one call for the batch
        except OSError:  # the codec refused a page: find it on the page path
            return self._write_pages_slow(pages[rows], indices, same)
        finally:
            zcomp.stream_put(zstrm)
        outs = split(buf, lens_a)
        hcs = self.huge_class_size
        lens = lens_a.tolist()
        if max(lens, default=0) < hcs:
            objs = outs
        else:  # a huge page is stored raw
            flat = memoryview(pages.reshape(-1))
            objs = [o if ln < hcs else flat[r * PAGE_SIZE : (r + 1) * PAGE_SIZE]
                    for o, ln, r in zip(outs, lens, sel.tolist(), strict=True)]
        handles, nobj, err, peak = pool.store_batch(objs, limit)
        if peak:
            self.stats.max("max_used_pages", peak)
        m = nobj if ks is None else (n if nobj == len(ks) else int(ks[nobj]))
        if m == 0:
            return 0, err
        lens = [ln if ln < hcs else PAGE_SIZE for ln in lens[:nobj]]
        if ks is None:  # page k is object k
            return self._commit_slots(indices[:m], np.array(handles, dtype=np.uint64),
                                      lens, None), err
        hw = w0[:m].copy()
        hw[ks[:nobj]] = handles
        sizes = [0] * m
        for k, ln in zip(ks[:nobj].tolist(), lens, strict=True):
            sizes[k] = ln
        return self._commit_slots(indices[:m], hw, sizes, same[:m]), err

    def _commit_slots(self, idx: np.ndarray, hw: np.ndarray, sizes: list[int],
                      same: np.ndarray | None) -> int:
        """Point slots ``idx`` at their new contents (handle or fill word ``hw``,
        object size; a 4096-byte object is a HUGE page; ``same`` marks the
        same-filled ones, None: none), freeing what they held; all under their
        slot locks. Returns ``len(idx)``."""
        m = len(idx)
        nhuge = sizes.count(PAGE_SIZE)
        old = self.slots_lock(idx) & np.uint32(ZRAM_SIZE_MASK | ZRAM_SAME | ZRAM_WB)
        if np.count_nonzero(old):
            for i in idx[old != 0].tolist():
                self.slot_free(i)
        # slot_free leaves no flag but the lock, so these are the whole words
        new = np.array(sizes, dtype=np.uint32)
        if nhuge:
            new[new == PAGE_SIZE] |= np.uint32(ZRAM_HUGE)
        nsame = 0
        if same is not None:
            new |= same * np.uint32(ZRAM_SAME)
            nsame = int(np.count_nonzero(same))
        self.handle[idx] = hw
        with self._slot_cv:  # the new contents and the unlock, in one store
            self.flags[idx] = new
            self.ac_time[idx] = self.system.clock.seconds() & UINT_MAX
            self._slot_cv.notify_all()
        st = self.stats
        with st._lock:
            v = st._v
            v["pages_stored"] += m
            v["same_pages"] += nsame
            v["huge_pages"] += nhuge
            v["huge_pages_since"] += nhuge
            v["compr_data_size"] += sum(sizes)
        return m

    def _write_pages_slow(self, rows: np.ndarray, indices: np.ndarray, same: np.ndarray
                          ) -> tuple[int, int]:
        """:meth:`write_pages` one page at a time (``rows[k]`` is page k), with
        every fault point of the write path consulted in the kernel's order."""
        n = len(indices)
        words = rows.view(np.uint64)
        same_l = same.tolist()
        handles = [0] * n
        sizes = [0] * n
        zcomp = self.comps[ZRAM_PRIMARY_COMP]
        zstrm = zcomp.stream_get()
        err = 0
        m = 0
        try:
            for k in range(n):
                if same_l[k]:
                    handles[k] = int(words[k, 0])
                else:
                    err, handles[k], sizes[k] = self._store_page(rows[k], zstrm)
                    if err:
                        break
                m = k + 1
        finally:
            zcomp.stream_put(zstrm)
        if m == 0:
            return 0, err
        return self._commit_slots(indices[:m], np.array(handles[:m], dtype=np.uint64),
                                  sizes[:m], same[:m]), err

    def read_pages(self, pages: np.ndarray, indices: np.ndarray,
                   rows: np.ndarray | None = None) -> tuple[int, int]:
        """The batch form of read_from_zspool + mark_slot_accessed for slots
        that are not written back: fill page ``k`` (``pages[rows[k]]``, or
        ``pages[k]``) from slot ``indices[k]``.

        Returns ``(m, err)`` like :meth:`write_pages`; pages ``0..m-1`` are read
        and marked accessed, all under their slot locks. The common case
        decompresses straight from the pool into the destination pages, one
        library call per page; a straddling object goes through a bounce copy.
        """
        n = len(indices)
        if rows is None:
            rows = np.arange(n)
        faults = self.system.faults
        f = self.slots_lock(indices)
        m, err = 0, 0
        try:
            h = self.handle[indices]
            if (np.count_nonzero(f & _READ_NOT_PLAIN) or faults.armed
                    or np.count_nonzero(h) < n):
                if np.count_nonzero(f & np.uint32(ZRAM_WB)):
                    raise RuntimeError("read_pages: written-back slots go through the "
                                       "bio path")
                # same-filled or empty slots are fills; the rest are objects
                fill = ((f & np.uint32(ZRAM_SAME)) != 0) | (h == 0)
                if np.count_nonzero(fill):
                    pages.view(np.uint64)[rows[fill]] = h[fill][:, None]
                rest = np.flatnonzero(~fill)
                fr = f[rest]
                if faults.armed or np.count_nonzero(fr >> np.uint32(ZRAM_COMP_PRIORITY_BIT1)):
                    got = self._read_objects_slow(pages, rows[rest], h[rest], fr)
                else:
                    got = self._read_objects(pages, rows[rest], h[rest], fr)
            else:  # all compressed by the primary algorithm: the common case
                rest = None
                got = self._read_objects(pages, rows, h, f)
            m = n
            if got < (n if rest is None else len(rest)):
                m, err = (got if rest is None else int(rest[got])), -errno.EINVAL
                self.system.printk(logging.WARNING, "Decompression failed! "
                                   f"err={err}, page={int(indices[m])}")
        finally:
            # mark_slot_accessed for the pages read, and every slot unlocked
            f[:m] &= _NOT_IDLE_PP
            with self._slot_cv:
                self.flags[indices] = f
                if m:
                    self.ac_time[indices[:m]] = self.system.clock.seconds() & UINT_MAX
                self._slot_cv.notify_all()
        return m, err

    def _read_objects(self, pages: np.ndarray, rows: np.ndarray, hs: np.ndarray,
                      f: np.ndarray) -> int:
        """Decompress primary-algorithm objects ``hs`` (slot flags ``f``) into
        ``pages[rows]``; the number read before the first that fails (all:
        ``len(hs)``). A 4096-byte object is a huge page stored raw: copied,
        not decompressed (only huge objects are that large). The others are
        decoded by one batch call, straight from the pool."""
        sizes = f & np.uint32(ZRAM_SIZE_MASK)
        views = self.mem_pool.obj_views(hs, sizes.tolist())
        huge = sizes == PAGE_SIZE
        packed = None
        if np.count_nonzero(huge):
            for k in np.flatnonzero(huge).tolist():
                pages[rows[k]] = np.frombuffer(views[k], dtype=np.uint8)
            packed = np.flatnonzero(~huge)
            views = [views[k] for k in packed.tolist()]
            rows = rows[packed]
        zcomp = self.comps[ZRAM_PRIMARY_COMP]
        zstrm = zcomp.stream_get()
        try:
            got = zstrm.tfm.decompress_batch(views, pages, rows)
        finally:
            zcomp.stream_put(zstrm)
        if packed is None or got == len(packed):
            return len(hs) if packed is not None else got
        return int(packed[got])

    def _read_objects_slow(self, pages: np.ndarray, rows: np.ndarray, hs: np.ndarray,
                           fr: np.ndarray) -> int:
        """:meth:`_read_objects` one object at a time, for recompressed objects
        (secondary algorithms) and with fault points armed."""
        faults = self.system.faults
        pool = self.mem_pool
        sizes = (fr & np.uint32(ZRAM_SIZE_MASK)).tolist()
        prios = ((fr >> np.uint32(ZRAM_COMP_PRIORITY_BIT1))
                 & np.uint32(ZRAM_COMP_PRIORITY_MASK)).tolist()
        hugeb = ((fr & np.uint32(ZRAM_HUGE)) != 0).tolist()
        streams: dict[int, object] = {}
        try:
            for j, (r, h) in enumerate(zip(rows.tolist(), hs.tolist(), strict=True)):
                if hugeb[j]:
                    pages[r] = pool.read(h, PAGE_SIZE)
                    continue
                p = prios[j]
                zstrm = streams.get(p)
                if zstrm is None:
                    zstrm = streams[p] = self.comps[p].stream_get()
                src = pool.read(h, sizes[j], zstrm.local_copy)
                if ((faults.armed and faults.hit("zcomp.decompress", self.name))
                        or Zcomp.decompress(zstrm, src, pages[r])):
                    return j
        finally:
            for p, zstrm in streams.items():
                self.comps[p].stream_put(zstrm)
        return len(rows)

    # --- read path ----------------------------------------------------------------------
    def read_from_zspool(self, page: np.ndarray, index: int) -> int:
        """Fill ``page`` from slot ``index`` (caller holds the lock); 0 or -errno."""
        f = int(self.flags[index])
        h = int(self.handle[index])
        if f & ZRAM_SAME or not h:
            page.view(np.uint64)[:] = h
            return 0
        size = f & ZRAM_SIZE_MASK
        prio = (f >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK
        if f & ZRAM_HUGE:
            page[:] = self.mem_pool.read(h, PAGE_SIZE)
            return 0
        zcomp = self.comps[prio]
        faults = self.system.faults
        if faults.armed and faults.hit("zcomp.decompress", self.name):
            return -errno.EINVAL
        return zcomp.decompress_object(self.mem_pool, h, size, page)

    def read_page(self, page: np.ndarray, index: int) -> int:
        """zram_read_page: 0 or a negative errno (page contents undefined then)."""
        self.slot_lock(index)
        if not self.test_flag(index, ZRAM_WB):
            ret = self.read_from_zspool(page, index)
            self.slot_unlock(index)
        else:
            blk = int(self.handle[index])
            self.slot_unlock(index)
            from .writeback import read_from_bdev

            ret = read_from_bdev(self, page, index, blk)
        if ret < 0:
            self.system.printk(logging.WARNING,
                               f"Decompression failed! err={ret}, page={index}")
        return ret

    # --- the bio path -------------------------------------------------------------------
    def submit_bio(self, bio: Bio) -> None:
        """zram_submit_bio: per-page reads/writes, discard and write-zeroes."""
        op = bio.op
        if op in (ReqOp.DISCARD, ReqOp.WRITE_ZEROES):
            self._bio_discard(bio)
        elif op in (ReqOp.READ, ReqOp.WRITE):
            self._bio_rw(bio, op == ReqOp.WRITE)
        bio_endio(bio)

    def _bio_rw(self, bio: Bio, write: bool) -> None:
        index = bio.sector >> SECTORS_PER_PAGE_SHIFT
        if bio.sector & ((1 << SECTORS_PER_PAGE_SHIFT) - 1):
            bio.status = errno.EIO  # zram's logical block is a page: never partial
            return
        for v in bio.vecs:
            for k in range(0, v.nbytes, PAGE_SIZE):
                page = v[k : k + PAGE_SIZE]
                if page.nbytes != PAGE_SIZE:
                    bio.status = errno.EIO
                    return
                ret = self.write_page(page, index) if write else self.read_page(page, index)
                if ret < 0:
                    self.stats.add("failed_writes" if write else "failed_reads")
                    bio.status = errno.EIO
                    return
                self.slot_lock(index)
                self.mark_slot_accessed(index)
                self.slot_unlock(index)
                index += 1

    def _bio_discard(self, bio: Bio) -> None:
        start = bio.sector << SECTOR_SHIFT
        end = start + bio.size
        first = -(-start // PAGE_SIZE)  # skip a leading partial page
        last = end // PAGE_SIZE
        for index in range(first, min(last, self.nr_pages)):
            self.slot_lock(index)
            self.slot_free(index)
            self.slot_unlock(index)
            self.stats.add("notify_free")

    # --- slot free notification (both interfaces) ---------------------------------------
    def slot_free_notify(self, index: int) -> None:
        """notify_free++, then free the slot unless someone holds it (miss_free++)."""
        self.stats.add("notify_free")
        if not self.slot_trylock(index):
            self.stats.add("miss_free")
            return
        self.slot_free(index)
        self.slot_unlock(index)

    # --- disksize and reset -------------------------------------------------------------
    def set_disksize(self, nbytes: int) -> None:
        """disksize store: allocate the table, the pool and the compressors."""
        with self.init_lock:
            if self.init_done():
                self.system.printk(logging.INFO,
                                   "Cannot change disksize for initialized device")
                raise kerror(errno.EBUSY, f"{self.name}: cannot change disksize for an "
                             "initialized device")
            if nbytes == 0:
                raise kerror(errno.EINVAL, f"{self.name}: disksize 0")
            nbytes = (nbytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & U64_MASK  # PAGE_ALIGN
            n = nbytes >> PAGE_SHIFT
            comps: list[Zcomp | None] = [None] * ZRAM_MAX_COMPS
            for prio, name in enumerate(self.comp_algs):
                if name is None:
                    continue
                try:
                    comps[prio] = Zcomp(name, self.params[prio])
                except OSError as e:
                    self.system.printk(logging.ERROR,
                                       f"Cannot initialise {name} compressing backend")
                    raise kerror(e.errno or errno.EINVAL,
                                 f"{self.name}: cannot initialise {name}") from None
            try:  # zram_meta_alloc: the table is vzalloc'ed, the pool created
                if not n:
                    raise MemoryError
                handle = np.zeros(n, dtype=np.uint64)
                flags = np.zeros(n, dtype=np.uint32)
                ac_time = np.zeros(n, dtype=np.uint32)
                pool = ZsPool(self.name, 2 * n + 1024, self.ctl.chain_size)
            except (MemoryError, ValueError, OverflowError, OSError):  # too large to map
                raise kerror(errno.ENOMEM, f"{self.name}: no memory for the table of a "
                             f"{nbytes}-byte device") from None
            self.handle, self.flags, self.ac_time, self.mem_pool = handle, flags, ac_time, pool
            if self.system.pools_in_ram:
                self.mem_pool.backing = PageReserve(self.system.mem)
            self.huge_class_size = self.mem_pool.huge_class_size
            self.comps = comps
            self.num_active_comps = sum(c is not None for c in comps)
            self.disksize = nbytes
            self.bdev.set_capacity(nbytes)

    def reset_device(self) -> None:
        """zram_reset_device: free everything, back to the uninitialised defaults."""
        with self.init_lock:
            self.limit_pages = 0
            self.bdev.set_capacity(0)
            self.bdev.reset_stat()
            self.handle = np.zeros(0, dtype=np.uint64)
            self.flags = np.zeros(0, dtype=np.uint32)
            self.ac_time = np.zeros(0, dtype=np.uint32)
            if self.mem_pool is not None and self.mem_pool.backing is not None:
                self.mem_pool.backing.release()
            self.mem_pool = None
            self.disksize = 0
            self.comps = [None] * ZRAM_MAX_COMPS
            self.num_active_comps = 0
            self.comp_algs = [DEFAULT_COMPRESSOR] + [None] * (ZRAM_MAX_COMPS - 1)
            self.params = [ZcompParams() for _ in range(ZRAM_MAX_COMPS)]
            self.stats.reset()
            from .writeback import reset_bdev

            reset_bdev(self)

    # --- what sysfs shows ---------------------------------------------------------------
    def mm_stat(self) -> tuple[int, ...]:
        """The nine mm_stat fields (orig, compr, mem_used, limit, max, same,
        compacted, huge, huge_since)."""
        s = self.stats.snapshot()
        pool = self.mem_pool
        used = pool.total_pages if pool is not None else 0
        compacted = pool.pages_compacted if pool is not None else 0
        return (s["pages_stored"] << PAGE_SHIFT, s["compr_data_size"], used << PAGE_SHIFT,
                self.limit_pages << PAGE_SHIFT, s["max_used_pages"] << PAGE_SHIFT,
                s["same_pages"], compacted, s["huge_pages"], s["huge_pages_since"])

    # --- whole-device maintenance -------------------------------------------------------
    def compact(self) -> int:
        if not self.init_done():
            raise kerror(errno.EINVAL, f"{self.name}: compact of an uninitialised device")
        return self.mem_pool.compact()

    def mark_idle(self, cutoff: int | None) -> None:
        """Mark allocated, not WB, not SAME slots idle when last used before
        ``cutoff`` seconds (None: all of them); clear IDLE on the others."""
        for i in range(self.nr_pages):
            self.slot_lock(i)
            f = int(self.flags[i])
            if self.slot_allocated(i) and not f & (ZRAM_WB | ZRAM_SAME):
                if cutoff is None or int(self.ac_time[i]) < cutoff:
                    self.flags[i] = f | ZRAM_IDLE
                else:
                    self.flags[i] = f & ~ZRAM_IDLE
            self.slot_unlock(i)


# --- swap hooks of the block device ops table ------------------------------------------

def _zram_submit_bio(bio: Bio) -> None:
    bio.bdev.private_data.submit_bio(bio)


def _zram_swap_activate(sis: SwapInfo) -> int:
    """Install zram's swap_ops and the device as private_data (when the driver
    was loaded with swap_ops='activate')."""
    zram: Zram = sis.bdev.private_data
    if zram.ctl.swap_ops_mode != "activate":
        return -errno.EOPNOTSUPP
    from .swap_ops import zram_swap_ops

    sis.ops = zram_swap_ops
    sis.private_data = zram
    return 0


def _zram_swap_slot_free_notify(bdev: BlockDevice, index: int) -> None:
    """The pre-series hook (block_device_operations.swap_slot_free_notify)."""
    bdev.private_data.slot_free_notify(index)


ZRAM_FOPS = BlockDeviceOperations(name="zram", submit_bio=_zram_submit_bio,
                                  swap_activate=_zram_swap_activate,
                                  swap_slot_free_notify=_zram_swap_slot_free_notify,
                                  io_acct_discard=False)


# --- zram-control and module load ------------------------------------------------------

class ZramControl:
    """The loaded zram driver of one System: /sys/class/zram-control and the devices.

    ``swap_ops`` chooses how swap reaches the devices: ``"activate"`` (the
    reviewers' request: zram's swap_ops installed by swap_activate with
    private_data), ``"register"`` (the posted series: a driver registration),
    or ``"none"`` (hch's base: the default block ops, bios into zram).
    """

    def __init__(self, system: System, num_devices: int = 1, *, swap_ops: str = "activate",
                 chain_size: int = 8) -> None:
        if swap_ops not in ("activate", "register", "none"):
            raise kerror(errno.EINVAL, f"zram: swap_ops mode {swap_ops!r} is not "
                         "activate, register or none")
        self.system = system
        self.swap_ops_mode = swap_ops
        self.chain_size = chain_size
        self.devices: dict[int, Zram] = {}
        self.lock = threading.Lock()
        if swap_ops == "register":
            from .swap_ops import zram_swap_ops

            ret = system.swap_register_block_ops(ZRAM_FOPS, zram_swap_ops)
            if ret:
                raise kerror(-ret, "zram: registering swap_ops failed")
        for _ in range(num_devices):
            self.hot_add()

    def hot_add(self) -> int:
        """Reading hot_add: create the next free zram device; return its id."""
        with self.lock:
            dev_id = 0
            while dev_id in self.devices:
                dev_id += 1
            zram = Zram(self, dev_id)
            self.system.add_disk(zram.bdev, zram)
            self.devices[dev_id] = zram
            return dev_id

    def hot_remove(self, text: str | int) -> None:
        """Writing hot_remove: EINVAL for a bad or negative id, ENODEV for an
        unknown one, EBUSY while the device is open (e.g. active swap)."""
        dev_id = text if isinstance(text, int) else kstrtoint(text, 10, what="zram-control: "
                                                              "device id")
        if dev_id < 0:
            raise kerror(errno.EINVAL, f"zram-control: negative device id {dev_id}")
        with self.lock:
            zram = self.devices.get(dev_id)
            if zram is None:
                raise kerror(errno.ENODEV, f"zram-control: no device zram{dev_id}")
            if zram.bdev.open_count or zram.claim:
                raise kerror(errno.EBUSY, f"zram-control: zram{dev_id} is in use")
            zram.reset_device()
            self.system.del_disk(zram.bdev)
            del self.devices[dev_id]

    def unload(self) -> None:
        """rmmod: remove every device and drop the registration."""
        for dev_id in list(self.devices):
            self.hot_remove(dev_id)
        if self.swap_ops_mode == "register":
            self.system.swap_unregister_block_ops(ZRAM_FOPS)

    def __getitem__(self, dev_id: int) -> Zram:
        return self.devices[dev_id]
